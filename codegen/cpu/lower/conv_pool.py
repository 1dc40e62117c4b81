"""CPU lowering of ``conv_pool`` and ``pool_grad_mask`` (ir/ops/pool.py,
built by passes/conv_pool.py).

``conv_pool`` runs conv.py's forward driver (``_lower``: im2col + GEMM per
chunk of batch items and group) with an epilogue (``_Epilogue``) in place
of the copy out of the chunk buffer: each (item, channel) plane of the
buffer (OCg rows of ``ld``, item j's plane at column j*P, O0 x O1 row-major)
is max-pooled straight into z, with the bias (before or after the pooling)
and the activation, and the tie mask is written beside it. The
convolution's result is never stored. Per output row whose window rows
lie inside the plane (``pool._interior``: a range of rows), the interior
columns take the window's offsets as constants (no bounds test: LLVM vectorizes the loop
over output columns with strided loads); edge columns and rows with a
partial window test each element. The window's maximum is pool.py's
(np.maximum: NaN propagates), its elements compared in the same order, so
z and the mask are exactly the unfused pool's and pool_grad's.

``pool_grad_mask(mask, gz, x, w)`` takes the convolution's output dims from
x and w (conv's checks: CONV_CHANNELS, CONV_GROUPS, CONV_SIZE), checks mask
and gz against their pooling (SHAPE_MISMATCH naming operand 0 or 1), and
per (item, channel) plane on the thread pool zeroes the plane and adds
each window's gz to the elements whose bit is set.
"""
import llvmlite.ir as lir

from ....ir.ops.conv import ACTIVATION_OPS
from ....ir.ops.pool import conv_pool_params
from ...errors import POOL_WINDOW, SHAPE_MISMATCH
from ...poolwin import fill as _fill, max_ as _max
from ...scalar import SCALAR, ScalarCtx
from . import conv
from .context import I8, LLTYPE, i64
from .parallel import outline, parallel_for
from .pool import _check_dims, _interior, out_dim
from .views import contiguous, static_dims

PARALLEL_ELEMENTS = 32768       # pool_grad_mask threads from this many result elements


def _pooled_dims(ctx, outs, params):
    """The pooled dims of the convolution's output dims ``outs`` (i64),
    checked (POOL_WINDOW with ignore_border)."""
    b = ctx.b
    ws, stride, pad, ignore_border = params
    dims = []
    for k in range(2):
        n = outs[k]
        if ignore_border and not isinstance(n, lir.Constant):
            ctx.check(b.icmp_signed(">=", b.add(n, i64(2 * pad[k])), i64(ws[k])), POOL_WINDOW,
                      [i64(2 + k), b.add(n, i64(2 * pad[k])), i64(ws[k])])
        dims.append(out_dim(b, n, ws[k], stride[k], pad[k], ignore_border))
    return dims


def _window_loads(b, src, row0, col0, o0, o1, ws, checked, t):
    """The window's elements (row-major), each (value, inside i1 or None),
    of the window whose first element is at (row0, col0) of the plane at
    ``src`` (o0 x o1, row stride o1); outside elements read as -inf."""
    out = []
    lowest = lir.Constant(t, float("-inf"))
    for a in range(ws[0]):
        r = b.add(row0, i64(a))
        for c in range(ws[1]):
            col = b.add(col0, i64(c))
            at = b.add(b.mul(r, o1), col)
            if not checked:
                out.append((b.load(b.gep(src, [at])), None))
                continue
            inside = b.and_(b.icmp_unsigned("<", r, o0), b.icmp_unsigned("<", col, o1))
            v = b.load(b.gep(src, [b.select(inside, at, i64(0))]))
            out.append((b.select(inside, v, lowest), inside))
    return out


def _walk_plane(w, o0, z0, z1, ja, jb, params, columns, name):
    """Every output row ``zr`` of a pooled z0 x z1 plane (of an o0-row
    plane): ``columns(zr, row0, start, stop, checked, name)`` over its
    output columns [start, stop), where ``row0`` is the window's first
    (padded) row and ``checked`` says whether the windows may reach
    outside the plane: the rows whose windows lie inside it
    (``pool._interior``) take the interior columns [ja, jb) unchecked."""
    b = w.b
    ws, stride, pad = params[:3]

    def rows(start, stop, full, tag):
        with w.loop(stop, tag, start=start) as zr:
            row0 = b.sub(b.mul(zr, i64(stride[0])), i64(pad[0]))
            if full:            # the window's rows inside the plane: interior columns unchecked
                columns(zr, row0, i64(0), ja, True, tag + "e0")
                columns(zr, row0, ja, jb, False, tag + "c")
                columns(zr, row0, jb, z1, True, tag + "e1")
            else:
                columns(zr, row0, i64(0), z1, True, tag + "e")
    ra, rb = _interior(b, o0, z0, ws[0], stride[0], pad[0])       # rows whose windows lie inside
    rows(i64(0), ra, False, name + ".r0")
    rows(ra, rb, True, name + ".zr")
    rows(rb, z0, False, name + ".r1")


