"""CPU lowering of ``pool`` and ``pool_grad`` (``ir/ops/pool.py``).

Leading dims are flattened into images, which run in slices on the thread
pool (each image's output is written by one thread). Within an image the
outer pooled dims loop over output windows and the input lines (rows, or
depth x rows) each window covers; along the last pooled dim every line is
combined with the window's output row. The columns whose windows lie wholly
inside the image ("interior": ``[jA, jB)``) take the window's offsets as
compile-time constants, one loop per offset over the output columns

    out[j] = max(out[j], line[j * stride + k - pad])        (k = 0 .. ws-1)

with no bounds tests, which LLVM vectorizes (strided loads); the few edge
columns (padding, partial windows) loop over their clipped windows.
Averages divide each output by its window's count at the end of the row.

``pool_grad`` walks the same windows: ``max`` adds ``gz[j]`` where the
input equals the window's maximum ``z[j]`` (ties all receive it, Theano's
rule), the other modes add ``gz[j]`` (divided by the count). The result
starts as zeros; overlapping windows accumulate.

Checks before any thread runs: with ``ignore_border`` a window larger
than a padded run-time dim (``POOL_WINDOW``); ``z`` and ``gz`` fitting
``x``'s pooling (``SHAPE_MISMATCH``).
"""
import llvmlite.ir as lir

from ....ir.ops.pool import pool_params
from ...errors import NEIBS_COVER, POOL_WINDOW, SHAPE_MISMATCH
from .context import LLTYPE, i64
from .parallel import outline, parallel_for
from .views import contiguous, static_dims
from ...llvm_util import smax, smin
from ...poolwin import add as _addv, fill as _fill, is_float as _is_float, max_ as _max, window as _window

PARALLEL_ELEMENTS = 32768      # threads from this many input elements (op attributes override)


# --- sizes (i64 values, folded when constant) -------------------------------------------------------
def _c(v):
    return int(v.constant) if isinstance(v, lir.Constant) else None


def _add(b, a, c):
    if _c(a) is not None and _c(c) is not None:
        return i64(_c(a) + _c(c))
    return b.add(a, c)


def _sub(b, a, c):
    if _c(a) is not None and _c(c) is not None:
        return i64(_c(a) - _c(c))
    return b.sub(a, c)


def _mul(b, a, c):
    if _c(a) is not None and _c(c) is not None:
        return i64(_c(a) * _c(c))
    return b.mul(a, c)


