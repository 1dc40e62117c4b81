"""Input memory layouts: compiled functions read inputs through their
strides, so every layout of the same values gives the same results.

Layouts: C order, Fortran order, transposed views, negative strides,
strided slices, stride-0 broadcasts (``np.broadcast_to``, read-only),
unaligned and byte-swapped buffers. Each is fed to one function per dtype
that holds elementwise ops, reductions, products, indexing and joins; the
results must equal those of the C-contiguous copy of the same values (exactly,
except float reductions and products, whose summation order may differ) and
NumPy's. Results are fresh, writeable, C-contiguous arrays that share memory
with no input and no other result.
"""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T

from ..mirror_helpers import np_inc, np_set

LAYOUTS = ["C", "F", "transposed", "reversed", "strided", "broadcast_rows", "broadcast_all",
           "unaligned", "byteswapped"]


def layout(values, kind):
    """An array equal to ``values`` (C-contiguous, any ndim) stored as ``kind``;
    for the broadcast kinds the values are first made constant along axis 0
    (or everywhere), which the caller reads back from the returned array."""
    v = np.ascontiguousarray(values)
    if kind == "C":
        return v.copy()
    if kind == "F":
        return np.asfortranarray(v)
    if kind == "transposed":
        return np.ascontiguousarray(v.T).T
    if kind == "reversed":
        flip = (slice(None, None, -1),) * v.ndim
        return v[flip].copy()[flip]
    if kind == "strided":
        big = np.zeros(tuple(2 * n + 1 for n in v.shape), v.dtype)
        view = big[(slice(1, None, 2),) * v.ndim]
        view[...] = v
        return view
    if kind == "broadcast_rows":
        if v.ndim == 0:
            return v.copy()
        return np.broadcast_to(v[:1], v.shape)
    if kind == "broadcast_all":
        return np.broadcast_to(v.reshape(-1)[0], v.shape) if v.size else v.copy()
    if kind == "unaligned":
        buf = np.zeros(v.nbytes + 1, np.uint8)
        out = np.frombuffer(buf.data, dtype=v.dtype, count=v.size, offset=1).reshape(v.shape)
        out[...] = v
        return out
    if kind == "byteswapped":
        return v.astype(v.dtype.newbyteorder("S"))
    raise ValueError(kind)


@functools.lru_cache(maxsize=None)
def build(dtype, exclude=()):
    """One function of A (m, n), B (m, n), v (n,), t (p, m, n), i (int64 0-d)."""
    A = T.tensor(dtype, shape=(None, None), name="A")
    B = T.tensor(dtype, shape=(None, None), name="B")
    v = T.tensor(dtype, shape=(None,), name="v")
    t = T.tensor(dtype, shape=(None, None, None), name="t")
    i = T.lscalar("i")
    is_float = dtype.startswith("float")
    outs = {
        # elementwise (exact)
        "A+B": A + B,
        "A*v": A * v,
        "A>B": A > B,
        "where": T.where(A > v, A, B),
        "max(A, t)": T.maximum(A, t),
        "A-2": A - 2,
        "identity A": A,
        "A.T": A.T,
        "t transposed": t.transpose(2, 0, 1),
        "A copy": A.copy(),
        # indexing and joins (exact)
        "A[1:, ::-1]": A[1:, ::-1],
        "A[:, i]": A[:, i],
        "t[::-1, :, i]": t[::-1, :, i],
        "set_subtensor": T.set_subtensor(A[::2], v),
        "inc_subtensor": T.inc_subtensor(t[:, 1:], A[:-1]),
        "concatenate": T.concatenate([A, B, A.T.T], axis=1),
        "reshape": t.reshape((-1,)),
        "flatten2": t.flatten(ndim=2),
        # reductions and products (tolerance for floats)
        "sum A 0": A.sum(axis=0),
        "sum A 1": A.sum(axis=1),
        "sum t (0,2)": t.sum(axis=(0, 2)),
        "max A": A.max(),
        "min t 1": t.min(axis=1),
        "argmax A 1": T.argmax(A, axis=1),
        "argmin t 0": T.argmin(t, axis=0),
        "A @ B.T": T.dot(A, B.T),
        "A.T @ B": T.dot(A.T, B),
        "A @ v": T.dot(A, v),
        "t @ B.T": T.matmul(t, B.T),
    }
    if is_float:
        outs.update({
            "exp(A)*B": T.exp(A) * B,
            "tanh(t)+v": T.tanh(t) + v,
            "mean t": t.mean(axis=2),
            "logsumexp": T.logsumexp(A, axis=0),
            "softmax": T.nnet.softmax(B),
        })
    outs = {k: o for k, o in outs.items() if k not in exclude}
    # functions of at most 12 outputs: compile time grows faster than linearly with size
    values = list(outs.values())
    functions = [theon.function([A, B, v, t, i], values[k:k + 12], on_unused_input="ignore")
                 for k in range(0, len(values), 12)]

    def f(*args):
        return [r for g in functions for r in g(*args)]
    return f, list(outs)


