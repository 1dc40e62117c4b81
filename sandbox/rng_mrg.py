"""``theon.sandbox.rng_mrg``: Theano's ``MRG_RandomStreams`` with its
signatures (``size`` first, ``nstreams`` accepted). The numbers come from
theon's counter-based Philox-4x32-10 streams (``frontend/random.py``), not
from Theano's MRG31k3p generator: same interface, not the same numbers."""
import numpy as np

from .. import tensor as T
from ..frontend.basic import as_tensor_variable
from ..frontend.random import RandomStream, _cumulative, _probabilities
from ..frontend.shape_ops import dim

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

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
        """A normal truncated at 2 standard deviations whose standard
        deviation is ``std`` (the truncated one is 0.8796... of the full)."""
        _no_kwargs("truncated_normal", kwargs)
        std = std / 0.87962566103423978
        return super().normal(size, avg, std, ndim, dtype, truncate=True)

    @property
    def permutation(self):
        raise AttributeError("MRG_RandomStreams has no permutation (as in Theano); use "
                             "theon.tensor.shared_randomstreams.RandomStreams.permutation")

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None, **kwargs):
        _no_kwargs("binomial", kwargs)
        return super().binomial(size, n, p, ndim, dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None, **kwargs):
        """Counts of ``n`` draws per row of the 2-d ``pvals`` (one
        distribution per row): an int matrix of pvals' shape."""
        _no_kwargs("multinomial", kwargs)
        if pvals is None:
            raise TypeError("multinomial: you have to specify pvals")
        if size is not None or ndim is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use size or ndim (one draw of n per "
                             "row of pvals)")
        pvals = as_tensor_variable(pvals)
        if pvals.ndim != 2:
            raise NotImplementedError(f"MRG_RandomStreams.multinomial takes a 2-d pvals (one row per "
                                      f"distribution), got {pvals.type}")
        return super().multinomial(None, n, pvals, None, dtype)

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64", nstreams=None, **kwargs):
        """``size`` indices per row of the 2-d ``p`` (one distribution per
        row): an int matrix (rows of p, size), drawn with replacement."""
        _no_kwargs("choice", kwargs)
        if a is not None:
            raise TypeError("MRG_RandomStreams.choice: a must be None (indices 0 .. p.shape[1]-1 are drawn)")
        if p is None:
            raise TypeError("MRG_RandomStreams.choice: p must be given (2-d, one row per draw)")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.choice does not use ndim")
        p = _probabilities(p, "choice", "p")
        if p.ndim != 2:
            raise NotImplementedError(f"MRG_RandomStreams.choice takes a 2-d p, got {p.type}")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ValueError(f"MRG_RandomStreams.choice: size must be an int >= 0, got {size!r}")
        if not replace:         # per row, without replacement (weighted: frontend/random.py random_choice)
            return T.cast(self._weighted_without_replacement(p, [dim(p, 0), int(size)]), dtype)
        u = self._draw("random_uniform", [dim(p, 0), int(size)], p.dtype)
        below = _cumulative(p)[:, :-1]
        idx = T.sum(T.cast(T.ge(u.dimshuffle(0, 1, "x"), below.dimshuffle(0, "x", 1)), "int64"), axis=-1)
        return T.cast(idx, dtype)
