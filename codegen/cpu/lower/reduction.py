"""Lowering of reductions: sum/prod/max/min over a set of axes, argmax/argmin.

Two loop orders, chosen statically from the axes:

- *inner* (the last axis is reduced, e.g. reduce-all or row sums): for each
  output element, reduce the reduced axes with the last axis innermost. When
  the trailing reduced axes are C-contiguous at run time they are collapsed
  into one unit-stride loop. The innermost loop keeps its partial in a
  register (an alloca that SROA promotes), so LLVM vectorizes it; float
  sums carry ``reassoc`` on the accumulating ``fadd`` only, are summed in
  blocks of ``BLOCK`` elements, and the block sums are added with Kahan
  compensation (error about that of NumPy's pairwise sum or better).
- *outer* (the last axis is kept, e.g. column sums): an accumulator buffer
  shaped like the output is initialized with the identity and updated while
  walking the input in its index order; the inner loop is elementwise over
  the last axis and vectorizes without reassociation.

float32 sums accumulate in float64. max/min propagate NaN (``llvm.maximum``
/ ``llvm.minimum``); reducing an empty axis without identity reports
EMPTY_REDUCTION with err[1] = the axis. argmax/argmin keep the first
extreme, with NaN as the extreme (NumPy's rule).
"""
import llvmlite.ir as lir

from ....ir.types import is_float, is_unsigned
from ...errors import EMPTY_REDUCTION
from ...accumulate import BLOCK, Accumulator, ReduceSpec  # noqa: F401
from ...llvm_util import linear_offset, smin
from .context import I64, i64

# --- helpers ---------------------------------------------------------------------
def _check_nonempty(ctx, x, axes):
    for a in axes:
        ctx.check(ctx.b.icmp_signed("!=", x.shape[a], i64(0)), EMPTY_REDUCTION, [i64(a)])


def _offset(ctx, idx, strides):
    return linear_offset(ctx.b, idx, strides)


def _reduce_1d(ctx, spec, base, n, stride, part_slot):
    """part = identity; part = combine(part, base[j*stride]) for j < n;
    a unit-stride copy of the loop (reassociating float ops) is what LLVM
    vectorizes. Returns the partial."""
    b = ctx.b
    b.store(spec.identity(), part_slot)

    def body(ptr, reassoc):
        b.store(spec.combine(ctx, b.load(part_slot), spec.load(ctx, ptr), reassoc), part_slot)

    unit_only = isinstance(stride, lir.Constant) and int(stride.constant) == 1
    if unit_only:
        with ctx.loop(n, "r.vec") as j:
            body(b.gep(base, [j]), True)
    else:
        with b.if_else(b.icmp_signed("==", stride, i64(1)), likely=True) as (then, otherwise):
            with then:
                with ctx.loop(n, "r.vec") as j:
                    body(b.gep(base, [j]), True)
            with otherwise:
                with ctx.loop(n, "r.str") as j:
                    body(b.gep(base, [b.mul(j, stride)]), False)
    return b.load(part_slot)


class _Accumulator(Accumulator):
    """The running value of one output element, fed by row segments."""

    def __init__(self, ctx, spec):
        super().__init__(ctx, spec)
        self.part = ctx.slot(spec.acc_type, "part")

    def add_segment(self, base, n, stride):
        """Reduce n elements at base (stride in elements) into the value;
        float sums in blocks of ``BLOCK`` whose sums are Kahan-added."""
        ctx, spec, b = self.ctx, self.spec, self.ctx.b
        if not spec.kahan:
            self.combine(_reduce_1d(ctx, spec, base, n, stride, self.part))
            return
        nblocks = b.sdiv(b.add(n, i64(BLOCK - 1)), i64(BLOCK))
        with ctx.loop(nblocks, "blk") as k:
            start = b.mul(k, i64(BLOCK))
            length = smin(b, b.sub(n, start), i64(BLOCK))
            part = _reduce_1d(ctx, spec, b.gep(base, [b.mul(start, stride)]), length, stride, self.part)
            self.kahan_add(part)


# --- sum / prod / max / min ------------------------------------------------------
def lower_reduce(ctx, op, bufs):
    (x,) = bufs
    axes = tuple(op.attrs["axes"])
    keep = op.attrs["keepdims"]
    spec = ReduceSpec(op.name, x.dtype)
    nd = x.ndim
    if op.opdef.identity is None:
        _check_nonempty(ctx, x, axes)
    kept = [d for d in range(nd) if d not in axes]
    out_shape = [i64(1) if d in axes else x.shape[d] for d in range(nd) if keep or d not in axes]
    out = ctx.alloc(x.dtype, out_shape, name=op.name)
    if not axes:
        ctx.copy(x, out)
        return [out]
    kept_strides = ctx.contiguous_strides([x.shape[d] for d in kept])
    if nd - 1 in axes:
        _inner(ctx, spec, x, axes, kept, out, kept_strides)
    else:
        _outer(ctx, spec, x, axes, kept, out, kept_strides)
    return [out]


def _trailing(axes, nd):
    """First axis t such that t..nd-1 are all reduced."""
    t = nd
    while t > 0 and (t - 1) in axes:
        t -= 1
    return t


def _contiguous_block(ctx, x, t):
    """i1: dims t..nd-1 of x are C-contiguous with unit last stride (size-1
    dims may have any stride), so they can be walked as one flat run."""
    b = ctx.b
    nd = x.ndim
    ok = b.icmp_signed("==", x.strides[nd - 1], i64(1))
    ok = b.or_(ok, b.icmp_signed("==", x.shape[nd - 1], i64(1)))
    inner = x.shape[nd - 1]
    for d in range(nd - 2, t - 1, -1):
        good = b.or_(b.icmp_signed("==", x.strides[d], inner), b.icmp_signed("==", x.shape[d], i64(1)))
        ok = b.and_(ok, good)
        inner = ctx.mul(inner, x.shape[d])
    return ok, inner


