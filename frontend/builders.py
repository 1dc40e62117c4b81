"""Array and shape builders of ``theano.tensor``: ``tile``, ``roll``,
``eye``, ``identity_like``, ``tri``/``tril``/``triu``, ``diagonal``,
``diag``, ``trace``, ``stacklists``, ``choose``, ``mgrid``/``ogrid``,
``batched_dot``, ``batched_tensordot``, ``norm`` (Theano's elementwise
``basic.norm``) and ``linalg_norm`` (``nlinalg.norm``: NumPy's vector and
matrix norms).

No op of their own: each is a composition of IR ops (``alloc`` broadcasts
and ``reshape`` for tile, slices and ``concatenate`` for roll, ``where`` over
``arange`` comparisons for the triangles, an advanced-indexing gather for
diagonals, ``adv_set_subtensor`` for ``diag`` of a vector, ``matmul`` for
the batched products), so fusion, gradients (autodiff of the composition),
native/PTX code and aot-compile come with those ops. NumPy's semantics and
dtypes unless noted.
"""
import numbers

import numpy as np

from ..config import config
from ..ir.opdef import normalize_axis
from ..ir.types import is_int
from .basic import apply_op, as_tensor_variable, canonical_dtype, cast, constant, is_variable, result_dtype
from . import elemwise as E
from . import reduce as R
from . import shape_ops as S
from .indexing import getitem
from .linalg import matmul


def _int_arg(v, fname, what):
    """An int or a 0-d int tensor (as size_entry), with a message naming ``what``."""
    return S.size_entry(v, fname, what)


def _axis_arg(axis, ndim, fname, what="axis"):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fname}: {what} must be an int, got {axis!r}")
    return normalize_axis(int(axis), ndim, fname)


def _nonneg(v):
    """max(v, 0) for an int or 0-d int variable."""
    return max(v, 0) if not is_variable(v) else E.maximum(v, 0)


def _sub(a, b):
    if not is_variable(a) and not is_variable(b):
        return a - b
    return E.sub(a, b)


def _min(a, b):
    if not is_variable(a) and not is_variable(b):
        return min(a, b)
    return E.minimum(a, b)


# --- tile, roll ---------------------------------------------------------------------------------
def tile(x, reps, ndim=None):
    """``np.tile``: ``x`` repeated ``reps[i]`` times along dim i (``reps`` an
    int, a tuple of ints / 0-d int tensors, or a 1-d int tensor of static
    length); ``x`` is padded with leading dims to ``len(reps)`` (or ``ndim``)."""
    x = as_tensor_variable(x)
    if isinstance(reps, (int, np.integer)) and not isinstance(reps, bool):
        reps = (reps,)
    if is_variable(reps) and reps.ndim == 0:
        reps = (reps,)
    if isinstance(reps, np.ndarray):
        reps = reps.tolist() if reps.ndim else [reps.item()]
    if isinstance(reps, (list, tuple)):
        reps = [_int_arg(r, "tile", "reps") for r in reps]
    elif is_variable(reps) and reps.ndim == 1:
        reps = S.shape_entries(reps, "tile")
    else:
        raise TypeError(f"tile: reps must be an int, a tuple of ints / 0-d int tensors or a 1-d int "
                        f"tensor, got {reps!r}")
    for r in reps:
        if not is_variable(r) and r < 0:
            raise ValueError(f"tile: reps must be non-negative, got {r}")
    d = max(x.ndim, len(reps), ndim or 0)
    if ndim is not None and ndim < max(x.ndim, len(reps)):
        raise ValueError(f"tile: ndim={ndim} is less than x.ndim={x.ndim} or len(reps)={len(reps)}")
    reps = [1] * (d - len(reps)) + list(reps)
    if d > x.ndim:
        x = S.shape_padleft(x, d - x.ndim)
    if all(not is_variable(r) and r == 1 for r in reps):
        return x
    dims = [S.dim(x, i) for i in range(d)]
    # x as (1, n0, 1, n1, ...) broadcast to (r0, n0, r1, n1, ...), then merged pairwise
    pattern = []
    for i in range(d):
        pattern += ["x", i]
    spread = S.alloc(S.dimshuffle(x, tuple(pattern)), *[e for r, n in zip(reps, dims) for e in (r, n)])
    return S.reshape(spread, [_mul(r, n) for r, n in zip(reps, dims)])


