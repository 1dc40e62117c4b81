"""The general real eigensolver (``eigvals`` / ``eig_vectors``,
``ir/ops/la.py``): a native kernel, no LAPACK, so AOT objects stay
self-contained.

    i64 theon.la.geev.<dt>(i64 n, T* h, T* v, T* w, T* ort)

EISPACK's orthes + hqr2 (as JAMA's EigenvalueDecomposition, without
balancing): Householder reduction of the n x n row-major matrix at h to
upper Hessenberg form (the transformations accumulated in v), Francis
double-shift QR iterations to the real Schur form (with the exceptional
shifts at iterations 10 and 30, at most 30 max(10, n) iterations per
eigenvalue), then the eigenvectors of the quasi-triangular form by
back-substitution, back-transformed by v and scaled to unit 2-norm.
w := the eigenvalues in the Schur form's diagonal order, v := the
eigenvectors as columns; ort is scratch (n). Returns 0; 1 + i when
eigenvalues i, i+1 are a complex pair whose imaginary part exceeds
sqrt(eps) times h's entrywise 1-norm (smaller: a double real eigenvalue);
-1 when the iteration does not converge; -2 when h holds an inf or NaN.
The code is imperative (while loops with breaks over stack variables that
LLVM promotes to registers) to stay close to the published algorithm.
"""
import contextlib
from functools import partial

import llvmlite.ir as lir
import numpy as np

from ...errors import LINALG_COMPLEX, LINALG_NO_CONVERGENCE
from ...llvm_util import counted_loop, smin
from .context import I64, i64
from .la import _FT, _K, _batch_index, _batched, _check_square, _copy_matrix, _copy_out, _fabs, _kernel, _sqrt


class _Imp(_K):
    """A kernel builder with mutable stack variables and while loops."""

    def var(self, init, name):
        with self.b.goto_entry_block():
            p = self.b.alloca(init.type, name=name)
        self.b.store(init, p)
        return p

    @contextlib.contextmanager
    def while_(self, cond, name):
        """``while cond():`` -- yields the loop's exit block (``brk``)."""
        b = self.b
        head = self.fn.append_basic_block(f"{name}.head")
        body = self.fn.append_basic_block(f"{name}.body")
        end = self.fn.append_basic_block(f"{name}.end")
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(cond(), body, end)
        b.position_at_end(body)
        yield end
        if not b.block.is_terminated:
            b.branch(head)
        b.position_at_end(end)

    def brk(self, end, cond):
        """Leave the loop whose exit block is ``end`` when the i1 ``cond`` holds."""
        cont = self.fn.append_basic_block("brk.no")
        self.b.cbranch(cond, end, cont)
        self.b.position_at_end(cont)


