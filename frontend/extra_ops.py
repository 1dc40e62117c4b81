"""Theano's ``theano.tensor.extra_ops`` and ``theano.tensor.sort``: sorting,
cumulative ops, ``diff``, ``repeat``, ``bincount``, ``searchsorted``,
``unique``, ``compress``, ``fill_diagonal`` (+ ``_offset``), ``to_one_hot``,
``ravel_multi_index``, ``unravel_index``.

``sort``/``argsort``/``cumsum``/``cumprod``/``searchsorted``/``bincount``/
``repeat`` are ops of their own (``ir/ops/sorting.py``, ``ir/ops/extra.py``);
the others are built here from those and the indexing ops, so their
gradients, checks (index bounds: IndexError in native code) and native code
come with them. NumPy's semantics and dtypes unless noted (``bincount``
keeps float weights' dtype, as Theano).
"""
import numpy as np

from ..config import config
from ..ir.types import is_float
from .basic import apply_op, as_tensor_variable, canonical_dtype, cast, constant, is_variable, result_dtype
from . import elemwise as E
from . import shape_ops as S
from .indexing import _adv_getitem, nonzero, take

_SORT_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _axis(x, axis, fname):
    """``(x, axis)`` with axis None flattening x; axis checked and made >= 0."""
    x = as_tensor_variable(x)
    if axis is None:
        return S.flatten(x) if x.ndim != 1 else x, 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{fname}: axis must be an int or None, got {axis!r}")
    if x.ndim == 0 or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fname}: axis {axis} is out of range for a {x.ndim}-d tensor")
    return x, int(axis) % x.ndim


def _sort_args(fname, kind, order):
    if kind not in _SORT_KINDS:
        raise ValueError(f"{fname}: kind must be one of {list(_SORT_KINDS)}, got {kind!r} "
                         "(theon's sort is always stable)")
    if order is not None:
        raise ValueError(f"{fname}: order (structured arrays) is not supported, got {order!r}")


# --- sorting ---------------------------------------------------------------------------------
def sort(a, axis=-1, kind="quicksort", order=None):
    """``np.sort``: a copy of ``a`` sorted along ``axis`` (None: flattened),
    NaNs last; always stable (``kind`` is accepted, as NumPy's names)."""
    _sort_args("sort", kind, order)
    a, axis = _axis(a, axis, "sort")
    return apply_op("sort", a, axis=axis)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """``np.argsort(kind="stable")``: int64 indices that sort ``a`` along ``axis``."""
    _sort_args("argsort", kind, order)
    a, axis = _axis(a, axis, "argsort")
    return apply_op("argsort", a, axis=axis)


def _take_along(x, ind, axis):
    """``np.take_along_axis(x, ind, axis)`` (ind: x's ndim, broadcasting
    against x along the other dims): one gather."""
    items = []
    for d in range(x.ndim):
        if d == axis:
            items.append(ind)
        else:
            shape = [1] * x.ndim
            shape[d] = x.shape[d]
            items.append(S.reshape(S.arange(x.shape[d], dtype="int64"), shape, ndim=x.ndim))
    return _adv_getitem(x, items)


def topk_and_argtopk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """Theano's ``topk_and_argtopk``: the ``kth`` largest elements along
    ``axis`` (``kth`` > 0, largest first) or the ``-kth`` smallest
    (``kth`` < 0, smallest first), and their indices (``idx_dtype``)."""
    if not isinstance(kth, (int, np.integer)) or kth == 0:
        raise ValueError(f"topk: kth must be a nonzero int, got {kth!r}")
    x, axis = _axis(x, axis, "topk")
    perm = argsort(x, axis=axis)
    lead = (slice(None),) * axis
    if kth > 0:
        sel = perm[lead + (slice(-int(kth), None),)][lead + (slice(None, None, -1),)]
    else:
        sel = perm[lead + (slice(None, -int(kth)),)]
    return _take_along(x, sel, axis), cast(sel, idx_dtype)


def topk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """Theano's ``topk``: the values of ``topk_and_argtopk``."""
    return topk_and_argtopk(x, kth, axis, sorted, idx_dtype)[0]


