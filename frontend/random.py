"""Random streams: Theano's ``RandomStreams`` / ``MRG_RandomStreams``
(``theon.tensor.shared_randomstreams``, ``theon.sandbox.rng_mrg``) and the
modern ``theon.tensor.random.RandomStream``, one implementation.

Every draw (each call of ``uniform``, ``normal``, ...) gets its own state:
a shared variable holding ``[key, counter]`` (int64, ``ir/ops/random.py``)
whose key is derived from the stream's seed and the draw's number, and
whose ``default_update`` is the state with the counter advanced by one. So
``theon.function`` advances it after every call (unless
``no_default_updates``), two draws in one graph are independent, and
``seed(s)`` puts every state back to where seed ``s`` starts: the same seed
gives the same numbers in every process and on every machine.

Samples are ``random_uniform`` / ``random_normal`` ops (counter-based
Philox-4x32-10) followed by ordinary elementwise ops (scale and shift,
compare with ``p``), which fuse with what follows; gradients flow to
``low``/``high``/``avg``/``std`` (reparameterization), and a binomial's
gradient is disconnected (its compare has none).

Inside ``theon.scan``'s step function a draw's state is one more
loop-carried value of the loop (``recording_draws``, ``carried_by_loop``):
step ``t`` draws from the state with the counter advanced ``t`` times, and
the state's update (returned in scan's ``updates`` and made its
``default_update``) is its value after the last step.
"""
import contextlib

import numpy as np

from ..config import config
from . import variable  # noqa: F401 - the DSL modules import in this order
from ..ir.opdef import const_value
from ..ir.types import is_int
from ..ir.ops.random import philox4x32, split64, sum_tolerance
from . import elemwise as E
from . import linalg as L
from . import reduce as R
from . import shape_ops as S
from .basic import apply_op, as_tensor_variable, cast, constant, is_variable, is_weak
from .indexing import take
from .shape_ops import dim, dyn_attr, shape_entries
from .shared import SharedVariable

FLOATS = ("float32", "float64")
_RECORDING = []               # per scan step function being traced: the draws it makes
_SEED_TAG = 0x5EED0F7E        # third counter word of key derivation: keys never collide with samples


@contextlib.contextmanager
def recording_draws():
    """Collects the draws made inside the ``with`` block (scan traces its
    step function so): a list of (stream, draw number, state)."""
    got = []
    _RECORDING.append(got)
    try:
        yield got
    finally:
        _RECORDING.remove(got)


def loop_carried(drawn, targets):
    """The (state, new state) pairs scan must carry for the draws ``drawn``
    (``recording_draws``) of its step function: every state not already in
    ``targets`` (the shared variables the step function updates itself; an
    inner scan's states appear in its updates) with its per-step update."""
    return [(state, state.default_update) for _, _, state in drawn if state not in targets]


def carried_by_loop(drawn, updates):
    """After the scan op: each carried state's update (its value after the
    last step, in scan's ``updates``) becomes its ``default_update`` and its
    stream's update pair, so ``theon.function`` advances it once per step."""
    for stream, j, state in drawn:
        if state in updates:
            state.default_update = updates[state]
            stream.state_updates[j] = (state, updates[state])


def derive_key(seed, j):
    """The int64 Philox key of draw ``j`` of a stream seeded with ``seed``:
    Philox of counter (j, tag) under the seed's 64 bits."""
    k0, k1 = split64(seed)
    j0, j1 = split64(j)
    w = philox4x32(j0, j1, _SEED_TAG, 0, k0, k1)
    bits = int(w[0][0]) | (int(w[1][0]) << 32)
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def _check_seed(seed, who):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{who}: seed must be an int, got {seed!r}")
    seed = int(seed)
    if not -(1 << 63) <= seed < 1 << 64:
        raise ValueError(f"{who}: seed must fit in 64 bits, got {seed}")
    return seed


def _float_dtype(dtype, params, fname):
    """The sample dtype: ``dtype``, or floatX upcast with the dtypes of the
    parameters that are not Python numbers (those are weak, as in Theano)."""
    if dtype is None:
        dtypes = [np.dtype(as_tensor_variable(p).dtype) for p in params if not is_weak(p)]
        dtype = np.result_type(np.dtype(config.floatX), *dtypes).name
    dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype)) if isinstance(dtype, type) else dtype
    if dtype not in FLOATS and dtype != "float16":
        raise TypeError(f"{fname}: dtype must be float16, float32 or float64 (or None: floatX), got {dtype!r}")
    return dtype


