"""``theon.tensor.signal.pool``: Theano 1.0's pooling functions (``frontend/pool.py``)."""
from ...frontend.pool import max_pool_2d_same_size, pool_2d, pool_3d  # noqa: F401

__all__ = ["pool_2d", "pool_3d", "max_pool_2d_same_size"]
