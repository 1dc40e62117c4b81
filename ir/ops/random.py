"""Random sampling ops: counter-based Philox-4x32-10 (Salmon et al., SC11;
Random123, as in JAX, cuRAND and NumPy's ``Philox``).

    %s = random_uniform(%state, %n) {shape = [?, 3], dtype = "float32"} : tensor<?x3xf32>
    %z = random_normal(%state) {shape = [1000], dtype = "float64"} : tensor<1000xf64>

The ops are pure functions of their operands: ``state`` is a 1-d int64
tensor of two elements, ``[key, counter]`` (each 64 bits, read as unsigned
bits). The Philox key is ``(k0, k1) = (key & 0xffffffff, key >> 32)``; the
block ``j`` (0, 1, 2, ...) of the result is Philox of the counter
``(j & 0xffffffff, j >> 32, counter & 0xffffffff, counter >> 32)``. So every
element is computed on its own (vectorized code, any number of threads,
the GPU give the same numbers), and the caller advances ``counter`` by one
per call (the frontend's stream does: ``frontend/random.py``) to get new
numbers. Ops are ``random`` (never folded, merged by CSE or duplicated by
fusion) but pure (an unused draw may be removed).

From the four 32-bit words ``x0..x3`` of block ``j``:

- float32: 4 elements ``4j .. 4j+3``, one per word; uniform ``(x >> 8) * 2^-24``
  in [0, 1); normal by Box-Muller on the pairs (x0, x1), (x2, x3):
  ``u1 = ((x0 >> 8) + 1) * 2^-24`` in (0, 1], ``u2 = (x1 >> 8) * 2^-24``,
  ``r = sqrt(-2 log u1)``, ``t = float32(2 pi) * u2``, elements ``r cos t``,
  ``r sin t`` (then the same for x2, x3), computed in float32.
- float64: 2 elements ``2j, 2j+1`` from the 64-bit words ``a = x0 | x1 << 32``
  and ``b = x2 | x3 << 32``; uniform ``(w >> 11) * 2^-53``; normal:
  ``u1 = ((a >> 11) + 1) * 2^-53``, ``u2 = (b >> 11) * 2^-53``, elements
  ``r cos t``, ``r sin t``.

Elements are laid out in C order; the last block may be partly used.
Optional attributes ``parallel`` (threads from this many blocks; 0: one
thread) and ``threads`` schedule the CPU loop as on ``fused`` ops; the
numbers never depend on them. ``random_permutation`` (below) shuffles rows
with the float64 uniforms. The NumPy reference here is the definition;
native code (``codegen/philox.py``, for the CPU and the GPU kernels) gives
the same uniform bits and permutations, and normals within a few ulp (its
log is theon's vectorized one, its cos/sin of ``2 pi u2`` reduce exactly
in turns).
"""
import struct

import numpy as np

from ..core import DYN, substitute_dyn
from ..opdef import OpDef, result
from .shape import _is_int, _size_entries

PHILOX_M = (0xD2511F53, 0xCD9E8D57)     # round multipliers
PHILOX_W = (0x9E3779B9, 0xBB67AE85)     # key schedule (Weyl) increments
ROUNDS = 10
PER_BLOCK = {"float32": 4, "float64": 2}   # elements of the result per Philox block
TWO_PI_F32 = float(np.float32(2 * np.pi))


