"""``conv``, ``conv_grad_input``, ``conv_grad_weight`` (ir/ops/conv.py) on
the packed GEMM helper of linalg.py (``theon.gemm.<dtype>``), with no
column matrix larger than a span.

Per chunk of batch items (about CHUNK_COLUMNS output positions in all, at
least one item) and per group (G groups, Cg = C/G input and OCg = OC/G
output channels per group, Kd = Cg * prod(kernel), P = prod(out), W =
items x P), the W positions go through the GEMM in spans of ``cw`` columns
(about SPAN_BYTES of Kd-long columns; whole NR-column panels where a span
splits an item -- W17's 56x56 outputs with Kd = 576 take 28 spans of 112,
and a span may cross from one item to the next --, whole items where
items are smaller than that, LeNet's 8x8 outputs):

    conv:              per span: cols (Kd x cw) = im2col(x[items, group]);  buf[:, span] (OCg x cw) =
                       W_g (OCg x Kd) @ cols;  then buf (OCg x W, whole items) copied to y[items, group]
                       (conv_bias: its epilogue; conv_pool: its hook, conv_pool.py)
    conv_grad_input:   buf = gy[items, group];  per span: cols (Kd x cw) = W_g^T @ buf[:, span];
                       gx[items, group] += col2im(cols)
    conv_grad_weight:  buf (OCg x W) = gy[items, group];  per span: colsT (cw x Kd) = position-major
                       columns of x (``_columns_t``, rows of Kd + L);  acc_g (OCg x Kd) +=
                       buf[:, span] @ colsT (the GEMM packs colsT's panels with vectors); where
                       ``_gw_fast`` fails, cols (Kd x cw) = im2col and B = cols read transposed

So the buffers are a span's columns (about SPAN_BYTES, in L2 between
im2col and the GEMM's packing) and the chunk's output planes (OCg x W; a
chunk of one item reads gy's / writes y's planes in place), never Kd x P
of a whole image: W17's convolution (64 -> 64 channels, 3x3 on 56x56) had
7.2 MB of columns per item, written by im2col and packed again by the GEMM.
Measured against whole-item im2col (float32, one core, CPU-time minimum
of 6 calls on a loaded machine, ms): forward W17 119-127 vs 134-138, B1
(1x64x112x112) 14.3-15.1 vs 16.4-17.0, LeNet conv1 1.8 vs 2.0, conv2
9.0-9.1 vs 8.3; conv_grad_weight W17 112-115 vs 140-161, B1 14.0-14.6 vs
24.9-26.0, conv1 2.8-2.9 vs 2.9, conv2 6.7 vs 6.8; conv_grad_input W17
104-110 vs 91-99, B1 13.4-13.8 vs 12.6-13.3, conv1 1.8 vs 1.8, conv2
7.7-7.9 vs 6.8-6.9 (a tap's setup is paid per span, not per chunk).
Implicit im2col -- the span's B panels packed straight from the input in
the GEMM's packed-B layout for ``theon.gemm.<dtype>.packed``, a vector
copy per NR columns of an output row, masked vectors at panel and row
edges -- measured slower and was removed (forward W17 149-150 vs 115-118,
conv2 20.2 vs 8.6-8.8, conv1 3.7-3.8 vs 1.7; its pieces of at most NR
columns cost more than the GEMM's second, vector pass over a span that
is still in L2).

``_rows`` walks the output rows (all spatial dims but the last) that a
span covers: plain item and row loops over a span of whole items, else
counting items and indices along; ``_taps`` gives, per kernel row
(c, taps) -- the outer loop, its offsets and the valid range of its
outputs computed once per span -- the input row each output row reads and
the outputs inside the input (no bounds test per element; the padding is
stored as zeros; rows wholly inside skip the zero spans). ``_im2col``
copies/adds each such row as explicit vectors (``_span``: rows of 8 or 24
elements, as LeNet's, stayed scalar under LLVM's loop vectorizer). The
flip of a true convolution is in the tap mapping (tap = k-1-t), so the
filters are used as they are. Rows of the chunk buffers and columns are
padded (LD_PAD) so that they are never a multiple of 4 KiB apart.

Threads: the entry checks the shapes (channels, groups, filter larger than
the padded input, the output gradient's shape), allocates one set of chunk
buffers, span columns and GEMM panels (and, for ``conv_grad_weight``, a
partial filter gradient) per part, and runs a worker over slices of the
batch on the thread pool (``parallel.outline``/``run_parts``) in SPLIT
slices per thread, which the pool hands out as threads ask (a thread that
loses its core on a busy machine leaves its other slices to the rest);
each GEMM then runs on its worker's thread (parts = 1). With a single
part (a batch of one, or a small convolution) the GEMM itself may thread.
``conv_grad_weight`` sums the parts' partial gradients after the parallel
region.
"""
import llvmlite.ir as lir

from ....ir.ops.conv import ACTIVATION_OPS
from ...errors import CONV_CHANNELS, CONV_GROUPS, CONV_SHAPE, CONV_SIZE, NEGATIVE_SIZE, SHAPE_MISMATCH
from ...scalar import SCALAR, ScalarCtx
from ...llvm_util import counted_loop, smax, smin
from . import linalg
from .context import I1, I8, I64, LLTYPE, i64
from .parallel import outline, plan_parts, run_parts
from .views import contiguous, dyn_values, resolve, static_dims

PARALLEL_MACS = 1 << 20     # a convolution of at least this many multiply-adds threads over the batch
CHUNK_COLUMNS = 1024        # output positions (items x positions per item) of a chunk of items, at most
SPAN_BYTES = {"fwd": 256 << 10, "gin": 256 << 10, "gw": 256 << 10}   # columns of one GEMM, about
LD_PAD = 16
SPLIT = 4                   # slices of the batch per thread (load balance on a shared machine)


