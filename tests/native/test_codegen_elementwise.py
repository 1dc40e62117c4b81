"""Native elementwise ops against their NumPy references.

One table row per (op, dtype the op accepts), found by walking the dialect:
each row compiles one 2-d function once and runs it on special values,
non-contiguous layouts (Fortran, transposed, negative strides), run-time
broadcasting (dims of unknown size that are 1) and empty shapes. A second
table covers statically-1 dims and 0-d operands, a third every cast pair.
"""
import functools

import numpy as np
import pytest

from theon.codegen import errors
from theon.codegen.cpu import compile_function
from theon.codegen.cpu.lower.lowering import LOWERINGS
from theon.codegen.scalar import SCALAR
from theon.ir.dialect import OPS
from theon.ir.interpreter import evaluate
from theon.ir.ops.elementwise import BOOL, FLOAT, INT
from theon.tests.native_helpers import NativeError, make_func, run_native

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]
KIND = {"bool": BOOL, "float32": FLOAT, "float64": FLOAT}
ELEMENTWISE = sorted(name for name, op in OPS.items() if op.elementwise)
RNG = np.random.default_rng(20240601)


def accepts(name, dtype):
    """The dtype the op's (value) operands may have."""
    return KIND.get(dtype, INT) in OPS[name].kinds


def operand_dtypes(name, dtype):
    n = OPS[name].num_operands
    return ["bool"] + [dtype] * (n - 1) if name == "where" else [dtype] * n


ROWS = [(name, dtype) for name in ELEMENTWISE if name != "cast"
        for dtype in DTYPES if accepts(name, dtype)]


# --- data --------------------------------------------------------------------------
def float_specials(dtype):
    fi = np.finfo(dtype)
    big = 709.9 if dtype == "float64" else 88.8
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -3.0,
                     1.5, -2.5, float(fi.smallest_subnormal) * 3, float(fi.tiny), float(fi.max),
                     -float(fi.max), big, -big, 1e-30, 7.0, 1e5], dtype=dtype)


def int_specials(dtype):
    info = np.iinfo(dtype)
    vals = [0, 1, -1, 2, -2, 3, -7, 7, info.min, info.max, info.min + 1, info.max - 1, 100, -100]
    return np.array([int(v) for v in vals if info.min <= v <= info.max], dtype=dtype)


