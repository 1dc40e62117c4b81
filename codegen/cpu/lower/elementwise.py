"""Lowering of elementwise ops: broadcasting loop + the op's scalar emitter."""
from .loops import broadcast, strided_loop
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

    def body(ptrs):
        vals = [b.load(p) for p in ptrs[1:]]
        b.store(emit(sc, vals), ptrs[0])

    strided_loop(ctx, dims, [(out.ptr, out.strides)] + [(buf.ptr, s) for buf, s in zip(bufs, strides)], body)
    return [out]
