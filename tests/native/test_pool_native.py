"""Pooling in native CPU code (``codegen/cpu/lower/pool.py``): the
window/stride/pad/ignore_border table x every mode against direct loops in
float32 and float64, gradients (ties, finite differences), layouts, the
thread-pool path, run-time bad input, and aot-compile."""
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import theon
import theon.tensor as T
from theon.runtime.aot_cli import main as aot_main
from theon.tensor.signal import pool

from ..pool_helpers import CASES, MODES, loop_pool, loop_pool_grad, pool_cases

TOL = {"float32": 2e-5, "float64": 1e-12}


def _pool(x, nd, ws, stride, pad, ib, mode):
    fn = pool.pool_2d if nd == 2 else pool.pool_3d
    return fn(x, ws, ignore_border=ib, stride=stride, pad=pad, mode=mode)


def _var(ndim, dtype, name="x"):
    return T.TensorType(dtype, (None,) * ndim)(name)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pool_and_gradient_match_loops(dtype):
    """Every case of the table x every mode, forward and gradient, in one
    compiled function (one compile per dtype)."""
    ins, outs, values, wants = [], [], [], []
    for case, (nd, shape, ws, stride, pad, ib) in enumerate(CASES):
        rng = np.random.default_rng(case)
        x, w = _var(len(shape), dtype, f"x{case}"), _var(len(shape), dtype, f"w{case}")
        xv = rng.normal(size=shape).astype(dtype)
        wv = rng.normal(size=loop_pool(xv, ws, stride or ws, pad, ib, "max").shape).astype(dtype)
        ins += [x, w]
        values += [xv, wv]
        for mode in MODES:
            y = _pool(x, nd, ws, stride, pad, ib, mode)
            outs += [y, theon.grad((y * w).sum(), x)]
            wants.append((case, mode, loop_pool(xv, ws, stride or ws, pad, ib, mode),
                          loop_pool_grad(xv, wv, ws, stride or ws, pad, ib, mode)))
    got = theon.function(ins, outs)(*values)
    for k, (case, mode, want, gwant) in enumerate(wants):
        what = f"case {case} {CASES[case]} mode {mode}"
        assert got[2 * k].dtype == np.dtype(dtype) and got[2 * k].shape == want.shape, what
        np.testing.assert_allclose(got[2 * k], want, rtol=TOL[dtype], atol=TOL[dtype], err_msg=what)
        np.testing.assert_allclose(got[2 * k + 1], gwant, rtol=TOL[dtype], atol=TOL[dtype] * 4, err_msg=what)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_matches_finite_differences(mode):
    x = T.dtensor4("x")
    rng = np.random.default_rng(7)
    xv = rng.normal(size=(2, 2, 6, 7))
    y = pool.pool_2d(x, (3, 2), ignore_border=False, stride=(2, 1), mode=mode)
    f = theon.function([x], (y ** 2).sum())
    g = theon.function([x], theon.grad((y ** 2).sum(), x))(xv)
    eps = 1e-6
    for idx in [tuple(rng.integers(0, n) for n in xv.shape) for _ in range(15)]:
        a, b = xv.copy(), xv.copy()
        a[idx] += eps
        b[idx] -= eps
        assert abs(g[idx] - (f(a) - f(b)) / (2 * eps)) < 1e-5


def test_max_ties_and_nan():
    x = T.dmatrix("x")
    f = theon.function([x], [pool.pool_2d(x, (2, 2), ignore_border=True),
                             theon.grad(pool.pool_2d(x, (2, 2), ignore_border=True, stride=(1, 1)).sum(), x)])
    z, g = f(np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]]))
    np.testing.assert_array_equal(z, [[3.0, 5.0]])
    np.testing.assert_array_equal(g, [[0, 1, 0, 0], [1, 0, 2, 1]])
    z, _ = f(np.array([[1.0, np.nan, 3.0, -np.inf], [3.0, 2.0, -np.inf, -np.inf]]))
    assert np.isnan(z[0, 0]) and z[0, 1] == 3.0


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_integer_max_and_sum(dtype):
    x = _var(3, dtype)
    info = np.iinfo(dtype)
    xv = np.random.default_rng(1).integers(info.min, info.max, size=(3, 5, 7), endpoint=True).astype(dtype)
    f = theon.function([x], [pool.pool_2d(x, (2, 3), ignore_border=False, mode="max"),
                             pool.pool_2d(x, (2, 3), ignore_border=True, stride=(1, 2), mode="sum")])
    zmax, zsum = f(xv)
    np.testing.assert_array_equal(zmax, loop_pool(xv, (2, 3), (2, 3), (0, 0), False, "max"))
    np.testing.assert_array_equal(zsum, loop_pool(xv, (2, 3), (1, 2), (0, 0), True, "sum"))


