"""The spectral decompositions of dense linear algebra (``ir/ops/la.py``):
eigh / eigvalsh (cyclic Jacobi), qr (Householder) and svd / pinv
(one-sided Jacobi) -- native kernels, no LAPACK, so AOT objects stay
self-contained. As in ``la.py`` (whose kernel builder and per-matrix
helpers these share), each op copies per batch element its (strided)
matrix into a C-contiguous work matrix and calls one module-internal
kernel per dtype:

    void theon.la.jacobi.<dt>(i64 n, T* a, T* v, T* w)                    symmetric eigen decomposition
    void theon.la.geqrf.<dt>(i64 m, i64 n, T* a, T* v, T* w, T* q)        Householder QR
    void theon.la.gesvj.<dt>(i64 k, i64 r, T* w, T* z, T* s, T* q, i64 nq)  one-sided Jacobi SVD
"""
from functools import partial

import llvmlite.ir as lir

from ...llvm_util import counted_loop, smin
from .context import I64, LLTYPE, i64
from .la import _FT, _K, _batched, _check_square, _copy_matrix, _copy_out, _fabs, _kernel, _sqrt


def _selection_sort(k, n, vals, order, swap):
    """Sort the ``n`` values at ``vals`` in place by selection (``order``
    "<": ascending, ">": descending); ``swap(i, j)`` emits the moves of
    whatever travels with values i and j (eigenvectors, singular vectors)."""
    b = k.b
    with k.loop(n, "si") as li:
        i = li.index
        with counted_loop(b, n, "sm", b.add(i, i64(1)), carried=(i, b.load(b.gep(vals, [i])))) as lm:
            x = b.load(b.gep(vals, [lm.index]))
            better = b.fcmp_ordered(order, x, lm.carried[1])
            lm.next = [b.select(better, lm.index, lm.carried[0]), b.select(better, x, lm.carried[1])]
        best = lm.carried[0]
        with b.if_then(b.icmp_signed("!=", best, i)):
            pi, pb = b.gep(vals, [i]), b.gep(vals, [best])
            vi, vb = b.load(pi), b.load(pb)
            b.store(vb, pi)
            b.store(vi, pb)
            swap(i, best)


def jacobi(module, dtype):
    """void jacobi(n, a, v, w): the eigen decomposition of the symmetric
    n x n matrix a (both triangles filled; destroyed) by cyclic Jacobi
    rotations, sweeps until the off-diagonal mass is below eps^2 times the
    total (at most 100); w := the eigenvalues ascending, v := the
    eigenvectors as columns in that order."""
    ft = _FT[dtype]
    tp = ft.as_pointer()
    eps = 2.220446049250313e-16 if dtype == "float64" else 1.1920929e-07

    def build(name):
        k = _K(module, name, lir.VoidType(), [I64, tp, tp, tp])
        b = k.b
        n, a, v, w = k.fn.args
        zero, one = lir.Constant(ft, 0.0), lir.Constant(ft, 1.0)
        sqrt, fabs = _sqrt(module, ft), _fabs(module, ft)

        def el(m, i, j):
            return b.gep(m, [b.add(b.mul(i, n), j)])
        with k.loop(n, "vi") as li:
            with k.loop(n, "vj") as lj:
                b.store(b.select(b.icmp_signed("==", li.index, lj.index), one, zero), el(v, li.index, lj.index))
        done = k.fn.append_basic_block("jac.done")
        with k.loop(i64(100), "sweep"):
            with counted_loop(b, b.mul(n, n), "fro", carried=(zero, zero)) as lf:
                i = b.sdiv(lf.index, n)
                j = b.srem(lf.index, n)
                x = b.load(b.gep(a, [lf.index]))
                sq = b.fmul(x, x)
                lf.next = [b.fadd(lf.carried[0], sq), b.select(b.icmp_signed("!=", i, j), b.fadd(lf.carried[1], sq),
                                                               lf.carried[1])]
            total, off = lf.carried
            small = b.fcmp_ordered("<=", off, b.fmul(total, lir.Constant(ft, eps * eps)))
            nxt = k.fn.append_basic_block("jac.sweep")
            b.cbranch(small, done, nxt)
            b.position_at_end(nxt)
            with k.loop(n, "p") as lp:
                p = lp.index
                with k.loop(n, "q", b.add(p, i64(1))) as lq:
                    q = lq.index
                    apq = b.load(el(a, p, q))
                    with b.if_then(b.fcmp_unordered("!=", apq, zero)):
                        app, aqq = b.load(el(a, p, p)), b.load(el(a, q, q))
                        theta = b.fdiv(b.fsub(aqq, app), b.fmul(lir.Constant(ft, 2.0), apq))
                        at = b.call(fabs, [theta])
                        t = b.fdiv(one, b.fadd(at, b.call(sqrt, [b.fadd(b.fmul(theta, theta), one)])))
                        t = b.select(b.fcmp_ordered("<", theta, zero), b.fneg(t), t)
                        c = b.fdiv(one, b.call(sqrt, [b.fadd(b.fmul(t, t), one)]))
                        sn = b.fmul(t, c)

                        def rot(px, qx):
                            x, y = b.load(px), b.load(qx)
                            b.store(b.fsub(b.fmul(c, x), b.fmul(sn, y)), px)
                            b.store(b.fadd(b.fmul(sn, x), b.fmul(c, y)), qx)
                        with k.loop(n, "rc") as lr:
                            rot(el(a, lr.index, p), el(a, lr.index, q))
                        with k.loop(n, "rr") as lr:
                            rot(el(a, p, lr.index), el(a, q, lr.index))
                        with k.loop(n, "rv") as lr:
                            rot(el(v, lr.index, p), el(v, lr.index, q))
        b.branch(done)
        b.position_at_end(done)
        with k.loop(n, "wd") as li:
            b.store(b.load(el(a, li.index, li.index)), b.gep(w, [li.index]))
        def swap_columns(i, j):
            with k.loop(n, "sc") as lr:
                x, y = el(v, lr.index, i), el(v, lr.index, j)
                vx, vy = b.load(x), b.load(y)
                b.store(vy, x)
                b.store(vx, y)
        _selection_sort(k, n, w, "<", swap_columns)     # ascending, v's columns along
        b.ret_void()
        return k.fn
    return _kernel(module, f"theon.la.jacobi.{dtype}", build)


