"""The elementwise math added for Theano's API (exp2, sinh, cosh, arcsin,
arccos, arcsinh, arccosh, arctanh, arctan2, erfc, erfinv, gamma, gammaln,
psi, tri_gamma, trunc; deg2rad, rad2deg, inv, iround, ceil_intdiv,
largest, smallest), the unsigned dtypes and the typed constructors, at the
graph level: NumPy's dtypes, the reference interpreter's values against
NumPy / the ``math`` module, gradients against finite differences, and the
references' own accuracy (psi, trigamma and erfinv have no NumPy function:
they are checked against identities).

Native code is checked in tests/native/test_elementwise_math.py."""
import math

import numpy as np
import pytest

import theon.tensor as T
from theon.ir.dialect import OPS

from ..frontend_helpers import assert_same, run
from ..grad_helpers import check_first_order, op

RNG = np.random.default_rng(16)
NUMPY_UNARY = [("exp2", np.exp2, (-20, 20)), ("sinh", np.sinh, (-5, 5)), ("cosh", np.cosh, (-5, 5)),
               ("arcsin", np.arcsin, (-1, 1)), ("arccos", np.arccos, (-1, 1)),
               ("arcsinh", np.arcsinh, (-9, 9)), ("arccosh", np.arccosh, (1, 9)),
               ("arctanh", np.arctanh, (-1, 1)), ("trunc", np.trunc, (-5, 5)),
               ("deg2rad", np.deg2rad, (-400, 400)), ("rad2deg", np.rad2deg, (-7, 7))]
MATH_UNARY = [("erfc", math.erfc, (-6, 27)), ("gamma", math.gamma, (0.1, 30)), ("gammaln", math.lgamma, (0.1, 300))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,ref,box", NUMPY_UNARY, ids=[r[0] for r in NUMPY_UNARY])
def test_numpy_functions(name, ref, box, dtype):
    x = T.vector(dtype=dtype)
    data = RNG.uniform(*box, 50).astype(dtype)
    assert_same(run([x], getattr(T, name)(x), data), ref(data), rtol=1e-5 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("name,ref,box", MATH_UNARY, ids=[r[0] for r in MATH_UNARY])
def test_math_module_functions(name, ref, box):
    x = T.dvector()
    data = RNG.uniform(*box, 50)
    assert_same(run([x], getattr(T, name)(x), data), np.array([ref(v) for v in data]), rtol=1e-14)


@pytest.mark.parametrize("dtype,out", [("int8", "float32"), ("uint8", "float32"), ("int16", "float32"),
                                       ("int32", "float64"), ("uint32", "float64"), ("bool", "float32"),
                                       ("float32", "float32")])
def test_float_math_on_ints_uses_numpy_float_dtype(dtype, out):
    x = T.vector(dtype=dtype)
    for fn in (T.sinh, T.arcsinh, T.exp2, T.erfc, T.gamma, T.gammaln, T.psi, T.erfinv, T.deg2rad):
        assert fn(x).dtype == out, fn.__name__
    assert T.arctan2(x, x).dtype == out
    assert T.trunc(x).dtype == dtype                 # the identity on ints, as floor
    assert T.iround(x).dtype == "int64"


def test_arctan2_quadrants_and_broadcasting():
    y, x = T.dmatrix(), T.dvector()
    yd = np.array([[0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]]).T * np.ones((1, 5))
    xd = np.array([0.0, -0.0, 2.0, -2.0, np.inf])
    assert_same(run([y, x], T.arctan2(y, x), yd, xd), np.arctan2(yd, xd))


def test_domain_errors_give_nan_as_numpy():
    x = T.dvector()
    data = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, np.inf, -np.inf, np.nan])
    for name in ("arcsin", "arccos", "arccosh", "arctanh"):
        with np.errstate(all="ignore"):
            assert_same(run([x], getattr(T, name)(x), data), getattr(np, name)(data))
    got = run([x], [T.erfinv(x), T.gamma(x), T.gammaln(x), T.psi(x), T.tri_gamma(x)], data)
    nan, inf = np.nan, np.inf
    assert_same(got[0], [nan, -inf, -0.4769362762044699, 0, 0.4769362762044699, inf, nan, nan, nan, nan])
    assert_same(got[1], [nan, nan, -2 * math.sqrt(math.pi), inf, math.sqrt(math.pi), 1, 1, inf, nan, nan])
    assert_same(got[2], [inf, inf, math.log(2 * math.sqrt(math.pi)), inf, math.log(math.sqrt(math.pi)), 0, 0,
                         inf, inf, nan])
    assert np.isnan(got[3][[0, 1, 8, 9]]).all() and got[3][3] == -inf and got[3][7] == inf
    assert got[4][0] == inf and got[4][3] == inf and np.isnan(got[4][[8, 9]]).all()
    assert_same(run([x], T.gamma(x), np.array([-0.0])), np.array([-np.inf]))


