"""Native ``matmul`` against NumPy: every dtype, 1-d operands, broadcast
batch dims (static and run-time 1s), any strides, empty dims, every path
of the GEMM helper (dot, row update, blocked with edges), and its errors."""
import functools

import numpy as np
import pytest

from theon.codegen import errors
from theon.codegen.cpu import compile_function
from theon.codegen.cpu.lower.linalg import DEFAULT_SCHEDULE
from theon.ir.interpreter import evaluate
from theon.tests.native_helpers import NativeError, make_func, run_native

DTYPES = ["float32", "float64", "int8", "int16", "int32", "int64", "uint8"]
RNG = np.random.default_rng(1234)


@functools.lru_cache(maxsize=None)
def matmul_fn(dtype, a_shape, b_shape):
    """A compiled ``matmul(a, b)`` for static shapes (None: dynamic)."""
    func = make_func([(dtype, a_shape), (dtype, b_shape)], lambda b, x, y: b("matmul", x, y))
    return func, compile_function(func)


def data(shape, dtype):
    if np.dtype(dtype).kind == "f":
        return RNG.uniform(-1, 1, shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)


def check(dtype, a, b, a_shape=None, b_shape=None):
    """Native matmul of arrays a, b equals NumPy's (the reference)."""
    a_shape = a_shape or (None,) * a.ndim
    b_shape = b_shape or (None,) * b.ndim
    func, compiled = matmul_fn(dtype, a_shape, b_shape)
    (out,) = run_native(func, [a, b], compiled=compiled)
    (ref,), _ = evaluate(func, [a, b])
    assert out.dtype == ref.dtype and out.shape == ref.shape, (out.dtype, out.shape, ref.dtype, ref.shape)
    if np.dtype(dtype).kind == "f":
        k = a.shape[-1]
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(out, ref, rtol=50 * eps, atol=8 * eps * max(k, 1))
    else:
        np.testing.assert_array_equal(out, ref)
    return out


