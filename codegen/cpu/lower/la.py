"""Dense linear algebra (``ir/ops/la.py``): cholesky, solve_triangular,
solve, matrix_inverse, det -- native kernels, no LAPACK, so AOT objects stay
self-contained.

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
        with k.loop(n, "si") as li:          # selection sort, ascending, moving v's columns along
            i = li.index
            with counted_loop(b, n, "sm", b.add(i, i64(1)), carried=(i, b.load(b.gep(w, [i])))) as lm:
                x = b.load(b.gep(w, [lm.index]))
                less = b.fcmp_ordered("<", x, lm.carried[1])
                lm.next = [b.select(less, lm.index, lm.carried[0]), b.select(less, x, lm.carried[1])]
            best = lm.carried[0]
            with b.if_then(b.icmp_signed("!=", best, i)):
                pi, pb = b.gep(w, [i]), b.gep(w, [best])
                wi, wb = b.load(pi), b.load(pb)
                b.store(wb, pi)
                b.store(wi, pb)
                with k.loop(n, "sc") as lr:
                    x, y = el(v, lr.index, i), el(v, lr.index, best)
                    vx, vy = b.load(x), b.load(y)
                    b.store(vy, x)
                    b.store(vx, y)
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
        with kf.loop(k, "si") as li:          # selection sort, descending
            i = li.index
            with counted_loop(b, k, "sm", b.add(i, i64(1)), carried=(i, b.load(b.gep(s, [i])))) as lm:
                x = b.load(b.gep(s, [lm.index]))
                more = b.fcmp_ordered(">", x, lm.carried[1])
                lm.next = [b.select(more, lm.index, lm.carried[0]), b.select(more, x, lm.carried[1])]
            best = lm.carried[0]
            with b.if_then(b.icmp_signed("!=", best, i)):
                pi, pb = b.gep(s, [i]), b.gep(s, [best])
                si_, sb = b.load(pi), b.load(pb)
                b.store(sb, pi)
                b.store(si_, pb)
                swap_rows(w, i, best, r, "sw")
                swap_rows(z, i, best, k, "sz")
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


def _lower_eigh(ctx, op, bufs, vectors):
    """eigh / eigvalsh{lower}: a's ``lower`` (or upper) triangle mirrored
    into a symmetric work matrix, then ``jacobi``."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    batch = list(a.shape[:-2])
    out = ctx.alloc(dtype, batch + ([n, n] if vectors else [n]), name="eigh")
    if _shapes_only(ctx):
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
        dst = ctx.elem_ptr(out, list(idx) + [i64(0)] * (2 if vectors else 1))
        src = vec.ptr if vectors else val.ptr
        with counted_loop(b, b.mul(n, n) if vectors else n, "eigh.cp") as lc:
            b.store(b.load(b.gep(src, [lc.index])), b.gep(dst, [lc.index]))
    return [out]


def lower_eigvalsh(ctx, op, bufs):
    return _lower_eigh(ctx, op, bufs, False)


def lower_eigh_vectors(ctx, op, bufs):
    return _lower_eigh(ctx, op, bufs, True)


def _lower_qr(ctx, op, bufs, want_q):
    """qr_q / qr_r: ``geqrf`` per batch element (reduced: k = min(m, n))."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    batch = list(a.shape[:-2])
    m, n = a.shape[-2], a.shape[-1]
    kk = smin(b, m, n)
    out = ctx.alloc(dtype, batch + ([m, kk] if want_q else [kk, n]), name="qr")
    if _shapes_only(ctx):
        return [out]
    work = ctx.alloc(dtype, [m, n], name="qr.a")
    refl = ctx.alloc(dtype, [m, kk], name="qr.v")
    scratch = ctx.alloc(dtype, [b.add(n, kk)], name="qr.w")
    qbuf = ctx.alloc(dtype, [m, kk], name="qr.q")
    fn = geqrf(ctx.module, dtype)
    with ctx.loop_nest(batch, "qr.batch") as idx:
        _copy_matrix(ctx, a, idx, work.ptr, m, n)
        b.call(fn, [m, n, work.ptr, refl.ptr, scratch.ptr, qbuf.ptr])
        dst = ctx.elem_ptr(out, list(idx) + [i64(0), i64(0)])
        count = b.mul(m, kk) if want_q else b.mul(kk, n)
        with counted_loop(b, count, "qr.cp") as lc:      # R: the first k rows of the work matrix
            src = qbuf.ptr if want_q else work.ptr
            b.store(b.load(b.gep(src, [lc.index])), b.gep(dst, [lc.index]))
    return [out]


def lower_qr_q(ctx, op, bufs):
    return _lower_qr(ctx, op, bufs, True)


def lower_qr_r(ctx, op, bufs):
    return _lower_qr(ctx, op, bufs, False)


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
    out = ctx.alloc(dtype, batch + shape, name="svd")
    if _shapes_only(ctx):
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
            with counted_loop(b, kk, "svd.cs") as lc:
                b.store(b.load(b.gep(sv.ptr, [lc.index])), b.gep(dst, [lc.index]))
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


def lower_svd_s(ctx, op, bufs):
    return _lower_svd(ctx, op, bufs, "s")


def lower_svd_u(ctx, op, bufs):
    return _lower_svd(ctx, op, bufs, "u")


def lower_svd_vt(ctx, op, bufs):
    return _lower_svd(ctx, op, bufs, "vt")


def lower_pinv(ctx, op, bufs):
    return _lower_svd(ctx, op, bufs, "pinv")


LOWERINGS = {"cholesky": lower_cholesky, "solve_triangular": lower_solve_triangular, "solve": lower_solve,
             "matrix_inverse": lower_matrix_inverse, "det": lower_det,
             "eigvalsh": lower_eigvalsh, "eigh_vectors": lower_eigh_vectors,
             "qr_q": lower_qr_q, "qr_r": lower_qr_r,
             "svd_s": lower_svd_s, "svd_u": lower_svd_u, "svd_vt": lower_svd_vt,
             "pinv": lower_pinv}