def argtopk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """Theano's ``argtopk``: the indices of ``topk_and_argtopk``."""
    return topk_and_argtopk(x, kth, axis, sorted, idx_dtype)[1]


# --- cumulative ------------------------------------------------------------------------------
def _acc_dtype(x, np_fn, fname):
    """NumPy's result dtype of ``np_fn`` (cumsum/cumprod) for x's dtype."""
    name = np_fn(np.zeros(1, dtype=x.dtype)).dtype.name
    try:
        return canonical_dtype(name)
    except TypeError:
        return "int64" if np.dtype(name).kind in "iub" else "float64"


def cumsum(x, axis=None):
    """``np.cumsum``: running sums along ``axis`` (None: of x flattened);
    small ints and bool accumulate in int64 as in NumPy."""
    x, axis = _axis(x, axis, "cumsum")
    return apply_op("cumsum", cast(x, _acc_dtype(x, np.cumsum, "cumsum")), axis=axis)


def cumprod(x, axis=None):
    """``np.cumprod``: running products along ``axis`` (None: of x flattened)."""
    x, axis = _axis(x, axis, "cumprod")
    return apply_op("cumprod", cast(x, _acc_dtype(x, np.cumprod, "cumprod")), axis=axis)


# --- diff, repeat ----------------------------------------------------------------------------
def diff(x, n=1, axis=-1):
    """``np.diff``: the n-th discrete difference along ``axis`` (bool: ``!=``)."""
    x = as_tensor_variable(x)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be an int >= 0, got {n!r}")
    x, axis = _axis(x, axis, "diff")
    lead = (slice(None),) * axis
    for _ in range(int(n)):
        hi, lo = x[lead + (slice(1, None),)], x[lead + (slice(None, -1),)]
        x = E.neq(hi, lo) if x.dtype == "bool" else E.sub(hi, lo)
    return x


def _int_operand(v, fname, what):
    if is_variable(v):
        if np.dtype(v.dtype).kind not in "iu":
            raise TypeError(f"{fname}: {what} must have an integer dtype, got {v.type}")
        return v
    a = np.asarray(v)
    if a.size == 0:
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu" or a.ndim > 1:
        raise TypeError(f"{fname}: {what} must be an int or a 1-d sequence of ints, got {v!r}")
    if a.size and a.min() < 0:
        raise ValueError(f"{fname}: {what} must be non-negative, got {v!r}")
    return constant(a.astype(np.int64))


def repeat(x, repeats, axis=None):
    """``np.repeat``: each element along ``axis`` (None: of x flattened)
    repeated ``repeats`` times (an int, or one count per element)."""
    x, axis = _axis(x, axis, "repeat")
    r = _int_operand(repeats, "repeat", "repeats")
    if r.ndim > 1:
        raise ValueError(f"repeat: repeats must be 0-d or 1-d, got {r.type}")
    return apply_op("repeat", x, r, axis=axis)


# --- counting and searching ------------------------------------------------------------------
def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """``np.bincount``: occurrences (int64) of each value of the 1-d int x,
    or the summed ``weights`` (float weights keep their dtype, as Theano;
    others give float64, as NumPy); length ``max(max(x) + 1, minlength)``.
    A negative value is a ValueError (checked in native code)."""
    x = as_tensor_variable(x)
    if x.ndim != 1 or np.dtype(x.dtype).kind not in "iu":
        raise TypeError(f"bincount: x must be a 1-d integer tensor, got {x.type}")
    m = 0 if minlength is None else minlength
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 0:
        raise ValueError(f"bincount: minlength must be an int >= 0 or None, got {minlength!r}")
    operands = [x]
    if weights is not None:
        w = as_tensor_variable(weights)
        if w.ndim != 1:
            raise ValueError(f"bincount: weights must be 1-d like x, got {w.type}")
        operands.append(w if is_float(w.dtype) else cast(w, "float64"))
    return apply_op("bincount", *operands, minlength=int(m))


