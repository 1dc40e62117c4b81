"""``int ** negative int`` on the GPU plan raises NumPy's ValueError, as the
CPU code does (INT_NEGATIVE_POWER): a signed integer pow's exponent is kept
out of the pow's fused group, reduced to its minimum on the device, and
the host fails the call when that is negative. Runs on the emulated device
everywhere and on a real GPU where there is one."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx.plan import Plan
from theon.codegen.ptx.target import GPU_SCHEDULE
from theon.runtime.gpu_function import from_function

MESSAGE = "Integers to negative integer powers are not allowed"


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_negative_exponents_raise_like_numpy(device, dtype):
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    # the exponent is computed (y - 1): it must still be checked, not fused away
    f = theon.function([x, y], (x ** (y - np.array(1, dtype))) * 2 + x)
    g = from_function(f, device)
    a = np.array([2, -3, 1, 0, 5], dtype)
    good = np.array([4, 3, 1, 5, 2], dtype)
    want = (a ** (good - 1)) * 2 + a
    np.testing.assert_array_equal(g(a, good), want)
    np.testing.assert_array_equal(f(a, good), want)
    for bad in ([2, 2, 0, 2, 2], [0, 0, 0, 0, 0], [1, 1, 1, 1, -3]):
        bad = np.array(bad, dtype)
        with pytest.raises(ValueError, match=MESSAGE):
            f(a, bad)                                       # the CPU code
        with pytest.raises(ValueError, match=MESSAGE):
            g(a, bad)                                       # the GPU plan, the same error
    np.testing.assert_array_equal(g(a, good), want)         # still usable after an error


def test_strided_broadcast_scalar_and_empty_exponents(device):
    x, e = T.lmatrix("x"), T.lmatrix("e")
    k = T.lscalar("k")
    f = theon.function([x, e, k], [x ** e.T, x ** k])
    g = from_function(f, device)
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    ex = np.arange(12, dtype=np.int64).reshape(4, 3) % 3
    for got, want in zip(g(a, ex, 2), [a ** ex.T, a ** 2]):
        np.testing.assert_array_equal(got, want)
    bad = ex.copy()
    bad[3, 1] = -1                                          # one negative, in a transposed view
    with pytest.raises(ValueError, match=MESSAGE):
        g(a, bad, 2)
    with pytest.raises(ValueError, match=MESSAGE):
        g(a, ex, -1)                                        # a 0-d exponent (read back directly)
    z = np.zeros((0, 4), np.int64)
    got = g(z, np.zeros((4, 0), np.int64), 3)
    assert got[0].shape == (0, 4) and got[1].shape == (0, 4)


def test_unsigned_and_float_powers_need_no_check():
    u, v = T.vector("u", dtype="uint8"), T.dvector("v")
    plan = Plan(theon.function([u, v], [u ** u, v ** (v - 1.0)]).ir)
    assert not any(getattr(s, "exponents", None) for s in plan.steps)
    x, y = T.lvector("x"), T.lvector("y")
    plan = Plan(theon.function([x, y], (x ** (y - 1)) * 2).ir)
    (step,) = [s for s in plan.steps if getattr(s, "exponents", None)]
    assert len(step.exponents) == 1
    assert any(name.startswith("theon_min_int64_1d") for name in plan.kernels)
    d = plan.describe(GPU_SCHEDULE)
    assert any("INT_NEGATIVE_POWER" in c["what"] for s in d["steps"] for c in s.get("checks", []))
