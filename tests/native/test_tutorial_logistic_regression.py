"""The Theano tutorial's logistic regression ("A Real Example: Logistic
Regression"), run as written with ``import theon as theano``: a sigmoid
written by hand, ``p_1 = 1/(1+T.exp(-T.dot(x,w)-b))``, and the cross-entropy
``-y*T.log(p_1) - (1-y)*T.log(1-p_1)``. The initial weights are
``rng.randn(784)``, so the logits start at |z| ~ 30-100, where the graph as
written computes log(0) and 0*inf: it trains only because the stabilize pass
rewrites the forward graph and its gradient into sigmoid/softplus forms.
"""
import numpy as np
import pytest

# The tutorial's program, verbatim except: data made separable (labels from
# a hidden weight vector), fewer steps, the final prints left out, and
# ``theano.grad`` (the tutorial writes ``T.grad``, the same function).
TUTORIAL = '''
import numpy
import theon as theano
import theon.tensor as T
rng = numpy.random

N = 400                                   # training sample size
feats = 784                               # number of input variables

# generate a dataset: D = (input_values, target_class)
D = make_data(rng, N, feats)
training_steps = STEPS

# Declare Theano symbolic variables
x = T.dmatrix("x")
y = T.dvector("y")

# initialize the weight vector w randomly
w = theano.shared(rng.randn(feats), name="w")

# initialize the bias term
b = theano.shared(0., name="b")

# Construct Theano expression graph
p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))   # Probability that target = 1
prediction = p_1 > 0.5                    # The prediction thresholded
xent = -y * T.log(p_1) - (1-y) * T.log(1-p_1) # Cross-entropy loss function
cost = xent.mean() + 0.01 * (w ** 2).sum()# The cost to minimize
gw, gb = theano.grad(cost, [w, b])        # Compute the gradient of the cost

# Compile
train = theano.function(
          inputs=[x,y],
          outputs=[prediction, xent],
          updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
predict = theano.function(inputs=[x], outputs=prediction)

# Train
for i in range(training_steps):
    pred, err = train(D[0], D[1])
    record(i, pred, err, w.get_value(), b.get_value())
'''

FLOAT32 = [('T.dmatrix', 'T.fmatrix'), ('T.dvector', 'T.fvector'),
           ('rng.randn(feats)', 'rng.randn(feats).astype("float32")'),
           ('theano.shared(0.,', 'theano.shared(numpy.float32(0.),')]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tutorial_logistic_regression_trains(dtype):
    source = TUTORIAL.replace("STEPS", "300")
    if dtype == "float32":
        for old, new in FLOAT32:
            assert old in source
            source = source.replace(old, new)
    hidden = np.random.RandomState(1).randn(784)

    def make_data(rng, n, feats):
        X = rng.randn(n, feats)
        return X.astype(dtype), (X @ hidden > 0).astype(dtype)

    history = []

    def record(i, pred, err, w, b):
        history.append((pred, err, w, b))

    np.random.seed(0)
    namespace = {"make_data": make_data, "record": record}
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
