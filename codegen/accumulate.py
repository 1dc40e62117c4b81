"""How reductions accumulate, shared by the CPU and PTX backends:
``ReduceSpec`` (identity, combine, accumulator dtype of one (op, dtype))."""
import llvmlite.ir as lir

from ..ir.dialect import OPS
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
        """The accumulator's start value: the op's ``start`` fact (the sum/prod
        identity, the lowest/highest value of the dtype for max/min)."""
        value = OPS[self.name].start(self.dtype).item()
        return lir.Constant(self.acc_type, float(value) if self.float else int(value))

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
            # values are 0/1: any (sum, max: start false) or all (prod, min: start true)
            return b.and_(acc, v) if OPS[name].start("bool") else b.or_(acc, v)
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