class _Geo:
    """The sizes of one convolution as i64 values (names -> values), and the
    Python-int attributes."""

    def __init__(self, values, nd, stride, dilation, groups, flip):
        self.v = values
        self.nd, self.stride, self.dilation, self.groups, self.flip = nd, stride, dilation, groups, flip

    def __getattr__(self, name):
        try:
            return self.__dict__["v"][name]
        except KeyError:
            raise AttributeError(name) from None

    def captured(self):
        return list(self.v.values())

    def mapped(self, inner):
        return _Geo({k: inner(v) for k, v in self.v.items()}, self.nd, self.stride, self.dilation, self.groups,
                    self.flip)


def _pad(b, p, k, d):
    if p == "full":
        return b.mul(i64(d), b.sub(k, i64(1)))
    if p == "half":
        return b.sdiv(b.add(b.mul(i64(d), b.sub(k, i64(1))), i64(1)), i64(2))
    return i64(p)


def _geometry(ctx, op, xdims, wdims, xstrides):
    """Checks the shapes (in native code) and returns the _Geo."""
    b = ctx.b
    a = op.attrs
    nd = len(xdims) - 2
    g = a["groups"]
    n, c = xdims[:2]
    oc, cg = wdims[:2]
    ctx.check(b.icmp_signed("==", c, ctx.mul(cg, i64(g))), CONV_CHANNELS, [c, ctx.mul(cg, i64(g)), cg, i64(g)])
    ctx.check(b.icmp_signed("==", b.srem(oc, i64(g)), i64(0)), CONV_GROUPS, [oc, i64(g)])
    v = {"n": n, "c": c, "oc": oc, "cg": cg, "ocg": b.sdiv(oc, i64(g))}
    outs = []
    for i in range(nd):
        k, d, s = wdims[2 + i], a["dilation"][i], a["stride"][i]
        p = _pad(b, a["pad"][i], k, d)
        padded = b.add(xdims[2 + i], b.mul(p, i64(2)))
        dk = b.add(b.mul(i64(d), b.sub(k, i64(1))), i64(1))
        ok = b.and_(b.icmp_signed(">=", k, i64(1)), b.icmp_signed(">=", padded, dk))
        ctx.check(ok, CONV_SIZE, [i64(i), padded, dk, k])
        o = b.add(b.sdiv(b.sub(padded, dk), i64(s)), i64(1))
        outs.append(o)
        v[f"i{i}"], v[f"k{i}"], v[f"o{i}"], v[f"p{i}"] = xdims[2 + i], k, o, p
        v[f"xs{i}"] = xstrides[2 + i]
    v["xsn"], v["xsc"] = xstrides[:2]
    v["kd"] = ctx.product([v["cg"]] + list(wdims[2:]))
    v["P"] = ctx.product(outs)
    v["isz"] = ctx.product(xdims[2:])
    return _Geo(v, nd, a["stride"], a["dilation"], g, a["flip"]), outs


def _check_gy(ctx, gy, geo, outs):
    """The output gradient has the shape the input and filters give."""
    b = ctx.b
    for axis, (size, want) in enumerate(zip(gy.shape, [geo.n, geo.oc] + outs)):
        ctx.check(b.icmp_signed("==", size, want), CONV_SHAPE, [i64(axis), size, want])


def _check_sizes(ctx, dims):
    b = ctx.b
    for pos, d in enumerate(dims):
        if not isinstance(d, lir.Constant):
            ctx.check(b.icmp_signed(">=", d, i64(0)), NEGATIVE_SIZE, [i64(pos), d])


def _attr_dims(ctx, op, bufs):
    dims = resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, 2))
    dims = [i64(d) if isinstance(d, int) else d for d in dims]
    _check_sizes(ctx, dims)
    return static_dims(ctx, dims, op.results[0].type.shape)


def _dims(ctx, buf, v):
    return static_dims(ctx, buf.shape, v.type.shape)


# --- the columns of a range of positions ---------------------------------------------------
def _tap_offsets(b, geo, ks):
    """Per spatial dim, the input offset of kernel index ks[i] at output 0."""
    offs = []
    for i in range(geo.nd):
        k = getattr(geo, f"k{i}")
        tap = b.sub(b.sub(k, i64(1)), ks[i]) if geo.flip else ks[i]
        offs.append(b.sub(b.mul(tap, i64(geo.dilation[i])), getattr(geo, f"p{i}")))
    return offs


def _valid_range(b, geo, off):
    """[lo, hi) of the last spatial dim's outputs that read inside the input."""
    last = geo.nd - 1
    s, n, o = geo.stride[last], getattr(geo, f"i{last}"), getattr(geo, f"o{last}")
    lo = smin(b, smax(b, b.sdiv(b.add(b.neg(off), i64(s - 1)), i64(s)), i64(0)), o)
    num = b.sub(b.sub(n, i64(1)), off)
    hi = b.select(b.icmp_signed("<", num, i64(0)), i64(0), b.add(b.sdiv(num, i64(s)), i64(1)))
    return lo, smax(b, smin(b, hi, o), lo)


def _round_up(b, x, step):
    return b.mul(b.sdiv(b.add(x, i64(step - 1)), i64(step)), i64(step))


def _clamp(b, v, lo, hi):
    return smin(b, smax(b, v, lo), hi)


def _row_start(w, geo, c0, c1):
    """``_rows``' start for positions [c0, c1): (first row, end row, its
    item, its indices), computed once per span (divisions)."""
    b = w.b
    last = geo.nd - 1
    ol = getattr(geo, f"o{last}")
    r0 = b.sdiv(c0, ol)
    r1 = b.sdiv(b.add(c1, b.sub(ol, i64(1))), ol)
    rem, idx = r0, []
    for i in reversed(range(last)):
        d = getattr(geo, f"o{i}")
        idx.insert(0, b.srem(rem, d))
        rem = b.sdiv(rem, d)
    return r0, r1, rem, idx


