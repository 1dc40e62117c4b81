"""``theon.graph``: walking, copying and inspecting the user's graph
(Theano's ``theano.gof.graph``, PyTensor's ``pytensor.graph``); see ``basic``."""
from . import basic  # noqa: F401
from .basic import (Apply, Constant, Variable, ancestors, clone, clone_get_equiv,  # noqa: F401
                    graph_inputs, inputs, io_toposort, variables)
