"""SVD, pinv, lstsq and the singular-value norms in native code
(codegen/cpu/lower/la.py's one-sided Jacobi ``gesvj``) beyond the shared
table (tests/linalg_helpers.py's svd_cases, run by test_linalg_native.py):
gradients against finite differences, non-contiguous inputs, larger
matrices in both dtypes, repeated and zero singular values, NaN input, and
the missing U / Vt gradient as a clear error."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nlinalg, slinalg

RNG = np.random.default_rng(2024)


def _fd(fun, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (fun(xp) - fun(xm)) / (2 * eps)
    return g


def _check_svd(a, u, s, vt, full, tol):
    k = min(a.shape[-2:])
    np.testing.assert_allclose(s, np.linalg.svd(a.astype(np.float64), compute_uv=False), rtol=tol,
                               atol=tol * max(1, np.abs(a).max()))
    rec = (u[..., :k] * s[..., None, :]) @ vt[..., :k, :]
    np.testing.assert_allclose(rec, a, atol=tol * max(1, np.abs(a).max()) * 10)
    m, n = a.shape[-2:]
    assert u.shape[-2:] == (m, m if full else k) and vt.shape[-2:] == (n if full else k, n)
    for g in (np.swapaxes(u, -1, -2) @ u, vt @ np.swapaxes(vt, -1, -2)):
        np.testing.assert_allclose(g, np.broadcast_to(np.eye(g.shape[-1]), g.shape), atol=tol * 10)
    assert np.all(np.diff(s, axis=-1) <= 0)


W = RNG.standard_normal((5, 5))
GRADS = [
    ("svd_s-tall", (5, 3), lambda a: (nlinalg.svd(a, compute_uv=False) * W[0, :3]).sum(),
     lambda a: (np.linalg.svd(a, compute_uv=False) * W[0, :3]).sum()),
    ("svd_s-wide", (3, 5), lambda a: (nlinalg.svd(a, compute_uv=False) ** 2 * W[1, :3]).sum(),
     lambda a: (np.linalg.svd(a, compute_uv=False) ** 2 * W[1, :3]).sum()),
    ("pinv-tall", (5, 3), lambda a: (nlinalg.pinv(a) * W[:3]).sum(), lambda a: (np.linalg.pinv(a) * W[:3]).sum()),
    ("pinv-wide", (3, 5), lambda a: (nlinalg.pinv(a) * W[:, :3]).sum(),
     lambda a: (np.linalg.pinv(a) * W[:, :3]).sum()),
    ("pinv-square", (4, 4), lambda a: (nlinalg.pinv(a) * W[:4, :4]).sum(),
     lambda a: (np.linalg.pinv(a) * W[:4, :4]).sum()),
    ("lstsq-x", (6, 3), lambda a: (nlinalg.lstsq(a, W[:, :2].repeat(2, 0)[:6], -1)[0] * W[:3, :2]).sum(),
     lambda a: (np.linalg.lstsq(a, W[:, :2].repeat(2, 0)[:6], rcond=-1)[0] * W[:3, :2]).sum()),
    ("norm-2", (4, 3), lambda a: nlinalg.norm(a, 2), lambda a: np.linalg.norm(a, 2)),
    ("norm-nuc", (3, 4), lambda a: nlinalg.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc")),
    ("norm--2", (4, 4), lambda a: nlinalg.norm(a, -2), lambda a: np.linalg.norm(a, -2)),
]


@pytest.mark.parametrize("row", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_against_finite_differences(row):
    _, shape, sym, num = row
    a = T.dmatrix()
    f = theon.function([a], theon.grad(sym(a), a))
    A = RNG.standard_normal(shape)
    np.testing.assert_allclose(f(A), _fd(num, A), rtol=1e-5, atol=1e-7)


def test_batched_gradient_of_singular_values():
    a = T.dtensor3()
    f = theon.function([a], theon.grad(nlinalg.svd(a, compute_uv=False).sum(), a))
    A = RNG.standard_normal((3, 4, 2))
    u, _, vt = np.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(f(A), u @ vt, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("shape", [(60, 40), (40, 60), (2, 33, 33)])
@pytest.mark.parametrize("full", [True, False])
def test_larger_matrices(dtype, tol, shape, full):
    a = T.tensor(dtype, shape=(None,) * len(shape))
    f = theon.function([a], list(nlinalg.svd(a, full_matrices=full)))
    A = RNG.standard_normal(shape).astype(dtype)
    u, s, vt = f(A)
    assert u.dtype == s.dtype == vt.dtype == np.dtype(dtype)
    _check_svd(A, u, s, vt, full, tol)


@pytest.mark.parametrize("name,A", [
    ("identity", np.eye(5)),
    ("repeated", np.diag([3.0, 3.0, 1.0, 1.0])[:, :3] @ np.linalg.qr(RNG.standard_normal((3, 3)))[0]),
    ("zeros", np.zeros((4, 3))),
    ("rank1-wide", np.outer(RNG.standard_normal(3), RNG.standard_normal(7))),
    ("column", RNG.standard_normal((6, 1))),
    ("row", RNG.standard_normal((1, 6))),
])
@pytest.mark.parametrize("full", [True, False])
def test_special_matrices(name, A, full):
    a = T.dmatrix()
    f = theon.function([a], list(nlinalg.svd(a, full_matrices=full)))
    _check_svd(A, *f(A), full, 1e-12)


def test_noncontiguous_inputs():
    a = T.dmatrix()
    A = RNG.standard_normal((9, 8))
    f = theon.function([a], [nlinalg.svd(a.T[::2], compute_uv=False), nlinalg.pinv(a[::-1, ::3]),
                             *nlinalg.svd(a[1::2].T, full_matrices=True)])
    s, p, u, s2, vt = f(A)
    np.testing.assert_allclose(s, np.linalg.svd(A.T[::2], compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(p, np.linalg.pinv(A[::-1, ::3]), rtol=1e-10, atol=1e-12)
    _check_svd(A[1::2].T, u, s2, vt, True, 1e-12)


def test_lstsq_vector_and_slinalg_name():
    a, b = T.dmatrix(), T.dvector()
    f = theon.function([a, b], nlinalg.lstsq(a, b))
    A, B = RNG.standard_normal((7, 3)), RNG.standard_normal(7)
    for got, exp in zip(f(A, B), np.linalg.lstsq(A, B, rcond=-1)):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12)
    assert slinalg.lstsq is nlinalg.lstsq


def test_nan_input_gives_nan_results():
    a = T.dmatrix()
    f = theon.function([a], [*nlinalg.svd(a), nlinalg.pinv(a)])
    A = RNG.standard_normal((4, 3))
    A[2, 1] = np.nan
    for r in f(A):
        assert np.isnan(r).all()


def test_u_and_vt_have_no_gradient():
    a = T.dmatrix()
    u, s, vt = nlinalg.svd(a)
    with pytest.raises(NotImplementedError, match="svd_u"):
        theon.grad(u.sum(), a)
    with pytest.raises(NotImplementedError, match="svd_vt"):
        theon.grad(vt.sum(), a)


def test_bad_input():
    with pytest.raises(ValueError, match="svd: a must be"):
        nlinalg.svd(T.dvector())
    with pytest.raises(TypeError, match="pinv: rcond"):
        nlinalg.pinv(T.dmatrix(), rcond=T.dscalar())
    with pytest.raises(ValueError, match="lstsq: a must be a matrix"):
        nlinalg.lstsq(T.dtensor3(), T.dtensor3())


AOT_SOURCE = """
import theon, theon.tensor as T
from theon.tensor import nlinalg
a = T.dmatrix("a")
b = T.dmatrix("b")
svd = theon.function([a, b], [*nlinalg.svd(a, full_matrices=False), nlinalg.pinv(a), nlinalg.lstsq(a, b)[0],
                              nlinalg.norm(a, "nuc")])
"""


def test_aot_compile(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "svd.py"
    src.write_text(AOT_SOURCE)
    r = subprocess.run([sys.executable, "-m", "theon.runtime.aot_cli", str(src), "-o", str(tmp_path),
                        "--emit", "header,shared"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    g = theon.runtime.load_library(tmp_path / "libsvd.so")
    A, B = RNG.standard_normal((7, 4)), RNG.standard_normal((7, 2))
    u, s, vt, p, x, nuc = g(A, B)
    _check_svd(A, u, s, vt, False, 1e-12)
    np.testing.assert_allclose(p, np.linalg.pinv(A), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x, np.linalg.lstsq(A, B, rcond=-1)[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nuc, np.linalg.norm(A, "nuc"), rtol=1e-12)
