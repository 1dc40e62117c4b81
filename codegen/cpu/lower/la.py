"""Dense linear algebra (``ir/ops/la.py``), the factorizations that solve
systems: cholesky, solve_triangular, solve, matrix_inverse, det -- native
kernels, no LAPACK, so AOT objects stay self-contained. The spectral
decompositions (eigh, qr, svd, pinv) are in ``la_spectral.py``, the general
eigensolver (eig) in ``la_eig.py``; both use this module's kernel builder
(``_K``) and per-matrix helpers (``_copy_matrix``, ``_batched``, ``_copy_out``).

Each op copies, per batch element, its (strided) matrix operand into a
C-contiguous n x n work matrix (``cholesky``: straight into its result) and
its right-hand side into the C-contiguous result, then calls one of the
module-internal kernels below (one per dtype; all matrices C-contiguous,
row-major), which return 0 or a 1-based failing index that the op turns
into LINALG_NOT_PD / LINALG_SINGULAR:

    i64 theon.la.potrf.<dt>(i64 n, T* a, T* col)   right-looking Cholesky, in place
    i64 theon.la.getrf.<dt>(i64 n, T* a, i64* piv)  LU, partial pivoting, in place
    void theon.la.laswp.<dt>(i64 n, i64 m, T* b, i64* piv)  b's rows in pivot order
    i64 theon.la.trsm.<dt>.<LTU>(i64 n, i64 m, T* a, T* b)  op(a) x = b, x over b

The updates are row operations on unit-stride rows (``row_i -= s * row_k``),
which LLVM's loop vectorizer turns into vector FMAs: potrf keeps the
current column in ``col`` so that the trailing update
``a[i, j+1:i+1] -= l_ij * col[j+1:i+1]`` reads only unit-stride memory.
"""
import llvmlite.ir as lir

from ...errors import LINALG_NOT_PD, LINALG_SHAPE, LINALG_SINGULAR
from ...llvm_util import counted_loop, smin
from . import linalg as gemm_lib
from .context import F32, F64, I64, LLTYPE, i64

NB = 64         # columns per block of the blocked Cholesky
_FT = {"float32": F32, "float64": F64}


class _K:
    """Builder for one kernel function."""

    def __init__(self, module, name, ret, args):
        self.fn = lir.Function(module, lir.FunctionType(ret, args), name=name)
        self.fn.linkage = "internal"
        self.b = lir.IRBuilder(self.fn.append_basic_block("entry"))
        self.module = module

    def loop(self, stop, name, start=None):
        return counted_loop(self.b, stop, name, start)

    def at(self, ptr, *terms):
        b = self.b
        off = terms[0]
        for t in terms[1:]:
            off = b.add(off, t)
        return b.gep(ptr, [off])

    def axpy(self, dst, src, s, start, stop, name):
        """dst[k] -= s * src[k] for k in [start, stop)."""
        b = self.b
        with self.loop(stop, name, start) as lp:
            k = lp.index
            pd = b.gep(dst, [k])
            b.store(b.fsub(b.load(pd), b.fmul(s, b.load(b.gep(src, [k])))), pd)

    def fail_if(self, bad, value):
        """Return ``value`` (i64) from the kernel when the i1 ``bad`` holds."""
        b = self.b
        fail = self.fn.append_basic_block("fail")
        ok = self.fn.append_basic_block("ok")
        b.cbranch(bad, fail, ok)
        b.position_at_end(fail)
        b.ret(value)
        b.position_at_end(ok)


def _kernel(module, name, build):
    if name in module.globals:
        return module.globals[name]
    return build(name)


def _sqrt(module, ft):
    name = "llvm.sqrt.f64" if ft == F64 else "llvm.sqrt.f32"
    if name in module.globals:
        return module.globals[name]
    return lir.Function(module, lir.FunctionType(ft, [ft]), name=name)


def _fabs(module, ft):
    name = "llvm.fabs.f64" if ft == F64 else "llvm.fabs.f32"
    if name in module.globals:
        return module.globals[name]
    return lir.Function(module, lir.FunctionType(ft, [ft]), name=name)


