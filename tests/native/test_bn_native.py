"""Batch normalization compiled to native code: training steps whose
running averages are shared-variable updates, against NumPy over several
calls, float32 and float64; inference mode; gradients."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor.nnet import bn

from ..ir.test_bn_ir import np_bn_train


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_running_averages_as_shared_updates(dtype):
    rng = np.random.default_rng(1)
    shape = (8, 4, 5, 6)
    x = T.TensorType(dtype, (None,) * 4)("x")
    gamma = theon.shared(rng.normal(size=4).astype(dtype), name="gamma")
    beta = theon.shared(rng.normal(size=4).astype(dtype), name="beta")
    rm = theon.shared(np.zeros(4, dtype), name="running_mean")
    rv = theon.shared(np.ones(4, dtype), name="running_var")
    out, mean, invstd, new_rm, new_rv = bn.batch_normalization_train(
        x, gamma, beta, "spatial", 1e-5, 0.25, rm, rv)
    cost = (out ** 2 * T.arange(out.shape[3], dtype=dtype)).sum()
    gx, gg, gb = theon.grad(cost, [x, gamma, beta])
    step = theon.function([x], [out, mean, invstd, gx, gg, gb], updates=[(rm, new_rm), (rv, new_rv)])
    test = theon.function([x], bn.batch_normalization_test(x, gamma, beta, rm, rv, "spatial", 1e-5))
    np_rm, np_rv = np.zeros((1, 4, 1, 1)), np.ones((1, 4, 1, 1))
    tol = 2e-4 if dtype == "float32" else 1e-10
    g = gamma.get_value()[None, :, None, None].astype(np.float64)
    b = beta.get_value()[None, :, None, None].astype(np.float64)
    for call in range(3):
        xv = rng.normal(call, 2 + call, shape).astype(dtype)
        got = step(xv)
        want = np_bn_train(xv.astype(np.float64), g, b, (0, 2, 3), 1e-5, 0.25, np_rm, np_rv)
        np_rm, np_rv = want[3], want[4]
        np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)
        np.testing.assert_allclose(got[1].reshape(-1), want[1].reshape(-1), rtol=tol, atol=tol)
        np.testing.assert_allclose(got[2].reshape(-1), want[2].reshape(-1), rtol=tol, atol=tol)
        np.testing.assert_allclose(rm.get_value(), np_rm.reshape(-1), rtol=tol, atol=tol)
        np.testing.assert_allclose(rv.get_value(), np_rv.reshape(-1), rtol=tol, atol=tol)
        # analytic gradient of the normalization (the textbook backward pass)
        dout = 2 * want[0] * np.arange(shape[3])
        xhat = (xv - want[1]) * want[2]
        m = shape[0] * shape[2] * shape[3]
        dxhat = dout * g
        dx = want[2] / m * (m * dxhat - dxhat.sum((0, 2, 3), keepdims=True)
                            - xhat * (dxhat * xhat).sum((0, 2, 3), keepdims=True))
        np.testing.assert_allclose(got[3], dx, rtol=50 * tol, atol=50 * tol)
        np.testing.assert_allclose(got[4], (dout * xhat).sum((0, 2, 3)), rtol=50 * tol, atol=50 * tol)
        np.testing.assert_allclose(got[5], dout.sum((0, 2, 3)), rtol=50 * tol, atol=50 * tol)
    xv = rng.normal(size=shape).astype(dtype)
    want = (xv - np_rm) * (g / np.sqrt(np_rv + 1e-5)) + b
    np.testing.assert_allclose(test(xv), want, rtol=tol, atol=tol)


def test_parameters_of_the_wrong_size_are_an_error():
    x, g, b = T.dtensor4("x"), T.dvector("g"), T.dvector("b")
    f = theon.function([x, g, b], bn.batch_normalization_train(x, g, b, "spatial")[0])
    xv = np.random.default_rng(2).normal(size=(2, 4, 3, 3))
    assert f(xv, np.ones(4), np.zeros(4)).shape == xv.shape
    with pytest.raises(ValueError, match="cannot reshape an array of size 3"):
        f(xv, np.ones(3), np.zeros(4))
