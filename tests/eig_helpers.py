"""Matrices with known real spectra for ``eig`` (ir/ops/la.py's eigvals /
eig_vectors), shared by tests/ir/test_linalg_eig.py (reference interpreter)
and tests/native/test_linalg_eig_native.py (native kernel), and the check
against NumPy up to eigenpair order and eigenvector sign."""
import numpy as np

RNG = np.random.default_rng(4242)


def _similar(n, d, rng):
    """Q diag-ish(d) Q^-1 with a well-conditioned Q (I + a small random part)."""
    q = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(max(n, 1))
    return q @ d @ np.linalg.inv(q)


def _spread(n, rng):
    """n distinct eigenvalues about 1 apart, in random order."""
    return rng.permutation(np.arange(n) - n / 2.0 + rng.uniform(-0.2, 0.2, n))


def make(kind, shape, rng=RNG):
    """A float64 batch of ``shape`` (..., n, n) matrices of one kind; ``kind``:
    similar (Q D Q^-1), symmetric, upper, lower (triangular), defective
    (a 2x2 Jordan block, similar-transformed), repeated (a double
    eigenvalue with two eigenvectors), scaled (similar, entries ~1e3)."""
    n, batch = shape[-1], shape[:-2]
    out = np.empty(shape)
    for i in np.ndindex(*batch):
        d = _spread(n, rng)
        if kind == "similar":
            m = _similar(n, np.diag(d), rng)
        elif kind == "scaled":
            m = 1e3 * _similar(n, np.diag(d), rng)
        elif kind == "symmetric":
            g = rng.standard_normal((n, n))
            m = g + g.T
        elif kind in ("upper", "lower"):
            m = np.triu(rng.standard_normal((n, n)), 1) + np.diag(d)
            m = m if kind == "upper" else m.T
        elif kind == "defective":
            j = np.diag(d)
            if n >= 2:
                j[1, 1] = j[0, 0]
                j[0, 1] = 1.0
            m = _similar(n, j, rng)
        elif kind == "repeated":
            if n >= 2:
                d[1] = d[0]
            m = _similar(n, np.diag(d), rng)
        else:
            raise ValueError(kind)
        out[i] = m
    return out


KINDS = ("similar", "symmetric", "upper", "lower", "defective", "repeated", "scaled")
# eigenvectors are unique (up to sign) only for simple eigenvalues
VECTORS_UNIQUE = ("similar", "symmetric", "upper", "lower", "scaled")


def check_eig(a, w, v, kind, dtype):
    """w, v (theon's) against np.linalg.eig(a) (float64): eigenvalues matched
    by value, residual ||a v - v diag(w)||, unit-norm columns, and for
    simple eigenvalues each vector equal to NumPy's up to sign."""
    a64 = a.astype(np.float64)
    assert w.shape == a.shape[:-1] and v.shape == a.shape and w.dtype == dtype and v.dtype == dtype
    f32 = dtype == "float32"
    defective = kind == "defective"
    for i in np.ndindex(*a.shape[:-2]):
        m, wi, vi = a64[i], w[i].astype(np.float64), v[i].astype(np.float64)
        n = m.shape[-1]
        if n == 0:
            continue
        scale = max(np.abs(m).max(), 1e-300)
        wn, vn = np.linalg.eig(m)
        # eigenvalues: the Jordan block's pair is only sqrt(eps)-accurate (NumPy's may be a complex pair)
        etol = (3e-3 if f32 else 1e-7) if defective else (5e-4 if f32 else 1e-10 * n)
        assert np.abs(wn.imag).max() <= etol * scale
        wn, vn = wn.real, vn.real
        np.testing.assert_allclose(np.sort(wi), np.sort(wn), rtol=0, atol=etol * scale * max(n, 1) ** 0.5,
                                   err_msg=f"{kind} {dtype} eigenvalues, batch element {i}")
        np.testing.assert_allclose(np.linalg.norm(vi, axis=0), 1.0, rtol=1e-4 if f32 else 1e-12)
        rtol = (2e-3 if f32 else 1e-9) * max(n, 1)
        res = np.abs(m @ vi - vi * wi).max()
        assert res <= rtol * scale, f"{kind} {dtype} residual {res} > {rtol * scale}, batch element {i}"
        if kind in VECTORS_UNIQUE:
            for j in range(n):
                k = int(np.argmin(np.abs(wn - wi[j])))
                s = np.sign(vn[:, k] @ vi[:, j]) or 1.0
                np.testing.assert_allclose(vi[:, j], s * vn[:, k], rtol=0, atol=(3e-2 if f32 else 1e-7),
                                           err_msg=f"{kind} {dtype} vector {j}, batch element {i}")
