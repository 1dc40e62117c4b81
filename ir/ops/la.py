"""Dense linear algebra (``theon.tensor.nlinalg`` / ``theon.tensor.slinalg``).

Every op works on the last two dims of its operands (square n x n matrices
``a``; right-hand sides ``b`` of shape (..., n, k)) and batches over the
dims before them, which must agree (no broadcasting; the DSL adds a
trailing dim for a vector ``b`` and drops it again). Float32/float64 only
(the DSL casts integers to float64, as NumPy's ``linalg`` does).

- ``cholesky(a)``: the lower factor L (zeros above the diagonal), reading
  only a's lower triangle (as LAPACK's potrf); not positive definite ->
  LinAlgError (code LINALG_NOT_PD).
- ``solve_triangular{lower, trans, unit_diagonal}(a, b)``: op(a) x = b with
  op(a) = a or a^T, reading one triangle of a; a zero diagonal element
  -> LinAlgError (LINALG_SINGULAR), as scipy.
- ``solve(a, b)``: LU with partial pivoting; an exactly singular a ->
  LinAlgError (LINALG_SINGULAR), as ``np.linalg.solve``.
- ``matrix_inverse(a)``: the same LU solve against the identity.
- ``det(a)``: the product of the LU pivots, with the row-exchange sign
  (0 for a singular a, no error, as ``np.linalg.det``).

Gradients are Theano's: cholesky's is Murray's (2016) formula as in
Theano's ``CholeskyGrad``; solve's gb = solve(a^T, g), ga = -gb x^T;
matrix_inverse's -A^-T g A^-T; det's g * det * inv(a)^T. Extra leading
gradient dims (jacobians) broadcast the operands to them.

CPU: ``codegen/cpu/lower/la.py`` (solves), ``la_spectral.py`` (eigh, qr, svd,
pinv), ``la_eig.py`` (eig). GPU: a compile-time refusal.
"""
import numpy as np

from ..autodiff import batch_ndim, emitter
from ..opdef import OpDef, result

FLOATS = ("float32", "float64")


def _merge(a, b):
    return a is None or b is None or a == b


def _square(name, t, what="a"):
    if t.dtype not in FLOATS:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {t.dtype}")
    if t.ndim < 2:
        raise ValueError(f"{name}: {what} must be a (batch of) square matrices, at least 2-d, got {t.ndim}-d")
    if not _merge(t.shape[-1], t.shape[-2]):
        raise ValueError(f"{name}: {what} must be square, got shape {t.shape}")


def _rhs(name, a, b):
    if b.dtype != a.dtype:
        raise TypeError(f"{name}: a and b must have one dtype, got {a.dtype} and {b.dtype}")
    if b.ndim != a.ndim:
        raise ValueError(f"{name}: b must have a's {a.ndim} dims (batch dims, n, k), got {b.ndim}")
    if not all(_merge(x, y) for x, y in zip(a.shape[:-1], b.shape[:-1])):
        raise ValueError(f"{name}: b's shape {b.shape} does not match a's {a.shape} "
                         "(same batch dims, b.shape[-2] == a.shape[-1])")


def _pick(x, y):
    return x if x is not None else y


