"""``theon.tensor.signal``: Theano's signal package (``pool``, ``downsample``)."""
from . import downsample, pool  # noqa: F401