def values(dtype, n):
    """n values: special values first, then random ones over many magnitudes."""
    if dtype == "bool":
        return RNG.integers(0, 2, n).astype(bool)
    if dtype.startswith("float"):
        x = RNG.standard_normal(n) * 10.0 ** RNG.integers(-4, 4, n)
        return x.astype(dtype)
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, n, endpoint=True, dtype=dtype)
    x[: n // 2] = RNG.integers(max(info.min, -9), min(info.max, 9), n // 2, endpoint=True)
    return x.astype(dtype)


def operand_data(name, dtype, shape):
    """Arrays for every operand; the first entries hold every pair (or
    triple for where) of special values."""
    n = int(np.prod(shape))
    dts = operand_dtypes(name, dtype)
    arrays = [values(d, n) for d in dts]
    specials = float_specials(dtype) if dtype.startswith("float") else (
        int_specials(dtype) if dtype != "bool" else np.array([False, True]))
    if len(dts) == 1:
        arrays[0][: len(specials)] = specials
    else:
        grid = np.meshgrid(*[specials] * (len(dts) - (name == "where")), indexing="ij")
        grid = [g.ravel() for g in grid]
        k = min(len(grid[0]), n)
        for arr, g in zip(arrays[len(dts) - len(grid):], grid):
            arr[:k] = g[:k]
    if name in ("sin", "cos", "tan"):
        # accurate range reduction is promised up to 1e5 (float32) / 1e9 (float64);
        # larger arguments are checked for finiteness in test_vecmath.py
        lim = 1e5 if dtype == "float32" else 1e9
        arrays[0][np.abs(arrays[0]) > lim] = 1234.5
    if name == "pow" and dtype != "bool" and not dtype.startswith("float"):
        # exponents: mostly small (wrap-around of big powers is covered too), never
        # negative (an error, as in NumPy: test_int_power_and_oom.py)
        arrays[1][n // 2:] = RNG.integers(0, 70, n - n // 2)
        arrays[1][arrays[1] < 0] = 0
    return [a.reshape(shape) for a in arrays]


# --- compile once per row ------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def compiled(name, dtype, shapes):
    func = make_func([(d, s) for d, s in zip(operand_dtypes(name, dtype), shapes)],
                     lambda b, *args: b(name, *args))
    return func, compile_function(func)


# next to their zeros left of 0, psi and gammaln are ill-conditioned in the
# reflection formula (native code and reference alike): an absolute bound there
ABS_TOL = {"psi": 1e-13, "gammaln": 1e-13}


def check(func, comp, args):
    native = run_native(func, args, compiled=comp)
    ref, _ = evaluate(func, [np.asarray(a) for a in args])
    atol = max(ABS_TOL.get(op.name, 0.0) for op in func.body.ops)
    for n, r in zip(native, ref):
        assert n.dtype == r.dtype and n.shape == r.shape, (n.dtype, n.shape, r.dtype, r.shape)
        if n.dtype.kind == "f":
            tol = 1e-5 if n.dtype == np.float32 else 1e-13
            np.testing.assert_allclose(n, r, rtol=tol, atol=max(atol, float(np.finfo(n.dtype).tiny)),
                                       equal_nan=True)
        else:
            np.testing.assert_array_equal(n, r)


def test_every_elementwise_op_has_a_cpu_lowering():
    missing = [n for n in ELEMENTWISE if n not in SCALAR or n not in LOWERINGS]
    assert not missing, f"elementwise ops without a CPU lowering: {missing}"
    assert len(ELEMENTWISE) >= 40


@pytest.mark.parametrize("name,dtype", ROWS, ids=[f"{n}-{d}" for n, d in ROWS])
def test_op_matches_reference(name, dtype):
    arity = OPS[name].num_operands
    func, comp = compiled(name, dtype, ((None, None),) * arity)
    # contiguous, with every special value (pair)
    args = operand_data(name, dtype, (19, 37))
    check(func, comp, args)
    # Fortran order, negative strides, a transposed view
    layouts = [np.asfortranarray, lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
               lambda a: a.T.copy().T]
    check(func, comp, [layouts[k % 3](a) for k, a in enumerate(args)])
    # dims of unknown size that are 1 at run time broadcast
    shapes = [(19, 1), (1, 37), (19, 37)][:arity]
    check(func, comp, [a[: s[0], : s[1]] for a, s in zip(args, shapes)])
    # empty
    check(func, comp, [a[:0] for a in args])


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if n != "cast"])
def test_static_one_and_zero_d_operands(name):
    dtype = next(d for d in ("float64", "int32", "bool") if accepts(name, d))
    arity = OPS[name].num_operands
    shapes = ((1, None), (None, None), ())[:arity] if arity > 1 else ((1, None),)
    func, comp = compiled(name, dtype, shapes)
    args = operand_data(name, dtype, (5, 9))
    check(func, comp, [a[:1] if s == (1, None) else (a[0, 0] if s == () else a)
                       for a, s in zip(args, shapes)])
    func0, comp0 = compiled(name, dtype, ((),) * arity)
    check(func0, comp0, [a[1, 2] for a in args])


def test_shape_mismatch_is_reported():
    func, comp = compiled("add", "float64", ((None, None), (None, None)))
    with pytest.raises(NativeError) as e:
        run_native(func, [np.zeros((2, 3)), np.zeros((2, 4))], compiled=comp)
    assert e.value.code == errors.SHAPE_MISMATCH
    assert e.value.err[:5] == [0, 1, 3, 4, 0]      # op 0, axis 1, size 3, expected 4, operand 0


def test_integer_division_never_traps():
    for dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(dtype)
        neg = -1 if info.min else 1
        a = np.array([info.min, info.min, 7, 7 * neg, 0, info.max], dtype=dtype)
        c = np.array([neg, 0, 0, 2, 0, neg], dtype=dtype)
        for name in ("floordiv", "mod"):
            func, comp = compiled(name, dtype, ((None, None),) * 2)
            check(func, comp, [a.reshape(2, 3), c.reshape(2, 3)])