def geqrf(module, dtype):
    """void geqrf(m, n, a, v, w, q): Householder QR of the m x n matrix a
    (in place: R in its upper triangle, zeros below), the reflectors in v
    (m x k, k = min(m, n), H_j = I - v_j v_j^T), w scratch (max(n, k)),
    and q := H_0 ... H_{k-1} I[:, :k] (m x k) -- LAPACK's signs
    (R[j, j] = -sign(x_0) ||x||)."""
    ft = _FT[dtype]
    tp = ft.as_pointer()

    def build(name):
        k = _K(module, name, lir.VoidType(), [I64, I64, tp, tp, tp, tp])
        b = k.b
        m, n, a, v, w, q = k.fn.args
        zero, one = lir.Constant(ft, 0.0), lir.Constant(ft, 1.0)
        sqrt = _sqrt(module, ft)
        kk = smin(b, m, n)

        def el(mat, i, j, ld):
            return b.gep(mat, [b.add(b.mul(i, ld), j)])

        def reflect(mat, ld, cols, j, c0):
            """mat[j:, c0:cols] -= v_j (v_j^T mat[j:, c0:cols])."""
            with k.loop(cols, "wz", c0) as lc:
                b.store(zero, b.gep(w, [lc.index]))
            with k.loop(m, "wi", j) as li:
                vi = b.load(el(v, li.index, j, kk))
                k.axpy(w, b.gep(mat, [b.mul(li.index, ld)]), b.fneg(vi), c0, cols, "wa")
            with k.loop(m, "ui", j) as li:
                vi = b.load(el(v, li.index, j, kk))
                k.axpy(b.gep(mat, [b.mul(li.index, ld)]), w, vi, c0, cols, "ua")
        with k.loop(m, "vz") as li:
            with k.loop(kk, "vzc") as lc:
                b.store(zero, el(v, li.index, lc.index, kk))
        with k.loop(kk, "j") as lj:
            j = lj.index
            with counted_loop(b, m, "nrm", j, carried=(zero,)) as ln:
                x = b.load(el(a, ln.index, j, n))
                ln.next = [b.fadd(ln.carried[0], b.fmul(x, x))]
            norm2 = ln.carried[0]
            x0 = b.load(el(a, j, j, n))
            nrm = b.call(sqrt, [norm2])
            alpha = b.select(b.fcmp_ordered(">=", x0, zero), b.fneg(nrm), nrm)
            v0 = b.fsub(x0, alpha)
            vv = b.fadd(b.fsub(norm2, b.fmul(x0, x0)), b.fmul(v0, v0))
            tail = b.fsub(norm2, b.fmul(x0, x0))
            # as LAPACK's dlarfg: no reflection (H = I) when x below its first element is zero
            with b.if_then(b.and_(b.fcmp_ordered(">", vv, zero), b.fcmp_ordered(">", tail, zero))):
                scale = b.call(sqrt, [b.fdiv(lir.Constant(ft, 2.0), vv)])
                b.store(b.fmul(v0, scale), el(v, j, j, kk))
                with k.loop(m, "vs", b.add(j, i64(1))) as li:
                    b.store(b.fmul(b.load(el(a, li.index, j, n)), scale), el(v, li.index, j, kk))
                reflect(a, n, n, j, j)
        with k.loop(m, "rz") as li:             # zeros below the diagonal
            with k.loop(smin(b, li.index, n), "rzc") as lc:
                b.store(zero, el(a, li.index, lc.index, n))
        with k.loop(m, "qi") as li:
            with k.loop(kk, "qc") as lc:
                b.store(b.select(b.icmp_signed("==", li.index, lc.index), one, zero), el(q, li.index, lc.index, kk))
        with k.loop(kk, "qj") as lj:
            reflect(q, kk, kk, b.sub(b.sub(kk, i64(1)), lj.index), i64(0))
        b.ret_void()
        return k.fn
    return _kernel(module, f"theon.la.geqrf.{dtype}", build)


