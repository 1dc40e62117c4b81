"""``theon.tensor.nnet.sigm``: Theano's module of the sigmoid family
(``frontend/nnet.py``, ``frontend/elemwise.py``)."""
from ...frontend.nnet import hard_sigmoid, sigmoid, softplus, ultra_fast_sigmoid  # noqa: F401

__all__ = ["sigmoid", "softplus", "hard_sigmoid", "ultra_fast_sigmoid"]
