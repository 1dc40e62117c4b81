"""The table of shape-builder cases (frontend/builders.py) both tiers run:
tests/ir (reference interpreter) and tests/native (compiled code) compare
each case's graph with NumPy on the same inputs.

A case is (id, build(*vars) -> outputs, numpy(*arrays) -> outputs, arrays):
the vars are symbolic inputs of the arrays' dtypes with every dim unknown
(tests/extra_ops_helpers.symbolic_inputs).
"""
import numpy as np

import theon.tensor as T
from theon.frontend.builders import linalg_norm

RNG = np.random.default_rng(4321)
INF = np.inf


def data(shape, dtype, special=False):
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if dtype.startswith("float"):
        a = RNG.standard_normal(shape) * 3
        if special and a.size >= 4:
            a.reshape(-1)[:3] = [np.nan, np.inf, -0.0]
        return a.astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(max(-20, info.min), min(20, info.max), shape, endpoint=True).astype(dtype)


def _batched_dot_ref(a, b):
    if a.ndim == 1 or b.ndim == 1:
        a_ = a.reshape(a.shape + (1,) * (b.ndim - 1)) if a.ndim == 1 else a
        b_ = b.reshape(b.shape + (1,) * (a.ndim - 1)) if b.ndim == 1 else b
        return a_ * b_
    out = [np.dot(a[i], b[i]) for i in range(a.shape[0])]
    return np.stack(out).astype(np.result_type(a, b))


def _batched_tensordot_ref(x, y, axes):
    if isinstance(axes, int):
        ax = axes
    else:
        ax = ([i - 1 for i in axes[0]], [j - 1 for j in axes[1]])
    return np.stack([np.tensordot(x[i], y[i], ax) for i in range(x.shape[0])]).astype(np.result_type(x, y))


MATRIX_SHAPES = [(4, 5), (5, 3), (1, 1), (0, 3), (3, 0)]
DTYPES = ["float32", "float64", "int32", "int64", "uint8", "bool"]


def matrix_cases():
    """tile, roll, tril/triu, diagonal/diag/trace of matrices: every dtype, offsets, empty."""
    cases = []
    for dtype in DTYPES:
        for shape in MATRIX_SHAPES:
            a = data(shape, dtype, special=True)
            sid = f"matrix-{dtype}-{'x'.join(map(str, shape))}"
            cases.append((sid, lambda x: [
                T.tile(x, (2, 3)), T.tile(x, 2), T.tile(x, (2, 1, 3)), T.tile(x, (0, 2)),
                T.roll(x, 2), T.roll(x, -1, 0), T.roll(x, 7, axis=1), T.roll(x, (1, -2), (0, 1)), T.roll(x, -13, -1),
                T.tril(x), T.tril(x, -1), T.tril(x, 2), T.triu(x), T.triu(x, 1), T.triu(x, -2),
                T.diagonal(x), T.diagonal(x, 1), T.diagonal(x, -2), T.diagonal(x, 1, 1, 0), T.diagonal(x, 9),
                T.diag(x), T.diag(x, -1), x.diagonal(-1),
            ], lambda a: [
                np.tile(a, (2, 3)), np.tile(a, 2), np.tile(a, (2, 1, 3)), np.tile(a, (0, 2)),
                np.roll(a, 2), np.roll(a, -1, 0), np.roll(a, 7, axis=1), np.roll(a, (1, -2), (0, 1)), np.roll(a, -13, -1),
                np.tril(a), np.tril(a, -1), np.tril(a, 2), np.triu(a), np.triu(a, 1), np.triu(a, -2),
                np.diagonal(a), np.diagonal(a, 1), np.diagonal(a, -2), np.diagonal(a, 1, 1, 0), np.diagonal(a, 9),
                np.diag(a), np.diag(a, -1), a.diagonal(-1),
            ], [a]))
            if dtype != "bool":
                cases.append((sid.replace("matrix", "trace"),
                               lambda x: [T.trace(x), T.trace(x, 1), x.trace(-1), T.trace(x, 0, 1, 0)],
                               lambda a: [np.trace(a), np.trace(a, 1), a.trace(-1), np.trace(a, 0, 1, 0)], [a]))
    return cases


def vector_cases():
    cases = []
    for dtype in ["float32", "float64", "int32", "int64", "bool"]:
        for n in (0, 1, 7):
            a = data((n,), dtype)
            cases.append((f"vector-{dtype}-{n}", lambda x: [
                T.tile(x, 3), T.tile(x, (2, 2)), T.roll(x, 3), T.roll(x, -10), T.roll(x, 0),
                T.diag(x), T.diag(x, 2), T.diag(x, -1),
            ], lambda a: [
                np.tile(a, 3), np.tile(a, (2, 2)), np.roll(a, 3), np.roll(a, -10), np.roll(a, 0),
                np.diag(a), np.diag(a, 2), np.diag(a, -1),
            ], [a]))
    return cases