def _rows(w, geo, c0, c1, start, body):
    """The output rows (every spatial dim but the last, of each item) that
    positions [c0, c1) of a chunk cover, position q = item*P + row*O + o
    (O the last dim's outputs): ``body(item, idx, a, e, base)`` per row,
    ``idx`` its indices in the other spatial dims, [a, e) its outputs o in
    the range and ``base`` the row's first position minus c0 (so that o is
    local column base + o). ``start`` is ``_row_start``'s; the item and
    indices are counted along from it; c0 < c1."""
    b = w.b
    last = geo.nd - 1
    ol = getattr(geo, f"o{last}")
    outer = [getattr(geo, f"o{i}") for i in range(last)]
    r0, r1, item0, idx0 = start
    p = geo.P
    aligned = b.and_(b.icmp_signed("==", b.srem(c0, p), i64(0)), b.icmp_signed("==", b.srem(c1, p), i64(0)))
    with b.if_else(aligned, likely=True) as (whole, split):
        with whole:         # whole items (small images: spans of whole items): plain loops, whole rows
            with w.loop(b.sdiv(c1, p), "cv.it", start=b.sdiv(c0, p)) as item:
                with w.loop_nest(outer, "cv.oi") as idx:
                    lin = item
                    for k in range(last):
                        lin = b.add(b.mul(lin, outer[k]), idx[k])
                    body(item, idx, i64(0), ol, b.sub(b.mul(lin, ol), c0))
        with split:
            with counted_loop(b, r1, "cv.row", r0, carried=[item0] + idx0) as lp:
                item, idx = lp.carried[0], list(lp.carried[1:])
                first = b.mul(lp.index, ol)
                body(item, idx, smax(b, b.sub(c0, first), i64(0)), smin(b, b.sub(c1, first), ol),
                     b.sub(first, c0))
                carry, nxt = i64(1), list(idx)
                for k in reversed(range(last)):
                    v = b.add(idx[k], carry)
                    wrap = b.icmp_signed("==", v, outer[k])
                    nxt[k] = b.select(wrap, i64(0), v)
                    carry = b.zext(wrap, I64)
                lp.next = [b.add(item, carry)] + nxt


def _taps(w, geo, xitem, c0, c1, per_tap):
    """Per kernel row r = (c, taps) of the column matrix (the outer loops:
    the tap's offsets and the valid range of its outputs in the last dim
    are computed once per tap, no bounds test per element), over the output
    rows of positions [c0, c1) (``_rows``): ``per_tap(r)`` gives the row
    action ``row(src, lo, hi, a, e, base)``, with ``src`` the input element
    that output 0 of the row would read, [a, e) the row's outputs in the
    range, [lo, hi) within it those that read inside the input (lo = hi = e
    for a row outside the input) and ``base`` as in ``_rows``;
    ``xitem(item)`` is the group's first channel of item ``item``."""
    b = w.b
    nd = geo.nd
    last = nd - 1
    kdims = [getattr(geo, f"k{i}") for i in range(nd)]
    start = _row_start(w, geo, c0, c1)
    with w.loop(geo.cg, "cv.c") as c:
        xc = b.mul(c, geo.xsc)
        with w.loop_nest(kdims, "cv.k") as ks:
            r = c
            for i in range(nd):
                r = b.add(b.mul(r, kdims[i]), ks[i])
            offs = _tap_offsets(b, geo, ks)
            lo0, hi0 = _valid_range(b, geo, offs[last])
            at = b.add(xc, b.mul(offs[last], getattr(geo, f"xs{last}")))
            row_fn = per_tap(r)

            def row(item, idx, a, e, base):
                valid = lir.Constant(I1, 1)
                off = at
                for i in range(nd - 1):
                    pos = b.add(b.mul(idx[i], i64(geo.stride[i])), offs[i])
                    valid = b.and_(valid, b.icmp_unsigned("<", pos, getattr(geo, f"i{i}")))
                    off = b.add(off, b.mul(pos, getattr(geo, f"xs{i}")))
                lo = b.select(valid, _clamp(b, lo0, a, e), e)
                hi = b.select(valid, _clamp(b, hi0, lo, e), e)
                row_fn(b.gep(xitem(item), [off]), lo, hi, a, e, base)
            _rows(w, geo, c0, c1, start, row)


def _copy_span(w, src, step, dst, lo, hi, t, add=False):
    """dst[o] = src[o*step] (``add``: src[o*step] += dst[o]) for o in
    [lo, hi): explicit vectors where step == 1 (rows are short: LLVM's loop
    vectorizer leaves loops of under 16 iterations scalar)."""
    b = w.b
    with b.if_else(b.icmp_signed("==", step, i64(1)), likely=True) as (vector, strided):
        with vector:
            if add:
                _span(w, lo, hi, lambda vt, j: _vstore(b, b.fadd(_vload(b, src, j, vt), _vload(b, dst, j, vt)), src, j),
                      lambda j: b.store(b.fadd(b.load(b.gep(src, [j])), b.load(b.gep(dst, [j]))), b.gep(src, [j])), t)
            else:
                _span(w, lo, hi, lambda vt, j: _vstore(b, _vload(b, src, j, vt), dst, j),
                      lambda j: b.store(b.load(b.gep(src, [j])), b.gep(dst, [j])), t)
        with strided:
            with w.loop(hi, "cv.j", start=lo) as j:
                px, pc = b.gep(src, [b.mul(j, step)]), b.gep(dst, [j])
                if add:
                    b.store(b.fadd(b.load(px), b.load(pc)), px)
                else:
                    b.store(b.load(px), pc)


