"""Native reductions against their NumPy references: every reduction x
dtype x subset of axes x keepdims x layout (C, Fortran, transposed,
negative and zero strides), empty and 0-d inputs, NaN propagation, float
sum accuracy, and the vectorized inner loops."""
import functools
import itertools
import math

import numpy as np
import pytest

from theon.codegen import errors
from theon.codegen.cpu import compile_function
from theon.codegen.cpu.lower.reduction import BLOCK
from theon.ir.interpreter import evaluate
from theon.tests.native_helpers import NativeError, make_func, run_native

DTYPES = ["float32", "float64", "int8", "int32", "int64", "uint8", "bool"]
REDUCE = ["sum", "prod", "max", "min"]
RNG = np.random.default_rng(7)


def data(dtype, shape, op="sum"):
    if dtype == "bool":
        return RNG.random(shape) < (0.9 if op in ("prod", "min") else 0.1)
    if dtype.startswith("float"):
        if op == "prod":
            return (RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1, 1], shape)).astype(dtype)
        return RNG.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = (0, 9) if dtype == "uint8" else (-9, 9)
    return RNG.integers(max(info.min, lo), min(info.max, hi), shape, endpoint=True).astype(dtype)


def assert_matches(native, ref, x):
    for n, r in zip(native, ref):
        assert n.dtype == r.dtype and n.shape == r.shape, (n.dtype, n.shape, r.dtype, r.shape)
        if n.dtype.kind == "f":
            eps = np.finfo(n.dtype).eps
            scale = float(np.nanmax(np.abs(x), initial=0)) if x.dtype.kind == "f" else 1.0
            np.testing.assert_allclose(n, r, rtol=8 * eps, atol=8 * eps * max(x.size, 1) * scale,
                                       equal_nan=True)
        else:
            np.testing.assert_array_equal(n, r)


@functools.lru_cache(maxsize=None)
def all_axes_fn(op, dtype, ndim=3, keep_parity=0):
    """One function reducing a 3-d input over every subset of axes."""
    subsets = [ax for r in range(ndim + 1) for ax in itertools.combinations(range(ndim), r)]
    func = make_func([(dtype, (None,) * ndim)],
                     lambda b, x: [b(op, x, axes=ax, keepdims=(i + keep_parity) % 2 == 0)
                                   for i, ax in enumerate(subsets)])
    return func, compile_function(func)


def run_check(func, comp, x):
    native = run_native(func, [x], compiled=comp)
    ref, _ = evaluate(func, [np.asarray(x)])
    assert_matches(native, ref, np.asarray(x))


def layouts(x):
    """The same values in other memory layouts (and a few other arrays)."""
    yield x
    yield np.asfortranarray(x)
    yield x.transpose(2, 0, 1).copy().transpose(1, 2, 0)            # permuted strides
    yield x[::-1, :, ::-1].copy()[::-1, :, ::-1]                     # negative strides
    yield x[:, ::2, :]                                               # gaps
    yield np.broadcast_to(x[:1], x.shape)                            # zero stride


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_axes_subset_and_layout(op, dtype):
    func, comp = all_axes_fn(op, dtype, 3, DTYPES.index(dtype) % 2)
    x = data(dtype, (4, 6, 7), op)
    for y in layouts(x):
        run_check(func, comp, y)
    for shape in [(1, 5, 1), (3, 1, 2), (1, 1, 1), (2, 3, 40)]:
        run_check(func, comp, data(dtype, shape, op))
    if op in ("sum", "prod"):
        for shape in [(0, 5, 6), (4, 0, 6), (4, 5, 0), (0, 0, 0)]:
            run_check(func, comp, data(dtype, shape, op))


@pytest.mark.parametrize("op", REDUCE)
def test_zero_d_and_no_axes(op):
    func = make_func([("float64", ())], lambda b, x: b(op, x, axes=(), keepdims=False))
    run_check(func, compile_function(func), np.array(2.5))
    func = make_func([("int32", (None, None))], lambda b, x: b(op, x, axes=(), keepdims=True))
    run_check(func, compile_function(func), data("int32", (3, 4)).T)


