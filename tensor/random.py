"""``theon.tensor.random``: the modern name ``RandomStream`` (Aesara/PyTensor
argument order: distribution parameters first, then ``size``), the same
streams as ``RandomStreams`` (``frontend/random.py``)."""
from ..frontend.random import RandomStream as _Streams

__all__ = ["RandomStream"]


class RandomStream(_Streams):
    """``RandomStream(seed=None)``: ``uniform(low, high, size)``,
    ``normal(loc, scale, size)``, ``binomial(n, p, size)``,
    ``integers(low, high, size)`` (high excluded)."""

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None, ndim=None):
        return super().uniform(size, low, high, ndim, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None, ndim=None, truncate=False):
        return super().normal(size, loc, scale, ndim, dtype, truncate)

    def binomial(self, n=1, p=0.5, size=None, dtype="int64", ndim=None):
        return super().binomial(size, n, p, ndim, dtype)

    def integers(self, low=0, high=None, size=None, dtype="int64", ndim=None):
        if high is None:
            low, high = 0, low
        return super().random_integers(size, low, high - 1, ndim, dtype)