def searchsorted(x, v, side="left", sorter=None):
    """``np.searchsorted``: int64 indices where the elements of v would be
    inserted into the sorted 1-d x (``sorter``: indices that sort x)."""
    x = as_tensor_variable(x)
    if x.ndim != 1:
        raise ValueError(f"searchsorted: x must be 1-d, got {x.type}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if sorter is not None:
        x = take(x, sorter)
    v = v if is_variable(v) else constant(np.asarray(v))
    dtype = result_dtype([x, v], "searchsorted")
    return apply_op("searchsorted", cast(x, dtype), cast(v, dtype), side=side)


def _differs(a, b):
    """a != b where NaN equals NaN (np.unique's equal_nan)."""
    d = E.neq(a, b)
    if is_float(a.dtype):
        d = E.and_(d, E.invert(E.and_(E.isnan(a), E.isnan(b))))
    return d


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """``np.unique`` of ``ar`` flattened (``axis=None``): the sorted distinct
    values (NaNs collapse into one), and as asked the index of each one's
    first occurrence, the inverse (indices into the unique values that
    rebuild ``ar``, of ``ar``'s shape as NumPy 2) and the counts. With an
    int ``axis``: the distinct slices along it (``_unique_axis``)."""
    if axis is not None:
        return _unique_axis(ar, axis, return_index, return_inverse, return_counts)
    ar = as_tensor_variable(ar)
    flat = S.flatten(ar) if ar.ndim != 1 else ar
    perm = argsort(flat)
    s = _adv_getitem(flat, [perm])
    n = flat.shape[0]
    head = S.alloc(constant(True), E.minimum(n, 1))
    mask = S.concatenate([head, _differs(s[1:], s[:-1])])
    first = nonzero(mask)[0]
    uniq = _adv_getitem(s, [first])
    outs = [uniq]
    if return_index:
        outs.append(_adv_getitem(perm, [first]))
    if return_inverse:
        ranks = E.sub(cumsum(mask), 1)
        inv = apply_op("adv_set_subtensor", S.zeros((n,), dtype="int64"), ranks, perm, idx=("a",))
        outs.append(S.reshape(inv, ar.shape, ndim=ar.ndim) if ar.ndim != 1 else inv)
    if return_counts:
        ends = S.concatenate([first, S.reshape(n, (1,))])
        outs.append(diff(ends))
    return outs[0] if len(outs) == 1 else tuple(outs)


_LEXSORT_UNROLL = 32     # lexsort: a Python loop up to this many static columns, a scan beyond


def _lexsort_rows(rows):
    """int64 indices that sort the rows of the 2-d ``rows`` lexicographically
    (stably, NaNs last per column): LSD -- a stable argsort by each column
    from the last to the first, each gathered through the order so far.
    Unrolled for a static column count, else a ``scan`` over the columns."""
    n, m = S.dim(rows, 0), S.dim(rows, 1)
    perm = S.arange(n, dtype="int64")

    def step(j, perm, rows):
        col = _adv_getitem(rows, [perm, j])
        return _adv_getitem(perm, [argsort(col)])
    if isinstance(m, int) and m <= _LEXSORT_UNROLL:
        for j in range(m - 1, -1, -1):
            perm = step(constant(np.int64(j)), perm, rows)
        return perm
    from .scan import scan
    cols = S.arange(E.sub(S.dim(rows, 1), 1), -1, -1, dtype="int64")
    perms, _ = scan(step, sequences=[cols], outputs_info=[perm], non_sequences=[rows])
    return S.concatenate([S.reshape(perm, (1, n)), perms])[-1]


def _unique_axis(ar, axis, return_index, return_inverse, return_counts):
    """``np.unique(ar, axis=axis)``: the distinct slices along ``axis``,
    sorted lexicographically (the slices flattened as rows; as NumPy, rows
    holding NaNs never equal another and -0.0 equals 0.0); the index of
    each one's first occurrence, the inverse (1-d, one entry per slice) and
    the counts as asked."""
    ar = as_tensor_variable(ar)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"unique: axis must be an int or None, got {axis!r}")
    if ar.ndim == 0 or not -ar.ndim <= axis < ar.ndim:
        raise ValueError(f"unique: axis {axis} is out of bounds for a {ar.ndim}-d array")
    axis = int(axis) % ar.ndim
    order = [axis] + [d for d in range(ar.ndim) if d != axis]
    moved = ar.dimshuffle(order) if axis else ar
    n = S.dim(moved, 0)
    rows = S.reshape(moved, [n, S.prod_dims(moved, range(1, moved.ndim))], ndim=2)
    perm = _lexsort_rows(rows)
    s = _adv_getitem(rows, [perm])
    head = S.alloc(constant(True), E.minimum(n, 1))
    from .reduce import any as any_
    mask = S.concatenate([head, any_(E.neq(s[1:], s[:-1]), axis=1)])
    first = nonzero(mask)[0]
    uniq = S.reshape(_adv_getitem(s, [first]), [first.shape[0]] + [S.dim(moved, d) for d in range(1, moved.ndim)],
                     ndim=moved.ndim)
    if axis:
        uniq = uniq.dimshuffle([order.index(d) for d in range(ar.ndim)])
    outs = [uniq]
    if return_index:
        outs.append(_adv_getitem(perm, [first]))
    if return_inverse:
        ranks = E.sub(cumsum(mask), 1)
        outs.append(apply_op("adv_set_subtensor", S.zeros((n,), dtype="int64"), ranks, perm, idx=("a",)))
    if return_counts:
        outs.append(diff(S.concatenate([first, S.reshape(n, (1,))])))
    return outs[0] if len(outs) == 1 else tuple(outs)