class _Epilogue:
    """conv.py's hook for conv_pool: ``captured`` (values the worker needs,
    by name) and ``emit`` (pools the chunk buffer's planes)."""

    def __init__(self, op, params, dtype, values):
        self.op, self.params, self.dtype = op, params, dtype
        self.captured = values
        self.where, self.activation = op.attrs["bias"], op.attrs["activation"]

    def emit(self, w, g, e, p, buf, ld, n0, count, grp):
        """Items n0 .. n0+count of group ``grp``: the chunk buffer ``buf``
        (row r = the group's output channel r, item j at column j*P) pooled
        into z (``p["out"]``) and the mask. ``g``: the worker's geometry,
        ``e``: the worker's copies of ``captured`` (and conv's extras)."""
        b = w.b
        ws, stride, pad, _ = self.params
        t = LLTYPE[self.dtype]
        z0, z1 = e["cp_z0"], e["cp_z1"]
        zplane = b.mul(z0, z1)
        act = None
        if self.activation != "identity":
            name, extra = ACTIVATION_OPS[self.activation]
            act = (SCALAR[name], ScalarCtx(w, self.op, self.dtype, self.dtype),
                   [lir.Constant(t, float(c)) for c in extra])
        ja, jb = _interior(b, g.o1, z1, ws[1], stride[1], pad[1])
        with w.loop(count, "cp.j") as j:
            with w.loop(g.ocg, "cp.r") as r:
                ch = b.add(b.mul(grp, g.ocg), r)
                src = b.gep(buf, [b.add(b.mul(r, ld), b.mul(j, g.P))])
                zoff = b.mul(b.add(b.mul(b.add(n0, j), g.oc), ch), zplane)
                zp, mp = b.gep(p["out"], [zoff]), b.gep(e["cp_mask"], [zoff])
                bv = None
                if self.where != "none":
                    bv = b.load(b.gep(e["cp_bias"], [b.mul(ch, e["cp_bstride"])]))
                self._plane(w, src, g.o0, g.o1, zp, mp, z0, z1, ja, jb, bv, act, t)

    def _plane(self, w, src, o0, o1, zp, mp, z0, z1, ja, jb, bv, act, t):
        b = w.b
        ws, stride, pad, _ = self.params

        def columns(zr, row0, start, stop, checked, name):
            zrow, mrow = b.gep(zp, [b.mul(zr, z1)]), b.gep(mp, [b.mul(zr, z1)])
            with w.loop(stop, name, start=start) as zc:
                col0 = b.sub(b.mul(zc, i64(stride[1])), i64(pad[1]))
                elems = _window_loads(b, src, row0, col0, o0, o1, ws, checked, t)
                if self.where == "before":
                    elems = [(b.fadd(v, bv), inside) for v, inside in elems]
                m = _fill(self.dtype, "max")
                for v, _ in elems:
                    m = _max(b, self.dtype, v, m)
                bits = lir.Constant(I8, 0)
                for i, (v, inside) in enumerate(elems):
                    hit = b.fcmp_ordered("==", v, m)
                    if inside is not None:
                        hit = b.and_(hit, inside)
                    bits = b.or_(bits, b.shl(b.zext(hit, I8), lir.Constant(I8, i)))
                b.store(bits, b.gep(mrow, [zc]))
                b.store(m, b.gep(zrow, [zc]))

        _walk_plane(w, o0, z0, z1, ja, jb, self.params, columns, "cp")
        if self.where == "after" or act is not None:
            # the plane's maxima are contiguous: bias and activation in one loop LLVM vectorizes
            # (the activation's emitter is straight-line code)
            with w.loop(b.mul(z0, z1), "cp.act") as i:
                at = b.gep(zp, [i])
                m = b.load(at)
                if self.where == "after":
                    m = b.fadd(m, bv)
                if act is not None:
                    m = act[0](act[1], [m] + act[2])
                b.store(m, at)


def lower_conv_pool(ctx, op, bufs):
    x, w = bufs[:2]
    w = contiguous(ctx, w, "cp.w")
    xdims, wdims = conv._dims(ctx, x, op.operands[0]), conv._dims(ctx, w, op.operands[1])
    geo, outs = conv._geometry(ctx, op, xdims, wdims, x.strides)
    params = conv_pool_params(op.attrs, op.name)
    b = ctx.b
    zdims = static_dims(ctx, [geo.n, geo.oc] + _pooled_dims(ctx, outs, params), op.results[0].type.shape)
    mask = ctx.alloc("uint8", zdims, name="conv_pool.mask")
    values = {"cp_mask": mask.ptr, "cp_z0": zdims[2], "cp_z1": zdims[3]}
    if op.attrs["bias"] != "none":           # out_channels entries or one (SHAPE_MISMATCH else, as the add)
        bias = contiguous(ctx, bufs[2], "cp.b")
        nb = conv._dims(ctx, bias, op.operands[2])[0]
        one = b.icmp_signed("==", nb, i64(1))
        ctx.check(b.or_(one, b.icmp_signed("==", nb, geo.oc)), SHAPE_MISMATCH, [i64(1), nb, geo.oc, i64(2)])
        values.update(cp_bias=bias.ptr, cp_bstride=b.select(one, i64(0), i64(1)))
    ep = _Epilogue(op, params, op.results[0].type.dtype, values)
    [z] = conv._lower(ctx, op, "fwd", x.ptr, w.ptr, None, geo, outs, zdims, epilogue=ep)
    return [z, mask]


