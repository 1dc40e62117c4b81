"""Native sum_to / stop_gradient against their NumPy references."""
import numpy as np
import pytest

from theon.codegen.cpu import compile_function
from theon.codegen.errors import SHAPE_MISMATCH
from theon.ir.core import DYN

from ..native_helpers import NativeError, check_against_reference, make_func, run_native


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_sum_to_runtime_broadcast_dims(dtype):
    f = make_func([(dtype, (None, None, None)), ("int64", ())],
                  lambda b, g, n: b.create("sum_to", [g, n], {"shape": (DYN, 1)}).result)
    compiled = compile_function(f)
    rng = np.random.default_rng(0)
    for shape, n in [((2, 3, 4), 3), ((2, 3, 1), 3), ((2, 1, 4), 1), ((0, 3, 4), 3), ((2, 3, 0), 3)]:
        g = (rng.standard_normal(shape) * 10).astype(dtype)
        native = run_native(f, [g, n], compiled=compiled)[0]
        lead = g.sum(axis=0) if dtype != "bool" else g.any(axis=0)
        want = lead.sum(axis=-1, keepdims=True, dtype=lead.dtype) if dtype != "bool" else lead.any(axis=-1, keepdims=True)
        if n == 1:
            want = want.sum(axis=0, keepdims=True, dtype=want.dtype) if dtype != "bool" else want.any(axis=0, keepdims=True)
        np.testing.assert_allclose(native, want, rtol=1e-5)
        check_against_reference(f, [g, n])


def test_sum_to_static_and_transposed():
    f = make_func([("float64", (4, None))],
                  lambda b, g: b.create("sum_to", [g], {"shape": (1, 3)}).result)
    g = np.arange(12.0).reshape(3, 4).T
    check_against_reference(f, [g])


def test_sum_to_mismatch_is_an_error_code():
    f = make_func([("float64", (None, None)), ("int64", ())],
                  lambda b, g, n: b.create("sum_to", [g, n], {"shape": (DYN,)}).result)
    with pytest.raises(NativeError) as e:
        run_native(f, [np.ones((2, 3)), 2])
    assert e.value.code == SHAPE_MISMATCH


def test_stop_gradient_is_identity_and_output_is_a_copy():
    f = make_func([("float32", (None,))],
                  lambda b, x: [b.create("stop_gradient", [x], {"kind": "zero"}).result, x])
    x = np.arange(5, dtype=np.float32)[::-1]
    a, c = check_against_reference(f, [x])
    a[0] = 99
    assert c[0] == 4 and x[0] == 4
