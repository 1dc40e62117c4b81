"""Scalar semantics of elementwise ops: one emitter per op name.

``SCALAR[name](sc, args)`` returns the LLVM value of one result element;
``sc`` is a ``ScalarCtx`` (builder, operand/result dtypes, the op). Bool
values are i8 holding 0 or 1, as in memory. The same emitters serve plain
elementwise lowering now and fused loop bodies later.
"""
import llvmlite.ir as lir

from ...ir.types import is_float
from .context import I1, I8, LLTYPE


class ScalarCtx:
    def __init__(self, ctx, op, in_dtype, out_dtype):
        self.ctx = ctx
        self.b = ctx.b
        self.op = op
        self.in_dtype = in_dtype
        self.out_dtype = out_dtype

    @property
    def is_float(self):
        return is_float(self.in_dtype)

    @property
    def is_unsigned(self):
        return self.in_dtype in ("uint8", "bool")

    def const(self, value, dtype=None):
        ty = LLTYPE[dtype or self.in_dtype]
        return lir.Constant(ty, float(value) if isinstance(ty, (lir.FloatType, lir.DoubleType)) else int(value))

    def intrinsic(self, name, args):
        ty = args[0].type
        suffix = {"float": "f32", "double": "f64"}.get(str(ty), str(ty))
        fn = self.ctx.declare(f"llvm.{name}.{suffix}", ty, [a.type for a in args])
        return self.b.call(fn, args)

    def to_bool(self, i1):
        return self.b.zext(i1, I8)


def _bin(float_op, int_op):
    def emit(sc, args):
        a, c = args
        return getattr(sc.b, float_op if sc.is_float else int_op)(a, c)
    return emit


def _cmp(pred):
    def emit(sc, args):
        a, c = args
        b = sc.b
        if sc.is_float:
            # NumPy: every comparison with NaN is False except !=
            i1 = b.fcmp_unordered(pred, a, c) if pred == "!=" else b.fcmp_ordered(pred, a, c)
        elif sc.is_unsigned:
            i1 = b.icmp_unsigned(pred, a, c)
        else:
            i1 = b.icmp_signed(pred, a, c)
        return sc.to_bool(i1)
    return emit


def _neg(sc, args):
    return sc.b.fneg(args[0]) if sc.is_float else sc.b.neg(args[0])


def _exp(sc, args):
    return sc.intrinsic("exp", args)


def _where(sc, args):
    cond, a, c = args
    b = sc.b
    return b.select(b.icmp_unsigned("!=", cond, lir.Constant(I8, 0)), a, c)


SCALAR = {
    "add": _bin("fadd", "add"),
    "sub": _bin("fsub", "sub"),
    "mul": _bin("fmul", "mul"),
    "div": _bin("fdiv", "sdiv"),
    "neg": _neg,
    "exp": _exp,
    "eq": _cmp("=="), "ne": _cmp("!="), "lt": _cmp("<"), "le": _cmp("<="),
    "gt": _cmp(">"), "ge": _cmp(">="),
    "where": _where,
}
_ = I1