def test_psi_reference_satisfies_identities():
    psi = OPS["psi"].np_fn
    euler = 0.5772156649015329
    assert psi(np.array([1.0]))[0] == pytest.approx(-euler, rel=1e-15)
    assert psi(np.array([0.5]))[0] == pytest.approx(-euler - 2 * math.log(2), rel=1e-15)
    x = RNG.uniform(-20, 30, 200)
    x = x[np.abs(x - np.round(x)) > 1e-3]
    np.testing.assert_allclose(psi(x + 1), psi(x) + 1 / x, rtol=1e-12, atol=1e-13)
    # the derivative of lgamma
    h = 1e-5
    xp = x[x > 0.5]
    fd = np.array([(math.lgamma(v + h) - math.lgamma(v - h)) / (2 * h) for v in xp])
    np.testing.assert_allclose(psi(xp), fd, rtol=1e-7, atol=1e-7)


def test_trigamma_and_erfinv_references_satisfy_identities():
    tri = OPS["trigamma"].np_fn
    assert tri(np.array([1.0]))[0] == pytest.approx(math.pi ** 2 / 6, rel=1e-15)
    assert tri(np.array([0.5]))[0] == pytest.approx(math.pi ** 2 / 2, rel=1e-15)
    x = RNG.uniform(-20, 30, 200)
    x = x[np.abs(x - np.round(x)) > 1e-3]
    np.testing.assert_allclose(tri(x), tri(x + 1) + 1 / x ** 2, rtol=1e-12)
    erfinv = OPS["erfinv"].np_fn
    y = np.concatenate([RNG.uniform(-1, 1, 200), 1 - np.exp(RNG.uniform(-36, -1, 50))])
    z = erfinv(y)
    np.testing.assert_allclose([math.erf(v) for v in z], y, rtol=1e-15, atol=2e-16)
    tail = y > 0.5
    np.testing.assert_allclose([math.erfc(v) for v in z[tail]], 1 - y[tail], rtol=1e-13)


