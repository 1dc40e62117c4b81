"""Pooling (``ir/ops/pool.py``, ``theon.tensor.signal.pool``) with the NumPy
reference interpreter: every mode x the window/stride/pad/ignore_border
table against direct loops, gradients against finite differences and the
loop gradient (ties), shapes, IR text, and bad arguments."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import theon
import theon.tensor as T
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.frontend.build import build_function
from theon.tensor.signal import downsample, pool

from ..frontend_helpers import run
from ..pool_helpers import CASES, MODES, loop_pool, loop_pool_grad, pool_cases


def _var(shape, dtype="float64", static=False):
    return T.TensorType(dtype, tuple(shape) if static else (None,) * len(shape))("x")


def _pool(x, nd, ws, stride, pad, ib, mode):
    fn = pool.pool_2d if nd == 2 else pool.pool_3d
    return fn(x, ws, ignore_border=ib, stride=stride, pad=pad, mode=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_pool_matches_loops(case, mode):
    nd, shape, ws, stride, pad, ib = CASES[case]
    rng = np.random.default_rng(case)
    xv = rng.normal(size=shape)
    for static in (False, True):
        x = _var(shape, static=static)
        y = _pool(x, nd, ws, stride, pad, ib, mode)
        got = run([x], y, xv)
        want = loop_pool(xv, ws, stride or ws, pad, ib, mode)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        if static:
            assert y.type.shape == want.shape


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [0, 2, 4, 5, 7, 9, 11, 12])
def test_pool_gradient_matches_loops_and_finite_differences(case, mode):
    nd, shape, ws, stride, pad, ib = CASES[case]
    rng = np.random.default_rng(100 + case)
    xv = rng.normal(size=shape)
    x = _var(shape)
    y = _pool(x, nd, ws, stride, pad, ib, mode)
    w = T.TensorType("float64", (None,) * len(shape))("w")
    wv = rng.normal(size=loop_pool(xv, ws, stride or ws, pad, ib, mode).shape)
    gx = theon.grad((y * w).sum(), x)
    got = run([x, w], gx, xv, wv)
    np.testing.assert_allclose(got, loop_pool_grad(xv, wv, ws, stride or ws, pad, ib, mode), rtol=1e-12,
                               atol=1e-12)
    # central differences of the loop reference (max: distinct values, no ties)
    eps = 1e-6
    flat = xv.reshape(-1)
    for k in rng.choice(flat.size, size=min(12, flat.size), replace=False):
        a, b = flat.copy(), flat.copy()
        a[k] += eps
        b[k] -= eps
        num = ((loop_pool(a.reshape(shape), ws, stride or ws, pad, ib, mode) * wv).sum()
               - (loop_pool(b.reshape(shape), ws, stride or ws, pad, ib, mode) * wv).sum()) / (2 * eps)
        assert abs(got.reshape(-1)[k] - num) < 1e-6


def test_max_gradient_goes_to_every_tied_maximum():
    x = T.dmatrix("x")
    xv = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]])
    g = run([x], theon.grad(pool.pool_2d(x, (2, 2), ignore_border=True).sum(), x), xv)
    np.testing.assert_array_equal(g, [[0, 1, 0, 0], [1, 0, 1, 1]])
    # overlapping windows accumulate
    g = run([x], theon.grad(pool.pool_2d(x, (2, 2), ignore_border=True, stride=(1, 1)).sum(), x), xv)
    np.testing.assert_array_equal(g, [[0, 1, 0, 0], [1, 0, 2, 1]])


def test_same_size_and_old_names():
    x = T.dtensor4("x")
    xv = np.random.default_rng(3).normal(size=(2, 2, 5, 6))
    got = run([x], pool.max_pool_2d_same_size(x, (2, 2)), xv)
    z = loop_pool(xv, (2, 2), (2, 2), (0, 0), True, "max")
    want = np.zeros_like(xv)
    for L in np.ndindex(2, 2):
        for i in range(4):
            for j in range(6):
                if xv[L + (i, j)] == z[L + (i // 2, j // 2)]:
                    want[L + (i, j)] = xv[L + (i, j)]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run([x], downsample.max_pool_2d(x, (2, 2), ignore_border=True), xv), z)
    with pytest.warns(DeprecationWarning):
        y = pool.pool_2d(x, ds=(2, 2), ignore_border=True)
    np.testing.assert_array_equal(run([x], y, xv), z)
    with pytest.warns(UserWarning, match="ignore_border"):
        y = pool.pool_2d(x, (2, 2))
    np.testing.assert_array_equal(run([x], y, xv), loop_pool(xv, (2, 2), (2, 2), (0, 0), False, "max"))


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float32"])
def test_other_dtypes(dtype):
    x = T.TensorType(dtype, (None, None, None))("x")
    xv = np.random.default_rng(4).integers(0, 200, size=(2, 5, 7)).astype(dtype)
    for mode in ("max", "sum") if dtype != "float32" else MODES:
        got = run([x], pool.pool_2d(x, (2, 3), ignore_border=False, mode=mode), xv)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, loop_pool(xv, (2, 3), (2, 3), (0, 0), False, mode).astype(dtype),
                                   rtol=1e-6)


def test_ir_text_round_trip_and_symbolic_shape():
    x = T.TensorType("float32", (None, 3, 28, None))("x")
    y = pool.pool_2d(x, (2, 2), ignore_border=True, stride=(2, 1), pad=(1, 0), mode="average_exc_pad")
    assert y.type.shape == (None, 3, 15, None)
    func, _ = build_function([x], [theon.grad(y.sum(), x)])
    text = print_function(func)
    assert "pool(" in text and "pool_grad(" in text and 'mode = "average_exc_pad"' in text
    assert print_function(parse_function(text)) == text


@pytest.mark.parametrize("kwargs, match", [
    (dict(ws=(3, 3), ignore_border=True), r"ws\[0\] = 3 is larger than the input's dim 2 \(2"),
    (dict(ws=(0, 2), ignore_border=True), "ws must be positive"),
    (dict(ws=(2, 2), stride=(1, 0), ignore_border=True), "stride must be positive"),
    (dict(ws=(2, 2), pad=(-1, 0), ignore_border=True), "pad must be non-negative"),
    (dict(ws=(2, 2), pad=(2, 0), ignore_border=True), "pad .* must be smaller than ws"),
    (dict(ws=(2, 2), pad=(1, 0), ignore_border=False), "padding .* works only with ignore_border=True"),
    (dict(ws=(2, 2), mode="avg", ignore_border=True), "mode must be one of"),
])
def test_bad_arguments(kwargs, match):
    x = T.TensorType("float64", (4, 1, 2, 9))("x")
    with pytest.raises(ValueError, match=match):
        pool.pool_2d(x, **kwargs)


def test_bad_types():
    with pytest.raises(ValueError, match="at least 2 dims"):
        pool.pool_2d(T.dvector("v"), (2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="at least 3 dims"):
        pool.pool_3d(T.dmatrix("m"), (2, 2, 2), ignore_border=True)
    with pytest.raises(TypeError, match="ws must be a tuple of 2 ints"):
        pool.pool_2d(T.dmatrix("m"), (2, 2, 2), ignore_border=True)
    with pytest.raises(TypeError, match="ws must be a tuple of 2 ints"):
        pool.pool_2d(T.dmatrix("m"), (2.0, 2), ignore_border=True)
    with pytest.raises(TypeError, match="symbolic ws"):
        pool.pool_2d(T.dmatrix("m"), T.lvector("w"), ignore_border=True)
    with pytest.raises(TypeError, match="needs a float input"):
        pool.pool_2d(T.imatrix("m"), (2, 2), ignore_border=True, mode="average_inc_pad")


def test_max_pool_grad_grad_matches_loops():
    """The second derivative path of max pooling (Theano's
    DownsampleFactorMaxGradGrad): d/dgz of <pool_grad(x, z, gz), v> is, per
    window, the sum of v over the elements equal to the maximum (ties too)."""
    x, gz = T.dtensor4("x"), T.dtensor4("gz")
    rng = np.random.default_rng(6)
    xv = rng.integers(0, 4, size=(2, 2, 5, 7)).astype(np.float64)      # many ties
    v = rng.normal(size=xv.shape)
    for ib, ws, st in ((True, (2, 2), (1, 2)), (False, (3, 2), (2, 3))):
        z = pool.pool_2d(x, ws, ignore_border=ib, stride=st)
        g = theon.grad((z * gz).sum(), x)
        zv = loop_pool(xv, ws, st, (0, 0), ib, "max")
        gzv = rng.normal(size=zv.shape)
        got = run([x, gz], theon.grad((g * v).sum(), gz), xv, gzv)
        want = np.zeros_like(zv)
        for k in range(zv.size):             # <pool_grad(x, z, e_k), v> for each unit vector e_k
            e = np.zeros(zv.size)
            e[k] = 1
            want.reshape(-1)[k] = (loop_pool_grad(xv, e.reshape(zv.shape), ws, st, (0, 0), ib, "max") * v).sum()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_second_derivative_of_average_pooling():
    """pool_grad is linear in gz: its gradient is pool in the same mode."""
    x = T.dmatrix("x")
    xv = np.random.default_rng(5).normal(size=(5, 6))
    y = pool.pool_2d(x, (2, 3), ignore_border=False, stride=(1, 2), mode="average_inc_pad")
    g = theon.grad((y ** 2).sum(), x)
    h = run([x], theon.grad((g * x).sum(), x), xv)
    eps = 1e-6

    def gval(a):
        return run([x], g, a)
    num = np.zeros_like(xv)
    for idx in np.ndindex(*xv.shape):
        a, b = xv.copy(), xv.copy()
        a[idx] += eps
        b[idx] -= eps
        num[idx] = ((gval(a) * a).sum() - (gval(b) * b).sum()) / (2 * eps)
    np.testing.assert_allclose(h, num, rtol=1e-6, atol=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_cases())
def test_random_pools_match_loops(case):
    nd, shape, ws, stride, pad, ib, mode = case
    xv = np.random.default_rng(len(shape)).normal(size=shape)
    x = _var(shape)
    y = _pool(x, nd, ws, stride, pad, ib, mode)
    want = loop_pool(xv, ws, stride, pad, ib, mode)
    np.testing.assert_allclose(run([x], y, xv), want, rtol=1e-12, atol=1e-12)
    w = _var(want.shape)
    wv = np.random.default_rng(1).normal(size=want.shape)
    np.testing.assert_allclose(run([x, w], theon.grad((y * w).sum(), x), xv, wv),
                               loop_pool_grad(xv, wv, ws, stride, pad, ib, mode), rtol=1e-12, atol=1e-12)


def test_theano_op_classes():
    x, gz = T.dtensor4("x"), T.dtensor4("gz")
    rng = np.random.default_rng(10)
    xv = rng.integers(0, 3, size=(2, 2, 5, 6)).astype(np.float64)
    z = pool.Pool(ignore_border=True, mode="average_exc_pad")(x, (2, 3), (1, 2), (1, 1))
    zv = loop_pool(xv, (2, 3), (1, 2), (1, 1), True, "average_exc_pad")
    np.testing.assert_allclose(run([x], z, xv), zv, rtol=1e-12)
    gzv = rng.normal(size=zv.shape)
    g = pool.AveragePoolGrad(True, "average_exc_pad")(x, gz, (2, 3), (1, 2), (1, 1))
    np.testing.assert_allclose(run([x, gz], g, xv, gzv),
                               loop_pool_grad(xv, gzv, (2, 3), (1, 2), (1, 1), True, "average_exc_pad"), rtol=1e-12)
    m = pool.Pool(True)(x, (2, 2))
    mv = loop_pool(xv, (2, 2), (2, 2), (0, 0), True, "max")
    gmv = rng.normal(size=mv.shape)
    g = pool.MaxPoolGrad(True)(x, m, gz, (2, 2))
    np.testing.assert_allclose(run([x, gz], g, xv, gmv), loop_pool_grad(xv, gmv, (2, 2), (2, 2), (0, 0), True, "max"),
                               rtol=1e-12)
    v = T.dtensor4("v")
    vv = rng.normal(size=xv.shape)
    gg = pool.DownsampleFactorMaxGradGrad(True)(x, m, v, (2, 2))
    want = np.zeros_like(mv)
    for k in range(mv.size):
        e = np.zeros(mv.size)
        e[k] = 1
        want.reshape(-1)[k] = (loop_pool_grad(xv, e.reshape(mv.shape), (2, 2), (2, 2), (0, 0), True, "max") * vv).sum()
    np.testing.assert_allclose(run([x, v], gg, xv, vv), want, rtol=1e-12)
    with pytest.raises(ValueError, match="AveragePoolGrad: mode must be"):
        pool.AveragePoolGrad(True, "max")
    with pytest.raises(ValueError, match="ndim must be 2 or 3"):
        pool.Pool(True, ndim=4)


def test_neibs_check_reference_and_static_shapes():
    """images2neibs mode 'valid': a run-time shape goes through neibs_check
    (its reference refuses uncovered dims, naming ten4), a static one is
    checked when the graph is built; other modes need no check."""
    from theon.tensor.nnet import neighbours
    x = T.dtensor4("x")
    y = neighbours.images2neibs(x, (2, 3), (2, 1))
    assert "neibs_check" in {a.owner.name for a in theon.graph.basic.ancestors([y]) if a.owner is not None}
    xv = np.arange(2 * 5 * 4, dtype=float).reshape(1, 2, 5, 4)
    with pytest.raises(ValueError, match="cover ten4's dim 2 exactly: size 5, neib_shape 2, neib_step 2"):
        run([x], y, xv)
    assert run([x], y, xv[:, :, :4]).shape == (2 * 2 * 2, 6)
    with pytest.raises(ValueError, match="cover the cols exactly"):
        neighbours.images2neibs(T.TensorType("float64", (1, 1, 4, 4))("s"), (2, 3))
    z = neighbours.images2neibs(x, (2, 3), mode="ignore_borders")
    assert "neibs_check" not in {a.owner.name for a in theon.graph.basic.ancestors([z]) if a.owner is not None}