def geev(module, dtype):
    ft = _FT[dtype]
    tp = ft.as_pointer()
    eps = float(np.finfo(dtype).eps)

    def build(name):
        k = _Imp(module, name, I64, [I64, tp, tp, tp, tp])
        b = k.b
        n, H, V, d, ort = k.fn.args

        def C(x):
            return lir.Constant(ft, x)
        zero, one = C(0.0), C(1.0)
        sqrt_, fabs_ = _sqrt(module, ft), _fabs(module, ft)
        add, sub, mul, div = b.fadd, b.fsub, b.fmul, b.fdiv

        def sqrt(x):
            return b.call(sqrt_, [x])

        def absf(x):
            return b.call(fabs_, [x])

        def hp(i, j):
            return b.gep(H, [b.add(b.mul(i, n), j)])

        def vp(i, j):
            return b.gep(V, [b.add(b.mul(i, n), j)])

        def get(p):
            return b.load(p)

        def put(p, x):
            b.store(x, p)

        def ieq(x, y):
            return b.icmp_signed("==", x, y)

        def flt(x, y):
            return b.fcmp_ordered("<", x, y)

        def sumloop(stop, start, term, name):
            with counted_loop(b, stop, name, start, carried=(zero,)) as lp:
                lp.next = [add(lp.carried[0], term(lp.index))]
            return lp.carried[0]

        def downloop(hi, lo, name):
            """for i = hi down to lo: yields i."""
            @contextlib.contextmanager
            def cm():
                with counted_loop(b, b.add(b.sub(hi, lo), i64(1)), name) as lp:
                    yield b.sub(hi, lp.index)
            return cm()

        nm1 = b.sub(n, i64(1))
        # -- finite input
        fin = sumloop(b.mul(n, n), None, lambda t: mul(get(b.gep(H, [t])), zero), "fin")
        k.fail_if(b.fcmp_unordered("uno", fin, fin), i64(-2))

        # -- orthes: Householder reduction to Hessenberg form (d is scratch here)
        with counted_loop(b, nm1, "om", i64(1)) as lm:
            m = lm.index
            m1 = b.sub(m, i64(1))
            scale = sumloop(n, m, lambda i: absf(get(hp(i, m1))), "osc")
            with b.if_then(b.fcmp_ordered("!=", scale, zero)):
                def ortv(i):
                    o = div(get(hp(i, m1)), scale)
                    put(b.gep(ort, [i]), o)
                    return mul(o, o)
                h = sumloop(n, m, ortv, "oh")
                g = sqrt(h)
                om = get(b.gep(ort, [m]))
                g = b.select(b.fcmp_ordered(">", om, zero), b.fneg(g), g)
                h = sub(h, mul(om, g))
                put(b.gep(ort, [m]), sub(om, g))
                # H = (I - u u^T / h) H: d[j] = sum_i u_i H[i, j], rows less u_i / h d
                with k.loop(n, "ozd", m) as lz:
                    put(b.gep(d, [lz.index]), zero)
                with k.loop(n, "ola", m) as li:
                    k.axpy(d, b.gep(H, [b.mul(li.index, n)]), b.fneg(get(b.gep(ort, [li.index]))), m, n, "olx")
                with k.loop(n, "olb", m) as li:
                    k.axpy(b.gep(H, [b.mul(li.index, n)]), d, div(get(b.gep(ort, [li.index])), h), m, n, "oly")
                # H = H (I - u u^T / h): per row
                with k.loop(n, "ora") as li:
                    row = b.gep(H, [b.mul(li.index, n)])
                    f = div(sumloop(n, m, lambda j: mul(get(b.gep(ort, [j])), get(b.gep(row, [j]))), "orf"), h)
                    k.axpy(row, ort, f, m, n, "orx")
                put(b.gep(ort, [m]), mul(scale, get(b.gep(ort, [m]))))
                put(hp(m, m1), mul(scale, g))
        # V = the accumulated transformations
        with k.loop(n, "vi") as li:
            with k.loop(n, "vj") as lj:
                put(vp(li.index, lj.index), b.select(ieq(li.index, lj.index), one, zero))
        with downloop(b.sub(n, i64(2)), i64(1), "am") as m:
            m1 = b.sub(m, i64(1))
            hm = get(hp(m, m1))
            with b.if_then(b.fcmp_ordered("!=", hm, zero)):
                with k.loop(n, "ao", b.add(m, i64(1))) as li:
                    put(b.gep(ort, [li.index]), get(hp(li.index, m1)))
                with k.loop(n, "azd", m) as lz:
                    put(b.gep(d, [lz.index]), zero)
                with k.loop(n, "ala", m) as li:
                    k.axpy(d, b.gep(V, [b.mul(li.index, n)]), b.fneg(get(b.gep(ort, [li.index]))), m, n, "alx")
                om = get(b.gep(ort, [m]))
                with k.loop(n, "asc", m) as lj:
                    p = b.gep(d, [lj.index])
                    put(p, div(div(get(p), om), hm))
                with k.loop(n, "alb", m) as li:
                    k.axpy(b.gep(V, [b.mul(li.index, n)]), d, b.fneg(get(b.gep(ort, [li.index]))), m, n, "aly")
        with k.loop(n, "zi") as li:             # zeros below the subdiagonal
            with k.loop(b.sub(li.index, i64(1)), "zj") as lj:
                put(hp(li.index, lj.index), zero)

        # -- hqr2: the real Schur form by Francis double-shift QR steps
        def hnorm_row(i):
            row = b.gep(H, [b.mul(i, n)])
            j0 = b.select(b.icmp_signed(">", i, i64(0)), b.sub(i, i64(1)), i64(0))
            return sumloop(n, j0, lambda j: absf(get(b.gep(row, [j]))), "nj")
        norm = sumloop(n, None, hnorm_row, "ni")
        ctol = mul(C(float(np.sqrt(eps))), norm)
        itmax = b.mul(i64(30), b.select(b.icmp_signed(">", n, i64(10)), n, i64(10)))
        hi = k.var(nm1, "hi")
        it = k.var(i64(0), "iter")
        exshift = k.var(zero, "exshift")
        lv = k.var(i64(0), "l")
        mv = k.var(i64(0), "m")
        P, Q, R, S, X, Y, Z, W = (k.var(zero, nm) for nm in "pqrsxyzw")
        with k.while_(lambda: b.icmp_signed(">=", get(hi), i64(0)), "qr"):
            N = get(hi)
            N1 = b.sub(N, i64(1))
            # look for a single small subdiagonal element
            put(lv, N)
            with k.while_(lambda: b.icmp_signed(">", get(lv), i64(0)), "sm") as end:
                li = get(lv)
                li1 = b.sub(li, i64(1))
                s = add(absf(get(hp(li1, li1))), absf(get(hp(li, li))))
                s = b.select(b.fcmp_ordered("==", s, zero), norm, s)
                k.brk(end, b.fcmp_ordered("<=", absf(get(hp(li, li1))), mul(C(eps), s)))
                put(lv, li1)
            L = get(lv)
            with b.if_else(ieq(L, N)) as (one_root, more):
                with one_root:
                    x = add(get(hp(N, N)), get(exshift))
                    put(hp(N, N), x)
                    put(b.gep(d, [N]), x)
                    put(hi, N1)
                    put(it, i64(0))
                with more:
                    with b.if_else(ieq(L, N1)) as (two_roots, iterate):
                        with two_roots:
                            w = mul(get(hp(N, N1)), get(hp(N1, N)))
                            p = mul(sub(get(hp(N1, N1)), get(hp(N, N))), C(0.5))
                            q = add(mul(p, p), w)
                            z = sqrt(absf(q))
                            put(hp(N, N), add(get(hp(N, N)), get(exshift)))
                            put(hp(N1, N1), add(get(hp(N1, N1)), get(exshift)))
                            x = get(hp(N, N))
                            cplx = flt(q, zero)
                            k.fail_if(b.and_(cplx, b.fcmp_ordered(">", z, ctol)), b.add(N1, i64(1)))
                            z = b.select(cplx, zero, z)      # a tiny imaginary part: a double real eigenvalue
                            z = b.select(b.fcmp_ordered(">=", p, zero), add(p, z), sub(p, z))
                            d1 = add(x, z)
                            d2 = b.select(b.and_(b.fcmp_ordered("!=", z, zero), b.not_(cplx)), sub(x, div(w, z)), d1)
                            put(b.gep(d, [N1]), d1)
                            put(b.gep(d, [N]), d2)
                            x = get(hp(N, N1))
                            s = add(absf(x), absf(z))
                            s0 = b.fcmp_ordered("==", s, zero)
                            s = b.select(s0, one, s)
                            p, q = div(x, s), div(z, s)
                            r = sqrt(add(mul(p, p), mul(q, q)))
                            p = b.select(s0, zero, div(p, r))
                            q = b.select(s0, one, div(q, r))

                            def rot(px, py):
                                zz, yy = get(px), get(py)
                                put(px, add(mul(q, zz), mul(p, yy)))
                                put(py, sub(mul(q, yy), mul(p, zz)))
                            with k.loop(n, "tr", N1) as lj:
                                rot(hp(N1, lj.index), hp(N, lj.index))
                            with k.loop(b.add(N, i64(1)), "tc") as li:
                                rot(hp(li.index, N1), hp(li.index, N))
                            with k.loop(n, "tv") as li:
                                rot(vp(li.index, N1), vp(li.index, N))
                            put(hi, b.sub(N, i64(2)))
                            put(it, i64(0))
                        with iterate:
                            _qr_step(k, b, locals_=dict(
                                N=N, N1=N1, L=L, n=n, hp=hp, vp=vp, get=get, put=put, C=C, zero=zero,
                                sqrt=sqrt, absf=absf, it=it, itmax=itmax, exshift=exshift, mv=mv,
                                P=P, Q=Q, R=R, S=S, X=X, Y=Y, Z=Z, W=W, eps=eps))

        # -- eigenvectors of the triangular Schur form, back-transformed
        with b.if_then(b.fcmp_ordered("!=", norm, zero)):
            with downloop(nm1, i64(0), "bn") as N:
                p = get(b.gep(d, [N]))
                put(hp(N, N), one)
                with downloop(b.sub(N, i64(1)), i64(0), "bi") as i:
                    w = sub(get(hp(i, i)), p)
                    r = sumloop(b.add(N, i64(1)), b.add(i, i64(1)), lambda j: mul(get(hp(i, j)), get(hp(j, N))), "br")
                    den = b.select(b.fcmp_ordered("!=", w, zero), w, mul(C(eps), norm))
                    xi = b.fneg(div(r, den))
                    put(hp(i, N), xi)
                    t = absf(xi)
                    with b.if_then(b.fcmp_ordered(">", mul(mul(C(eps), t), t), one)):
                        with k.loop(b.add(N, i64(1)), "bo", i) as lj:
                            put(hp(lj.index, N), div(get(hp(lj.index, N)), t))
            with downloop(nm1, i64(0), "tj") as j:
                with k.loop(n, "ti") as li:
                    z = sumloop(b.add(j, i64(1)), None, lambda kk: mul(get(vp(li.index, kk)), get(hp(kk, j))), "tk")
                    put(vp(li.index, j), z)
        with k.loop(n, "uj") as lj:              # unit-norm columns
            j = lj.index
            nrm = sqrt(sumloop(n, None, lambda i: mul(get(vp(i, j)), get(vp(i, j))), "un"))
            with b.if_then(b.fcmp_ordered(">", nrm, zero)):
                with k.loop(n, "us") as li:
                    put(vp(li.index, j), div(get(vp(li.index, j)), nrm))
        b.ret(i64(0))
        return k.fn
    return _kernel(module, f"theon.la.geev.{dtype}", build)


