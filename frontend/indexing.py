"""NumPy basic indexing of tensors, and set_subtensor / inc_subtensor.

``x[key]`` supports ints, slices whose bounds are ints or 0-d int tensors
(``x[i*b:(i+1)*b]``, ``x[::-1]``), 0-d int tensors as indices, ``...`` and
``None`` (``np.newaxis``). It lowers to one ``subtensor`` op whose ``idx``
attribute holds the static entries and ``?`` (DYN) for each symbolic one;
``None`` adds a ``dimshuffle`` after it.

Advanced indexing (NumPy rules): integer index arrays (TensorVariables,
lists, NumPy arrays) in any position, mixed with slices, ints, ``...`` and
``None``, broadcasting against each other, lower to one ``adv_subtensor``
(ir/ops/indexing.py); slices that are not whole dims are applied first by
a basic ``subtensor``. ``set_subtensor``/``inc_subtensor`` accept such
targets (``adv_set_subtensor``/``adv_inc_subtensor``; inc accumulates over
repeated indices, as ``np.add.at``); ``take``. A boolean mask (``x[x > 0]``)
indexes with the rows of ``nonzero(mask)``: the result's size depends on
the mask's values.
"""
import numpy as np

from ..ir.core import DYN
from ..ir.types import is_bool
from .basic import apply_op, as_tensor_variable, is_variable, is_weak, result_dtype, to_dtype
from .shape_ops import dimshuffle, size_entry
from .variable import TensorVariable

SUPPORTED = ("ints, slices with int or 0-d int tensor bounds, 0-d int tensors, "
             "... and None (np.newaxis)")
FULL = (None, None, None)


def _check_item(item):
    """Raise for index items basic indexing does not cover."""
    if isinstance(item, (bool, np.bool_)) or (is_variable(item) and is_bool(item.dtype) and item.ndim == 0):
        raise NotImplementedError(f"indexing: 0-d boolean indices are not supported (got {item!r}); "
                                  f"supported: {SUPPORTED}")
    if isinstance(item, (list, np.ndarray)) or (is_variable(item) and item.ndim > 0):
        return
    if item is Ellipsis or item is None or isinstance(item, (slice, int, np.integer, TensorVariable)):
        return
    raise TypeError(f"indexing: invalid index {item!r}; supported: {SUPPORTED}")


def _expand(key, ndim):
    """``key`` as a list with ``...`` replaced by full slices."""
    if not isinstance(key, tuple):
        key = (key,)
    for item in key:
        _check_item(item)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("indexing: an index can only have a single ellipsis ('...')")
    consumed = sum(_mask_ndim(k) or 1 for k in key if k is not None and k is not Ellipsis)
    if consumed > ndim:
        raise IndexError(f"indexing: too many indices ({consumed}) for a {ndim}-d tensor")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - consumed))
        else:
            out.append(k)
    return out


def _slice_entry(s):
    entries = []
    for name, v in (("start", s.start), ("stop", s.stop), ("step", s.step)):
        entries.append(None if v is None else size_entry(v, "indexing", f"slice {name}"))
    return tuple(entries)


def getitem(x, key):
    """``x[key]`` with NumPy basic-indexing semantics."""
    x = as_tensor_variable(x)
    items = _expand(key, x.ndim)
    if any(_is_array(item) for item in items):
        return _adv_getitem(x, items)
    idx, pattern, out_dim = [], [], 0
    for item in items:
        if item is None:
            pattern.append("x")
        elif isinstance(item, slice):
            idx.append(_slice_entry(item))
            pattern.append(out_dim)
            out_dim += 1
        else:
            idx.append(size_entry(item, "indexing", "an index"))
    while idx and idx[-1] == FULL:
        idx.pop()
    if not idx and "x" in pattern:
        out = x          # only new axes: no subtensor needed
    else:
        flat = [e for entry in idx for e in (entry if isinstance(entry, tuple) else (entry,))]
        dyn = [e for e in flat if is_variable(e)]
        out = apply_op("subtensor", x, *dyn, idx=tuple(_spec(e) for e in idx))
    if "x" not in pattern:
        return out
    rest = range(out_dim, out.ndim)
    return dimshuffle(out, tuple(pattern) + tuple(rest))


