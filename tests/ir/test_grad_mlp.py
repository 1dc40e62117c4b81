"""The gradient of a 3-layer MLP loss against a hand-derived NumPy
backward pass, to 1e-10 in float64."""
import numpy as np

import theon
import theon.tensor as T

from ..grad_helpers import run

N, D, H1, H2, C = 7, 5, 6, 4, 3
LAM = 1e-3


def data():
    rng = np.random.default_rng(7)
    params = {"W1": rng.normal(0, 0.5, (D, H1)), "b1": rng.normal(0, 0.1, H1),
              "W2": rng.normal(0, 0.5, (H1, H2)), "b2": rng.normal(0, 0.1, H2),
              "W3": rng.normal(0, 0.5, (H2, C)), "b3": rng.normal(0, 0.1, C)}
    X = rng.normal(0, 1, (N, D))
    labels = rng.integers(0, C, N)
    return params, X, labels


def numpy_forward_backward(p, X, Y):
    z1 = X @ p["W1"] + p["b1"]
    h1 = np.tanh(z1)
    z2 = h1 @ p["W2"] + p["b2"]
    h2 = np.maximum(z2, 0)
    z3 = h2 @ p["W3"] + p["b3"]
    z3s = z3 - z3.max(axis=1, keepdims=True)
    logp = z3s - np.log(np.exp(z3s).sum(axis=1, keepdims=True))
    l2 = sum((p[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss = -(Y * logp).sum() / N + LAM * l2

    dz3 = (np.exp(logp) - Y) / N
    g = {"W3": h2.T @ dz3 + 2 * LAM * p["W3"], "b3": dz3.sum(0)}
    dz2 = (dz3 @ p["W3"].T) * (z2 > 0)
    g.update(W2=h1.T @ dz2 + 2 * LAM * p["W2"], b2=dz2.sum(0))
    dz1 = (dz2 @ p["W2"].T) * (1 - h1 ** 2)
    g.update(W1=X.T @ dz1 + 2 * LAM * p["W1"], b1=dz1.sum(0))
    return loss, g


def test_mlp_gradient_matches_numpy_backward_pass():
    params, X, labels = data()
    Y = np.eye(C)[labels]
    shared = {k: theon.shared(v, name=k) for k, v in params.items()}
    x, y = T.dmatrix("x"), T.dmatrix("y")
    h1 = T.tanh(T.dot(x, shared["W1"]) + shared["b1"])
    h2 = T.nnet.relu(T.dot(h1, shared["W2"]) + shared["b2"])
    logp = T.nnet.log_softmax(T.dot(h2, shared["W3"]) + shared["b3"])
    l2 = sum((shared[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss = -(y * logp).sum(axis=1).mean() + LAM * l2
    names = sorted(params)
    grads = theon.grad(loss, [shared[k] for k in names])

    values = run([x, y], [loss] + grads, [X, Y])
    loss_ref, g_ref = numpy_forward_backward(params, X, Y)
    np.testing.assert_allclose(values[0], loss_ref, rtol=1e-12)
    for k, v in zip(names, values[1:]):
        assert v.shape == params[k].shape, k
        np.testing.assert_allclose(v, g_ref[k], rtol=1e-10, atol=1e-10, err_msg=k)


def test_mlp_gradient_with_integer_labels_and_crossentropy():
    params, X, labels = data()
    Y = np.eye(C)[labels]
    x, t = T.dmatrix("x"), T.lvector("t")
    W = {k: T.constant(v) for k, v in params.items() if k.startswith("b")}
    w = {k: T.dmatrix(k) for k in ("W1", "W2", "W3")}
    h1 = T.tanh(T.dot(x, w["W1"]) + W["b1"])
    h2 = T.maximum(T.dot(h1, w["W2"]) + W["b2"], 0)
    p = T.nnet.softmax(T.dot(h2, w["W3"]) + W["b3"])
    l2 = sum((w[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss = T.nnet.categorical_crossentropy(p, t).mean() + LAM * l2
    names = ("W1", "W2", "W3")
    grads = theon.grad(loss, [w[k] for k in names])
    values = run([x, t] + [w[k] for k in names], grads, [X, labels] + [params[k] for k in names])
    _, g_ref = numpy_forward_backward(params, X, Y)
    for k, v in zip(names, values):
        np.testing.assert_allclose(v, g_ref[k], rtol=1e-10, atol=1e-10, err_msg=k)