def gesvj(module, dtype):
    """void gesvj(k, r, w, z, s, q, nq): the SVD of the r x k matrix T
    (r >= k) whose columns are w's rows (w: k x r, destroyed) by one-sided
    Jacobi (Hestenes): column pairs rotated orthogonal, sweeps until none
    rotates (at most 60); the rotations accumulate in z (k x k, rows: the
    right singular vectors). Then s := the column norms, descending (w's
    and z's rows moved along), and q (nq x r, nq in [k, r]) := the left
    singular vectors as rows: w's rows scaled to unit norm, re-orthogonalized
    (twice, Gram-Schmidt), rows of singular values <= r eps s_0 and rows
    k..nq-1 completed from unit vectors to an orthonormal set."""
    ft = _FT[dtype]
    tp = ft.as_pointer()
    eps = 2.220446049250313e-16 if dtype == "float64" else 1.1920929e-07

    def build(name):
        kf = _K(module, name, lir.VoidType(), [I64, I64, tp, tp, tp, tp, I64])
        b = kf.b
        k, r, w, z, s, q, nq = kf.fn.args
        zero, one = lir.Constant(ft, 0.0), lir.Constant(ft, 1.0)
        sqrt, fabs = _sqrt(module, ft), _fabs(module, ft)
        rotated = b.alloca(I64, name="rotated")
        cursor = b.alloca(I64, name="cursor")
        found = b.alloca(I64, name="found")

        def row(m, i, ld):
            return b.gep(m, [b.mul(i, ld)])

        def dot(x, y, n, nm):
            with counted_loop(b, n, nm, carried=(zero,)) as ld:
                ld.next = [b.fadd(ld.carried[0], b.fmul(b.load(b.gep(x, [ld.index])), b.load(b.gep(y, [ld.index]))))]
            return ld.carried[0]

        def rot(x, y, c, sn, n, nm):
            with kf.loop(n, nm) as lr:
                px, py = b.gep(x, [lr.index]), b.gep(y, [lr.index])
                vx, vy = b.load(px), b.load(py)
                b.store(b.fsub(b.fmul(c, vx), b.fmul(sn, vy)), px)
                b.store(b.fadd(b.fmul(sn, vx), b.fmul(c, vy)), py)

        def scale(x, f, n, nm):
            with kf.loop(n, nm) as lr:
                p = b.gep(x, [lr.index])
                b.store(b.fmul(b.load(p), f), p)

        with kf.loop(k, "zi") as li:
            with kf.loop(k, "zj") as lj:
                b.store(b.select(b.icmp_signed("==", li.index, lj.index), one, zero),
                        b.gep(z, [b.add(b.mul(li.index, k), lj.index)]))
        done = kf.fn.append_basic_block("svj.done")
        with kf.loop(i64(60), "sweep"):
            b.store(i64(0), rotated)
            with kf.loop(k, "p") as lp:
                p = lp.index
                wp = row(w, p, r)
                with kf.loop(k, "q", b.add(p, i64(1))) as lq:
                    wq = row(w, lq.index, r)
                    alpha, beta, gamma = dot(wp, wp, r, "da"), dot(wq, wq, r, "db"), dot(wp, wq, r, "dg")
                    lim = b.fmul(lir.Constant(ft, eps), b.call(sqrt, [b.fmul(alpha, beta)]))
                    with b.if_then(b.fcmp_ordered(">", b.call(fabs, [gamma]), lim)):
                        b.store(b.add(b.load(rotated), i64(1)), rotated)
                        zeta = b.fdiv(b.fsub(beta, alpha), b.fmul(lir.Constant(ft, 2.0), gamma))
                        t = b.fdiv(one, b.fadd(b.call(fabs, [zeta]), b.call(sqrt, [b.fadd(b.fmul(zeta, zeta), one)])))
                        t = b.select(b.fcmp_ordered("<", zeta, zero), b.fneg(t), t)
                        c = b.fdiv(one, b.call(sqrt, [b.fadd(b.fmul(t, t), one)]))
                        sn = b.fmul(t, c)
                        rot(wp, wq, c, sn, r, "rw")
                        rot(row(z, p, k), row(z, lq.index, k), c, sn, k, "rz")
            nxt = kf.fn.append_basic_block("svj.sweep")
            b.cbranch(b.icmp_signed("==", b.load(rotated), i64(0)), done, nxt)
            b.position_at_end(nxt)
        b.branch(done)
        b.position_at_end(done)
        with kf.loop(k, "sn") as li:
            wi = row(w, li.index, r)
            b.store(b.call(sqrt, [dot(wi, wi, r, "sd")]), b.gep(s, [li.index]))

        def swap_rows(m, i, j, n, nm):
            with kf.loop(n, nm) as lr:
                x, y = b.gep(row(m, i, n), [lr.index]), b.gep(row(m, j, n), [lr.index])
                vx, vy = b.load(x), b.load(y)
                b.store(vy, x)
                b.store(vx, y)
        def swap_factors(i, j):
            swap_rows(w, i, j, r, "sw")
            swap_rows(z, i, j, k, "sz")
        _selection_sort(kf, k, s, ">", swap_factors)    # descending, w's and z's rows along
        s0 = b.select(b.icmp_signed(">", k, i64(0)), b.load(b.gep(s, [i64(0)])), zero)
        tol = b.fmul(s0, b.fmul(b.sitofp(r, ft), lir.Constant(ft, eps)))
        thr = b.fdiv(lir.Constant(ft, 0.25), b.sitofp(b.add(r, i64(1)), ft))
        b.store(i64(0), cursor)

        def orthogonalize(qj, j):
            for rep in range(2):
                with kf.loop(j, f"go{rep}") as lo:
                    qo = row(q, lo.index, r)
                    kf.axpy(qj, qo, dot(qo, qj, r, f"gd{rep}"), i64(0), r, f"ga{rep}")
        with kf.loop(nq, "qj") as lj:
            j = lj.index
            qj = row(q, j, r)
            inside = b.icmp_signed("<", j, k)
            sj = b.select(inside, b.load(b.gep(s, [smin(b, j, b.sub(k, i64(1)))])), zero)
            good = b.and_(inside, b.fcmp_ordered(">", sj, tol))
            with b.if_else(good) as (then, other):
                with then:
                    wj = row(w, j, r)
                    with kf.loop(r, "qc") as lc:
                        b.store(b.fdiv(b.load(b.gep(wj, [lc.index])), sj), b.gep(qj, [lc.index]))
                    orthogonalize(qj, j)
                    scale(qj, b.fdiv(one, b.call(sqrt, [dot(qj, qj, r, "qn")])), r, "qs")
                with other:            # the next unit vector with enough left outside rows 0..j-1
                    b.store(i64(0), found)
                    with kf.loop(r, "ct", b.load(cursor)) as lt:
                        with b.if_then(b.icmp_signed("==", b.load(found), i64(0))):
                            with kf.loop(r, "ce") as lc:
                                b.store(b.select(b.icmp_signed("==", lc.index, lt.index), one, zero),
                                        b.gep(qj, [lc.index]))
                            orthogonalize(qj, j)
                            nrm2 = dot(qj, qj, r, "cn")
                            with b.if_then(b.fcmp_ordered(">", nrm2, thr)):
                                scale(qj, b.fdiv(one, b.call(sqrt, [nrm2])), r, "cs")
                                b.store(i64(1), found)
                                b.store(b.add(lt.index, i64(1)), cursor)
        b.ret_void()
        return kf.fn
    return _kernel(module, f"theon.la.gesvj.{dtype}", build)


