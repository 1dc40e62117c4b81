"""theon.tensor.nnet against NumPy formulas (Theano semantics)."""
import numpy as np
import pytest

import theon.tensor as T
from theon.tensor import nnet

from ..frontend_helpers import check, rand, run
from ..mirror_helpers import np_log_softmax, np_softmax


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis, dtype):
    x = T.matrix(dtype=dtype)
    data = rand((3, 4), dtype) * 100      # large values: exp overflows without the max shift
    tol = 1e-5 if dtype == "float32" else 1e-12
    check([x], nnet.softmax(x, axis=axis), [data], np_softmax(data, axis), rtol=tol, atol=1e-30)
    check([x], nnet.log_softmax(x, axis=axis), [data], np_log_softmax(data, axis), rtol=tol,
          atol=1e-4 if dtype == "float32" else 1e-10)
    out = run([x], nnet.softmax(x, axis=axis), data)
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-5)


def test_softmax_of_vectors_and_ints():
    v = T.vector()
    check([v], nnet.softmax(v), [rand(5)], np_softmax(rand(5)))
    i = T.imatrix()
    di = rand((2, 3), "int32")
    check([i], nnet.softmax(i), [di], np_softmax(di.astype(np.float64)))
    with pytest.raises(ValueError, match="1-d"):
        nnet.softmax(T.scalar())


def test_sigmoid_relu_softplus():
    x = T.fmatrix()
    data = rand((3, 4), "float32") * 20
    check([x], nnet.sigmoid(x), [data], (1 / (1 + np.exp(-data.astype(np.float64)))).astype(np.float32))
    check([x], nnet.relu(x), [data], np.maximum(data, np.float32(0)))
    check([x], nnet.relu(x, alpha=0.1), [data], np.where(data > 0, data, np.float32(0.1) * data))
    check([x], nnet.softplus(x), [data], np.logaddexp(np.float32(0), data))
    assert nnet.relu(T.ivector()).dtype == "int32"


def test_other_activations():
    x = T.vector()
    data = rand(6)
    check([x], nnet.hard_sigmoid(x), [data], np.clip(0.2 * data + 0.5, 0, 1))
    check([x], nnet.elu(x), [data], np.where(data > 0, data, np.expm1(data)))
    check([x], nnet.softsign(x), [data], data / (1 + np.abs(data)))


def test_categorical_crossentropy_with_distributions():
    p, t = T.matrix(), T.matrix()
    dp = np_softmax(rand((4, 3)))
    dt = np.eye(3)[[0, 2, 1, 1]]
    check([p, t], nnet.categorical_crossentropy(p, t), [dp, dt], -np.sum(dt * np.log(dp), axis=1))


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8"])
def test_categorical_crossentropy_with_class_indices(label_dtype):
    p, y = T.fmatrix(), T.vector(dtype=label_dtype)
    dp = np_softmax(rand((4, 3), "float32"))
    dp[0, 1] = 0.0                        # a zero probability of another class is harmless
    dy = np.array([0, 2, 1, 1], label_dtype)
    expected = -np.log(dp[np.arange(4), dy])
    out = nnet.categorical_crossentropy(p, y)
    assert out.dtype == "float32" and out.ndim == 1
    check([p, y], out, [dp, dy], expected)


def test_categorical_crossentropy_errors():
    with pytest.raises(TypeError, match="ints"):
        nnet.categorical_crossentropy(T.matrix(), T.vector())
    with pytest.raises(ValueError, match="ndim"):
        nnet.categorical_crossentropy(T.matrix(), T.tensor3())


def test_binary_crossentropy():
    o, t = T.fvector(), T.fvector()
    do = np.array([0.1, 0.5, 0.9], np.float32)
    dt = np.array([0.0, 1.0, 1.0], np.float32)
    expected = -(dt * np.log(do) + (1 - dt) * np.log(1 - do))
    check([o, t], nnet.binary_crossentropy(o, t), [do, dt], expected)
    check([o], nnet.binary_crossentropy(o, 1.0), [do], -np.log(do))
