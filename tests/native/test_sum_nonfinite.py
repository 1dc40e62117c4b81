"""Sums holding inf, -inf and NaN give what NumPy gives, in FAST_COMPILE
(the reduction lowering) and FAST_RUN (fused reductions), at lengths on
both sides of the compensated block size, for float32 and float64.

The compensation of a Kahan sum (``codegen/accumulate.Accumulator``) must
not turn an infinite sum into NaN (inf - inf) once later blocks are added."""
import functools

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.accumulate import BLOCK

MODES = ("FAST_COMPILE", "FAST_RUN")
DTYPES = ("float32", "float64")
LENGTHS = (1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 3, 5000)
SPECIALS = {
    "inf": [np.inf],
    "-inf": [-np.inf],
    "inf,-inf": [np.inf, -np.inf],
    "nan": [np.nan],
    "inf,nan": [np.inf, np.nan],
    "inf,inf": [np.inf, np.inf],
}


@functools.lru_cache(maxsize=None)
def summer(mode, dtype, kind):
    if kind == "all":
        x = T.vector("x", dtype=dtype)
        return theon.function([x], x.sum(), mode=mode)
    x = T.matrix("x", dtype=dtype)
    return theon.function([x], x.sum(axis=1 if kind == "rows" else 0), mode=mode)


def filled(n, dtype, specials, positions, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, n).astype(dtype)
    for v, p in zip(specials, positions):
        a[p % n] = v
    return a


def check(got, want, dtype):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got) & (got > 0), np.isinf(want) & (want > 0))
    np.testing.assert_array_equal(np.isinf(got) & (got < 0), np.isinf(want) & (want < 0))
    finite = np.isfinite(want)
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("special", sorted(SPECIALS))
def test_sum_of_a_vector(mode, dtype, special):
    f = summer(mode, dtype, "all")
    for n in LENGTHS:
        specials = SPECIALS[special][:n]
        # the special values early, in a middle block, last, and all in one block
        for positions in ([0, 1], [n // 2, n // 2 + BLOCK], [n - 1, n - 2], [BLOCK + 5, BLOCK + 9]):
            a = filled(n, dtype, specials, positions, seed=n)
            check(f(a), np.sum(a), dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["rows", "cols"])
def test_sum_along_an_axis(mode, dtype, kind):
    f = summer(mode, dtype, kind)
    axis = 1 if kind == "rows" else 0
    rng = np.random.default_rng(1)
    for shape in ((3, BLOCK + 1), (BLOCK + 2, 3), (4, 3 * BLOCK)):
        a = rng.uniform(-1, 1, shape).astype(dtype)
        flat = a.reshape(-1)
        for v in (np.inf, -np.inf, np.nan, np.inf, -np.inf):
            flat[rng.integers(flat.size)] = v
        a[0, :] = np.inf                       # a whole row infinite
        a[:, -1] = -np.inf if shape[0] > 3 else a[:, -1]
        check(f(a), np.sum(a, axis=axis), dtype)


def test_the_compensation_still_helps():
    """Finite sums stay compensated across blocks: 1 + many terms below
    half an ulp of 1 (a plain running sum stays 1.0, off by 1e-12) is off
    by at most about one block's rounding."""
    import math
    n = 20 * BLOCK
    a = np.full(n, 1e-16)
    a[0] = 1.0
    for mode in MODES:
        got = summer(mode, "float64", "all")(a)
        assert abs(got - math.fsum(a)) <= BLOCK * 2.3e-16, (mode, got, math.fsum(a))
