"""The DSL of dense linear algebra (``ir/ops/la.py``): ``theon.tensor.nlinalg``
and ``theon.tensor.slinalg`` re-export these under Theano's names.

Integer and bool operands are cast to float64 (NumPy's ``linalg`` does the
same); float16 is refused, as by NumPy's ``linalg`` (cast to float32 first);
a vector ``b`` gets a trailing dim for the ops and loses it again."""
from .basic import apply_op, as_tensor_variable, cast
from .builders import diag, diagonal

_FLOATS = ("float32", "float64")


def _no_float16(x, name, what):
    if x.dtype == "float16":
        raise TypeError(f"{name}: {what} is float16, which linear algebra does not support (nor does "
                        f"NumPy's linalg); cast it to float32 first")


def _float(x, name, what):
    x = as_tensor_variable(x)
    _no_float16(x, name, what)
    if x.dtype not in _FLOATS:
        x = cast(x, "float64")
    return x


def _matrix(x, name, what="a"):
    x = _float(x, name, what)
    if x.ndim < 2:
        raise ValueError(f"{name}: {what} must be a (batch of) square matrices (at least 2-d), got {x.ndim}-d")
    return x


def _pair(a, b, name):
    a = _matrix(a, name)
    b = _float(b, name, "b")
    if b.dtype != a.dtype:
        common = "float64" if "float64" in (a.dtype, b.dtype) else "float32"
        a, b = cast(a, common), cast(b, common)
    vector = b.ndim == a.ndim - 1
    if vector:
        b = b.dimshuffle(list(range(b.ndim)) + ["x"])
    elif b.ndim != a.ndim:
        raise ValueError(f"{name}: b must have a's batch dims and be (..., n) or (..., n, k); "
                         f"got a {a.ndim}-d a and a {b.ndim}-d b")
    return a, b, vector


def _unpair(x, vector):
    return x.dimshuffle(list(range(x.ndim - 1))) if vector else x


def cholesky(a, lower=True):
    """The Cholesky factor of SPD ``a`` (batched): lower L with a = L L^T,
    or (``lower=False``) upper U = L^T with a = U^T U. Reads one triangle
    (lower: a's lower; upper: a's upper). Not positive definite:
    ``numpy.linalg.LinAlgError``."""
    a = _matrix(a, "cholesky")
    if lower:
        return apply_op("cholesky", a)
    at = a.dimshuffle(list(range(a.ndim - 2)) + [a.ndim - 1, a.ndim - 2])
    L = apply_op("cholesky", at)
    return L.dimshuffle(list(range(a.ndim - 2)) + [a.ndim - 1, a.ndim - 2])


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    """scipy.linalg.solve_triangular: x with op(a) x = b, op(a) = a
    (``trans`` 0/'N'), a^T (1/'T'/2/'C'); reads only a's ``lower`` (or
    upper) triangle; a zero on the diagonal: ``numpy.linalg.LinAlgError``."""
    t = {0: False, 1: True, 2: True, "N": False, "T": True, "C": True}.get(trans)
    if t is None:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b, vector = _pair(a, b, "solve_triangular")
    x = apply_op("solve_triangular", a, b, lower=bool(lower), trans=t, unit_diagonal=bool(unit_diagonal))
    return _unpair(x, vector)


def solve(a, b, assume_a="gen", lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          sym_pos=False, transposed=False):
    """x with a x = b (LU with partial pivoting, batched); ``b`` (..., n) or
    (..., n, k). ``assume_a`` ('gen', 'sym', 'her', 'pos') and ``sym_pos``
    are accepted (every kind is solved by LU: a correct answer for each).
    Singular a: ``numpy.linalg.LinAlgError``."""
    if assume_a not in ("gen", "sym", "her", "pos"):
        raise ValueError(f"solve: assume_a must be 'gen', 'sym', 'her' or 'pos', got {assume_a!r}")
    a, b, vector = _pair(a, b, "solve")
    if transposed:
        a = a.dimshuffle(list(range(a.ndim - 2)) + [a.ndim - 1, a.ndim - 2])
    return _unpair(apply_op("solve", a, b), vector)