def _spec(entry):
    """An idx attribute entry: DYN for each symbolic part."""
    if isinstance(entry, tuple):
        return tuple(DYN if is_variable(e) else e for e in entry)
    return DYN if is_variable(entry) else entry


# --- set / inc -----------------------------------------------------------------------------
def _indexed(x_sub, fname):
    """(x, dynamic operands, idx) of the ``x[idx]`` that ``x_sub`` is."""
    op = getattr(x_sub, "owner", None)
    if op is not None and op.name == "adv_subtensor":
        return op.operands[0], op.operands[1:], op.attrs["idx"]
    if op is not None and op.name == "subtensor":
        return op.operands[0], op.operands[1:], op.attrs["idx"]
    if op is not None and op.name == "dimshuffle":
        raise TypeError(f"{fname}: x[idx] with None/np.newaxis in idx (a dimshuffle) is not "
                        "supported; index with ints, slices and ... only, and give the value "
                        "the indexed shape")
    raise TypeError(f"{fname}: the first argument must be an indexed tensor x[idx] "
                    f"(the result of basic indexing), got {x_sub!r}")


def set_subtensor(x_sub, y, inplace=False, tolerate_inplace_aliasing=False):
    """A new tensor: ``x`` with ``x[idx] = y`` (``y`` broadcast and cast to x's dtype),
    where ``x_sub`` is ``x[idx]``."""
    x, dyn, idx = _indexed(x_sub, "set_subtensor")
    y = y if is_weak(y) else as_tensor_variable(y)
    name = "adv_set_subtensor" if x_sub.owner.name == "adv_subtensor" else "set_subtensor"
    return _outer(x_sub, apply_op(name, x, to_dtype(y, x.dtype, "set_subtensor"), *dyn, idx=idx))


def inc_subtensor(x_sub, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """A new tensor: ``x`` with ``x[idx] += y``. As NumPy's ``+=``, ``y`` may
    not need a cast of another kind (a float into an int tensor)."""
    if set_instead_of_inc:
        return set_subtensor(x_sub, y)
    x, dyn, idx = _indexed(x_sub, "inc_subtensor")
    y = y if is_weak(y) else as_tensor_variable(y)
    dtype = result_dtype([x, y], "inc_subtensor")
    if not np.can_cast(dtype, x.dtype, casting="same_kind"):
        raise TypeError(f"inc_subtensor: cannot add a {dtype} value into a {x.dtype} tensor "
                        "(NumPy's same_kind rule); cast the value first")
    name = "adv_inc_subtensor" if x_sub.owner.name == "adv_subtensor" else "inc_subtensor"
    return _outer(x_sub, apply_op(name, x, to_dtype(y, x.dtype, "inc_subtensor"), *dyn, idx=idx))


def _outer(x_sub, updated):
    """For an advanced index whose slices were applied first (``x[1:5, i]``
    is ``x[1:5][:, i]``), put the updated slice back into the whole x."""
    base = getattr(x_sub, "_theon_sliced_base", None)
    return updated if base is None else set_subtensor(base, updated)


# --- advanced indexing -------------------------------------------------------------------
def _is_array(item):
    return isinstance(item, (list, np.ndarray)) or (is_variable(item) and item.ndim > 0)


def _mask_ndim(item):
    """The dims a boolean mask item indexes (0: not a mask)."""
    if is_variable(item):
        return item.ndim if is_bool(item.dtype) else 0
    if isinstance(item, (list, np.ndarray)):
        a = np.asarray(item)
        return a.ndim if a.dtype.kind == "b" else 0
    return 0


def _mask_indices(mask, x, axis):
    """The index arrays (one per mask dim) of the elements a boolean mask
    selects: the rows of ``nonzero(mask)``, whose ``match`` states the dims
    of x the mask covers (a mask of another shape is an IndexError)."""
    mask = mask if is_variable(mask) else as_tensor_variable(np.asarray(mask))
    if axis + mask.ndim > x.ndim:
        raise IndexError(f"indexing: too many indices: a {mask.ndim}-d boolean mask at axis {axis} "
                         f"of a {x.ndim}-d tensor")
    match, dyn = [], []
    for k in range(mask.ndim):
        n = x.type.shape[axis + k]
        if n is None:
            match.append(DYN)
            dyn.append(x.shape[axis + k])
        else:
            match.append(n)
    nz = apply_op("nonzero", mask, *dyn, match=tuple(match), axis=axis)
    return [getitem(nz, k) for k in range(mask.ndim)]


def _index_array(item):
    """An index item of an advanced index as an integer TensorVariable."""
    if is_variable(item):
        if is_bool(item.dtype):
            raise NotImplementedError("indexing: a boolean array is a mask only as an item of x[...] "
                                      f"(got {item!r} here); index with integer arrays")
        if not np.dtype(item.dtype).kind in "iu":
            raise IndexError(f"indexing: index arrays must have an integer dtype, got {item!r} "
                             f"({item.dtype})")
        return item
    a = np.asarray(item)
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)
    if a.dtype.kind == "b":
        raise NotImplementedError(f"indexing: a boolean array is a mask only as an item of x[...] "
                                  f"(a 0-d one is not supported; got {item!r} here)")
    if a.dtype.kind not in "iu":
        raise IndexError(f"indexing: only integers, slices, ..., None and integer arrays are valid "
                         f"indices, got {item!r}")
    if a.dtype == np.uint64:
        a = a.astype(np.int64)
    return as_tensor_variable(a)


