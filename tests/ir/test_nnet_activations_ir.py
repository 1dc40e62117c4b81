"""theon.tensor.nnet's activations and losses with the NumPy reference
interpreter: values against NumPy formulas (Theano's definitions),
gradients against finite differences, neighbourhoods, h_softmax and
confusion_matrix against direct loops, bad arguments."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nnet
from theon.tensor.nnet import neighbours

from ..frontend_helpers import run

RNG = np.random.default_rng(0)


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS = [
    (lambda x: nnet.relu(x), lambda x: np.maximum(x, 0)),
    (lambda x: nnet.relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (lambda x: nnet.elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    (lambda x: nnet.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (nnet.selu, lambda x: 1.0507009873554804934193349852946
     * np.where(x > 0, x, 1.6732632423543772848170429916717 * np.expm1(x))),
    (nnet.softsign, lambda x: x / (1 + np.abs(x))),
    (nnet.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    (nnet.ultra_fast_sigmoid, lambda x: _theano_ultra_fast_sigmoid(x)),
]


def _theano_ultra_fast_sigmoid(x):
    """Theano 1.0's UltraFastScalarSigmoid.st_impl, element by element."""
    def one(x):
        x = 0.5 * x
        xx = abs(x)
        if xx < 1.7:
            z = 1.5 * xx / (1 + xx)
        elif xx < 3:
            z = 0.935409070603099 + 0.0458812946797165 * (xx - 1.7)
        else:
            z = 0.99505475368673
        return 0.5 * ((z if x >= 0 else -z) + 1.0)
    return np.array([one(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def test_ultra_fast_sigmoid_is_theanos_approximation():
    """Theano's formula at and around its kinks (|x| = 3.4 and 6), within
    0.03 of the sigmoid (the tolerance Theano's optimizer states for it)."""
    x = T.dvector("x")
    xv = np.array([-1e4, -6.0, -5.99, -3.4, -3.39, -1.0, -1e-300, 0.0, 1e-7, 0.5, 3.4, 3.41, 6.0, 6.01, 1e4])
    got = run([x], nnet.ultra_fast_sigmoid(x), xv)
    np.testing.assert_allclose(got, _theano_ultra_fast_sigmoid(xv), rtol=1e-14, atol=1e-16)
    dense = np.linspace(-12, 12, 2401)
    assert np.max(np.abs(run([x], nnet.ultra_fast_sigmoid(x), dense) - 1 / (1 + np.exp(-dense)))) < 0.03


@pytest.mark.parametrize("k", range(len(ACTIVATIONS)))
def test_activation_values_and_gradients(k):
    f, ref = ACTIVATIONS[k]
    x = T.dvector("x")
    xv = np.concatenate([RNG.normal(0, 3, 40), [-30.0, 30.0]])
    xv = xv[np.abs(xv) > 1e-3]
    xv = xv[np.abs(np.abs(xv) - 2.5) > 1e-3]          # hard_sigmoid's kinks
    xv = xv[(np.abs(np.abs(xv) - 3.4) > 1e-3) & (np.abs(np.abs(xv) - 6) > 1e-3)]    # ultra_fast_sigmoid's
    np.testing.assert_allclose(run([x], f(x), xv), ref(xv), rtol=1e-12, atol=1e-15)
    g = run([x], theon.grad(f(x).sum(), x), xv)
    eps = 1e-6
    np.testing.assert_allclose(g, (ref(xv + eps) - ref(xv - eps)) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_sigmoid_binary_crossentropy_is_finite_and_exact():
    x, t = T.dvector("x"), T.dvector("t")
    xv = np.array([-800.0, -40.0, -3.0, -1e-9, 0.0, 2.0, 40.0, 800.0])
    tv = np.array([0.0, 1.0, 0.3, 1.0, 0.5, 0.0, 1.0, 0.0])
    loss = nnet.sigmoid_binary_crossentropy(x, t)
    got = run([x, t], loss, xv, tv)
    want = np.log1p(np.exp(-np.abs(xv))) + (np.maximum(xv, 0) - tv * xv)     # log(1 + e^x) - t x
    np.testing.assert_allclose(got, want, rtol=1e-12)
    g = run([x, t], theon.grad(loss.sum(), x), xv, tv)
    np.testing.assert_allclose(g, np.exp(-np.logaddexp(0, -xv)) - tv, rtol=1e-12, atol=1e-300)


def test_crossentropy_softmax_1hot_family():
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.lvector("y")
    xv = RNG.normal(0, 3, (5, 4))
    xv[0] = [1000.0, -1000.0, 0.0, 2.0]             # finite through log_softmax
    bv = RNG.normal(size=4)
    yv = np.array([1, 0, 3, 2, 2])
    nll, sm = nnet.crossentropy_softmax_1hot(x, y)
    got_nll, got_sm = run([x, y], [nll, sm], xv, yv)
    lsm = xv - xv.max(1, keepdims=True)
    lsm = lsm - np.log(np.exp(lsm).sum(1, keepdims=True))
    np.testing.assert_allclose(got_nll, -lsm[np.arange(5), yv], rtol=1e-12)
    np.testing.assert_allclose(got_sm, _np_softmax(xv), rtol=1e-12)
    nll, sm, am = nnet.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
    r = run([x, b, y], [nll, sm, am], xv, bv, yv)
    np.testing.assert_allclose(r[1], _np_softmax(xv + bv), rtol=1e-12)
    np.testing.assert_array_equal(r[2], np.argmax(xv + bv, 1))
    assert len(nnet.crossentropy_softmax_1hot_with_bias(x, b, y)) == 2
    g = run([x, y], theon.grad(nnet.crossentropy_softmax_1hot(x, y)[0].sum(), x), xv, yv)
    np.testing.assert_allclose(g, _np_softmax(xv) - np.eye(4)[yv], rtol=1e-10, atol=1e-12)
    p = T.dmatrix("p")
    pv = _np_softmax(xv[1:])
    np.testing.assert_allclose(run([p, y], nnet.crossentropy_categorical_1hot(p, y), pv, yv[1:]),
                               -np.log(pv[np.arange(4), yv[1:]]), rtol=1e-12)
    with pytest.raises(TypeError, match="int class indices"):
        nnet.crossentropy_softmax_1hot(x, b)


def test_categorical_crossentropy_one_hot_targets():
    p, t, ti = T.dmatrix("p"), T.dmatrix("t"), T.lmatrix("ti")
    pv = _np_softmax(RNG.normal(size=(6, 5)))
    labels = RNG.integers(0, 5, 6)
    onehot = np.eye(5)[labels]
    want = -np.log(pv[np.arange(6), labels])
    np.testing.assert_allclose(run([p, t], nnet.categorical_crossentropy(p, t), pv, onehot), want, rtol=1e-12)
    np.testing.assert_allclose(run([p, ti], nnet.categorical_crossentropy(p, ti), pv, onehot.astype("int64")),
                               want, rtol=1e-12)


def test_binary_crossentropy_values():
    o, t = T.dvector("o"), T.dvector("t")
    ov, tv = RNG.uniform(0.01, 0.99, 10), RNG.uniform(0, 1, 10)
    np.testing.assert_allclose(run([o, t], nnet.binary_crossentropy(o, t), ov, tv),
                               -(tv * np.log(ov) + (1 - tv) * np.log(1 - ov)), rtol=1e-12)


def _loop_neibs(x, h, w, sr, sc):
    rows = []
    n, c, R, C = x.shape
    for i in range(n):
        for j in range(c):
            for r in range(0, R - h + 1, sr):
                for q in range(0, C - w + 1, sc):
                    rows.append(x[i, j, r:r + h, q:q + w].reshape(-1))
    return np.array(rows)


@pytest.mark.parametrize("shape, neib, step, mode", [
    ((2, 3, 4, 6), (2, 3), None, "valid"),
    ((2, 3, 5, 7), (2, 3), None, "ignore_borders"),
    ((1, 2, 6, 6), (3, 2), (1, 2), "valid"),
    ((1, 2, 7, 6), (3, 3), (2, 1), "ignore_borders"),
    ((1, 1, 4, 5), (3, 3), (1, 1), "half"),
    ((1, 2, 3, 4), (2, 3), (1, 1), "full"),
])
def test_images2neibs_matches_loops(shape, neib, step, mode):
    x = T.dtensor4("x")
    xv = RNG.normal(size=shape)
    got = run([x], neighbours.images2neibs(x, neib, step, mode=mode), xv)
    ref_x = xv
    if mode in ("half", "full"):
        pr, pc = (neib[0] // 2, neib[1] // 2) if mode == "half" else (neib[0] - 1, neib[1] - 1)
        ref_x = np.pad(xv, ((0, 0), (0, 0), (pr, pr), (pc, pc)))
    st = step or neib
    np.testing.assert_array_equal(got, _loop_neibs(ref_x, neib[0], neib[1], st[0], st[1]))
    # gradient: each element counted once per patch that holds it
    g = run([x], theon.grad(neighbours.images2neibs(x, neib, step, mode=mode).sum(), x), xv)
    counts = np.zeros_like(ref_x)
    for r in range(0, ref_x.shape[2] - neib[0] + 1, st[0]):
        for q in range(0, ref_x.shape[3] - neib[1] + 1, st[1]):
            counts[:, :, r:r + neib[0], q:q + neib[1]] += 1
    if mode in ("half", "full"):
        counts = counts[:, :, pr:pr + shape[2], pc:pc + shape[3]]
    np.testing.assert_array_equal(g, counts)


def test_neibs2images_inverts_images2neibs():
    x = T.dtensor4("x")
    xv = RNG.normal(size=(2, 3, 4, 6))
    n = neighbours.images2neibs(x, (2, 3))
    np.testing.assert_array_equal(run([x], neighbours.neibs2images(n, (2, 3), x.shape), xv), xv)
    xv = RNG.normal(size=(2, 1, 5, 7))
    n = neighbours.images2neibs(x, (2, 3), mode="ignore_borders")
    back = run([x], neighbours.neibs2images(n, (2, 3), x.shape, mode="ignore_borders"), xv)
    want = np.zeros_like(xv)
    want[:, :, :4, :6] = xv[:, :, :4, :6]
    np.testing.assert_array_equal(back, want)


def test_neighbour_bad_arguments():
    with pytest.raises(ValueError, match="cover the rows exactly"):
        neighbours.images2neibs(T.TensorType("float64", (1, 1, 5, 4))("x"), (2, 2))
    with pytest.raises(ValueError, match="4-d"):
        neighbours.images2neibs(T.dmatrix("x"), (2, 2))
    with pytest.raises(ValueError, match="two positive ints"):
        neighbours.images2neibs(T.dtensor4("x"), (0, 2))
    with pytest.raises(ValueError, match="mode must be"):
        neighbours.images2neibs(T.dtensor4("x"), (2, 2), mode="wrap")


def test_h_softmax_matches_numpy():
    n_in, n_classes, n_opc, n_outputs, batch = 4, 3, 4, 10, 5
    x, W1, b1, W2, b2 = T.dmatrix("x"), T.dmatrix("W1"), T.dvector("b1"), T.dtensor3("W2"), T.dmatrix("b2")
    y = T.lvector("y")
    vals = [RNG.normal(size=s) for s in ((batch, n_in), (n_in, n_classes), (n_classes,),
                                         (n_classes, n_in, n_opc), (n_classes, n_opc))]
    xv, W1v, b1v, W2v, b2v = vals
    cls = _np_softmax(xv @ W1v + b1v)
    full = np.concatenate([cls[:, c:c + 1] * _np_softmax(xv @ W2v[c] + b2v[c]) for c in range(n_classes)], 1)
    full = full[:, :n_outputs]
    got = run([x, W1, b1, W2, b2], nnet.h_softmax(x, batch, n_outputs, n_classes, n_opc, W1, b1, W2, b2), *vals)
    np.testing.assert_allclose(got, full, rtol=1e-12)
    yv = RNG.integers(0, n_outputs, batch)
    got = run([x, W1, b1, W2, b2, y], nnet.h_softmax(x, batch, n_outputs, n_classes, n_opc, W1, b1, W2, b2, y),
              *vals, yv)
    np.testing.assert_allclose(got, full[np.arange(batch), yv], rtol=1e-12)


def test_confusion_matrix():
    a, p = T.lvector("a"), T.lvector("p")
    av = np.array([0, 2, 2, 5, 1, 2])
    pv = np.array([0, 2, 1, 5, 5, 7])
    cm, order = run([a, p], list(nnet.confusion_matrix(a, p)), av, pv)
    np.testing.assert_array_equal(order, [0, 1, 2, 5, 7])
    want = np.zeros((5, 5), dtype=np.int64)
    for u, v in zip(av, pv):
        want[list(order).index(u), list(order).index(v)] += 1
    np.testing.assert_array_equal(cm, want)
    with pytest.raises(ValueError, match="actual must be a vector"):
        nnet.confusion_matrix(T.lmatrix("m"), p)
