"""Matrix products.

``matmul`` has NumPy's ``matmul`` semantics: 1-d operands are promoted (and
the promoted dim dropped from the result), dims before the last two are
batch dims that broadcast. ``dot``/``tensordot`` of the DSL lower to it.
"""
import numpy as np

from ..opdef import OpDef, result
from ..types import broadcast_shapes


def _merge(a, b, what):
    if a is not None and b is not None and a != b:
        raise ValueError(what)
    return a if a is not None else b


class Matmul(OpDef):
    name = "matmul"
    num_operands = 2

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

    def reference(self, op, a, b):
        return [np.asarray(np.matmul(a, b)).astype(op.results[0].dtype, copy=False)]


OPS = [Matmul]
