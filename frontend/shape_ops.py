"""Shapes, views and data movement: shape, reshape, flatten, dimshuffle,
transpose, squeeze, concatenate, stack, and array creation (alloc, zeros,
ones, *_like, arange).

Sizes may be Python ints or 0-d int variables; the IR keeps known ones as
ints in the op's attribute and passes the others as trailing operands
(``DYN``), each cast to int64.
"""
import numpy as np

from ..config import config
from ..ir.core import DYN
from ..ir.opdef import const_value, normalize_axis
from ..ir.types import is_bool, is_int
from .basic import (apply_op, as_tensor_variable, canonical_dtype, cast, constant, is_variable,
                    is_weak, result_dtype, static_int, to_dtype)
from .variable import TensorVariable


# --- sizes -----------------------------------------------------------------------------
def shape(x):
    """The shape of ``x``: a 1-d int64 tensor of length ``x.ndim``."""
    return apply_op("shape", as_tensor_variable(x))


def dim(x, i):
    """Dim ``i`` of ``x``: an int when static, else a 0-d int64 variable."""
    n = x.type.shape[i]
    if n is not None:
        return n
    return apply_op("subtensor", shape(x), idx=(i,))


def prod_dims(x, axes):
    """The number of elements in ``axes`` of ``x`` (int, or int64 variable)."""
    total, symbolic = 1, None
    for a in axes:
        d = dim(x, a)
        if is_variable(d):
            symbolic = d if symbolic is None else apply_op("mul", symbolic, d)
        else:
            total *= d
    if symbolic is None:
        return total
    if total == 1:
        return symbolic
    return apply_op("mul", symbolic, constant(total, dtype="int64"))


def size_entry(v, fname, what="size"):
    """One size/index entry: an int, or a 0-d int64 variable (constants and
    static dims fold to ints)."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fname}: {what} must be an int or a 0-d int tensor, got bool {v!r}")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if not isinstance(v, TensorVariable):
        raise TypeError(f"{fname}: {what} must be an int or a 0-d int tensor, got {v!r}")
    if v.ndim != 0 or not is_int(v.dtype):
        raise TypeError(f"{fname}: {what} must be an int or a 0-d int tensor, got {v.type}")
    known = static_int(v)
    if known is not None:
        return known
    return cast(v, "int64")


def dyn_attr(entries):
    """(attribute tuple with DYN for each variable, the variables in order)."""
    spec, dyn = [], []
    for e in entries:
        if is_variable(e):
            spec.append(DYN)
            dyn.append(e)
        else:
            spec.append(e)
    return tuple(spec), dyn


def shape_entries(shape_arg, fname, ndim=None):
    """A user's shape (an int, a tuple/list of ints and 0-d int tensors, or a
    1-d int tensor of static length) as a list of size entries."""
    if isinstance(shape_arg, (list, tuple)):
        entries = list(shape_arg)
    elif isinstance(shape_arg, TensorVariable) and shape_arg.ndim == 1:
        entries = _vector_entries(shape_arg, fname, ndim)
    else:
        entries = [shape_arg]
    if ndim is not None and len(entries) != ndim:
        raise ValueError(f"{fname}: shape {shape_arg!r} has {len(entries)} entries but ndim={ndim}")
    return [size_entry(e, fname) for e in entries]


def _vector_entries(v, fname, ndim):
    if not is_int(v.dtype):
        raise TypeError(f"{fname}: a shape tensor must hold ints, got {v.type}")
    n = v.type.shape[0]
    if n is None:
        n = ndim
    if n is None:
        raise ValueError(f"{fname}: the shape tensor {v!r} has no static length; pass ndim=")
    if v.owner is not None and v.owner.name == "shape":
        return [dim(v.owner.operands[0], i) for i in range(n)]
    if const_value(v) is not None:
        return [int(d) for d in const_value(v)]
    return [apply_op("subtensor", v, idx=(i,)) for i in range(n)]


# --- views -----------------------------------------------------------------------------
def reshape(x, newshape, ndim=None):
    """``x`` with shape ``newshape`` (ints, at most one -1, 0-d int tensors,
    or a 1-d int tensor such as ``y.shape``)."""
    x = as_tensor_variable(x)
    spec, dyn = dyn_attr(shape_entries(newshape, "reshape", ndim))
    return apply_op("reshape", x, *dyn, shape=spec)


def flatten(x, ndim=1):
    """Theano's flatten: keep the first ``ndim - 1`` dims, collapse the rest."""
    x = as_tensor_variable(x)
    if not isinstance(ndim, (int, np.integer)) or ndim < 1 or (ndim > 1 and ndim > x.ndim):
        raise ValueError(f"flatten: ndim must be in [1, {max(x.ndim, 1)}] for a {x.ndim}-d "
                         f"tensor, got {ndim!r}")
    kept = [dim(x, i) for i in range(ndim - 1)]
    entries = kept + [prod_dims(x, range(ndim - 1, x.ndim))]
    spec, dyn = dyn_attr(entries)
    return apply_op("reshape", x, *dyn, shape=spec)


