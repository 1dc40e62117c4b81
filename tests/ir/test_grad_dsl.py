"""Gradients of the DSL's composite functions (no rules of their own: they
are built from primitives), checked with verify_grad on the reference
interpreter. verify_grad's variables have unknown dims except those of
size 1, so run-time broadcasting is exercised too."""
import numpy as np
import pytest

import theon.tensor as T
from theon import gradient
from theon.gradient import verify_grad

RNG = np.random.default_rng(3)


def r(*shape):
    return RNG.uniform(-1, 1, shape)


def p(*shape):
    return RNG.uniform(0.2, 0.8, shape)


CASES = [
    ("mean-var-std", lambda x: T.mean(x, axis=0) + T.var(x, axis=1).sum() + T.std(x), [r(3, 4)]),
    ("tensordot", lambda a, b: T.tensordot(a, b, axes=[[1, 2], [0, 1]]), [r(2, 3, 4), r(3, 4, 2)]),
    ("dot-vec", lambda a, b: T.dot(a, b), [r(3), r(3, 2)]),
    ("outer", lambda a, b: T.outer(a, b), [r(3), r(2)]),
    ("stack-concat", lambda a, b: T.stack([a, b * 2], axis=1).sum(axis=0) + T.concatenate([a, b]).sum(),
     [r(3), r(3)]),
    ("clip", lambda x: T.clip(x, -0.5, 0.5), [np.array([[-0.9, -0.2, 0.3], [0.7, 0.1, -0.6]])]),
    ("where-switch", lambda x, y: T.switch(T.gt(x, y), x * y, x - y), [r(2, 3), r(3)]),
    ("abs-sqr", lambda x: abs(x) + T.sqr(x), [np.array([0.5, -0.3, 0.9])]),
    ("logsumexp", lambda x: T.logsumexp(x, axis=1), [r(2, 4)]),
    ("softmax", lambda x: T.nnet.softmax(x), [r(3, 4)]),
    ("log_softmax", lambda x: T.nnet.log_softmax(x, axis=0), [r(3, 4)]),
    ("sigmoid-softplus", lambda x: T.nnet.sigmoid(x) * T.nnet.softplus(x), [r(2, 3)]),
    ("binary_crossentropy", lambda o, t: T.nnet.binary_crossentropy(o, t), [p(2, 3), p(2, 3)]),
    ("categorical_crossentropy", lambda q, t: T.nnet.categorical_crossentropy(T.nnet.softmax(q), t),
     [r(3, 4), p(3, 4)]),
    ("elu-leaky-relu", lambda x: T.nnet.elu(x) + T.nnet.relu(x, alpha=0.1), [np.array([0.5, -0.3, 0.9, -1.2])]),
    ("flatten-reshape", lambda x: T.flatten(x, 2).reshape((4, 3)) * T.arange(3.0), [r(2, 2, 3)]),
    ("transpose-dimshuffle", lambda x: x.T.dimshuffle(0, "x", 1) * x.dimshuffle(1, 0, "x"), [r(2, 3)]),
    ("indexing", lambda x: x[::-1, 1:] * x[0, 1:] + x[:, 0:1], [r(3, 3)]),
    ("set-inc-subtensor", lambda x, v: T.inc_subtensor(T.set_subtensor(x[1:], v)[:, 0], v[0, 0]),
     [r(3, 2), r(2, 2)]),
    ("prod-max-min", lambda x: T.prod(x, axis=1) + T.max(x, axis=0).sum() * T.min(x),
     [np.array([[0.3, -0.8, 0.5], [0.9, 0.2, -0.4]])]),
    ("pow-both", lambda x, y: x ** y + 2.0 ** x, [p(3), r(3)]),
    ("broadcast-chain", lambda a, b, c: T.tanh(a * b + c) / (1.5 + T.cos(a)), [r(2, 1, 3), r(4, 1), r(3)]),
    ("alloc-fill", lambda x: T.alloc(x, 2, 3) * T.ones_like(x) + T.zeros_like(x), [r(3)]),
    ("mod-floordiv", lambda x: x % 0.7 + (x // 0.7) * x, [np.array([0.2, 1.1, -0.5])]),
]


@pytest.fixture(autouse=True)
def reference_compile(monkeypatch):
    monkeypatch.setattr(gradient, "_compile", gradient._compile_reference)


@pytest.mark.parametrize("fn, pt", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_dsl_composite_gradients(fn, pt):
    verify_grad(fn, pt, rng=np.random.default_rng(0), abs_tol=1e-7, rel_tol=1e-7)


def test_symbolic_slice_bounds():
    """x[i*b:(i+1)*b] (a minibatch): index operands are ints, the slice gets the gradient."""
    x, i = T.dmatrix("x"), T.lscalar("i")
    cost = (x[i * 2:(i + 1) * 2] ** 2).sum()
    g = gradient.grad(cost, x)
    from ..grad_helpers import run
    v = r(6, 2)
    expected = np.zeros_like(v)
    expected[2:4] = 2 * v[2:4]
    np.testing.assert_allclose(run([x, i], [g], [v, 1])[0], expected)
