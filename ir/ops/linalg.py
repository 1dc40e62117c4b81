"""Matrix products.

``matmul`` has NumPy's ``matmul`` semantics: 1-d operands are promoted (and
the promoted dim dropped from the result), dims before the last two are
batch dims that broadcast. ``dot``/``tensordot`` of the DSL lower to it.
"""
import numpy as np

from ..autodiff import batch_ndim, emitter
from ..opdef import OpDef, result
from ..types import broadcast_shapes


def _merge(a, b, what):
    if a is not None and b is not None and a != b:
        raise ValueError(what)
    return a if a is not None else b


class Matmul(OpDef):
    name = "matmul"
    num_operands = 2
    accumulates = True
    has_grad = True
    infix = "\\dot"

    def infer(self, op):
        self.check_arity(op)
        a, b = (v.type for v in op.operands)
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: operands must have one dtype, got {a.dtype} and {b.dtype}")
        if a.dtype == "bool":
            raise TypeError("matmul: bool operands are not supported")
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: operands must be at least 1-d")
        ash = a.shape if a.ndim > 1 else (1,) + a.shape
        bsh = b.shape if b.ndim > 1 else b.shape + (1,)
        _merge(ash[-1], bsh[-2], f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                                 f"{ash[-1]} (dim {a.ndim - 1}) != {bsh[-2]} (dim {max(b.ndim - 2, 0)})")
        batch = broadcast_shapes(ash[:-2], bsh[:-2], what="matmul's batch dims")
        out = batch + ((ash[-2],) if a.ndim > 1 else ()) + ((bsh[-1],) if b.ndim > 1 else ())
        return result(a.dtype, out)

    def dims(self, op, shapes):
        a, b = (shapes.of(v) for v in op.operands)
        ash = a if len(a) > 1 else (1,) + a
        bsh = b if len(b) > 1 else b + (1,)
        batch = shapes.broadcast(ash[:-2], bsh[:-2])
        return [batch + ((ash[-2],) if len(a) > 1 else ()) + ((bsh[-1],) if len(b) > 1 else ())]

    def reference(self, op, a, b):
        return [np.asarray(np.matmul(a, b)).astype(op.results[0].dtype, copy=False)]

    def grad(self, op, grads):
        """ga = g @ b^T, gb = a^T @ g, with 1-d operands promoted as in the
        forward product and broadcast batch dims summed away."""
        (a, b), g, e = op.operands, grads[0], emitter(op)
        nb = batch_ndim(op, g)
        A = a if a.ndim > 1 else e.dimshuffle(a, ("x", 0))
        B = b if b.ndim > 1 else e.dimshuffle(b, (0, "x"))
        G = g
        if a.ndim == 1:
            at = G.ndim - 1 if b.ndim > 1 else G.ndim
            G = e.dimshuffle(G, list(range(at)) + ["x"] + list(range(at, G.ndim)))
        if b.ndim == 1:
            G = e.dimshuffle(G, list(range(G.ndim)) + ["x"])
        ga = e.unbroadcast(e("matmul", G, _mT(e, B)), A, [B.type.shape[:-2] + (1, 1)], nb)
        gb = e.unbroadcast(e("matmul", _mT(e, A), G), B, [A.type.shape[:-2] + (1, 1)], nb)
        if a.ndim == 1:
            ga = e.dimshuffle(ga, list(range(nb)) + [nb + 1])
        if b.ndim == 1:
            gb = e.dimshuffle(gb, list(range(nb)) + [nb])
        return [ga, gb]


class MatmulUpdate(OpDef):
    """matmul_update{alpha}(a, b, c) = c + (a @ b) * alpha, ``c``
    broadcasting with the product as an elementwise add would: the 2-d
    product with an axpy epilogue, as one op so that the CPU GEMM writes
    the sum while its tile is in registers (an SGD step ``W - lr * (X^T @
    d)`` passes over W once). Built by the ``gemm-epilogue`` pass from
    add/sub(c, mul(matmul(a, b), constant)); never differentiated."""
    name = "matmul_update"
    num_operands = 3
    accumulates = True

    def infer(self, op):
        self.check_arity(op)
        a, b, c = (v.type for v in op.operands)
        if a.ndim != 2 or b.ndim != 2 or c.ndim != 2:
            raise ValueError(f"matmul_update: operands must be 2-d, got {a}, {b}, {c}")
        if not (a.dtype == b.dtype == c.dtype) or a.dtype not in ("float32", "float64"):
            raise TypeError(f"matmul_update: operands must be float32 or float64 of one dtype, "
                            f"got {a.dtype}, {b.dtype}, {c.dtype}")
        if not isinstance(op.attrs.get("alpha"), (int, float)) or isinstance(op.attrs.get("alpha"), bool):
            raise TypeError(f"matmul_update: alpha must be a number, got {op.attrs.get('alpha')!r}")
        _merge(a.shape[1], b.shape[0], f"matmul_update: shapes {a.shape} and {b.shape} are not aligned")
        out = broadcast_shapes((a.shape[0], b.shape[1]), c.shape, what="matmul_update's c")
        return result(a.dtype, out)

    def dims(self, op, shapes):
        a, b, c = (shapes.of(v) for v in op.operands)
        return [shapes.broadcast((a[0], b[1]), c)]

    def reference(self, op, a, b, c):
        dtype = op.results[0].dtype
        p = np.asarray(np.matmul(a, b)).astype(dtype, copy=False)
        return [np.asarray(c + p * np.asarray(op.attrs["alpha"], dtype)).astype(dtype, copy=False)]


def _mT(e, x):
    """x with its last two dims swapped."""
    return e.dimshuffle(x, list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


OPS = [Matmul, MatmulUpdate]
