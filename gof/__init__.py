"""``theon.gof``: Theano's old name of the graph package; ``theon.gof.graph``
is ``theon.graph.basic``."""
import sys

from ..graph import basic as graph
from ..graph.basic import Apply, Constant, Variable  # noqa: F401

sys.modules[__name__ + ".graph"] = graph
