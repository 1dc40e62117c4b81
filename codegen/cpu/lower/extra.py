"""``cumsum``, ``cumprod``, ``searchsorted``, ``bincount``, ``repeat``
(``ir/ops/extra.py``).

- cumulative ops walk the axis in order (NumPy's sequential loop, the same
  rounding): along the last axis one loop carries the running value; along
  another axis each row is the previous result row combined with x's row,
  a unit-stride loop over the dims after the axis.
- ``searchsorted``: a binary search per element of v in NumPy's order (NaN
  after every number).
- ``bincount``: one pass finds the largest value and checks that none is
  negative (NEGATIVE_VALUE names the position), one adds into the zeroed
  result.
- ``repeat``: the counts are checked (NEGATIVE_SIZE, a count vector of the
  wrong length SHAPE_MISMATCH) and summed, then each sub-array after the axis
  is copied ``count`` times.
"""
import llvmlite.ir as lir

from ....ir.types import is_float
from ...errors import INDEX_RANGE, NEGATIVE_SIZE, NEGATIVE_VALUE, SHAPE_MISMATCH
from ...llvm_util import counted_loop, smax
from .context import I64, i64
from .data import _add
from .loops import strided_loop
from .views import load_int


def _combine(ctx, name, dtype, a, c):
    b = ctx.b
    if name == "cumsum":
        return _add(ctx, dtype, a, c)
    return b.fmul(a, c) if is_float(dtype) else b.mul(a, c)


def lower_cumulative(ctx, op, bufs):
    x = bufs[0]
    b = ctx.b
    axis = op.opdef.axis(op)
    out = ctx.alloc(x.dtype, x.shape, name=op.name)
    n = x.shape[axis]
    pre, post = x.shape[:axis], x.shape[axis + 1:]
    with ctx.loop_nest(pre, "cum.pre") as idx:
        start = list(idx) + [i64(0)] * (x.ndim - axis)
        xp, op_ = ctx.elem_ptr(x, start), ctx.elem_ptr(out, start)
        sx, so = x.strides[axis], out.strides[axis]
        if not post:
            with b.if_then(b.icmp_signed(">", n, i64(0))):
                first = b.load(xp)
                b.store(first, op_)
                with counted_loop(b, n, "cum", start=i64(1), carried=[first]) as lp:
                    v = _combine(ctx, op.name, x.dtype, lp.carried[0], b.load(b.gep(xp, [b.mul(lp.index, sx)])))
                    b.store(v, b.gep(op_, [b.mul(lp.index, so)]))
                    lp.next = [v]
        else:
            xs, os_ = x.strides[axis + 1:], out.strides[axis + 1:]
            with b.if_then(b.icmp_signed(">", n, i64(0))):
                strided_loop(ctx, post, [(xp, xs), (op_, os_)], lambda p: b.store(b.load(p[0]), p[1]),
                             name="cum.first")
                with ctx.loop(n, "cum.row", start=i64(1)) as i:
                    xr, orow = b.gep(xp, [b.mul(i, sx)]), b.gep(op_, [b.mul(i, so)])
                    prev = b.gep(op_, [b.mul(b.sub(i, i64(1)), so)])
                    strided_loop(ctx, post, [(xr, xs), (orow, os_), (prev, os_)],
                                 lambda p: b.store(_combine(ctx, op.name, x.dtype, b.load(p[2]), b.load(p[0])), p[1]),
                                 name="cum.rest")
    return [out]


# --- searchsorted -----------------------------------------------------------------------------
def _less(ctx, dtype, a, c):
    """i1: a < c in NumPy's sort order (NaN after every number)."""
    b = ctx.b
    if is_float(dtype):
        c_nan = b.fcmp_unordered("uno", c, c)
        a_num = b.fcmp_ordered("ord", a, a)
        return b.or_(b.fcmp_ordered("<", a, c), b.and_(c_nan, a_num))
    if dtype == "bool" or dtype.startswith("uint"):
        return b.icmp_unsigned("<", a, c)
    return b.icmp_signed("<", a, c)


def lower_searchsorted(ctx, op, bufs):
    a, v = bufs
    b = ctx.b
    dtype = a.dtype
    left = op.attrs["side"] == "left"
    out = ctx.alloc("int64", v.shape, name="searchsorted")
    n, sa = a.shape[0], a.strides[0]
    lo_slot, hi_slot = ctx.slot(I64, "ss.lo"), ctx.slot(I64, "ss.hi")

    def body(ptrs):
        val = b.load(ptrs[0])
        b.store(i64(0), lo_slot)
        b.store(n, hi_slot)
        head = ctx.fn.append_basic_block("ss.head")
        step = ctx.fn.append_basic_block("ss.step")
        done = ctx.fn.append_basic_block("ss.done")
        b.branch(head)
        b.position_at_end(head)
        lo, hi = b.load(lo_slot), b.load(hi_slot)
        b.cbranch(b.icmp_signed("<", lo, hi), step, done)
        b.position_at_end(step)
        mid = b.lshr(b.add(lo, hi), i64(1))
        m = b.load(b.gep(a.ptr, [b.mul(mid, sa)]))
        go_right = _less(ctx, dtype, m, val) if left else b.not_(_less(ctx, dtype, val, m))
        b.store(b.select(go_right, b.add(mid, i64(1)), lo), lo_slot)
        b.store(b.select(go_right, hi, mid), hi_slot)
        b.branch(head)
        b.position_at_end(done)
        b.store(lo, ptrs[1])
    strided_loop(ctx, v.shape, [(v.ptr, v.strides), (out.ptr, out.strides)], body, name="ss")
    return [out]


