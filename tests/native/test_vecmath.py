"""Accuracy and code shape of the vectorizable math (codegen/vecmath/).

Errors are measured in ulp of the result's dtype against references in
long double (80-bit on x86-64; float64 references for erf), over ~1e5
points per function and dtype: log-uniform magnitudes over the whole float
range with both signs, plus uniform points where the function varies. Max
errors measured when this was written (znver4, LLVM 20):

    function   float32  float64        function   float32  float64
    exp         0.94     0.98          tanh        1.96     2.13
    log         0.74     0.75          arctan      1.95     1.42
    log1p       1.94     1.51          sigmoid     2.07     2.10
    expm1       1.27     1.63          softplus    2.47     2.50
    sin         1.45     1.52          erf         2.31     2.00
    cos         1.53     1.39          pow         0.50     1.85
    tan         3.16     2.91

The asserted bound is 4 ulp for every function. sin/cos/tan are checked
over the whole finite range: past 2^16 (float32) / 2^30 (float64) they take
the Payne-Hanek reduction (test_trig_large_argument_ulp_error adds points
there, including the float64 argument closest to a multiple of pi/2).
"""
import math
import re
import zlib

import numpy as np
import pytest
from llvmlite import binding as llvm

from theon.codegen.cpu import compile_function
from theon.codegen.vecmath import FUNCTIONS, arity
from theon.tests.native_helpers import make_func, run_native

UNARY = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "arctan", "sigmoid",
         "softplus", "erf"]
DTYPES = ["float32", "float64"]
MAX_ULP = 4.0
LD = np.longdouble
HAVE_LONG_DOUBLE = np.finfo(LD).nmant >= 63
# where each function changes: uniform points are drawn from these boxes
BOX = {"exp": (-760, 720), "expm1": (-50, 720), "log": (0, 10), "log1p": (-1, 10),
       "sin": (-20, 20), "cos": (-20, 20), "tan": (-20, 20), "tanh": (-25, 25),
       "arctan": (-10, 10), "sigmoid": (-760, 760), "softplus": (-760, 760), "erf": (-7, 7)}


def reference(name, x, y=None):
    """The exact-ish value, in long double (float64 where that is all there is)."""
    wide = LD if HAVE_LONG_DOUBLE else np.float64
    xl = x.astype(wide)
    with np.errstate(all="ignore"):
        if name == "erf":
            return np.array([math.erf(v) for v in x.astype(np.float64)], dtype=wide)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xl))
        if name == "softplus":
            return np.logaddexp(wide(0), xl)
        if name == "pow":
            return np.power(xl, y.astype(wide))
        return getattr(np, name)(xl)