def solve_lower_triangular(a, b):
    return solve_triangular(a, b, lower=True)


def solve_upper_triangular(a, b):
    return solve_triangular(a, b, lower=False)


def solve_symmetric(a, b):
    return solve(a, b, assume_a="sym")


def matrix_inverse(a):
    """The inverse of square ``a`` (batched); singular: ``numpy.linalg.LinAlgError``."""
    return apply_op("matrix_inverse", _matrix(a, "matrix_inverse"))


def det(a):
    """The determinant of square ``a`` (batched: shape a.shape[:-2]); 0 for a singular a."""
    return apply_op("det", _matrix(a, "det"))


def eigvalsh(a, UPLO="L"):
    """The eigenvalues (ascending) of symmetric ``a`` (batched), read from
    its lower (``UPLO='L'``) or upper triangle; cyclic Jacobi rotations."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigvalsh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return apply_op("eigvalsh", _matrix(a, "eigvalsh"), lower=UPLO == "L")


def eigh(a, UPLO="L"):
    """(w, v): ``np.linalg.eigh`` -- eigenvalues ascending and the
    eigenvectors as v's columns (each column's sign as the solver leaves
    it, which may differ from LAPACK's)."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    a = _matrix(a, "eigh")
    return apply_op("eigvalsh", a, lower=UPLO == "L"), apply_op("eigh_vectors", a, lower=UPLO == "L")


def eig(a):
    """(w, v): ``np.linalg.eig`` of a general real square ``a`` (batched),
    as Theano's ``nlinalg.eig``: w and v of a's real dtype (theon has no
    complex dtype), so a matrix with complex eigenvalues raises
    ``numpy.linalg.LinAlgError``. Hessenberg reduction and Francis
    double-shift QR; v's columns unit-norm eigenvectors (signs free), the
    order of the eigenvalues the real Schur form's (it may differ from
    LAPACK's). No gradient (Theano has none; ``eigh`` has one)."""
    a = _matrix(a, "eig")
    return apply_op("eigvals", a), apply_op("eig_vectors", a)


def eigvals(a):
    """``np.linalg.eigvals`` of a general real square ``a`` (batched; see ``eig``)."""
    return apply_op("eigvals", _matrix(a, "eigvals"))


def qr(a, mode="reduced"):
    """``np.linalg.qr`` by Householder reflections (batched): mode
    'reduced' -> (Q, R), 'r' -> R, 'complete' for square or wide a (where
    it equals 'reduced'). Theano's ``qr``; no gradient (Theano has none)."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"qr: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
    _no_float16(a, "qr", "a")
    if a.dtype not in _FLOATS:
        a = cast(a, "float64")
    if mode == "complete":
        m, n = a.type.shape[-2], a.type.shape[-1]
        if m is None or n is None or m > n:
            raise NotImplementedError("qr: mode='complete' is supported for matrices with static m <= n only "
                                      "(use mode='reduced')")
        mode = "reduced"
    if mode == "r":
        return apply_op("qr_r", a)
    if mode != "reduced":
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return apply_op("qr_q", a), apply_op("qr_r", a)


def matrix_power(M, n):
    """``np.linalg.matrix_power`` for a Python int ``n`` (negative: of the
    inverse), by repeated squaring of matrix products."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"matrix_power: n must be a Python int, got {type(n).__name__}")
    M = as_tensor_variable(M)
    if M.ndim < 2:
        raise ValueError(f"matrix_power: M must be a (batch of) square matrices, got {M.ndim}-d")
    if n < 0:
        M, n = matrix_inverse(M), -n
    if n == 0:
        from .builders import eye
        e = eye(M.shape[-1], dtype=M.dtype)
        return e + M * 0
    result, base = None, M
    while n:
        if n & 1:
            result = base if result is None else _matmul(result, base)
        n >>= 1
        if n:
            base = _matmul(base, base)
    return result


