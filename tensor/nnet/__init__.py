"""``theon.tensor.nnet``: neural-network helpers (see ``theon.frontend.nnet``)."""
from ...frontend.nnet import (  # noqa: F401
    sigmoid, softplus, relu, softmax, log_softmax, categorical_crossentropy,
    binary_crossentropy, hard_sigmoid, ultra_fast_sigmoid, elu, softsign,
)
from ...frontend.conv import conv2d, conv3d, conv2d_transpose, conv3d_transpose  # noqa: F401,E402
from . import abstract_conv, conv  # noqa: F401,E402