def _qr_step(k, b, locals_):
    """One Francis double-shift QR step on rows/columns l..N (hqr2's "no
    convergence yet" branch), with the exceptional shifts."""
    g = locals_
    N, N1, L, n, hp, vp, get, put, C = (g[x] for x in ("N", "N1", "L", "n", "hp", "vp", "get", "put", "C"))
    zero, sqrt, absf, it, exshift, mv, eps = (g[x] for x in ("zero", "sqrt", "absf", "it", "exshift", "mv", "eps"))
    P, Q, R, S, X, Y, Z, W = (g[x] for x in "PQRSXYZW")
    add, sub, mul, div = b.fadd, b.fsub, b.fmul, b.fdiv
    N2 = b.sub(N, i64(2))
    put(X, get(hp(N, N)))
    put(Y, get(hp(N1, N1)))
    put(W, mul(get(hp(N, N1)), get(hp(N1, N))))
    with b.if_then(b.icmp_signed("==", get(it), i64(10))):      # Wilkinson's exceptional shift
        x = get(X)
        put(exshift, add(get(exshift), x))
        with k.loop(b.add(N, i64(1)), "ex") as li:
            put(hp(li.index, li.index), sub(get(hp(li.index, li.index)), x))
        s = add(absf(get(hp(N, N1))), absf(get(hp(N1, N2))))
        put(X, mul(C(0.75), s))
        put(Y, mul(C(0.75), s))
        put(W, mul(C(-0.4375), mul(s, s)))
    with b.if_then(b.icmp_signed("==", get(it), i64(30))):      # MATLAB's ad hoc shift
        x, y, w = get(X), get(Y), get(W)
        s = mul(sub(y, x), C(0.5))
        s = add(mul(s, s), w)
        with b.if_then(b.fcmp_ordered(">", s, zero)):
            s = sqrt(s)
            s = b.select(b.fcmp_ordered("<", y, x), b.fneg(s), s)
            s = sub(x, div(w, add(mul(sub(y, x), C(0.5)), s)))
            with k.loop(b.add(N, i64(1)), "ey") as li:
                put(hp(li.index, li.index), sub(get(hp(li.index, li.index)), s))
            put(exshift, add(get(exshift), s))
            put(X, C(0.964))
            put(Y, C(0.964))
            put(W, C(0.964))
    put(it, b.add(get(it), i64(1)))
    k.fail_if(b.icmp_signed(">", get(it), g["itmax"]), i64(-1))
    # look for two consecutive small subdiagonal elements
    put(mv, N2)
    with k.while_(lambda: b.icmp_signed(">=", get(mv), L), "mm") as end:
        m = get(mv)
        m1, mp1, mp2 = b.sub(m, i64(1)), b.add(m, i64(1)), b.add(m, i64(2))
        z = get(hp(m, m))
        r = sub(get(X), z)
        s = sub(get(Y), z)
        p = add(div(sub(mul(r, s), get(W)), get(hp(mp1, m))), get(hp(m, mp1)))
        q = sub(sub(sub(get(hp(mp1, mp1)), z), r), s)
        r = get(hp(mp2, mp1))
        s = add(add(absf(p), absf(q)), absf(r))
        p, q, r = div(p, s), div(q, s), div(r, s)
        put(P, p)
        put(Q, q)
        put(R, r)
        k.brk(end, b.icmp_signed("==", m, L))
        m1c = b.select(b.icmp_signed(">", m1, i64(0)), m1, i64(0))     # m > l >= 0 here
        lhs = mul(absf(get(hp(m, m1c))), add(absf(q), absf(r)))
        rhs = mul(C(eps), mul(absf(p), add(add(absf(get(hp(m1c, m1c))), absf(z)), absf(get(hp(mp1, mp1))))))
        k.brk(end, b.fcmp_ordered("<", lhs, rhs))
        put(mv, m1)
    M = get(mv)
    with k.loop(b.add(N, i64(1)), "bz", b.add(M, i64(2))) as li:
        i = li.index
        put(hp(i, b.sub(i, i64(2))), zero)
        with b.if_then(b.icmp_signed(">", i, b.add(M, i64(2)))):
            put(hp(i, b.sub(i, i64(3))), zero)
    # the double QR step on rows l..N and columns M..N
    with k.loop(N, "dk", M) as lk:
        kk = lk.index
        notlast = b.icmp_signed("!=", kk, N1)
        first = b.icmp_signed("==", kk, M)
        go = k.var(first, "go")
        with b.if_then(b.not_(first)):
            km1 = b.sub(kk, i64(1))
            p = get(hp(kk, km1))
            q = get(hp(b.add(kk, i64(1)), km1))
            k2 = smin(b, b.add(kk, i64(2)), N)
            r = b.select(notlast, get(hp(k2, km1)), zero)
            x = add(add(absf(p), absf(q)), absf(r))
            put(X, x)
            nz = b.fcmp_ordered("!=", x, zero)
            xs = b.select(nz, x, C(1.0))
            put(P, div(p, xs))
            put(Q, div(q, xs))
            put(R, div(r, xs))
            b.store(nz, go)
        with b.if_then(b.load(go)):
            p, q, r = get(P), get(Q), get(R)
            s = sqrt(add(add(mul(p, p), mul(q, q)), mul(r, r)))
            s = b.select(b.fcmp_ordered("<", p, zero), b.fneg(s), s)
            with b.if_then(b.fcmp_ordered("!=", s, zero)):
                km1 = b.sub(kk, i64(1))
                with b.if_else(b.not_(first)) as (other, at_m):
                    with other:
                        put(hp(kk, km1), b.fneg(mul(s, get(X))))
                    with at_m:
                        with b.if_then(b.icmp_signed("!=", L, M)):
                            put(hp(kk, km1), b.fneg(get(hp(kk, km1))))
                p = add(p, s)
                x, y, z = div(p, s), div(q, s), div(r, s)
                q, r = div(q, p), div(r, p)
                k1 = b.add(kk, i64(1))

                def mods(three):
                    k2 = b.add(kk, i64(2))
                    with k.loop(n, "rj", kk) as lj:            # row modification
                        j = lj.index
                        pa, pb = hp(kk, j), hp(k1, j)
                        t = add(get(pa), mul(q, get(pb)))
                        if three:
                            pc = hp(k2, j)
                            t = add(t, mul(r, get(pc)))
                            put(pc, sub(get(pc), mul(t, z)))
                        put(pa, sub(get(pa), mul(t, x)))
                        put(pb, sub(get(pb), mul(t, y)))
                    for mat, stop, nm in ((hp, b.add(smin(b, N, b.add(kk, i64(3))), i64(1)), "ci"), (vp, n, "vi")):
                        with k.loop(stop, nm) as li:               # column modification / accumulation
                            i = li.index
                            pa, pb = mat(i, kk), mat(i, k1)
                            t = add(mul(x, get(pa)), mul(y, get(pb)))
                            if three:
                                pc = mat(i, k2)
                                t = add(t, mul(z, get(pc)))
                                put(pc, sub(get(pc), mul(t, r)))
                            put(pa, sub(get(pa), t))
                            put(pb, sub(get(pb), mul(t, q)))
                with b.if_else(notlast) as (three, two):
                    with three:
                        mods(True)
                    with two:
                        mods(False)


