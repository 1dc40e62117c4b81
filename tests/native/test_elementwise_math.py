"""Native code (codegen/vecmath/ kernels through codegen/scalar.py) of the
elementwise math added for Theano's API: accuracy in ulp against float64
references (NumPy's libm for the elementary functions, the ``math``
module for erfc/gamma/lgamma, the ops' float64 series references for
psi/trigamma/erfinv, whose own accuracy tests/ir/test_elementwise_math.py
checks against identities), special values and domains as NumPy / C99,
gradients through ``theon.function`` against finite differences, and the
fused FAST_RUN path.

Measured max error against mpmath (dps 30) when this was written, in ulp
(float64 / float32; float32 special functions compute in float64 and round
once):

    exp2 1 / 0.86   sinh 2 / 2.4    cosh 2 / 2.8    arcsin 2 / 2.1
    arccos 3 / 2.1  arcsinh 2 / 2.3 arccosh 2 / 1.5 arctanh 2 / 2.2
    erfc 4 / 0.5    gamma 3 / 0.5 (x > -30)

The asserted bounds below add the float64 reference's own rounding.
"""
import math
import zlib

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.ir.dialect import OPS

from ..native_helpers import make_func, run_native

LIBM = {"exp2": (np.exp2, (-1100, 1100)), "sinh": (np.sinh, (-720, 720)), "cosh": (np.cosh, (-720, 720)),
        "arcsin": (np.arcsin, (-1, 1)), "arccos": (np.arccos, (-1, 1)), "arcsinh": (np.arcsinh, (-1e6, 1e6)),
        "arccosh": (np.arccosh, (1, 1e6)), "arctanh": (np.arctanh, (-1, 1))}
# op -> (box of uniform points, float64 bound in ulp)
SPECIAL = {"erfc": ((-6, 28), 6), "gamma": ((0, 172), 8), "gammaln": ((0, 1e4), 10),
           "psi": ((0, 50), 8), "trigamma": ((0, 50), 6), "erfinv": ((-1, 1), 4)}
_compiled = {}


def native(name, *xs):
    key = (name, str(xs[0].dtype), len(xs))
    if key not in _compiled:
        dt = str(xs[0].dtype)
        _compiled[key] = make_func([(dt, (None,))] * len(xs), lambda b, *a: b(name, *a))
    return run_native(_compiled[key], list(xs))[0]


def ulp_error(got, want64, dtype):
    """|got - want| in ulp of want rounded to dtype; 0 where both are the
    same infinity or both NaN, inf where exactly one is NaN."""
    with np.errstate(all="ignore"):
        wr = want64.astype(dtype)
        err = np.abs(got.astype(np.float64) - want64) / np.spacing(np.abs(wr)).astype(np.float64)
    same = (np.isnan(got) & np.isnan(wr)) | (np.isinf(wr) & (got == wr))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def points(name, box, dtype, n=4000):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dtype}".encode()))
    lo, hi = box
    k = n // 4
    mags = np.exp(rng.uniform(-30, math.log(min(hi, 1e300) if hi > 1 else 1), k))
    x = np.concatenate([rng.uniform(lo, hi, n - 2 * k), rng.uniform(max(lo, -3), min(hi, 3), k),
                        mags * (rng.choice([-1, 1], k) if lo < 0 else 1)])
    return x.astype(dtype)


def assert_ulp(name, x, got, want, dtype, bound):
    err = ulp_error(got, want, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}[{dtype}]: {err[worst]:.2f} ulp at x={x[worst]!r}: {got[worst]!r}, " \
                                f"want {want[worst]!r}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(LIBM))
def test_elementary_ulp_error(name, dtype):
    ref, box = LIBM[name]
    x = points(name, box, dtype)
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    assert_ulp(name, x, native(name, x), want, dtype, 4 if dtype == "float64" else 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(SPECIAL))
def test_special_function_ulp_error(name, dtype):
    box, bound = SPECIAL[name]
    x = points(name, box, dtype, 2000)
    if name == "erfinv":
        tail = np.random.default_rng(3).uniform(-36, 0, 500)
        x = np.concatenate([x, (1 - np.exp(tail)).astype(dtype), (np.exp(tail) - 1).astype(dtype)])
    want = OPS[name].np_fn(x.astype(np.float64))
    # float32: computed in float64 and rounded once
    assert_ulp(name, x, native(name, x), want, dtype, bound if dtype == "float64" else 1)


@pytest.mark.parametrize("name,lo,rtol", [("gamma", -185, 2e-13), ("gammaln", -1e4, 1e-12), ("psi", -50, 1e-12),
                                          ("trigamma", -50, 1e-12)])
def test_special_functions_left_of_zero(name, lo, rtol):
    """The reflection formulas; relative error grows near the zeros of
    gammaln and psi (cancellation), so those points get an absolute bound."""
    rng = np.random.default_rng(5)
    x = rng.uniform(lo, 0, 3000)
    x = x[np.abs(x - np.round(x)) > 1e-6]
    got, want = native(name, x), OPS[name].np_fn(x)
    # gamma: down to -185, where gamma(1 - x) overflows but gamma(x) is subnormal or 0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-13 if name in ("gammaln", "psi") else 1e-320)