def test_float_floordiv_mod_special_values():
    specials = [0.0, -0.0, 3.0, -3.0, 5.5, -5.5, np.inf, -np.inf, np.nan, 1e300, -1e300, 1e-300,
                5e-324, 2.0 ** 60 + 1.0, 1e-5, 0.1]
    a, c = (g.ravel() for g in np.meshgrid(specials, specials, indexing="ij"))
    for dtype in ("float32", "float64"):
        for name in ("floordiv", "mod"):
            func, comp = compiled(name, dtype, ((None, None),) * 2)
            with np.errstate(all="ignore"):
                x, y = a.astype(dtype), c.astype(dtype)
                want = (np.floor_divide if name == "floordiv" else np.remainder)(x, y)[None]
            got = run_native(func, [x[None], y[None]], compiled=comp)[0]
            np.testing.assert_array_equal(got, want)     # exact, signed zeros aside


def test_float_mod_huge_quotients_exact():
    """fmod's loop path: quotients far beyond 2^53 still give the exact remainder."""
    for dtype in ("float32", "float64"):
        fi = np.finfo(dtype)
        a = (RNG.standard_normal(400) * 10.0 ** RNG.integers(0, fi.maxexp // 4, 400)).astype(dtype)
        c = (RNG.standard_normal(400) * 10.0 ** -RNG.integers(0, fi.maxexp // 4, 400)).astype(dtype)
        a[:4] = [fi.max, -fi.max, fi.max, 3.0]
        c[:4] = [fi.smallest_subnormal, 3.0, -fi.smallest_subnormal, fi.smallest_subnormal]
        func, comp = compiled("mod", dtype, ((None, None),) * 2)
        got = run_native(func, [a[None], c[None]], compiled=comp)[0][0]
        np.testing.assert_array_equal(got, np.remainder(a, c))


def test_maximum_minimum_propagate_nan_from_either_side():
    a = np.array([[np.nan, 1.0, np.nan, -np.inf]])
    c = np.array([[1.0, np.nan, np.nan, np.inf]])
    for name, want in (("maximum", [np.nan, np.nan, np.nan, np.inf]),
                       ("minimum", [np.nan, np.nan, np.nan, -np.inf])):
        func, comp = compiled(name, "float64", ((None, None),) * 2)
        np.testing.assert_array_equal(run_native(func, [a, c], compiled=comp)[0][0], want)


# --- cast ------------------------------------------------------------------------------
def cast_expected(x, dtype):
    """Float -> int truncates toward zero and saturates, NaN gives 0 (the
    op's documented semantics; computed here because the reference's clip
    bound rounds up to 2^k in float for float32 -> int32 and for int64,
    which wraps to INT_MIN). Everything else: the reference."""
    dt = np.dtype(dtype)
    if x.dtype.kind == "f" and dt.kind in "iu":
        info = np.iinfo(dt)
        y = np.trunc(x.astype(np.float64))
        lo, top = float(info.min), 2.0 ** (info.bits - (dt.kind == "i"))
        inside = (y >= lo) & (y < top)
        out = np.zeros(x.shape, dt)
        out[inside] = y[inside].astype(dt)
        out[y >= top] = info.max
        out[y < lo] = info.min
        return out
    func = make_func([(str(x.dtype), (None,))], lambda b, a: b("cast", a, dtype=dtype))
    return evaluate(func, [x])[0][0]


@pytest.mark.parametrize("src", DTYPES)
def test_cast_every_pair(src):
    n = 400
    x = values(src, n)
    if src.startswith("float"):
        fi = np.finfo(src)
        edges = [127.9, 128.0, -128.5, -129.0, 255.5, 256.0, -0.9, 32767.9, 32768.0, -32769.0,
                 2.0 ** 31, -2.0 ** 31 - 1, 2.0 ** 31 - 0.5, 2.2e9, -2.2e9, 9.3e18, -9.3e18,
                 2.0 ** 63, -2.0 ** 63, 1e30, -1e30]
        x[: 16] = float_specials(src)[:16]
        x[16: 16 + len(edges)] = np.array(edges).astype(src)
        x[40] = fi.max
    elif src != "bool":
        x[: len(int_specials(src))] = int_specials(src)
    for dst in DTYPES:
        func = make_func([(src, (None,))], lambda b, a: b("cast", a, dtype=dst))
        got = run_native(func, [x])[0]
        with np.errstate(over="ignore"):
            want = cast_expected(x, dst)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{src} -> {dst}")
