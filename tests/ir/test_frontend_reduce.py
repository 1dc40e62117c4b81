"""Reductions against NumPy: axis None/int/negative/tuple, keepdims, dtypes
(int sums accumulate in int64), None dims, empty and 0-d tensors."""
import numpy as np
import pytest

import theon.tensor as T

from ..frontend_helpers import check, rand, run
from ..mirror_helpers import np_logsumexp

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (), (0, 1, 2)]


def _x(dtype):
    return T.tensor(dtype, shape=(None, 3, None))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_reductions(name, axis, keepdims, dtype):
    x = _x(dtype)
    data = rand((2, 3, 4), dtype, low=0.5, high=1.5)
    expected = getattr(np, name)(data, axis=axis, keepdims=keepdims)
    tol = 1e-4 if dtype == "float32" else 1e-10
    check([x], getattr(T, name)(x, axis=axis, keepdims=keepdims), [data], expected, rtol=tol)
    check([x], getattr(x, name)(axis=axis, keepdims=keepdims), [data], expected, rtol=tol)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min"])
@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64"])
def test_int_and_bool_reductions_follow_numpy_dtypes(name, dtype):
    x = T.matrix(dtype=dtype)
    data = rand((3, 4), dtype, low=-2, high=3)
    for axis in (None, 1):
        check([x], getattr(T, name)(x, axis=axis), [data], getattr(np, name)(data, axis=axis))


def test_uint8_sum_accumulates_in_uint64():
    x = T.vector(dtype="uint8")
    data = np.full(300, 200, np.uint8)
    out = run([x], T.sum(x), data)
    assert out.dtype == np.uint64 == data.sum().dtype and out == 60000


def test_sum_dtype_and_acc_dtype():
    x = T.fvector()
    data = rand(5, "float32")
    check([x], x.sum(dtype="float64"), [data], data.sum(dtype=np.float64))
    out = T.sum(x, acc_dtype="float64")
    assert out.dtype == "float32"
    check([x], out, [data], data.astype(np.float64).sum().astype(np.float32))


@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all(name):
    x = T.imatrix()
    data = np.array([[0, 1, 0], [0, 0, 0]], np.int32)
    for axis in (None, 0, -1):
        check([x], getattr(T, name)(x, axis=axis), [data], getattr(np, name)(data, axis=axis))
        check([x], getattr(x, name)(axis), [data], getattr(np, name)(data, axis=axis))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, axis, keepdims):
    x = _x("float64")
    data = rand((2, 3, 4))
    expected = getattr(np, name)(data, axis=axis, keepdims=keepdims)
    check([x], getattr(T, name)(x, axis=axis, keepdims=keepdims), [data], expected)
    check([x], getattr(x, name)(axis=axis, keepdims=keepdims), [data], expected)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [(0, 2), (1, 2), (0, 1), (2, 0), (0, 1, 2), [1]])
def test_argmax_over_several_axes_indexes_them_flattened(axes, keepdims):
    x = _x("float64")
    data = rand((2, 3, 4), seed=3)
    srt = sorted(a % 3 for a in axes)
    kept = [i for i in range(3) if i not in srt]
    moved = data.transpose(kept + srt).reshape([data.shape[i] for i in kept] + [-1])
    expected = np.argmax(moved, axis=-1)
    if keepdims:
        expected = np.expand_dims(expected, tuple(srt)) if len(srt) < 3 else expected.reshape((1,) * 3)
    check([x], T.argmax(x, axis=axes, keepdims=keepdims), [data], expected)


def test_argmax_ties_and_nans_follow_numpy():
    x = T.vector()
    for data in (np.array([1.0, 3.0, 3.0]), np.array([1.0, np.nan, 5.0])):
        check([x], T.argmax(x), [data], np.argmax(data))
        check([x], T.argmin(x), [data], np.argmin(data))


def test_reductions_of_empty_tensors():
    x = T.matrix()
    data = np.zeros((0, 3))
    check([x], x.sum(axis=0), [data], data.sum(axis=0))
    check([x], x.prod(), [data], data.prod())
    check([x], x.mean(axis=0), [data], data.mean(axis=0))
    check([x], x.max(axis=1), [data], data.max(axis=1))
    with pytest.raises(ValueError, match="empty"):
        T.tensor("float64", shape=(0, 3)).max(axis=0)


def test_reductions_of_zero_d():
    s = T.scalar()
    data = np.array(2.5)
    for name in ("sum", "max", "mean", "var", "prod"):
        check([s], getattr(T, name)(s), [data], getattr(np, name)(data))
    check([s], T.argmax(s), [data], np.argmax(data))
    with pytest.raises(ValueError, match="0-d"):
        T.sum(s, axis=0)


def test_static_result_shapes():
    x = T.tensor("float64", shape=(2, None, 4))
    assert x.sum(axis=1).type.shape == (2, 4)
    assert x.mean(axis=(0, -1), keepdims=True).type.shape == (1, None, 1)
    assert x.argmax(axis=-1).type.shape == (2, None)
    assert T.var(x, axis=0).type.shape == (None, 4)


def test_mean_count_static_and_symbolic_shapes():
    x = T.tensor("float64", shape=(2, 3))
    mean = T.mean(x)
    names = set()
    stack = [mean]
    while stack:
        v = stack.pop()
        if v.owner is not None:
            names.add(v.owner.name)
            stack.extend(v.owner.operands)
    assert "shape" not in names        # a static count needs no shape op
    y = T.matrix()
    data = rand((5, 7))
    check([y], T.mean(y, axis=1), [data], data.mean(axis=1))


def test_var_std_ddof():
    x = T.matrix()
    data = rand((4, 5))
    check([x], T.var(x, axis=0, ddof=1), [data], np.var(data, axis=0, ddof=1))
    check([x], T.std(x, ddof=1), [data], np.std(data, ddof=1))
    # Theano's corrected=True: the same variance by the corrected two-pass method (not ddof)
    check([x], T.var(x, corrected=True), [data], np.var(data))
    check([x], T.var(x, axis=1, ddof=1, corrected=True), [data], np.var(data, axis=1, ddof=1))


def test_bad_axes():
    x = T.matrix()
    with pytest.raises(ValueError, match="out of range"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="repeated"):
        x.sum(axis=(0, -2))
    with pytest.raises(TypeError, match="axis"):
        x.max(axis=1.5)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (-1, True), ((0, 1), False)])
def test_logsumexp(axis, keepdims):
    x = T.matrix()
    data = rand((3, 4)) * 300          # exp overflows without the max shift
    out = run([x], T.logsumexp(x, axis=axis, keepdims=keepdims), data)
    expected = np_logsumexp(data, axis, keepdims)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert out.shape == np.shape(expected)


def test_logsumexp_of_minus_inf_rows_and_ints():
    x = T.matrix()
    data = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    check([x], T.logsumexp(x, axis=1), [data], np.array([-np.inf, 0.0]))
    i = T.ivector()
    di = np.array([1, 2, 3], np.int32)
    check([i], T.logsumexp(i), [di], np.log(np.exp(di.astype(np.float64)).sum()))
