"""``sort`` and ``argsort`` (``ir/ops/sorting.py``): a stable sort of every
lane of x along ``axis``.

Each lane is copied into a scratch buffer of unsigned integer keys whose
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
from .context import I64, i64

INSERTION = 32          # lanes this short are insertion-sorted
WIDE_DIGITS = 1 << 16   # lanes this long use 11-bit digits (for 32- and 64-bit keys)


def _variants(width):
    """Digit sizes of the radix variants for ``width``-bit keys: [(bits per
    digit, passes)], narrow digits first."""
    if width <= 16:
        return [(8, width // 8)]
    return [(8, width // 8), (11, -(-width // 11))]


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


def _radix(ctx, n, bufs, hist, kt, bits, passes, src_slot, psrc_slot):
    """LSD radix sort of keys bufs[0][0:n] (positions bufs[2] alongside);
    afterwards ``src_slot`` / ``psrc_slot`` point at the sorted buffers."""
    b = ctx.b
    k0, k1, p0, p1 = bufs
    nb = 1 << bits
    total = nb * passes
    with ctx.loop(i64(total), "rdx.zero") as j:
        b.store(i64(0), b.gep(hist, [j]))
    with ctx.loop(n, "rdx.hist") as i:
        k = b.load(b.gep(k0, [i]))
        for p in range(passes):
            cell = b.gep(hist, [b.add(_digit(b, k, p * bits, bits, kt), i64(p * nb))])
            b.store(b.add(b.load(cell), i64(1)), cell)
    dst_slot = ctx.slot(k0.type, "rdx.dst")
    pdst_slot = ctx.slot(I64.as_pointer(), "rdx.pdst") if p0 is not None else None
    b.store(k0, src_slot)
    b.store(k1, dst_slot)
    if p0 is not None:
        b.store(p0, psrc_slot)
        b.store(p1, pdst_slot)
    for p in range(passes):
        shift, base = p * bits, i64(p * nb)
        src, dst = b.load(src_slot), b.load(dst_slot)
        first = _digit(b, b.load(src), shift, bits, kt)
        trivial = b.icmp_signed("==", b.load(b.gep(hist, [b.add(first, base)])), n)
        with b.if_then(b.not_(trivial)):
            with counted_loop(b, i64(nb), f"rdx.scan{p}", carried=[i64(0)]) as lp:
                cell = b.gep(hist, [b.add(lp.index, base)])
                c = b.load(cell)
                b.store(lp.carried[0], cell)
                lp.next = [b.add(lp.carried[0], c)]
            psrc = b.load(psrc_slot) if p0 is not None else None
            pdst = b.load(pdst_slot) if p0 is not None else None
            with ctx.loop(n, f"rdx.scatter{p}") as i:
                k = b.load(b.gep(src, [i]))
                cell = b.gep(hist, [b.add(_digit(b, k, shift, bits, kt), base)])
                at = b.load(cell)
                b.store(b.add(at, i64(1)), cell)
                b.store(k, b.gep(dst, [at]))
                if p0 is not None:
                    b.store(b.load(b.gep(psrc, [i])), b.gep(pdst, [at]))
            b.store(dst, src_slot)
            b.store(src, dst_slot)
            if p0 is not None:
                b.store(pdst, psrc_slot)
                b.store(psrc, pdst_slot)


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
    hist = ctx.alloc("int64", [i64(max((1 << bits) * passes for bits, passes in variants))], name="sort.hist").ptr
    k0p, k1p = (b.bitcast(k.ptr, kt.as_pointer()) for k in (k0, k1))
    src_slot = ctx.slot(kt.as_pointer(), "sort.src")
    psrc_slot = ctx.slot(I64.as_pointer(), "sort.psrc") if want_positions else None
    outer = [d for k, d in enumerate(x.shape) if k != axis]
    s_in, s_out = x.strides[axis], out.strides[axis]
    with ctx.loop_nest(outer, "lane") as idx:
        full = list(idx[:axis]) + [i64(0)] + list(idx[axis:])
        xin, xout = ctx.elem_ptr(x, full), ctx.elem_ptr(out, full)
        with ctx.loop(n, "sort.load") as i:
            b.store(keys.key(b, b.load(b.gep(xin, [b.mul(i, s_in)]))), b.gep(k0p, [i]))
            if want_positions:
                b.store(i, b.gep(p0, [i]))
        b.store(k0p, src_slot)
        if want_positions:
            b.store(p0, psrc_slot)
        with b.if_else(b.icmp_signed("<=", n, i64(INSERTION))) as (short, long_):
            with short:
                _insertion_sort(ctx, n, k0p, p0, kt)
            with long_:
                if len(variants) == 1:
                    _radix(ctx, n, (k0p, k1p, p0, p1), hist, kt, *variants[0], src_slot, psrc_slot)
                else:
                    with b.if_else(b.icmp_signed("<", n, i64(WIDE_DIGITS))) as (narrow, wide):
                        with narrow:
                            _radix(ctx, n, (k0p, k1p, p0, p1), hist, kt, *variants[0], src_slot, psrc_slot)
                        with wide:
                            _radix(ctx, n, (k0p, k1p, p0, p1), hist, kt, *variants[1], src_slot, psrc_slot)
        src = b.load(psrc_slot if want_positions else src_slot)
        with ctx.loop(n, "sort.store") as i:
            v = b.load(b.gep(src, [i]))
            b.store(v if want_positions else keys.value(b, v), b.gep(xout, [b.mul(i, s_out)]))
    return [out]


def lower_sort(ctx, op, bufs):
    return _lower_sort(ctx, op, bufs, want_positions=False)


def lower_argsort(ctx, op, bufs):
    return _lower_sort(ctx, op, bufs, want_positions=True)


LOWERINGS = {"sort": lower_sort, "argsort": lower_argsort}
