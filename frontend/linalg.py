"""Products: matmul (np.matmul), dot (np.dot), tensordot, outer.

All lower to the IR's ``matmul`` op (plus dimshuffle/reshape for
tensordot). Operands are promoted as in NumPy; bool products compute in
int64 and test ``!= 0``, as NumPy's logical dot does.
"""
import numpy as np

from ..ir.opdef import normalize_axis
from ..ir.types import is_bool
from .basic import apply_op, as_tensor_variable, cast, result_dtype
from . import elemwise as E
from . import shape_ops as S


def _promoted(a, b, fname):
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    dtype = result_dtype([a, b], fname)
    return cast(a, dtype), cast(b, dtype)


def _matmul(a, b):
    """matmul of operands of one dtype, bool handled via int64."""
    if is_bool(a.dtype):
        prod = apply_op("matmul", cast(a, "int64"), cast(b, "int64"))
        return cast(prod, "bool")
    return apply_op("matmul", a, b)


def matmul(a, b):
    """NumPy's matmul: 1-d operands are promoted, leading dims are batch dims."""
    a, b = _promoted(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-d, got {a.type} and {b.type}; "
                         "use * for scalars")
    return _matmul(a, b)


def dot(a, b):
    """NumPy's dot: a product for 0-d operands, matmul for 1-d and 2-d ones,
    otherwise a sum over the last axis of ``a`` and the second-to-last of ``b``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return E.mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=[[a.ndim - 1], [max(b.ndim - 2, 0)]])


def _tensordot_axes(a, b, axes):
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: axes={n} is out of range for tensors of "
                             f"{a.ndim} and {b.ndim} dims")
        return list(range(a.ndim - n, a.ndim)), list(range(n))
    try:
        a_axes, b_axes = axes
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"tensordot: axes {a_axes} and {b_axes} differ in length")
    a_axes = [normalize_axis(x, a.ndim, "tensordot") for x in a_axes]
    b_axes = [normalize_axis(x, b.ndim, "tensordot") for x in b_axes]
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes):
        raise ValueError(f"tensordot: repeated axis in {axes!r}")
    return a_axes, b_axes


def tensordot(a, b, axes=2):
    """NumPy's tensordot: sum products over ``axes`` (an int n: the last n
    of ``a`` with the first n of ``b``; or a pair of axis lists)."""
    a, b = _promoted(a, b, "tensordot")
    a_axes, b_axes = _tensordot_axes(a, b, axes)
    for i, j in zip(a_axes, b_axes):
        da, db = a.type.shape[i], b.type.shape[j]
        if da is not None and db is not None and da != db:
            raise ValueError(f"tensordot: shape-mismatch for sum: {a.type.shape}[{i}] = {da} "
                             f"vs {b.type.shape}[{j}] = {db}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    a2 = _as_matrix(a, a_free, a_axes)
    b2 = _as_matrix(b, b_axes, b_free)
    prod = _matmul(a2, b2)
    return S.reshape(prod, [S.dim(a, i) for i in a_free] + [S.dim(b, j) for j in b_free])


def _as_matrix(x, rows, cols):
    """``x`` transposed to (rows..., cols...) and reshaped to 2-d."""
    moved = S.transpose(x, list(rows) + list(cols))
    return S.reshape(moved, [S.prod_dims(x, rows), S.prod_dims(x, cols)])


def outer(x, y):
    """Outer product of the flattened ``x`` and ``y``."""
    x, y = S.flatten(as_tensor_variable(x)), S.flatten(as_tensor_variable(y))
    return E.mul(S.dimshuffle(x, 0, "x"), S.dimshuffle(y, "x", 0))