def numpy_reference(name, A, B, v, t, i):
    with np.errstate(all="ignore"):
        return {
            "A+B": lambda: A + B, "A*v": lambda: A * v, "A>B": lambda: A > B,
            "where": lambda: np.where(A > v, A, B), "max(A, t)": lambda: np.maximum(A, t),
            "A-2": lambda: A - 2, "identity A": lambda: A, "A.T": lambda: A.T,
            "t transposed": lambda: t.transpose(2, 0, 1), "A copy": lambda: A,
            "A[1:, ::-1]": lambda: A[1:, ::-1], "A[:, i]": lambda: A[:, i],
            "t[::-1, :, i]": lambda: t[::-1, :, i],
            "set_subtensor": lambda: np_set(A, np.s_[::2], v),
            "inc_subtensor": lambda: np_inc(t, np.s_[:, 1:], A[:-1]),
            "concatenate": lambda: np.concatenate([A, B, A], axis=1),
            "reshape": lambda: t.reshape(-1),
            "flatten2": lambda: t.reshape(t.shape[0], t.shape[1] * t.shape[2]),
            "sum A 0": lambda: A.sum(axis=0), "sum A 1": lambda: A.sum(axis=1),
            "sum t (0,2)": lambda: t.sum(axis=(0, 2)), "max A": lambda: A.max(),
            "min t 1": lambda: t.min(axis=1), "argmax A 1": lambda: A.argmax(axis=1),
            "argmin t 0": lambda: t.argmin(axis=0), "A @ B.T": lambda: A @ B.T,
            "A.T @ B": lambda: A.T @ B, "A @ v": lambda: A @ v, "t @ B.T": lambda: t @ B.T,
            "exp(A)*B": lambda: np.exp(A) * B, "tanh(t)+v": lambda: np.tanh(t) + v,
            "mean t": lambda: t.mean(axis=2),
            "logsumexp": lambda: np.log(np.exp(A - A.max(0)).sum(0)) + A.max(0),
            "softmax": lambda: np.exp(B - B.max(1, keepdims=True))
            / np.exp(B - B.max(1, keepdims=True)).sum(1, keepdims=True),
        }[name]()


INEXACT = {"sum A 0", "sum A 1", "sum t (0,2)", "A @ B.T", "A.T @ B", "A @ v", "t @ B.T",
           "mean t", "logsumexp", "softmax", "exp(A)*B", "tanh(t)+v"}


def values(rng, dtype, shape):
    if dtype.startswith("float"):
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(-50, 50, size=shape).astype(dtype)


