"""Shared table of dense linear algebra cases (``ir/ops/la.py``): run by
tests/ir/test_linalg_ops.py in the reference interpreter and compiled by
tests/native/test_linalg_native.py. A case is (id, build(*vars), numpy_fn,
arrays, rtol-per-dtype)."""
import numpy as np

import theon.tensor as T
from theon.tensor import nlinalg, slinalg

RNG = np.random.default_rng(1234)


def spd(*shape, dtype="float64"):
    n = shape[-1]
    m = RNG.standard_normal(shape)
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(dtype)


def general(*shape, dtype="float64"):
    n = shape[-1]
    return (RNG.standard_normal(shape) + n * 0.5 * np.eye(n)).astype(dtype)


def rhs(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def _tri(a, lower, trans, unit):
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        t = t - np.tril(np.triu(t)) + np.eye(a.shape[-1])
    return np.swapaxes(t, -1, -2) if trans else t


def linalg_cases():
    cases = []
    for dt in ("float64", "float32"):
        for shape in [(4, 4), (1, 1), (3, 5, 5), (2, 2, 3, 3), (0, 0), (2, 0, 0)]:
            n, batch = shape[-1], shape[:-2]
            s = f"{dt}-{'x'.join(map(str, shape))}"
            A, G, B, V = spd(*shape, dtype=dt), general(*shape, dtype=dt), rhs(*batch, n, 3, dtype=dt), rhs(*batch, n, dtype=dt)
            cases += [
                (f"cholesky-{s}", lambda a: slinalg.cholesky(a), np.linalg.cholesky, [A]),
                (f"cholesky-upper-{s}", lambda a: slinalg.cholesky(a, lower=False),
                 lambda a: np.swapaxes(np.linalg.cholesky(a), -1, -2), [A]),
                (f"solve-{s}", lambda a, b: slinalg.solve(a, b), np.linalg.solve, [G, B]),
                (f"solve-vector-{s}", lambda a, b: slinalg.solve(a, b),
                 lambda a, b: np.linalg.solve(a, b[..., None])[..., 0], [G, V]),
                (f"inv-{s}", lambda a: nlinalg.matrix_inverse(a), np.linalg.inv, [G]),
                (f"det-{s}", lambda a: nlinalg.det(a), np.linalg.det, [G]),
            ]
            for lower in (True, False):
                for trans in (0, 1):
                    for unit in (False, True):
                        cases.append((f"solve_triangular-{int(lower)}{trans}{int(unit)}-{s}",
                                      lambda a, b, lo=lower, t=trans, u=unit: slinalg.solve_triangular(
                                          a, b, trans=t, lower=lo, unit_diagonal=u),
                                      lambda a, b, lo=lower, t=trans, u=unit: np.linalg.solve(_tri(a, lo, t, u), b),
                                      [G, B]))
    for dt in ("float64", "float32"):
        for shape in [(5, 5), (1, 1), (3, 4, 4), (0, 0)]:
            s = f"{dt}-{'x'.join(map(str, shape))}"
            S = rhs(*shape, dtype=dt)      # read from one triangle: not symmetric as given
            for uplo in ("L", "U"):
                cases += [
                    (f"eigvalsh-{uplo}-{s}", lambda a, u=uplo: nlinalg.eigvalsh(a, u),
                     lambda a, u=uplo: np.linalg.eigvalsh(a, UPLO=u), [S]),
                    (f"eigh-abs-vectors-{uplo}-{s}", lambda a, u=uplo: abs(nlinalg.eigh(a, u)[1]),
                     lambda a, u=uplo: abs(np.linalg.eigh(a, UPLO=u)[1]), [S]),
                    (f"eigh-reconstruct-{uplo}-{s}", lambda a, u=uplo: _reconstruct(*nlinalg.eigh(a, u)),
                     lambda a, u=uplo: _symmetric(a, u), [S]),
                ]
    for dt in ("float64", "float32"):
        for shape in [(6, 4), (4, 6), (5, 5), (2, 7, 3), (2, 3, 7), (3, 0), (0, 3), (7, 1)]:
            s = f"{dt}-{'x'.join(map(str, shape))}"
            X = rhs(*shape, dtype=dt)
            cases += [(f"qr-q-{s}", lambda a: nlinalg.qr(a)[0], lambda a: np.linalg.qr(a)[0], [X]),
                      (f"qr-r-{s}", lambda a: nlinalg.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"), [X])]
    cases += svd_cases()
    # integers go through float64, as NumPy's linalg
    ia = np.array([[4, 1], [2, 3]], dtype=np.int64)
    cases.append(("det-int64", lambda a: nlinalg.det(a), np.linalg.det, [ia]))
    cases.append(("solve-int64", lambda a, b: slinalg.solve(a, b), np.linalg.solve, [ia, np.array([[1], [2]])]))
    cases.append(("det-singular", lambda a: nlinalg.det(a), np.linalg.det, [np.ones((3, 3))]))
    cases.append(("matrix_power-3", lambda a: nlinalg.matrix_power(a, 3), lambda a: np.linalg.matrix_power(a, 3),
                  [general(4, 4)]))
    cases.append(("matrix_power-neg2", lambda a: nlinalg.matrix_power(a, -2),
                  lambda a: np.linalg.matrix_power(a, -2), [general(4, 4)]))
    cases.append(("matrix_power-0", lambda a: nlinalg.matrix_power(a, 0), lambda a: np.linalg.matrix_power(a, 0),
                  [general(3, 3)]))
    cases.append(("extract_diag", lambda a: nlinalg.extract_diag(a), np.diagonal, [general(4, 4)]))
    cases.append(("alloc_diag", lambda v: nlinalg.alloc_diag(v), np.diag, [rhs(4)]))
    return cases


def _reconstruct(w, v):
    """v diag(w) v^T (symbolic)."""
    vw = v * w.dimshuffle(*range(w.ndim - 1), "x", w.ndim - 1)
    vt = v.dimshuffle(*range(v.ndim - 2), v.ndim - 1, v.ndim - 2)
    return T.dot(vw, vt) if v.ndim == 2 else T.batched_dot(vw, vt)


def _symmetric(a, uplo):
    t = np.tril(a) if uplo == "L" else np.triu(a)
    return t + np.swapaxes(t, -1, -2) - t * np.eye(a.shape[-1])


def noncontiguous_cases():
    """Transposed / strided views of the inputs."""
    G, A, B = general(6, 6), spd(5, 5), rhs(6, 4)
    return [
        ("solve-transposed", lambda a, b: slinalg.solve(a.T, b[:, ::2]), lambda a, b: np.linalg.solve(a.T, b[:, ::2]),
         [G, B]),
        ("cholesky-strided", lambda a: slinalg.cholesky(a[::2, ::2]), lambda a: np.linalg.cholesky(a[::2, ::2]),
         [spd(10, 10)]),
        ("inv-transposed", lambda a: nlinalg.matrix_inverse(a.T), lambda a: np.linalg.inv(a.T), [G]),
        ("det-reversed", lambda a: nlinalg.det(a[::-1]), lambda a: np.linalg.det(a[::-1]), [G]),
        ("trsm-transposed", lambda a, b: slinalg.solve_triangular(a.T, b[::-1], lower=True),
         lambda a, b: np.linalg.solve(np.tril(a.T), b[::-1]), [A, rhs(5, 2)]),
    ]


def symbolic_inputs(arrays):
    return [T.tensor(np.asarray(a).dtype.name, shape=(None,) * np.asarray(a).ndim) for a in arrays]


def assert_matches(got, expected, case_id):
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (case_id, got.shape, expected.shape)
    rtol = 2e-3 if got.dtype == np.float32 else 1e-9
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(got, expected.astype(got.dtype), rtol=rtol, atol=rtol * scale, err_msg=case_id)


def _low_rank(shape, rank, dtype):
    m, n = shape[-2:]
    x = RNG.standard_normal(shape[:-2] + (m, rank)) @ RNG.standard_normal(shape[:-2] + (rank, n))
    return x.astype(dtype)


def _mT(x):
    return x.dimshuffle(*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)


def _mm(x, y):
    return T.dot(x, y) if x.ndim == 2 else T.batched_dot(x, y)


def _svd_reconstruct(a, full):
    """U[..., :k] diag(s) Vt[..., :k, :] (symbolic; sign-free)."""
    u, s, vt = nlinalg.svd(a, full_matrices=full)
    k = s.shape[-1]
    return _mm(u[..., :k] * s.dimshuffle(*range(s.ndim - 1), "x", s.ndim - 1), vt[..., :k, :])


def _gram(x, left):
    """x^T x (left) or x x^T: the identity for orthonormal columns / rows."""
    return _mm(_mT(x), x) if left else _mm(x, _mT(x))


def _eye_like(g):
    return np.broadcast_to(np.eye(g.shape[-1]), g.shape)


def svd_cases():
    """svd (sign-free checks: singular values, reconstruction, U^T U = I,
    Vt Vt^T = I, full and reduced), pinv, lstsq and the 2/-2/nuc norms;
    random, batched, empty and rank-deficient matrices."""
    cases = []
    for dt in ("float64", "float32"):
        for shape, rank in [((6, 4), None), ((4, 6), None), ((5, 5), None), ((2, 7, 3), None), ((2, 3, 7), None),
                            ((3, 0), None), ((0, 3), None), ((2, 1, 1), None), ((6, 5), 2), ((4, 7), 1),
                            ((5, 5), 0)]:
            s = f"{dt}-{'x'.join(map(str, shape))}" + (f"-rank{rank}" if rank is not None else "")
            X = rhs(*shape, dtype=dt) if rank is None else _low_rank(shape, rank, dt)
            cases += [(f"svd-s-{s}", lambda a: nlinalg.svd(a, compute_uv=False),
                       lambda a: np.linalg.svd(a, compute_uv=False), [X]),
                      # rank-deficient: the default cut (1e-15) would invert rounding noise
                      (f"pinv-{s}", lambda a, rc=1e-15 if rank is None else 1e-4: nlinalg.pinv(a, rc),
                       lambda a, rc=1e-15 if rank is None else 1e-4: np.linalg.pinv(a, rc), [X])]
            for full in (True, False):
                f = "full" if full else "reduced"
                cases += [(f"svd-reconstruct-{f}-{s}", lambda a, fl=full: _svd_reconstruct(a, fl), lambda a: a, [X]),
                          (f"svd-u-orthonormal-{f}-{s}", lambda a, fl=full: _gram(nlinalg.svd(a, fl)[0], True),
                           lambda a, fl=full: _eye_like(np.linalg.svd(a, fl)[0].swapaxes(-1, -2) @
                                                        np.linalg.svd(a, fl)[0]), [X]),
                          (f"svd-vt-orthonormal-{f}-{s}", lambda a, fl=full: _gram(nlinalg.svd(a, fl)[2], False),
                           lambda a, fl=full: _eye_like(np.linalg.svd(a, fl)[2] @
                                                        np.linalg.svd(a, fl)[2].swapaxes(-1, -2)), [X])]
        for o in (2, -2, "nuc"):
            X = rhs(3, 4, 5, dtype=dt)
            cases += [(f"norm-{o}-{dt}", lambda a, o=o: nlinalg.norm(a, ord=o, axis=(2, 1)),
                       lambda a, o=o: np.linalg.norm(a, ord=o, axis=(2, 1)), [X]),
                      (f"norm-{o}-keepdims-{dt}", lambda a, o=o: nlinalg.norm(a, ord=o, axis=(0, 2), keepdims=True),
                       lambda a, o=o: np.linalg.norm(a, ord=o, axis=(0, 2), keepdims=True), [X]),
                      (f"norm-{o}-matrix-{dt}", lambda a, o=o: nlinalg.norm(a, ord=o),
                       lambda a, o=o: np.linalg.norm(a, ord=o), [rhs(4, 6, dtype=dt)])]
        for shape_a, shape_b, rank in [((6, 3), (6, 2), None), ((3, 5), (3, 2), None), ((6, 4), (6, 2), 2),
                                       ((5, 5), (5,), None), ((6, 3), (6,), None), ((0, 3), (0, 2), None)]:
            s = f"{dt}-{'x'.join(map(str, shape_a))}-{'x'.join(map(str, shape_b))}"
            A = rhs(*shape_a, dtype=dt) if rank is None else _low_rank(shape_a, rank, dt)
            B = rhs(*shape_b, dtype=dt)
            rc = -1 if rank is None else 1e-4    # (NumPy solves float32 in float64: rank-deficient needs a cut)
            for i, part in enumerate(("x", "residuals", "rank", "s")):
                cases.append((f"lstsq-{part}-{s}", lambda a, b, i=i, rc=rc: nlinalg.lstsq(a, b, rc)[i],
                              lambda a, b, i=i, rc=rc: np.linalg.lstsq(a, b, rcond=rc)[i], [A, B]))
    return cases
