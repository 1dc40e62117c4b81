"""``theon.sandbox.rng_mrg``: Theano's ``MRG_RandomStreams`` with its
signatures (``size`` first, ``nstreams`` accepted). The numbers come from
theon's counter-based Philox-4x32-10 streams (``frontend/random.py``), not
from Theano's MRG31k3p generator: same interface, not the same numbers."""
from ..frontend.random import RandomStream

__all__ = ["MRG_RandomStreams"]


def _no_kwargs(fname, kwargs):
    if kwargs:
        raise TypeError(f"{fname}() got unexpected keyword arguments {sorted(kwargs)}")


class MRG_RandomStreams(RandomStream):  # noqa: N801 - Theano's name
    """``MRG_RandomStreams(seed=12345)``."""

    def __init__(self, seed=12345):
        super().__init__(seed)

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
        _no_kwargs("uniform", kwargs)
        return super().uniform(size, low, high, ndim, dtype)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None, truncate=False, **kwargs):
        _no_kwargs("normal", kwargs)
        return super().normal(size, avg, std, ndim, dtype, truncate)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None, **kwargs):
        _no_kwargs("binomial", kwargs)
        return super().binomial(size, n, p, ndim, dtype)
