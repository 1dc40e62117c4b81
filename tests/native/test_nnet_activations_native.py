"""theon.tensor.nnet's activations and losses compiled to native code
(FAST_RUN: fused, stabilized): values against NumPy in float32/float64,
finite losses at extreme logits, neighbourhoods, h_softmax and
confusion_matrix."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nnet
from theon.tensor.nnet import neighbours

from ..ir.test_nnet_activations_ir import ACTIVATIONS, _loop_neibs, _np_softmax


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_compiled(dtype):
    x = T.TensorType(dtype, (None,))("x")
    xv = np.random.default_rng(0).normal(0, 3, 1000).astype(dtype)
    f = theon.function([x], [fn(x) for fn, _ in ACTIVATIONS] + [theon.grad(fn(x).sum(), x) for fn, _ in ACTIVATIONS])
    got = f(xv)
    tol = 1e-6 if dtype == "float32" else 1e-12
    for k, (_, ref) in enumerate(ACTIVATIONS):
        assert got[k].dtype == np.dtype(dtype)
        np.testing.assert_allclose(got[k], ref(xv.astype(np.float64)), rtol=tol, atol=tol)
        assert np.all(np.isfinite(got[len(ACTIVATIONS) + k]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropies_are_finite_at_extreme_logits(dtype):
    x, t = T.TensorType(dtype, (None,))("x"), T.TensorType(dtype, (None,))("t")
    xv = np.array([-500, -90, -20, 0, 20, 90, 500], dtype=dtype)
    tv = np.array([1, 0, 1, 0.5, 0, 1, 0], dtype=dtype)
    stable = nnet.sigmoid_binary_crossentropy(x, t)
    via_sigmoid = nnet.binary_crossentropy(nnet.sigmoid(x), t)      # the stabilize pass rewrites it
    f = theon.function([x, t], [stable, via_sigmoid, theon.grad(stable.sum(), x), theon.grad(via_sigmoid.sum(), x)])
    a, b, ga, gb = f(xv, tv)
    x64 = xv.astype(np.float64)
    want = np.log1p(np.exp(-np.abs(x64))) + (np.maximum(x64, 0) - tv * x64)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(a, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(b, want, rtol=tol, atol=tol)
    sig = np.exp(-np.logaddexp(0, -x64))
    np.testing.assert_allclose(ga, sig - tv, rtol=tol, atol=tol)
    np.testing.assert_allclose(gb, sig - tv, rtol=tol, atol=tol)
    s, y = T.TensorType(dtype, (None, None))("s"), T.lvector("y")
    sv = np.array([[1000, -1000, 0], [0, 0, 0], [-50, 50, 3]], dtype=dtype)
    nll, sm = nnet.crossentropy_softmax_1hot(s, y)
    got_nll, got_sm, g = theon.function([s, y], [nll, sm, theon.grad(nll.sum(), s)])(sv, np.array([1, 2, 0]))
    assert np.all(np.isfinite(got_nll)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(got_nll, [2000, np.log(3), 100], rtol=1e-5)
    np.testing.assert_allclose(g, _np_softmax(sv.astype(np.float64)) - np.eye(3)[[1, 2, 0]], atol=1e-6)


def test_neighbours_h_softmax_confusion_compiled():
    rng = np.random.default_rng(2)
    x = T.ftensor4("x")
    xv = rng.normal(size=(2, 3, 7, 8)).astype("float32")
    f = theon.function([x], [neighbours.images2neibs(x, (3, 2), (2, 2), mode="ignore_borders"),
                             neighbours.neibs2images(neighbours.images2neibs(x, (2, 2), mode="ignore_borders"),
                                                     (2, 2), x.shape, mode="ignore_borders")])
    n, back = f(xv)
    np.testing.assert_array_equal(n, _loop_neibs(xv, 3, 2, 2, 2))
    want = np.zeros_like(xv)
    want[:, :, :6, :8] = xv[:, :, :6, :8]
    np.testing.assert_array_equal(back, want)
    a, p = T.ivector("a"), T.ivector("p")
    av, pv = rng.integers(0, 4, 50).astype("int32"), rng.integers(1, 6, 50).astype("int32")
    cm, order = theon.function([a, p], list(nnet.confusion_matrix(a, p)))(av, pv)
    np.testing.assert_array_equal(order, np.unique(np.concatenate([av, pv])))
    assert cm.sum() == 50 and cm.dtype == np.int64
    for i, u in enumerate(order):
        for j, v in enumerate(order):
            assert cm[i, j] == np.sum((av == u) & (pv == v))
    xm, W1, b1, W2, b2 = T.fmatrix("x"), T.fmatrix("W1"), T.fvector("b1"), T.ftensor3("W2"), T.fmatrix("b2")
    vals = [rng.normal(size=s).astype("float32") for s in ((6, 5), (5, 3), (3,), (3, 5, 4), (3, 4))]
    probs = nnet.h_softmax(xm, 6, 11, 3, 4, W1, b1, W2, b2)
    got = theon.function([xm, W1, b1, W2, b2], [probs, theon.grad(T.log(probs).sum(), W2)])(*vals)
    xv, W1v, b1v, W2v, b2v = (v.astype(np.float64) for v in vals)
    cls = _np_softmax(xv @ W1v + b1v)
    full = np.concatenate([cls[:, c:c + 1] * _np_softmax(xv @ W2v[c] + b2v[c]) for c in range(3)], 1)[:, :11]
    np.testing.assert_allclose(got[0], full, rtol=1e-5, atol=1e-6)
    assert got[0].shape == (6, 11) and np.all(np.isfinite(got[1]))
