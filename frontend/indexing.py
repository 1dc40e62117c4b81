"""NumPy basic indexing of tensors, and set_subtensor / inc_subtensor.

``x[key]`` supports ints, slices whose bounds are ints or 0-d int tensors
(``x[i*b:(i+1)*b]``, ``x[::-1]``), 0-d int tensors as indices, ``...`` and
``None`` (``np.newaxis``). It lowers to one ``subtensor`` op whose ``idx``
attribute holds the static entries and ``?`` (DYN) for each symbolic one;
``None`` adds a ``dimshuffle`` after it. Advanced indexing (integer arrays,
boolean masks) is not supported.
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
    if isinstance(item, (bool, np.bool_)) or (is_variable(item) and is_bool(item.dtype)):
        raise NotImplementedError(f"indexing: boolean masks are not supported (got {item!r}); "
                                  f"supported: {SUPPORTED}")
    if isinstance(item, (list, np.ndarray)) or (is_variable(item) and item.ndim > 0):
        raise NotImplementedError(f"indexing: advanced (integer array) indexing is not supported "
                                  f"(got {item!r}); supported: {SUPPORTED}")
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
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
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
    return apply_op("set_subtensor", x, to_dtype(y, x.dtype, "set_subtensor"), *dyn, idx=idx)


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
    return apply_op("inc_subtensor", x, to_dtype(y, x.dtype, "inc_subtensor"), *dyn, idx=idx)
