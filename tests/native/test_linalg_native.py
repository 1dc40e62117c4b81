"""Dense linear algebra in native code (codegen/cpu/lower/la.py): the shared
table (tests/linalg_helpers.py) compiled and compared with NumPy (float32,
float64, integers cast, batched, empty, non-contiguous), larger matrices
(several blocks of every kernel loop), gradients against finite differences,
singular / not positive definite matrices and shape mismatches as Python
exceptions (numpy.linalg.LinAlgError, ValueError) in a subprocess, and
aot-compile."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nlinalg, slinalg

from ..compile_helpers import shared_function
from ..linalg_helpers import assert_matches, general, linalg_cases, noncontiguous_cases, rhs, spd, symbolic_inputs

CASES = linalg_cases() + noncontiguous_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_against_numpy(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    f = shared_function(xs, build(*xs), on_unused_input="ignore")     # one compile per op, dtype and rank
    assert_matches(f(*arrays), numpy_fn(*arrays), case_id)


@pytest.mark.parametrize("n", [37, 130])
def test_larger_systems(n):
    a, b = T.dmatrix(), T.dmatrix()
    f = theon.function([a, b], [slinalg.cholesky(a), slinalg.solve(a, b), nlinalg.det(a / 10)])
    A, B = spd(n, n), rhs(n, 5)
    L, x, d = f(A, B)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(x, np.linalg.solve(A, B), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(d, np.linalg.det(A / 10), rtol=1e-8)


def test_blocked_cholesky_batched_float32():
    a = T.ftensor3()
    f = theon.function([a], slinalg.cholesky(a))
    A = spd(2, 150, 150, dtype="float32")
    np.testing.assert_allclose(f(A), np.linalg.cholesky(A.astype(np.float64)), rtol=2e-3, atol=2e-4)


def _fd(fun, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (fun(xp) - fun(xm)) / (2 * eps)
    return g


_W = np.random.default_rng(7).standard_normal((4, 4))
_W2 = np.random.default_rng(8).standard_normal((4, 2))
GRADS = [
    ("cholesky", lambda a, b: (slinalg.cholesky(a) * _W).sum(), lambda a, b: (np.linalg.cholesky(a) * _W).sum()),
    ("cholesky-upper", lambda a, b: (slinalg.cholesky(a, lower=False) * _W).sum(),
     lambda a, b: (np.linalg.cholesky(a.T).T * _W).sum()),
    ("solve", lambda a, b: (slinalg.solve(a, b) * _W2).sum(), lambda a, b: (np.linalg.solve(a, b) * _W2).sum()),
    ("matrix_inverse", lambda a, b: (nlinalg.matrix_inverse(a) * _W).sum(), lambda a, b: (np.linalg.inv(a) * _W).sum()),
    ("det", lambda a, b: nlinalg.det(a), lambda a, b: np.linalg.det(a)),
    ("eigh", lambda a, b: (nlinalg.eigh(a)[0] * _W[0]).sum() + (nlinalg.eigh(a)[1] ** 2 * _W).sum(),
     lambda a, b: (np.linalg.eigh(a)[0] * _W[0]).sum() + (np.linalg.eigh(a)[1] ** 2 * _W).sum()),
    ("qr", lambda a, b: (nlinalg.qr(a)[0] * _W).sum() + (nlinalg.qr(a)[1] * _W.T).sum(),
     lambda a, b: (np.linalg.qr(a)[0] * _W).sum() + (np.linalg.qr(a)[1] * _W.T).sum()),
    ("eigh-upper", lambda a, b: (nlinalg.eigvalsh(a, "U") * _W[1]).sum() + (nlinalg.eigh(a, "U")[1] ** 2 * _W).sum(),
     lambda a, b: (np.linalg.eigvalsh(a, "U") * _W[1]).sum() + (np.linalg.eigh(a, "U")[1] ** 2 * _W).sum()),
    ("solve_triangular-lower", lambda a, b: (slinalg.solve_triangular(a, b, lower=True) * _W2).sum(),
     lambda a, b: (np.linalg.solve(np.tril(a), b) * _W2).sum()),
    ("solve_triangular-upper-trans-unit",
     lambda a, b: (slinalg.solve_triangular(a, b, lower=False, trans=1, unit_diagonal=True) * _W2).sum(),
     lambda a, b: (np.linalg.solve((np.triu(a, 1) + np.eye(4)).T, b) * _W2).sum()),
]


@pytest.mark.parametrize("row", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_against_finite_differences(row):
    _, sym, num = row
    a, b = T.dmatrix(), T.dmatrix()
    cost = sym(a, b)
    wrt = [a, b] if "solve" in row[0] else [a]
    grads = theon.grad(cost, wrt)
    f = theon.function([a, b], grads, on_unused_input="ignore")
    A, B = spd(4, 4) + 0.3 * np.random.default_rng(3).standard_normal((4, 4)) * ("cholesky" not in row[0]), rhs(4, 2)
    got = f(A, B)
    np.testing.assert_allclose(got[0], _fd(lambda x: num(x, B), A), rtol=1e-5, atol=1e-7)
    if len(wrt) == 2:
        np.testing.assert_allclose(got[1], _fd(lambda x: num(A, x), B), rtol=1e-5, atol=1e-7)


BAD = [
    ("slinalg.cholesky(x)", "-np.eye(3)", "np.linalg.LinAlgError", "not positive definite"),
    ("slinalg.cholesky(x)", "np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])", "np.linalg.LinAlgError",
     "batch element 1"),
    ("slinalg.cholesky(x)", "np.full((2, 2), np.nan)", "np.linalg.LinAlgError", "not positive definite"),
    ("slinalg.solve(x, x)", "np.zeros((3, 3))", "np.linalg.LinAlgError", "Singular matrix"),
    ("nlinalg.matrix_inverse(x)", "np.ones((4, 4))", "np.linalg.LinAlgError", "Singular matrix"),
    ("slinalg.solve_triangular(x, x, lower=True)", "np.triu(np.ones((3, 3)), 1)", "np.linalg.LinAlgError", "Singular"),
    ("slinalg.solve(x, x[:2])", "np.eye(3)", "ValueError", "expected"),
    ("nlinalg.det(x)", "np.ones((2, 3))", "ValueError", "square"),
    ("nlinalg.det(x)", "np.zeros((2, 2))", "Exception", "NOTRAISED"),
]


@pytest.mark.parametrize("expr,value,exc,words", BAD, ids=[b[0] + " " + b[1] for b in BAD])
def test_bad_input_raises(run_python, expr, value, exc, words):
    code = f"""
        import numpy as np, theon, theon.tensor as T
        from theon.tensor import nlinalg, slinalg
        x = T.dtensor3("x") if {value!r}.startswith("np.stack") else T.dmatrix("x")
        f = theon.function([x], {expr})
        try:
            r = f({value})
        except {exc} as e:
            print("RAISED", e)
        else:
            print("NO ERROR NOTRAISED", r)
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert words in r.stdout, r.stdout
    if words != "NOTRAISED":
        assert "RAISED" in r.stdout and "NO ERROR" not in r.stdout, r.stdout


