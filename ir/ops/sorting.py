"""Sorting: ``sort{axis}`` and ``argsort{axis}`` (stable, NumPy's order).

Both sort every 1-d lane of x along ``axis`` (an int; the DSL flattens for
``axis=None``). The order is NumPy's: ascending, NaNs last, stable (equal
elements keep their order, so ``argsort`` is ``np.argsort(kind="stable")``;
``-0.0`` and ``0.0`` are equal for ``argsort``; ``sort`` may write
``-0.0`` before ``0.0`` -- equal values either way -- and writes every NaN as
the dtype's quiet NaN). ``argsort``'s result is int64.

The gradient of ``sort`` routes g back through the permutation: element i
of a lane went to place k where ``argsort(x)[k] == i``, so gx is a scatter
of g into zeros of x's shape at ``argsort(x)`` along ``axis``
(``adv_inc_subtensor``; a permutation has no repeated index).

CPU: ``codegen/cpu/lower/sorting.py`` (an LSD radix sort of order-preserving
integer keys; insertion sort for short lanes).
"""
import numpy as np

from ..autodiff import batch_ndim, emitter
from ..opdef import OpDef, normalize_axis, result


def along_axis(e, x, axis, ind):
    """Index arrays that pick, in every lane of ``x`` along ``axis``, the
    places ``ind`` (an int array of x's shape) names: ``ind`` at ``axis``,
    a broadcasting ``arange`` of each other dim (for ``idx = ("a",) * ndim``)."""
    arrays = []
    for d in range(x.ndim):
        if d == axis:
            arrays.append(ind)
            continue
        n = e.dim(x, d)
        stop = e.const(n, "int64") if isinstance(n, int) else n
        r = e("arange", e.const(0, "int64"), stop, e.const(1, "int64"))
        arrays.append(e.reshape(r, [1] * d + [n] + [1] * (x.ndim - d - 1)))
    return arrays


def scatter_along(e, x, g, axis, ind, nb):
    """Zeros of (g's batch dims + x's shape) with g's lanes added at the
    places ``ind`` (x's shape) names along ``axis``."""
    zeros = e.zeros(e.batch_dims(g, nb) + e.dims(x), g.dtype)
    arrays = along_axis(e, x, axis, ind)
    return e("adv_inc_subtensor", zeros, g, *arrays, idx=(":",) * nb + ("a",) * x.ndim)


class _AlongAxis(OpDef):
    num_operands = 1
    required_attrs = ("axis",)

    def axis(self, op):
        return normalize_axis(op.attrs["axis"], op.operands[0].ndim, self.name)

    def verify(self, op):
        self.axis(op)

    def check(self, op):
        x = op.operands[0].type
        if x.ndim == 0:
            raise ValueError(f"{self.name}: x must have at least one dim (the DSL flattens for axis=None)")
        self.axis(op)
        return x

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]


class Sort(_AlongAxis):
    """x with every lane along ``axis`` sorted ascending (NaNs last)."""
    name = "sort"
    has_grad = True

    def infer(self, op):
        return [self.check(op)]

    def reference(self, op, x):
        return [np.sort(x, axis=self.axis(op), kind="stable")]

    def grad(self, op, grads):
        x, g, e = op.operands[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        perm = e("argsort", x, axis=self.axis(op))
        return [scatter_along(e, x, g, self.axis(op), perm, nb)]


class Argsort(_AlongAxis):
    """The stable sorting permutation of every lane along ``axis`` (int64)."""
    name = "argsort"

    def infer(self, op):
        x = self.check(op)
        return result("int64", x.shape)

    def reference(self, op, x):
        return [np.argsort(x, axis=self.axis(op), kind="stable").astype(np.int64)]


OPS = [Sort, Argsort]