def _adv_getitem(x, items):
    """``x[items]`` where an item is an integer array: one ``adv_subtensor``
    after a basic ``subtensor`` for the slices that are not whole dims."""
    basic, idx, arrays, sliced = [], [], [], False
    for item in items:
        if item is None:
            idx.append("x")
        elif isinstance(item, slice):
            basic.append(item)
            idx.append(":")
            sliced = sliced or item != slice(None)
        elif _mask_ndim(item):
            for ind in _mask_indices(item, x, len(basic)):
                arrays.append(ind)
                basic.append(slice(None))
                idx.append("a")
        else:
            arrays.append(_index_array(item))
            basic.append(slice(None))
            idx.append("a")
    while idx and idx[-1] == ":":
        idx.pop()
    base = None
    if sliced:
        base = getitem(x, tuple(basic))
        x = base
    out = apply_op("adv_subtensor", x, *arrays, idx=tuple(idx))
    if base is not None:
        out._theon_sliced_base = base
    return out


def take(a, indices, axis=None, mode="raise"):
    """NumPy's / Theano's ``take``: elements of ``a`` at ``indices`` along
    ``axis`` (None: of the flattened ``a``). ``mode``: 'raise' (an
    IndexError for an index out of range), 'wrap' or 'clip'."""
    a = as_tensor_variable(a)
    if axis is None:
        a = a.flatten()
        axis = 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"take: axis must be an int in [{-a.ndim}, {a.ndim}) for a {a.ndim}-d tensor, "
                         f"got {axis!r}")
    axis = int(axis) % a.ndim
    ind = _index_array(indices) if not is_variable(indices) or indices.ndim > 0 else indices
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if mode != "raise":
        from .elemwise import clip
        n = a.shape[axis]
        ind = ind % n if mode == "wrap" else clip(ind, 0, n - 1)
    if ind.ndim == 0:
        return getitem(a, (slice(None),) * axis + (ind,))
    return _adv_getitem(a, [slice(None)] * axis + [ind])


# --- nonzero (Theano's names) -------------------------------------------------------------
def nonzero(a, return_matrix=False):
    """The indices of ``a``'s nonzero elements: a tuple of one int64 vector
    per dim (``np.nonzero``), or with ``return_matrix`` one (ndim, count)
    matrix. Their length depends on ``a``'s values."""
    a = as_tensor_variable(a)
    if a.ndim == 0:
        raise ValueError("nonzero: a must have at least one dim (NumPy refuses 0-d input)")
    nz = apply_op("nonzero", a, match=(None,) * a.ndim)
    if return_matrix:
        return nz
    return tuple(getitem(nz, k) for k in range(a.ndim))


def flatnonzero(a):
    """The indices of the nonzero elements of ``a`` flattened (``np.flatnonzero``)."""
    return nonzero(as_tensor_variable(a).flatten())[0]


def nonzero_values(a):
    """The nonzero elements of ``a`` flattened, in C order."""
    flat = as_tensor_variable(a).flatten()
    return _adv_getitem(flat, [flatnonzero(flat)])