def _zero_span(w, dst, lo, hi, t):
    b = w.b
    zero = lir.Constant(t, 0.0)
    _span(w, lo, hi, lambda vt, j: _vstore(b, lir.Constant(vt, [0.0] * vt.count), dst, j),
          lambda j: b.store(zero, b.gep(dst, [j])), t)


def _im2col(w, geo, xitem, c0, c1, cols, ldc, gather):
    """im2col (``gather``: cols <- x) or col2im (cols added into x) for
    positions [c0, c1) of a chunk: element (r, q - c0) of the column matrix
    at cols + r*ldc + q - c0; ``xitem(item)`` the group's first channel of
    item ``item`` of the chunk. The padding is stored as zeros."""
    b = w.b
    t = cols.type.pointee
    last = geo.nd - 1
    step = b.mul(i64(geo.stride[last]), getattr(geo, f"xs{last}"))

    def per_tap(r):
        first = b.gep(cols, [b.mul(r, ldc)])

        def row(src, lo, hi, a, e, base):
            dst = b.gep(first, [base])           # local column of output o: dst + o
            if gather:
                edge = b.or_(b.icmp_signed("!=", lo, a), b.icmp_signed("!=", hi, e))
                with b.if_then(edge):
                    _zero_span(w, dst, a, lo, t)
                    _zero_span(w, dst, hi, e, t)
                _copy_span(w, src, step, dst, lo, hi, t)
            else:
                _copy_span(w, src, step, dst, lo, hi, t, add=True)
        return row
    _taps(w, geo, xitem, c0, c1, per_tap)


VECTOR_BITS = 256


def _lanes(t):
    return VECTOR_BITS // (32 if isinstance(t, lir.FloatType) else 64)


def _vload(b, ptr, j, vt):
    return b.load(b.bitcast(b.gep(ptr, [j]), vt.as_pointer()), align=4 if vt.element == lir.FloatType() else 8)


def _vstore(b, v, ptr, j):
    b.store(v, b.bitcast(b.gep(ptr, [j]), v.type.as_pointer()), align=4 if v.type.element == lir.FloatType() else 8)


def _span(w, lo, hi, vector, scalar, t=None):
    """``vector(vt, j)`` for j = lo, lo+L, ... while a whole vector of L
    lanes fits below hi, then ``scalar(j)`` for the rest: rows of a few
    elements (LLVM's loop vectorizer leaves loops of under 16 iterations
    scalar)."""
    b = w.b
    t = t or lir.FloatType()
    lanes = _lanes(t)
    vt = lir.VectorType(t, lanes)
    count = b.sdiv(smax(b, b.sub(hi, lo), i64(0)), i64(lanes))
    with w.loop(count, "cv.v") as v:
        vector(vt, b.add(lo, b.mul(v, i64(lanes))))
    with w.loop(hi, "cv.t", start=b.add(lo, b.mul(count, i64(lanes)))) as j:
        scalar(j)


def _gw_fast(b, geo, lanes):
    """i64 (1 or 0): conv_grad_weight may build its columns position-major
    with vectors (``_columns_t``): 2 spatial dims, the last one unit-stride
    with dilation 1, rows at a positive stride, at most a vector of taps per
    kernel row."""
    if geo.nd != 2 or geo.dilation[1] != 1:
        return i64(0)
    ok = b.and_(b.icmp_signed("==", geo.xs1, i64(1)), b.icmp_signed(">", geo.xs0, i64(0)))
    ok = b.and_(ok, b.icmp_signed("<=", geo.k1, i64(lanes)))
    return b.zext(ok, I64)


def _columns_t(w, geo, xitem, c0, c1, colt, ldt):
    """Position-major columns of positions [c0, c1) of a chunk for
    conv_grad_weight (2 spatial dims, ``_gw_fast``): colt[(q - c0)*ldt +
    (c*K0 + kh)*K1 + kw] = x[item, c, oh*s0 - p0 + kh*d0, ow*s1 - p1 + kw]
    (0 outside), q = item*P + oh*O1 + ow, with the taps *not* flipped (the
    caller flips the gradient). Each (q, c, kh) is one vector of L lanes
    loaded from the input row and stored whole: lanes past K1 land on the
    next kernel row's entries, written later, or in the row's padding
    (ldt >= Kd + L). Loads stay inside the channel's rows (else, and where
    the window leaves the input, a scalar path)."""
    b = w.b
    t = colt.type.pointee
    lanes = _lanes(t)
    vt = lir.VectorType(t, lanes)
    zero, zvec = lir.Constant(t, 0.0), lir.Constant(vt, [0.0] * lanes)
    k0, k1 = geo.k0, geo.k1
    h, wd, xs0 = geo.i0, geo.i1, geo.xs0
    s0, s1, d0 = geo.stride[0], geo.stride[1], geo.dilation[0]
    # outputs whose window lies inside the row: ow*s1 - p1 >= 0 and ow*s1 - p1 + K1 <= W
    lo = smin(b, b.sdiv(b.add(geo.p1, i64(s1 - 1)), i64(s1)), geo.o1)
    room = b.add(b.sub(wd, k1), geo.p1)
    hi = b.select(b.icmp_signed("<", room, i64(0)), i64(0), b.add(b.sdiv(room, i64(s1)), i64(1)))
    hi = smax(b, smin(b, hi, geo.o1), lo)

    def scalar(src_row, dst, ow):
        start = b.sub(b.mul(ow, i64(s1)), geo.p1)
        with w.loop(k1, "ct.kw") as kw:
            col = b.add(start, kw)
            inside = b.icmp_unsigned("<", col, wd)
            v = b.select(inside, b.load(b.gep(src_row, [b.select(inside, col, i64(0))])), zero)
            b.store(v, b.gep(dst, [kw]))

    start = _row_start(w, geo, c0, c1)
    with w.loop(geo.cg, "ct.c") as c:
        xc = b.mul(c, geo.xsc)
        with w.loop(k0, "ct.kh") as kh:
            tap = b.mul(b.add(b.mul(c, k0), kh), k1)
            rtap = b.sub(b.mul(kh, i64(d0)), geo.p0)

            def row(item, idx, a, e, base):
                r = b.add(b.mul(idx[0], i64(s0)), rtap)
                dst_row = b.gep(colt, [b.add(b.mul(base, ldt), tap)])        # output ow at + ow*ldt
                with b.if_else(b.icmp_unsigned("<", r, h), likely=True) as (inside, outside):
                    with inside:
                        src_row = b.gep(xitem(item), [b.add(xc, b.mul(r, xs0))])
                        # a vector read ends before the channel's last row does
                        avail = b.add(b.mul(b.sub(b.sub(h, i64(1)), r), xs0), wd)
                        vroom = b.add(b.sub(avail, i64(lanes)), geo.p1)
                        vhi = b.select(b.icmp_signed("<", vroom, i64(0)), i64(0), b.add(b.sdiv(vroom, i64(s1)),
                                                                                       i64(1)))
                        l1 = _clamp(b, lo, a, e)
                        l2 = _clamp(b, smax(b, smin(b, vhi, hi), lo), l1, e)
                        with w.loop(l1, "ct.a", start=a) as ow:
                            scalar(src_row, b.gep(dst_row, [b.mul(ow, ldt)]), ow)
                        with w.loop(l2, "ct.v", start=l1) as ow:
                            src = b.gep(src_row, [b.sub(b.mul(ow, i64(s1)), geo.p1)])
                            _vstore(b, _vload(b, src, i64(0), vt), b.gep(dst_row, [b.mul(ow, ldt)]), i64(0))
                        with w.loop(e, "ct.b", start=l2) as ow:
                            scalar(src_row, b.gep(dst_row, [b.mul(ow, ldt)]), ow)
                    with outside:
                        with w.loop(e, "ct.z", start=a) as ow:
                            _vstore(b, zvec, b.gep(dst_row, [b.mul(ow, ldt)]), i64(0))
            _rows(w, geo, c0, c1, start, row)