def compress(condition, x, axis=None):
    """``np.compress``: the slices of x along ``axis`` (None: of x flattened)
    where the 1-d ``condition`` is true (an IndexError if it is true past
    x's size)."""
    cond = as_tensor_variable(condition)
    if cond.ndim != 1:
        raise ValueError(f"compress: condition must be 1-d, got {cond.type}")
    x, axis = _axis(x, axis, "compress")
    return take(x, nonzero(cond)[0], axis=axis)


def bartlett(M):
    """``np.bartlett``: the Bartlett (triangular) window of M points (float64)."""
    M = as_tensor_variable(M)
    if M.ndim != 0 or np.dtype(M.dtype).kind not in "iu":
        raise TypeError(f"bartlett: M must be a scalar int, got {M!r}")
    n = S.arange(E.maximum(cast(M, "int64"), 0), dtype="float64")
    half = E.true_div(E.sub(cast(M, "float64"), 1.0), 2.0)
    ramp = E.true_div(n, E.maximum(half, 0.5))
    return E.where(E.eq(M, 1), 1.0, E.where(E.le(n, half), ramp, E.sub(2.0, ramp)))


def cpu_contiguous(x):
    """Theano's ``cpu_contiguous``: x itself (theon's results are always C-contiguous)."""
    return as_tensor_variable(x)