AOT_SOURCE = """
import theon, theon.tensor as T
from theon.tensor import nlinalg, slinalg
a = T.dmatrix("a")
b = T.dmatrix("b")
la = theon.function([a, b], [slinalg.cholesky(a), slinalg.solve(a, b), slinalg.solve_triangular(a, b, lower=True),
                             nlinalg.matrix_inverse(a), nlinalg.det(a), nlinalg.eigvalsh(a), nlinalg.qr(b)[1]])
"""


def test_aot_compile(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "la.py"
    src.write_text(AOT_SOURCE)
    r = subprocess.run([sys.executable, "-m", "theon.runtime.aot_cli", str(src), "-o", str(tmp_path),
                        "--emit", "header,shared"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    g = theon.runtime.load_library(tmp_path / "libla.so")
    A, B = spd(6, 6), rhs(6, 2)
    L, x, t, inv, d, w, r = g(A, B)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r, np.linalg.qr(B)[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(A, B), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t, np.linalg.solve(np.tril(A), B), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(inv, np.linalg.inv(A), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d, np.linalg.det(A), rtol=1e-9)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        g(-A, B)


# --- random inputs (hypothesis) -----------------------------------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_COMPILED = {}


def _random_fn(dtype):
    if dtype not in _COMPILED:
        a, b = T.tensor(dtype, shape=(None, None, None)), T.tensor(dtype, shape=(None, None, None))
        spd_ = T.batched_dot(a, a.dimshuffle(0, 2, 1)) + T.eye(a.shape[1], dtype=dtype) * a.shape[1]
        outs = [slinalg.cholesky(spd_), slinalg.solve(a, b), nlinalg.det(a), nlinalg.eigvalsh(spd_),
                nlinalg.qr(a, mode="r")]
        _COMPILED[dtype] = theon.function([a, b], outs)
    return _COMPILED[dtype]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(["float32", "float64"]), batch=st.integers(0, 3), n=st.integers(0, 20),
       k=st.integers(0, 4), seed=st.integers(0, 2 ** 16))
def test_random_systems_against_numpy(dtype, batch, n, k, seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((batch, n, n)) + 2 * np.eye(n) * np.sqrt(n + 1)).astype(dtype)
    b = rng.standard_normal((batch, n, k)).astype(dtype)
    chol, x, d, w, r = _random_fn(dtype)(a, b)
    a64 = a.astype(np.float64)
    s = a64 @ np.swapaxes(a64, 1, 2) + n * np.eye(n)
    tol = dict(rtol=2e-3, atol=2e-3) if dtype == "float32" else dict(rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(chol, np.linalg.cholesky(s), **tol)
    np.testing.assert_allclose(x, np.linalg.solve(a64, b), **tol)
    np.testing.assert_allclose(d, np.linalg.det(a64), rtol=tol["rtol"] * 10)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(s), rtol=tol["rtol"], atol=tol["atol"] * max(n, 1) ** 2)
    np.testing.assert_allclose(r, np.linalg.qr(a64, mode="r"), **tol)
