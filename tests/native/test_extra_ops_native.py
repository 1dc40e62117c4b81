"""Sorting and extra_ops in native code (codegen/cpu/lower/sorting.py,
extra.py): the shared table of cases (tests/extra_ops_helpers.py) compiled
and compared with NumPy (every dtype, axes, NaN/inf/signed zeros, lanes short
enough for insertion sort and long enough for both radix digit sizes,
non-contiguous and empty inputs), gradients against finite differences, bad
input (negative bincount values, out-of-range ravel/unravel indices,
negative repeats) as Python exceptions in a subprocess, and aot-compile."""
import numpy as np
import pytest

import theon
import theon.tensor as T

from ..extra_ops_helpers import assert_matches, extra_cases, noncontiguous_cases, sort_cases, symbolic_inputs
from ..compile_helpers import shared_function

SORT = sort_cases()
EXTRA = extra_cases() + noncontiguous_cases()


def _check(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    f = shared_function(xs, build(*xs), on_unused_input="ignore")     # one compile per dtype and rank
    assert_matches(f(*arrays), numpy_fn(*arrays), case_id)


@pytest.mark.parametrize("case", SORT, ids=[c[0] for c in SORT])
def test_sort_against_numpy(case):
    _check(case)


@pytest.mark.parametrize("case", EXTRA, ids=[c[0] for c in EXTRA])
def test_extra_ops_against_numpy(case):
    _check(case)


def test_sort_keeps_nan_last_and_signed_zero_order():
    x = T.dvector()
    f = theon.function([x], [T.sort(x), T.argsort(x)])
    a = np.array([np.nan, -0.0, 0.0, -np.nan, -np.inf, 0.0, -0.0, 1e-310, -1e-310] * 5)
    s, p = f(a)
    np.testing.assert_array_equal(s, np.sort(a))
    np.testing.assert_array_equal(p, np.argsort(a, kind="stable"))
    assert np.isnan(s[-10:]).all()


@pytest.mark.parametrize("n", [100, 5000, 100000])
def test_sort_int64_extremes(n):
    rng = np.random.default_rng(n)
    a = rng.integers(-2 ** 63, 2 ** 63 - 1, n, dtype=np.int64)
    a[:4] = [-2 ** 63, 2 ** 63 - 1, 0, -1]
    x = T.lvector()
    s, p = theon.function([x], [T.sort(x), T.argsort(x)])(a)
    np.testing.assert_array_equal(s, np.sort(a))
    np.testing.assert_array_equal(p, np.argsort(a, kind="stable"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "int64", "uint8"])
def test_sort_lanes_on_the_thread_pool(dtype):
    """Lanes of 2**18 elements and more run their radix passes in parallel
    parts (per-part counts and offsets, stable across parts)."""
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((2, 300_001)) * 100).astype(dtype)
    a[0, ::11] = a[0, 5]                    # ties: stability across the parts
    x = T.tensor(dtype, shape=(None, None))
    s, p, s0 = theon.function([x], [T.sort(x), T.argsort(x), T.sort(x[:, :3000].T.flatten())])(a)
    np.testing.assert_array_equal(s, np.sort(a, axis=-1))
    np.testing.assert_array_equal(p, np.argsort(a, axis=-1, kind="stable"))
    np.testing.assert_array_equal(s0, np.sort(a[:, :3000].T.flatten()))


# --- gradients --------------------------------------------------------------------------------
GRADS = [
    ("sort", lambda x: T.sort(x, axis=0), (5, 4)),
    ("sort-lastaxis", lambda x: T.sort(x * x), (3, 40)),
    ("sort-none", lambda x: T.sort(x, axis=None), (3, 4)),
    ("cumsum", lambda x: T.cumsum(x, axis=1), (3, 5)),
    ("cumsum-none", lambda x: T.cumsum(x), (3, 5)),
    ("cumprod", lambda x: T.cumprod(x, axis=0), (4, 3)),
    ("diff", lambda x: T.diff(x, n=2, axis=0), (5, 3)),
    ("repeat", lambda x: T.repeat(x, [2, 0, 1, 3], axis=0), (4, 3)),
    ("repeat-scalar", lambda x: T.repeat(x, 3, axis=1), (2, 3)),
    ("bincount", lambda w: T.bincount(T.constant(np.array([0, 3, 3, 1, 0, 5])), w), (6,)),
    ("fill_diagonal", lambda x: T.fill_diagonal(x, x[0, 1] * 2), (4, 3)),
    ("fill_diagonal_offset", lambda x: T.fill_diagonal_offset(x, x[1, 1], 1), (3, 4)),
    ("unique", lambda x: T.unique(T.round(x))[:2] * 1.0, (6,)),
]