def _mT(e, x):
    return e.dimshuffle(x, list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


def _bcast(e, op, g, *xs):
    """xs broadcast to the gradient's extra leading (jacobian) batch dims."""
    nb = batch_ndim(op, g)
    if not nb:
        return xs if len(xs) > 1 else xs[0]
    out = tuple(e.alloc(x, e.batch_dims(g, nb) + e.dims(x)) for x in xs)
    return out if len(out) > 1 else out[0]


def _eye_mask(e, x, cmp):
    """A float mask of x's shape (last two dims n x n): cmp(row, col)."""
    n = e.dim(x, -1)
    stop = e.const(n, "int64") if isinstance(n, int) else n
    r = e("arange", e.const(0, "int64"), stop, e.const(1, "int64"))
    rows = e.reshape(r, [n, 1])
    cols = e.reshape(r, [1, n])
    return e.cast(e(cmp, rows, cols), x.dtype)


def _tril(e, x):
    return e("mul", x, _eye_mask(e, x, "ge"))


def _diag_part(e, x):
    """x with everything but its diagonal zeroed."""
    return e("mul", x, _eye_mask(e, x, "eq"))


class _LinAlg(OpDef):
    num_operands = 1
    accumulates = True

    def dims(self, op, shapes):
        return [shapes.of(op.operands[-1])]


class Cholesky(_LinAlg):
    """The lower Cholesky factor of a (batch of) SPD matrices."""
    name = "cholesky"
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        _square(self.name, a)
        n = _pick(a.shape[-1], a.shape[-2])
        return result(a.dtype, a.shape[:-2] + (n, n))

    def reference(self, op, a):
        return [np.linalg.cholesky(a).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """Murray's formula (Theano's CholeskyGrad, lower): with
        phi(X) = tril(X) - diag(X)/2, P = phi(L^T gL),
        S = L^-T P L^-1, gA = tril(S + S^T) - diag(S)."""
        L, g, e = op.results[0], grads[0], emitter(op)
        L = _bcast(e, op, g, L)
        P = _tril(e, e("matmul", _mT(e, L), g))
        P = e("sub", P, e("mul", e.const(0.5, L.dtype), _diag_part(e, P)))
        # S = L^-T P L^-1: X = L^-T P (upper solve with L^T), S = (L^-T X^T)^T
        X = e("solve_triangular", L, P, lower=True, trans=True, unit_diagonal=False)
        S = _mT(e, e("solve_triangular", L, _mT(e, X), lower=True, trans=True, unit_diagonal=False))
        return [e("sub", _tril(e, e("add", S, _mT(e, S))), _diag_part(e, S))]


class SolveTriangular(_LinAlg):
    """x with op(a) x = b, a triangular (``lower``), op(a) = a^T if ``trans``."""
    name = "solve_triangular"
    num_operands = 2
    required_attrs = ("lower", "trans", "unit_diagonal")
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        a, b = (v.type for v in op.operands)
        _square(self.name, a)
        _rhs(self.name, a, b)
        return result(a.dtype, tuple(_pick(x, y) for x, y in zip(b.shape[:-1], a.shape[:-1])) + b.shape[-1:])

    def reference(self, op, a, b):
        lower, trans, unit = (bool(op.attrs[k]) for k in self.required_attrs)
        t = np.tril(a) if lower else np.triu(a)
        if unit:
            d = np.arange(a.shape[-1])
            t = t.copy()
            t[..., d, d] = 1
        if trans:
            t = np.swapaxes(t, -1, -2)
        if a.shape[-1] and np.any(np.diagonal(t, axis1=-2, axis2=-1) == 0):
            raise np.linalg.LinAlgError("solve_triangular: singular matrix (a zero diagonal element)")
        return [np.linalg.solve(t, b).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """gb = op(a)^-T g; ga = -gb x^T (op(a) = a) or -x gb^T (a^T),
        restricted to a's triangle (off it: zero; unit diagonal: zero)."""
        (a, _), x, g, e = op.operands, op.results[0], grads[0], emitter(op)
        a, x = _bcast(e, op, g, a, x)
        lower, trans, unit = (bool(op.attrs[k]) for k in self.required_attrs)
        gb = e("solve_triangular", a, g, lower=lower, trans=not trans, unit_diagonal=unit)
        ga = e("neg", e("matmul", x, _mT(e, gb)) if trans else e("matmul", gb, _mT(e, x)))
        ga = _tril(e, ga) if lower else _mT(e, _tril(e, _mT(e, ga)))
        if unit:
            ga = e("sub", ga, _diag_part(e, ga))
        return [ga, gb]


class Solve(_LinAlg):
    """x with a x = b (LU with partial pivoting)."""
    name = "solve"
    num_operands = 2
    has_grad = True

    def infer(self, op):
        return SolveTriangular.infer(self, op)

    def reference(self, op, a, b):
        return [np.linalg.solve(a, b).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        (a, _), x, g, e = op.operands, op.results[0], grads[0], emitter(op)
        a, x = _bcast(e, op, g, a, x)
        gb = e("solve", _mT(e, a), g)
        return [e("neg", e("matmul", gb, _mT(e, x))), gb]


class MatrixInverse(_LinAlg):
    """The inverse of a (batch of) square matrices."""
    name = "matrix_inverse"
    has_grad = True

    def infer(self, op):
        return Cholesky.infer(self, op)

    def reference(self, op, a):
        return [np.linalg.inv(a).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """-A^-T g A^-T."""
        z, g, e = op.results[0], grads[0], emitter(op)
        zt = _mT(e, z)
        return [e("neg", e("matmul", e("matmul", zt, g), zt))]


class Det(_LinAlg):
    """The determinant of a (batch of) square matrices: shape a.shape[:-2]."""
    name = "det"
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        _square(self.name, a)
        return result(a.dtype, a.shape[:-2])

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])[:-2]]

    def reference(self, op, a):
        return [np.asarray(np.linalg.det(a)).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """g * det * inv(a)^T."""
        a, d, g, e = op.operands[0], op.results[0], grads[0], emitter(op)
        a = _bcast(e, op, g, a)
        pat = list(range(g.ndim)) + ["x", "x"]
        scale = e.dimshuffle(e("mul", g, d), pat)
        return [e("mul", scale, _mT(e, e("matrix_inverse", a)))]


def _lower_read(e, g, lower):
    """The gradient with respect to a matrix of which only the ``lower`` (or
    upper) triangle is read, given the full-matrix gradient g: Theano's
    tril(g) + triu(g, 1)^T (upper: triu(g) + tril(g, -1)^T)."""
    if not lower:
        return _mT(e, _lower_read(e, _mT(e, g), True))
    lo = _tril(e, g)
    return e("add", lo, _mT(e, e("sub", g, lo)))


class Eigvalsh(_LinAlg):
    """The eigenvalues (ascending) of a symmetric matrix read from its
    ``lower`` (or upper) triangle: shape a.shape[:-1] (cyclic Jacobi)."""
    name = "eigvalsh"
    required_attrs = ("lower",)
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        _square(self.name, a)
        return result(a.dtype, a.shape[:-2] + (_pick(a.shape[-1], a.shape[-2]),))

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])[:-1]]

    def reference(self, op, a):
        return [np.linalg.eigvalsh(a, UPLO="L" if op.attrs["lower"] else "U").astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """V diag(g) V^T, folded onto the triangle read."""
        a, g, e = op.operands[0], grads[0], emitter(op)
        a = _bcast(e, op, g, a)
        V = e("eigh_vectors", a, lower=op.attrs["lower"])
        gv = e("mul", V, e.dimshuffle(g, list(range(g.ndim - 1)) + ["x", g.ndim - 1]))
        return [_lower_read(e, e("matmul", gv, _mT(e, V)), bool(op.attrs["lower"]))]


class EighVectors(_LinAlg):
    """The eigenvectors (columns, in ``eigvalsh``'s order) of a symmetric
    matrix read from its ``lower`` (or upper) triangle (cyclic Jacobi)."""
    name = "eigh_vectors"
    required_attrs = ("lower",)
    has_grad = True

    def infer(self, op):
        return Cholesky.infer(self, op)

    def reference(self, op, a):
        return [np.linalg.eigh(a, UPLO="L" if op.attrs["lower"] else "U")[1].astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """Theano's EighGrad for the vectors: V K V^T with
        K[n, m] = (V^T gV)[m, n] / (w[n] - w[m]) (0 for n == m), folded
        onto the triangle read."""
        a, V, g, e = op.operands[0], op.results[0], grads[0], emitter(op)
        a, V = _bcast(e, op, g, a, V)
        lower = bool(op.attrs["lower"])
        w = e("eigvalsh", a, lower=lower)
        nd = w.ndim
        diff = e("sub", e.dimshuffle(w, list(range(nd)) + ["x"]), e.dimshuffle(w, list(range(nd - 1)) + ["x", nd - 1]))
        eye = _eye_mask(e, V, "eq")
        D = e("mul", e("div", e.const(1, V.dtype), e("add", diff, eye)), e("sub", e.const(1, V.dtype), eye))
        K = e("mul", _mT(e, e("matmul", _mT(e, V), g)), D)
        return [_lower_read(e, e("matmul", e("matmul", V, K), _mT(e, V)), lower)]


class _QR(_LinAlg):
    """Householder QR (reduced: k = min(m, n)); LAPACK's signs. Gradient
    for m >= n (full column rank), as PyTensor's: with
    M = R gR^T - gQ^T Q and copyltu(M) = tril(M) + tril(M, -1)^T,
    gA = (gQ + Q copyltu(M)) R^-T -- here per op (the other's gradient 0).
    A wide a (m < n) has a non-square R: the solve refuses it at run time."""
    has_grad = True

    def grad(self, op, grads):
        a, g, e = op.operands[0], grads[0], emitter(op)
        a = _bcast(e, op, g, a)
        Q, R = e("qr_q", a), e("qr_r", a)
        if self.name == "qr_q":
            M = e("neg", e("matmul", _mT(e, g), Q))
            base = g
        else:
            M = e("matmul", R, _mT(e, g))
            base = None
        lo = _tril(e, M)
        sym = e("add", lo, _mT(e, e("sub", lo, _diag_part(e, M))))
        X = e("matmul", Q, sym)
        if base is not None:
            X = e("add", base, X)
        # X R^-T = (R^-1 X^T)^T
        return [_mT(e, e("solve_triangular", R, _mT(e, X), lower=False, trans=False, unit_diagonal=False))]

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        if a.dtype not in FLOATS:
            raise TypeError(f"{self.name}: a must be float32 or float64, got {a.dtype}")
        if a.ndim < 2:
            raise ValueError(f"{self.name}: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
        m, n = a.shape[-2], a.shape[-1]
        k = None if m is None or n is None else min(m, n)
        return result(a.dtype, a.shape[:-2] + self.shape(m, n, k))

    def dims(self, op, shapes):
        s = tuple(shapes.of(op.operands[0]))
        m, n = s[-2], s[-1]
        if isinstance(m, int) and isinstance(n, int):
            k = min(m, n)
        elif m == n:
            k = m
        else:           # min(m, n): a new symbol (result dim k sits at -1 of Q, -2 of R)
            k = shapes.fresh(len(s) - 1 if self.name == "qr_q" else len(s) - 2)
        return [s[:-2] + self.shape(m, n, k)]


class QrQ(_QR):
    """Q (m x k, orthonormal columns) of a = Q R."""
    name = "qr_q"

    @staticmethod
    def shape(m, n, k):
        return (m, k)

    def reference(self, op, a):
        return [np.linalg.qr(a, mode="reduced")[0].astype(a.dtype, copy=False)]


class QrR(_QR):
    """R (k x n, upper triangular) of a = Q R."""
    name = "qr_r"

    @staticmethod
    def shape(m, n, k):
        return (k, n)

    def reference(self, op, a):
        return [np.linalg.qr(a, mode="reduced")[1].astype(a.dtype, copy=False)]


OPS = [Cholesky, SolveTriangular, Solve, MatrixInverse, Det, Eigvalsh, EighVectors, QrQ, QrR]


class _SVD(_LinAlg):
    """The singular value decomposition a = U diag(s) Vt (one-sided Jacobi,
    Hestenes): ``svd_s`` the singular values, descending (..., k),
    k = min(m, n); ``svd_u{full_matrices}`` U (..., m, k or m) and
    ``svd_vt{full_matrices}`` Vt (..., k or n, n) -- orthonormal, the
    columns of U / rows of Vt belonging to zero singular values (and the
    ``full_matrices`` completion) any orthonormal basis of the rest; signs
    may differ from LAPACK's. Gradient: svd_s's U diag(g) Vt (U, Vt
    reduced); none for U / Vt (Theano has none for SVD)."""

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        if a.dtype not in FLOATS:
            raise TypeError(f"{self.name}: a must be float32 or float64, got {a.dtype}")
        if a.ndim < 2:
            raise ValueError(f"{self.name}: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
        m, n = a.shape[-2], a.shape[-1]
        k = None if m is None or n is None else min(m, n)
        return result(a.dtype, a.shape[:-2] + self.shape(op, m, n, k))

    def dims(self, op, shapes):
        s = tuple(shapes.of(op.operands[0]))
        m, n = s[-2], s[-1]
        if isinstance(m, int) and isinstance(n, int):
            k = min(m, n)
        elif m == n:
            k = m
        else:
            k = shapes.fresh(self.k_axis(op, len(s)))
        return [s[:-2] + self.shape(op, m, n, k)]

    def _np(self, op, a):
        full = bool(op.attrs.get("full_matrices", False))
        return np.linalg.svd(a, full_matrices=full)


class SvdS(_SVD):
    """The singular values of a, descending: shape a.shape[:-2] + (k,)."""
    name = "svd_s"
    has_grad = True

    @staticmethod
    def shape(op, m, n, k):
        return (k,)

    @staticmethod
    def k_axis(op, nd):
        return nd - 2

    def reference(self, op, a):
        return [np.linalg.svd(a, compute_uv=False).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        """U diag(g) Vt (reduced U and Vt)."""
        a, g, e = op.operands[0], grads[0], emitter(op)
        a = _bcast(e, op, g, a)
        U = e("svd_u", a, full_matrices=False)
        Vt = e("svd_vt", a, full_matrices=False)
        gu = e("mul", U, e.dimshuffle(g, list(range(g.ndim - 1)) + ["x", g.ndim - 1]))
        return [e("matmul", gu, Vt)]


class _NoGradient:
    """An op Theano gives no gradient: its rule raises NotImplementedError
    naming the op and ``no_grad_hint`` (the grad table differentiates it
    only on constants)."""
    has_grad = True
    no_grad_hint = ""

    def grad(self, op, grads):
        raise NotImplementedError(f"the gradient of {self.name} is not implemented (as in Theano): "
                                  f"{self.no_grad_hint}")


class _SVDFactor(_NoGradient, _SVD):
    """U or Vt: no gradient (as in Theano); only svd_s is differentiable."""
    required_attrs = ("full_matrices",)
    no_grad_hint = "of svd only the singular values (svd_s) are differentiable"


class SvdU(_SVDFactor):
    """U of a = U diag(s) Vt: (..., m, k), or (..., m, m) with ``full_matrices``."""
    name = "svd_u"

    @staticmethod
    def shape(op, m, n, k):
        return (m, m if op.attrs["full_matrices"] else k)

    @staticmethod
    def k_axis(op, nd):
        return nd - 1

    def reference(self, op, a):
        return [self._np(op, a)[0].astype(a.dtype, copy=False)]


class SvdVt(_SVDFactor):
    """Vt of a = U diag(s) Vt: (..., k, n), or (..., n, n) with ``full_matrices``."""
    name = "svd_vt"

    @staticmethod
    def shape(op, m, n, k):
        return (n if op.attrs["full_matrices"] else k, n)

    @staticmethod
    def k_axis(op, nd):
        return nd - 2

    def reference(self, op, a):
        return [self._np(op, a)[2].astype(a.dtype, copy=False)]


OPS += [SvdS, SvdU, SvdVt]


class Pinv(_LinAlg):
    """The Moore-Penrose pseudo-inverse of a (batch of) m x n matrices:
    (..., n, m) = Vt^T diag(s+) U^T with s+ = 1/s where s > rcond * max(s),
    else 0 (``np.linalg.pinv``'s rcond semantics; the SVD by one-sided
    Jacobi). Gradient: Theano's (Golub and Pereyra), with Z = pinv(a):
    (-Z g^T Z + Z Z^T g (I - a Z) + (I - Z a) g Z^T Z)^T."""
    name = "pinv"
    required_attrs = ("rcond",)
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        if a.dtype not in FLOATS:
            raise TypeError(f"pinv: a must be float32 or float64, got {a.dtype}")
        if a.ndim < 2:
            raise ValueError(f"pinv: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
        return result(a.dtype, a.shape[:-2] + (a.shape[-1], a.shape[-2]))

    def dims(self, op, shapes):
        s = tuple(shapes.of(op.operands[0]))
        return [s[:-2] + (s[-1], s[-2])]

    def reference(self, op, a):
        return [np.linalg.pinv(a, rcond=float(op.attrs["rcond"])).astype(a.dtype, copy=False)]

    def grad(self, op, grads):
        a, z, g, e = op.operands[0], op.results[0], grads[0], emitter(op)
        a, z = _bcast(e, op, g, a, z)
        mm = lambda *xs: xs[0] if len(xs) == 1 else e("matmul", xs[0], mm(*xs[1:]))  # noqa: E731
        az, za = mm(a, z), mm(z, a)
        i_az = e("sub", _eye_mask(e, az, "eq"), az)
        i_za = e("sub", _eye_mask(e, za, "eq"), za)
        zt, gt = _mT(e, z), _mT(e, g)
        out = e("add", e("neg", mm(z, gt, z)), e("add", mm(z, zt, g, i_az), mm(i_za, g, zt, z)))
        return [_mT(e, out)]


OPS += [Pinv]


def _eig_tolerance(a):
    """The largest imaginary part that ``eig`` treats as rounding (a real
    double eigenvalue): sqrt(eps) times the entrywise 1-norm of a."""
    return float(np.sqrt(np.finfo(a.dtype).eps)) * float(np.abs(a).sum(axis=(-2, -1)).max(initial=0.0))


class _Eig(_NoGradient, _LinAlg):
    """The eigen decomposition of a general real square matrix (batched):
    Householder reduction to upper Hessenberg form, Francis double-shift QR
    to the real Schur form, eigenvectors by back-substitution and
    back-transformation (EISPACK's orthes/hqr2, as JAMA's). theon has no
    complex dtype, so as Theano's ``Eig`` the results have a's real dtype:
    a complex conjugate pair of eigenvalues (imaginary part above
    sqrt(eps) times a's entrywise 1-norm; smaller ones count as a double
    real eigenvalue) -> LinAlgError (LINALG_COMPLEX); a matrix holding infs
    or NaNs, or an iteration that does not converge -> LinAlgError
    (LINALG_NO_CONVERGENCE). Eigenvalues in the order of the Schur form's
    diagonal (which may differ from LAPACK's), eigenvectors unit-norm
    columns (signs free). No gradient: Theano has none for ``Eig``."""
    no_grad_hint = "Theano's Eig has none; for symmetric matrices eigh is differentiable"

    def infer(self, op):
        self.check_arity(op)
        a = op.operands[0].type
        _square(self.name, a)
        n = _pick(a.shape[-1], a.shape[-2])
        return result(a.dtype, a.shape[:-2] + self.shape(n))

    def dims(self, op, shapes):
        s = tuple(shapes.of(op.operands[0]))
        return [s[:-1] if self.name == "eigvals" else s]

    def _np(self, a):
        if not np.all(np.isfinite(a)):
            raise np.linalg.LinAlgError(f"{self.name}: Array must not contain infs or NaNs")
        w, v = np.linalg.eig(a)
        if np.iscomplexobj(w) and np.any(np.abs(w.imag) > _eig_tolerance(a)):
            raise np.linalg.LinAlgError(f"{self.name}: the matrix has complex eigenvalues "
                                        "(theon has no complex dtype)")
        return w.real.astype(a.dtype, copy=False), v.real.astype(a.dtype, copy=False)



class Eigvals(_Eig):
    """The eigenvalues of a general real square matrix: shape a.shape[:-1]."""
    name = "eigvals"

    @staticmethod
    def shape(n):
        return (n,)

    def reference(self, op, a):
        return [self._np(a)[0]]


class EigVectors(_Eig):
    """The eigenvectors (unit-norm columns, in ``eigvals``' order) of a
    general real square matrix."""
    name = "eig_vectors"

    @staticmethod
    def shape(n):
        return (n, n)

    def reference(self, op, a):
        return [self._np(a)[1]]


OPS += [Eigvals, EigVectors]
