"""The Theano tutorial's logistic regression ("A Real Example: Logistic
Regression"), run as written with ``import theon as theano``: a sigmoid
written by hand, ``p_1 = 1/(1+T.exp(-T.dot(x,w)-b))``, and the cross-entropy
``-y*T.log(p_1) - (1-y)*T.log(1-p_1)``. The initial weights are
``rng.randn(784)``, so the logits start at |z| ~ 30-100, where the graph as
written computes log(0) and 0*inf: it trains only because the stabilize pass
rewrites the forward graph and its gradient into sigmoid/softplus forms.
"""
import os

import numpy as np
import pytest

TUTORIAL_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "examples", "theano_tutorial.py")
# The tutorial's program (examples/theano_tutorial.py) with: separable data
# (labels from a hidden weight vector), fewer steps, each step recorded.
CHANGES = [("D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))", "D = make_data(rng, N, feats)"),
           ("training_steps = 10000", "training_steps = STEPS"),
           ("    pred, err = train(D[0], D[1])\n",
            "    pred, err = train(D[0], D[1])\n    record(i, pred, err, w.get_value(), b.get_value())\n")]

FLOAT32 = [('T.dmatrix', 'T.fmatrix'), ('T.dvector', 'T.fvector'),
           ('rng.randn(feats)', 'rng.randn(feats).astype("float32")'),
           ('theano.shared(0.,', 'theano.shared(numpy.float32(0.),')]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tutorial_logistic_regression_trains(dtype):
    source = open(TUTORIAL_FILE, encoding="utf-8").read()
    for old, new in CHANGES + (FLOAT32 if dtype == "float32" else []):
        assert old in source, old
        source = source.replace(old, new)
    source = source.replace("STEPS", "300")
    hidden = np.random.RandomState(1).randn(784)

    def make_data(rng, n, feats):
        X = rng.randn(n, feats)
        return X.astype(dtype), (X @ hidden > 0).astype(dtype)

    history = []

    def record(i, pred, err, w, b):
        history.append((pred, err, w, b))

    np.random.seed(0)
    namespace = {"make_data": make_data, "record": record, "__name__": "tutorial"}
    exec(compile(source, "<theano tutorial>", "exec"), namespace)

    D, predict = namespace["D"], namespace["predict"]
    assert namespace["w"].get_value().dtype == dtype
    for i, (pred, err, w, b) in enumerate(history):
        assert err.dtype == dtype
        assert np.all(np.isfinite(err)), f"step {i}: non-finite cross-entropy {err[~np.isfinite(err)]}"
        assert np.all(np.isfinite(w)) and np.isfinite(b), f"step {i}: non-finite weights"
    first, last = history[0][1].mean(), history[-1][1].mean()
    assert first > 5.0, first          # the start is deep in the saturated region
    assert last < 0.2 * first, (first, last)
    # mean cross-entropy falls over the run (SGD may wobble step to step)
    means = [h[1].mean() for h in history]
    assert all(means[k + 50] < means[k] for k in range(0, len(means) - 50, 50)), means[::50]
    accuracy = np.mean(predict(D[0]) == D[1])
    assert accuracy >= 0.97, accuracy

    # the cross-entropy the program computed equals a stable float64 one
    x, y = D[0].astype(np.float64), D[1].astype(np.float64)
    pred, err, w, b = history[-1]
    w_prev, b_prev = (history[-2][2], history[-2][3])
    z = x @ w_prev.astype(np.float64) + float(b_prev)
    reference = y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    tol = 1e-3 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(err, reference, rtol=tol, atol=tol)