# --- diagonals, one-hot ----------------------------------------------------------------------
def fill_diagonal(a, val):
    """``np.fill_diagonal`` (wrap=False): a copy of ``a`` (at least 2-d; for
    more dims all of one size) with its main diagonal set to the scalar
    ``val``. Gradients as Theano's: zero on the diagonal for ``a``, the sum
    of the diagonal's gradient for ``val``."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"fill_diagonal: a must be at least 2-d, got {a.type}")
    val = as_tensor_variable(val)
    if val.ndim != 0:
        raise ValueError(f"fill_diagonal: val must be a scalar, got {val.type}")
    k = a.shape[0]
    for d in range(1, a.ndim):
        k = E.minimum(k, a.shape[d])
    i = S.arange(k)
    return apply_op("adv_set_subtensor", a, cast(val, a.dtype), *([i] * a.ndim), idx=("a",) * a.ndim)


def fill_diagonal_offset(a, val, offset):
    """Theano's ``fill_diagonal_offset``: a copy of the matrix ``a`` with the
    diagonal ``offset`` above the main one (below when negative) set to ``val``."""
    a = as_tensor_variable(a)
    if a.ndim != 2:
        raise ValueError(f"fill_diagonal_offset: a must be a matrix, got {a.type}")
    val = as_tensor_variable(val)
    off = as_tensor_variable(offset)
    if off.ndim != 0 or np.dtype(off.dtype).kind not in "iu":
        raise TypeError(f"fill_diagonal_offset: offset must be a scalar int, got {offset!r}")
    off = cast(off, "int64")
    n, m = a.shape[0], a.shape[1]
    pos = E.maximum(off, 0)
    neg = E.maximum(E.neg(off), 0)
    k = E.maximum(E.minimum(E.sub(n, neg), E.sub(m, pos)), 0)
    i = S.arange(k)
    return apply_op("adv_set_subtensor", a, cast(val, a.dtype), E.add(i, neg), E.add(i, pos), idx=("a", "a"))


def to_one_hot(y, nb_class, dtype=None):
    """Theano's ``to_one_hot``: the (len(y), nb_class) matrix with a 1 at
    (i, y[i]) (``dtype`` default floatX)."""
    y = as_tensor_variable(y)
    if y.ndim != 1 or np.dtype(y.dtype).kind not in "iu":
        raise TypeError(f"to_one_hot: y must be a 1-d integer tensor, got {y.type}")
    dtype = canonical_dtype(dtype or config.floatX)
    hot = E.eq(S.dimshuffle(cast(y, "int64"), 0, "x"), S.dimshuffle(S.arange(nb_class, dtype="int64"), "x", 0))
    return cast(hot, dtype)


# --- flat indices ----------------------------------------------------------------------------
def _dims_vector(dims, fname):
    if is_variable(dims):
        d = dims
        if d.ndim != 1 or np.dtype(d.dtype).kind not in "iu":
            raise TypeError(f"{fname}: dims must be a 1-d int tensor or a tuple, got {d.type}")
        if d.type.shape[0] is None:
            raise ValueError(f"{fname}: dims must have a static length")
        return [d[k] for k in range(d.type.shape[0])]
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    return [cast(as_tensor_variable(d), "int64") if is_variable(d) else constant(np.int64(d)) for d in dims]


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """``np.ravel_multi_index``: the flat (int64) index of each tuple of
    ``multi_index`` (one int array per dim, broadcasting) in an array of
    shape ``dims``. ``mode`` 'raise' (an index outside [0, dim) is an
    IndexError, checked in native code), 'wrap' or 'clip'; ``order`` 'C' or 'F'."""
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"ravel_multi_index: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if order not in ("C", "F"):
        raise ValueError(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
    dims = _dims_vector(dims, "ravel_multi_index")
    idx = list(multi_index)
    if len(idx) != len(dims):
        raise ValueError(f"ravel_multi_index: {len(idx)} index arrays for {len(dims)} dims")
    idx = [cast(_int_index(i, "ravel_multi_index"), "int64") for i in idx]
    checked = []
    for i, d in zip(idx, dims):
        if mode == "wrap":
            i = E.mod(i, d)
        elif mode == "clip":
            i = E.clip(i, 0, E.sub(d, 1))
        else:
            i = _in_range(i, d)
        checked.append(i)
    order_ = list(range(len(dims))) if order == "C" else list(range(len(dims)))[::-1]
    flat = None
    for k in order_:
        flat = checked[k] if flat is None else E.add(E.mul(flat, dims[k]), checked[k])
    return flat


def _int_index(i, fname):
    i = i if is_variable(i) else constant(np.asarray(i))
    if np.dtype(i.dtype).kind not in "iu":
        raise TypeError(f"{fname}: indices must have an integer dtype, got {i.type}")
    return i


def _in_range(i, d):
    """i, checked in native code to lie in [0, d) (an IndexError names the
    bad index; negative indices do not wrap)."""
    return apply_op("check_index", i, cast(d, "int64"))


def unravel_index(indices, dims, order="C"):
    """``np.unravel_index``: a tuple of int64 arrays (one per dim of
    ``dims``) of the coordinates of each flat index; an index outside
    [0, prod(dims)) is an IndexError."""
    if order not in ("C", "F"):
        raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    dims = _dims_vector(dims, "unravel_index")
    i = cast(_int_index(indices, "unravel_index"), "int64")
    total = constant(np.int64(1))
    for d in dims:
        total = E.mul(total, d)
    i = _in_range(i, total)
    out = [None] * len(dims)
    order_ = list(range(len(dims)))[::-1] if order == "C" else list(range(len(dims)))
    for k in order_:
        out[k] = E.mod(i, dims[k])
        i = E.floor_div(i, dims[k])
    return tuple(out)