def _zero(w, ptr, n):
    b = w.b
    memset = w.declare("llvm.memset.p0i8.i64", lir.VoidType(), [I8.as_pointer(), I8, I64, I1])
    nbytes = b.mul(n, i64(4 if isinstance(ptr.type.pointee, lir.FloatType) else 8))
    b.call(memset, [b.bitcast(ptr, I8.as_pointer()), lir.Constant(I8, 0), nbytes, lir.Constant(I1, 0)])


def _gemm(w, s, gemm, m, n, k, a, sam, sak, bp, sbk, sbn, c, ldc, pa, pb, parts):
    """C (m x n, row stride ldc) = A @ B; zeroes C first when the GEMM
    helper takes its accumulating (unblocked) path."""
    b = w.b
    with b.if_then(b.not_(linalg._use_blocked(b, m, n, k, s))):
        with w.loop(m, "cv.zr") as r:
            _zero(w, b.gep(c, [b.mul(r, ldc)]), n)
    b.call(gemm, [m, n, k, a, sam, sak, bp, sbk, sbn, c, ldc, pa, pb, parts])


# --- the three lowerings -------------------------------------------------------------------
def _copy_rows(w, src, src_ld, dst, dst_ld, rows, width):
    """dst[r*dst_ld + j] = src[r*src_ld + j] for r < rows, j < width."""
    b = w.b
    with w.loop(rows, "cv.cr") as r:
        ps, pd = b.gep(src, [b.mul(r, src_ld)]), b.gep(dst, [b.mul(r, dst_ld)])
        with w.loop(width, "cv.cj") as j:
            b.store(b.load(b.gep(ps, [j])), b.gep(pd, [j]))


def _epilogue_rows(w, op, src, src_ld, dst, dst_ld, rows, width, bias, bstride, activation):
    """dst[r*dst_ld + j] = activation(src[r*src_ld + j] + bias[r*bstride])
    for r < rows, j < width: conv_bias's epilogue, applied while the chunk
    leaves the GEMM's buffer."""
    b = w.b
    t = src.type.pointee
    dtype = "float32" if isinstance(t, lir.FloatType) else "float64"
    act = None
    if activation != "identity":
        name, extra = ACTIVATION_OPS[activation]
        sc = ScalarCtx(w, op, dtype, dtype)
        consts = [lir.Constant(t, float(c)) for c in extra]
        act = (SCALAR[name], sc, consts)
    with w.loop(rows, "cv.er") as r:
        ps, pd = b.gep(src, [b.mul(r, src_ld)]), b.gep(dst, [b.mul(r, dst_ld)])
        bv = b.load(b.gep(bias, [b.mul(r, bstride)]))
        with w.loop(width, "cv.ej") as j:
            v = b.fadd(b.load(b.gep(ps, [j])), bv)
            if act is not None:
                v = act[0](act[1], [v] + act[2])
            b.store(v, b.gep(pd, [j]))


