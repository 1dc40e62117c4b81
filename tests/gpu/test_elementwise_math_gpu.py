"""The elementwise math added for Theano's API and the unsigned dtypes on the
GPU path: PTX map kernels lower them with the same scalar emitters as the
CPU (codegen/scalar.py, codegen/vecmath/); the emulated device runs the
kernels here, a real GPU where there is one. Results are compared with the
CPU function's and NumPy's."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.runtime.gpu_function import from_function

RNG = np.random.default_rng(16)
UNARY = ["exp2", "sinh", "cosh", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "erfc", "erfinv",
         "gamma", "gammaln", "psi", "tri_gamma", "trunc"]


def _same(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def _check(device, inputs, outputs, args, rtol):
    f = theon.function(inputs, outputs)
    g = from_function(f, device)
    for a, b in zip(g(*args), f(*args)):
        _same(a, b, rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_new_unary_math(device, dtype):
    x = T.tensor(dtype, shape=(None,), name="x")
    outs = [getattr(T, n)(x) for n in UNARY] + [T.arctan2(x, x[::-1])]
    data = np.concatenate([RNG.uniform(-3, 3, 40), [0.0, -0.0, 0.5, 1.0, -1.0, 2.5, 30.0, -4.5, np.inf,
                                                    -np.inf, np.nan, 1e-30]]).astype(dtype)
    rtol = 2e-6 if dtype == "float32" else (1e-13 if isinstance(device, EmulatedDevice) else 1e-10)
    with np.errstate(all="ignore"):
        _check(device, [x], outs, [data], rtol)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_unsigned_arithmetic(device, dtype):
    a = T.tensor(dtype, shape=(None, None), name="a")
    b = T.tensor(dtype, shape=(None,), name="b")
    outs = [a + b, a - b, a * b, a // b, a % b, T.maximum(a, b), T.lt(a, b), T.ge(a, b), a & b, ~a,
            T.cast(a, "float64"), T.cast(T.cast(a, "float32") * 1.5, dtype), T.sum(a, axis=0), T.max(a, axis=1),
            T.argmax(a, axis=1)]
    top = np.iinfo(dtype).max
    av = RNG.integers(0, top, (5, 7), dtype=dtype, endpoint=True)
    av[0, :3] = [top, top - 1, 0]
    bv = np.array([3, 0, top, 7, 1, 2, 0], dtype=dtype)
    _check(device, [a, b], outs, [av, bv], 1e-6)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_unsigned_kernels_assemble(dtype, tmp_path):
    """ptxas accepts the unsigned division, compares, conversions and reductions."""
    from .test_ptx import emit_and_assemble, make

    def build(b, x, y):
        outs = [b(n, x, y) for n in ("add", "mul", "floordiv", "mod", "maximum", "lt", "pow")]
        outs += [b("cast", x, dtype=t) for t in ("float32", "float64", "int64", "uint8")]
        outs += [b("cast", b("cast", x, dtype="float64"), dtype=dtype)]
        outs += [b("sum", x, axes=(0,), keepdims=False), b("argmax", x, axis=0, keepdims=False)]
        return outs

    emit_and_assemble(make([(dtype, (None,)), (dtype, (None,))], build), tmp_path)