def _inner(ctx, spec, x, axes, kept, out, kept_strides):
    b = ctx.b
    nd = x.ndim
    t = _trailing(axes, nd)
    outer_red = [d for d in axes if d < t]
    trail = list(range(t, nd))
    flat_ok, flat_n = _contiguous_block(ctx, x, t) if len(trail) > 1 else (None, None)
    acc = _Accumulator(ctx, spec)
    with ctx.loop_nest([x.shape[d] for d in kept], "k") as kidx:
        base_k = b.gep(x.ptr, [_offset(ctx, kidx, [x.strides[d] for d in kept])])
        acc.reset()
        with ctx.loop_nest([x.shape[d] for d in outer_red], "o") as oidx:
            base = b.gep(base_k, [_offset(ctx, oidx, [x.strides[d] for d in outer_red])])
            if flat_ok is None:
                acc.add_segment(base, x.shape[nd - 1], x.strides[nd - 1])
            else:
                with b.if_else(flat_ok, likely=True) as (then, otherwise):
                    with then:
                        acc.add_segment(base, flat_n, i64(1))
                    with otherwise:
                        with ctx.loop_nest([x.shape[d] for d in trail[:-1]], "t") as tidx:
                            seg = b.gep(base, [_offset(ctx, tidx, [x.strides[d] for d in trail[:-1]])])
                            acc.add_segment(seg, x.shape[nd - 1], x.strides[nd - 1])
        b.store(acc.value(), b.gep(out.ptr, [_offset(ctx, kidx, kept_strides)]))


def _outer(ctx, spec, x, axes, kept, out, kept_strides):
    from .loops import strided_loop
    b = ctx.b
    kept_shape = [x.shape[d] for d in kept]
    n_out = ctx.product(kept_shape)
    if spec.acc_dtype == spec.dtype:
        acc = out
    else:
        acc = ctx.alloc(spec.acc_dtype, kept_shape, name="acc")
    with ctx.loop(n_out, "init") as i:
        b.store(spec.identity(), b.gep(acc.ptr, [i]))
    full = []
    k = 0
    for d in range(x.ndim):
        if d in axes:
            full.append(i64(0))
        else:
            full.append(kept_strides[k])
            k += 1

    def body(ptrs):
        a, v = ptrs
        b.store(spec.combine(ctx, b.load(a), spec.load(ctx, v)), a)

    strided_loop(ctx, x.shape, [(acc.ptr, full), (x.ptr, x.strides)], body, name="red")
    if acc is not out:
        with ctx.loop(n_out, "fin") as i:
            b.store(spec.finish(ctx, b.load(b.gep(acc.ptr, [i]))), b.gep(out.ptr, [i]))


# --- argmax / argmin ---------------------------------------------------------------
def _better(ctx, name, dtype, v, best):
    """i1: v replaces best (strictly better, or the first NaN)."""
    b = ctx.b
    pred = ">" if name == "argmax" else "<"
    if is_float(dtype):
        wins = b.fcmp_ordered(pred, v, best)
        first_nan = b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", best, best))
        return b.or_(wins, first_nan)
    if is_unsigned(dtype):
        return b.icmp_unsigned(pred, v, best)
    return b.icmp_signed(pred, v, best)


def lower_argreduce(ctx, op, bufs):
    (x,) = bufs
    b = ctx.b
    axis = op.attrs["axis"]
    keep = op.attrs["keepdims"]
    nd = x.ndim
    red = list(range(nd)) if axis is None else [axis]
    _check_nonempty(ctx, x, red)
    if axis is None:
        out_shape = [i64(1)] * nd if keep else []
    else:
        out_shape = [i64(1) if d == axis else x.shape[d] for d in range(nd) if keep or d != axis]
    out = ctx.alloc("int64", out_shape, name=op.name)
    best = ctx.slot(x.lltype, "best")
    best_i = ctx.slot(I64, "best_i")
    count = ctx.slot(I64, "count")

    def visit(ptr, index):
        v = b.load(ptr)
        take = _better(ctx, op.name, x.dtype, v, b.load(best))
        b.store(b.select(take, v, b.load(best)), best)
        b.store(b.select(take, index, b.load(best_i)), best_i)

    if axis is None:
        b.store(b.load(x.ptr), best)
        b.store(i64(0), best_i)
        b.store(i64(0), count)
        with ctx.loop_nest(x.shape, "a") as idx:
            n = b.load(count)
            visit(b.gep(x.ptr, [_offset(ctx, idx, x.strides)]), n)
            b.store(b.add(n, i64(1)), count)
        b.store(b.load(best_i), out.ptr)
        return [out]
    kept = [d for d in range(nd) if d != axis]
    kept_strides = ctx.contiguous_strides([x.shape[d] for d in kept])
    stride = x.strides[axis]
    with ctx.loop_nest([x.shape[d] for d in kept], "k") as kidx:
        base = b.gep(x.ptr, [_offset(ctx, kidx, [x.strides[d] for d in kept])])
        b.store(b.load(base), best)
        b.store(i64(0), best_i)
        with ctx.loop(x.shape[axis], "a") as i:
            visit(b.gep(base, [b.mul(i, stride)]), i)
        b.store(b.load(best_i), b.gep(out.ptr, [_offset(ctx, kidx, kept_strides)]))
    return [out]


REDUCTIONS = {"sum": lower_reduce, "prod": lower_reduce, "max": lower_reduce, "min": lower_reduce,
              "argmax": lower_argreduce, "argmin": lower_argreduce}
