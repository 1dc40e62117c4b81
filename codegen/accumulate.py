"""How reductions accumulate, shared by the backends: ``ReduceSpec``
(identity, combine, accumulator dtype of one (op, dtype)) and the one
``Accumulator`` (the running value of one output element, Kahan-compensated
for float sums) that the CPU reduction and fused lowerings extend."""
import llvmlite.ir as lir

from ..ir.dialect import OPS
from ..ir.types import is_bool, is_float, is_unsigned
from .llvm_util import F64, LLTYPE

BLOCK = 512           # elements per float-sum block (each block sum is compensated)


class ReduceSpec:
    """How one (op, dtype) accumulates."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype
        self.float = is_float(dtype)
        self.acc_dtype = "float64" if (name == "sum" and dtype == "float32") else dtype
        self.kahan = name == "sum" and self.float
        self.unsigned = is_unsigned(dtype)

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


class Accumulator:
    """The running value of one reduced element in stack slots of ``ctx``
    (anything with ``b``, ``slot(ty, name)`` and ``declare``: a CPU LowerCtx
    or worker, a PTX KernelBuilder). Float sums add their partials with
    Kahan compensation (``kahan_add``); ``value()`` is the compensated sum."""

    def __init__(self, ctx, spec):
        self.ctx, self.spec = ctx, spec
        ty = spec.acc_type
        self.acc = ctx.slot(ty, "acc")
        self.comp = ctx.slot(ty, "comp") if spec.kahan else None

    def reset(self):
        b = self.ctx.b
        b.store(self.spec.identity(), self.acc)
        if self.comp is not None:
            b.store(lir.Constant(self.spec.acc_type, 0.0), self.comp)

    def combine(self, v):
        """acc = combine(acc, v), uncompensated."""
        b = self.ctx.b
        b.store(self.spec.combine(self.ctx, b.load(self.acc), v), self.acc)

    def add_partial(self, v):
        """Take the partial ``v`` of some elements (compensated when the spec is)."""
        if self.comp is not None:
            self.kahan_add(v)
        else:
            self.combine(v)

    def kahan_add(self, v):
        """acc += v with compensation; once the sum is infinite or NaN the
        compensation is 0, so inf - inf never turns a sum of inf into NaN."""
        b = self.ctx.b
        s, c = b.load(self.acc), b.load(self.comp)
        y = b.fsub(v, c)
        t = b.fadd(s, y)
        ty = self.spec.acc_type
        fabs = self.ctx.declare(f"llvm.fabs.{'f64' if ty == F64 else 'f32'}", ty, [ty])
        finite = b.fcmp_ordered("<", b.call(fabs, [t]), lir.Constant(ty, float("inf")))
        b.store(b.select(finite, b.fsub(b.fsub(t, s), y), lir.Constant(ty, 0.0)), self.comp)
        b.store(t, self.acc)

    def value(self):
        """The value in the reduced dtype (compensation applied)."""
        b = self.ctx.b
        v = b.load(self.acc)
        if self.comp is not None:
            v = b.fsub(v, b.load(self.comp))
        return self.spec.finish(self.ctx, v)

