"""Pooling in a GPU function (``codegen/ptx/pool_step.py``): a kernel per
``pool`` (a thread per output) and per ``pool_grad`` (a thread per input
element, gathering from the windows that hold it); results and gradients
agree with direct loops and with the CPU function, the plan names the
kernels, the host reports a window larger than the input. Emulated device
everywhere, a real GPU where there is one."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function
from theon.tensor.signal.pool import pool_2d, pool_3d

from ..pool_helpers import CASES, MODES, loop_pool, loop_pool_grad


@pytest.mark.parametrize("case", [0, 2, 5, 7, 9, 10, 12, 13])
def test_pool_kernels_match_loops(device, case):
    nd, shape, ws, stride, pad, ib = CASES[case]
    x, w = T.TensorType("float64", (None,) * len(shape))("x"), T.TensorType("float64", (None,) * len(shape))("w")
    outs = []
    for mode in MODES:
        y = (pool_2d if nd == 2 else pool_3d)(x, ws, ignore_border=ib, stride=stride, pad=pad, mode=mode)
        outs += [y, theon.grad((y * w).sum(), x)]
    f = theon.function([x, w], outs)
    gf = from_function(f, device)
    rng = np.random.default_rng(case)
    xv = rng.normal(size=shape)
    wv = rng.normal(size=loop_pool(xv, ws, stride or ws, pad, ib, "max").shape)
    got = gf(xv, wv)
    for k, mode in enumerate(MODES):
        np.testing.assert_allclose(np.asarray(got[2 * k]), loop_pool(xv, ws, stride or ws, pad, ib, mode),
                                   rtol=1e-12, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(np.asarray(got[2 * k + 1]),
                                   loop_pool_grad(xv, wv, ws, stride or ws, pad, ib, mode),
                                   rtol=1e-12, atol=1e-12, err_msg=mode)


@pytest.mark.parametrize("mode", ["max", "average_exc_pad"])
def test_pool_and_gradient_on_the_gpu_plan(device, mode):
    x = T.ftensor4("x")
    y = pool_2d(T.tanh(x), (3, 2), ignore_border=True, stride=(2, 1), pad=(1, 0), mode=mode)
    f = theon.function([x], [y * 2, theon.grad((y * y).sum(), x)])
    gf = from_function(f, device)
    kernels = list(gf.plan.kernels)
    assert any(k.startswith("theon_pool_float32") for k in kernels)
    assert any(k.startswith("theon_pool_grad_float32") for k in kernels)
    xv = np.random.default_rng(0).normal(size=(2, 3, 7, 6)).astype("float32")
    for got, want in zip(gf(xv), f(xv)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_integer_max_and_bad_size(device):
    x = T.itensor3("x")
    f = theon.function([x], pool_2d(x, (2, 3), ignore_border=True, stride=(1, 2)))
    gf = from_function(f, device)
    xv = np.random.default_rng(1).integers(-1000, 1000, size=(2, 5, 7)).astype("int32")
    np.testing.assert_array_equal(np.asarray(gf(xv)), loop_pool(xv, (2, 3), (1, 2), (0, 0), True, "max"))
    with pytest.raises(ValueError, match="pooling window"):
        gf(xv[:, :1])


@pytest.mark.skipif(__import__("shutil").which("ptxas") is None, reason="ptxas (CUDA toolkit) is not on PATH")
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_pool_kernels_assemble_with_ptxas(tmp_path, dtype):
    from .test_ptx import emit_and_assemble
    from theon.frontend.build import build_function
    x, w = T.TensorType(dtype, (None,) * 5)("x"), T.TensorType(dtype, (None,) * 5)("w")
    modes = MODES if dtype != "uint8" else ("max", "sum")
    outs = []
    for mode in modes:
        y = pool_3d(x, (2, 3, 2), ignore_border=True, stride=(1, 2, 2), pad=(1, 1, 0), mode=mode)
        outs.append(y)
        if dtype != "uint8":
            outs.append(theon.grad((y * w).sum(), x))
    func, _ = build_function([x, w], outs)
    compiled = emit_and_assemble(func, tmp_path)
    assert any(n.startswith("theon_pool_") for n in compiled.kernel_names)


def test_second_derivative_of_max_pooling(device):
    x, gz, v = T.dtensor4("x"), T.dtensor4("gz"), T.dtensor4("v")
    z = pool_2d(x, (2, 3), ignore_border=True, stride=(1, 2))
    g = theon.grad((z * gz).sum(), x)
    f = theon.function([x, gz, v], theon.grad((g * v).sum(), gz))
    gf = from_function(f, device)
    assert any(k.startswith("theon_pool_grad_grad") for k in gf.plan.kernels)
    rng = np.random.default_rng(9)
    xv = rng.integers(0, 4, size=(2, 2, 5, 7)).astype(np.float64)
    vals = [xv, rng.normal(size=loop_pool(xv, (2, 3), (1, 2), (0, 0), True, "max").shape), rng.normal(size=xv.shape)]
    np.testing.assert_allclose(np.asarray(gf(*vals)), f(*vals), rtol=1e-12, atol=1e-12)


def test_images2neibs_valid_check_on_the_device(device):
    """neibs_check on the GPU plan: the host checks the run-time shape
    (NEIBS_COVER names ten4 and the dim), covered images give the patches."""
    from theon.tensor.nnet import neighbours
    x = T.dtensor4("x")
    f = theon.function([x], neighbours.images2neibs(x, (2, 2)))
    gf = from_function(f, device)
    xv = np.arange(2 * 4 * 6, dtype=float).reshape(1, 2, 4, 6)
    np.testing.assert_array_equal(np.asarray(gf(xv)), f(xv))
    with pytest.raises(ValueError, match="cover ten4's dim 3 exactly: size 5, neib_shape 2, neib_step 2"):
        gf(np.zeros((1, 2, 4, 5)))
