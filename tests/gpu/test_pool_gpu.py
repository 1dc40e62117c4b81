"""Pooling in a GPU function: the launch plan runs ``pool`` and
``pool_grad`` on the host for now (the op's NumPy reference between the
kernels around it); results and gradients agree with the CPU function.
Emulated device everywhere, a real GPU where there is one."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function
from theon.tensor.signal.pool import pool_2d


@pytest.mark.parametrize("mode", ["max", "average_exc_pad"])
def test_pool_and_gradient_on_the_gpu_plan(device, mode):
    x = T.ftensor4("x")
    y = pool_2d(T.tanh(x), (3, 2), ignore_border=True, stride=(2, 1), pad=(1, 0), mode=mode)
    f = theon.function([x], [y * 2, theon.grad((y * y).sum(), x)])
    gf = from_function(f, device)
    xv = np.random.default_rng(0).normal(size=(2, 3, 7, 6)).astype("float32")
    for got, want in zip(gf(xv), f(xv)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
