"""``theon.tensor.signal.pool``: Theano 1.0's pooling functions and op
classes (``frontend/pool.py``)."""
from ...frontend.pool import (  # noqa: F401
    AveragePoolGrad, DownsampleFactorMaxGradGrad, MaxPoolGrad, Pool, max_pool_2d_same_size, pool_2d, pool_3d,
)

__all__ = ["pool_2d", "pool_3d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad", "AveragePoolGrad",
           "DownsampleFactorMaxGradGrad"]
