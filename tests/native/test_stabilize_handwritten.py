"""Hand-written numerically fragile forms, compiled with FAST_RUN: every
value and gradient is finite and equals a float64 NumPy reference computed
the stable way, for logits of magnitude up to 1e3, in float32 and float64.

Each form is written the way people write it (``1/(1+T.exp(-z))``, the
tutorial's cross-entropy, ``log(sum(exp(x)))``...); without the stabilize
rules they overflow to inf/NaN at |z| = 1e3 (or lose every digit, for the
log1p/expm1 cases) -- so each case can fail.
"""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nnet

Z = np.array([-1e3, -30.0, 0.0, 30.0, 1e3])
Y = np.array([1.0, 0.0, 1.0, 0.0, 0.5])


# --- float64 references, computed stably ---------------------------------------------
def _sigmoid(z, y=None):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z, y=None):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _rows(z):
    """One row of logits per z: [z, z/2, 0, -z]."""
    return np.stack([z, z / 2, 0 * z, -z], axis=1)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp(x):
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


ONEHOT = np.eye(4)[[0, 3, 1, 2, 0]]

# name: (build(z, y) -> elementwise/row value, reference value, reference d sum(value)/dz,
#        input transform of Z, whether inputs are rows)
FORMS = {
    "sigmoid-1/(1+exp(-z))": (lambda z, y: 1 / (1 + T.exp(-z)),
                              _sigmoid, lambda z, y: _sigmoid(z) * _sigmoid(-z)),
    "sigmoid-exp(z)/(1+exp(z))": (lambda z, y: T.exp(z) / (1 + T.exp(z)),
                                  _sigmoid, lambda z, y: _sigmoid(z) * _sigmoid(-z)),
    "log(sigmoid(z))": (lambda z, y: T.log(nnet.sigmoid(z)),
                        lambda z, y: -_softplus(-z), lambda z, y: _sigmoid(-z)),
    "log(1/(1+exp(-z)))": (lambda z, y: T.log(1 / (1 + T.exp(-z))),
                           lambda z, y: -_softplus(-z), lambda z, y: _sigmoid(-z)),
    "log(1-sigmoid(z))": (lambda z, y: T.log(1 - nnet.sigmoid(z)),
                          lambda z, y: -_softplus(z), lambda z, y: -_sigmoid(z)),
    "log(1-1/(1+exp(-z)))": (lambda z, y: T.log(1 - 1 / (1 + T.exp(-z))),
                             lambda z, y: -_softplus(z), lambda z, y: -_sigmoid(z)),
    "binary_crossentropy(sigmoid(z),y)": (
        lambda z, y: nnet.binary_crossentropy(nnet.sigmoid(z), y),
        lambda z, y: y * _softplus(-z) + (1 - y) * _softplus(z), lambda z, y: _sigmoid(z) - y),
    "binary_crossentropy(1/(1+exp(-z)),y)": (
        lambda z, y: nnet.binary_crossentropy(1 / (1 + T.exp(-z)), y),
        lambda z, y: y * _softplus(-z) + (1 - y) * _softplus(z), lambda z, y: _sigmoid(z) - y),
    "-y*log(p)-(1-y)*log(1-p),p=sigmoid": (
        lambda z, y: -y * T.log(nnet.sigmoid(z)) - (1 - y) * T.log(1 - nnet.sigmoid(z)),
        lambda z, y: y * _softplus(-z) + (1 - y) * _softplus(z), lambda z, y: _sigmoid(z) - y),
    "-y*log(p)-(1-y)*log(1-p),p=1/(1+exp(-z))": (
        lambda z, y: (lambda p: -y * T.log(p) - (1 - y) * T.log(1 - p))(1 / (1 + T.exp(-z))),
        lambda z, y: y * _softplus(-z) + (1 - y) * _softplus(z), lambda z, y: _sigmoid(z) - y),
    "log(1+exp(z))": (lambda z, y: T.log(1 + T.exp(z)), _softplus, lambda z, y: _sigmoid(z)),
    "log(exp(z)+exp(-z/2))": (lambda z, y: T.log(T.exp(z) + T.exp(-z / 2)),
                              lambda z, y: np.logaddexp(z, -z / 2),
                              lambda z, y: _sigmoid(1.5 * z) - 0.5 * _sigmoid(-1.5 * z)),
    "log(sum(exp(x)))": (lambda x, y: T.log(T.sum(T.exp(x), axis=1)),
                         lambda x, y: _logsumexp(x), lambda x, y: _softmax(x), _rows, True),
    "exp(x)/sum(exp(x))": (lambda x, y: (T.exp(x) / T.sum(T.exp(x), axis=1, keepdims=True))[:, 0],
                           lambda x, y: _softmax(x)[:, 0],
                           lambda x, y: _softmax(x)[:, :1] * ((np.arange(4) == 0) - _softmax(x)),
                           _rows, True),
    "exp(x)/sum(exp(x))[:,None]": (lambda x, y: (T.exp(x) / T.exp(x).sum(axis=1).dimshuffle(0, "x"))[:, 0],
                                   lambda x, y: _softmax(x)[:, 0],
                                   lambda x, y: _softmax(x)[:, :1] * ((np.arange(4) == 0) - _softmax(x)),
                                   _rows, True),
    "-sum(y*log(softmax(x)))": (lambda x, t: -T.sum(t * T.log(nnet.softmax(x)), axis=1),
                                lambda x, t: -(t * (x - _logsumexp(x)[:, None])).sum(axis=1),
                                lambda x, t: _softmax(x) - t, _rows, True),
    "-sum(y*log(exp(x)/sum(exp(x))))": (
        lambda x, t: -T.sum(t * T.log(T.exp(x) / T.sum(T.exp(x), axis=1, keepdims=True)), axis=1),
        lambda x, t: -(t * (x - _logsumexp(x)[:, None])).sum(axis=1),
        lambda x, t: _softmax(x) - t, _rows, True),
    # elementary forms: inputs scaled to where the naive form loses everything
    "log(1+x)": (lambda x, y: T.log(1 + x), lambda x, y: np.log1p(x), lambda x, y: 1 / (1 + x),
                 lambda z: z * 1e-20, False),
    "exp(x)-1": (lambda x, y: T.exp(x) - 1, lambda x, y: np.expm1(x), lambda x, y: np.exp(x),
                 lambda z: z * 1e-20, False),
    "sqrt(x*x)": (lambda x, y: T.sqrt(x * x), lambda x, y: np.abs(x), lambda x, y: np.sign(x),
                  lambda z: z * 1e35 + 1, False),
}


