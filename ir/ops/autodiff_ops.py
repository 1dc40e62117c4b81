"""Ops that gradient graphs need and the rest of the dialect lacks.

``sum_to`` is the transpose of ``alloc``: where ``alloc`` broadcasts a value
up to a shape, ``sum_to`` sums a gradient down to the shape of the operand
that was broadcast, deciding at run time which dims of unknown size were
broadcast (a dim of unknown size that turns out to be 1 broadcasts).

``stop_gradient`` is the identity for values; autodiff treats it as a
constant (``theon.gradient.zero_grad`` / ``disconnected_grad``). Nothing
after autodiff needs it: canonicalization may replace it by its operand.
"""
import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..core import substitute_dyn
from ..opdef import OpDef, result
from ..types import is_bool
from .shape import Sized, _size_entries


class SumTo(Sized):
    """sum_to(g, dyn...) {shape = [2, ?, 1]}: ``g`` summed down to ``shape``.

    With ``k = g.ndim - len(shape)`` (>= 0): the result sums ``g`` over its
    first ``k`` axes, and over every axis ``k + i`` where ``shape[i]`` is 1
    and ``g``'s size is not; every other ``shape[i]`` must equal ``g``'s size
    there (checked at run time: a shape mismatch). It is the unique ``r`` of
    that shape with ``sum(g * alloc(c, shape(g)))  == sum(r * c)`` for all
    ``c`` of that shape. Bool ``g`` reduces with logical or, as ``sum``.
    """
    name = "sum_to"
    accumulates = True

    def infer(self, op):
        if not op.operands:
            raise ValueError("sum_to takes a gradient operand")
        g = op.operands[0].type
        dims = _size_entries(op)
        if len(dims) > g.ndim:
            raise ValueError(f"sum_to: shape {tuple(dims)} has more dims than the operand {g}")
        lead = g.ndim - len(dims)
        for i, d in enumerate(dims):
            if d is not None and d < 0:
                raise ValueError(f"sum_to: negative dimension in {tuple(dims)}")
            gd = g.shape[lead + i]
            if d is not None and gd is not None and d not in (1, gd):
                raise ValueError(f"sum_to: cannot sum {g} to shape {tuple(dims)}: dim {i} is "
                                 f"{d}, neither 1 nor {gd}")
        return result(g.dtype, dims)

    def reference(self, op, g, *dyn):
        shape = tuple(substitute_dyn(op.attrs["shape"], [int(d) for d in dyn]))
        lead = g.ndim - len(shape)
        axes = list(range(lead))
        for i, d in enumerate(shape):
            gd = g.shape[lead + i]
            if d == 1 and gd != 1:
                axes.append(lead + i)
            elif d != gd:
                raise ValueError(f"sum_to: cannot sum shape {g.shape} to {shape}")
        if is_bool(str(g.dtype)):
            out = np.any(g, axis=tuple(axes), keepdims=True)
        else:
            out = np.sum(g, axis=tuple(axes), keepdims=True, dtype=g.dtype)
        return [out.reshape(shape)]

    def grad(self, op, grads):
        g_in, gz = op.operands[0], grads[0]
        e = emitter(op)
        nb = batch_ndim(op, gz)
        lead = g_in.ndim - op.results[0].ndim
        gz = e.dimshuffle(gz, list(range(nb)) + ["x"] * lead + list(range(nb, gz.ndim)))
        return [e.alloc(gz, e.batch_dims(grads[0], nb) + e.dims(g_in))] + [None] * (len(op.operands) - 1)


class AutodiffOnly(OpDef):
    """The value of operand 0, there only for autodiff (its ``kind`` says
    what the gradient is); canonicalization replaces it by operand 0."""
    required_attrs = ("kind",)
    moves_elements = True
    has_grad = True
    autodiff_only = True

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]


class StopGradient(AutodiffOnly):
    """stop_gradient(x) {kind = "zero" | "disconnected"}: x itself.

    Autodiff does not differentiate through it: with kind "zero" the
    gradient of its operand is zero (Theano's ``zero_grad``); with kind
    "disconnected" the operand is disconnected (``disconnected_grad``: a
    variable reached only through it raises DisconnectedInputError).
    """
    name = "stop_gradient"
    f16_storage = True
    num_operands = 1
    KINDS = ("zero", "disconnected")

    def infer(self, op):
        self.check_arity(op)
        if op.attrs["kind"] not in self.KINDS:
            raise ValueError(f"stop_gradient: kind must be one of {self.KINDS}, got {op.attrs['kind']!r}")
        return [op.operands[0].type]

    def reference(self, op, x):
        return [np.array(x)]

    def grad(self, op, grads):
        return [ZERO if op.attrs["kind"] == "zero" else None]


OPS = [SumTo, StopGradient]