class RandomStream:
    """Symbolic random streams (``seed``: an int, None for a fresh random seed).

    ``state_updates``: the (state, new state) pair of every draw so far;
    ``updates()`` returns them (theon.function applies them by default)."""

    def __init__(self, seed=None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF
        self.default_seed = _check_seed(seed, type(self).__name__)
        self._seed = self.default_seed
        self.state_updates = []

    # --- state -----------------------------------------------------------------
    def seed(self, seed=None):
        """Restart every draw of this stream from seed ``seed`` (None: the
        seed given at construction)."""
        seed = self.default_seed if seed is None else _check_seed(seed, "seed")
        self._seed = seed
        for j, (state, _) in enumerate(self.state_updates):
            state.set_value(np.array([derive_key(seed, j), 0], dtype=np.int64))

    def updates(self):
        """The (state, new state) pairs of every draw (list)."""
        return list(self.state_updates)

    def _new_state(self):
        j = len(self.state_updates)
        # of static shape (2,): small fixed-size temporaries (a scan step keeps them on the stack)
        state = SharedVariable(np.array([derive_key(self._seed, j), 0], dtype=np.int64), name=f"rng_state_{j}",
                               shape=(2,))
        new = state + constant(np.array([0, 1], dtype=np.int64))
        state.default_update = new
        state.tag.is_rng = True
        self.state_updates.append((state, new))
        for got in _RECORDING:
            got.append((self, j, state))
        return state

    def _draw(self, opname, entries, dtype):
        spec, dyn = dyn_attr(entries)
        if dtype == "float16":      # drawn in float32 and rounded; a uniform stays below 1
            u = cast(self._draw(opname, entries, "float32"), "float16")
            return E.minimum(u, np.float16(1 - 2 ** -11)) if opname == "random_uniform" else u
        attrs = {"shape": spec} if dtype is None else {"shape": spec, "dtype": dtype}
        return apply_op(opname, self._new_state(), *dyn, **attrs)

    # --- sizes -------------------------------------------------------------------
    @staticmethod
    def _entries(size, ndim, params, fname):
        """The sample's size entries (ints and 0-d int64 variables)."""
        if size is None:
            params = [p for p in params if p.ndim > 0]
            if not params:
                entries = []
            else:
                nd = max(p.ndim for p in params)
                entries = []
                for axis in range(nd):
                    picked = None
                    for p in params:
                        k = axis - (nd - p.ndim)
                        if k < 0:
                            continue
                        s = p.type.shape[k]
                        if s != 1:
                            picked = s if s is not None else dim(p, k)
                            break
                    entries.append(1 if picked is None else picked)
        else:
            if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
                size = (int(size),)
            if not (isinstance(size, (list, tuple)) or (is_variable(size) and size.ndim in (0, 1))):
                raise TypeError(f"{fname}: size must be None, an int, a tuple of ints / 0-d int tensors or "
                                f"a 1-d int tensor (e.g. x.shape), got {size!r}")
            entries = shape_entries(size, fname, ndim)
        for pos, e in enumerate(entries):
            if not is_variable(e) and e < 0:
                raise ValueError(f"{fname}: negative size {e} at position {pos} of size {size!r}")
        if ndim is not None and len(entries) != ndim:
            raise ValueError(f"{fname}: size {size!r} has {len(entries)} dims but ndim={ndim}")
        return entries

    # --- distributions (Theano's RandomStreams signatures) ------------------------------
    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform in [low, high) (``low + (high - low) * u``), shape ``size``
        (None: the broadcast shape of ``low`` and ``high``)."""
        dtype = _float_dtype(dtype, [low, high], "uniform")
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        low, high = cast(low, dtype), cast(high, dtype)
        u = self._draw("random_uniform", self._entries(size, ndim, [low, high], "uniform"), dtype)
        return u * (high - low) + low

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, truncate=False):
        """Normal with mean ``avg`` and standard deviation ``std`` (Box-Muller),
        shape ``size`` (None: the broadcast shape of ``avg`` and ``std``).
        ``truncate``: values beyond 2 standard deviations are redrawn
        (three more draws, the rest clipped to +-2: a truncated normal up to
        a probability below 1e-5 per element)."""
        dtype = _float_dtype(dtype, [avg, std], "normal")
        avg, std = as_tensor_variable(avg), as_tensor_variable(std)
        avg, std = cast(avg, dtype), cast(std, dtype)
        entries = self._entries(size, ndim, [avg, std], "normal")
        z = self._draw("random_normal", entries, dtype)
        if truncate:
            two = constant(np.asarray(2.0, dtype=dtype))
            for _ in range(3):
                again = self._draw("random_normal", entries, dtype)
                z = E.switch(E.gt(E.abs(z), two), again, z)
            z = E.clip(z, -two, two)
        return z * std + avg

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
        """Binomial(n, p) counts (``n`` an int >= 0), shape ``size`` (None: the
        shape of ``p``); ``p`` may be a tensor broadcast against ``size``
        (dropout masks). n = 1 is one compare of a uniform (of p's dtype;
        floatX for a Python number) with ``p``."""
        n = _check_count(n, "binomial")
        weak = isinstance(p, (int, float)) and not isinstance(p, bool)     # a Python number: floatX, as Theano
        p = as_tensor_variable(p)
        if p.dtype not in FLOATS or weak:
            p = cast(p, config.floatX)
        known = const_value(p)
        if known is not None and not np.all((known >= 0) & (known <= 1)):
            raise ValueError(f"binomial: p must be in [0, 1], got {known}")
        if known is None:                   # checked when the function runs
            p = apply_op("check_probabilities", p, arg="binomial: p", normalized=False)
        entries = self._entries(size, ndim, [p], "binomial")
        if n == 1:
            u = self._draw("random_uniform", entries, p.dtype)
            return cast(E.lt(u, p), dtype)
        u = self._draw("random_uniform", entries + [int(n)], p.dtype)
        hits = cast(E.lt(u, p.dimshuffle(*range(p.ndim), "x")), "int64")
        return cast(R.sum(hits, axis=-1), dtype)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers uniform in [low, high] (both included), shape ``size``."""
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        for name, v in (("low", low), ("high", high)):
            if not is_int(v.dtype):
                raise TypeError(f"random_integers: {name} must be an int, got {v.type}")
        low64, high64 = cast(low, "float64"), cast(high, "float64")
        u = self._draw("random_uniform", self._entries(size, ndim, [low, high], "random_integers"), "float64")
        return cast(E.floor(u * (high64 - low64 + 1.0)) + low64, dtype)

    # --- categorical draws ----------------------------------------------------------------
    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64"):
        """Counts of ``n`` draws over the categories of ``pvals``' last axis
        (shape ``size + (K,)``; size None: ``pvals.shape[:-1]``); ``pvals``
        broadcasts against ``size``. A draw u falls in the first category
        whose cumulative probability exceeds it (the last takes the rest)."""
        n = _check_count(n, "multinomial")
        pv = _probabilities(pvals, "multinomial", "pvals")
        if size is None:
            entries = [dim(pv, k) for k in range(pv.ndim - 1)]
        else:
            entries = self._entries(size, ndim, [], "multinomial")
            if len(entries) < pv.ndim - 1:
                raise ValueError(f"multinomial: size {size!r} has fewer dims than pvals' batch dims "
                                 f"({pv.ndim - 1})")
        u = self._draw("random_uniform", entries + [n], pv.dtype)
        below = _cumulative(pv)                                  # (..., K), last entry 2
        lead = list(range(pv.ndim - 1))
        hits = E.lt(u.dimshuffle(*range(u.ndim), "x"), below.dimshuffle(*lead, "x", pv.ndim - 1))
        s = R.sum(cast(hits, "int64"), axis=-2)                  # draws below each cumulative p
        counts = s - S.concatenate([s[..., :1] * 0, s[..., :-1]], axis=-1)
        return cast(counts, dtype)

    def choice(self, size=1, a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Elements of ``a`` (an int: range(a); or a 1-d tensor) drawn with
        replacement, with probabilities ``p`` (1-d, one per element; None:
        equal), shape ``size``."""
        if not replace:
            return self._choice_without_replacement(size, a, p, ndim, dtype)
        values, k = _population(a)
        entries = self._entries(size, ndim, [], "choice")
        if p is None:
            u = self._draw("random_uniform", entries, "float64")
            kf = cast(k, "float64") if is_variable(k) else float(k)
            idx = E.minimum(cast(E.floor(u * kf), "int64"), cast(k, "int64") - 1 if is_variable(k) else k - 1)
        else:
            pv = _population_probabilities(p, k)
            u = self._draw("random_uniform", entries, pv.dtype)
            below = _cumulative(pv)[:-1]
            idx = R.sum(cast(E.ge(u.dimshuffle(*range(u.ndim), "x"), below), "int64"), axis=-1)
        out = idx if values is None else take(values, idx)
        return cast(out, dtype) if values is None else out


    def _choice_without_replacement(self, size, a, p, ndim, dtype):
        """Without weights: the first prod(size) entries of a random
        permutation of a. With weights ``p`` (1-d, one per element of a):
        ``random_choice`` (sequential weighted sampling, by an exponential
        race), checked in native code (p, and enough non-zero weights)."""
        entries = self._entries(size, ndim, [], "choice")
        values, k = _population(a)
        count = 1
        for e in entries:
            count = count * e
        if not is_variable(count) and not is_variable(k) and count > k:
            raise ValueError(f"choice: cannot take {count} elements of {k} without replacement")
        if p is not None:
            pv = _population_probabilities(p, k)
            idx = self._weighted_without_replacement(pv, entries)
        else:
            perm = self.permutation(n=k)
            idx = S.reshape(perm[:count], entries) if entries else perm[0]
        return cast(idx, dtype) if values is None else take(values, idx)

    def _weighted_without_replacement(self, pv, entries):
        spec, dyn = dyn_attr(entries)
        return apply_op("random_choice", self._new_state(), pv, *dyn, shape=spec)

    def permutation(self, size=None, n=1, ndim=None, dtype="int64"):
        """Permutations of 0 .. n-1 (``n`` an int or a 0-d int tensor), shape
        ``size + (n,)`` (one per element of size; None: one)."""
        if is_variable(n):
            if n.ndim != 0 or not is_int(n.dtype):
                raise TypeError(f"permutation: n must be an int or a 0-d int tensor, got {n.type}")
            n = cast(n, "int64")
        else:
            n = _check_count(n, "permutation")
        entries = [] if size is None else self._entries(size, ndim, [], "permutation")
        return cast(self._draw("random_permutation", entries + [n], None), dtype)

    def shuffle_row_elements(self, input):
        """``input`` with the elements of each row (its last axis) shuffled,
        every row by its own permutation."""
        x = as_tensor_variable(input)
        if x.ndim == 0:
            raise ValueError("shuffle_row_elements: input must have at least one dim")
        perm = self.permutation(size=[dim(x, k) for k in range(x.ndim - 1)], n=dim(x, x.ndim - 1))
        if x.ndim == 1:
            return take(x, perm)
        flat = S.reshape(x, (-1, dim(x, x.ndim - 1)))
        rows = S.reshape(perm, (-1, dim(x, x.ndim - 1)))
        picked = flat[S.arange(flat.shape[0]).dimshuffle(0, "x"), rows]
        return S.reshape(picked, x.shape)


def _population(a):
    """(values or None, their number k) of choice's ``a``: an int (range(a)) or a 1-d tensor."""
    if isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)):
        if a <= 0:
            raise ValueError(f"choice: a must be positive, got {a}")
        return None, int(a)
    values = as_tensor_variable(a)
    if values.ndim != 1:
        raise ValueError(f"choice: a must be an int or a 1-d tensor, got {values.type}")
    return values, dim(values, 0)