# --- the op lowerings ------------------------------------------------------------------------
def _lower_eig(ctx, op, bufs, vectors):
    """eigvals / eig_vectors: ``geev`` per batch element."""
    (a,) = bufs
    dtype = op.results[0].dtype
    b = ctx.b
    n = _check_square(ctx, a)
    batch = list(a.shape[:-2])
    out, compute = _batched(ctx, op, a, [n, n] if vectors else [n], "eig")
    if not compute:
        return [out]
    work = ctx.alloc(dtype, [n, n], name="eig.h")
    vec = ctx.alloc(dtype, [n, n], name="eig.v")
    val = ctx.alloc(dtype, [n], name="eig.w")
    ort = ctx.alloc(dtype, [n], name="eig.ort")
    fn = geev(ctx.module, dtype)
    with ctx.loop_nest(batch, "eig.batch") as idx:
        _copy_matrix(ctx, a, idx, work.ptr, n, n)
        info = b.call(fn, [n, work.ptr, vec.ptr, val.ptr, ort.ptr])
        where = _batch_index(ctx, batch, idx)
        ctx.check(b.icmp_signed(">=", info, i64(0)), LINALG_NO_CONVERGENCE, [where])
        ctx.check(b.icmp_signed("==", info, i64(0)), LINALG_COMPLEX, [where, b.sub(info, i64(1))])
        _copy_out(ctx, out, idx, vec.ptr if vectors else val.ptr, b.mul(n, n) if vectors else n, "eig.cp")
    return [out]


LOWERINGS = {"eigvals": partial(_lower_eig, vectors=False), "eig_vectors": partial(_lower_eig, vectors=True)}
