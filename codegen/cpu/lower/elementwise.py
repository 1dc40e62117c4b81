"""Lowering of elementwise ops: broadcasting loop + the op's scalar emitter.

A signed integer ``pow`` also ORs ``exponent < 0`` over the loop and fails
with INT_NEGATIVE_POWER afterwards, as NumPy refuses integers to negative
integer powers (the fusion pass leaves such pows unfused, so this is the
only place they are lowered)."""
import llvmlite.ir as lir

from .context import I1
from .loops import broadcast, strided_loop
from ...errors import INT_NEGATIVE_POWER
from ...scalar import SCALAR, ScalarCtx


def operand_dtype(op):
    """The dtype the scalar emitter computes in (where: its branches')."""
    return op.operands[-1].type.dtype if op.name == "where" else op.operands[0].type.dtype


def lower_elementwise(ctx, op, bufs):
    out_t = op.results[0].type
    emit = SCALAR[op.name]
    dims, strides = broadcast(ctx, out_t, bufs, [v.type for v in op.operands])
    out = ctx.alloc(out_t.dtype, dims, name=op.name)
    sc = ScalarCtx(ctx, op, operand_dtype(op), out_t.dtype)
    b = ctx.b
    negative = None
    if op.name == "pow" and op.operands[1].type.np_dtype.kind == "i":
        negative = ctx.slot(I1, "negative_power")
        b.store(lir.Constant(I1, 0), negative)

    def body(ptrs):
        vals = [b.load(p) for p in ptrs[1:]]
        if negative is not None:
            below = b.icmp_signed("<", vals[1], lir.Constant(vals[1].type, 0))
            b.store(b.or_(b.load(negative), below), negative)
        b.store(emit(sc, vals), ptrs[0])

    strided_loop(ctx, dims, [(out.ptr, out.strides)] + [(buf.ptr, s) for buf, s in zip(bufs, strides)], body)
    if negative is not None:
        ctx.check(b.not_(b.load(negative)), INT_NEGATIVE_POWER)
    return [out]
