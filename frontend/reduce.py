"""Reductions: sum prod max min any all mean var std argmax argmin logsumexp.

``axis`` is None (all), an int or a tuple (negative counts from the end);
``keepdims`` keeps reduced dims as size 1. As in NumPy, int and bool sums
and products accumulate in int64 (unsigned ones in uint64), and
mean/var/std of ints are float64.
"""
import numpy as np

from ..ir.opdef import normalize_axis
from ..ir.ops.reduction import normalize_axes
from ..ir.types import is_float
from .basic import apply_op, as_tensor_variable, canonical_dtype, cast
from . import elemwise as E
from . import shape_ops as S


def reduce_axes(x, axis, fname):
    """The sorted, non-negative axes that ``axis`` names for ``x``."""
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, list):
        axis = tuple(axis)
    if not isinstance(axis, (tuple, int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{fname}: axis must be None, an int or a tuple of ints, got {axis!r}")
    if x.ndim == 0 and axis != ():
        raise ValueError(f"{fname}: axis {axis!r} is out of range for a 0-d tensor")
    return normalize_axes(axis, x.ndim, fname)


def _accumulate(opname, x, axis, dtype, keepdims, acc_dtype):
    x = as_tensor_variable(x)
    axes = reduce_axes(x, axis, opname)
    out_dtype = canonical_dtype(dtype) if dtype is not None else (
        x.dtype if is_float(x.dtype) else "uint64" if x.dtype.startswith("uint") else "int64")
    acc = canonical_dtype(acc_dtype) if acc_dtype is not None else out_dtype
    out = apply_op(opname, cast(x, acc), axes=axes, keepdims=bool(keepdims))
    return cast(out, out_dtype)


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis``; ints and bools accumulate in int64 unless ``dtype`` says otherwise."""
    return _accumulate("sum", x, axis, dtype, keepdims, acc_dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over ``axis``. Its gradient is exact with zeros in ``x`` (each
    element gets the product of the others); ``no_zeros_in_input`` (Theano's
    promise that there are none) is accepted and changes nothing."""
    return _accumulate("prod", x, axis, dtype, keepdims, acc_dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis`` (NaN-propagating); an empty axis is an error."""
    x = as_tensor_variable(x)
    return apply_op("max", x, axes=reduce_axes(x, axis, "max"), keepdims=bool(keepdims))


def min(x, axis=None, keepdims=False):
    x = as_tensor_variable(x)
    return apply_op("min", x, axes=reduce_axes(x, axis, "min"), keepdims=bool(keepdims))


def any(x, axis=None, keepdims=False):
    """True where any element over ``axis`` is non-zero (a bool tensor)."""
    x = as_tensor_variable(x)
    return apply_op("sum", cast(x, "bool"), axes=reduce_axes(x, axis, "any"), keepdims=bool(keepdims))


def all(x, axis=None, keepdims=False):
    x = as_tensor_variable(x)
    return apply_op("prod", cast(x, "bool"), axes=reduce_axes(x, axis, "all"), keepdims=bool(keepdims))


def _float_dtype(x, dtype):
    if dtype is not None:
        return canonical_dtype(dtype)
    return x.dtype if is_float(x.dtype) else "float64"


def _divide_by_count(total, x, axes, dtype, ddof=0):
    """``total / (number of elements of x in axes - ddof)`` in ``dtype``."""
    count = S.prod_dims(x, axes)
    if isinstance(count, int):
        return E.true_div(total, float(count - ddof))
    if ddof:
        count = E.sub(count, ddof)
    return E.true_div(total, cast(count, dtype))


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean (float64 for int and bool tensors); NaN over an empty axis."""
    x = as_tensor_variable(x)
    axes = reduce_axes(x, axis, "mean")
    dtype = _float_dtype(x, dtype)
    if dtype == "float16":      # summed and divided in float32, rounded once (NumPy, Theano 1.0)
        return cast(mean(x, axes, "float32", keepdims, acc_dtype), "float16")
    total = sum(cast(x, dtype), axes, keepdims=keepdims, acc_dtype=acc_dtype, dtype=dtype)
    return _divide_by_count(total, x, axes, dtype)


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis``: ``sum((x - mean(x))**2) / (N - ddof)`` as
    NumPy's var (N: the number of elements reduced; Theano 1.0's var has
    ``ddof`` too, but over several axes divides by the product of each
    axis's ``n - ddof``, which theon does not copy).

    corrected: Theano's "corrected two-pass" algorithm (Chan, Golub and
    LeVeque): the same variance, with the rounding error of the mean taken
    out, ``(sum(c**2) - sum(c)**2 / N) / (N - ddof)`` for ``c = x - mean(x)``.
    """
    if isinstance(ddof, bool):
        raise ValueError("var: ddof must be an int (keepdims is the fourth argument: "
                        "var(x, axis, ddof, keepdims, corrected))")
    x = as_tensor_variable(x)
    axes = reduce_axes(x, axis, "var")
    dtype = _float_dtype(x, None)
    xf = cast(x, dtype)
    centered = E.sub(xf, mean(xf, axes, keepdims=True))
    total = sum(E.mul(centered, centered), axes, keepdims=keepdims)
    if corrected:
        drift = sum(centered, axes, keepdims=keepdims)
        total = E.sub(total, _divide_by_count(E.mul(drift, drift), x, axes, dtype))
    return _divide_by_count(total, x, axes, dtype, ddof=ddof)


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """``sqrt(var(x, axis, ddof, keepdims, corrected))``."""
    return E.sqrt(var(x, axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))`` without overflow: the max is subtracted
    first (and taken as 0 where it is infinite, so -inf rows give -inf)."""
    x = as_tensor_variable(x)
    axes = reduce_axes(x, axis, "logsumexp")
    x = E.as_float(x, "logsumexp")
    m = max(x, axes, keepdims=True)
    m = E.where(E.eq(E.abs(m), np.inf), 0.0, m)
    out = E.add(E.log(sum(E.exp(E.sub(x, m)), axes, keepdims=True)), m)
    if keepdims:
        return out
    return S.dimshuffle(out, tuple(i for i in range(x.ndim) if i not in axes))


# --- argmax / argmin ----------------------------------------------------------------------
def _arg_reduce(opname, x, axis, keepdims):
    x = as_tensor_variable(x)
    keepdims = bool(keepdims)
    if axis is None:
        return apply_op(opname, x, axis=None, keepdims=keepdims)
    if isinstance(axis, (list, tuple)):
        axes = reduce_axes(x, tuple(axis), opname)
        if len(axes) == 1:
            axis = axes[0]
        elif len(axes) == x.ndim:
            return apply_op(opname, x, axis=None, keepdims=keepdims)
        else:
            return _arg_reduce_axes(opname, x, axes, keepdims)
    if x.ndim == 0:
        raise ValueError(f"{opname}: axis {axis!r} is out of range for a 0-d tensor")
    return apply_op(opname, x, axis=normalize_axis(axis, x.ndim, opname), keepdims=keepdims)


def _arg_reduce_axes(opname, x, axes, keepdims):
    """Arg-reduce over several axes: the index into those axes flattened in
    C order (as Theano), via transpose + reshape."""
    kept = [i for i in range(x.ndim) if i not in axes]
    moved = S.transpose(x, kept + list(axes))
    entries = [S.dim(x, i) for i in kept] + [S.prod_dims(x, axes)]
    spec, dyn = S.dyn_attr(entries)
    flat = apply_op("reshape", moved, *dyn, shape=spec)
    out = apply_op(opname, flat, axis=len(kept), keepdims=False)
    if not keepdims:
        return out
    pattern, k = [], 0
    for i in range(x.ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return S.dimshuffle(out, tuple(pattern))


def argmax(x, axis=None, keepdims=False):
    """Index (int64) of the first maximum over ``axis`` (None: the flattened tensor)."""
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg_reduce("argmin", x, axis, keepdims)

