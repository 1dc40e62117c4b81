"""theon.shared: values, types, get/set/borrow, use by several functions."""
import numpy as np
import pytest

import theon


# --- creation and types ------------------------------------------------------------
@pytest.mark.parametrize("value, dtype, ndim", [
    (1.0, "float64", 0),
    (3, "int64", 0),
    (True, "bool", 0),
    (np.zeros(3, np.float32), "float32", 1),
    (np.zeros((2, 3), np.int32), "int32", 2),
    (np.float32(2.5), "float32", 0),
    ([1.0, 2.0], "float64", 1),
])
def test_shared_type_follows_value(value, dtype, ndim):
    s = theon.shared(value)
    assert s.dtype == dtype
    assert s.ndim == ndim
    assert s.type.shape == (None,) * ndim      # the shape may change with set_value
    assert s.is_shared


def test_python_float_becomes_floatx(floatx):
    floatx("float32")
    assert theon.shared(1.0).dtype == "float32"


def test_seed_shared_scalar_value():
    w = theon.shared(1.0)
    v = w.get_value()
    assert isinstance(v, np.ndarray) and v.shape == () and v == 1.0


@pytest.mark.parametrize("bad", ["abc", None, object(), np.zeros(2, np.complex128), np.zeros(2, np.longdouble)])
def test_shared_rejects_non_numeric(bad):
    with pytest.raises(TypeError):
        theon.shared(bad)


def test_shared_name():
    w = theon.shared(np.zeros(3), name="w")
    assert w.name == "w"
    with pytest.raises(TypeError, match="name"):
        theon.shared(1.0, name=3)


# --- get/set/borrow ---------------------------------------------------------------------
def test_get_value_is_a_copy_unless_borrowed():
    w = theon.shared(np.arange(3.0), name="w")
    v = w.get_value()
    v[0] = 100.0
    assert w.get_value()[0] == 0.0
    b = w.get_value(borrow=True)
    b[0] = 7.0
    assert w.get_value()[0] == 7.0


def test_shared_copies_its_initial_value_unless_borrowed():
    a = np.arange(3.0)
    w = theon.shared(a)
    a[0] = 42.0
    assert w.get_value()[0] == 0.0
    c = np.arange(3.0)
    wb = theon.shared(c, borrow=True)
    assert wb.get_value(borrow=True) is c


def test_set_value_copies_unless_borrowed():
    w = theon.shared(np.zeros(3), name="w")
    v = np.ones(3)
    w.set_value(v)
    v[0] = 5.0
    assert w.get_value()[0] == 1.0
    w.set_value(v, borrow=True)
    assert w.get_value(borrow=True) is v


def test_storage_is_c_contiguous_aligned():
    w = theon.shared(np.arange(12.0).reshape(3, 4).T)
    s = w.get_value(borrow=True)
    assert s.flags.c_contiguous and s.flags.aligned and s.flags.writeable
    w.set_value(np.arange(6.0)[::2].reshape(3, 1) * np.ones((1, 2)))
    assert w.get_value(borrow=True).flags.c_contiguous


def test_set_value_may_change_shape():
    w = theon.shared(np.zeros(3), name="w")
    w.set_value(np.ones(5))
    assert w.get_value().shape == (5,)


def test_set_value_safe_cast_of_int_array():
    w = theon.shared(np.zeros(3), name="w")
    w.set_value(np.array([1, 2, 3], np.int32))
    v = w.get_value()
    assert v.dtype == np.float64 and v.tolist() == [1.0, 2.0, 3.0]


def test_set_value_rejects_lossy_dtype_naming_the_variable():
    w = theon.shared(np.zeros(3, np.int32), name="weights")
    with pytest.raises(TypeError, match="weights") as e:
        w.set_value(np.ones(3, np.float64))
    assert "float64" in str(e.value) and "int32" in str(e.value)
    assert w.get_value().tolist() == [0, 0, 0]


def test_set_value_rejects_wrong_ndim_naming_the_variable():
    w = theon.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match=r"'w'.*1-d.*2-d"):
        w.set_value(np.zeros((2, 2)))
    assert w.get_value().shape == (3,)


@pytest.mark.parametrize("bad", ["x", None, object()])
def test_set_value_rejects_non_numeric(bad):
    w = theon.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="'w'"):
        w.set_value(bad)


def test_strict_shared_requires_exact_dtype():
    w = theon.shared(np.zeros(2), name="w", strict=True)
    with pytest.raises(TypeError, match="strict"):
        w.set_value(np.zeros(2, np.float32))
    w.set_value(np.ones(2))
    assert w.get_value().tolist() == [1.0, 1.0]


def test_allow_downcast_shared_casts():
    w = theon.shared(np.zeros(2, np.float32), name="w", allow_downcast=True)
    w.set_value(np.array([0.1, 0.2]))
    assert w.get_value().dtype == np.float32


# --- with compiled functions ---------------------------------------------------------------


