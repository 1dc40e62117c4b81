"""``theon.tensor.sharedvar``: Theano's module of shared tensors. In theon
every shared variable is a tensor: ``TensorSharedVariable`` is
``theon.compile.SharedVariable``."""
from ..frontend.shared import SharedVariable, TensorSharedVariable, shared  # noqa: F401

tensor_constructor = shared