def _mul(a, b):
    if not is_variable(a) and not is_variable(b):
        return a * b
    return E.mul(cast(as_tensor_variable(a), "int64"), cast(as_tensor_variable(b), "int64"))


def roll(x, shift, axis=None):
    """``np.roll``: elements shifted by ``shift`` along ``axis`` (the
    flattened ``x`` when None), those falling off one end coming back at
    the other; ``shift`` and ``axis`` may be tuples (broadcast together)."""
    x = as_tensor_variable(x)
    if axis is None:
        if isinstance(shift, (list, tuple)):
            raise ValueError("roll: a tuple shift needs a tuple axis")
        flat = S.flatten(x) if x.ndim != 1 else x
        out = _roll1(flat, _int_arg(shift, "roll", "shift"), 0)
        return S.reshape(out, S.shape(x), ndim=x.ndim) if x.ndim != 1 else out
    shifts = list(shift) if isinstance(shift, (list, tuple)) else [shift]
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} do not broadcast")
    for s, a in zip(shifts, axes):
        x = _roll1(x, _int_arg(s, "roll", "shift"), _axis_arg(a, x.ndim, "roll"))
    return x


def _roll1(x, s, axis):
    """x rolled by s (int or int64 variable) along axis: two slices joined."""
    n = S.dim(x, axis)
    if not is_variable(s) and not is_variable(n):
        if n == 0 or s % n == 0:
            return x
        cut = n - s % n
    else:
        n_ = cast(as_tensor_variable(n), "int64")
        cut = E.sub(n_, E.mod(cast(as_tensor_variable(s), "int64"), E.maximum(n_, 1)))
    lead = (slice(None),) * axis
    return S.concatenate([getitem(x, lead + (slice(cut, None),)), getitem(x, lead + (slice(None, cut),))], axis)


# --- eye, tri, triangles ----------------------------------------------------------------------
def _grid_cmp(fname, N, M, k, cmp):
    """cmp(row + k, col) over an N x M grid (bool)."""
    N = _int_arg(N, fname, "N")
    M = N if M is None else _int_arg(M, fname, "M")
    k = _int_arg(k, fname, "k")
    for what, v in (("N", N), ("M", M)):
        if not is_variable(v) and v < 0:
            raise ValueError(f"{fname}: {what} must be non-negative, got {v}")
    rows = S.dimshuffle(S.arange(N, dtype="int64"), 0, "x")
    cols = S.dimshuffle(S.arange(M, dtype="int64"), "x", 0)
    return cmp(E.add(rows, k) if (is_variable(k) or k != 0) else rows, cols)


def eye(n, m=None, k=0, dtype=None):
    """``np.eye``: an n x m matrix, ones on diagonal ``k`` (above the main
    one when positive); dtype floatX by default."""
    dtype = canonical_dtype(dtype or config.floatX)
    return cast(_grid_cmp("eye", n, m, k, E.eq), dtype)