def potrf(module, dtype):
    """i64 potrf(n, a, lda, col): the lower Cholesky factor of the n x n
    matrix at a (row stride lda) over its lower triangle (the upper one is
    left as it was); 0, or 1 + the order of the failing pivot."""
    ft = _FT[dtype]
    tp = ft.as_pointer()

    def build(name):
        k = _K(module, name, I64, [I64, tp, I64, tp])
        b = k.b
        n, a, lda, col = k.fn.args
        zero = lir.Constant(ft, 0.0)
        with k.loop(n, "j") as lj:
            j = lj.index
            j1 = b.add(j, i64(1))
            jn = b.mul(j, lda)
            d = b.load(k.at(a, jn, j))
            k.fail_if(b.not_(b.fcmp_ordered(">", d, zero)), j1)
            ljj = b.call(_sqrt(module, ft), [d])
            b.store(ljj, k.at(a, jn, j))
            with k.loop(n, "ci", j1) as li:
                p = k.at(a, b.mul(li.index, lda), j)
                v = b.fdiv(b.load(p), ljj)
                b.store(v, p)
                b.store(v, b.gep(col, [li.index]))
            with k.loop(n, "ui", j1) as li:
                i = li.index
                row = b.gep(a, [b.mul(i, lda)])
                k.axpy(row, col, b.load(b.gep(col, [i])), j1, b.add(i, i64(1)), "uk")
        b.ret(i64(0))
        return k.fn
    return _kernel(module, f"theon.la.potrf.{dtype}", build)


def panel(module, dtype):
    """void panel(m, kb, l11, a21, ld): a21 (m x kb) := a21 L11^-T, L11
    the kb x kb lower factor at l11 (both with row stride ld)."""
    ft = _FT[dtype]
    tp = ft.as_pointer()

    def build(name):
        k = _K(module, name, lir.VoidType(), [I64, I64, tp, tp, I64])
        b = k.b
        m, kb, l11, a21, ld = k.fn.args
        with k.loop(m, "pr") as lr:
            row = b.gep(a21, [b.mul(lr.index, ld)])
            with k.loop(kb, "pj") as lj:
                j = lj.index
                lrow = b.gep(l11, [b.mul(j, ld)])
                with counted_loop(b, j, "pl", carried=(b.load(b.gep(row, [j])),)) as ll:
                    ll.next = [b.fsub(ll.carried[0], b.fmul(b.load(b.gep(row, [ll.index])),
                                                            b.load(b.gep(lrow, [ll.index]))))]
                b.store(b.fdiv(ll.carried[0], b.load(b.gep(lrow, [j]))), b.gep(row, [j]))
        b.ret_void()
        return k.fn
    return _kernel(module, f"theon.la.panel.{dtype}", build)


def getrf(module, dtype):
    ft = _FT[dtype]
    tp = ft.as_pointer()

    def build(name):
        k = _K(module, name, I64, [I64, tp, I64.as_pointer()])
        b = k.b
        n, a, piv = k.fn.args
        zero = lir.Constant(ft, 0.0)
        fabs = _fabs(module, ft)
        info = b.alloca(I64, name="info")
        b.store(i64(0), info)
        with k.loop(n, "j") as lj:
            j = lj.index
            j1 = b.add(j, i64(1))
            # pivot: the first largest |a[i, j]|, i >= j
            with counted_loop(b, n, "pi", j1, carried=(j, b.call(fabs, [b.load(k.at(a, b.mul(j, n), j))]))) as lp:
                bi, bv = lp.carried
                v = b.call(fabs, [b.load(k.at(a, b.mul(lp.index, n), j))])
                more = b.fcmp_ordered(">", v, bv)
                lp.next = [b.select(more, lp.index, bi), b.select(more, v, bv)]
            p = lp.carried[0]
            b.store(p, b.gep(piv, [j]))
            with b.if_then(b.icmp_signed("!=", p, j)):
                rj, rp = b.gep(a, [b.mul(j, n)]), b.gep(a, [b.mul(p, n)])
                with k.loop(n, "sw") as ls:
                    x, y = b.gep(rj, [ls.index]), b.gep(rp, [ls.index])
                    vx, vy = b.load(x), b.load(y)
                    b.store(vy, x)
                    b.store(vx, y)
            rowj = b.gep(a, [b.mul(j, n)])
            d = b.load(b.gep(rowj, [j]))
            with b.if_else(b.fcmp_ordered("==", d, zero)) as (singular, regular):
                with singular:
                    with b.if_then(b.icmp_signed("==", b.load(info), i64(0))):
                        b.store(j1, info)
                with regular:
                    with k.loop(n, "ei", j1) as li:
                        row = b.gep(a, [b.mul(li.index, n)])
                        pl = b.gep(row, [j])
                        s = b.fdiv(b.load(pl), d)
                        b.store(s, pl)
                        k.axpy(row, rowj, s, j1, n, "ek")
        b.ret(b.load(info))
        return k.fn
    return _kernel(module, f"theon.la.getrf.{dtype}", build)