def _inputs(name, dtype):
    form = FORMS[name]
    transform = form[3] if len(form) > 3 else (lambda z: z)
    rows = len(form) > 4 and form[4]
    z = np.asarray(transform(Z)).astype(dtype)
    if name == "sqrt(x*x)" and dtype == "float64":
        z = (Z * 1e305 + 1).astype(dtype)
    y = (ONEHOT if rows else Y).astype(dtype)
    return z, y, rows


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(FORMS))
def test_value_and_gradient_finite_and_accurate(name, dtype):
    build, ref_value, ref_grad = FORMS[name][:3]
    z_val, y_val, rows = _inputs(name, dtype)
    z = T.matrix("z", dtype=dtype) if rows else T.vector("z", dtype=dtype)
    y = T.matrix("y", dtype=dtype) if rows else T.vector("y", dtype=dtype)
    out = build(z, y)
    assert out.dtype == dtype
    grad = theon.grad(out.sum(), z)
    f = theon.function([z, y], [out, grad], mode="FAST_RUN", on_unused_input="ignore")
    value, g = f(z_val, y_val)
    assert value.dtype == dtype and g.dtype == dtype
    assert np.all(np.isfinite(value)), value
    assert np.all(np.isfinite(g)), g
    z64, y64 = z_val.astype(np.float64), y_val.astype(np.float64)
    # Row forms (logsumexp, softmax) round like any max-shifted logsumexp:
    # absolutely, to a few ulps of the row's largest logit.
    scale = np.abs(z64).max(axis=1) if rows else np.zeros(len(z64))
    _assert_close(value, ref_value(z64, y64), dtype, scale)
    _assert_close(g, ref_grad(z64, y64), dtype, scale)


def _assert_close(actual, desired, dtype, scale):
    eps = np.finfo(dtype).eps
    rtol, atol = (4e-6, 1e-37) if dtype == "float32" else (4e-12, 1e-300)
    scale = scale.reshape((-1,) + (1,) * (np.ndim(desired) - 1))
    bound = rtol * np.abs(desired) + atol + 8 * eps * scale
    bad = ~(np.abs(actual.astype(np.float64) - desired) <= bound)
    assert not bad.any(), f"actual {actual[bad]} desired {desired[bad]} at {np.argwhere(bad).tolist()}"


SIGMOID_FORMS = ["sigmoid-1/(1+exp(-z))", "sigmoid-exp(z)/(1+exp(z))"]


@pytest.mark.parametrize("name", SIGMOID_FORMS)
def test_handwritten_sigmoid_is_the_sigmoid_op(name):
    """The rewrite is an IR rewrite: after FAST_RUN the graph computes a
    ``sigmoid`` op and no exp."""
    z = T.vector("z")
    f = theon.function([z], FORMS[name][0](z, None), mode="FAST_RUN")
    text = theon.printing.dump(f, "optimized")
    assert "sigmoid(" in text and "exp(" not in text, text
