"""CPU lowering of the random sampling ops (``ir/ops/random.py``): one
loop iteration per Philox block (``codegen/philox.py``), each block's
counter its index, so the loop vectorizes (no carried state) and runs on
the thread pool in slices with the same numbers for any thread count. The
full blocks run in the loop, a last partial block after it stores only the
elements that exist.
"""
import llvmlite.ir as lir

from ....ir.ops.random import PER_BLOCK
from ...errors import NEGATIVE_SIZE, SHAPE_MISMATCH
from ...philox import elements, key_words, philox, shuffle_row
from .context import i64
from .parallel import outline, parallel_for
from .views import as_i64, dyn_values, resolve, static_dims


PARALLEL_ELEMENTS = 65536      # threads from this many elements (op attributes parallel/threads override)


def _state_and_dims(ctx, op, bufs):
    """(the state Buf, the result dims as i64 values), both checked."""
    b = ctx.b
    state = bufs[0]
    if op.operands[0].type.shape[0] != 2:
        size = state.shape[0]
        ctx.check(b.icmp_signed("==", size, i64(2)), SHAPE_MISMATCH, [i64(0), size, i64(2), i64(0)])
    dims = [as_i64(d) for d in resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, 1))]
    for pos, d in enumerate(dims):
        if not isinstance(d, lir.Constant):
            ctx.check(b.icmp_signed(">=", d, i64(0)), NEGATIVE_SIZE, [i64(pos), d])
    return state, static_dims(ctx, dims, op.results[0].type.shape)


def lower_random(ctx, op, bufs):
    b = ctx.b
    dtype = op.attrs["dtype"]
    per = PER_BLOCK[dtype]
    state, dims = _state_and_dims(ctx, op, bufs)
    out = ctx.alloc(dtype, dims, name=op.name)
    n = ctx.product(dims)
    key = b.load(state.ptr)
    counter = b.load(b.gep(state.ptr, [state.strides[0]]))
    shift = {4: 2, 2: 1}[per]
    full = b.lshr(n, i64(shift), name="rng.blocks")

    def emit(w, begin, end, part, inner):
        wb = w.b
        words = key_words(wb, inner(key), inner(counter))
        ptr = inner(out.ptr)
        with w.loop(end, "rng", start=begin) as j:
            first = wb.shl(j, i64(shift))
            for k, v in enumerate(elements(w, op.opdef.distribution, philox(wb, j, *words), dtype)):
                wb.store(v, wb.gep(ptr, [wb.add(first, i64(k))]))
    worker, data = outline(ctx, "rng", [key, counter, out.ptr], emit)
    schedule = (op.attrs.get("parallel", PARALLEL_ELEMENTS // per), op.attrs.get("threads", 0))
    parallel_for(ctx, worker, data, full, full, schedule)
    words = key_words(b, key, counter)
    base = b.shl(full, i64(shift))
    rest = b.sub(n, base, name="rng.rest")
    with b.if_then(b.icmp_signed(">", rest, i64(0))):
        values = elements(ctx, op.opdef.distribution, philox(b, full, *words), dtype)
        b.store(values[0], b.gep(out.ptr, [base]))          # rest >= 1
        for k in range(1, per - 1):                          # the last is never needed (rest < per)
            with b.if_then(b.icmp_signed(">", rest, i64(k))):
                b.store(values[k], b.gep(out.ptr, [b.add(base, i64(k))]))
    return [out]


def lower_permutation(ctx, op, bufs):
    """Each row shuffled on its own (Fisher-Yates, ``codegen/philox.py``):
    rows run in parallel slices on the thread pool."""
    b = ctx.b
    state, dims = _state_and_dims(ctx, op, bufs)
    out = ctx.alloc("int64", dims, name="perm")
    n = dims[-1]
    rows = ctx.product(dims[:-1])
    key = b.load(state.ptr)
    counter = b.load(b.gep(state.ptr, [state.strides[0]]))

    def emit(w, begin, end, part, inner):
        wb = w.b
        c2, c3, keys = key_words(wb, inner(key), inner(counter))
        ptr, width = inner(out.ptr), inner(n)
        with w.loop(end, "row", start=begin) as r:
            shuffle_row(wb, ptr, wb.mul(r, width), width, c2, c3, keys)
    worker, data = outline(ctx, "perm", [key, counter, out.ptr, n], emit)
    schedule = (op.attrs.get("parallel", 64), op.attrs.get("threads", 0))
    parallel_for(ctx, worker, data, rows, ctx.mul(rows, n), schedule)
    return [out]


LOWERINGS = {"random_uniform": lower_random, "random_normal": lower_random,
             "random_permutation": lower_permutation}
