"""``theon.tensor.nnet.conv``: Theano's module name for ``conv2d``."""
from ...frontend.conv import conv2d  # noqa: F401