def identity_like(x, dtype=None):
    """An identity matrix of the shape and dtype (or ``dtype``) of the matrix ``x``."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise ValueError(f"identity_like: x must be a matrix, got {x.type}")
    return eye(S.dim(x, 0), S.dim(x, 1), 0, dtype=dtype or x.dtype)


def tri(N, M=None, k=0, dtype=None):
    """``np.tri``: ones at and below diagonal ``k`` of an N x M matrix (floatX by default)."""
    dtype = canonical_dtype(dtype or config.floatX)
    return cast(_grid_cmp("tri", N, M, k, E.ge), dtype)


def _triangle(m, k, fname, lower):
    m = as_tensor_variable(m)
    if m.ndim < 2:
        raise ValueError(f"{fname}: m must be at least 2-d, got {m.type}")
    k = _int_arg(k, fname, "k")
    if not lower:
        k = k - 1 if not is_variable(k) else E.sub(k, 1)
    keep = _grid_cmp(fname, S.dim(m, m.ndim - 2), S.dim(m, m.ndim - 1), k, E.ge)
    zero = constant(0, dtype=m.dtype)
    return E.where(keep, m, zero) if lower else E.where(keep, zero, m)


def tril(m, k=0):
    """``np.tril``: ``m`` (at least 2-d: its last two dims) with the elements above diagonal ``k`` zeroed."""
    return _triangle(m, k, "tril", True)


def triu(m, k=0):
    """``np.triu``: ``m`` with the elements below diagonal ``k`` zeroed."""
    return _triangle(m, k, "triu", False)


# --- diagonals ------------------------------------------------------------------------------------
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the diagonal ``offset`` of the 2-d sub-arrays over
    ``axis1`` (rows) and ``axis2`` (columns), as the last dim of the result
    (a gather: its gradient is a scatter-add)."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"diagonal: a must be at least 2-d, got {a.type}")
    ax1 = _axis_arg(axis1, a.ndim, "diagonal", "axis1")
    ax2 = _axis_arg(axis2, a.ndim, "diagonal", "axis2")
    if ax1 == ax2:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same, got {axis1} and {axis2}")
    off = _int_arg(offset, "diagonal", "offset")
    rest = [i for i in range(a.ndim) if i not in (ax1, ax2)]
    moved = S.dimshuffle(a, tuple(rest + [ax1, ax2]))
    n1, n2 = S.dim(a, ax1), S.dim(a, ax2)
    if is_variable(off):
        below, above = E.maximum(E.neg(off), 0), E.maximum(off, 0)
    else:
        below, above = max(-off, 0), max(off, 0)
    k = _nonneg(_min(_sub(n1, below), _sub(n2, above)))
    i = S.arange(k, dtype="int64")
    rows = E.add(i, below) if is_variable(below) or below else i
    cols = E.add(i, above) if is_variable(above) or above else i
    return getitem(moved, (Ellipsis, rows, cols))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """``np.trace``: the sum of ``diagonal(a, offset, axis1, axis2)`` (ints
    accumulate in int64, as NumPy's sum)."""
    return R.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """``np.diag``: for a vector the square matrix with ``v`` on diagonal
    ``k``; for a matrix its diagonal ``k``."""
    v = as_tensor_variable(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: v must be a vector or a matrix, got {v.type}")
    k = _int_arg(k, "diag", "k")
    n = S.dim(v, 0)
    if is_variable(k):
        below, above = E.maximum(E.neg(k), 0), E.maximum(k, 0)
        size = E.add(E.add(cast(as_tensor_variable(n), "int64"), below), above)
    else:
        below, above = max(-k, 0), max(k, 0)
        size = n + abs(k) if not is_variable(n) else E.add(n, abs(k))
    z = S.alloc(constant(0, dtype=v.dtype), size, size)
    i = S.arange(n, dtype="int64")
    rows = E.add(i, below) if is_variable(below) or below else i
    cols = E.add(i, above) if is_variable(above) or above else i
    return apply_op("adv_set_subtensor", z, v, rows, cols, idx=("a", "a"))


# --- stacklists, choose ------------------------------------------------------------------------
def stacklists(arg):
    """Theano's ``stacklists``: a tensor from nested lists of tensors or
    numbers (``stacklists([[a, b], [c, d]])`` for 0-d a..d is a 2x2 matrix)."""
    if isinstance(arg, (list, tuple)):
        if not arg:
            raise ValueError("stacklists: arg must not contain empty lists")
        return S.stack([stacklists(a) for a in arg])
    if isinstance(arg, (numbers.Number, np.number, np.ndarray)) or is_variable(arg):
        return as_tensor_variable(arg)
    raise TypeError(f"stacklists: arg must be nested lists of tensors or numbers, got {arg!r}")


def choose(a, choices, out=None, mode="raise"):
    """``np.choose``: ``choices[a[i]][i]`` with ``a`` and the choices
    broadcast together; ``choices`` a list of tensors or a tensor whose
    first dim indexes them. ``mode``: 'raise' (an index outside
    [0, n) is an IndexError checked in native code), 'wrap' or 'clip'."""
    if out is not None:
        raise ValueError("choose: out is not supported (theon's results are new tensors)")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    a = as_tensor_variable(a)
    if not is_int(a.dtype):
        raise TypeError(f"choose: a must have an integer dtype, got {a.type}")
    if is_variable(choices) or isinstance(choices, np.ndarray):
        c = as_tensor_variable(choices)
        if c.ndim == 0:
            raise ValueError(f"choose: choices must be a list or an at least 1-d tensor, got {c.type}")
        if c.type.shape[0] is None:
            return _choose_gather(a, c, mode)
        choices = [getitem(c, i) for i in range(c.type.shape[0])]
    if not isinstance(choices, (list, tuple)) or not choices:
        raise ValueError(f"choose: choices must be a non-empty sequence, got {choices!r}")
    cs = [as_tensor_variable(c) for c in choices]
    dtype = result_dtype(cs, "choose")
    cs = [cast(c, dtype) for c in cs]
    n = len(cs)
    idx = _choose_index(cast(a, "int64"), n, mode)
    if n == 1:      # idx is 0 wherever it is valid; where broadcasts c0 against a
        return E.where(E.eq(idx, 0), cs[0], constant(0, dtype=dtype))
    out = cs[-1]
    for j in range(n - 2, -1, -1):
        out = E.where(E.eq(idx, j), cs[j], out)
    return out


def _choose_index(i, n, mode):
    if mode == "wrap":
        return E.mod(i, n)
    if mode == "clip":
        return E.clip(i, 0, E.sub(n, 1) if is_variable(n) else n - 1)
    return apply_op("check_index", i, cast(as_tensor_variable(n), "int64"))


def _choose_gather(a, c, mode):
    """choose with a tensor of choices of unknown count: the gather
    ``c[a, i1, i2, ...]`` over the broadcast shape of ``a`` and ``c[0]``."""
    n = S.dim(c, 0)
    nd = max(a.ndim, c.ndim - 1)
    a = S.shape_padleft(a, nd - a.ndim) if nd > a.ndim else a
    c = S.dimshuffle(c, (0,) + ("x",) * (nd - (c.ndim - 1)) + tuple(range(1, c.ndim)))
    full = [_bdim(S.dim(a, d), S.dim(c, d + 1)) for d in range(nd)]
    a = S.alloc(cast(a, "int64"), *full)
    c = S.alloc(c, n, *full)
    grids = []
    for d in range(nd):
        r = S.arange(full[d], dtype="int64")
        grids.append(S.dimshuffle(r, tuple(0 if j == d else "x" for j in range(nd))))
    return getitem(c, (_choose_index(a, n, mode),) + tuple(grids))


def _bdim(p, q):
    """The broadcast of sizes p and q (ints or int64 variables)."""
    if not is_variable(p) and not is_variable(q):
        return q if p == 1 else p
    if not is_variable(p):
        return q if p == 1 else p
    if not is_variable(q):
        return p if q == 1 else q
    return E.where(E.eq(p, 1), q, p)


# --- mgrid, ogrid -------------------------------------------------------------------------------
class _NdGrid:
    """Theano's ``mgrid``/``ogrid``: ``T.mgrid[0:5, 0:3]`` is a list of one
    tensor per slice (dense grids; ``ogrid``: each an arange along its own
    dim, size 1 elsewhere). Bounds are numbers or 0-d tensors; a complex
    step ``Nj`` asks for N points with the stop included, as NumPy."""

    def __init__(self, sparse):
        self.sparse = sparse

    def __getitem__(self, key):
        name = "ogrid" if self.sparse else "mgrid"
        slices = key if isinstance(key, tuple) else (key,)
        ranges = []
        for sl in slices:
            if not isinstance(sl, slice):
                raise TypeError(f"{name}: index with slices (start:stop:step), got {sl!r}")
            if sl.stop is None:
                raise ValueError(f"{name}: every slice needs a stop, got {sl!r}")
            ranges.append(_grid_range(sl, name))
        nd = len(ranges)
        ranges = [S.dimshuffle(r, tuple(0 if j == i else "x" for j in range(nd))) for i, r in enumerate(ranges)]
        if self.sparse:
            return ranges
        shape = [S.dim(r, i) for i, r in enumerate(ranges)]
        return [S.alloc(r, *shape) for r in ranges]


def _grid_range(sl, name):
    start = 0 if sl.start is None else sl.start
    step = 1 if sl.step is None else sl.step
    if isinstance(step, complex):
        n = int(abs(step))
        dtype = config.floatX
        if n < 1:
            return S.arange(0, dtype=dtype)
        lo = cast(as_tensor_variable(start), dtype) if is_variable(start) else constant(start, dtype=dtype)
        hi = cast(as_tensor_variable(sl.stop), dtype) if is_variable(sl.stop) else constant(sl.stop, dtype=dtype)
        t = S.arange(n, dtype=dtype)
        return E.add(lo, E.mul(t, E.true_div(E.sub(hi, lo), max(n - 1, 1))))
    if isinstance(step, (int, np.integer)) and step == 0:
        raise ValueError(f"{name}: slice step cannot be zero")
    stop = sl.stop
    if is_variable(stop) and start == 0 and step == 1:
        # arange's shape rule takes arange(0, n) to be n long, true only for n >= 0
        stop = E.maximum(stop, 0)
    return S.arange(start, stop, step)


mgrid = _NdGrid(sparse=False)
ogrid = _NdGrid(sparse=True)


# --- batched products --------------------------------------------------------------------------
def batched_dot(a, b):
    """Theano's ``batched_dot``: per item of the first (batch) dim, ``dot``
    of ``a[i]`` and ``b[i]`` (vectors: inner products; (B,n,m)x(B,m,p):
    (B,n,p); more dims contract the last of ``a`` with the second-to-last
    of ``b``, as ``np.dot`` per item; a 1-d operand scales the other)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError(f"batched_dot: a and b need a batch dim, got {a.type} and {b.type}")
    if a.ndim == 1 or b.ndim == 1:
        # a batch of scalars: an elementwise product along the batch
        return E.mul(S.shape_padright(a, b.ndim - 1) if a.ndim == 1 else a,
                     S.shape_padright(b, a.ndim - 1) if b.ndim == 1 else b)
    return batched_tensordot(a, b, [[a.ndim - 1], [max(1, b.ndim - 2)]])


def batched_tensordot(x, y, axes=2):
    """Theano's ``batched_tensordot``: ``tensordot`` per item of the first
    (batch) dim; ``axes`` an int n (the last n dims of ``x`` with dims
    1..n of ``y``) or a pair of axis lists counting the batch dim as 0."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(f"batched_tensordot: x and y must be at least 2-d (a batch dim and "
                         f"one more), got {x.type} and {y.type}")
    dtype = result_dtype([x, y], "batched_tensordot")
    x, y = cast(x, dtype), cast(y, dtype)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > x.ndim - 1 or n > y.ndim - 1:
            raise ValueError(f"batched_tensordot: axes={n} is out of range for tensors of "
                             f"{x.ndim} and {y.ndim} dims (the batch dim excluded)")
        x_axes, y_axes = list(range(x.ndim - n, x.ndim)), list(range(1, n + 1))
    else:
        try:
            x_axes, y_axes = axes
        except (TypeError, ValueError):
            raise ValueError(f"batched_tensordot: axes must be an int or a pair of axis lists, "
                             f"got {axes!r}") from None
        x_axes = [x_axes] if isinstance(x_axes, (int, np.integer)) else list(x_axes)
        y_axes = [y_axes] if isinstance(y_axes, (int, np.integer)) else list(y_axes)
        if len(x_axes) != len(y_axes):
            raise ValueError(f"batched_tensordot: axes {x_axes} and {y_axes} differ in length")
        x_axes = [_axis_arg(i, x.ndim, "batched_tensordot", "axes") for i in x_axes]
        y_axes = [_axis_arg(i, y.ndim, "batched_tensordot", "axes") for i in y_axes]
        if 0 in x_axes or 0 in y_axes:
            raise ValueError(f"batched_tensordot: axes {axes!r} cannot sum over the batch dim 0")
        if len(set(x_axes)) != len(x_axes) or len(set(y_axes)) != len(y_axes):
            raise ValueError(f"batched_tensordot: repeated axis in {axes!r}")
    for i, j in zip(x_axes, y_axes):
        dx, dy = x.type.shape[i], y.type.shape[j]
        if dx is not None and dy is not None and dx != dy:
            raise ValueError(f"batched_tensordot: shape mismatch for sum: {x.type.shape}[{i}] = {dx} "
                             f"vs {y.type.shape}[{j}] = {dy}")
    for d in (0,):
        bx, by = x.type.shape[d], y.type.shape[d]
        if bx is not None and by is not None and bx != by:
            raise ValueError(f"batched_tensordot: batch sizes differ: {bx} and {by}")
    x_free = [i for i in range(1, x.ndim) if i not in x_axes]
    y_free = [j for j in range(1, y.ndim) if j not in y_axes]
    x3 = _as_batched_matrix(x, x_free, x_axes)
    y3 = _as_batched_matrix(y, y_axes, y_free)
    prod = matmul(x3, y3)
    return S.reshape(prod, [S.dim(x, 0)] + [S.dim(x, i) for i in x_free] + [S.dim(y, j) for j in y_free])


def _as_batched_matrix(x, rows, cols):
    moved = S.transpose(x, [0] + list(rows) + list(cols))
    return S.reshape(moved, [S.dim(x, 0), S.prod_dims(x, rows), S.prod_dims(x, cols)])


# --- norms ------------------------------------------------------------------------------------------
_INF = float("inf")


def _norm_axes(x, axis, fname):
    if axis is None:
        return None
    axes = axis if isinstance(axis, (list, tuple)) else (axis,)
    return tuple(_axis_arg(a, x.ndim, fname) for a in axes)


def _float_of(x):
    return x if x.dtype.startswith("float") else cast(x, "float64")


def norm(x, L=None, axis=None, keepdims=False):
    """Theano's ``basic.norm`` (``x.norm(L)``): the L-norm of the elements
    of ``x`` over ``axis`` (all of them when None): ``sum(|x|**L)**(1/L)``;
    L=None or 2 is the Euclidean norm, inf / -inf the max / min of ``|x|``,
    0 the count of nonzeros. Integer inputs give float64."""
    x = as_tensor_variable(x)
    axes = _norm_axes(x, axis, "norm")
    if isinstance(L, str):
        if L != "fro":
            raise ValueError(f"norm: L must be a number or 'fro', got {L!r}")
        L = 2
    if L is None:
        L = 2
    if isinstance(L, bool) or not isinstance(L, numbers.Real):
        raise TypeError(f"norm: L must be a number, got {L!r}")
    return _vector_norm(_float_of(x), float(L), axes, keepdims)


def _vector_norm(x, L, axes, keepdims):
    if L == _INF:
        return R.max(E.abs(x), axis=axes, keepdims=keepdims)
    if L == -_INF:
        return R.min(E.abs(x), axis=axes, keepdims=keepdims)
    if L == 0:
        return R.sum(cast(E.neq(x, 0), x.dtype), axis=axes, keepdims=keepdims)
    if L == 1:
        return R.sum(E.abs(x), axis=axes, keepdims=keepdims)
    if L == 2:
        return E.sqrt(R.sum(E.sqr(x), axis=axes, keepdims=keepdims))
    s = R.sum(E.pow(E.abs(x), constant(L, dtype=x.dtype)), axis=axes, keepdims=keepdims)
    return E.pow(s, constant(1.0 / L, dtype=x.dtype))


def linalg_norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm`` (Theano's ``nlinalg.norm``): vector norms of a
    vector (or over one ``axis``), matrix norms of a matrix (or over two
    axes): None/'fro' Frobenius, 1/-1 max/min column sum, inf/-inf max/min
    row sum of ``|x|``; 2/-2 largest/smallest singular value, 'nuc' their
    sum (``svd_s``)."""
    x = _float_of(as_tensor_variable(x))
    axes = _norm_axes(x, axis, "linalg_norm")
    if axes is None:
        if ord is None:
            return E.sqrt(R.sum(E.sqr(x), keepdims=keepdims))
        if x.ndim not in (1, 2):
            raise ValueError(f"linalg_norm: ord={ord!r} needs a vector or a matrix (or axis=), got {x.type}")
        axes = tuple(range(x.ndim))
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"linalg_norm: ord={ord!r} is a matrix norm; a vector takes a number")
        if ord is not None and (isinstance(ord, bool) or not isinstance(ord, numbers.Real)):
            raise TypeError(f"linalg_norm: ord must be a number, got {ord!r}")
        return _vector_norm(x, 2.0 if ord is None else float(ord), axes, keepdims)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"linalg_norm: axis must name one or two distinct dims, got {axis!r}")
    r, c = axes
    if ord in (None, "fro"):
        return E.sqrt(R.sum(E.sqr(x), axis=axes, keepdims=keepdims))
    if ord in (1, -1, _INF, -_INF):
        summed, other = (r, c) if ord in (1, -1) else (c, r)
        sums = R.sum(E.abs(x), axis=summed, keepdims=True)
        pick = R.max if ord in (1, _INF) else R.min
        out = pick(sums, axis=other, keepdims=True)
        if keepdims:
            return out
        return S.dimshuffle(out, tuple(i for i in range(x.ndim) if i not in axes))
    if ord in (2, -2, "nuc"):           # of the singular values (svd_s over the two axes moved last)
        rest = [i for i in range(x.ndim) if i not in axes]
        s = apply_op("svd_s", S.dimshuffle(x, tuple(rest + [r, c])))
        out = {2: R.max, -2: R.min, "nuc": R.sum}[ord](s, axis=-1)
        if not keepdims:
            return out
        pat, k = [], 0
        for i in range(x.ndim):
            pat.append("x" if i in axes else k)
            k += i not in axes
        return S.dimshuffle(out, tuple(pat))
    raise ValueError(f"linalg_norm: invalid ord {ord!r} for a matrix norm")