def laswp(module, dtype):
    ft = _FT[dtype]
    tp = ft.as_pointer()

    def build(name):
        k = _K(module, name, lir.VoidType(), [I64, I64, tp, I64.as_pointer()])
        b = k.b
        n, m, bm, piv = k.fn.args
        with k.loop(n, "j") as lj:
            j = lj.index
            p = b.load(b.gep(piv, [j]))
            with b.if_then(b.icmp_signed("!=", p, j)):
                rj, rp = b.gep(bm, [b.mul(j, m)]), b.gep(bm, [b.mul(p, m)])
                with k.loop(m, "sw") as ls:
                    x, y = b.gep(rj, [ls.index]), b.gep(rp, [ls.index])
                    vx, vy = b.load(x), b.load(y)
                    b.store(vy, x)
                    b.store(vx, y)
        b.ret_void()
        return k.fn
    return _kernel(module, f"theon.la.laswp.{dtype}", build)


def trsm(module, dtype, lower, trans, unit):
    """op(a) x = b in place over b (n x m); returns 1 + the index of the
    first zero diagonal element (0: none)."""
    ft = _FT[dtype]
    tp = ft.as_pointer()
    forward = lower != trans            # op(a) is lower triangular

    def build(name):
        k = _K(module, name, I64, [I64, I64, tp, tp])
        b = k.b
        n, m, a, bm = k.fn.args
        zero = lir.Constant(ft, 0.0)

        def op_a(i, c):                 # op(a)[i, c]
            return b.load(k.at(a, b.mul(c, n), i) if trans else k.at(a, b.mul(i, n), c))
        if not unit:
            with k.loop(n, "dz") as ld:
                k.fail_if(b.fcmp_ordered("==", b.load(k.at(a, b.mul(ld.index, n), ld.index)), zero),
                          b.add(ld.index, i64(1)))
        with k.loop(n, "ti") as lt:
            i = lt.index if forward else b.sub(b.sub(n, i64(1)), lt.index)
            row = b.gep(bm, [b.mul(i, m)])
            lo, hi = (i64(0), i) if forward else (b.add(i, i64(1)), n)
            with k.loop(hi, "tk", lo) as lk:
                s = op_a(i, lk.index)
                k.axpy(row, b.gep(bm, [b.mul(lk.index, m)]), s, i64(0), m, "tm")
            if not unit:
                d = op_a(i, i)
                with k.loop(m, "td") as lm:
                    p = b.gep(row, [lm.index])
                    b.store(b.fdiv(b.load(p), d), p)
        b.ret(i64(0))
        return k.fn
    flags = "".join("1" if f else "0" for f in (lower, trans, unit))
    return _kernel(module, f"theon.la.trsm.{dtype}.{flags}", build)


# --- the op lowerings ------------------------------------------------------------------------
def _check_square(ctx, a, operand=0):
    n = a.shape[-1]
    ctx.check(ctx.b.icmp_signed("==", a.shape[-2], n), LINALG_SHAPE, [i64(operand), i64(a.ndim - 2), a.shape[-2], n])
    return n


def _check_rhs(ctx, a, bb):
    b = ctx.b
    for d in range(a.ndim - 1):
        ctx.check(b.icmp_signed("==", bb.shape[d], a.shape[d]), LINALG_SHAPE, [i64(1), i64(d), bb.shape[d], a.shape[d]])


def _copy_matrix(ctx, src, idx, dst, rows, cols):
    """The (rows x cols) matrix of strided ``src`` at batch index idx into
    C-contiguous ``dst`` (a pointer)."""
    b = ctx.b
    base = ctx.elem_ptr(src, list(idx) + [i64(0), i64(0)])
    sr, sc = src.strides[-2], src.strides[-1]
    with counted_loop(b, rows, "cpr") as lr:
        r = lr.index
        srow = b.gep(base, [b.mul(r, sr)])
        drow = b.gep(dst, [b.mul(r, cols)])
        with counted_loop(b, cols, "cpc") as lc:
            b.store(b.load(b.gep(srow, [b.mul(lc.index, sc)])), b.gep(drow, [lc.index]))


def _shapes_only(ctx):
    """Whether ``ctx`` lowers an AOT shape function (``runtime/aot/shapes.py``,
    named ``<entry>__shapes``): it has the inputs' dims but not their data,
    so the ops check shapes and allocate their results but factor nothing
    (a factorization of unread memory could fail its data checks)."""
    return ctx.fn.name.endswith("__shapes")


