"""``sort`` and ``argsort`` (``ir/ops/sorting.py``): a stable sort of every
lane of x along ``axis``.

Each lane is read into a scratch buffer of unsigned integer keys whose
order is NumPy's order of the values: floats map their bits (negative:
all bits flipped; otherwise the sign bit set; every NaN the largest key, so
NaNs come last in their original order; for ``argsort`` -0.0 is read as 0.0,
so equal values keep their order), signed ints flip the sign bit. Short
lanes (at most ``INSERTION`` elements) are insertion-sorted; longer ones go
through an LSD radix sort -- one pass over the lane builds the histograms
of every digit, then one stable counting-scatter pass per digit, skipping
digits every key shares -- with 8-bit digits, or 11-bit digits for lanes of
``WIDE_DIGITS`` elements or more (three passes for 32-bit keys). ``argsort``
carries each key's position along; ``sort`` maps the keys back to values.
Scratch buffers (two key buffers, two position buffers, the histograms) are
allocated once per op and reused for every lane.
"""
import llvmlite.ir as lir

from ....ir.types import is_float
from ...llvm_util import counted_loop
from .context import I32, I64, i64
from .parallel import outline, plan_parts, run_parts

INSERTION = 32          # lanes this short are insertion-sorted
PARALLEL_SORT = 1 << 18  # lanes this long run their radix passes on the thread pool
WIDE_DIGITS = 1 << 16   # lanes this long use 11-bit digits (for 32- and 64-bit keys)


