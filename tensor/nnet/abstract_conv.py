"""``theon.tensor.nnet.abstract_conv``: Theano's abstract convolution functions
(see ``theon.frontend.conv``)."""
from ...frontend.conv import (  # noqa: F401
    conv2d, conv3d, conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights, conv3d_grad_wrt_inputs,
    conv3d_grad_wrt_weights, conv2d_transpose, conv3d_transpose, get_conv_output_shape,
    AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights, AbstractConv3d,
    AbstractConv3d_gradInputs, AbstractConv3d_gradWeights,
)