def ulp_error(got, want, dtype):
    """|got - want| in ulp of want rounded to dtype; 0 where both are the
    same infinity or both NaN, inf where exactly one is NaN."""
    with np.errstate(all="ignore"):
        want_r = want.astype(dtype)
        spacing = np.spacing(np.abs(want_r)).astype(want.dtype)
        err = np.abs(got.astype(want.dtype) - want) / spacing
    same = (np.isnan(got) & np.isnan(want_r)) | (np.isinf(want_r) & (got == want_r))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def sample(name, dtype, n, rng):
    fi = np.finfo(dtype)
    k = n // 2
    mags = np.exp2(rng.uniform(np.log2(float(fi.smallest_subnormal)), np.log2(float(fi.max)), k))
    lo, hi = BOX[name]
    x = np.concatenate([mags * rng.choice([-1, 1], k), rng.uniform(lo, hi, n // 4),
                        rng.uniform(-2, 2, n - k - n // 4)]).astype(dtype)
    return x


_compiled = {}


def unary_fn(name, dtype):
    key = (name, dtype)
    if key not in _compiled:
        func = make_func([(dtype, (None,))], lambda b, x: b(name, x))
        _compiled[key] = (func, compile_function(func))
    return _compiled[key]


def run_unary(name, x):
    func, comp = unary_fn(name, str(x.dtype))
    return run_native(func, [x], compiled=comp)[0]


def pow_fn(dtype, name="pow"):
    key = (name, dtype)
    if key not in _compiled:
        func = make_func([(dtype, (None,)), (dtype, (None,))], lambda b, x, y: b(name, x, y))
        _compiled[key] = (func, compile_function(func))
    return _compiled[key]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_ulp_error(name, dtype):
    if dtype == "float64" and not HAVE_LONG_DOUBLE:
        pytest.skip("no extended-precision long double for float64 references")
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dtype}".encode()))
    x = sample(name, dtype, 100_000, rng)
    err = ulp_error(run_unary(name, x), reference(name, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, f"{name}[{dtype}]: {err[worst]:.2f} ulp at x={x[worst]!r}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_ulp_error(dtype):
    if dtype == "float64" and not HAVE_LONG_DOUBLE:
        pytest.skip("no extended-precision long double for float64 references")
    rng = np.random.default_rng(11)
    n = 100_000
    x = np.exp(rng.uniform(-8, 8, n)) * rng.choice([-1, 1], n)
    y = rng.uniform(-60, 60, n)
    y[: n // 3] = np.round(y[: n // 3])                      # integer powers of negative bases
    x[n // 2:] = np.exp(rng.uniform(-1, 1, n - n // 2))      # big exponents: results near
    y[n // 2:] = rng.uniform(-2000, 2000, n - n // 2)        # overflow and underflow
    x, y = x.astype(dtype), y.astype(dtype)
    func, comp = pow_fn(dtype)
    err = ulp_error(run_native(func, [x, y], compiled=comp)[0], reference("pow", x, y), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, f"pow[{dtype}]: {err[worst]:.2f} ulp at {x[worst]!r}, {y[worst]!r}"


def special_values(dtype):
    fi = np.finfo(dtype)
    sub, tiny, big = float(fi.smallest_subnormal), float(fi.tiny), float(fi.max)
    # overflow / underflow / subnormal thresholds of exp, expm1, sigmoid, softplus, erf
    edges = ([709.782712893384, 709.7827128933841, 709.79, -708.39, -745.1332191019411,
              -745.14, -37.5, 38.0, 19.06, 5.9, 6.0]
             if dtype == "float64" else
             [88.72283, 88.7229, -87.33, -103.97, -103.98, -104.0, -17.0, 9.0, 3.9, 4.0])
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, sub, -sub, 3 * sub, tiny, -tiny, big, -big,
            1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30, 0.875, -0.875] + edges + [-e for e in edges]
    return np.array(vals, dtype=np.float64).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_special_values(name, dtype):
    x = special_values(dtype)
    got = run_unary(name, x)
    want = reference(name, x)
    with np.errstate(over="ignore"):
        want_r = want.astype(dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want_r), err_msg=f"{name} NaN at {x}")
    inf = np.isinf(want_r)
    np.testing.assert_array_equal(got[inf], want_r[inf])
    zero = want_r == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want_r[zero]),
                                  err_msg=f"{name}: sign of zero at {x[zero]}")
    assert ulp_error(got, want, dtype).max() <= MAX_ULP


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_special_cases(dtype):
    """C99/IEEE pow special cases, as NumPy's float pow."""
    vals = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5, np.inf, -np.inf,
            np.nan, 1e-300, 1e300, 1e-45, 1e38, 1025.0, -1075.0, 149.0, 2.0 ** 60, 2.0 ** 60 + 2 ** 8]
    with np.errstate(over="ignore"):
        x, y = (g.ravel().astype(dtype) for g in np.meshgrid(vals, vals, indexing="ij"))
    func, comp = pow_fn(dtype)
    got = run_native(func, [x, y], compiled=comp)[0]
    with np.errstate(all="ignore"):
        want = np.power(x.astype(LD), y.astype(LD))
        want_r = want.astype(dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want_r))
    exact = np.isinf(want_r) | (want == 0) | (np.abs(want) == 1)
    np.testing.assert_array_equal(got[exact], want_r[exact])
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(want_r[exact]))
    assert ulp_error(got, want, dtype).max() <= MAX_ULP


# Cody-Waite bound of codegen/vecmath/trig_reduce.py: past it the Payne-Hanek path runs
PH_START = {"float32": 2.0 ** 16, "float64": 2.0 ** 30}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_large_argument_ulp_error(name, dtype):
    """Random |x| up to 3e38 (float32) / 1e300 (float64), log-uniform, plus
    points around the Payne-Hanek threshold, powers of two, hard cases near
    multiples of pi/2 and the largest finite values; against long double
    (glibc's sinl/cosl/tanl reduce exactly)."""
    if dtype == "float64" and not HAVE_LONG_DOUBLE:
        pytest.skip("no extended-precision long double for float64 references")
    fi = np.finfo(dtype)
    rng = np.random.default_rng(zlib.crc32(f"large-{name}-{dtype}".encode()))
    top = 3e38 if dtype == "float32" else 1e300
    n = 40_000
    mags = np.exp2(rng.uniform(np.log2(PH_START[dtype] / 4), np.log2(top), n))
    edge = PH_START[dtype] * rng.uniform(0.99, 1.01, 2000)
    pow2 = np.exp2(np.arange(int(np.log2(PH_START[dtype])) - 2, fi.maxexp).astype(np.float64))
    hard = ([1.2977836e7, 1.6137984e7, 5.6409554e7] if dtype == "float32" else
            [6381956970095103 * 2.0 ** 797, 5485962974960617 * 2.0 ** 117, 2.0 ** 1023 * 1.5,
             1.3131220317150513e24, 9.2e18, 4.6e15])
    x = np.concatenate([mags, edge, pow2, hard, [float(fi.max)]]).astype(dtype)
    x = np.concatenate([x, -x])
    x = x[np.isfinite(x)]
    got = run_unary(name, x)
    err = ulp_error(got, reference(name, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, f"{name}[{dtype}]: {err[worst]:.2f} ulp at x={x[worst]!r}"
    if name != "tan":
        assert (np.abs(got) <= 1).all()


# --- code shape ------------------------------------------------------------------------
LIBM = re.compile(r"\b(exp|expf|log|logf|log1p|expm1|sin|sinf|cos|cosf|tan|tanh|atan|erf|pow|powf|"
                  r"fmod|fmodf)\b")


ALLOCATION = {"theon_rt_alloc", "theon_rt_free"}      # JIT code's allocator (codegen/cpu/rtlib/alloc.py)


def external_calls(comp):
    """Names of the external functions the native code calls."""
    got = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)@(?:GOT|GOTPCREL|PLT)\b", comp.asm))
    got |= set(re.findall(r"call\w*\s+([A-Za-z_]\w*)", comp.asm))
    return got - {"_GLOBAL_OFFSET_TABLE_"}


def test_float32_exp_loop_is_vectorized_without_libm_calls():
    func, comp = unary_fn("exp", "float32")
    assert re.search(r"%[yz]mm\d+", comp.asm), "no vector registers in the exp loop"
    assert external_calls(comp) <= ALLOCATION, external_calls(comp)
    assert not re.search(r"call[^\n]*@(llvm\.exp|expf|exp)\b", comp.llvm_ir)
    assert "<16 x float>" in comp.llvm_ir or "<8 x float>" in comp.llvm_ir


_HOST_AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten()


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - {"fmod"}))
def test_no_libm_and_vector_code(name):
    scalar_trig32 = False
    for dtype in DTYPES:
        func, comp = pow_fn(dtype, name) if arity(FUNCTIONS[name]) == 2 else unary_fn(name, dtype)
        assert external_calls(comp) <= ALLOCATION, (name, dtype, external_calls(comp))
        calls = set(re.findall(r"call [^@]*@([\w.]+)", comp.llvm_ir))
        assert all(c.startswith("llvm.") or c in ALLOCATION for c in calls), calls
        assert not any(LIBM.search(c.split(".")[1]) for c in calls if c.startswith("llvm.")), calls
        lanes = "float" if dtype == "float32" else "double"
        # vector width follows the host (AVX2: 4 doubles, AVX-512: 8); any
        # vector of several lanes means the loop was vectorized
        widths = [int(w) for w in re.findall(rf"<(\d+) x {lanes}>", comp.llvm_ir)]
        if not widths and name in ("sin", "cos", "tan") and dtype == "float32" and not _HOST_AVX512:
            scalar_trig32 = True        # checked after the other dtypes, below
            continue
        assert widths and max(widths) >= 2, (name, dtype, "not vectorized")
    if scalar_trig32:
        # Known: the float32 Payne-Hanek step works in 64-bit integer limbs, and
        # without AVX-512 (no vector i64 multiply) LLVM's cost model keeps the
        # loop scalar. float64 trig still vectorizes.
        pytest.xfail(f"{name} float32 stays scalar on a host without AVX-512")