def test_layouts_and_static_shapes():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(9, 4, 3, 8)).astype("float32")
    x = T.TensorType("float32", (None, None, None, None))("x")
    f = theon.function([x], pool.pool_2d(x.dimshuffle(1, 2, 0, 3)[:, :, ::2, 1:], (2, 2), ignore_border=False,
                                         mode="average_exc_pad"))
    view = base.transpose(1, 2, 0, 3)[:, :, ::2, 1:]
    np.testing.assert_allclose(f(base), loop_pool(view, (2, 2), (2, 2), (0, 0), False, "average_exc_pad"),
                               rtol=1e-5)
    xs = T.TensorType("float32", (4, 3, 28, 28))("xs")
    y = pool.pool_2d(xs, (2, 2), ignore_border=True)
    assert y.type.shape == (4, 3, 14, 14)
    xv = rng.normal(size=(4, 3, 28, 28)).astype("float32")
    np.testing.assert_array_equal(theon.function([xs], y)(xv), loop_pool(xv, (2, 2), (2, 2), (0, 0), True, "max"))
    np.testing.assert_array_equal(theon.function([x], pool.pool_2d(x, (2, 2), ignore_border=True))(xv[:0]),
                                  np.zeros((0, 3, 14, 14), "float32"))


def test_threads_over_images_match_one_thread():
    """A big batch runs on the thread pool; every image's result equals the reference."""
    rng = np.random.default_rng(3)
    xv = rng.normal(size=(16, 20, 24, 24)).astype("float32")
    x = T.ftensor4("x")
    for mode in ("max", "average_inc_pad"):
        y = pool.pool_2d(x, (3, 3), ignore_border=True, stride=(2, 2), pad=(1, 1), mode=mode)
        f = theon.function([x], [y, theon.grad((y * y).sum(), x)])
        z, g = f(xv)
        ref = loop_pool(xv[:2], (3, 3), (2, 2), (1, 1), True, mode)
        np.testing.assert_allclose(z[:2], ref, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(g[-2:], loop_pool_grad(xv[-2:], 2 * z[-2:], (3, 3), (2, 2), (1, 1), True, mode),
                                   rtol=2e-5, atol=2e-5)


def test_same_size():
    x = T.ftensor4("x")
    xv = np.random.default_rng(4).normal(size=(2, 3, 6, 5)).astype("float32")
    got = theon.function([x], pool.max_pool_2d_same_size(x, (2, 2)))(xv)
    z = np.repeat(np.repeat(loop_pool(xv, (2, 2), (2, 2), (0, 0), True, "max"), 2, 2), 2, 3)
    want = np.zeros_like(xv)
    want[:, :, :, :4] = np.where(xv[:, :, :, :4] == z, xv[:, :, :, :4], 0)
    np.testing.assert_array_equal(got, want)


def test_window_larger_than_run_time_input_is_a_clear_error(run_python):
    proc = run_python("""
        import numpy as np, theon, theon.tensor as T
        from theon.tensor.signal.pool import pool_2d
        x = T.dtensor4("x")
        f = theon.function([x], pool_2d(x, (3, 2), ignore_border=True, pad=(1, 0)))
        print(f(np.ones((1, 1, 1, 4))).shape)           # padded rows 3: one window
        print(f(np.ones((2, 1, 0, 4))).shape)           # no rows: no windows
        f = theon.function([x], pool_2d(x, (3, 2), ignore_border=True))
        try:
            f(np.ones((2, 1, 2, 4)))
        except ValueError as e:
            print("ERR", str(e).replace(chr(10), " "))
        g = theon.function([x], theon.grad(pool_2d(x, (2, 2), ignore_border=True).sum(), x))
        try:
            g(np.ones((2, 1, 1, 4)))
        except ValueError as e:
            print("ERR", str(e).replace(chr(10), " "))
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["(1, 1, 1, 2)", "(2, 1, 0, 2)"]
    assert lines[2].startswith("ERR") and "pooling window (ws 3) is larger than dim 2" in lines[2]
    assert "ignore_border=True" in lines[2]
    assert lines[3].startswith("ERR") and "(ws 2) is larger than dim 2" in lines[3]


def test_images2neibs_valid_checks_run_time_shapes(run_python):
    """mode 'valid' on dims known only at run time: covered shapes give the
    patches (vs a direct loop, with the gradient), uncovered ones a
    ValueError naming ten4 and the dim (Theano's C code refuses them too)."""
    proc = run_python("""
        import numpy as np, theon, theon.tensor as T
        from theon.tensor.nnet import neighbours
        x = T.dtensor4("x")
        f = theon.function([x], neighbours.images2neibs(x, (2, 3), (2, 2)))
        xv = np.arange(2 * 3 * 6 * 7, dtype=float).reshape(2, 3, 6, 7)
        want = np.array([xv[i, c, r:r + 2, q:q + 3].ravel() for i in range(2) for c in range(3)
                         for r in range(0, 5, 2) for q in range(0, 5, 2)])
        print(np.array_equal(f(xv), want))
        g = theon.function([x], theon.grad((neighbours.images2neibs(x, (2, 3), (2, 2)) ** 2).sum(), x))
        print(np.array_equal(g(xv), 2 * xv * np.array([1, 1, 2, 1, 2, 1, 1.0])))   # columns 2, 4 in two patches
        for shape in [(1, 1, 6, 8), (1, 1, 5, 7), (1, 1, 1, 7)]:
            try:
                f(np.ones(shape))
                print("NO ERROR", shape)
            except ValueError as e:
                print("ERR", str(e).replace(chr(10), " "))
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["True", "True"], lines
    for line, axis, size in zip(lines[2:], (3, 2, 2), (8, 5, 1)):
        assert line.startswith("ERR") and "images2neibs mode 'valid'" in line, line
        assert f"ten4's dim {axis} exactly: size {size}" in line and "ignore_borders" in line, line


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_aot_compile_pooling_library(tmp_path):
    src = tmp_path / "pooled.py"
    src.write_text(
        "import theon, theon.tensor as T\n"
        "from theon.tensor.signal.pool import pool_2d\n"
        "x = T.ftensor4('x')\n"
        "y = pool_2d(x, (2, 2), ignore_border=True, stride=(1, 2), pad=(1, 0), mode='average_exc_pad')\n"
        "m = pool_2d(T.tanh(x), (3, 3), ignore_border=False)\n"
        "pooled = theon.function([x], [y, m, theon.grad((y * y).sum() + m.sum(), x)])\n")
    assert aot_main([str(src), "-o", str(tmp_path), "--emit", "header,shared"]) == 0
    lib = theon.runtime.load_library(tmp_path / "libpooled.so")
    xv = np.random.default_rng(5).normal(size=(2, 3, 7, 8)).astype("float32")
    y, m, g = lib(xv)
    ry = loop_pool(xv, (2, 2), (1, 2), (1, 0), True, "average_exc_pad")
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m, loop_pool(np.tanh(xv), (3, 3), (3, 3), (0, 0), False, "max"), rtol=1e-6)
    want = loop_pool_grad(xv, 2 * ry, (2, 2), (1, 2), (1, 0), True, "average_exc_pad") + \
        loop_pool_grad(np.tanh(xv), np.ones(m.shape), (3, 3), (3, 3), (0, 0), False, "max") * (1 - np.tanh(xv) ** 2)
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_second_derivative_of_max_pooling(dtype):
    """pool_grad_grad compiled: the R-op-like product d/dgz <pool_grad(x, z, gz), v>
    and a hessian-vector product of a max-pooled cost, against the interpreter."""
    from theon.frontend.build import build_function
    from theon.ir.interpreter import evaluate
    x, gz, v = (T.TensorType(dtype, (None,) * 4)(n) for n in ("x", "gz", "v"))
    rng = np.random.default_rng(8)
    xv = rng.integers(0, 5, size=(3, 4, 9, 8)).astype(dtype)        # ties
    z = pool.pool_2d(x, (3, 2), ignore_border=False, stride=(2, 2))
    g = theon.grad((z * gz).sum(), x)
    outs = [theon.grad((g * v).sum(), gz), theon.grad((theon.grad((T.tanh(z) ** 2).sum(), x) * v).sum(), x)]
    zv = loop_pool(xv, (3, 2), (2, 2), (0, 0), False, "max")
    vals = [xv, rng.normal(size=zv.shape).astype(dtype), rng.normal(size=xv.shape).astype(dtype)]
    got = theon.function([x, gz, v], outs)(*vals)
    func, _ = build_function([x, gz, v], outs)
    want, _ = evaluate(func, vals)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_cases(), st.booleans())
def test_random_pools_compiled(case, reverse):
    """Random shapes/windows/strides/pads/modes, forward and gradient, the
    input a reversed (negative-stride) view or not."""
    nd, shape, ws, stride, pad, ib, mode = case
    x = _var(len(shape), "float64")
    src = x[..., ::-1] if reverse else x
    y = _pool(src, nd, ws, stride, pad, ib, mode)
    xv = np.random.default_rng(len(shape)).normal(size=shape)
    view = xv[..., ::-1] if reverse else xv
    want = loop_pool(view, ws, stride, pad, ib, mode)
    w = _var(len(shape), "float64", "w")
    wv = np.random.default_rng(1).normal(size=want.shape)
    got, g = theon.function([x, w], [y, theon.grad((y * w).sum(), x)])(xv, wv)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    gwant = loop_pool_grad(view, wv, ws, stride, pad, ib, mode)
    np.testing.assert_allclose(g, gwant[..., ::-1] if reverse else gwant, rtol=1e-12, atol=1e-12)
