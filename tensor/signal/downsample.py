"""``theon.tensor.signal.downsample``: Theano 0.x's name of the pooling module."""
from ...frontend.pool import max_pool_2d, max_pool_2d_same_size, pool_2d  # noqa: F401

__all__ = ["max_pool_2d", "max_pool_2d_same_size", "pool_2d"]