def _matmul(x, y):
    return apply_op("matmul", x, y)


def extract_diag(x):
    """Theano's ``ExtractDiag``: the main diagonal of a matrix."""
    return diagonal(x)


def alloc_diag(x):
    """Theano's ``AllocDiag``: the square matrix with ``x`` on its diagonal."""
    return diag(x)


def svd(a, full_matrices=True, compute_uv=True):
    """``np.linalg.svd`` (Theano's ``nlinalg.svd``), batched, by one-sided
    Jacobi: (U, s, Vt) with s descending, or s alone (``compute_uv=False``);
    U (..., m, m) and Vt (..., n, n) with ``full_matrices``, else
    (..., m, k) and (..., k, n), k = min(m, n). The signs of U's columns /
    Vt's rows may differ from LAPACK's. Gradient: of s only (U diag(g) Vt)."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"svd: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
    _no_float16(a, "svd", "a")
    if a.dtype not in _FLOATS:
        a = cast(a, "float64")
    s = apply_op("svd_s", a)
    if not compute_uv:
        return s
    full = bool(full_matrices)
    return apply_op("svd_u", a, full_matrices=full), s, apply_op("svd_vt", a, full_matrices=full)


def pinv(a, rcond=1e-15, hermitian=False):
    """``np.linalg.pinv`` (Theano's ``nlinalg.pinv``), batched: singular
    values <= ``rcond`` * max(s) count as zero. ``rcond`` a Python number;
    ``hermitian`` is accepted (the general SVD serves both)."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"pinv: a must be a (batch of) matrices, at least 2-d, got {a.ndim}-d")
    if isinstance(rcond, bool) or not isinstance(rcond, (int, float)):
        raise TypeError(f"pinv: rcond must be a Python number, got {type(rcond).__name__}")
    _no_float16(a, "pinv", "a")
    if a.dtype not in _FLOATS:
        a = cast(a, "float64")
    return apply_op("pinv", a, rcond=float(rcond))


def lstsq(a, b, rcond=-1):
    """Theano's ``nlinalg.lstsq`` / ``np.linalg.lstsq``: [x, residuals, rank,
    s] for a 2-d ``a`` (m x n) and ``b`` (m,) or (m, k), via the SVD:
    x = pinv(a) b with singular values <= rcond * max(s) dropped
    (``rcond`` < 0: the dtype's machine epsilon, as LAPACK's gelsd; None:
    eps * max(m, n), NumPy's default); residuals the squared 2-norms of
    b - a x per column ((k,), (1,) for a vector b) when rank == n < m, else
    empty, as NumPy; rank an int64 scalar; s the singular values."""
    import numpy as np
    from . import elemwise as E, reduce as R
    a, b, vector = _pair(a, b, "lstsq")
    if a.ndim != 2:
        raise ValueError(f"lstsq: a must be a matrix, got {a.ndim}-d")
    eps = float(np.finfo(a.dtype).eps)
    if rcond is None:
        m_, n_ = a.type.shape
        if m_ is None or n_ is None:
            raise ValueError("lstsq: rcond=None needs a's static shape; pass a number")
        rcond = eps * max(m_, n_)
    if isinstance(rcond, bool) or not isinstance(rcond, (int, float)):
        raise TypeError(f"lstsq: rcond must be a Python number or None, got {type(rcond).__name__}")
    rcond = eps if rcond < 0 else float(rcond)
    s = apply_op("svd_s", a)
    x = apply_op("matmul", apply_op("pinv", a, rcond=rcond), b)
    smax = R.sum(s[:1])                 # s descends: its first value (0 when empty)
    rank = R.sum(cast(E.gt(s, smax * rcond), "int64"))
    full = cast(E.and_(E.eq(rank, a.shape[1]), E.gt(a.shape[0], a.shape[1])), "int64")
    res = R.sum((b - apply_op("matmul", a, x)) ** 2, axis=0)
    res = res[:full * res.shape[0]]
    return [_unpair(x, vector), res, rank, s]