def nd_cases():
    """3-d: diagonal/trace over any two axes, triangles of the last two, tuple rolls; strided views."""
    cases = []
    for dtype in ["float64", "int16"]:
        a = data((2, 3, 4), dtype)
        cases.append((f"3d-{dtype}", lambda x: [
            T.diagonal(x, 0, 1, 2), T.diagonal(x, 1, 0, 2), T.diagonal(x, -1, 2, 0), T.trace(x, 0, 1, 2),
            T.trace(x, 1, -1, 0), T.tril(x, 1), T.triu(x, -1), T.roll(x, (1, 2), (0, 2)), T.roll(x, 5),
            T.tile(x, (2, 1, 1, 2)), T.tile(x, (3,)),
        ], lambda a: [
            np.diagonal(a, 0, 1, 2), np.diagonal(a, 1, 0, 2), np.diagonal(a, -1, 2, 0), np.trace(a, 0, 1, 2),
            np.trace(a, 1, -1, 0), np.tril(a, 1), np.triu(a, -1), np.roll(a, (1, 2), (0, 2)), np.roll(a, 5),
            np.tile(a, (2, 1, 1, 2)), np.tile(a, (3,)),
        ], [a]))
    a = data((9, 8), "float32")
    cases.append(("strided", lambda x: [
        T.tile(x[::2, ::-3], (2, 1)), T.roll(x.T, 3, 0), T.tril(x[1::2].T), T.diagonal(x[::-2, 1:], 1),
        T.trace(x.T[::3]), T.diag(x[::2, 3]), T.norm(x[::3, ::2], 1), T.batched_dot(x[:8:2, ::2], x[1::2, ::2]),
    ], lambda a: [
        np.tile(a[::2, ::-3], (2, 1)), np.roll(a.T, 3, 0), np.tril(a[1::2].T), np.diagonal(a[::-2, 1:], 1),
        np.trace(a.T[::3]), np.diag(a[::2, 3]), np.abs(a[::3, ::2]).sum(dtype=np.float32),
        np.sum(a[:8:2, ::2] * a[1::2, ::2], axis=1),
    ], [a]))
    return cases


def creation_cases():
    """eye, tri, identity_like with symbolic sizes and offsets; mgrid/ogrid; stacklists."""
    n, m, k = np.int64(4), np.int64(6), np.int64(-1)
    x = data((3, 5), "float32")
    cases = [
        ("eye-tri", lambda n, m, k, x: [
            T.eye(n), T.eye(n, m, 1), T.eye(n, m, k, "int32"), T.eye(3, dtype="float32"), T.eye(n, 2, -5),
            T.tri(n), T.tri(n, m, 2, "int64"), T.tri(n, m, k), T.tri(0, m), T.identity_like(x),
            T.identity_like(x, dtype="int8"),
        ], lambda n, m, k, x: [
            np.eye(n), np.eye(n, m, 1), np.eye(n, m, k, "int32"), np.eye(3, dtype="float32"), np.eye(n, 2, -5),
            np.tri(n), np.tri(n, m, 2, "int64"), np.tri(n, m, k), np.tri(0, m), np.eye(3, 5, dtype="float32"),
            np.eye(3, 5, dtype="int8"),
        ], [n, m, k, x]),
        ("mgrid-ogrid", lambda n: [
            T.stack(T.mgrid[0:5, 0:3]), T.stack(T.mgrid[0:n, 1:7:2]), T.mgrid[-3:n:2][0],
            T.ogrid[0:n, 0:3][0], T.ogrid[0:n, 0:3][1], T.cast(T.stack(T.mgrid[0:1:5j, 2:3:3j]), "float64"),
            T.cast(T.ogrid[-1:1:4j][0], "float64"),
        ], lambda n: [
            np.mgrid[0:5, 0:3], np.mgrid[0:n, 1:7:2], np.mgrid[-3:n:2], np.ogrid[0:n, 0:3][0],
            np.ogrid[0:n, 0:3][1], np.mgrid[0:1:5j, 2:3:3j], np.ogrid[-1:1:4j],
        ], [n]),
    ]
    a, b = np.float64(1.5), np.float64(-2.0)
    v = data((3,), "float32")
    cases.append(("stacklists", lambda a, b, v: [
        T.stacklists([[a, b], [b, a]]), T.stacklists([v, v * 2]), T.stacklists([[[a]], [[b]]]), T.stacklists([a, 2.0]),
    ], lambda a, b, v: [
        np.array([[a, b], [b, a]]), np.stack([v, v * 2]), np.array([[[a]], [[b]]]), np.array([a, 2.0]),
    ], [a, b, v]))
    return cases


def choose_cases():
    cases = []
    for dtype in ["float32", "float64", "int32"]:
        idx = RNG.integers(0, 3, (4, 5))
        c0, c1, c2 = data((4, 5), dtype), data((1, 5), dtype), data((4, 1), dtype)
        stacked = data((3, 4, 5), dtype)
        cases.append((f"choose-{dtype}", lambda i, c0, c1, c2, s: [
            T.choose(i, [c0, c1, c2]), T.choose(i, (c2, c1, c0)), T.choose(i[0], [c0, c1, c2]),
            T.choose(i + 4, [c0, c1, c2], mode="wrap"), T.choose(i * 3 - 2, [c0, c1, c2], mode="clip"),
            T.choose(i, s), T.choose(i[:, :1], s, mode="wrap"), T.choose(i * 0, [c1]),
        ], lambda i, c0, c1, c2, s: [
            np.choose(i, [c0, c1, c2]), np.choose(i, (c2, c1, c0)), np.choose(i[0], [c0, c1, c2]),
            np.choose(i + 4, [c0, c1, c2], mode="wrap"), np.choose(i * 3 - 2, [c0, c1, c2], mode="clip"),
            np.choose(i, s), np.choose(i[:, :1], s, mode="wrap"), np.choose(i * 0, [c1]),
        ], [idx, c0, c1, c2, stacked]))
    return cases