def round_keys(k0, k1):
    """The ten (k0, k1) round keys of Philox-4x32-10 (mod 2^32)."""
    return [((k0 + r * PHILOX_W[0]) & 0xFFFFFFFF, (k1 + r * PHILOX_W[1]) & 0xFFFFFFFF) for r in range(ROUNDS)]


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox-4x32-10 of counters (c0..c3, uint32 arrays or ints) under the
    key (k0, k1) (ints): the four uint32 output words, as arrays."""
    c = [np.atleast_1d(np.asarray(x, dtype=np.uint32)) for x in (c0, c1, c2, c3)]
    c0, c1, c2, c3 = np.broadcast_arrays(*c)
    m0, m1 = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1])
    mask = np.uint64(0xFFFFFFFF)
    for rk0, rk1 in round_keys(int(k0), int(k1)):
        p0 = c0.astype(np.uint64) * m0
        p1 = c2.astype(np.uint64) * m1
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & mask).astype(np.uint32)
        hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & mask).astype(np.uint32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint32(rk0), lo1, hi0 ^ c3 ^ np.uint32(rk1), lo0
    return c0, c1, c2, c3


def split64(v):
    """(low, high) 32-bit halves of the 64 bits of int ``v`` (any sign)."""
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    return v & 0xFFFFFFFF, v >> 32


def philox_blocks(state, nblocks):
    """The words of blocks 0 .. nblocks-1 under ``state = [key, counter]``:
    a (nblocks, 4) uint32 array."""
    key, counter = (int(x) for x in np.asarray(state).reshape(-1)[:2])
    k0, k1 = split64(key)
    c2, c3 = split64(counter)
    j = np.arange(nblocks, dtype=np.uint64)
    lo, hi = (j & np.uint64(0xFFFFFFFF)).astype(np.uint32), (j >> np.uint64(32)).astype(np.uint32)
    words = philox4x32(lo, hi, c2, c3, k0, k1)
    return np.stack([w[:nblocks] if nblocks else w[:0] for w in words], axis=1)


def _uniform_bits(words, dtype, open_low=False):
    """Uniforms from uint32 words (float32: one per word) or from pairs
    (float64: word 2i low, 2i+1 high); in [0, 1), or (0, 1] if ``open_low``."""
    add = 1 if open_low else 0
    if dtype == "float32":
        return ((words >> np.uint32(8)).astype(np.int64) + add).astype(np.float32) * np.float32(2.0 ** -24)
    w = words.astype(np.uint64)
    w64 = w[..., 0::2] | (w[..., 1::2] << np.uint64(32))
    return ((w64 >> np.uint64(11)).astype(np.int64) + add).astype(np.float64) * 2.0 ** -53


def uniform_from_blocks(words, dtype):
    return _uniform_bits(words, dtype).reshape(-1)


def normal_from_blocks(words, dtype):
    if dtype == "float32":
        pairs = words.reshape(-1, 2)                    # (x0, x1), (x2, x3) of each block
        u1 = _uniform_bits(pairs[:, 0], dtype, open_low=True)
        u2 = _uniform_bits(pairs[:, 1], dtype)
        two_pi = np.float32(TWO_PI_F32)
    else:
        u1 = _uniform_bits(words[:, 0:2], dtype, open_low=True).reshape(-1)
        u2 = _uniform_bits(words[:, 2:4], dtype).reshape(-1)
        two_pi = np.float64(2 * np.pi)
    ty = np.dtype(dtype).type
    r = np.sqrt(ty(-2.0) * np.log(u1))
    t = two_pi * u2
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1).reshape(-1)


class RandomOp(OpDef):
    """random_<dist>(state, dyn...) {shape, dtype}: a tensor of ``shape``
    (``?`` entries from the 0-d int operands after the state) of ``dtype``
    (float32 or float64) drawn from ``state`` (see the module docstring)."""
    num_operands = None
    required_attrs = ("shape", "dtype")
    first_dyn = 1
    size_attr = "shape"
    random = True
    cost = 8

    from_blocks = None          # (words (blocks, 4) uint32, dtype) -> the elements, in order

    def _sizes(self, op):
        spec = op.attrs["shape"]
        if not isinstance(spec, tuple) or not all(d is DYN or _is_int(d) for d in spec):
            raise TypeError(f"{self.name}: shape must be a list of ints and ?, got {spec!r}")
        return _size_entries(op)

    def infer(self, op):
        self.check_arity(op)
        dtype = op.attrs["dtype"]
        if dtype not in PER_BLOCK:
            raise TypeError(f"{self.name}: dtype must be float32 or float64, got {dtype!r}")
        return result(dtype, self._state_and_sizes(op))

    def _state_and_sizes(self, op):
        """The result dims (None where dynamic), after checking the state operand."""
        if not op.operands:
            raise ValueError(f"{self.name} takes a state operand")
        st = op.operands[0].type
        if st.dtype != "int64" or st.ndim != 1 or st.shape[0] not in (None, 2):
            raise TypeError(f"{self.name}: the state must be a 1-d int64 tensor of 2 elements "
                            f"[key, counter], got {st}")
        dims = self._sizes(op)
        if any(d is not None and d < 0 for d in dims):
            raise ValueError(f"{self.name}: negative dimension in shape {dims}")
        return dims

    def _run_shape(self, op, state, dyn):
        """(state array, result shape) at run time, checked."""
        state = np.asarray(state)
        if state.shape != (2,):
            raise ValueError(f"{self.name}: the state must hold 2 elements [key, counter], got shape "
                             f"{state.shape}")
        shape = substitute_dyn(op.attrs["shape"], [int(d) for d in dyn])
        if any(d < 0 for d in shape):
            raise ValueError(f"{self.name}: negative dimension in shape {tuple(shape)}")
        return state, shape

    def dims(self, op, shapes):
        dyn = iter(op.operands[self.first_dyn:])
        return [tuple(shapes.size(next(dyn)) if d is DYN else d for d in op.attrs["shape"])]

    def reference(self, op, state, *dyn):
        state, shape = self._run_shape(op, state, dyn)
        dtype = op.attrs["dtype"]
        n = int(np.prod(shape, dtype=np.int64))
        per = PER_BLOCK[dtype]
        words = philox_blocks(state, -(-n // per))
        return [self.from_blocks(words, dtype)[:n].astype(dtype).reshape(shape)]


class RandomUniform(RandomOp):
    name = "random_uniform"
    distribution = "uniform"    # what backends ask (codegen/cpu/lower/random.py)
    nonneg = "always"
    from_blocks = staticmethod(uniform_from_blocks)


class RandomNormal(RandomOp):
    name = "random_normal"
    distribution = "normal"
    from_blocks = staticmethod(normal_from_blocks)


class RandomPermutation(RandomOp):
    """random_permutation(state, dyn...) {shape}: int64 rows (the last dim n)
    each a permutation of 0 .. n-1 by Fisher-Yates: row r starts as
    0 .. n-1, then for i = n-1 down to 1 swaps i with
    j = floor(u[r*n + i] * (i + 1)), u the float64 uniforms of the state
    (``random_uniform``'s elements, in order)."""
    name = "random_permutation"
    distribution = "permutation"
    required_attrs = ("shape",)
    nonneg = "always"

    def infer(self, op):
        dims = self._state_and_sizes(op)
        if not dims:
            raise ValueError(f"{self.name}: shape needs at least one dim (the permuted one)")
        return result("int64", dims)

    def reference(self, op, state, *dyn):
        state, shape = self._run_shape(op, state, dyn)
        total = int(np.prod(shape, dtype=np.int64))
        n = shape[-1]
        u = uniform_from_blocks(philox_blocks(state, -(-total // 2)), "float64")[:total]
        rows = np.tile(np.arange(n, dtype=np.int64), (total // n if n else 0, 1))
        for r in range(rows.shape[0]):
            row, ur = rows[r], u[r * n:(r + 1) * n]
            for i in range(n - 1, 0, -1):
                j = int(ur[i] * (i + 1))
                row[i], row[j] = row[j], row[i]
        return [rows.reshape(shape)]


# --- probabilities checked at run time -----------------------------------------------------------
CHECKED = ("binomial: p", "multinomial: pvals", "choice: p")    # err[1] of PROBABILITY_ERROR
OUT_OF_RANGE, BAD_SUM, TOO_FEW = 0, 1, 2                       # err[2] of PROBABILITY_ERROR


def sum_tolerance(dtype, k):
    """How far a distribution of ``k`` probabilities of ``dtype`` may sum from 1."""
    return (1e-5 if dtype == "float32" else 1e-6) * max(int(k), 1)


def probability_error(err):
    """The ValueError of PROBABILITY_ERROR details ``err`` (err[1] the
    argument, index into CHECKED; err[2] the kind; err[3] the element (C
    order) or row, or the count drawn; err[4] the value or row sum as a
    double's bits, or the number of non-zero probabilities)."""
    which, kind, pos, extra = (int(e) for e in err[1:5])
    fname, arg = (CHECKED[which] if 0 <= which < len(CHECKED) else "random: probabilities").split(": ")
    if kind == TOO_FEW:
        return ValueError(f"{fname}: cannot take {pos} elements without replacement: {arg} has only {extra} "
                          "non-zero probabilities")
    value = struct.unpack("<d", struct.pack("<q", extra))[0]
    if kind == BAD_SUM:
        return ValueError(f"{fname}: each distribution of {arg} (its last axis) must sum to 1, but distribution "
                          f"{pos} sums to {value:.7g}")
    return ValueError(f"{fname}: {arg} must be in [0, 1], but element {pos} (in C order) is {value:.7g}")


def _bits(x):
    return struct.unpack("<q", struct.pack("<d", float(x)))[0]


def check_probabilities(p, which, normalized):
    """The reference check: raises probability_error for the first bad
    element, then (``normalized``) the first distribution not summing to 1."""
    p = np.asarray(p)
    flat = p.reshape(-1)
    bad = np.flatnonzero(~((flat >= 0) & (flat <= 1)))
    if bad.size:
        raise probability_error([0, which, OUT_OF_RANGE, int(bad[0]), _bits(flat[bad[0]])])
    if normalized:
        k = p.shape[-1]
        rows = p.reshape(int(np.prod(p.shape[:-1], dtype=np.int64)), k).astype(np.float64)
        sums = np.zeros(rows.shape[0])
        for j in range(k):          # in order, in float64, as native code
            sums += rows[:, j]
        off = np.flatnonzero(~(np.abs(sums - 1.0) <= sum_tolerance(p.dtype, k)))
        if off.size:
            raise probability_error([0, which, BAD_SUM, int(off[0]), _bits(sums[off[0]])])


class CheckProbabilities(OpDef):
    """check_probabilities(p) {arg, normalized}: ``p`` itself, once every
    element is in [0, 1] (NaN is not) and, if ``normalized``, every
    distribution (along the last axis) sums to 1 within ``sum_tolerance``
    (summed in order, in float64); else the call fails with
    PROBABILITY_ERROR naming the sampler's argument ``arg`` (one of
    ``CHECKED``). The streams check data-dependent probabilities so."""
    name = "check_probabilities"
    num_operands = 1
    required_attrs = ("arg", "normalized")
    has_grad = True
    moves_elements = True
    cost = 1

    def infer(self, op):
        self.check_arity(op)
        t = op.operands[0].type
        if op.attrs["arg"] not in CHECKED:
            raise ValueError(f"check_probabilities: arg must be one of {CHECKED}, got {op.attrs['arg']!r}")
        if not isinstance(op.attrs["normalized"], bool):
            raise TypeError(f"check_probabilities: normalized must be a bool, got {op.attrs['normalized']!r}")
        if t.dtype not in PER_BLOCK:
            raise TypeError(f"check_probabilities: p must be float32 or float64, got {t}")
        if op.attrs["normalized"] and t.ndim == 0:
            raise ValueError("check_probabilities: a normalized p needs a dim of categories, got a scalar")
        return [t]

    def dims(self, op, shapes):
        return [tuple(shapes.of(op.operands[0]))]

    def reference(self, op, p):
        check_probabilities(p, CHECKED.index(op.attrs["arg"]), op.attrs["normalized"])
        return [p]

    def grad(self, op, grads):
        return [grads[0]]


# --- weighted sampling without replacement ------------------------------------------------------------
def race_keys(state, p):
    """Exponential race keys of ``p`` (rows of K weights along the last
    axis): ``-log(1 - u) / w`` with u the float64 uniforms of ``state``
    (random_uniform's elements, row r taking elements r*K .. r*K + K-1), +inf
    where the weight is 0. The smallest key wins, the next smallest comes
    second, ...: weighted sampling without replacement (Efraimidis-Spirakis)."""
    p = np.asarray(p, dtype=np.float64)
    total = p.size
    u = uniform_from_blocks(philox_blocks(state, -(-total // 2)), "float64")[:total].reshape(p.shape)
    live = p > 0
    with np.errstate(divide="ignore"):
        return np.where(live, -np.log(1.0 - u) / np.where(live, p, 1.0), np.inf)


class RandomChoice(RandomOp):
    """random_choice(state, p, dyn...) {shape}: int64 indices into the K
    weights of ``p``, all different within a distribution, drawn without
    replacement with probabilities proportional to the weights: the indices
    of the smallest ``race_keys`` in increasing order (ties: the lower index
    first). ``p`` 1-d: prod(shape) indices, in C order. ``p`` 2-d (R, K), one
    distribution per row: shape (R, c), c indices per row. Taking more than
    a distribution's non-zero weights fails with PROBABILITY_ERROR (TOO_FEW);
    a shape[0] other than R with SHAPE_MISMATCH."""
    name = "random_choice"
    distribution = "choice"
    required_attrs = ("shape",)
    first_dyn = 2
    nonneg = "always"

    def infer(self, op):
        if len(op.operands) < 2:
            raise ValueError("random_choice takes a state and a p operand")
        dims = self._state_and_sizes(op)
        p = op.operands[1].type
        if p.ndim not in (1, 2) or p.dtype not in PER_BLOCK:
            raise TypeError(f"random_choice: p must be a 1-d or 2-d float32 or float64 tensor, got {p}")
        if p.ndim == 2:
            if len(dims) != 2:
                raise ValueError(f"random_choice: with a 2-d p the shape is (rows of p, draws per row), got {dims}")
            if None not in (dims[0], p.shape[0]) and dims[0] != p.shape[0]:
                raise ValueError(f"random_choice: shape[0] is {dims[0]} but p has {p.shape[0]} rows")
        return result("int64", dims)

    def reference(self, op, state, p, *dyn):
        state, shape = self._run_shape(op, state, dyn)
        p = np.asarray(p)
        rows = p.reshape(-1, p.shape[-1])
        if p.ndim == 2 and shape[0] != p.shape[0]:
            raise ValueError(f"random_choice: shape[0] is {shape[0]} but p has {p.shape[0]} rows")
        count = int(np.prod(shape, dtype=np.int64)) if p.ndim == 1 else shape[1]
        keys = race_keys(state, rows)
        out = []
        for r in range(rows.shape[0]):
            nonzero = int(np.count_nonzero(rows[r] > 0))
            if count > nonzero:
                raise probability_error([0, CHECKED.index("choice: p"), TOO_FEW, count, nonzero])
            out.append(np.argsort(keys[r], kind="stable")[:count])
        return [np.asarray(out, dtype=np.int64).reshape(shape)]


OPS = [RandomUniform, RandomNormal, RandomPermutation, CheckProbabilities, RandomChoice]
