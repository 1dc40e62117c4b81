"""``theon.tensor.nnet``: neural-network helpers (see ``theon.frontend.nnet``)."""
from ...frontend.nnet import (  # noqa: F401
    sigmoid, softplus, relu, softmax, log_softmax, categorical_crossentropy,
    binary_crossentropy, hard_sigmoid, ultra_fast_sigmoid, elu, softsign,
)
