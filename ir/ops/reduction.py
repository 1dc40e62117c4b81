"""Reductions over a set of axes, and argmax/argmin over one axis.

``sum``/``prod``/``max``/``min`` keep the operand's dtype (the DSL casts
integer and bool operands of sum/prod to int64 first, as NumPy accumulates).
``axes`` is a sorted tuple of distinct non-negative axes; ``keepdims`` a bool.
"""
import numpy as np

from ..autodiff import batch_ndim, emitter, expand_reduced
from ..opdef import OpDef, normalize_axis, result
from ..types import is_bool


def normalize_axes(axes, ndim, opname):
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = sorted({normalize_axis(a, ndim, opname) for a in axes})
    if len(out) != len(tuple(axes)):
        raise ValueError(f"{opname}: repeated axis in {tuple(axes)}")
    return tuple(out)


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class Reduce(OpDef):
    num_operands = 1
    required_attrs = ("axes", "keepdims")
    reduces = True
    nonneg = "all"
    identity = None    # None: reducing an empty axis is an error

    def infer(self, op):
        self.check_arity(op)
        t = op.operands[0].type
        axes = op.attrs["axes"]
        if tuple(axes) != normalize_axes(axes, t.ndim, self.name):
            raise ValueError(f"{self.name}: axes {axes} must be sorted, distinct, in [0, {t.ndim})")
        if self.identity is None:
            for a in axes:
                if t.shape[a] == 0:
                    raise ValueError(f"{self.name}: reduction over an empty axis {a} has no identity")
        return result(t.dtype, reduced_shape(t.shape, axes, op.attrs["keepdims"]))

    def dims(self, op, shapes):
        return [reduced_shape(shapes.of(op.operands[0]), op.attrs["axes"], op.attrs["keepdims"])]

    def start(self, dtype):
        if self.identity is None:
            raise NotImplementedError(f"{self.name}: no identity; a reduction without one defines start")
        return np.array(self.identity).astype(dtype)

    def reference(self, op, x):
        axes = op.attrs["axes"]
        out = self.np_fn(x, axis=axes, keepdims=op.attrs["keepdims"])
        return [np.asarray(out).astype(op.results[0].dtype, copy=False)]


def _accumulate(logical, numeric):
    """``numeric`` accumulating in the operand's dtype, ``logical`` for bool."""
    def np_fn(x, axis, keepdims):
        if is_bool(str(x.dtype)):
            return logical(x, axis=axis, keepdims=keepdims)
        if x.dtype == np.float16:       # float32 accumulation, one rounding (legalize-f16): NumPy
            return numeric(x, axis=axis, keepdims=keepdims, dtype=np.float32).astype(np.float16)
        return numeric(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    return staticmethod(np_fn)


class Sum(Reduce):
    name = "sum"
    identity = 0
    accumulates = True
    has_grad = True
    np_fn = _accumulate(np.any, np.sum)

    def grad(self, op, grads):
        (x,), g, e = op.operands, grads[0], emitter(op)
        nb = batch_ndim(op, g)
        kept = expand_reduced(e, g, op.attrs["axes"], op.attrs["keepdims"], nb)
        return [e.alloc(kept, e.batch_dims(g, nb) + e.dims(x))]


class Prod(Reduce):
    name = "prod"
    identity = 1
    has_grad = True
    np_fn = _accumulate(np.all, np.prod)

    def grad(self, op, grads):
        """Each element gets the product of the others in its group, exactly,
        zeros included: with no zero it is prod/x; with one zero only the zero
        gets (the product of the rest); with more, all get 0. (Second
        derivatives at points holding exact zeros are not exact.)"""
        (x,), g, e = op.operands, grads[0], emitter(op)
        nb = batch_ndim(op, g)
        axes, dt = op.attrs["axes"], x.dtype
        zero, one = e.const(0, dt), e.const(1, dt)
        is0 = e("eq", x, zero)
        nonzero = e("where", is0, one, x)
        p = e("prod", nonzero, axes=axes, keepdims=True)
        n0 = e("sum", e.cast(is0, dt), axes=axes, keepdims=True)
        only0 = e("and", is0, e("eq", n0, one))
        factor = e("where", e("eq", n0, zero), e("div", p, nonzero), e("where", only0, p, zero))
        kept = expand_reduced(e, g, axes, op.attrs["keepdims"], nb)
        return [e("mul", kept, factor)]


class Extreme(Reduce):
    """max/min, NaN-propagating; the gradient goes to the positions of the
    extreme, ties sharing it equally (as JAX)."""
    has_grad = True
    lowest = True      # max: starts from the lowest value of the dtype

    def start(self, dtype):
        dt = np.dtype(dtype)
        if dt.kind == "f":
            return np.array(-np.inf if self.lowest else np.inf, dt)
        if dt.kind == "b":
            return np.array(not self.lowest)
        info = np.iinfo(dt)
        return np.array(info.min if self.lowest else info.max, dt)

    def grad(self, op, grads):
        (x,), g, z, e = op.operands, grads[0], op.results[0], emitter(op)
        nb = batch_ndim(op, g)
        axes, keep = op.attrs["axes"], op.attrs["keepdims"]
        hit = e.cast(e("eq", x, expand_reduced(e, z, axes, keep, 0)), x.dtype)
        share = e("div", hit, e("sum", hit, axes=axes, keepdims=True))
        return [e("mul", expand_reduced(e, g, axes, keep, nb), share)]


class Max(Extreme):
    name = "max"
    np_fn = staticmethod(np.max)


class Min(Extreme):
    name = "min"
    lowest = False
    np_fn = staticmethod(np.min)


class ArgReduce(OpDef):
    """Index of the first max/min along ``axis`` (None: the flattened
    tensor); NaN counts as the extreme, as in NumPy. Result int64."""
    num_operands = 1
    required_attrs = ("axis", "keepdims")
    arg_reduces = True

    def infer(self, op):
        self.check_arity(op)
        t = op.operands[0].type
        axis = op.attrs["axis"]
        keep = op.attrs["keepdims"]
        if axis is None:
            if any(d == 0 for d in t.shape):
                raise ValueError(f"{self.name} of an empty tensor")
            return result("int64", (1,) * t.ndim if keep else ())
        if normalize_axis(axis, t.ndim, self.name) != axis or t.ndim == 0:
            raise ValueError(f"{self.name}: axis {axis} must be in [0, {t.ndim})")
        if t.shape[axis] == 0:
            raise ValueError(f"{self.name}: axis {axis} is empty")
        return result("int64", reduced_shape(t.shape, (axis,), keep))

    def dims(self, op, shapes):
        x, axis, keep = shapes.of(op.operands[0]), op.attrs["axis"], op.attrs["keepdims"]
        if axis is None:
            return [(1,) * len(x) if keep else ()]
        return [reduced_shape(x, (axis,), keep)]

    def reference(self, op, x):
        out = self.np_fn(x, axis=op.attrs["axis"], keepdims=op.attrs["keepdims"])
        return [np.asarray(out).astype(np.int64)]


class Argmax(ArgReduce):
    name = "argmax"
    np_fn = staticmethod(np.argmax)


class Argmin(ArgReduce):
    name = "argmin"
    np_fn = staticmethod(np.argmin)


OPS = [Sum, Prod, Max, Min, Argmax, Argmin]
