"""The unsigned dtypes uint8/uint16/uint32/uint64 in native code: NumPy's
promotion and reduction dtypes (a uint8 sum is uint64), wrapping
arithmetic, unsigned division/compare/convert (LLVM udiv, urem, icmp u*,
uitofp, fptoui), saturating float->uint casts as the other integers, and
AOT/printing round trips of their values."""
import numpy as np
import pytest

import theon
import theon.tensor as T

UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]
RNG = np.random.default_rng(32)


def _data(dtype, n=64):
    top = np.iinfo(dtype).max
    x = RNG.integers(0, top, n, dtype=dtype, endpoint=True)
    x[:6] = [0, 1, top, top - 1, top // 2, top // 2 + 1]
    return x


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_arithmetic_and_compares_match_numpy(dtype):
    x, y = T.vector(dtype=dtype), T.vector(dtype=dtype)
    xd, yd = _data(dtype), _data(dtype)[::-1].copy()
    yd[7] = 0
    f = theon.function([x, y], [x + y, x - y, x * y, x // y, x % y, T.maximum(x, y), T.minimum(x, y),
                                x < y, x <= y, x > y, x >= y, T.eq(x, y), x & y, x | y, x ^ y, ~x, abs(x),
                                T.sgn(x), x ** 3, T.clip(x, 5, 100)])
    safe = np.where(yd == 0, 1, yd)
    with np.errstate(all="ignore"):
        want = [xd + yd, xd - yd, xd * yd, np.where(yd == 0, 0, xd // safe), np.where(yd == 0, 0, xd % safe),
                np.maximum(xd, yd), np.minimum(xd, yd), xd < yd, xd <= yd, xd > yd, xd >= yd, xd == yd,
                xd & yd, xd | yd, xd ^ yd, ~xd, xd, np.sign(xd), xd ** 3, np.clip(xd, 5, 100).astype(dtype)]
    for k, (g, w) in enumerate(zip(f(xd, yd), want)):
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w, err_msg=str(k))


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_reductions_and_argmax(dtype):
    x = T.matrix(dtype=dtype)
    xd = _data(dtype, 60).reshape(6, 10)
    f = theon.function([x], [T.sum(x), T.sum(x, axis=0), T.prod(x, axis=1), T.max(x, axis=1), T.min(x),
                             T.argmax(x, axis=1), T.argmin(x), T.mean(x)])
    with np.errstate(all="ignore"):
        want = [xd.sum(), xd.sum(axis=0), xd.prod(axis=1), xd.max(axis=1), xd.min(), xd.argmax(axis=1),
                xd.argmin(), xd.mean()]
    got = f(xd)
    assert got[0].dtype == np.uint64
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-12)
        else:
            np.testing.assert_array_equal(g, w, err_msg=str(k))


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_conversions(dtype):
    x = T.vector(dtype=dtype)
    xd = _data(dtype)
    f = theon.function([x], [T.cast(x, "float64"), T.cast(x, "float32"), T.cast(x, "int64"), T.cast(x, "int8"),
                             T.cast(x, "uint64"), T.cast(x, "bool"), x / 2, x + np.int64(1), x * 1.5])
    want = [xd.astype(np.float64), xd.astype(np.float32), xd.astype(np.int64), xd.astype(np.int8),
            xd.astype(np.uint64), xd != 0, xd / 2, xd + np.int64(1), xd * 1.5]
    for k, (g, w) in enumerate(zip(f(xd), want)):
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w, err_msg=str(k))
    # float -> unsigned: truncate, saturate at 0 and the max, NaN gives 0 (as the signed casts)
    d = T.dvector()
    g = theon.function([d], T.cast(d, dtype))
    top = np.iinfo(dtype).max
    vals = np.array([-5.0, -0.5, 0.0, 0.7, 3.99, float(top) * 4, np.nan, np.inf, -np.inf, 1e300])
    np.testing.assert_array_equal(g(vals), np.array([0, 0, 0, 0, 3, top, 0, top, 0, top], dtype))


def test_uint64_beyond_int64():
    x = T.vector(dtype="uint64")
    xd = np.array([2 ** 64 - 1, 2 ** 63, 2 ** 63 - 1, 3], np.uint64)
    f = theon.function([x], [x // 3, x % 10, x > np.uint64(2 ** 63), T.cast(x, "float64"), T.max(x), T.argmax(x)])
    got = f(xd)
    np.testing.assert_array_equal(got[0], xd // 3)
    np.testing.assert_array_equal(got[1], xd % 10)
    np.testing.assert_array_equal(got[2], xd > np.uint64(2 ** 63))
    np.testing.assert_array_equal(got[3], xd.astype(np.float64))
    assert got[4] == 2 ** 64 - 1 and got[5] == 0


def test_mixed_signed_unsigned_promotion():
    a, b = T.vector(dtype="uint32"), T.vector(dtype="int32")
    c, d = T.vector(dtype="uint64"), T.vector(dtype="int64")
    ad, bd = np.array([4_000_000_000, 1], np.uint32), np.array([-5, 7], np.int32)
    cd, dd = np.array([2 ** 63 + 5, 2], np.uint64), np.array([-1, 3], np.int64)
    f = theon.function([a, b, c, d], [a + b, a < b, c + d, c > d])
    got = f(ad, bd, cd, dd)
    want = [ad + bd, ad < bd, cd + dd, cd > dd]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_uint64_int64_comparisons_are_exact():
    """NumPy 2 compares uint64 with int64 exactly (no float64 rounding)."""
    c, d = T.vector(dtype="uint64"), T.vector(dtype="int64")
    cd = np.array([2 ** 63, 2 ** 63 - 1, 0, 5, 2 ** 64 - 1, 7], np.uint64)
    dd = np.array([2 ** 63 - 1, 2 ** 63 - 1, -1, -(2 ** 63), 2 ** 63 - 1, 7], np.int64)
    names = ["lt", "le", "gt", "ge", "eq", "neq"]
    f = theon.function([c, d], [getattr(T, n)(c, d) for n in names] + [getattr(T, n)(d, c) for n in names])
    refs = [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal]
    want = [r(cd, dd) for r in refs] + [r(dd, cd) for r in refs]
    for k, (g, w) in enumerate(zip(f(cd, dd), want)):
        np.testing.assert_array_equal(g, w, err_msg=str(k))


def test_aot_library_with_unsigned_and_special_functions(tmp_path):
    """aot-compile: unsigned C types in the header, results equal the JIT's."""
    import runpy
    from theon.runtime.aot_cli import main
    model = tmp_path / "model.py"
    model.write_text(
        "import theon, theon.tensor as T\n"
        "x = T.dvector('x')\n"
        "u = T.vector('u', dtype='uint32')\n"
        "special = theon.function([x, u], [T.gammaln(x), T.erfc(x), T.arctan2(x, x + 1), T.sum(u), u // 3,\n"
        "                                  T.cast(u, 'uint64') * 3])\n")
    out = tmp_path / "out"
    assert main([str(model), "-o", str(out), "--emit", "obj,header,shared"]) == 0
    header = (out / "special.h").read_text()
    assert "const uint32_t *u" in header and "uint64_t *out3" in header
    lib = theon.runtime.load_library(out / "libspecial.so")
    jit = runpy.run_path(str(model))["special"]
    x, u = np.array([0.5, 2.5, 10.0, -1.5]), np.array([4_000_000_000, 7, 0], np.uint32)
    for a, b in zip(lib(x, u), jit(x, u)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