# --- bincount ---------------------------------------------------------------------------------
def lower_bincount(ctx, op, bufs):
    x = bufs[0]
    b = ctx.b
    xdt = op.operands[0].type.dtype
    n, sx = x.shape[0], x.strides[0]
    weights = bufs[1] if len(bufs) == 2 else None
    if weights is not None:
        ctx.check(b.icmp_signed("==", weights.shape[0], n), SHAPE_MISMATCH, [i64(0), weights.shape[0], n, i64(1)])
    with counted_loop(b, n, "bc.max", carried=[i64(-1)]) as lp:
        k = load_int(ctx, x.view(ptr=b.gep(x.ptr, [b.mul(lp.index, sx)])), xdt)
        ctx.check(b.icmp_signed(">=", k, i64(0)), NEGATIVE_VALUE, [lp.index, k])
        lp.next = [smax(b, lp.carried[0], k)]
    size = smax(b, b.add(lp.carried[0], i64(1)), i64(op.attrs["minlength"]))
    dtype = op.results[0].type.dtype
    out = ctx.alloc(dtype, [size], name="bincount")
    zero = lir.Constant(out.lltype, 0.0 if is_float(dtype) else 0)
    with ctx.loop(size, "bc.zero") as i:
        b.store(zero, b.gep(out.ptr, [i]))
    one = lir.Constant(out.lltype, 1)
    with ctx.loop(n, "bc.add") as i:
        k = load_int(ctx, x.view(ptr=b.gep(x.ptr, [b.mul(i, sx)])), xdt)
        cell = b.gep(out.ptr, [k])
        w = one if weights is None else b.load(b.gep(weights.ptr, [b.mul(i, weights.strides[0])]))
        b.store(_add(ctx, dtype, b.load(cell), w), cell)
    return [out]


# --- repeat -----------------------------------------------------------------------------------
def lower_repeat(ctx, op, bufs):
    x, r = bufs
    b = ctx.b
    axis = op.opdef.axis(op)
    rdt = op.operands[1].type.dtype
    n = x.shape[axis]

    def count(i):
        if r.ndim == 0:
            return load_int(ctx, r, rdt)
        return load_int(ctx, r.view(ptr=b.gep(r.ptr, [b.mul(i, r.strides[0])])), rdt)
    if r.ndim == 0:
        c = count(None)
        ctx.check(b.icmp_signed(">=", c, i64(0)), NEGATIVE_SIZE, [i64(axis), c])
        total = b.mul(n, c)
    else:
        ctx.check(b.icmp_signed("==", r.shape[0], n), SHAPE_MISMATCH, [i64(axis), r.shape[0], n, i64(1)])
        with counted_loop(b, n, "rep.sum", carried=[i64(0)]) as lp:
            c = count(lp.index)
            ctx.check(b.icmp_signed(">=", c, i64(0)), NEGATIVE_SIZE, [lp.index, c])
            lp.next = [b.add(lp.carried[0], c)]
        total = lp.carried[0]
    shape = list(x.shape)
    shape[axis] = total
    out = ctx.alloc(x.dtype, shape, name="repeat")
    pre, post = x.shape[:axis], x.shape[axis + 1:]
    xs, os_ = x.strides[axis + 1:], out.strides[axis + 1:]
    with ctx.loop_nest(pre, "rep.pre") as idx:
        start = list(idx) + [i64(0)] * (x.ndim - axis)
        xp, op_ = ctx.elem_ptr(x, start), ctx.elem_ptr(out, start)
        with counted_loop(b, n, "rep.i", carried=[i64(0)]) as lp:
            c = count(lp.index)
            src = b.gep(xp, [b.mul(lp.index, x.strides[axis])])
            j0 = lp.carried[0]
            with ctx.loop(c, "rep.t") as t:
                dst = b.gep(op_, [b.mul(b.add(j0, t), out.strides[axis])])
                strided_loop(ctx, post, [(src, xs), (dst, os_)], lambda p: b.store(b.load(p[0]), p[1]),
                             name="rep.copy")
            lp.next = [b.add(j0, c)]
    return [out]


# --- check_index ------------------------------------------------------------------------------
def lower_check_index(ctx, op, bufs):
    """Check every element of i against [0, n) (INDEX_RANGE names its C-order
    position); the result is i itself (a view when i is one)."""
    i, nbuf = bufs
    b = ctx.b
    idt = op.operands[0].type.dtype
    n = load_int(ctx, nbuf, op.operands[1].type.dtype)
    pos = ctx.slot(I64, "ci.pos")
    b.store(i64(0), pos)
    with ctx.loop_nest(i.shape, "ci") as idx:
        k = load_int(ctx, i.view(ptr=ctx.elem_ptr(i, idx)), idt)
        p = b.load(pos)
        ctx.check(b.icmp_unsigned("<", k, n), INDEX_RANGE, [p, k, n])
        b.store(b.add(p, i64(1)), pos)
    return [i.view()]


LOWERINGS = {
    "check_index": lower_check_index,
    "cumsum": lower_cumulative,
    "cumprod": lower_cumulative,
    "searchsorted": lower_searchsorted,
    "bincount": lower_bincount,
    "repeat": lower_repeat,
}