def product_cases():
    cases = []
    for dtype in ["float32", "float64", "int64"]:
        a3, b3 = data((3, 4, 5), dtype), data((3, 5, 2), dtype)
        a2, b2 = data((3, 5), dtype), data((3, 5), dtype)
        a4, b4 = data((2, 3, 4, 5), dtype), data((2, 2, 5, 3), dtype)
        v = data((3,), dtype)
        cases.append((f"batched-{dtype}", lambda a3, b3, a2, b2, a4, b4, v: [
            T.batched_dot(a3, b3), T.batched_dot(a2, b2), T.batched_dot(a3, a2), T.batched_dot(b2, b3),
            T.batched_dot(v, a3), T.batched_dot(a2, v), T.batched_dot(a4, b4),
            T.batched_tensordot(a3, b3, [[2], [1]]), T.batched_tensordot(a3, a3, [[1, 2], [1, 2]]),
            T.batched_tensordot(a4, b4, [[3, 1], [2, 3]]), T.batched_tensordot(a2, b2, 1),
            T.batched_tensordot(a3, b3[:, :, :1], 1)[:, :, 0],
            T.batched_dot(a3[:, :, :0], b3[:, :0]),
        ], lambda a3, b3, a2, b2, a4, b4, v: [
            _batched_dot_ref(a3, b3), _batched_dot_ref(a2, b2), _batched_dot_ref(a3, a2), _batched_dot_ref(b2, b3),
            _batched_dot_ref(v, a3), _batched_dot_ref(a2, v), _batched_dot_ref(a4, b4),
            _batched_tensordot_ref(a3, b3, [[2], [1]]), _batched_tensordot_ref(a3, a3, [[1, 2], [1, 2]]),
            _batched_tensordot_ref(a4, b4, [[3, 1], [2, 3]]), _batched_tensordot_ref(a2, b2, 1),
            _batched_tensordot_ref(a3, b3[:, :, :1], 1)[:, :, 0],
            _batched_dot_ref(a3[:, :, :0], b3[:, :0]),
        ], [a3, b3, a2, b2, a4, b4, v]))
    return cases


def norm_cases():
    cases = []
    for dtype in ["float32", "float64", "int32"]:
        a = data((4, 3), dtype)
        v = data((5,), dtype)
        e = data((0, 3), dtype)
        cases.append((f"norm-{dtype}", lambda x, v, e: [
            T.norm(x), T.norm(x, 1), T.norm(x, INF), T.norm(x, -INF), T.norm(v, 0), T.norm(x, 3, axis=0),
            T.norm(x, 2, axis=1, keepdims=True), x.norm(1), v.norm(2), T.norm(e, 2), T.norm(e, 1, axis=0),
            T.norm(x, "fro"), T.norm(v, 0.5),
            linalg_norm(x), linalg_norm(x, "fro"), linalg_norm(x, 1), linalg_norm(x, -1), linalg_norm(x, INF),
            linalg_norm(x, -INF), linalg_norm(v, INF), linalg_norm(v, 1), linalg_norm(x, 1, axis=(1, 0)),
            linalg_norm(x, INF, keepdims=True), linalg_norm(x, None, axis=0), linalg_norm(e),
        ], lambda x, v, e: [
            np.linalg.norm(x.ravel()), np.linalg.norm(x.ravel(), 1), np.linalg.norm(x.ravel(), INF),
            np.linalg.norm(x.ravel(), -INF), np.linalg.norm(v, 0), np.linalg.norm(x, 3, axis=0),
            np.linalg.norm(x, 2, axis=1, keepdims=True), np.linalg.norm(x.ravel(), 1), np.linalg.norm(v, 2),
            np.linalg.norm(e.ravel(), 2), np.linalg.norm(e, 1, axis=0), np.linalg.norm(x),
            np.linalg.norm(v, 0.5),
            np.linalg.norm(x), np.linalg.norm(x, "fro"), np.linalg.norm(x, 1), np.linalg.norm(x, -1),
            np.linalg.norm(x, INF), np.linalg.norm(x, -INF), np.linalg.norm(v, INF), np.linalg.norm(v, 1),
            np.linalg.norm(x, 1, axis=(1, 0)), np.linalg.norm(x, INF, keepdims=True),
            np.linalg.norm(x, None, axis=0), np.linalg.norm(e),
        ], [a, v, e]))
    return cases


def all_cases():
    return (matrix_cases() + vector_cases() + nd_cases() + creation_cases() + choose_cases()
            + product_cases() + norm_cases())
