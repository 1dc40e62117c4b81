"""Type constructors, constants and as_tensor_variable."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.variable import TensorVariable

from ..frontend_helpers import check


@pytest.mark.parametrize("make, shape", [
    (T.scalar, ()), (T.vector, (None,)), (T.row, (1, None)), (T.col, (None, 1)),
    (T.matrix, (None, None)), (T.tensor3, (None,) * 3), (T.tensor4, (None,) * 4),
])
def test_unprefixed_constructors_use_floatx(make, shape, floatx):
    x = make("x")
    assert isinstance(x, TensorVariable) and x.owner is None and x.name == "x"
    assert x.type.shape == shape and x.dtype == "float64"
    floatx("float32")
    assert make().dtype == "float32"
    assert make(dtype="int16").dtype == "int16"


@pytest.mark.parametrize("name, dtype, shape", [
    ("fscalar", "float32", ()), ("dvector", "float64", (None,)), ("imatrix", "int32", (None, None)),
    ("lscalar", "int64", ()), ("btensor3", "int8", (None,) * 3), ("iscalar", "int32", ()),
    ("bscalar", "int8", ()), ("wvector", "int16", (None,)), ("frow", "float32", (1, None)),
    ("dcol", "float64", (None, 1)), ("ltensor4", "int64", (None,) * 4),
])
def test_prefixed_constructors(name, dtype, shape):
    x = getattr(T, name)("v")
    assert (x.dtype, x.type.shape, x.name) == (dtype, shape, "v")


def test_plural_constructors():
    a, b = T.matrices("a", "b")
    c, d = T.fvectors("c, d")
    assert (a.name, b.name, c.name, d.name) == ("a", "b", "c", "d")
    assert c.dtype == "float32" and a.ndim == 2


def test_tensor_with_shape_and_broadcastable():
    t = T.tensor("float32", shape=(None, 3), name="t")
    assert (t.dtype, t.type.shape, t.name) == ("float32", (None, 3), "t")
    b = T.tensor("int32", broadcastable=(True, False))
    assert b.type.shape == (1, None) and b.broadcastable == (True, False)
    assert T.tensor("float64", (False, True)).type.shape == (None, 1)
    assert T.tensor(shape=(2,)).dtype == theon.config.floatX


@pytest.mark.parametrize("bad", ["longdouble", "complex64", "not-a-dtype"])
def test_unsupported_dtype_is_a_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        T.matrix(dtype=bad)
    with pytest.raises(TypeError, match="dtype"):
        T.tensor(bad, shape=(2,))


def test_bad_names_and_shapes():
    with pytest.raises(TypeError, match="name"):
        T.vector(3)
    with pytest.raises(ValueError, match="dims"):
        T.tensor("float64", shape=(-1,))
    with pytest.raises(TypeError, match="shape"):
        T.tensor("float64")


@pytest.mark.parametrize("value, dtype, shape", [
    (1.5, "float64", ()), (3, "int64", ()), (True, "bool", ()),
    (np.arange(3.0), "float64", (3,)), (np.arange(4, dtype=np.int8), "int8", (4,)),
    (np.float32(2), "float32", ()), ([1, 2], "int64", (2,)), ([[1.0], [2.0]], "float64", (2, 1)),
])
def test_constant_dtype_rules(value, dtype, shape):
    c = T.constant(value)
    assert (c.dtype, c.type.shape) == (dtype, shape)
    assert c.owner.name == "constant"
    check([], c, [], np.asarray(value, dtype=dtype))


def test_constant_python_floats_follow_floatx(floatx):
    floatx("float32")
    assert T.constant(0.5).dtype == "float32"
    assert T.constant([0.5, 1]).dtype == "float32"
    assert T.constant(np.float64(0.5)).dtype == "float64"
    assert T.constant(1).dtype == "int64"


def test_constant_options_and_errors():
    c = T.constant(3, name="three", dtype="int8")
    assert (c.name, c.dtype) == ("three", "int8")
    with pytest.raises(OverflowError, match="int8"):
        T.constant(300, dtype="int8")
    with pytest.raises(TypeError, match="not numeric"):
        T.constant("abc")
    assert T.constant(np.zeros(2, np.float16)).dtype == "float16"
    with pytest.raises(TypeError, match="complex64"):
        T.constant(np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="already a graph variable"):
        T.constant(T.scalar())


def test_as_tensor_variable():
    x = T.vector()
    assert T.as_tensor_variable(x) is x
    assert T.as_tensor_variable(2.0).owner.name == "constant"
    with pytest.raises(ValueError, match="2-d"):
        T.as_tensor_variable(x, ndim=2)
    assert T.as_tensor_variable(x, dtype="float32").dtype == "float32"


def test_nnet_is_reachable():
    from theon.tensor import nnet
    assert T.nnet is nnet and nnet.softmax is T.nnet.softmax