def _fdiv(b, a, c):
    """Floor division of a by a positive constant c."""
    if _c(a) is not None:
        return i64(_c(a) // c)
    q = b.sdiv(a, i64(c))
    neg = b.icmp_signed("<", b.srem(a, i64(c)), i64(0))
    return b.sub(q, b.zext(neg, a.type))


def _smax(b, a, c):
    if _c(a) is not None and _c(c) is not None:
        return i64(max(_c(a), _c(c)))
    return smax(b, a, c)


def _smin(b, a, c):
    if _c(a) is not None and _c(c) is not None:
        return i64(min(_c(a), _c(c)))
    return smin(b, a, c)


def out_dim(b, n, ws, stride, pad, ignore_border):
    """The output count along a pooled dim of ``n`` (i64) elements
    (``ir/ops/pool.out_size``: none for n = 0; the ignore_border check
    comes first)."""
    r = _add(b, n, i64(2 * pad))
    if ignore_border:
        m = _add(b, _fdiv(b, _sub(b, r, i64(ws)), stride), i64(1))
    elif stride >= ws:
        m = _add(b, _fdiv(b, _sub(b, r, i64(1)), stride), i64(1))
    else:
        m = _add(b, _smax(b, _fdiv(b, _sub(b, r, i64(1 + ws - stride)), stride), i64(0)), i64(1))
    if _c(n) is not None:
        return i64(0) if _c(n) == 0 else m
    return b.select(b.icmp_signed("==", n, i64(0)), i64(0), m)


def _interior(b, n, m, ws, stride, pad):
    """[jA, jB): the outputs whose windows lie inside the image (no padding,
    no partial window) along a dim of ``n`` elements and ``m`` outputs."""
    ja = _smin(b, i64(-(-pad // stride)), m)
    top = _sub(b, _add(b, n, i64(pad)), i64(ws))         # j * stride <= n + pad - ws
    jb = _add(b, _fdiv(b, top, stride), i64(1))
    if _c(top) is not None:
        jb = i64(max(_c(jb), 0))
    else:
        jb = b.select(b.icmp_signed("<", top, i64(0)), i64(0), jb)
    return ja, _smax(b, _smin(b, jb, m), ja)


def _to_float(b, v, dtype):
    return b.sitofp(v, LLTYPE[dtype])


# --- the shared walk --------------------------------------------------------------------------------
class _Geometry:
    def __init__(self, b, img, out, params):
        self.ws, self.stride, self.pad, self.ignore_border, self.mode = params
        self.nd = len(self.ws)
        self.img, self.out = img, out          # i64 values (worker copies)
        self.b = b


def _walk_windows(w, g, line_op, row_begin=None, row_end=None):
    """For every window of the outer pooled dims: ``row_begin(zoff, outer_count)``,
    then ``line_op(xoff, zoff, outer_count)`` per input line it covers, then
    ``row_end(zoff, outer_count)``. Offsets (of the output row, of the input
    line) are in elements within one image."""
    b = w.b
    nd = g.nd

    def rec(d, zoff, xwins, count):
        if d == nd - 1:
            row = b.mul(zoff, g.out[nd - 1])
            if row_begin is not None:
                row_begin(row, count)
            lines(0, xwins, i64(0), count, row)
            if row_end is not None:
                row_end(row, count)
            return
        with w.loop(g.out[d], f"pw{d}") as j:
            lo, hi, cnt = _window(b, j, g.img[d], g.ws[d], g.stride[d], g.pad[d], g.mode)
            rec(d + 1, b.add(b.mul(zoff, g.out[d]), j),
                xwins + [(lo, hi)], b.mul(count, cnt))

    def lines(d, xwins, xoff, count, zoff):
        if d == nd - 1:
            line_op(b.mul(xoff, g.img[nd - 1]), zoff, count)
            return
        lo, hi = xwins[d]
        with w.loop(hi, f"pr{d}", start=lo) as r:
            lines(d + 1, xwins, b.add(b.mul(xoff, g.img[d]), r) if d else r, count, zoff)

    if nd == 1:
        raise ValueError("pool: at least 2 pooled dims")
    rec(0, i64(0), [], i64(1))


def _columns(w, g, per_elem):
    """Along the last pooled dim: ``per_elem(j, c, count_j)`` for every output
    column j and input column c of its window (count_j: the column count the
    average divides by; the interior's is ws)."""
    b = w.b
    n, m = g.img[-1], g.out[-1]
    ws, stride, pad = g.ws[-1], g.stride[-1], g.pad[-1]
    ja, jb = _interior(b, n, m, ws, stride, pad)

    def edge(start, stop, name):
        with w.loop(stop, name, start=start) as j:
            lo, hi, cnt = _window(b, j, n, ws, stride, pad, g.mode)
            with w.loop(hi, name + "c", start=lo) as c:
                per_elem(j, c, cnt)
    edge(i64(0), ja, "pe0")
    for k in range(ws):
        with w.loop(jb, f"pk{k}", start=ja) as j:
            c = b.add(b.mul(j, i64(stride)), i64(k - pad))
            per_elem(j, c, i64(ws))
    edge(jb, m, "pe1")


# --- lowerings --------------------------------------------------------------------------------------
def _dims(ctx, op, x):
    """(lead dims, image dims, output dims) as i64 values, checked."""
    b = ctx.b
    params = pool_params(op.attrs)
    ws, stride, pad, ignore_border, _ = params
    nd = len(ws)
    lead, img = x.shape[:-nd], x.shape[-nd:]
    out = []
    for k in range(nd):
        n = img[k]
        if ignore_border and _c(n) is None:
            r = b.add(n, i64(2 * pad[k]))
            ok = b.or_(b.icmp_signed(">=", r, i64(ws[k])), b.icmp_signed("==", n, i64(0)))
            ctx.check(ok, POOL_WINDOW,
                      [i64(x.ndim - nd + k), r, i64(ws[k])])
        out.append(out_dim(b, n, ws[k], stride[k], pad[k], ignore_border))
    return lead, img, out, params


def _schedule(op):
    return (op.attrs.get("parallel", PARALLEL_ELEMENTS), op.attrs.get("threads", 0))


def lower_pool(ctx, op, bufs):
    x = contiguous(ctx, bufs[0], "pool.x")
    dtype = x.dtype
    lead, img, out, params = _dims(ctx, op, x)
    mode = params[4]
    dims = static_dims(ctx, list(lead) + out, op.results[0].type.shape)
    z = ctx.alloc(dtype, dims, name="pool")
    out = dims[len(lead):]
    images = ctx.product(lead)
    isize, osize = ctx.product(img), ctx.product(out)
    fill = _fill(dtype, mode)

    def emit(w, begin, end, part, inner):
        wb = w.b
        g = _Geometry(wb, [inner(v) for v in img], [inner(v) for v in out], params)
        xs, zs = inner(isize), inner(osize)
        xbase_p, zbase_p = inner(x.ptr), inner(z.ptr)
        with w.loop(end, "img", start=begin) as i:
            xp = wb.gep(xbase_p, [wb.mul(i, xs)])
            zp = wb.gep(zbase_p, [wb.mul(i, zs)])

            def row_begin(zoff, count):
                with w.loop(g.out[-1], "pz") as j:
                    wb.store(fill, wb.gep(zp, [wb.add(zoff, j)]))

            def line(xoff, zoff, count):
                xl = wb.gep(xp, [xoff])
                zl = wb.gep(zp, [zoff])

                def per_elem(j, c, cnt):
                    a = wb.load(wb.gep(xl, [c]))
                    at = wb.gep(zl, [j])
                    acc = wb.load(at)
                    wb.store(_max(wb, dtype, a, acc) if mode == "max" else _addv(wb, dtype, a, acc), at)
                _columns(w, g, per_elem)

            def row_end(zoff, count):
                if not mode.startswith("average"):
                    return
                zl = wb.gep(zp, [zoff])
                n, m = g.img[-1], g.out[-1]
                with w.loop(m, "pavg") as j:
                    _, _, cnt = _window(wb, j, n, g.ws[-1], g.stride[-1], g.pad[-1], mode)
                    at = wb.gep(zl, [j])
                    wb.store(wb.fdiv(wb.load(at), _to_float(wb, wb.mul(cnt, count), dtype)), at)
            _walk_windows(w, g, line, row_begin, row_end)

    captured = [x.ptr, z.ptr, isize, osize] + list(img) + list(out)
    worker, data = outline(ctx, "pool", captured, emit)
    parallel_for(ctx, worker, data, images, ctx.mul(images, isize), _schedule(op))
    return [z]


def _check_dims(ctx, buf, want, k):
    b = ctx.b
    for axis, (have, exp) in enumerate(zip(buf.shape, want)):
        if _c(have) is not None and _c(exp) is not None:
            continue            # the types agreed
        ctx.check(b.icmp_signed("==", have, exp), SHAPE_MISMATCH, [i64(axis), have, exp, i64(k)])


def lower_pool_grad(ctx, op, bufs):
    x = contiguous(ctx, bufs[0], "poolg.x")
    z = contiguous(ctx, bufs[1], "poolg.z")
    gz = contiguous(ctx, bufs[2], "poolg.gz")
    dtype = x.dtype
    lead, img, out, params = _dims(ctx, op, x)
    mode = params[4]
    extra = gz.shape[:gz.ndim - x.ndim]
    _check_dims(ctx, z, list(lead) + out, 1)
    _check_dims(ctx, gz, list(extra) + list(lead) + out, 2)
    out = z.shape[len(lead):]
    gx = ctx.alloc(dtype, static_dims(ctx, list(extra) + list(x.shape), op.results[0].type.shape),
                   name="pool_grad")
    ximages = ctx.product(lead)
    images = ctx.mul(ctx.product(extra), ximages)
    isize, osize = ctx.product(img), ctx.product(out)
    zero = _fill(dtype, "sum")
    many = len(extra) > 0

    def emit(w, begin, end, part, inner):
        wb = w.b
        g = _Geometry(wb, [inner(v) for v in img], [inner(v) for v in out], params)
        xs, zs = inner(isize), inner(osize)
        xi = inner(ximages)
        with w.loop(end, "img", start=begin) as i:
            xi_idx = wb.urem(i, xi) if many else i
            xp = wb.gep(inner(x.ptr), [wb.mul(xi_idx, xs)])
            zp = wb.gep(inner(z.ptr), [wb.mul(xi_idx, zs)])
            gp = wb.gep(inner(gz.ptr), [wb.mul(i, zs)])
            op_ = wb.gep(inner(gx.ptr), [wb.mul(i, xs)])
            with w.loop(xs, "gx0") as k:
                wb.store(zero, wb.gep(op_, [k]))

            def line(xoff, zoff, count):
                xl, ol = wb.gep(xp, [xoff]), wb.gep(op_, [xoff])
                zl, gl = wb.gep(zp, [zoff]), wb.gep(gp, [zoff])
                fcount = _to_float(wb, count, dtype) if mode.startswith("average") else None

                def per_elem(j, c, cnt):
                    gj = wb.load(wb.gep(gl, [j]))
                    at = wb.gep(ol, [c])
                    if mode == "max":
                        hit = (wb.fcmp_ordered("==", wb.load(wb.gep(xl, [c])), wb.load(wb.gep(zl, [j])))
                               if _is_float(dtype) else
                               wb.icmp_signed("==", wb.load(wb.gep(xl, [c])), wb.load(wb.gep(zl, [j]))))
                        gj = wb.select(hit, gj, zero)
                    elif mode.startswith("average"):
                        gj = wb.fdiv(gj, wb.fmul(fcount, _to_float(wb, cnt, dtype)))
                    wb.store(_addv(wb, dtype, wb.load(at), gj), at)
                _columns(w, g, per_elem)
            _walk_windows(w, g, line)

    captured = [x.ptr, z.ptr, gz.ptr, gx.ptr, isize, osize, ximages] + list(img) + list(out)
    worker, data = outline(ctx, "pool_grad", captured, emit)
    parallel_for(ctx, worker, data, images, ctx.mul(images, isize), _schedule(op))
    return [gx]


def lower_pool_grad_grad(ctx, op, bufs):
    """Per window, the sum of ggx over the elements equal to its maximum z."""
    x = contiguous(ctx, bufs[0], "poolgg.x")
    z = contiguous(ctx, bufs[1], "poolgg.z")
    gg = contiguous(ctx, bufs[2], "poolgg.ggx")
    dtype = x.dtype
    lead, img, out, params = _dims(ctx, op, x)
    extra = gg.shape[:gg.ndim - x.ndim]
    _check_dims(ctx, z, list(lead) + out, 1)
    _check_dims(ctx, gg, list(extra) + list(x.shape), 2)
    out = z.shape[len(lead):]
    res = ctx.alloc(dtype, static_dims(ctx, list(extra) + list(z.shape), op.results[0].type.shape),
                    name="pool_grad_grad")
    ximages = ctx.product(lead)
    images = ctx.mul(ctx.product(extra), ximages)
    isize, osize = ctx.product(img), ctx.product(out)
    zero = _fill(dtype, "sum")
    many = len(extra) > 0

    def emit(w, begin, end, part, inner):
        wb = w.b
        g = _Geometry(wb, [inner(v) for v in img], [inner(v) for v in out], params)
        xs, zs = inner(isize), inner(osize)
        with w.loop(end, "img", start=begin) as i:
            xi = wb.urem(i, inner(ximages)) if many else i
            xp = wb.gep(inner(x.ptr), [wb.mul(xi, xs)])
            zp = wb.gep(inner(z.ptr), [wb.mul(xi, zs)])
            gp = wb.gep(inner(gg.ptr), [wb.mul(i, xs)])
            rp = wb.gep(inner(res.ptr), [wb.mul(i, zs)])

            def row_begin(zoff, count):
                with w.loop(g.out[-1], "pz") as j:
                    wb.store(zero, wb.gep(rp, [wb.add(zoff, j)]))

            def line(xoff, zoff, count):
                xl, gl = wb.gep(xp, [xoff]), wb.gep(gp, [xoff])
                zl, rl = wb.gep(zp, [zoff]), wb.gep(rp, [zoff])

                def per_elem(j, c, cnt):
                    a, m = wb.load(wb.gep(xl, [c])), wb.load(wb.gep(zl, [j]))
                    hit = wb.fcmp_ordered("==", a, m) if _is_float(dtype) else wb.icmp_signed("==", a, m)
                    at = wb.gep(rl, [j])
                    wb.store(_addv(wb, dtype, wb.load(at), wb.select(hit, wb.load(wb.gep(gl, [c])), zero)), at)
                _columns(w, g, per_elem)
            _walk_windows(w, g, line, row_begin)

    captured = [x.ptr, z.ptr, gg.ptr, res.ptr, isize, osize, ximages] + list(img) + list(out)
    worker, data = outline(ctx, "pool_grad_grad", captured, emit)
    parallel_for(ctx, worker, data, images, ctx.mul(images, isize), _schedule(op))
    return [res]


def lower_neibs_check(ctx, op, bufs):
    """x itself (a view), once its last two dims n satisfy n >= h and
    (n - h) % step == 0 (NEIBS_COVER otherwise; static dims were checked by
    the op's infer)."""
    x = bufs[0]
    b = ctx.b
    for k in range(2):
        n, h, s = x.shape[2 + k], op.attrs["neib_shape"][k], op.attrs["neib_step"][k]
        if _c(n) is not None:
            continue
        rest = b.sub(n, i64(h))
        ok = b.and_(b.icmp_signed(">=", rest, i64(0)), b.icmp_signed("==", b.srem(rest, i64(s)), i64(0)))
        ctx.check(ok, NEIBS_COVER, [i64(2 + k), n, i64(h), i64(s)])
    return [x.view()]


LOWERINGS = {"pool": lower_pool, "pool_grad": lower_pool_grad, "pool_grad_grad": lower_pool_grad_grad,
             "neibs_check": lower_neibs_check}
