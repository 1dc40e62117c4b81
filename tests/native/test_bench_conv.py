"""bench/conv.py: W16 and W17's NumPy references are right (finite
differences, float64) and theon's functions pass the bench's check on
small instances of the same graphs."""
import numpy as np

from theon.bench import conv
from theon.bench.__main__ import check
from theon.bench.workloads import WORKLOADS


def _fd(f, arrays, k, idx, eps=1e-6):
    a = [x.copy() for x in arrays]
    a[k][idx] += eps
    hi = f(a)
    a[k][idx] -= 2 * eps
    return (hi - f(a)) / (2 * eps)


def test_w17_numpy_gradients_vs_finite_differences():
    rng = np.random.default_rng(3)
    ch, eps = 3, 1e-4
    arrays = [rng.standard_normal((2, ch, 5, 5)), rng.standard_normal((ch, ch, 3, 3)) * 0.5,
              rng.uniform(0.5, 1.5, ch), rng.standard_normal(ch) * 0.1, rng.standard_normal((ch, ch, 3, 3)) * 0.5,
              rng.uniform(0.5, 1.5, ch), rng.standard_normal(ch) * 0.1, rng.standard_normal((2, ch, 5, 5))]
    got = conv._np_resnet_block(*arrays, eps)

    def loss(a):
        return float((conv._np_resnet_block(*a, eps)[0] * a[7]).sum())
    for k in range(7):          # x, W1, g1, b1, W2, g2, b2
        for _ in range(4):
            idx = tuple(rng.integers(0, n) for n in arrays[k].shape)
            np.testing.assert_allclose(got[k + 1][idx], _fd(loss, arrays, k, idx), rtol=1e-4, atol=1e-6)


def test_w16_numpy_step_gradients_vs_finite_differences():
    rng = np.random.default_rng(4)
    params = [p.astype(np.float64) for p in conv._lenet_params(rng)]
    params[6] = rng.standard_normal(params[6].shape) * 0.1       # the softmax layer starts at zero
    X, Y, lr = rng.standard_normal((3, 1, 28, 28)), rng.integers(0, 10, 3), 1.0
    cost, new = conv._np_lenet_step(params, X, Y, lr)
    for k in (0, 2, 4, 6, 7):
        idx = tuple(rng.integers(0, n) for n in params[k].shape)
        grad = (params[k][idx] - new[k][idx]) / lr
        np.testing.assert_allclose(grad, _fd(lambda p: conv._np_lenet_step(p, X, Y, lr)[0], params, k, idx),
                                   rtol=1e-4, atol=1e-7)


def test_w16_w17_pass_the_bench_check(monkeypatch):
    monkeypatch.setitem(conv.RESNET, "batch", 4)
    monkeypatch.setitem(conv.RESNET, "side", 10)
    monkeypatch.setitem(conv.RESNET, "channels", 8)
    for key, build in (("W16", conv.w16), ("W17", conv.w17)):
        w = next(w for w in WORKLOADS if w.key == key)
        fns = build(np.random.default_rng(0))
        check(w, fns)           # raises when theon's result differs from NumPy's
        assert fns["theon"]() is not None
