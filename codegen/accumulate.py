"""How reductions accumulate, shared by the CPU and PTX backends:
``ReduceSpec`` (identity, combine, accumulator dtype of one (op, dtype))."""
import llvmlite.ir as lir

from ..ir.types import is_bool, is_float
from .llvm_util import LLTYPE

BLOCK = 512           # elements per float-sum block (each block sum is compensated)


class ReduceSpec:
    """How one (op, dtype) accumulates."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype
        self.float = is_float(dtype)
        self.acc_dtype = "float64" if (name == "sum" and dtype == "float32") else dtype
        self.kahan = name == "sum" and self.float
        self.unsigned = dtype in ("uint8", "bool")

    @property
    def acc_type(self):
        return LLTYPE[self.acc_dtype]

    def identity(self):
        ty = self.acc_type
        name, dtype = self.name, self.dtype
        if is_bool(dtype):
            return lir.Constant(ty, 0 if name in ("sum", "max") else 1)
        if name == "sum":
            return lir.Constant(ty, 0.0 if self.float else 0)
        if name == "prod":
            return lir.Constant(ty, 1.0 if self.float else 1)
        if self.float:
            return lir.Constant(ty, float("-inf") if name == "max" else float("inf"))
        if self.unsigned:
            return lir.Constant(ty, 0 if name == "max" else 255)
        bits = ty.width
        return lir.Constant(ty, -(1 << (bits - 1)) if name == "max" else (1 << (bits - 1)) - 1)

    def load(self, ctx, ptr):
        v = ctx.b.load(ptr)
        if self.acc_dtype != self.dtype:
            v = ctx.b.fpext(v, self.acc_type)
        return v

    def combine(self, ctx, acc, v, reassoc=False):
        b = ctx.b
        flags = ("reassoc",) if reassoc else ()
        name = self.name
        if is_bool(self.dtype):
            # sum/max: any; prod/min: all (values are 0/1)
            return b.or_(acc, v) if name in ("sum", "max") else b.and_(acc, v)
        if name == "sum":
            return b.fadd(acc, v, flags=flags) if self.float else b.add(acc, v)
        if name == "prod":
            return b.fmul(acc, v, flags=flags) if self.float else b.mul(acc, v)
        if self.float:
            intr = "maximum" if name == "max" else "minimum"
        else:
            intr = ("u" if self.unsigned else "s") + name
        ty = acc.type
        suffix = {"float": "f32", "double": "f64"}.get(str(ty), str(ty))
        fn = ctx.declare(f"llvm.{intr}.{suffix}", ty, [ty, ty])
        return b.call(fn, [acc, v])

    def finish(self, ctx, acc):
        if self.acc_dtype != self.dtype:
            return ctx.b.fptrunc(acc, LLTYPE[self.dtype])
        return acc