# --- the op lowerings ------------------------------------------------------------------------
def _lower_eigh(ctx, op, bufs, vectors):
    """eigh / eigvalsh{lower}: a's ``lower`` (or upper) triangle mirrored
    into a symmetric work matrix, then ``jacobi``."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    batch = list(a.shape[:-2])
    out, compute = _batched(ctx, op, a, [n, n] if vectors else [n], "eigh")
    if not compute:
        return [out]
    work = ctx.alloc(dtype, [n, n], name="eigh.a")
    vec = ctx.alloc(dtype, [n, n], name="eigh.v")
    val = ctx.alloc(dtype, [n], name="eigh.w")
    fn = jacobi(ctx.module, dtype)
    lower = bool(op.attrs["lower"])
    with ctx.loop_nest(batch, "eigh.batch") as idx:
        _copy_matrix(ctx, a, idx, work.ptr, n, n)
        with counted_loop(b, n, "sym.i") as li:
            with counted_loop(b, li.index, "sym.j") as lj:
                i, j = li.index, lj.index
                lo, up = b.gep(work.ptr, [b.add(b.mul(i, n), j)]), b.gep(work.ptr, [b.add(b.mul(j, n), i)])
                if lower:
                    b.store(b.load(lo), up)
                else:
                    b.store(b.load(up), lo)
        b.call(fn, [n, work.ptr, vec.ptr, val.ptr])
        _copy_out(ctx, out, idx, vec.ptr if vectors else val.ptr, b.mul(n, n) if vectors else n, "eigh.cp")
    return [out]


def _lower_qr(ctx, op, bufs, want_q):
    """qr_q / qr_r: ``geqrf`` per batch element (reduced: k = min(m, n))."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    batch = list(a.shape[:-2])
    m, n = a.shape[-2], a.shape[-1]
    kk = smin(b, m, n)
    out, compute = _batched(ctx, op, a, [m, kk] if want_q else [kk, n], "qr")
    if not compute:
        return [out]
    work = ctx.alloc(dtype, [m, n], name="qr.a")
    refl = ctx.alloc(dtype, [m, kk], name="qr.v")
    scratch = ctx.alloc(dtype, [b.add(n, kk)], name="qr.w")
    qbuf = ctx.alloc(dtype, [m, kk], name="qr.q")
    fn = geqrf(ctx.module, dtype)
    with ctx.loop_nest(batch, "qr.batch") as idx:
        _copy_matrix(ctx, a, idx, work.ptr, m, n)
        b.call(fn, [m, n, work.ptr, refl.ptr, scratch.ptr, qbuf.ptr])
        # R: the first k rows of the work matrix
        _copy_out(ctx, out, idx, qbuf.ptr if want_q else work.ptr, b.mul(m, kk) if want_q else b.mul(kk, n), "qr.cp")
    return [out]


