"""Numerical stability of the FAST_RUN pipeline, in float64.

Each case is computed from the optimized IR with the NumPy reference
interpreter and, where the CPU backend lowers every op, through
``theon.function`` (native code); both must be finite and accurate.
"""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.cpu.lower.lowering import LOWERINGS
from theon.runtime.pipeline import PIPELINES, available
from theon.tensor import nnet

from ..mirror_helpers import np_softmax
from ..pass_helpers import evaluate_outputs, optimized

FAST_RUN = ",".join(available(PIPELINES["fast_run"]))
TOL = dict(rtol=1e-12, atol=1e-300)


def compute(inputs, outputs, *values):
    """Outputs after FAST_RUN: by the interpreter, checked against native code."""
    func = optimized(inputs, outputs, FAST_RUN)
    ref = evaluate_outputs(func, values)
    if all(op.name in LOWERINGS for op in func.body.ops if op.name != "return"):
        native = theon.function(inputs, outputs, mode="FAST_RUN")(*values)
        for a, b in zip(ref, native):
            np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-300)
    for r in ref:
        assert np.all(np.isfinite(r)), r
    return ref


x = T.vector("x")
m = T.matrix("m")


def test_log_one_plus_tiny():
    (out,) = compute([x], [T.log(1 + x)], np.array([1e-17, 0.0, -1e-300]))
    np.testing.assert_allclose(out, [1e-17, 0.0, -1e-300], **TOL)


def test_exp_minus_one_of_tiny():
    (out,) = compute([x], [T.exp(x) - 1], np.array([1e-17, -1e-20]))
    np.testing.assert_allclose(out, [1e-17, -1e-20], **TOL)


def test_log_sigmoid_far_left():
    (out,) = compute([x], [T.log(nnet.sigmoid(x))], np.array([-800.0, -40.0, 0.0]))
    np.testing.assert_allclose(out, [-800.0, -40.0 - np.log1p(np.exp(-40.0)), -np.log(2.0)], **TOL)


def test_log_one_minus_sigmoid_far_right():
    (out,) = compute([x], [T.log(1 - nnet.sigmoid(x))], np.array([800.0, 40.0]))
    np.testing.assert_allclose(out, [-800.0, -40.0 - np.log1p(np.exp(-40.0))], **TOL)


def test_log_softmax_of_large_logits():
    (out,) = compute([m], [T.log(nnet.softmax(m))], np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(out, [[0.0, -1000.0, -2000.0]], **TOL)


@pytest.mark.parametrize("lse", [lambda v: T.logsumexp(v, axis=1), lambda v: T.log(T.exp(v).sum(axis=1))],
                         ids=["logsumexp", "log-sum-exp-written-out"])
def test_logsumexp_of_large_values(lse):
    (out,) = compute([m], [lse(m)], np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1e4]]))
    np.testing.assert_allclose(out, [1000.0 + np.log(2.0), -1000.0 + np.log(2.0)], **TOL)


def test_logsumexp_gradient_is_the_softmax():
    cost = T.logsumexp(m, axis=1).sum()
    (g,) = compute([m], [theon.grad(cost, m)], np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(g, [[0.5, 0.5, 0.0]], **TOL)


LOGITS = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e-3, 800.0], [1.0, 2.0, 3.0]])


def test_cross_entropy_and_its_gradient_at_large_logits_one_hot():
    t = T.matrix("t")
    target = np.eye(3)[[2, 0, 1]]
    cost = nnet.categorical_crossentropy(nnet.softmax(m), t).sum()
    value, grad = compute([m, t], [cost, theon.grad(cost, m)], LOGITS, target)
    log_p = LOGITS - LOGITS.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(value, -(target * log_p).sum(), **TOL)
    np.testing.assert_allclose(grad, np_softmax(LOGITS, axis=1) - target, rtol=1e-12, atol=1e-15)


def test_cross_entropy_gradient_at_large_logits_class_indices():
    y = T.lvector("y")
    cost = nnet.categorical_crossentropy(nnet.softmax(m), y).mean()
    labels = np.array([2, 0, 1])
    value, grad = compute([m, y], [cost, theon.grad(cost, m)], LOGITS, labels)
    np.testing.assert_allclose(value, (2000.0 + 800.0 + (3.0 - 2.0 + np.log(np.exp([-2.0, -1.0, 0.0]).sum()))) / 3,
                               **TOL)
    np.testing.assert_allclose(grad, (np_softmax(LOGITS, axis=1) - np.eye(3)[labels]) / 3, rtol=1e-12, atol=1e-15)


def test_binary_cross_entropy_gradient_at_large_logits():
    t = T.vector("t")
    cost = nnet.binary_crossentropy(nnet.sigmoid(x), t).sum()
    z = np.array([-800.0, 800.0, 1.0])
    target = np.array([1.0, 0.0, 0.5])
    value, grad = compute([x, t], [cost, theon.grad(cost, x)], z, target)
    np.testing.assert_allclose(value, 800.0 + 800.0 + (np.log1p(np.exp(-1.0)) + 0.5), **TOL)
    sig = np.array([0.0, 1.0, 1 / (1 + np.exp(-1.0))])
    np.testing.assert_allclose(grad, sig - target, rtol=1e-12, atol=1e-15)


def test_log_sigmoid_gradient_at_large_logits():
    (g,) = compute([x], [theon.grad(T.log(nnet.sigmoid(x)).sum(), x)], np.array([-800.0, 800.0]))
    np.testing.assert_allclose(g, [1.0, 0.0], **TOL)