def _pattern(args):
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    out = []
    for p in args:
        if isinstance(p, str) and p == "x":
            out.append("x")
        elif isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)):
            out.append(int(p))
        else:
            raise TypeError(f"dimshuffle: pattern entries are dims (ints) or 'x', got {p!r}")
    return tuple(out)


def dimshuffle(x, *pattern):
    """Theano's dimshuffle: ``pattern`` lists input dims in output order and
    ``'x'`` for new broadcastable dims; dims left out must have size 1."""
    x = as_tensor_variable(x)
    pattern = _pattern(pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return apply_op("dimshuffle", x, pattern=pattern)


def transpose(x, axes=None):
    """Permute the dims of ``x`` (reverse them when ``axes`` is None)."""
    x = as_tensor_variable(x)
    if axes is None:
        return dimshuffle(x, tuple(reversed(range(x.ndim))))
    axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the dims of a "
                         f"{x.ndim}-d tensor")
    return dimshuffle(x, axes)


def squeeze(x, axis=None):
    """Drop dims of size 1: the statically known ones when ``axis`` is None,
    else the given ones (checked to be 1 at run time)."""
    x = as_tensor_variable(x)
    if axis is None:
        drop = {i for i, d in enumerate(x.type.shape) if d == 1}
    else:
        axis = (axis,) if isinstance(axis, (int, np.integer)) else axis
        drop = {normalize_axis(a, x.ndim, "squeeze") for a in axis}
    return dimshuffle(x, tuple(i for i in range(x.ndim) if i not in drop))


def expand_dims(x, axis):
    """Insert a dim of size 1 at ``axis`` (negative counts from the end of the result)."""
    x = as_tensor_variable(x)
    axis = normalize_axis(axis, x.ndim + 1, "expand_dims")
    pattern = list(range(x.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(x, tuple(pattern))


def shape_padleft(x, n_ones=1):
    x = as_tensor_variable(x)
    return dimshuffle(x, ("x",) * n_ones + tuple(range(x.ndim)))


def shape_padright(x, n_ones=1):
    x = as_tensor_variable(x)
    return dimshuffle(x, tuple(range(x.ndim)) + ("x",) * n_ones)


# --- broadcastable patterns (Theano's Rebroadcast) ------------------------------------------
def _broadcast_axes(x, axes, fname):
    axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (list, tuple)) else axes
    return sorted({normalize_axis(a, x.ndim, fname) for a in axes})


def addbroadcast(x, *axes):
    """``x`` with dims ``axes`` made broadcastable (statically 1); a size
    other than 1 there is an error when the function runs."""
    x = as_tensor_variable(x)
    axes = [a for a in _broadcast_axes(x, axes, "addbroadcast") if x.type.shape[a] != 1]
    for a in axes:
        if x.type.shape[a] is not None:
            raise ValueError(f"addbroadcast: dim {a} of {x.type} has size {x.type.shape[a]}, "
                             "not 1: it cannot be broadcastable")
    if not axes:
        return x
    # dropping a dim of unknown size checks that it is 1; 'x' puts it back as a static 1
    return dimshuffle(x, tuple("x" if i in axes else i for i in range(x.ndim)))


def unbroadcast(x, *axes):
    """``x`` with dims ``axes`` no longer broadcastable (their static size
    1 forgotten); the value is unchanged."""
    x = as_tensor_variable(x)
    axes = [a for a in _broadcast_axes(x, axes, "unbroadcast") if x.type.shape[a] == 1]
    if not axes:
        return x
    entries = [apply_op("subtensor", shape(x), idx=(i,)) if i in axes else dim(x, i)
               for i in range(x.ndim)]
    spec, dyn = dyn_attr(entries)
    return apply_op("reshape", x, *dyn, shape=spec)


def patternbroadcast(x, broadcastable):
    """``x`` with the broadcastable pattern ``broadcastable`` (one bool per dim)."""
    x = as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise ValueError(f"patternbroadcast: pattern {tuple(broadcastable)} has "
                         f"{len(broadcastable)} entries for a {x.ndim}-d tensor")
    x = unbroadcast(x, [i for i, b in enumerate(broadcastable) if not b])
    return addbroadcast(x, [i for i, b in enumerate(broadcastable) if b])


# --- joining ---------------------------------------------------------------------------
def concatenate(tensor_list, axis=0):
    """Join tensors along an existing axis; dtypes promote as in NumPy."""
    if not isinstance(tensor_list, (list, tuple)) or not tensor_list:
        raise ValueError(f"concatenate: expected a non-empty list of tensors, got {tensor_list!r}")
    xs = [as_tensor_variable(t) for t in tensor_list]
    if xs[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    if any(t.ndim != xs[0].ndim for t in xs):
        raise ValueError(f"concatenate: all tensors must have the same ndim, got "
                         f"{[str(t.type) for t in xs]}")
    axis = normalize_axis(axis, xs[0].ndim, "concatenate")
    dtype = result_dtype(xs, "concatenate")
    xs = [cast(t, dtype) for t in xs]
    if len(xs) == 1:
        return xs[0]
    return apply_op("concatenate", *xs, axis=axis)


def join(axis, *tensors):
    """Theano's argument order for concatenate."""
    return concatenate(list(tensors), axis)


def stack(*tensors, axis=0):
    """Join tensors of one shape along a new ``axis``: ``stack([a, b], axis)``
    or, as in old Theano, ``stack(a, b, c)``."""
    if tensors and isinstance(tensors[0], (list, tuple)):
        if len(tensors) > 2:
            raise TypeError("stack: use stack([a, b, ...], axis) or stack(a, b, ...)")
        if len(tensors) == 2:
            axis = tensors[1]
        tensors = tensors[0]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    xs = [as_tensor_variable(t) for t in tensors]
    if any(t.ndim != xs[0].ndim for t in xs):
        raise ValueError(f"stack: all tensors must have the same ndim, got {[str(t.type) for t in xs]}")
    axis = normalize_axis(axis, xs[0].ndim + 1, "stack")
    return concatenate([expand_dims(t, axis) for t in xs], axis)


# --- creation --------------------------------------------------------------------------
def alloc(value, *shape):
    """``value`` broadcast to ``shape`` (Theano's alloc); sizes are ints or
    0-d int tensors; a single tuple or 1-d int tensor is accepted too."""
    value = as_tensor_variable(value)
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple))
                            or (is_variable(shape[0]) and shape[0].ndim == 1)):
        entries = shape_entries(shape[0], "alloc")
    else:
        entries = [size_entry(s, "alloc") for s in shape]
    for e in entries:
        if not is_variable(e) and e < 0:
            raise ValueError(f"alloc: negative dimension {e} in shape {tuple(shape)}")
    spec, dyn = dyn_attr(entries)
    return apply_op("alloc", value, *dyn, shape=spec)


