"""One expression, two backends: tests write ``lambda m, a: ...`` once and
run it with ``m = TT`` (the theon graph, on symbolic inputs ``a``) and with
``m = NP`` (a NumPy reference, on arrays ``a``); and the NumPy references
(softmax, logsumexp, erf, set/inc_subtensor, ...) that tests share."""
import math
from types import SimpleNamespace

import numpy as np

import theon.tensor as T
import theon.tensor.nnet as NN


def np_erf(x):
    out = np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, dtype=np.float64))
    return out.astype(np.asarray(x).dtype)


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def np_cce(p, t):
    if t.ndim == p.ndim:
        return -np.sum(t * np.log(p), axis=-1)
    return -np.log(np.take_along_axis(p, t[..., None], axis=-1)[..., 0])


def np_flatten(x, ndim=1):
    lead = x.shape[:ndim - 1]
    return x.reshape(lead + (int(np.prod(x.shape[ndim - 1:], dtype=np.int64)),))


def np_dimshuffle(x, *pattern):
    kept = [p for p in pattern if p != "x"]
    dropped = [d for d in range(x.ndim) if d not in kept]
    x = np.squeeze(x, axis=tuple(dropped)) if dropped else x
    order = sorted(kept)
    x = np.transpose(x, [order.index(p) for p in kept])
    for i, p in enumerate(pattern):
        if p == "x":
            x = np.expand_dims(x, i)
    return x


def np_set(x, idx, v):
    out = x.copy()
    out[idx] = v
    return out


def np_inc(x, idx, v):
    out = x.copy()
    out[idx] += v
    return out


def f32_for_small_ints(ufunc):
    """NumPy computes float math on bool/int8/int16/uint8 in float16; theon
    (documented) in float32: the mirror casts such inputs to float32 first."""
    def apply(x):
        x = np.asarray(x)
        if x.dtype.kind in "biu" and x.dtype.itemsize <= 2:
            x = x.astype(np.float32)
        return ufunc(x)
    return apply


_FLOAT_MATH = {name: f32_for_small_ints(getattr(np, name)) for name in
               ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "arctan"]}

def int_identity(ufunc):
    """floor/ceil as NumPy >= 2.1 (and theon): ints and bools come back as
    they are (older NumPy returned floats)."""
    def apply(x):
        x = np.asarray(x)
        return x.copy() if x.dtype.kind in "biu" else ufunc(x)
    return apply


NP = SimpleNamespace(
    **_FLOAT_MATH, erf=f32_for_small_ints(np_erf), abs=np.abs, sign=np.sign,
    floor=int_identity(np.floor), ceil=int_identity(np.ceil), round=np.round,
    sigmoid=lambda x: 1 / (1 + np.exp(-x)), softplus=lambda x: np.logaddexp(0, x),
    relu=lambda x: np.maximum(x, 0),
    maximum=np.maximum, minimum=np.minimum, clip=np.clip, where=np.where, switch=np.where,
    cast=lambda x, dt: np.asarray(x).astype(dt),
    eq=np.equal, neq=np.not_equal, lt=np.less, le=np.less_equal, gt=np.greater, ge=np.greater_equal,
    and_=np.bitwise_and, or_=np.bitwise_or, xor=np.bitwise_xor, not_=np.logical_not,
    add=np.add, sub=np.subtract, mul=np.multiply, true_div=np.true_divide,
    floor_div=np.floor_divide, mod=np.remainder, pow=np.power,
    sum=np.sum, mean=np.mean, max=np.max, min=np.min, prod=np.prod, argmax=np.argmax,
    argmin=np.argmin, var=np.var, std=np.std, logsumexp=np_logsumexp,
    dot=np.dot, matmul=np.matmul, tensordot=np.tensordot, outer=np.outer,
    transpose=np.transpose, reshape=np.reshape, flatten=np_flatten, dimshuffle=np_dimshuffle,
    concatenate=np.concatenate, stack=lambda xs, axis=0: np.stack(xs, axis=axis),
    zeros_like=np.zeros_like, ones_like=np.ones_like,
    zeros=lambda shape, dtype: np.zeros(shape, dtype), ones=lambda shape, dtype: np.ones(shape, dtype),
    alloc=lambda v, *shape: np.array(np.broadcast_to(v, tuple(int(s) for s in shape))),
    arange=np.arange,
    softmax=np_softmax, log_softmax=np_log_softmax, categorical_crossentropy=np_cce,
    binary_crossentropy=lambda o, t: -(t * np.log(o) + (1 - t) * np.log(1 - o)),
    set_subtensor=np_set, inc_subtensor=np_inc,
    nnet_sigmoid=lambda x: 1 / (1 + np.exp(-x)), nnet_softplus=lambda x: np.logaddexp(0, x),
    shape=np.shape, is_np=True,
)

TT = SimpleNamespace(
    exp=T.exp, log=T.log, log1p=T.log1p, expm1=T.expm1, sqrt=T.sqrt, sin=T.sin, cos=T.cos,
    tan=T.tan, tanh=T.tanh, arctan=T.arctan, erf=T.erf, abs=T.abs, sign=T.sign,
    floor=T.floor, ceil=T.ceil, round=T.round, sigmoid=T.sigmoid, softplus=T.softplus,
    relu=NN.relu, maximum=T.maximum, minimum=T.minimum, clip=T.clip, where=T.where,
    switch=T.switch, cast=T.cast,
    eq=T.eq, neq=T.neq, lt=T.lt, le=T.le, gt=T.gt, ge=T.ge,
    and_=T.and_, or_=T.or_, xor=T.xor, not_=T.not_,
    add=T.add, sub=T.sub, mul=T.mul, true_div=T.true_div, floor_div=T.floor_div, mod=T.mod,
    pow=T.pow,
    sum=T.sum, mean=T.mean, max=T.max, min=T.min, prod=T.prod, argmax=T.argmax, argmin=T.argmin,
    var=T.var, std=T.std, logsumexp=T.logsumexp,
    dot=T.dot, matmul=T.matmul, tensordot=T.tensordot, outer=T.outer,
    transpose=T.transpose, reshape=T.reshape, flatten=T.flatten, dimshuffle=T.dimshuffle,
    concatenate=T.concatenate, stack=lambda xs, axis=0: T.stack(xs, axis=axis),
    zeros_like=T.zeros_like, ones_like=T.ones_like, zeros=T.zeros, ones=T.ones, alloc=T.alloc,
    arange=T.arange,
    softmax=NN.softmax, log_softmax=NN.log_softmax,
    categorical_crossentropy=NN.categorical_crossentropy,
    binary_crossentropy=NN.binary_crossentropy,
    set_subtensor=lambda x, idx, v: T.set_subtensor(x[idx], v),
    inc_subtensor=lambda x, idx, v: T.inc_subtensor(x[idx], v),
    nnet_sigmoid=NN.sigmoid, nnet_softplus=NN.softplus,
    shape=lambda x: x.shape, is_np=False,
)
