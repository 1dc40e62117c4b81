"""A scan body's matrix product by a non-sequence (matmul's B) packs B once,
before the loop (``linalg.prepack_b``, codegen/cpu/lower/control.py), and
every step runs ``theon.gemm.<dtype>.packed``: results against NumPy
(float64 reference) for shapes that take the blocked kernel and shapes that
do not, transposed / sliced B, B too wide for one chunk of columns (the
per-step packing again), threaded schedules, the gradient (BPTT) and AOT."""
import dataclasses
import re

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.cpu.lower import linalg
from theon.config import config

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def no_object_cache():
    saved = config.cache_dir
    config.cache_dir = None
    yield
    config.cache_dir = saved


def _rnn_fn(dtype, transpose=False):
    X, U, h0 = T.tensor3("X", dtype=dtype), T.matrix("U", dtype=dtype), T.matrix("h0", dtype=dtype)
    W = U.T if transpose else U

    def step(x_t, h):
        return T.tanh(x_t + T.dot(h, W))
    hs, _ = theon.scan(step, sequences=X, outputs_info=h0)
    return theon.function([X, U, h0], hs), (X, U, h0, hs)


def _reference(x, u, h0):
    x, u, h = (a.astype(np.float64) for a in (x, u, h0))
    out = []
    for row in x:
        h = np.tanh(row + h @ u)
        out.append(h)
    return np.array(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch,hidden", [(32, 64), (3, 5), (1, 40), (17, 130)])
def test_scan_matmul_by_non_sequence(dtype, batch, hidden):
    f, _ = _rnn_fn(dtype)
    x = RNG.standard_normal((7, batch, hidden)).astype(dtype)
    u = (RNG.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(dtype)
    h0 = RNG.standard_normal((batch, hidden)).astype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(f(x, u, h0), _reference(x, u, h0), rtol=tol, atol=tol)
    assert "theon.gemm.%s.packed" % dtype in f.native.llvm_ir


def test_transposed_and_sliced_non_sequence():
    f, _ = _rnn_fn("float64", transpose=True)
    x = RNG.standard_normal((5, 16, 48))
    big = RNG.standard_normal((96, 60)) / 8
    u = big[::2, 5:53]                                    # strided, then transposed in the graph
    h0 = RNG.standard_normal((16, 48))
    np.testing.assert_allclose(f(x, u, h0), _reference(x, u.T, h0), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name,changes", [
    ("narrow-chunks", dict(nc=16, b_bytes=1 << 10, small=64)),         # B wider than one chunk: packs per step
    ("threaded", dict(mc=12, kc=16, small=64, threaded=1, threaded_loop=1, threads=3, split=4)),
])
def test_schedules(name, changes):
    saved = linalg.DEFAULT_SCHEDULE
    linalg.DEFAULT_SCHEDULE = dataclasses.replace(saved, **changes)
    try:
        f, _ = _rnn_fn("float64")
    finally:
        linalg.DEFAULT_SCHEDULE = saved
    x = RNG.standard_normal((6, 20, 40))
    u = RNG.standard_normal((40, 40)) / 7
    h0 = RNG.standard_normal((20, 40))
    np.testing.assert_allclose(f(x, u, h0), _reference(x, u, h0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(f(x, 2 * u, h0), _reference(x, 2 * u, h0), rtol=1e-10, atol=1e-10)


def test_scan_products_below_threaded_loop_stay_on_one_thread():
    """A per-step product is threaded from ``threaded_loop`` MACs (W9's
    32 x 256 x 1024 products stay on one thread); a product outside a scan
    from ``threaded``."""
    saved = linalg.DEFAULT_SCHEDULE
    assert saved.threaded_loop > max(saved.threaded, 32 * 1024 * 256)
    linalg.DEFAULT_SCHEDULE = s = dataclasses.replace(saved, threads=2, threaded=12345, threaded_loop=678901)
    try:
        f, _ = _rnn_fn("float32")
        A, B = T.fmatrix("A"), T.fmatrix("B")
        g = theon.function([A, B], T.dot(A, B))
    finally:
        linalg.DEFAULT_SCHEDULE = saved
    def thresholds(fn):         # the constants the M*N*K of a product is compared with
        return set(re.findall(r"icmp uge i64 %\S+, (\d+)", fn.native.unoptimized_llvm_ir))
    assert thresholds(f) == {str(s.threaded_loop)}
    assert thresholds(g) == {str(s.threaded)}


def test_gradient_through_packed_products():
    _, (X, U, h0, hs) = _rnn_fn("float64")
    cost = (hs[-1] ** 2).sum()
    g = theon.function([X, U, h0], theon.grad(cost, U))
    x = RNG.standard_normal((4, 9, 30))
    u = RNG.standard_normal((30, 30)) / 6
    h = RNG.standard_normal((9, 30))
    got = g(x, u, h)

    def c(uu):
        return (_reference(x, uu, h)[-1] ** 2).sum()
    eps = 1e-6
    for i, j in [(0, 0), (3, 7), (29, 29), (12, 5)]:
        d = np.zeros_like(u)
        d[i, j] = eps
        np.testing.assert_allclose(got[i, j], (c(u + d) - c(u - d)) / (2 * eps), rtol=1e-5, atol=1e-7)
