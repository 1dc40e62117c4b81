"""theon.tensor.nnet.bn against a NumPy reference (Theano 1.0's
AbstractBatchNormTrain/Inference ``perform``) with the reference
interpreter: every axes form, parameters with or without the normalized
axes, running averages, gradients vs finite differences, bad arguments."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor.nnet import bn

from ..frontend_helpers import run

RNG = np.random.default_rng(0)


def np_bn_train(x, gamma, beta, axes, eps, factor=None, rm=None, rv=None):
    mean = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    out = (x - mean) * (gamma * invstd) + beta
    res = [out, mean, invstd]
    if rm is not None:
        m = float(np.prod([x.shape[a] for a in axes]))
        res.append(rm * (1 - factor) + mean * factor)
        res.append(rv * (1 - factor) + (m / (m - 1)) * var * factor)
    return res


AXES = [("per-activation", (0,)), ("spatial", (0, 2, 3)), ((0, 2), (0, 2)), ((1, 3), (1, 3))]


def _param_shape(shape, axes):
    return tuple(1 if d in axes else n for d, n in enumerate(shape))


@pytest.mark.parametrize("axes_arg, axes", AXES)
@pytest.mark.parametrize("short", [False, True])
def test_train_matches_numpy(axes_arg, axes, short):
    shape = (6, 3, 4, 5)
    pshape = _param_shape(shape, axes)
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    x = T.dtensor4("x")
    ptype = T.TensorType("float64", (None,) * (len(kept) if short else 4))
    g, b, rm, rv = (ptype(n) for n in ("g", "b", "rm", "rv"))
    xv = RNG.normal(2, 3, shape)
    gv, bv, rmv, rvv = (RNG.normal(size=pshape) for _ in range(4))
    rvv = np.abs(rvv)
    outs = bn.batch_normalization_train(x, g, b, axes_arg, 1e-3, 0.3, rm, rv)
    assert len(outs) == 5
    feed = [v.reshape(kept) if short else v for v in (gv, bv, rmv, rvv)]
    got = run([x, g, b, rm, rv], list(outs), xv, *feed)
    want = np_bn_train(xv, gv, bv, axes, 1e-3, 0.3, rmv, rvv)
    for k, (a, e) in enumerate(zip(got, want)):
        if short and k:
            e = e.reshape(kept)
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12, err_msg=str(k))
    three = bn.batch_normalization_train(x, g, b, axes_arg)
    assert len(three) == 3
    got = run([x, g, b], list(three), xv, *feed[:2])
    want = np_bn_train(xv, gv, bv, axes, 1e-4)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-12)


def test_train_gradients_match_finite_differences():
    x, g, b = T.dmatrix("x"), T.dvector("g"), T.dvector("b")
    xv, gv, bv = RNG.normal(size=(5, 3)), RNG.normal(size=3), RNG.normal(size=3)
    w = RNG.normal(size=(5, 3))
    out = bn.batch_normalization_train(x, g, b)[0]
    cost = (out * w).sum()
    grads = run([x, g, b], list(theon.grad(cost, [x, g, b])), xv, gv, bv)

    def f(xx, gg, bb):
        return (np_bn_train(xx, gg[None], bb[None], (0,), 1e-4)[0] * w).sum()
    eps = 1e-6
    for k, v in enumerate((xv, gv, bv)):
        num = np.zeros_like(v)
        for idx in np.ndindex(*v.shape):
            args_p = [a.copy() for a in (xv, gv, bv)]
            args_m = [a.copy() for a in (xv, gv, bv)]
            args_p[k][idx] += eps
            args_m[k][idx] -= eps
            num[idx] = (f(*args_p) - f(*args_m)) / (2 * eps)
        np.testing.assert_allclose(grads[k], num, rtol=1e-5, atol=1e-7)


def test_test_mode_and_elementwise():
    x = T.dtensor4("x")
    g, b, m, v = (T.dvector(n) for n in "gbmv")
    xv = RNG.normal(size=(2, 3, 4, 4))
    gv, bv, mv, vv = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3), RNG.uniform(0.5, 2, 3)
    out = bn.batch_normalization_test(x, g, b, m, v, "spatial", 1e-3)
    c = (slice(None), None, None)
    want = (xv - mv[c]) * (gv[c] / np.sqrt(vv[c] + 1e-3)) + bv[c]
    np.testing.assert_allclose(run([x, g, b, m, v], out, xv, gv, bv, mv, vv), want, rtol=1e-12)
    y = T.dmatrix("y")
    yv = RNG.normal(size=(4, 3))
    for mode in ("low_mem", "high_mem"):
        out = bn.batch_normalization(y, g, b, m, v, mode=mode)
        np.testing.assert_allclose(run([y, g, b, m, v], out, yv, gv, bv, mv, vv), (yv - mv) * (gv / vv) + bv,
                                   rtol=1e-12)


def test_bad_arguments():
    x = T.dtensor4("x")
    with pytest.raises(ValueError, match="axes must be"):
        bn.batch_normalization_train(x, T.dvector("g"), T.dvector("b"), axes="channel")
    with pytest.raises(ValueError, match="gamma .* must have inputs' ndim"):
        bn.batch_normalization_train(x, T.dmatrix("g"), T.dvector("b"), axes="spatial")
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        bn.batch_normalization_train(x, T.dtensor3("g"), T.dtensor3("b"), running_mean=T.dtensor3("m"))
    with pytest.raises(ValueError, match="size 1 in the normalized axes"):
        bn.batch_normalization_train(x, T.TensorType("float64", (2, 3, 4, 4))("g"), T.dtensor4("b"))
    with pytest.raises(ValueError, match="mode must be"):
        bn.batch_normalization(x, 1.0, 0.0, 0.0, 1.0, mode="fast")