def lower_pool_grad_mask(ctx, op, bufs):
    mask, gz, x, w = bufs
    mask, gz = contiguous(ctx, mask, "pgm.mask"), contiguous(ctx, gz, "pgm.gz")
    xdims, wdims = conv._dims(ctx, x, op.operands[2]), conv._dims(ctx, w, op.operands[3])
    geo, outs = conv._geometry(ctx, op, xdims, wdims, x.strides)
    params = conv_pool_params(op.attrs, op.name)
    ws, stride, pad, _ = params
    zd = _pooled_dims(ctx, outs, params)
    want = [geo.n, geo.oc] + zd
    _check_dims(ctx, mask.view(shape=conv._dims(ctx, mask, op.operands[0])), want, 0)
    _check_dims(ctx, gz.view(shape=conv._dims(ctx, gz, op.operands[1])), want, 1)
    dtype = op.results[0].type.dtype
    gdims = static_dims(ctx, [geo.n, geo.oc] + outs, op.results[0].type.shape)
    gx = ctx.alloc(dtype, gdims, name="pool_grad_mask")
    planes = ctx.mul(geo.n, geo.oc)
    o0, o1, z0, z1 = gdims[2], gdims[3], zd[0], zd[1]
    zero = lir.Constant(LLTYPE[dtype], 0.0)
    overlap = stride[0] < ws[0] or stride[1] < ws[1]       # an element may sit in several windows

    def emit(wc, begin, end, part, inner):
        wb = wc.b
        io0, io1, iz0, iz1 = (inner(v) for v in (o0, o1, z0, z1))
        isz, zsz = wb.mul(io0, io1), wb.mul(iz0, iz1)
        ja, jb = _interior(wb, io1, iz1, ws[1], stride[1], pad[1])     # columns whose windows lie inside
        with wc.loop(end, "pgm.p", start=begin) as pl:
            dst = wb.gep(inner(gx.ptr), [wb.mul(pl, isz)])
            mp = wb.gep(inner(mask.ptr), [wb.mul(pl, zsz)])
            gp = wb.gep(inner(gz.ptr), [wb.mul(pl, zsz)])
            conv._zero(wc, dst, isz)

            def columns(zr, row0, start, stop, checked, name):
                with wc.loop(stop, name, start=start) as zc:
                    col0 = wb.sub(wb.mul(zc, i64(stride[1])), i64(pad[1]))
                    at = wb.add(wb.mul(zr, iz1), zc)
                    bits = wb.load(wb.gep(mp, [at]))
                    g = wb.load(wb.gep(gp, [at]))
                    for a in range(ws[0]):
                        r = wb.add(row0, i64(a))
                        for c in range(ws[1]):
                            col = wb.add(col0, i64(c))
                            hit = wb.icmp_unsigned("!=", wb.and_(bits, lir.Constant(I8, 1 << (a * ws[1] + c))),
                                                   lir.Constant(I8, 0))
                            v = wb.select(hit, g, zero)
                            pd = wb.gep(dst, [wb.add(wb.mul(r, io1), col)])
                            if checked:         # bits are never set outside the plane; the address must stay in it
                                inside = wb.and_(wb.icmp_unsigned("<", r, io0), wb.icmp_unsigned("<", col, io1))
                                with wb.if_then(inside):
                                    wb.store(wb.fadd(wb.load(pd), v), pd)
                            elif overlap:
                                wb.store(wb.fadd(wb.load(pd), v), pd)
                            else:               # each element in one window: stored, not added
                                wb.store(v, pd)

            _walk_plane(wc, io0, iz0, iz1, ja, jb, params, columns, "pgm")

    captured = [gx.ptr, mask.ptr, gz.ptr, o0, o1, z0, z1]
    worker, data = outline(ctx, "pool_grad_mask", captured, emit)
    parallel_for(ctx, worker, data, planes, ctx.mul(planes, ctx.mul(o0, o1)),
                 (op.attrs.get("parallel", PARALLEL_ELEMENTS), op.attrs.get("threads", 0)))
    return [gx]


LOWERINGS = {"conv_pool": lower_conv_pool, "pool_grad_mask": lower_pool_grad_mask}
