"""``theon.tensor.nnet``: neural-network helpers (see ``theon.frontend.nnet``)."""
from ...frontend.nnet import (  # noqa: F401
    sigmoid, softplus, relu, softmax, log_softmax, categorical_crossentropy,
    binary_crossentropy, hard_sigmoid, ultra_fast_sigmoid, elu, softsign,
    selu, sigmoid_binary_crossentropy, crossentropy_softmax_1hot, crossentropy_softmax_1hot_with_bias,
    crossentropy_softmax_argmax_1hot_with_bias, crossentropy_categorical_1hot, h_softmax, confusion_matrix,
    batch_normalization, images2neibs, neibs2images,
)
from . import bn, neighbours, sigm  # noqa: F401,E402
from ...frontend.conv import conv2d, conv3d, conv2d_transpose, conv3d_transpose  # noqa: F401,E402
from . import abstract_conv, conv  # noqa: F401,E402
