"""CPU lowering of the random sampling ops (``ir/ops/random.py``): one
loop iteration per Philox block (``codegen/philox.py``), each block's
counter its index, so the loop vectorizes (no carried state) and runs on
the thread pool in slices with the same numbers for any thread count. The
full blocks run in the loop, a last partial block after it stores only the
elements that exist. ``check_probabilities`` checks its operand in place
(PROBABILITY_ERROR); ``random_choice`` computes the race keys, then picks
the smallest ``count`` times (count x K compares, one thread).
"""
import llvmlite.ir as lir

from ....ir.ops.random import BAD_SUM, CHECKED, OUT_OF_RANGE, PER_BLOCK, TOO_FEW, sum_tolerance
from ... import vecmath
from ...errors import NEGATIVE_SIZE, PROBABILITY_ERROR, SHAPE_MISMATCH
from ...philox import elements, key_words, philox, shuffle_row, uniform64_at
from .context import F64, I64, i64
from .loops import strided_loop
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
    dims = [as_i64(d) for d in resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, op.opdef.first_dyn))]
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


def _f64(b, v):
    return v if v.type == F64 else b.fpext(v, F64)


def _bits(b, v):
    return b.bitcast(_f64(b, v), I64)


def lower_check(ctx, op, bufs):
    """Every element in [0, 1] (ordered compares: NaN fails), then every
    distribution's sum (in order, in float64) within ``sum_tolerance`` of 1."""
    b = ctx.b
    x = bufs[0]
    which = i64(CHECKED.index(op.attrs["arg"]))
    ty = x.ptr.type.pointee
    pos = ctx.slot(I64, "chk.pos")
    b.store(i64(0), pos)

    def element(ptrs):
        v = b.load(ptrs[0])
        ok = b.and_(b.fcmp_ordered(">=", v, lir.Constant(ty, 0.0)), b.fcmp_ordered("<=", v, lir.Constant(ty, 1.0)))
        k = b.load(pos)
        ctx.check(ok, PROBABILITY_ERROR, [which, i64(OUT_OF_RANGE), k, _bits(b, v)])
        b.store(b.add(k, i64(1)), pos)
    strided_loop(ctx, x.shape, [(x.ptr, x.strides)], element, name="chk")
    if op.attrs["normalized"]:
        k = x.shape[-1]
        unit = sum_tolerance(x.dtype, 1)
        tol = b.fmul(b.sitofp(b.select(b.icmp_signed(">", k, i64(1)), k, i64(1)), F64), lir.Constant(F64, unit))
        acc = ctx.slot(F64, "chk.sum")
        b.store(i64(0), pos)

        def row(ptrs):
            b.store(lir.Constant(F64, 0.0), acc)
            with ctx.loop(k, "chk.k") as j:
                v = _f64(b, b.load(b.gep(ptrs[0], [b.mul(j, x.strides[-1])])))
                b.store(b.fadd(b.load(acc), v), acc)
            total = b.load(acc)
            d = b.fsub(total, lir.Constant(F64, 1.0))
            ok = b.and_(b.fcmp_ordered("<=", d, tol), b.fcmp_ordered(">=", d, b.fneg(tol)))
            r = b.load(pos)
            ctx.check(ok, PROBABILITY_ERROR, [which, i64(BAD_SUM), r, _bits(b, total)])
            b.store(b.add(r, i64(1)), pos)
        strided_loop(ctx, x.shape[:-1], [(x.ptr, x.strides[:-1])], row, name="chk.row")
    return [x.view()]


def lower_choice(ctx, op, bufs):
    """Weighted sampling without replacement (``ir/ops/random.py``
    ``RandomChoice``), per distribution: the race key of every weight,
    then ``count`` times the index of the smallest key left (the first on
    ties), whose key is then set to +inf."""
    b = ctx.b
    state, dims = _state_and_dims(ctx, op, bufs)
    p = bufs[1]
    n = p.shape[-1]
    if p.ndim == 2:
        rows, count = dims[0], dims[1]
        ctx.check(b.icmp_signed("==", rows, p.shape[0]), SHAPE_MISMATCH, [i64(0), rows, p.shape[0], i64(1)])
        row_stride = p.strides[0]
    else:
        rows, count, row_stride = i64(1), ctx.product(dims), i64(0)
    out = ctx.alloc("int64", dims, name="choice")
    keys = ctx.alloc("float64", [n], name="choice.keys")
    inf = lir.Constant(F64, float("inf"))
    c2, c3, rounds = key_words(b, b.load(state.ptr), b.load(b.gep(state.ptr, [state.strides[0]])))
    nonzero = ctx.slot(I64, "choice.nonzero")
    best, where = ctx.slot(F64, "choice.best"), ctx.slot(I64, "choice.at")
    with ctx.loop(rows, "choice.row") as r:
        b.store(i64(0), nonzero)
        first, base = b.mul(r, n), b.mul(r, row_stride)
        with ctx.loop(n, "choice.key") as i:
            u = uniform64_at(b, b.add(first, i), c2, c3, rounds)
            w = _f64(b, b.load(b.gep(p.ptr, [b.add(base, b.mul(i, p.strides[-1]))])))
            live = b.fcmp_ordered(">", w, lir.Constant(F64, 0.0))
            e = b.fneg(vecmath.call(ctx.module, b, "log", [b.fsub(lir.Constant(F64, 1.0), u)]))
            b.store(b.select(live, b.fdiv(e, w), inf), b.gep(keys.ptr, [i]))
            b.store(b.add(b.load(nonzero), b.zext(live, I64)), nonzero)
        have = b.load(nonzero)
        ctx.check(b.icmp_signed("<=", count, have), PROBABILITY_ERROR,
                  [i64(CHECKED.index("choice: p")), i64(TOO_FEW), count, have])
        with ctx.loop(count, "choice.pick") as j:
            b.store(inf, best)
            b.store(i64(0), where)
            with ctx.loop(n, "choice.min") as i:
                kv = b.load(b.gep(keys.ptr, [i]))
                smaller = b.fcmp_ordered("<", kv, b.load(best))
                b.store(b.select(smaller, kv, b.load(best)), best)
                b.store(b.select(smaller, i, b.load(where)), where)
            at = b.load(where)
            b.store(at, b.gep(out.ptr, [b.add(b.mul(r, count), j)]))
            b.store(inf, b.gep(keys.ptr, [at]))
    return [out]


LOWERINGS = {"random_uniform": lower_random, "random_normal": lower_random,
             "random_permutation": lower_permutation, "check_probabilities": lower_check,
             "random_choice": lower_choice}