S = DEFAULT_SCHEDULE
NR32 = S.nr_vectors * S.lanes("float32")
# (M, K, N) covering the dot / row-update / blocked paths and the block edges
SHAPES = [(1, 1, 1), (2, 3, 4), (5, 7, 1), (1, 9, 11), (3, 4, 300), (S.mr, 40, NR32),
          (S.mr + 1, 50, NR32 + 1), (37, 29, 53), (S.mc + 7, S.kc + 9, 2 * NR32 + 3),
          (13, 2 * S.kc + 1, 20), (7, 3, S.nc + 5)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_products_all_paths(dtype):
    for m, k, n in SHAPES:
        check(dtype, data((m, k), dtype), data((k, n), dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_any_strides(dtype):
    """Transposed, Fortran-ordered, negative, sliced and stride-0 inputs."""
    for m, k, n in [(3, 4, 5), (40, 33, 70), (101, 64, 9)]:
        a, b = data((m, k), dtype), data((k, n), dtype)
        check(dtype, np.asfortranarray(a), np.asfortranarray(b))
        check(dtype, data((k, m), dtype).T, data((n, k), dtype).T)
        check(dtype, a[::-1], b[:, ::-1])
        check(dtype, data((2 * m, 3 * k), dtype)[::2, ::3], data((k, 2 * n), dtype)[:, ::-2])
        check(dtype, np.broadcast_to(data((1, k), dtype), (m, k)), np.broadcast_to(data((k, 1), dtype), (k, n)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_one_d_operands(dtype):
    for k in [1, 5, 17, 1000]:
        check(dtype, data((k,), dtype), data((k,), dtype))
        check(dtype, data((k,), dtype), data((k, 7), dtype))
        check(dtype, data((9, k), dtype), data((k,), dtype))
        check(dtype, data((2 * k,), dtype)[::-2], data((k, 3), dtype).T[1])
    check(dtype, data((3, 5, 4), dtype), data((4,), dtype))
    check(dtype, data((4,), dtype), data((2, 3, 4, 5), dtype))


def test_one_d_large_paths():
    """Mat-vec, vec-mat and dot products big enough for the vector loops."""
    for dtype in ["float32", "float64"]:
        check(dtype, data((300, 500), dtype), data((500,), dtype))
        check(dtype, data((500,), dtype), data((500, 300), dtype))
        check(dtype, data((500, 300), dtype).T, data((500,), dtype))
        check(dtype, data((300, 500), dtype), data((500, 1), dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_batch_broadcasting(dtype):
    check(dtype, data((2, 3, 4), dtype), data((2, 4, 5), dtype))
    check(dtype, data((2, 1, 3, 4), dtype), data((5, 4, 6), dtype))
    check(dtype, data((3, 4), dtype), data((6, 4, 2), dtype))
    check(dtype, data((6, 2, 40, 30), dtype), data((30, 20), dtype))
    # run-time 1s broadcast in dynamic batch dims, both ways
    check(dtype, data((1, 3, 4), dtype), data((7, 4, 5), dtype))
    check(dtype, data((7, 3, 4), dtype), data((1, 4, 5), dtype))
    # batched operands with strides (transposed batch and matrix dims)
    check(dtype, data((4, 3, 5), dtype).transpose(2, 1, 0), data((5, 4, 2), dtype)[::-1])


def test_static_shapes():
    check("float32", data((2, 3, 4), "float32"), data((4, 5), "float32"), (2, 3, 4), (4, 5))
    check("float64", data((1, 3, 4), "float64"), data((6, 4, 5), "float64"), (1, 3, 4), (None, 4, 5))
    check("float64", data((8,), "float64"), data((8,), "float64"), (8,), (8,))


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_empty_dims(dtype):
    out = check(dtype, data((3, 0), dtype), data((0, 4), dtype))
    assert out.shape == (3, 4) and not out.any()          # k = 0 gives zeros
    check(dtype, data((0, 5), dtype), data((5, 4), dtype))
    check(dtype, data((3, 5), dtype), data((5, 0), dtype))
    check(dtype, data((0,), dtype), data((0,), dtype))
    check(dtype, data((0, 3, 4), dtype), data((4, 2), dtype))
    check(dtype, data((2, 3, 0), dtype), data((1, 0, 2), dtype))


def test_integer_products_wrap_like_numpy():
    a = np.full((3, 50), 100, np.int8)
    b = np.full((50, 40), 77, np.int8)
    check("int8", a, b)
    check("uint8", a.astype(np.uint8) + 100, b.astype(np.uint8))
    big = np.full((4, 30), 2 ** 40, np.int64)
    check("int64", big, big.T.copy())


def test_nan_and_inf_propagate():
    a = data((20, 30), "float64")
    b = data((30, 25), "float64")
    a[3, 4] = np.nan
    b[7, 9] = np.inf
    check("float64", a, b)


def test_inner_dim_mismatch():
    func, compiled = matmul_fn("float64", (None, None), (None, None))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.ones((3, 4)), np.ones((5, 2))], compiled=compiled)
    assert e.value.code == errors.MATMUL_MISMATCH and e.value.err[1:3] == [4, 5]
    func, compiled = matmul_fn("float64", (None,), (None, None))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.ones(3), np.ones((2, 6))], compiled=compiled)
    assert e.value.code == errors.MATMUL_MISMATCH and e.value.err[1:3] == [3, 2]
    func, compiled = matmul_fn("float64", (None, None), (None,))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.ones((2, 6)), np.ones(0)], compiled=compiled)
    assert e.value.code == errors.MATMUL_MISMATCH and e.value.err[1:3] == [6, 0]


def test_batch_mismatch():
    func, compiled = matmul_fn("float32", (None, None, None), (None, None, None))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32)], compiled=compiled)
    assert e.value.code == errors.SHAPE_MISMATCH
    assert e.value.err[1:4] == [0, 3, 2] or e.value.err[1:4] == [0, 2, 3]


def test_matmul_feeding_other_ops_and_repeated_outputs():
    """A matmul result returned twice and used again: results never alias."""
    def build(b, x, y):
        p = b("matmul", x, y)
        return [p, p, b("matmul", p, y)]
    func = make_func([("float64", (None, None)), ("float64", (None, None))], build)
    x, y = data((9, 9), "float64"), data((9, 9), "float64")
    outs = run_native(func, [x, y])
    np.testing.assert_allclose(outs[0], x @ y, rtol=1e-12)
    np.testing.assert_allclose(outs[1], x @ y, rtol=1e-12)
    np.testing.assert_allclose(outs[2], x @ y @ y, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_stacked_rows_times_a_matrix(dtype):
    """(batch..., M, K) @ (K, N): one product of all the rows when they follow
    one another at the row stride, else one per batch element -- the same
    numbers for contiguous, transposed, reversed, sliced and size-1 batches."""
    for shape, n in [((5, 7, 9), 4), ((1, 7, 9), 4), ((5, 1, 9), 4), ((0, 7, 9), 4), ((3, 2, 30, 40), 50),
                     ((6, 20, 40), S.nc + 5)]:
        x, w = data(shape, dtype), data((shape[-1], n), dtype)
        for a in (x, np.swapaxes(x, 0, -2), x[::-1], x[::2], x[..., ::-1, :], np.broadcast_to(x[:1], x.shape)):
            check(dtype, a, w)