def _population_probabilities(p, k):
    """choice's ``p``: 1-d, checked (``_probabilities``), one per element of
    the population (``k`` of them): refused here when both sizes are known,
    else reshaped to ``(k,)``, which fails at run time on another length."""
    pv = _probabilities(p, "choice", "p")
    if pv.ndim != 1:
        raise ValueError(f"choice: p must be 1-d, got {pv.type}")
    n = pv.type.shape[0]
    if n is not None and not is_variable(k):
        if n != k:
            raise ValueError(f"choice: p has {n} probabilities but a has {k} elements")
        return pv
    return S.reshape(pv, [k])


def _check_count(n, fname):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{fname}: n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"{fname}: n must be >= 0, got {n}")
    return int(n)


def _probabilities(p, fname, what):
    """``p`` as a float tensor of >= 1 dims; constant values are checked:
    in [0, 1] and each distribution (last axis) summing to 1."""
    p = as_tensor_variable(p)
    if p.ndim == 0:
        raise ValueError(f"{fname}: {what} must have at least one dim (the categories), got a scalar")
    if p.dtype not in FLOATS:
        p = cast(p, config.floatX)
    known = const_value(p)
    if known is None:                       # checked when the function runs (PROBABILITY_ERROR)
        return apply_op("check_probabilities", p, arg=f"{fname}: {what}", normalized=True)
    if not np.all((known >= 0) & (known <= 1)):
        raise ValueError(f"{fname}: {what} must be in [0, 1], got {known}")
    sums = known.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0, atol=sum_tolerance(p.dtype, known.shape[-1])):
        raise ValueError(f"{fname}: each distribution of {what} must sum to 1, got sums {sums}")
    return p


def _cumulative(p):
    """Cumulative sums over ``p``'s last axis (a product with a triangle of
    ones: K^2 work for K categories), the last entry set to 2 so that every
    uniform falls below it (rounding may leave the sum just under 1)."""
    k = dim(p, p.ndim - 1)
    r = S.arange(k) if is_variable(k) else S.arange(int(k))
    tri = cast(E.le(r.dimshuffle(0, "x"), r.dimshuffle("x", 0)), p.dtype)
    c = L.dot(p, tri)
    two = S.ones_like(c[..., -1:]) * 2
    return S.concatenate([c[..., :-1], two], axis=-1)
