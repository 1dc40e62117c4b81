"""Lowering of the ops gradient graphs add: ``sum_to`` and ``stop_gradient``."""
import llvmlite.ir as lir

from ...errors import NEGATIVE_SIZE, SHAPE_MISMATCH
from .context import I1, LLTYPE, i64
from .data import _add
from .loops import strided_loop
from .views import as_i64, dyn_values, resolve, static_dims


def lower_sum_to(ctx, op, bufs):
    """Sum g down to ``shape``: over its leading extra axes and over axes
    where the target size is 1 (decided at run time for unknown dims). With
    no leading axes and every dim equal to g's at run time the result is a
    view of g (no copy; it may have g's strides)."""
    g = bufs[0]
    b = ctx.b
    dims = [as_i64(d) for d in resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, 1))]
    dims = static_dims(ctx, dims, op.results[0].type.shape)
    lead = g.ndim - len(dims)
    for i, d in enumerate(dims):
        gd = g.shape[lead + i]
        if not isinstance(d, lir.Constant):
            ctx.check(b.icmp_signed(">=", d, i64(0)), NEGATIVE_SIZE, [i64(i), d])
        ok = b.or_(b.icmp_signed("==", d, gd), b.icmp_signed("==", d, i64(1)))
        ctx.check(ok, SHAPE_MISMATCH, [i64(lead + i), gd, d, i64(0)])
    if lead:
        return [_sum_into(ctx, g, dims, lead)]
    # every dim the same at run time (what the types could not prove, e.g. a
    # broadcast's gradient that did not broadcast): a view of g, no copy
    same = lir.Constant(I1, 1)
    for d, gd in zip(dims, g.shape):
        same = b.and_(same, b.icmp_signed("==", d, gd))
    if isinstance(same, lir.Constant) and same.constant:
        return [g.view()]
    with ctx.at_entry():
        slot = b.alloca(g.ptr.type, name="sum_to.ptr")
    b.store(g.ptr, slot)
    with b.if_then(b.not_(same), likely=False):
        b.store(_sum_into(ctx, g, dims, 0).ptr, slot)
    strides = [b.select(same, gs, cs) for gs, cs in zip(g.strides, ctx.contiguous_strides(dims))]
    return [g.view(ptr=b.load(slot), shape=dims, strides=strides)]


def _sum_into(ctx, g, dims, lead):
    """A new C-contiguous buffer of ``dims``: g summed down to them."""
    b = ctx.b
    out = ctx.alloc(g.dtype, dims, name="sum_to")
    zero = lir.Constant(LLTYPE[g.dtype], 0)
    strided_loop(ctx, dims, [(out.ptr, out.strides)], lambda ptrs: b.store(zero, ptrs[0]), name="zero")
    acc_strides = [i64(0)] * lead + [
        b.select(b.icmp_signed("==", d, i64(1)), i64(0), s) for d, s in zip(dims, out.strides)]

    def body(ptrs):
        b.store(_add(ctx, g.dtype, b.load(ptrs[0]), b.load(ptrs[1])), ptrs[0])

    strided_loop(ctx, g.shape, [(out.ptr, acc_strides), (g.ptr, g.strides)], body, name="acc")
    return out


def lower_stop_gradient(ctx, op, bufs):
    """The identity: a view of its operand (results are copied by the entry)."""
    return [bufs[0].view()]


LOWERINGS = {
    "sum_to": lower_sum_to,
    "stop_gradient": lower_stop_gradient,
    "grad_override": lower_stop_gradient,     # the value of operand 0
}