def _batched(ctx, op, a, tail, name):
    """The result Buf of a per-matrix op: a's batch dims + ``tail``, and
    whether to compute it (not in an AOT shape function)."""
    out = ctx.alloc(op.results[0].dtype, list(a.shape[:-2]) + list(tail), name=name)
    return out, not _shapes_only(ctx)


def _copy_out(ctx, out, idx, src, count, name):
    """``count`` contiguous elements at ``src`` into ``out``'s C-contiguous
    entry at batch index idx."""
    b = ctx.b
    dst = ctx.elem_ptr(out, list(idx) + [i64(0)] * (len(out.shape) - len(idx)))
    with counted_loop(b, count, name) as lc:
        b.store(b.load(b.gep(src, [lc.index])), b.gep(dst, [lc.index]))


def _batch_index(ctx, dims, idx):
    b = ctx.b
    lin = i64(0)
    for d, i in zip(dims, idx):
        lin = b.add(b.mul(lin, d), i)
    return lin


def lower_cholesky(ctx, op, bufs):
    """Blocked right-looking Cholesky per batch element, NB columns at a
    time: potrf of the diagonal block, the panel below it solved against
    it (``panel``), then the trailing matrix less the panel times its
    transpose -- that product on the GEMM kernel (``linalg.emit_gemm``,
    packed and threaded) into a scratch matrix, subtracted over the lower
    triangle. Finally the upper triangle is zeroed."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    batch = list(a.shape[:-2])
    out = ctx.alloc(dtype, batch + [n, n], name="chol")
    if _shapes_only(ctx):
        return [out]
    col = ctx.alloc(dtype, [n], name="chol.col")
    s = gemm_lib.DEFAULT_SCHEDULE
    nb = i64(NB)
    parts = gemm_lib._plan_parts(ctx, n, n, nb, s)
    pack_a, pack_b = gemm_lib._pack_buffers(ctx, dtype, n, n, nb, parts, s)
    tmp = ctx.alloc(dtype, [n, n], name="chol.syrk")
    gemm = gemm_lib.emit_gemm(ctx.module, dtype, s)
    fn, pan = potrf(ctx.module, dtype), panel(ctx.module, dtype)
    ft = LLTYPE[dtype]
    zero = lir.Constant(ft, 0.0)
    with ctx.loop_nest(batch, "chol.batch") as idx:
        dst = ctx.elem_ptr(out, list(idx) + [i64(0), i64(0)])
        _copy_matrix(ctx, a, idx, dst, n, n)
        with counted_loop(b, n, "chol.k", step=NB) as lk:
            k0 = lk.index
            kb = smin(b, nb, b.sub(n, k0))
            diag = b.gep(dst, [b.add(b.mul(k0, n), k0)])
            info = b.call(fn, [kb, diag, n, col.ptr])
            ctx.check(b.icmp_signed("==", info, i64(0)), LINALG_NOT_PD,
                      [_batch_index(ctx, batch, idx), b.add(info, k0)])
            r0 = b.add(k0, kb)
            m = b.sub(n, r0)
            with b.if_then(b.icmp_signed(">", m, i64(0))):
                l21 = b.gep(dst, [b.add(b.mul(r0, n), k0)])
                b.call(pan, [m, kb, diag, l21, n])
                with counted_loop(b, b.mul(m, m), "chol.z") as lz:
                    b.store(zero, b.gep(tmp.ptr, [lz.index]))
                b.call(gemm, [m, m, kb, l21, n, i64(1), l21, i64(1), n, tmp.ptr, m, pack_a, pack_b, parts])
                with counted_loop(b, m, "chol.ui") as li:
                    row = b.gep(dst, [b.add(b.mul(b.add(r0, li.index), n), r0)])
                    trow = b.gep(tmp.ptr, [b.mul(li.index, m)])
                    with counted_loop(b, b.add(li.index, i64(1)), "chol.uj") as lj:
                        p = b.gep(row, [lj.index])
                        b.store(b.fsub(b.load(p), b.load(b.gep(trow, [lj.index]))), p)
        with counted_loop(b, n, "chol.zi") as li:         # zero above the diagonal
            row = b.gep(dst, [b.mul(li.index, n)])
            with counted_loop(b, n, "chol.zk", b.add(li.index, i64(1))) as lz:
                b.store(zero, b.gep(row, [lz.index]))
    return [out]


def _solve_common(ctx, op, a, rhs, identity):
    """x = a^-1 rhs (rhs: a Buf, or None with ``identity``: the inverse)."""
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    if rhs is not None:
        _check_rhs(ctx, a, rhs)
    batch = list(a.shape[:-2])
    m = n if identity else rhs.shape[-1]
    out = ctx.alloc(dtype, batch + [n, m], name="solve")
    if _shapes_only(ctx):
        return [out]
    work = ctx.alloc(dtype, [n, n], name="solve.lu")
    piv = ctx.alloc("int64", [n], name="solve.piv")
    lu, swp = getrf(ctx.module, dtype), laswp(ctx.module, dtype)
    lo, up = trsm(ctx.module, dtype, True, False, True), trsm(ctx.module, dtype, False, False, False)
    ft = LLTYPE[dtype]
    with ctx.loop_nest(batch, "solve.batch") as idx:
        dst = ctx.elem_ptr(out, list(idx) + [i64(0), i64(0)])
        _copy_matrix(ctx, a, idx, work.ptr, n, n)
        if identity:
            with counted_loop(b, n, "eye.r") as lr:
                with counted_loop(b, n, "eye.c") as lc:
                    one = b.select(b.icmp_signed("==", lr.index, lc.index), lir.Constant(ft, 1.0), lir.Constant(ft, 0.0))
                    b.store(one, b.gep(dst, [b.add(b.mul(lr.index, n), lc.index)]))
        else:
            _copy_matrix(ctx, rhs, idx, dst, n, m)
        info = b.call(lu, [n, work.ptr, piv.ptr])
        ctx.check(b.icmp_signed("==", info, i64(0)), LINALG_SINGULAR,
                  [_batch_index(ctx, batch, idx), b.sub(info, i64(1))])
        b.call(swp, [n, m, dst, piv.ptr])
        b.call(lo, [n, m, work.ptr, dst])
        b.call(up, [n, m, work.ptr, dst])
    return [out]


def lower_solve(ctx, op, bufs):
    return _solve_common(ctx, op, bufs[0], bufs[1], False)


def lower_matrix_inverse(ctx, op, bufs):
    return _solve_common(ctx, op, bufs[0], None, True)


def lower_solve_triangular(ctx, op, bufs):
    a, rhs = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    _check_rhs(ctx, a, rhs)
    batch = list(a.shape[:-2])
    m = rhs.shape[-1]
    out = ctx.alloc(dtype, batch + [n, m], name="trsm")
    if _shapes_only(ctx):
        return [out]
    work = ctx.alloc(dtype, [n, n], name="trsm.a")
    fn = trsm(ctx.module, dtype, *(bool(op.attrs[k]) for k in ("lower", "trans", "unit_diagonal")))
    with ctx.loop_nest(batch, "trsm.batch") as idx:
        dst = ctx.elem_ptr(out, list(idx) + [i64(0), i64(0)])
        _copy_matrix(ctx, a, idx, work.ptr, n, n)
        _copy_matrix(ctx, rhs, idx, dst, n, m)
        info = b.call(fn, [n, m, work.ptr, dst])
        ctx.check(b.icmp_signed("==", info, i64(0)), LINALG_SINGULAR,
                  [_batch_index(ctx, batch, idx), b.sub(info, i64(1))])
    return [out]


def lower_det(ctx, op, bufs):
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    ft = LLTYPE[dtype]
    n = _check_square(ctx, a)
    batch = list(a.shape[:-2])
    out = ctx.alloc(dtype, batch, name="det")
    if _shapes_only(ctx):
        return [out]
    work = ctx.alloc(dtype, [n, n], name="det.lu")
    piv = ctx.alloc("int64", [n], name="det.piv")
    lu = getrf(ctx.module, dtype)
    with ctx.loop_nest(batch, "det.batch") as idx:
        _copy_matrix(ctx, a, idx, work.ptr, n, n)
        b.call(lu, [n, work.ptr, piv.ptr])
        with counted_loop(b, n, "det.j", carried=(lir.Constant(ft, 1.0),)) as lp:
            j = lp.index
            d = b.load(b.gep(work.ptr, [b.add(b.mul(j, n), j)]))
            swapped = b.icmp_signed("!=", b.load(b.gep(piv.ptr, [j])), j)
            lp.next = [b.select(swapped, b.fneg(b.fmul(lp.carried[0], d)), b.fmul(lp.carried[0], d))]
        b.store(lp.carried[0], ctx.elem_ptr(out, list(idx)))
    return [out]


LOWERINGS = {"cholesky": lower_cholesky, "solve_triangular": lower_solve_triangular, "solve": lower_solve,
             "matrix_inverse": lower_matrix_inverse, "det": lower_det}