def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value`` (NumPy's ``full``)."""
    value = as_tensor_variable(fill_value)
    if dtype is not None:
        value = cast(value, dtype)
    return alloc(value, *shape_entries(shape, "full"))


def zeros(shape, dtype=None):
    """Zeros of ``shape`` (ints / 0-d int tensors / a 1-d int tensor); dtype floatX by default."""
    return alloc(constant(0, dtype=dtype or config.floatX), *shape_entries(shape, "zeros"))


def ones(shape, dtype=None):
    return alloc(constant(1, dtype=dtype or config.floatX), *shape_entries(shape, "ones"))


def _like(x, value, dtype):
    x = as_tensor_variable(x)
    dtype = canonical_dtype(dtype or x.dtype)
    return alloc(constant(value, dtype=dtype), *[dim(x, i) for i in range(x.ndim)])


def zeros_like(x, dtype=None):
    """Zeros with the shape of ``x`` and its dtype (or ``dtype``)."""
    return _like(x, 0, dtype)


def ones_like(x, dtype=None):
    return _like(x, 1, dtype)


def fill(model, value):
    """Theano's fill: ``value`` (its dtype) broadcast to the shape of ``model``."""
    model, value = as_tensor_variable(model), as_tensor_variable(value)
    if value.ndim > model.ndim:
        raise ValueError(f"fill: value {value.type} has more dims than model {model.type}")
    return alloc(value, *[dim(model, i) for i in range(model.ndim)])


def _arange_dtype(args):
    if all(is_weak(a) for a in args):
        return "int64" if all(isinstance(a, int) for a in args) else config.floatX
    return result_dtype(args, "arange")


def arange(start, stop=None, step=1, dtype=None):
    """``[start, start + step, ...)`` below ``stop``, as ``np.arange``; bounds
    are Python numbers or 0-d tensors. Python ints give int64, Python floats floatX."""
    if stop is None:
        start, stop = 0, start
    args = []
    for a in (start, stop, step):
        if not is_weak(a):
            a = as_tensor_variable(a)
            if a.ndim != 0:
                raise ValueError(f"arange: start, stop and step must be 0-d, got {a.type}")
        args.append(a)
    dtype = canonical_dtype(dtype) if dtype is not None else _arange_dtype(args)
    if is_bool(dtype):
        raise TypeError("arange: bool is not supported")
    if all(is_weak(a) for a in args) and step == 0:
        raise ValueError("arange: step cannot be zero")
    return apply_op("arange", *[to_dtype(a, dtype, "arange") for a in args])
