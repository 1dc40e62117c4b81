"""Neural-network helpers (``theon.tensor.nnet``), with Theano's semantics.

softmax and log_softmax subtract the max first, so they never overflow.
categorical_crossentropy takes either a distribution of the same shape as
``coding_dist`` or a vector of integer class indices (turned into a one-hot
mask with ``eq(arange, labels)``: the IR has no gather op).
"""
from ..ir.opdef import normalize_axis
from ..ir.types import is_int
from .basic import as_tensor_variable, is_weak
from .elemwise import (abs as abs_, add, as_float, clip, eq, exp, expm1, gt, log, maximum, mul,
                       neg, sub, true_div, where)
from .elemwise import sigmoid, softplus  # noqa: F401  (re-exported)
from .reduce import max as max_, sum as sum_
from .shape_ops import arange, dim, dimshuffle

__all__ = ["sigmoid", "softplus", "relu", "softmax", "log_softmax",
           "categorical_crossentropy", "binary_crossentropy", "hard_sigmoid",
           "ultra_fast_sigmoid", "elu", "softsign"]


def relu(x, alpha=0):
    """``max(x, 0)``; with ``alpha``, ``alpha * x`` below zero (leaky ReLU)."""
    x = as_tensor_variable(x)
    if is_weak(alpha) and alpha == 0:
        return maximum(x, 0)
    return where(gt(x, 0), x, mul(alpha, x))


def _axis(x, axis, fname):
    if x.ndim == 0:
        raise ValueError(f"{fname}: needs at least a 1-d tensor, got {x.type}")
    return normalize_axis(axis, x.ndim, fname)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed as exp(x - max)."""
    x = as_float(x, "softmax")
    axis = _axis(x, axis, "softmax")
    e = exp(sub(x, max_(x, axis, keepdims=True)))
    return true_div(e, sum_(e, axis, keepdims=True))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, computed with the max subtracted."""
    x = as_float(x, "log_softmax")
    axis = _axis(x, axis, "log_softmax")
    shifted = sub(x, max_(x, axis, keepdims=True))
    return sub(shifted, log(sum_(exp(shifted), axis, keepdims=True)))


def categorical_crossentropy(coding_dist, true_dist):
    """``-sum(true_dist * log(coding_dist), axis=-1)``; if ``true_dist`` is a
    vector of int class indices (one dim fewer), ``-log(coding_dist[i, true_dist[i]])``."""
    p = as_float(coding_dist, "categorical_crossentropy")
    t = as_tensor_variable(true_dist)
    if p.ndim == 0:
        raise ValueError(f"categorical_crossentropy: coding_dist must be at least 1-d, got {p.type}")
    if t.ndim == p.ndim:
        return neg(sum_(mul(t, log(p)), p.ndim - 1))
    if t.ndim != p.ndim - 1:
        raise ValueError(f"categorical_crossentropy: true_dist {t.type} must have the ndim of "
                         f"coding_dist {p.type} (a distribution) or one less (class indices)")
    if not is_int(t.dtype):
        raise TypeError(f"categorical_crossentropy: class indices must be ints, got {t.type}")
    classes = arange(dim(p, p.ndim - 1), dtype=t.dtype)
    one_hot = eq(dimshuffle(t, *range(t.ndim), "x"), classes)
    picked = where(one_hot, log(p), 0.0)
    return neg(sum_(picked, p.ndim - 1))


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))``."""
    output = as_float(output, "binary_crossentropy")
    complement = 1 - target if is_weak(target) else sub(1, target)
    return neg(add(mul(target, log(output)), mul(complement, log(sub(1, output)))))


def hard_sigmoid(x):
    """``clip(0.2 * x + 0.5, 0, 1)``."""
    return clip(add(mul(as_float(x, "hard_sigmoid"), 0.2), 0.5), 0, 1)


ultra_fast_sigmoid = sigmoid


def elu(x, alpha=1.0):
    """``x`` above zero, ``alpha * (exp(x) - 1)`` below."""
    x = as_float(x, "elu")
    return where(gt(x, 0), x, mul(alpha, expm1(x)))


def softsign(x):
    """``x / (1 + |x|)``."""
    x = as_float(x, "softsign")
    return true_div(x, add(1, abs_(x)))