@pytest.mark.parametrize("name,fn,shape", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_against_finite_differences(name, fn, shape):
    rng = np.random.default_rng(0)
    pt = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
    if name == "unique":
        pt = np.array([3.2, 0.1, 3.1, 1.2, 0.2, 5.0])
    theon.gradient.verify_grad(fn, [pt], rng=rng)


def test_sort_gradient_routes_through_the_permutation():
    x = T.dvector()
    g = theon.grad(T.sum(T.sort(x) * T.arange(5.0)), x)
    a = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    np.testing.assert_array_equal(theon.function([x], g)(a), np.argsort(np.argsort(a)).astype(float))


# --- bad input --------------------------------------------------------------------------------
BAD = [
    ("T.bincount(x)", "np.array([1, 4, -2, 3])", "ValueError", "non-negative"),
    ("T.ravel_multi_index((x, x), (5, 5))", "np.array([1, 4, 5])", "IndexError", "out of range"),
    ("T.ravel_multi_index((x, x), (5, 5))", "np.array([1, -1])", "IndexError", "out of range"),
    ("T.unravel_index(x, (2, 3))", "np.array([6])", "IndexError", "out of range"),
    ("T.repeat(x, x)", "np.array([1, -4])", "ValueError", "negative"),
    ("T.repeat(x[:2], x)", "np.array([1, 2, 3])", "ValueError", "shape mismatch"),
    ("T.searchsorted(x, x, sorter=x)", "np.array([1, 9])", "IndexError", "out of bounds"),
]


@pytest.mark.parametrize("expr,value,exc,words", BAD, ids=[b[0] + " " + b[1] for b in BAD])
def test_bad_input_raises(run_python, expr, value, exc, words):
    code = f"""
        import numpy as np, theon, theon.tensor as T
        x = T.lvector("x")
        f = theon.function([x], {expr})
        try:
            f({value})
        except {exc} as e:
            print("RAISED", e)
        else:
            print("NO ERROR")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "RAISED" in r.stdout and words in r.stdout, r.stdout


AOT_SOURCE = """
import theon, theon.tensor as T
x = T.fvector("x")
k = T.lvector("k")
extra = theon.function([x, k], [T.sort(x), T.argsort(x), T.cumsum(x), T.bincount(k), T.repeat(x[:2], k[:2], axis=0),
                                T.searchsorted(T.sort(x), x[:5]), T.unique(k)])
"""


def test_aot_compile(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "extra.py"
    src.write_text(AOT_SOURCE)
    r = subprocess.run([sys.executable, "-m", "theon.runtime.aot_cli", str(src), "-o", str(tmp_path),
                        "--emit", "header,shared"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    g = theon.runtime.load_library(tmp_path / "libextra.so")
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(3000) * 5).astype("float32")
    k = rng.integers(0, 9, 40)
    s, p, c, b, rep, ss, u = g(a, k)
    np.testing.assert_array_equal(s, np.sort(a))
    np.testing.assert_array_equal(p, np.argsort(a, kind="stable"))
    np.testing.assert_allclose(c, np.cumsum(a), rtol=1e-5)
    np.testing.assert_array_equal(b, np.bincount(k))
    np.testing.assert_array_equal(rep, np.repeat(a[:2], k[:2]))
    np.testing.assert_array_equal(ss, np.searchsorted(np.sort(a), a[:5]))
    np.testing.assert_array_equal(u, np.unique(k))


# --- random inputs (hypothesis) -----------------------------------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_COMPILED = {}


def _random_fn(dtype):
    if dtype not in _COMPILED:
        x = T.tensor(dtype, shape=(None, None))
        flat = x.flatten()
        outs = [T.sort(x, 0), T.sort(x, 1), T.argsort(x, 0), T.argsort(x, 1), T.cumsum(x, 0), T.cumsum(x, 1),
                T.searchsorted(T.sort(flat), flat, side="right"), T.repeat(x, 2, axis=1)]
        _COMPILED[dtype] = theon.function([x], outs)
    return _COMPILED[dtype]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(["float32", "float64", "int32", "uint8"]), rows=st.integers(0, 40),
       cols=st.integers(0, 80), spread=st.sampled_from([2, 50, 10 ** 6]), seed=st.integers(0, 2 ** 16))
def test_random_arrays_against_numpy(dtype, rows, cols, spread, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-spread, spread, (rows, cols))
    if dtype.startswith("float"):
        a = a / 7.0
        a[rng.random(a.shape) < 0.05] = np.nan
    a = a.astype(dtype)
    got = _random_fn(dtype)(a)
    flat = np.sort(a.ravel())
    with np.errstate(all="ignore"):
        expected = [np.sort(a, 0), np.sort(a, 1), np.argsort(a, 0, kind="stable"), np.argsort(a, 1, kind="stable"),
                    np.cumsum(a, 0, dtype=got[4].dtype), np.cumsum(a, 1, dtype=got[5].dtype),
                    np.searchsorted(flat, a.ravel(), side="right"), np.repeat(a, 2, axis=1)]
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, k
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=1e-5, err_msg=str(k))
        else:
            np.testing.assert_array_equal(g, e, err_msg=str(k))


def test_unique_axis_static_columns_and_gradient():
    """A static column count sorts the rows in an unrolled loop (a scan
    otherwise, the shared table); the gradient of the unique slices reaches
    each one's first occurrence (a gather)."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, (12, 3, 2)).astype("float64")
    for static in (True, False):
        x = T.tensor("float64", shape=(None, 3, 2) if static else (None, None, None))
        u, idx, inv, cnt = T.unique(x, True, True, True, axis=0)
        w = T.dtensor3()
        g = theon.grad((u * w).sum(), x)
        f = theon.function([x, w], [u, idx, inv, cnt, g])
        want = np.unique(a, True, True, True, axis=0)
        wv = rng.standard_normal(want[0].shape)
        got = f(a, wv)
        for gv, wantv in zip(got[:4], want):
            np.testing.assert_array_equal(gv, wantv)
        expect = np.zeros_like(a)
        expect[want[1]] = wv
        np.testing.assert_array_equal(got[4], expect)