def test_arctan2_against_numpy():
    rng = np.random.default_rng(2)
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-310, 1e300])
    y = np.concatenate([np.repeat(special, special.size), rng.normal(0, 10, 4000)])
    x = np.concatenate([np.tile(special, special.size), rng.normal(0, 10, 4000)])
    for dtype in ("float64", "float32"):
        yd, xd = y.astype(dtype), x.astype(dtype)
        with np.errstate(all="ignore"):
            want = np.arctan2(yd.astype(np.float64), xd.astype(np.float64))
        got = native("arctan2", yd, xd)
        assert_ulp("arctan2", yd, got, want, dtype, 4)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want.astype(dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_values_and_domains(dtype):
    x = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1e-30, -1e-30], dtype)
    for name in list(LIBM) + ["trunc"]:
        with np.errstate(all="ignore"):
            want = getattr(np, name)(x)
        got = native(name, x)
        np.testing.assert_allclose(got, want, rtol=4e-7 if dtype == "float32" else 2e-16, equal_nan=True)
        np.testing.assert_array_equal(np.signbit(got[np.isfinite(got)]), np.signbit(want[np.isfinite(got)]))
    for name in SPECIAL:
        with np.errstate(over="ignore"):
            got, want = native(name, x), OPS[name].np_fn(x.astype(np.float64)).astype(dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-14, equal_nan=True,
                                   err_msg=name)


def test_erfc_is_accurate_in_the_tail():
    """Not 1 - erf(x): relative accuracy down to the smallest subnormals."""
    x = np.array([5.0, 10.0, 15.0, 20.0, 26.0, 26.5, 27.2, 28.0, -5.0, -30.0])
    got = native("erfc", x)
    want = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(got[:5], want[:5], rtol=1e-15)
    assert got[7] == 0.0 and got[8] == want[8] and got[9] == 2.0
    assert abs(got[6] - want[6]) <= 2 * 5e-324 and got[6] > 0     # subnormal


def test_dsl_functions_compile_fused_and_match():
    x = T.dvector("x")
    y = T.dvector("y")
    outs = [T.sinh(x) + T.cosh(x) * T.arcsinh(x), T.arctan2(y, x) * T.exp2(x), T.gammaln(T.abs(x) + 1) - T.psi(y * y + 1),
            T.iround(x * 3), T.trunc(x * 2.5), T.deg2rad(x) + T.rad2deg(y), T.inv(y + 3), T.erfc(x) + T.erfinv(x / 4),
            T.gamma(T.abs(y) + 0.5), T.arccos(x / 3) + T.arcsin(y / 3) + T.arctanh(x / 3) + T.arccosh(T.abs(y) + 1)]
    f = theon.function([x, y], outs)
    rng = np.random.default_rng(0)
    xd, yd = rng.uniform(-2, 2, 301), rng.uniform(-2, 2, 301)
    lg = np.vectorize(math.lgamma)
    want = [np.sinh(xd) + np.cosh(xd) * np.arcsinh(xd), np.arctan2(yd, xd) * np.exp2(xd),
            lg(np.abs(xd) + 1) - OPS["psi"].np_fn(yd * yd + 1),
            (np.sign(xd * 3) * np.floor(np.abs(xd * 3) + 0.5)).astype(np.int64), np.trunc(xd * 2.5),
            np.deg2rad(xd) + np.rad2deg(yd), 1 / (yd + 3),
            np.vectorize(math.erfc)(xd) + OPS["erfinv"].np_fn(xd / 4), np.vectorize(math.gamma)(np.abs(yd) + 0.5),
            np.arccos(xd / 3) + np.arcsin(yd / 3) + np.arctanh(xd / 3) + np.arccosh(np.abs(yd) + 1)]
    for k, (g, w) in enumerate(zip(f(xd, yd), want)):
        assert g.dtype == w.dtype, k
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-14, err_msg=str(k))


GRADS = [(T.exp2, (-3, 3)), (T.sinh, (-3, 3)), (T.cosh, (-3, 3)), (T.arcsin, (-0.9, 0.9)), (T.arccos, (-0.9, 0.9)),
         (T.arcsinh, (-3, 3)), (T.arccosh, (1.1, 4)), (T.arctanh, (-0.9, 0.9)), (T.erfc, (-2, 2)),
         (T.erfinv, (-0.9, 0.9)), (T.gamma, (0.2, 5)), (T.gammaln, (0.2, 20)), (T.psi, (0.3, 10)),
         (T.tri_gamma, (0.3, 10))]


@pytest.mark.parametrize("fn,box", GRADS, ids=[g[0].__name__ for g in GRADS])
def test_gradients_native(fn, box):
    rng = np.random.default_rng(1)
    if fn is T.tri_gamma:
        with pytest.raises(NotImplementedError, match="trigamma"):
            theon.gradient.verify_grad(fn, [rng.uniform(*box, 5)], rng=rng)
        return
    theon.gradient.verify_grad(fn, [rng.uniform(*box, (3, 4))], rng=rng)
    theon.gradient.verify_grad(fn, [rng.uniform(*box, 7).astype(np.float32)], rng=rng)


def test_arctan2_gradient_native():
    rng = np.random.default_rng(4)
    theon.gradient.verify_grad(T.arctan2, [rng.uniform(-2, 2, (2, 3)), rng.uniform(0.5, 2, 3) * [1, -1, 1]], rng=rng)