def _lower(ctx, op, kind, x, w_, gy, geo, outs, out_dims, bias=None, epilogue=None):
    """Shared driver: buffers, the worker over the batch, the result.

    A worker takes its items in chunks of ``cb`` (about CHUNK_COLUMNS output
    positions in all, at least one item) whose output (or output gradient)
    planes sit side by side in the chunk buffer (OCg rows of ld = cb*P + pad
    columns, per group; a chunk of one item uses y's / gy's planes where
    they are); the chunk's positions go through the GEMM in spans of ``cw``
    (about SPAN_BYTES of columns: a multiple of NR that may split an item
    and cross into the next, or whole items). ``conv``: per span im2col and
    one GEMM into the span's columns of the buffer, then the chunk copied
    to y's layout (the epilogue, whole items); the gradients: the chunk of
    gy copied into the buffer, per span the columns (``_im2col``,
    ``_columns_t``) and one GEMM."""
    s = linalg.DEFAULT_SCHEDULE
    b = ctx.b
    dtype = op.results[0].type.dtype
    t = LLTYPE[dtype]
    item = 4 if dtype == "float32" else 8
    nr = s.nr_vectors * s.lanes(dtype)
    lanes = _lanes(t)
    gemm = linalg.emit_gemm(ctx.module, dtype, s)
    kd1 = smax(b, geo.kd, i64(1))
    # items per chunk: about CHUNK_COLUMNS output positions, at least one item
    cb = smax(b, smin(b, b.sdiv(i64(CHUNK_COLUMNS), smax(b, geo.P, i64(1))), geo.n), i64(1), name="cv.cb")
    # rows of the chunk buffers: a few elements more than cb*P, so that rows are never a
    # multiple of 4 KiB apart (the GEMM's strided packing reads 16 rows at once)
    ld = b.add(b.mul(cb, geo.P), i64(LD_PAD), name="cv.ld")
    # positions per span: columns of about SPAN_BYTES, whole panels, at most the chunk's
    ldt = b.add(geo.kd, i64(lanes), name="cv.ldt")          # conv_grad_weight's position-major rows
    per = ldt if kind == "gw" else kd1
    cw = b.mul(b.sdiv(b.sdiv(i64(SPAN_BYTES[kind] // item), per), i64(nr)), i64(nr))
    cw = smin(b, smax(b, cw, i64(nr)), _round_up(b, b.mul(cb, geo.P), nr))
    # items smaller than a span: spans of whole items (``_rows`` walks them with plain loops)
    p1 = smax(b, geo.P, i64(1))
    cw = b.select(b.icmp_signed("<=", geo.P, cw), smin(b, b.mul(b.sdiv(cw, p1), p1), b.mul(cb, geo.P)), cw)
    cw = b.add(cw, i64(0), name="cv.cw")
    ldc = b.add(cw, i64(LD_PAD), name="cv.ldc")
    if kind == "fwd":
        m, n, k = geo.ocg, cw, geo.kd
    elif kind == "gin":
        m, n, k = geo.kd, cw, geo.ocg
    else:
        m, n, k = geo.ocg, geo.kd, cw
    work = ctx.mul(ctx.mul(geo.n, geo.oc), ctx.mul(geo.P, geo.kd))
    schedule = (op.attrs.get("parallel", PARALLEL_MACS), op.attrs.get("threads", 0))
    parts = plan_parts(ctx, geo.n, work, schedule)
    # SPLIT slices per thread: the pool hands out slices as threads ask for them, so a thread
    # that loses its core (a busy machine) leaves its other slices to the rest
    parts = b.select(b.icmp_signed(">", parts, i64(1)), smin(b, b.mul(parts, i64(SPLIT)), geo.n), parts,
                     name="cv.parts")
    gparts = b.select(b.icmp_signed("==", parts, i64(1)), linalg._plan_parts(ctx, m, n, k, s), i64(1))
    a_block = linalg._a_block(b, m, k, s)
    # the panels the GEMM packs B into
    b_elems = b.mul(linalg._b_columns(b, n, k, dtype, s), smax(b, k, i64(1)))
    col_elems = b.mul(kd1, ldc)             # Kd x cw columns
    fast = i64(0)
    if kind == "gw":                        # position-major columns (``_columns_t``): cw rows of Kd + L
        fast = _gw_fast(b, geo, lanes)
        col_elems = smax(b, col_elems, b.mul(cw, ldt))
    buf_elems = b.mul(geo.ocg, ld)
    pack_a = ctx.alloc(dtype, [b.mul(b.mul(parts, gparts), a_block)], name="cv.pack_a").ptr
    pack_b = ctx.alloc(dtype, [b.mul(parts, b_elems)], name="cv.pack_b").ptr
    cols = ctx.alloc(dtype, [b.mul(parts, col_elems)], name="cv.cols").ptr
    chunk = ctx.alloc(dtype, [b.mul(parts, buf_elems)], name="cv.chunk").ptr
    out = ctx.alloc(dtype, out_dims, name=f"conv.{kind}")
    wk = ctx.mul(geo.ocg, geo.kd)
    acc = None
    data_ptrs = {"x": x, "w": w_, "gy": gy, "out": out.ptr, "pack_a": pack_a, "pack_b": pack_b, "cols": cols,
                 "chunk": chunk}
    if bias is not None:                   # conv_bias: (pointer, stride 0 or 1)
        data_ptrs["bias"] = bias[0]
    if kind == "gw":
        acc = ctx.alloc(dtype, [b.mul(parts, b.mul(geo.oc, geo.kd))], name="cv.acc").ptr
        tmp = ctx.alloc(dtype, [b.mul(parts, wk)], name="cv.tmp").ptr
        data_ptrs.update(acc=acc, tmp=tmp)
    # a chunk of one item: the GEMM reads gy's / writes y's planes where they are (OCg rows at stride P)
    # instead of the chunk buffer, unless rows P apart are a multiple of 4 KiB apart, or conv_pool's
    # hook takes the buffer
    direct = i64(0) if epilogue is not None else b.zext(
        b.icmp_signed("!=", b.srem(b.mul(geo.P, i64(item)), i64(4096)), i64(0)), I64, name="cv.direct")
    extra = {"a_block": a_block, "b_elems": b_elems, "col_elems": col_elems, "buf_elems": buf_elems,
             "gparts": gparts, "cb": cb, "ld": ld, "cw": cw, "ldc": ldc, "direct": direct}
    if kind == "gw":
        extra.update(fast=fast, ldt=ldt)
    if bias is not None:
        extra["bstride"] = bias[1]
    if epilogue is not None:              # conv_pool (conv_pool.py): its values, captured by name
        extra.update(epilogue.captured)
    captured = geo.captured() + [p for p in data_ptrs.values() if p is not None] + list(extra.values())

    def emit(w, begin, end, part, inner):
        g = geo.mapped(inner)
        bb = w.b
        p = {name: inner(v) for name, v in data_ptrs.items() if v is not None}
        e = {name: inner(v) for name, v in extra.items()}
        ld, cw, ldc = e["ld"], e["cw"], e["ldc"]
        my_cols = bb.gep(p["cols"], [bb.mul(part, e["col_elems"])])
        my_buf = bb.gep(p["chunk"], [bb.mul(part, e["buf_elems"])])
        my_a = bb.gep(p["pack_a"], [bb.mul(part, e["a_block"])])
        my_b = bb.gep(p["pack_b"], [bb.mul(part, e["b_elems"])])
        ocp = bb.mul(g.oc, g.P)                                # one item of y / gy
        gwk = bb.mul(g.ocg, g.kd)
        if kind == "gw":
            my_acc = bb.gep(p["acc"], [bb.mul(part, bb.mul(g.oc, g.kd))])
            my_tmp = bb.gep(p["tmp"], [bb.mul(part, gwk)])
            _zero(w, my_acc, bb.mul(g.oc, g.kd))
        with counted_loop(bb, end, "cv.n", begin, e["cb"]) as chunk_loop:
            n0 = chunk_loop.index
            count = smin(bb, e["cb"], bb.sub(end, n0), name="cv.count")
            width = bb.mul(count, g.P, name="cv.width")
            if kind == "gin":
                gx0 = bb.gep(p["out"], [bb.mul(n0, g.xsn)])
                _zero(w, gx0, bb.mul(count, g.xsn))
            with w.loop(i64(g.groups), "cv.g") as grp:
                wg = bb.gep(p["w"], [bb.mul(grp, gwk)]) if kind != "gw" else None
                ychunk = bb.add(bb.mul(n0, ocp), bb.mul(bb.mul(grp, g.ocg), g.P))    # y/gy[n0, group]
                xsrc = p["out"] if kind == "gin" else p["x"]
                xgroup = bb.gep(xsrc, [bb.add(bb.mul(n0, g.xsn), bb.mul(bb.mul(grp, g.cg), g.xsc))])

                def xitem(j):
                    """The group's first channel of item j of the chunk (x, or gx for conv_grad_input)."""
                    return bb.gep(xgroup, [bb.mul(j, g.xsn)])

                def items(body):
                    with w.loop(count, "cv.j") as j:
                        body(j, xitem(j))

                def gy_rows(j):
                    """(pointer into y/gy for item j of the chunk, pointer into the chunk buffer)."""
                    return (bb.gep(p["out" if kind == "fwd" else "gy"], [bb.add(ychunk, bb.mul(j, ocp))]),
                            bb.gep(my_buf, [bb.mul(j, g.P)]))
                plane = gy_rows(i64(0))[0]
                direct = bb.and_(bb.icmp_signed("==", count, i64(1)), bb.icmp_signed("!=", e["direct"], i64(0)))
                mat = bb.select(direct, plane, my_buf, name="cv.mat")          # OCg x width, rows mld apart
                mld = bb.select(direct, g.P, ld, name="cv.mld")
                if kind != "fwd":         # the chunk of gy, as OCg rows of width columns
                    with bb.if_then(bb.not_(direct)):
                        items(lambda j, xg: _copy_rows(w, gy_rows(j)[0], g.P, gy_rows(j)[1], ld, g.ocg, g.P))
                with counted_loop(bb, width, "cv.span", i64(0), cw) as span_loop:
                    c0 = span_loop.index
                    c1 = smin(bb, bb.add(c0, cw), width)
                    span = bb.sub(c1, c0, name="cv.spanw")
                    if kind == "fwd":
                        _im2col(w, g, xitem, c0, c1, my_cols, ldc, gather=True)
                        _gemm(w, s, gemm, g.ocg, span, g.kd, wg, g.kd, i64(1), my_cols, ldc, i64(1),
                              bb.gep(mat, [c0]), mld, my_a, my_b, e["gparts"])
                    elif kind == "gin":
                        _gemm(w, s, gemm, g.kd, span, g.ocg, wg, i64(1), g.kd, bb.gep(mat, [c0]), mld, i64(1),
                              my_cols, ldc, my_a, my_b, e["gparts"])
                        _im2col(w, g, xitem, c0, c1, my_cols, ldc, gather=False)
                    else:
                        ldt = e["ldt"]
                        a_span = bb.gep(mat, [c0])

                        def by_position():        # B (span x Kd) position-major: the GEMM packs it with vectors
                            _columns_t(w, g, xitem, c0, c1, my_cols, ldt)
                            _gemm(w, s, gemm, g.ocg, g.kd, span, a_span, mld, i64(1), my_cols, ldt, i64(1),
                                  my_tmp, g.kd, my_a, my_b, e["gparts"])

                        def by_tap():             # im2col's layout, B read transposed
                            _im2col(w, g, xitem, c0, c1, my_cols, ldc, gather=True)
                            _gemm(w, s, gemm, g.ocg, g.kd, span, a_span, mld, i64(1), my_cols, i64(1), ldc,
                                  my_tmp, g.kd, my_a, my_b, e["gparts"])
                        if isinstance(e["fast"], lir.Constant):
                            by_tap()
                        else:
                            with bb.if_else(bb.icmp_signed("!=", e["fast"], i64(0)), likely=True) as (then, other):
                                with then:
                                    by_position()
                                with other:
                                    by_tap()
                        dst = bb.gep(my_acc, [bb.mul(grp, gwk)])
                        with w.loop(gwk, "cv.acc") as j:
                            pd = bb.gep(dst, [j])
                            bb.store(bb.fadd(bb.load(pd), bb.load(bb.gep(my_tmp, [j]))), pd)
                if kind == "fwd":         # the chunk's whole items leave the buffer
                    if epilogue is not None:      # conv_pool: each (item, channel) plane pooled into z
                        epilogue.emit(w, g, e, p, my_buf, ld, n0, count, grp)
                    elif bias is None:
                        with bb.if_then(bb.not_(direct)):
                            items(lambda j, xg: _copy_rows(w, gy_rows(j)[1], ld, gy_rows(j)[0], g.P, g.ocg, g.P))
                    else:                 # (in place where the GEMM wrote y itself)
                        gbias = bb.gep(p["bias"], [bb.mul(bb.mul(grp, g.ocg), e["bstride"])])
                        items(lambda j, xg: _epilogue_rows(w, op, bb.gep(mat, [bb.mul(j, g.P)]), mld, gy_rows(j)[0],
                                                           g.P, g.ocg, g.P, gbias, e["bstride"],
                                                           op.attrs["activation"]))

    worker, data = outline(ctx, f"conv.{kind}", captured, emit)
    run_parts(ctx, worker, data, geo.n, parts)
    if kind == "gw":
        total = b.mul(geo.oc, geo.kd)
        _zero(ctx, out.ptr, total)
        # position-major columns hold the taps unflipped: a flipped convolution's gradient
        # reads the kernel dims backwards (one kernel plane of nd dims, rows of the last)
        kdims = [getattr(geo, f"k{i}") for i in range(geo.nd)]
        back = b.icmp_signed("!=", fast, i64(0)) if geo.flip else lir.Constant(I1, 0)
        plane = ctx.product(kdims)
        with ctx.loop(parts, "cv.part") as q:
            src = b.gep(acc, [b.mul(q, total)])
            with ctx.loop(b.sdiv(total, smax(b, plane, i64(1))), "cv.sum") as r:
                with ctx.loop_nest(kdims, "cv.sk") as ks:
                    lin, rev = r, r
                    for i, k in enumerate(kdims):
                        lin = b.add(b.mul(lin, k), ks[i])
                        rev = b.add(b.mul(rev, k), b.sub(b.sub(k, i64(1)), ks[i]))
                    pd = b.gep(out.ptr, [lin])
                    ps = b.gep(src, [b.select(back, rev, lin)])
                    b.store(b.fadd(b.load(pd), b.load(ps)), pd)
    return [out]


def lower_conv(ctx, op, bufs):
    x, w = bufs
    w = contiguous(ctx, w, "conv.w")
    xdims, wdims = _dims(ctx, x, op.operands[0]), _dims(ctx, w, op.operands[1])
    geo, outs = _geometry(ctx, op, xdims, wdims, x.strides)
    out_dims = static_dims(ctx, [geo.n, geo.oc] + outs, op.results[0].type.shape)
    return _lower(ctx, op, "fwd", x.ptr, w.ptr, None, geo, outs, out_dims)


def lower_conv_bias(ctx, op, bufs):
    """conv with its bias and activation applied as the chunks are copied
    out; the bias has out_channels entries or one (SHAPE_MISMATCH else, as
    the add it replaces)."""
    x, w, bias = bufs
    w, bias = contiguous(ctx, w, "conv.w"), contiguous(ctx, bias, "conv.b")
    xdims, wdims = _dims(ctx, x, op.operands[0]), _dims(ctx, w, op.operands[1])
    geo, outs = _geometry(ctx, op, xdims, wdims, x.strides)
    b = ctx.b
    nb = _dims(ctx, bias, op.operands[2])[0]
    one = b.icmp_signed("==", nb, i64(1))
    ctx.check(b.or_(one, b.icmp_signed("==", nb, geo.oc)), SHAPE_MISMATCH, [i64(1), nb, geo.oc, i64(2)])
    bstride = b.select(one, i64(0), i64(1))
    out_dims = static_dims(ctx, [geo.n, geo.oc] + outs, op.results[0].type.shape)
    return _lower(ctx, op, "fwd", x.ptr, w.ptr, None, geo, outs, out_dims, bias=(bias.ptr, bstride))


def lower_conv_grad_input(ctx, op, bufs):
    gy, w = bufs[:2]
    gy, w = contiguous(ctx, gy, "conv.gy"), contiguous(ctx, w, "conv.w")
    xdims = _attr_dims(ctx, op, bufs)
    wdims = _dims(ctx, w, op.operands[1])
    geo, outs = _geometry(ctx, op, xdims, wdims, ctx.contiguous_strides(xdims))
    _check_gy(ctx, gy.view(shape=_dims(ctx, gy, op.operands[0])), geo, outs)
    return _lower(ctx, op, "gin", None, w.ptr, gy.ptr, geo, outs, xdims)


def lower_conv_grad_weight(ctx, op, bufs):
    x, gy = bufs[:2]
    gy = contiguous(ctx, gy, "conv.gy")
    wdims = _attr_dims(ctx, op, bufs)
    xdims = _dims(ctx, x, op.operands[0])
    geo, outs = _geometry(ctx, op, xdims, wdims, x.strides)
    _check_gy(ctx, gy.view(shape=_dims(ctx, gy, op.operands[1])), geo, outs)
    return _lower(ctx, op, "gw", x.ptr, None, gy.ptr, geo, outs, wdims)


LOWERINGS = {
    "conv": lower_conv,
    "conv_bias": lower_conv_bias,
    "conv_grad_input": lower_conv_grad_input,
    "conv_grad_weight": lower_conv_grad_weight,
}