def test_compositions():
    x = T.dvector()
    data = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.7, -3.7, 0.0])
    assert_same(run([x], T.iround(x), data), np.array([-3, -2, -1, 1, 2, 3, 4, -4, 0]))
    assert_same(run([x], T.iround(x, "half_to_even"), data), np.round(data).astype(np.int64))
    with np.errstate(divide="ignore"):
        assert_same(run([x], T.inv(x), data), 1 / data)
    i = T.ivector()
    idata = np.array([1, 2, 4], np.int32)
    assert_same(run([i], T.inv(i), idata), 1 / idata)
    a, b = T.lvector(), T.lvector()
    ad, bd = np.array([7, -7, 6, -6, 0]), np.array([2, 2, 3, 3, 5])
    assert_same(run([a, b], T.ceil_intdiv(a, b), ad, bd), -(-ad // bd))
    c = T.dvector()
    assert_same(run([x, c], T.largest(x, c, 1.0), data, data[::-1].copy()),
                np.maximum(np.maximum(data, data[::-1]), 1.0))
    assert_same(run([x, c], T.smallest(x, c), data, data[::-1].copy()), np.minimum(data, data[::-1]))
    with pytest.raises(TypeError, match="largest"):
        T.largest()


SYM = RNG.uniform(0.2, 0.9, (2, 3)) * RNG.choice([-1.0, 1.0], (2, 3))
GRAD_ROWS = [("exp2", SYM), ("sinh", SYM), ("cosh", SYM), ("arcsin", SYM), ("arccos", SYM), ("arcsinh", SYM),
             ("arccosh", 1.2 + np.abs(SYM)), ("arctanh", SYM), ("erfc", SYM), ("erfinv", SYM),
             ("gamma", np.abs(SYM) * 3), ("gamma", -0.5 + 0.3 * SYM), ("gammaln", np.abs(SYM) * 3),
             ("gammaln", -2.5 + 0.3 * SYM), ("psi", np.abs(SYM) * 3), ("psi", -1.5 + 0.3 * SYM)]


@pytest.mark.parametrize("name,x", GRAD_ROWS, ids=[f"{r[0]}-{k}" for k, r in enumerate(GRAD_ROWS)])
def test_gradient_against_finite_differences(name, x):
    check_first_order(lambda v: op(name, v), [x], [0], dynamic=False, rtol=1e-6, atol=1e-6)


def test_arctan2_gradient():
    y = RNG.uniform(-2, 2, (2, 3))
    x = RNG.uniform(0.5, 2, (3,)) * np.array([1, -1, 1])
    check_first_order(lambda a, b: op("arctan2", a, b), [y, x], [0, 1], dynamic=True)


def test_trigamma_has_no_second_derivative():
    x = T.dvector()
    g = T.grad(T.sum(T.psi(x)), x)                   # trigamma
    with pytest.raises(NotImplementedError, match="trigamma"):
        T.grad(T.sum(g), x)


# --- unsigned dtypes ------------------------------------------------------------------------------
UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_types_and_reductions(dtype):
    x = T.vector(dtype=dtype)
    assert x.dtype == dtype and str(x.type).endswith(f"u{dtype[4:]}>")
    assert T.sum(x).dtype == np.sum(np.zeros(1, dtype)).dtype.name == "uint64"
    assert T.prod(x).dtype == "uint64"
    assert T.max(x).dtype == dtype
    assert T.mean(x).dtype == "float64"
    data = np.array([0, 1, np.iinfo(dtype).max, 7], dtype)
    assert_same(run([x], [T.sum(x)], data)[0], np.sum(data))
    assert_same(run([x], [T.max(x), T.min(x), T.argmax(x)], data), [data.max(), data.min(), np.argmax(data)])


@pytest.mark.parametrize("a", UNSIGNED + ["int8", "int32", "int64", "float32", "bool"])
@pytest.mark.parametrize("b", UNSIGNED)
def test_unsigned_promotion_matches_numpy(a, b):
    x, y = T.vector(dtype=a), T.vector(dtype=b)
    expected = (np.zeros(1, a) + np.zeros(1, b)).dtype
    assert (x + y).dtype == expected.name
    assert (x * 2).dtype == (np.zeros(1, a) * 2).dtype.name


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_arithmetic_in_the_interpreter(dtype):
    x, y = T.vector(dtype=dtype), T.vector(dtype=dtype)
    top = np.iinfo(dtype).max
    xd = np.array([0, 1, top, top - 1, 5, 100], dtype)
    yd = np.array([3, 0, 2, top, 7, 100], dtype)
    with np.errstate(all="ignore"):
        expected = [xd + yd, xd - yd, xd * yd, np.where(yd == 0, 0, xd // np.where(yd == 0, 1, yd)),
                    xd < yd, xd >= yd, np.maximum(xd, yd)]
    got = run([x, y], [x + y, x - y, x * y, x // y, x < y, x >= y, T.maximum(x, y)], xd, yd)
    for g, e in zip(got, expected):
        assert_same(g, e)


def test_unsigned_casts_saturate_like_the_other_ints():
    x = T.dvector()
    data = np.array([-1.0, 0.0, 3.7, 2.0 ** 64, 1e300, np.nan, 2.0 ** 63])
    got = run([x], [T.cast(x, "uint64"), T.cast(x, "uint32"), T.cast(x, "uint16")], data)
    assert_same(got[0], np.array([0, 0, 3, 2 ** 64 - 1, 2 ** 64 - 1, 0, 2 ** 63], np.uint64))
    assert_same(got[1], np.array([0, 0, 3, 2 ** 32 - 1, 2 ** 32 - 1, 0, 2 ** 32 - 1], np.uint32))
    assert_same(got[2], np.array([0, 0, 3, 65535, 65535, 0, 65535], np.uint16))


# --- typed constructors ---------------------------------------------------------------------------
def test_typed_constructors_up_to_seven_dims():
    for nd, kind in [(5, "tensor5"), (6, "tensor6"), (7, "tensor7")]:
        v = getattr(T, kind)("v")
        assert v.ndim == nd and v.name == "v"
        for prefix, dtype in [("f", "float32"), ("d", "float64"), ("i", "int32"), ("l", "int64"),
                              ("b", "int8"), ("w", "int16")]:
            assert getattr(T, prefix + kind)().dtype == dtype
        for prefix in ("", "f", "d", "i", "l"):
            a, b = getattr(T, f"{prefix}{kind}s")("a, b")
            assert (a.name, b.name, a.ndim) == ("a", "b", nd)
    for name, nd, dtype in [("irows", 2, "int32"), ("lrows", 2, "int64"), ("frows", 2, "float32"),
                            ("drows", 2, "float64"), ("icols", 2, "int32"), ("dcols", 2, "float64"),
                            ("ftensor3s", 3, "float32"), ("ltensor4s", 4, "int64"), ("dmatrices", 2, "float64")]:
        vs = getattr(T, name)(3)
        assert len(vs) == 3 and all(v.ndim == nd and v.dtype == dtype for v in vs), name
    assert T.irows(1)[0].broadcastable == (True, False) and T.dcols(1)[0].broadcastable == (False, True)
    with pytest.raises(TypeError, match="tensor6s"):
        T.tensor6s(3.5)


def test_math_methods():
    x = T.dvector()
    data = RNG.uniform(1.1, 2, 6)
    for name in ("arccosh", "arcsinh", "exp2", "log2", "trunc", "sinh", "deg2rad", "sqrt"):
        assert_same(run([x], getattr(x, name)(), data), getattr(np, name)(data))