def check_results(f, names, dtype, arrays, ref_results=None):
    """Call ``f`` on ``arrays``; check results are fresh C arrays matching NumPy
    (and ``ref_results``, the results for C-contiguous copies)."""
    inputs_before = [np.array(a, copy=True) for a in arrays]
    got = f(*arrays)
    # inputs are never written
    for a, before in zip(arrays, inputs_before):
        np.testing.assert_array_equal(a, before)
    plain = [np.ascontiguousarray(a, dtype=np.dtype(dtype)) if np.ndim(a) else a for a in arrays]
    rtol = 2e-5 if dtype == "float32" else 1e-12
    for k, (name, g) in enumerate(zip(names, got)):
        assert isinstance(g, np.ndarray), name
        assert g.flags.c_contiguous and g.flags.writeable and g.flags.aligned, (name, g.flags)
        assert g.dtype.isnative, name
        for a in arrays:
            if isinstance(a, np.ndarray):
                assert not np.shares_memory(g, a), f"{name} aliases an input"
        for other_name, other in zip(names[k + 1:], got[k + 1:]):
            assert not np.shares_memory(g, other), f"{name} aliases {other_name}"
        ref = np.asarray(numpy_reference(name, *plain))
        assert g.shape == ref.shape, (name, g.shape, ref.shape)
        if name in INEXACT and g.dtype.kind == "f":
            np.testing.assert_allclose(g, ref, rtol=rtol, atol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(g, ref, err_msg=name)
        if ref_results is not None:
            if name in INEXACT and g.dtype.kind == "f":
                np.testing.assert_allclose(g, ref_results[k], rtol=rtol, atol=rtol, err_msg=name)
            else:
                np.testing.assert_array_equal(g, ref_results[k], err_msg=f"{name} vs C layout")
    return got


@pytest.fixture(scope="module", params=["float64", "float32", "int64"])
def compiled(request):
    f, names = build(request.param)
    return request.param, f, names


def make_inputs(rng, dtype, m, n, p):
    A = values(rng, dtype, (m, n))
    B = values(rng, dtype, (m, n))
    v = values(rng, dtype, (n,))
    t = values(rng, dtype, (p, m, n))
    return A, B, v, t


def test_each_layout_matches_c_order(compiled):
    dtype, f, names = compiled
    rng = np.random.default_rng(11)
    for m, n, p in [(4, 5, 3), (2, 1, 2), (1, 3, 1), (3, 4, 2)]:
        base = make_inputs(rng, dtype, m, n, p)
        for kind in LAYOUTS:
            arrays = [layout(a, kind) for a in base]
            # the values after layout (broadcast kinds change them), as C arrays
            c_arrays = [np.ascontiguousarray(a, dtype=np.dtype(dtype)) for a in arrays]
            ref = f(*c_arrays, 1 % n)
            check_results(f, names, dtype, arrays + [np.int64(1 % n)], ref)


def test_results_are_owned_and_independent(compiled):
    """Writing into a result changes neither the inputs nor later results."""
    dtype, f, names = compiled
    rng = np.random.default_rng(12)
    A, B, v, t = make_inputs(rng, dtype, 3, 4, 2)
    args = [A, B, v, t, 0]
    first = f(*args)
    for r in first:
        r[...] = 7
    again = f(*args)
    check_results(f, names, dtype, args, again)
    for k, r in enumerate(again):
        assert not np.shares_memory(r, first[k])
    # a function returning its input twice returns two fresh arrays
    x = T.tensor(dtype, shape=(None, None), name="x")
    g = theon.function([x], [x, x, x.T])
    src = np.asfortranarray(A)
    o1, o2, o3 = g(src)
    assert not np.shares_memory(o1, src) and not np.shares_memory(o1, o2)
    assert o3.flags.c_contiguous and not np.shares_memory(o3, src)
    o1[...] = 0
    np.testing.assert_array_equal(o2, A)
    np.testing.assert_array_equal(src, A)


@st.composite
def layout_case(draw):
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    p = draw(st.integers(1, 3))
    kinds = draw(st.lists(st.sampled_from(LAYOUTS), min_size=4, max_size=4))
    i = draw(st.integers(-n, n - 1))
    seed = draw(st.integers(0, 2**16))
    return m, n, p, kinds, i, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(case=layout_case())
def test_mixed_layouts(compiled, case):
    """A different layout per input, random shapes (size-1 dims included)."""
    dtype, f, names = compiled
    m, n, p, kinds, i, seed = case
    rng = np.random.default_rng(seed)
    base = make_inputs(rng, dtype, m, n, p)
    arrays = [layout(a, k) for a, k in zip(base, kinds)]
    c_arrays = [np.ascontiguousarray(a, dtype=np.dtype(dtype)) for a in arrays]
    ref = f(*c_arrays, i)
    check_results(f, names, dtype, arrays + [np.int64(i)], ref)


# reductions with no identity are errors over an empty axis (NumPy raises too)
NO_IDENTITY = {"max A", "min t 1", "argmax A 1", "argmin t 0", "logsumexp", "softmax"}


def test_empty_inputs_in_every_layout():
    dtype = "float64"
    f, names = build(dtype, exclude=tuple(sorted(NO_IDENTITY)))
    rng = np.random.default_rng(13)
    for m, n, p in [(0, 3, 2), (3, 2, 0), (2, 0, 1)]:
        base = make_inputs(rng, dtype, m, n, p)
        i = 1 if n else 0
        if n == 0:   # A[:, i] is out of range: an IndexError, not a crash
            with pytest.raises(IndexError):
                f(*base, i)
            continue
        for kind in ["C", "F", "transposed", "reversed", "strided", "broadcast_rows"]:
            arrays = [layout(a, kind) for a in base]
            ref = f(*[np.ascontiguousarray(a) for a in arrays], i)
            check_results(f, names, dtype, arrays + [np.int64(i)], ref)
    # and the error is raised for the reductions without identity, in any layout
    g, _ = build(dtype)
    for kind in ["C", "F", "reversed"]:
        with pytest.raises(ValueError):
            g(*[layout(a, kind) for a in make_inputs(rng, dtype, 0, 3, 2)], 0)