def _lower_svd(ctx, op, bufs, which):
    """svd_s / svd_u / svd_vt / pinv: per batch element, ``gesvj`` of T = a (m >= n)
    or a^T (m < n), copied transposed into w (k x r rows: T's columns).
    m >= n: U = q^T, Vt = z; m < n: U = z^T, Vt = q."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    batch = list(a.shape[:-2])
    m, n = a.shape[-2], a.shape[-1]
    kk = smin(b, m, n)
    r = b.select(b.icmp_signed(">=", m, n), m, n)
    full = bool(op.attrs.get("full_matrices", False))
    shape = {"s": [kk], "u": [m, m if full else kk], "vt": [n if full else kk, n], "pinv": [n, m]}[which]
    ft = LLTYPE[dtype]
    out, compute = _batched(ctx, op, a, shape, "svd")
    if not compute:
        return [out]
    nq = r if full else kk
    w = ctx.alloc(dtype, [kk, r], name="svd.w")
    z = ctx.alloc(dtype, [kk, kk], name="svd.z")
    sv = ctx.alloc(dtype, [kk], name="svd.s")
    q = ctx.alloc(dtype, [nq, r], name="svd.q")
    fn = gesvj(ctx.module, dtype)
    tall = b.icmp_signed(">=", m, n)
    sr, sc = a.strides[-2], a.strides[-1]
    # w[i, j] = T[j, i]: T = a (tall: a[j, i]) or a^T (a[i, j])
    wsr = b.select(tall, sc, sr)
    wsc = b.select(tall, sr, sc)
    with ctx.loop_nest(batch, "svd.batch") as idx:
        base = ctx.elem_ptr(a, list(idx) + [i64(0), i64(0)])
        with counted_loop(b, kk, "svd.ci") as li:
            srow = b.gep(base, [b.mul(li.index, wsr)])
            drow = b.gep(w.ptr, [b.mul(li.index, r)])
            with counted_loop(b, r, "svd.cj") as lj:
                b.store(b.load(b.gep(srow, [b.mul(lj.index, wsc)])), b.gep(drow, [lj.index]))
        b.call(fn, [kk, r, w.ptr, z.ptr, sv.ptr, q.ptr, nq])
        dst = ctx.elem_ptr(out, list(idx) + [i64(0)] * len(shape))
        with counted_loop(b, kk, "svd.nan", carried=(lir.Constant(ft, 0.0),)) as ln:
            ln.next = [b.fadd(ln.carried[0], b.load(b.gep(sv.ptr, [ln.index])))]
        nan_in = b.fcmp_unordered("uno", ln.carried[0], ln.carried[0])
        if which == "s":
            _copy_out(ctx, out, idx, sv.ptr, kk, "svd.cs")
        elif which == "pinv":      # dst[l, i] = sum_j Vt[j, l] s+_j U[i, j]
            cut = b.fmul(lir.Constant(ft, float(op.attrs["rcond"])),
                         b.select(b.icmp_signed(">", kk, i64(0)), b.load(sv.ptr), lir.Constant(ft, 0.0)))
            uj = lambda i, j: b.gep(b.select(tall, q.ptr, z.ptr), [b.add(b.mul(j, b.select(tall, r, kk)), i)])  # noqa: E731
            vj = lambda j, l_: b.gep(b.select(tall, z.ptr, q.ptr), [b.add(b.mul(j, b.select(tall, kk, r)), l_)])  # noqa: E731
            with counted_loop(b, kk, "pinv.s") as lc:      # s+ in place
                p = b.gep(sv.ptr, [lc.index])
                x = b.load(p)
                b.store(b.select(b.fcmp_ordered(">", x, cut), b.fdiv(lir.Constant(ft, 1.0), x),
                                 lir.Constant(ft, 0.0)), p)
            with counted_loop(b, n, "pinv.l") as ll:
                with counted_loop(b, m, "pinv.i") as li:
                    with counted_loop(b, kk, "pinv.j", carried=(lir.Constant(ft, 0.0),)) as lj:
                        t = b.fmul(b.fmul(b.load(vj(lj.index, ll.index)), b.load(b.gep(sv.ptr, [lj.index]))),
                                   b.load(uj(li.index, lj.index)))
                        lj.next = [b.fadd(lj.carried[0], t)]
                    b.store(lj.carried[0], b.gep(dst, [b.add(b.mul(ll.index, m), li.index)]))
        else:
            # the result (rows x cols) = src (transposed when ``flip``)
            rows, cols = shape
            if which == "u":       # tall: U[i, j] = q[j, i]; wide: U[i, j] = z[j, i]
                src = b.select(tall, q.ptr, z.ptr)
                ld = b.select(tall, r, kk)
                rs, cs = i64(1), ld
            else:                  # tall: Vt = z (ld k); wide: Vt = q (ld r)
                src = b.select(tall, z.ptr, q.ptr)
                ld = b.select(tall, kk, r)
                rs, cs = ld, i64(1)
            with counted_loop(b, rows, "svd.or") as li:
                with counted_loop(b, cols, "svd.oc") as lj:
                    v = b.load(b.gep(src, [b.add(b.mul(li.index, rs), b.mul(lj.index, cs))]))
                    b.store(v, b.gep(dst, [b.add(b.mul(li.index, cols), lj.index)]))
        count = i64(1)
        for d in shape:
            count = b.mul(count, d)
        with b.if_then(nan_in):             # NaN in a: every result NaN (NumPy: "SVD did not converge")
            with counted_loop(b, count, "svd.nanfill") as lc:
                b.store(lir.Constant(ft, float("nan")), b.gep(dst, [lc.index]))
    return [out]


LOWERINGS = {"eigvalsh": partial(_lower_eigh, vectors=False), "eigh_vectors": partial(_lower_eigh, vectors=True),
             "qr_q": partial(_lower_qr, want_q=True), "qr_r": partial(_lower_qr, want_q=False),
             **{f"svd_{w}": partial(_lower_svd, which=w) for w in ("s", "u", "vt")},
             "pinv": partial(_lower_svd, which="pinv")}