def _variants(width):
    """The radix variants for ``width``-bit keys, by lane length: [(bits per
    digit, passes, histogram counter type, lanes shorter than this)]: 8-bit
    digits, 11-bit digits from ``WIDE_DIGITS`` elements (32- and 64-bit
    keys), 64-bit counters from 2**31 elements."""
    narrow = -(-width // 8)
    out = [(8, narrow, I32, WIDE_DIGITS if width > 16 else 1 << 31)]
    if width > 16:
        out.append((11, -(-width // 11), I32, 1 << 31))
    return out + [(8, narrow, I64, None)]


class _Keys:
    """The key transform of one dtype: value <-> order-preserving unsigned key."""

    def __init__(self, dtype, lltype, canon_zero):
        self.dtype = dtype
        self.lltype = lltype
        self.width = {"float32": 32, "float64": 64}.get(dtype) or lltype.width
        self.kt = lir.IntType(self.width)
        self.sign = lir.Constant(self.kt, 1 << (self.width - 1))
        self.canon_zero = canon_zero

    def key(self, b, v):
        kt = self.kt
        if is_float(self.dtype):
            if self.canon_zero:
                v = b.select(b.fcmp_ordered("==", v, lir.Constant(v.type, 0.0)), lir.Constant(v.type, 0.0), v)
            u = b.bitcast(v, kt)
            mask = b.or_(b.ashr(u, lir.Constant(kt, self.width - 1)), self.sign)
            k = b.xor(u, mask)
            return b.select(b.fcmp_unordered("uno", v, v), lir.Constant(kt, -1), k)
        if _unsigned(self.dtype):
            return v
        return b.xor(v, self.sign)

    def value(self, b, k):
        if is_float(self.dtype):
            neg = b.icmp_unsigned("<", k, self.sign)         # top bit clear: was negative
            u = b.select(neg, b.not_(k), b.xor(k, self.sign))
            return b.bitcast(u, self.lltype)
        if _unsigned(self.dtype):
            return k
        return b.xor(k, self.sign)


def _unsigned(dtype):
    return dtype == "bool" or dtype.startswith("uint")


def _digit(b, k, shift, bits, kt):
    d = b.lshr(k, lir.Constant(kt, shift)) if shift else k
    d = b.and_(d, lir.Constant(kt, (1 << bits) - 1))
    return b.zext(d, I64) if kt.width < 64 else d


def _insertion_sort(ctx, n, keys, pos, kt):
    """Stable insertion sort of keys[0:n] (and pos alongside)."""
    b = ctx.b
    jslot = ctx.slot(I64, "ins.j")
    with ctx.loop(n, "ins", start=i64(1)) as i:
        k = b.load(b.gep(keys, [i]))
        p = b.load(b.gep(pos, [i])) if pos is not None else None
        b.store(i, jslot)
        head = ctx.fn.append_basic_block("ins.head")
        shift = ctx.fn.append_basic_block("ins.shift")
        done = ctx.fn.append_basic_block("ins.done")
        b.branch(head)
        b.position_at_end(head)
        j = b.load(jslot)
        jm = b.sub(j, i64(1))
        positive = b.icmp_signed(">", j, i64(0))
        check = ctx.fn.append_basic_block("ins.cmp")
        b.cbranch(positive, check, done)
        b.position_at_end(check)
        prev = b.load(b.gep(keys, [jm]))
        b.cbranch(b.icmp_unsigned(">", prev, k), shift, done)
        b.position_at_end(shift)
        b.store(prev, b.gep(keys, [j]))
        if pos is not None:
            b.store(b.load(b.gep(pos, [jm])), b.gep(pos, [j]))
        b.store(jm, jslot)
        b.branch(head)
        b.position_at_end(done)
        j = b.load(jslot)
        b.store(k, b.gep(keys, [j]))
        if pos is not None:
            b.store(p, b.gep(pos, [j]))


def _last_moving(b, moves):
    """i64: the index of the last pass that moves anything (-1: none)."""
    last = i64(-1)
    for p, m in enumerate(moves):
        last = b.select(m, i64(p), last)
    return last


def _ping_pong(ctx, bufs, src_slot, psrc_slot):
    """Slots (keys src, keys dst, positions src, positions dst; None
    without positions) holding bufs: the passes read src and write dst."""
    b = ctx.b
    k0, _, p0, _ = bufs
    slots = (src_slot, ctx.slot(k0.type, "rdx.dst"), psrc_slot,
             ctx.slot(I64.as_pointer(), "rdx.pdst") if p0 is not None else None)
    for sl, v in zip(slots, bufs):
        if sl is not None:
            b.store(v, sl)
    return slots


def _swap(b, slots, values):
    """After a pass: what it wrote becomes the next pass's source."""
    src, dst, psrc, pdst = values
    for sl, v in zip(slots, (dst, src, pdst, psrc)):
        if sl is not None:
            b.store(v, sl)


def _radix(ctx, n, bufs, hist, kt, variant, src_slot, psrc_slot, final, load):
    """LSD radix sort of a lane: ``load(builder, i)`` reads element i,
    stores its key at bufs[0][i] (its position at bufs[2][i]) and returns the
    key, in the pass that counts the digits.
    ``variant``: (bits per digit, passes, counter type). The last pass that
    moves anything hands each element to ``final(key, position, place)``
    instead of the scratch buffers; returns an i1 that is true when no pass
    moved anything (all keys equal: the sorted keys are in ``src_slot``)."""
    b = ctx.b
    bits, passes, ct, _ = variant
    k0, _, p0, _ = bufs
    nb = 1 << bits
    hist = b.bitcast(hist, ct.as_pointer())
    n_c = b.trunc(n, ct) if ct.width < 64 else n
    one = lir.Constant(ct, 1)

    def cell(digit, p):
        return b.gep(hist, [b.add(digit, i64(p * nb))])

    def count(ptr):
        return b.sext(b.load(ptr), I64) if ct.width < 64 else b.load(ptr)
    with ctx.loop(i64(nb * passes), "rdx.zero") as j:
        b.store(lir.Constant(ct, 0), b.gep(hist, [j]))
    with ctx.loop(n, "rdx.hist") as i:
        k = load(b, i)
        for p in range(passes):
            c = cell(_digit(b, k, p * bits, bits, kt), p)
            b.store(b.add(b.load(c), one), c)
    first = b.load(k0)
    moves = [b.icmp_signed("!=", b.load(cell(_digit(b, first, p * bits, bits, kt), p)), n_c) for p in range(passes)]
    last = _last_moving(b, moves)
    slots = _ping_pong(ctx, bufs, src_slot, psrc_slot)
    for p in range(passes):
        shift = p * bits
        with b.if_then(moves[p]):
            src, dst, psrc, pdst = (b.load(sl) if sl is not None else None for sl in slots)
            with counted_loop(b, i64(nb), f"rdx.scan{p}", carried=[lir.Constant(ct, 0)]) as lp:
                c = b.gep(hist, [b.add(lp.index, i64(p * nb))])
                v = b.load(c)
                b.store(lp.carried[0], c)
                lp.next = [b.add(lp.carried[0], v)]

            def scatter(to_final):
                with ctx.loop(n, f"rdx.scatter{p}") as i:
                    k = b.load(b.gep(src, [i]))
                    c = cell(_digit(b, k, shift, bits, kt), p)
                    at_c = b.load(c)
                    b.store(b.add(at_c, one), c)
                    at = b.zext(at_c, I64) if ct.width < 64 else at_c
                    pos = b.load(b.gep(psrc, [i])) if p0 is not None else None
                    if to_final:
                        final(b, k, pos, at)
                    else:
                        b.store(k, b.gep(dst, [at]))
                        if p0 is not None:
                            b.store(pos, b.gep(pdst, [at]))
            with b.if_else(b.icmp_signed("==", last, i64(p))) as (is_last, not_last):
                with is_last:
                    scatter(True)
                with not_last:
                    scatter(False)
            _swap(b, slots, (src, dst, psrc, pdst))
    return b.icmp_signed("<", last, i64(0))


def _radix_parallel(ctx, n, bufs, hist, kt, variant, parts, src_slot, psrc_slot, final, load):
    """``_radix`` on ``parts`` slices of the lane at once (the thread pool):
    each part counts its slice's digits into its own histograms (all digits
    of k0 first, which say which passes move anything; then, before each
    later pass, that pass's digit of the keys as they now lie); the entry
    turns them into per-part offsets (part t's elements of digit d go after
    every smaller digit and after the earlier parts' elements of d, so the
    scatter stays stable); then the parts scatter their slices in parallel."""
    b = ctx.b
    bits, passes, ct, _ = variant
    k0, _, p0, _ = bufs
    nb = 1 << bits
    per_part = nb * passes
    hist = b.bitcast(hist, ct.as_pointer())
    n_c = b.trunc(n, ct)
    one = lir.Constant(ct, 1)

    def count_slice(w, begin, end, part, inner):
        wb = w.b
        h = wb.gep(inner(hist), [wb.mul(part, i64(per_part))])
        with w.loop(i64(per_part), "rdx.pzero") as j:
            wb.store(lir.Constant(ct, 0), wb.gep(h, [j]))
        with w.loop(end, "rdx.phist", start=begin) as i:
            k = load(wb, i, inner)
            for p in range(passes):
                c = wb.gep(h, [wb.add(_digit(wb, k, p * bits, bits, kt), i64(p * nb))])
                wb.store(wb.add(wb.load(c), one), c)
    worker, data = outline(ctx, "sort.count", [hist, k0] + load.captured, count_slice)
    run_parts(ctx, worker, data, n, parts)
    first = b.load(k0)
    moves = []
    for p in range(passes):
        d = b.add(_digit(b, first, p * bits, bits, kt), i64(p * nb))
        with counted_loop(b, parts, "rdx.total", carried=[lir.Constant(ct, 0)]) as lp:
            c = b.load(b.gep(hist, [b.add(b.mul(lp.index, i64(per_part)), d)]))
            lp.next = [b.add(lp.carried[0], c)]
        moves.append(b.icmp_signed("!=", lp.carried[0], n_c))
    last = _last_moving(b, moves)
    running = ctx.slot(ct, "rdx.running")
    moved = ctx.slot(lir.IntType(1), "rdx.moved")
    b.store(lir.Constant(lir.IntType(1), 0), moved)

    def offsets(p, src):
        """Per-part offsets of pass p: the counts of the slices of ``src``
        (the keys as the previous pass left them; the first pass that moves
        anything reuses the counts of k0)."""
        def count_pass(w, begin, end, part, inner):
            wb = w.b
            h = wb.gep(inner(hist), [wb.add(wb.mul(part, i64(per_part)), i64(p * nb))])
            with w.loop(i64(nb), "rdx.pzero1") as j:
                wb.store(lir.Constant(ct, 0), wb.gep(h, [j]))
            with w.loop(end, "rdx.pcount", start=begin) as i:
                c = wb.gep(h, [_digit(wb, wb.load(wb.gep(inner(src), [i])), p * bits, bits, kt)])
                wb.store(wb.add(wb.load(c), one), c)
        with b.if_then(b.load(moved)):
            worker, data = outline(ctx, f"sort.count{p}", [hist, src], count_pass)
            run_parts(ctx, worker, data, n, parts)
        b.store(lir.Constant(lir.IntType(1), 1), moved)
        b.store(lir.Constant(ct, 0), running)
        with ctx.loop(i64(nb), f"rdx.poff{p}") as d:
            with ctx.loop(parts, f"rdx.ppart{p}") as t:
                c = b.gep(hist, [b.add(b.mul(t, i64(per_part)), b.add(d, i64(p * nb)))])
                v = b.load(c)
                r = b.load(running)
                b.store(r, c)
                b.store(b.add(r, v), running)
    slots = _ping_pong(ctx, bufs, src_slot, psrc_slot)
    for p in range(passes):
        shift = p * bits
        with b.if_then(moves[p]):
            src, dst, psrc, pdst = (b.load(sl) if sl is not None else None for sl in slots)
            offsets(p, src)
            is_last = b.zext(b.icmp_signed("==", last, i64(p)), I64)
            captured = [hist, src, dst, is_last] + ([psrc, pdst] if p0 is not None else []) + final.captured

            def scatter_slice(w, begin, end, part, inner, p=p, shift=shift, src=src, dst=dst, psrc=psrc, pdst=pdst,
                              is_last=is_last):
                wb = w.b
                h = wb.gep(inner(hist), [wb.add(wb.mul(part, i64(per_part)), i64(p * nb))])

                def loop(to_final):
                    with w.loop(end, f"rdx.pscatter{p}", start=begin) as i:
                        k = wb.load(wb.gep(inner(src), [i]))
                        c = wb.gep(h, [_digit(wb, k, shift, bits, kt)])
                        at_c = wb.load(c)
                        wb.store(wb.add(at_c, one), c)
                        at = wb.zext(at_c, I64)
                        pos = wb.load(wb.gep(inner(psrc), [i])) if p0 is not None else None
                        if to_final:
                            final(wb, k, pos, at, inner)
                        else:
                            wb.store(k, wb.gep(inner(dst), [at]))
                            if p0 is not None:
                                wb.store(pos, wb.gep(inner(pdst), [at]))
                with wb.if_else(wb.icmp_signed("!=", inner(is_last), i64(0))) as (fin, mid):
                    with fin:
                        loop(True)
                    with mid:
                        loop(False)
            worker, data = outline(ctx, f"sort.scatter{p}", captured, scatter_slice)
            run_parts(ctx, worker, data, n, parts)
            _swap(b, slots, (src, dst, psrc, pdst))
    return b.icmp_signed("<", last, i64(0))


def _lower_sort(ctx, op, bufs, want_positions):
    x = bufs[0]
    b = ctx.b
    axis = op.opdef.axis(op)
    keys = _Keys(x.dtype, x.lltype, canon_zero=want_positions)
    kt = keys.kt
    kdtype = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}[keys.width]
    n = x.shape[axis]
    out = ctx.alloc("int64" if want_positions else x.dtype, x.shape, name=op.name)
    k0 = ctx.alloc(kdtype, [n], name="sort.k0")
    k1 = ctx.alloc(kdtype, [n], name="sort.k1")
    p0 = p1 = None
    if want_positions:
        p0 = ctx.alloc("int64", [n], name="sort.p0").ptr
        p1 = ctx.alloc("int64", [n], name="sort.p1").ptr
    variants = _variants(keys.width)
    parts = plan_parts(ctx, n, n, (PARALLEL_SORT, 0))
    per_part = i64(max((1 << bits) * passes for bits, passes, _, _ in variants))
    hist = ctx.alloc("int64", [b.mul(parts, per_part)], name="sort.hist").ptr
    k0p, k1p = (b.bitcast(k.ptr, kt.as_pointer()) for k in (k0, k1))
    src_slot = ctx.slot(kt.as_pointer(), "sort.src")
    psrc_slot = ctx.slot(I64.as_pointer(), "sort.psrc") if want_positions else None
    copy_out = ctx.slot(lir.IntType(1), "sort.copy")
    outer = [d for k, d in enumerate(x.shape) if k != axis]
    s_in, s_out = x.strides[axis], out.strides[axis]
    with ctx.loop_nest(outer, "lane") as idx:
        full = list(idx[:axis]) + [i64(0)] + list(idx[axis:])
        xin, xout = ctx.elem_ptr(x, full), ctx.elem_ptr(out, full)

        def final(bb, k, pos, at, inner=lambda v: v):
            bb.store(pos if want_positions else keys.value(bb, k), bb.gep(inner(xout), [bb.mul(at, inner(s_out))]))
        final.captured = [xout, s_out]

        def load(bb, i, inner=lambda v: v):
            """x's element i as a key, stored at k0[i] (and i at p0[i])."""
            k = keys.key(bb, bb.load(bb.gep(inner(xin), [bb.mul(i, inner(s_in))])))
            bb.store(k, bb.gep(inner(k0p), [i]))
            if want_positions:
                bb.store(i, bb.gep(inner(p0), [i]))
            return k
        load.captured = [xin, s_in, k0p] + ([p0] if want_positions else [])
        b.store(k0p, src_slot)
        if want_positions:
            b.store(p0, psrc_slot)
        b.store(lir.Constant(lir.IntType(1), 1), copy_out)
        bufs4 = (k0p, k1p, p0, p1)
        with b.if_else(b.icmp_signed("<=", n, i64(INSERTION))) as (short, long_):
            with short:
                with ctx.loop(n, "sort.load") as i:
                    load(b, i)
                _insertion_sort(ctx, n, k0p, p0, kt)
            with long_:
                def radix(v):
                    serial = lambda: b.store(_radix(ctx, n, bufs4, hist, kt, v, src_slot, psrc_slot, final, load), copy_out)  # noqa: E731
                    if not v[3]:
                        serial()
                        return
                    with b.if_else(b.icmp_signed(">", parts, i64(1)), likely=False) as (many, one):
                        with many:
                            b.store(_radix_parallel(ctx, n, bufs4, hist, kt, v, parts, src_slot, psrc_slot, final, load),
                                    copy_out)
                        with one:
                            serial()
                _choose(ctx, n, variants, radix)
        with b.if_then(b.load(copy_out)):
            src = b.load(psrc_slot if want_positions else src_slot)
            with ctx.loop(n, "sort.store") as i:
                v = b.load(b.gep(src, [i]))
                b.store(v if want_positions else keys.value(b, v), b.gep(xout, [b.mul(i, s_out)]))
    return [out]


def _choose(ctx, n, variants, emit):
    """Emit ``emit(variant)`` for the variant the lane length n picks:
    variants are (bits, passes, counter type, lanes up to which it serves)."""
    b = ctx.b
    (bits, passes, ct, upto), rest = variants[0], variants[1:]
    threads = ct.width == 32 and upto is not None and upto > PARALLEL_SORT     # lanes long enough for threads
    if not rest:
        emit((bits, passes, ct, threads))
        return
    with b.if_else(b.icmp_signed("<", n, i64(upto))) as (this, other):
        with this:
            emit((bits, passes, ct, threads))
        with other:
            _choose(ctx, n, rest, emit)


def lower_sort(ctx, op, bufs):
    return _lower_sort(ctx, op, bufs, want_positions=False)


def lower_argsort(ctx, op, bufs):
    return _lower_sort(ctx, op, bufs, want_positions=True)


LOWERINGS = {"sort": lower_sort, "argsort": lower_argsort}