@pytest.mark.parametrize("op", ["max", "min"])
def test_empty_reduced_axis_without_identity_is_an_error(op):
    func = make_func([("float64", (None, None))], lambda b, x: b(op, x, axes=(1,), keepdims=False))
    comp = compile_function(func)
    (out,) = run_native(func, [np.zeros((0, 3))], compiled=comp)   # nothing to reduce: fine
    assert out.shape == (0,)
    for shape in [(3, 0), (0, 0)]:
        with pytest.raises(NativeError) as e:
            run_native(func, [np.zeros(shape)], compiled=comp)
        assert e.value.code == errors.EMPTY_REDUCTION and e.value.err[:2] == [0, 1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_propagate_nan(op, dtype):
    func, comp = all_axes_fn(op, dtype, 3, DTYPES.index(dtype) % 2)
    x = data(dtype, (3, 5, 70))
    x[1, 2, 33] = np.nan
    x[2, 4, 0] = np.nan
    for y in layouts(x):
        run_check(func, comp, y)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_long_rows_and_block_edges(dtype):
    func = make_func([(dtype, (None,)), (dtype, (None, None))],
                     lambda b, v, m: [b("sum", v, axes=(0,), keepdims=False),
                                      b("sum", m, axes=(1,), keepdims=False),
                                      b("sum", m, axes=(0, 1), keepdims=True),
                                      b("max", v, axes=(0,), keepdims=False)])
    comp = compile_function(func)
    for n in [1, 7, 33, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]:
        v, m = data(dtype, (n,)), data(dtype, (3, n))
        native = run_native(func, [v, m], compiled=comp)
        ref, _ = evaluate(func, [v, m])
        assert_matches(native, ref, m)


def test_float_sums_are_accurate():
    """About as accurate as NumPy's pairwise summation (summed over a few
    arrays of mixed magnitudes, so one lucky rounding does not decide)."""
    xs = [RNG.standard_normal(300_001) * 10.0 ** RNG.integers(-6, 6, 300_001) + 1e-3
          for _ in range(4)]
    for dtype in ("float32", "float64"):
        func = make_func([(dtype, (None,))], lambda b, v: b("sum", v, axes=(0,), keepdims=False))
        comp = compile_function(func)
        ours = theirs = size = 0.0
        for x in xs:
            x = x.astype(dtype)
            exact = math.fsum(x.astype(np.float64))
            ours += abs(float(run_native(func, [x], compiled=comp)[0]) - exact)
            theirs += abs(float(np.sum(x)) - exact)
            size += abs(exact)
        assert ours <= 2 * theirs + float(np.finfo(dtype).eps) * size, (dtype, ours, theirs)
    # column sums of a float32 matrix accumulate in float64 too
    m = RNG.standard_normal((20000, 3)).astype(np.float32)
    func = make_func([("float32", (None, None))], lambda b, v: b("sum", v, axes=(0,), keepdims=False))
    (got,) = run_native(func, [m])
    exact = np.array([math.fsum(c) for c in m.T.astype(np.float64)])
    np.testing.assert_allclose(got, exact, rtol=2 ** -23)


@pytest.mark.parametrize("op,dtype,kernel", [
    ("sum", "float64", "fadd"), ("sum", "float32", "fadd"), ("max", "float32", "fmaximum"),
    ("min", "float64", "fminimum"), ("sum", "int32", "add"), ("prod", "float64", "fmul")])
def test_contiguous_reductions_vectorize(op, dtype, kernel):
    for ndim, axes in [(1, (0,)), (3, (0, 1, 2)), (2, (1,))]:
        func = make_func([(dtype, (None,) * ndim)], lambda b, x: b(op, x, axes=axes, keepdims=False))
        comp = compile_function(func)
        assert f"llvm.vector.reduce.{kernel}" in comp.llvm_ir, (op, dtype, axes)
        assert "zmm" in comp.asm or "ymm" in comp.asm


# --- argmax / argmin -----------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def arg_fn(op, dtype, parity):
    axes = [None, 0, 1, 2]
    func = make_func([(dtype, (None, None, None))],
                     lambda b, x: [b(op, x, axis=a, keepdims=(i + parity) % 2 == 0)
                                   for i, a in enumerate(axes)])
    return func, compile_function(func)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_argmax_argmin(op, dtype):
    func, comp = arg_fn(op, dtype, DTYPES.index(dtype) % 2)
    x = data(dtype, (4, 6, 7))                  # small value range: many ties
    for y in layouts(x):
        run_check(func, comp, y)
    for shape in [(1, 1, 1), (1, 5, 1), (2, 3, 40)]:
        run_check(func, comp, data(dtype, shape))
    if dtype.startswith("float"):
        x = data(dtype, (4, 6, 7))
        x[1, 2, 3] = x[3, 0, 0] = x[0, 5, 6] = np.nan         # the first NaN wins
        x[2, 2, 2] = np.inf
        x[2, 3, 2] = -np.inf
        for y in layouts(x):
            run_check(func, comp, y)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_empty_and_zero_d(op):
    func = make_func([("float64", (None, None))], lambda b, x: b(op, x, axis=1, keepdims=True))
    comp = compile_function(func)
    assert run_native(func, [np.zeros((0, 3))], compiled=comp)[0].shape == (0, 1)
    with pytest.raises(NativeError) as e:
        run_native(func, [np.zeros((3, 0))], compiled=comp)
    assert e.value.code == errors.EMPTY_REDUCTION and e.value.err[:2] == [0, 1]
    func = make_func([("float64", (None, None))], lambda b, x: b(op, x, axis=None, keepdims=False))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.zeros((2, 0))])
    assert e.value.code == errors.EMPTY_REDUCTION and e.value.err[:2] == [0, 1]
    func = make_func([("int32", ())], lambda b, x: b(op, x, axis=None, keepdims=False))
    assert run_native(func, [np.array(5, np.int32)])[0] == 0
