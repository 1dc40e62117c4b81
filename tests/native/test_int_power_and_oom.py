"""Integer ** negative integer raises NumPy's ValueError (native code,
error code INT_NEGATIVE_POWER, and the reference); an oversized
allocation's MemoryError states the real byte count."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.ir.builder import make_op

MESSAGE = "Integers to negative integer powers are not allowed"


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_int_to_a_negative_int_power_raises_like_numpy(mode, dtype):
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = theon.function([x, y], (x ** y) * 2 + x, mode=mode)       # pow between other elementwise ops
    a = np.array([2, -3, 1, 0, 5], dtype)
    good = np.array([3, 2, 0, 4, 1], dtype)
    np.testing.assert_array_equal(f(a, good), (a ** good) * 2 + a)
    with pytest.raises(ValueError, match=MESSAGE):
        np.power(a, np.array([1, 1, -1, 1, 1], dtype))            # what NumPy does
    for bad in ([1, 1, -1, 1, 1], [-1, -1, -1, -1, -1], [0, 0, 0, 0, -2]):
        with pytest.raises(ValueError, match=MESSAGE):
            f(a, np.array(bad, dtype))
    assert f(a, good).dtype == np.dtype(dtype)                    # still usable after an error


def test_a_broadcast_negative_exponent_and_unsigned_powers():
    x, k = T.matrix("x", dtype="int64"), T.scalar("k", dtype="int64")
    f = theon.function([x, k], x ** k)
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    np.testing.assert_array_equal(f(a, 2), a ** 2)
    with pytest.raises(ValueError, match=MESSAGE):
        f(a, -1)
    u = T.vector("u", dtype="uint8")
    g = theon.function([u], u ** np.uint8(3))
    np.testing.assert_array_equal(g(np.arange(5, dtype=np.uint8)), np.arange(5, dtype=np.uint8) ** 3)


def test_the_reference_refuses_too():
    pw = make_op("pow", [T.vector("a", dtype="int32"), T.vector("b", dtype="int32")])
    with pytest.raises(ValueError, match=MESSAGE):
        pw.opdef.reference(pw, np.array([2], np.int32), np.array([-1], np.int32))
    np.testing.assert_array_equal(pw.opdef.reference(pw, np.array([2], np.int32), np.array([3], np.int32))[0], [8])


def test_an_oversized_allocation_states_its_real_size():
    n, m = T.lscalar("n"), T.lscalar("m")
    f = theon.function([n, m], T.alloc(np.float64(0.0), n, m))
    with pytest.raises(MemoryError, match=r"allocating 80000000000000000 bytes \(7\.45e\+07 GiB\)"):
        f(10 ** 8, 10 ** 8)
    with pytest.raises(MemoryError, match=r"allocating about 8e\+20 bytes, more than a 64-bit size can hold"):
        f(10 ** 10, 10 ** 10)
    assert f(2, 3).shape == (2, 3)


def test_a_static_oversized_allocation_states_its_real_size():
    x = T.vector("x")
    f = theon.function([x], T.zeros((10 ** 9, 10 ** 9)) + x.sum())
    with pytest.raises(MemoryError, match=r"allocating 8000000000000000000 bytes"):
        f(np.ones(2))
