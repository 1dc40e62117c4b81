"""The call path: the native fast path (codegen/cpu/driver/pywrap.py) gives exactly
what the Python path gives, hands every unusual call to it, keeps every
check of the SPEC, owns nothing it returns, and leaks nothing."""
import gc
import sys

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.native import fast_support

from ..native_helpers import run_in_threads

needs_fast = pytest.mark.skipif(fast_support() is None,
                                reason="this interpreter/NumPy has no native fast path")


def both_paths(f, *args):
    """(fast-path result, Python-path result) of one call each."""
    return f(*args), f._call_python(*args)


def same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
        return
    assert type(a) is np.ndarray and type(b) is np.ndarray
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@needs_fast
def test_plain_functions_take_the_fast_path():
    x = T.fvector("x")
    f = theon.function([x], x * 2)
    assert f._fast is not None and f._call is f._fast.callable
    out = f(np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(out, [0, 2, 4, 6])


def test_debug_and_profile_take_the_python_path():
    x = T.vector("x")
    assert theon.function([x], x + 1, mode="DEBUG")._fast is None
    assert theon.function([x], x + 1, profile=True)._fast is None


SIGNATURES = [
    ("float32 matrix", lambda: ([T.fmatrix("a")], lambda a: a * 2 + 1),
     [np.arange(12, dtype=np.float32).reshape(3, 4)]),
    ("two outputs", lambda: ([T.matrix("a"), T.matrix("b")], lambda a, b: [a - b, abs(a - b)]),
     [np.ones((2, 3)), np.arange(6.0).reshape(2, 3)]),
    ("broadcasting", lambda: ([T.matrix("a"), T.vector("b")], lambda a, b: a + b),
     [np.ones((4, 3)), np.arange(3.0)]),
    ("0-d output", lambda: ([T.vector("v")], lambda v: v.sum()), [np.arange(5.0)]),
    ("0-d input", lambda: ([T.dscalar("s"), T.vector("v")], lambda s, v: v * s),
     [np.array(3.0), np.arange(3.0)]),
    ("int and bool", lambda: ([T.lvector("i")], lambda i: [i * 3, T.gt(i, 1)]),
     [np.arange(4, dtype=np.int64)]),
    ("int8", lambda: ([T.bvector("b")], lambda b: b + b), [np.arange(5, dtype=np.int8)]),
    ("static shape", lambda: ([T.tensor("float64", shape=(None, 3), name="t")], lambda t: t.sum(axis=1)),
     [np.arange(6.0).reshape(2, 3)]),
    ("tensor3 reduction", lambda: ([T.tensor3("t")], lambda t: t.max(axis=(0, 2))),
     [np.arange(24.0).reshape(2, 3, 4)]),
    ("empty", lambda: ([T.matrix("m")], lambda m: m * 2), [np.ones((0, 3))]),
    ("list of one", lambda: ([T.vector("v")], lambda v: [v + 1]), [np.arange(3.0)]),
]


@pytest.mark.parametrize("name,make,args", SIGNATURES, ids=[s[0] for s in SIGNATURES])
def test_fast_path_equals_python_path(name, make, args):
    inputs, expr = make()
    f = theon.function(inputs, expr(*inputs))
    fast, slow = both_paths(f, *args)
    same(fast, slow)


LAYOUTS = {
    "transposed": lambda a: a.T,
    "fortran": lambda a: np.asfortranarray(a),
    "strided": lambda a: a[::2, ::3],
    "negative strides": lambda a: a[::-1, ::-2],
    "broadcast view": lambda a: np.broadcast_to(a[:1], a.shape),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_views_pass_through_the_fast_path(layout):
    a = np.arange(48.0).reshape(6, 8)
    view = LAYOUTS[layout](a)
    m = T.matrix("m")
    f = theon.function([m], [m * 2, m.sum(axis=0)])
    fast, slow = both_paths(f, view)
    same(fast, slow)
    np.testing.assert_array_equal(fast[0], view * 2)


@pytest.mark.parametrize("value", [
    [1.0, 2.0], (1.0, 2.0), np.arange(2), np.arange(2, dtype=np.float32),
    np.arange(2.0).astype(">f8"), np.arange(4.0)[::2],
], ids=["list", "tuple", "int64 array", "float32 array", "big-endian", "strided"])
def test_unusual_arguments_fall_back_and_convert(value):
    x = T.vector("x")
    f = theon.function([x], x * 2)
    out = f(value)
    np.testing.assert_array_equal(out, np.asarray(value, dtype=np.float64) * 2)
    assert out.dtype == np.float64


def test_unaligned_array_is_copied_not_read_in_place():
    raw = np.zeros(8 * 4 + 1, dtype=np.uint8)[1:].view(np.float64)
    raw[:] = [1, 2, 3, 4]
    assert not raw.flags.aligned
    x = T.vector("x")
    f = theon.function([x], x * 2)
    np.testing.assert_array_equal(f(raw), [2, 4, 6, 8])


def test_subclass_and_keywords_fall_back():
    class Sub(np.ndarray):
        pass
    x, y = T.vector("x"), T.vector("y")
    f = theon.function([x, y], x - y)
    a = np.arange(3.0).view(Sub)
    out = f(a, y=np.ones(3))
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, [-1, 0, 1])
    np.testing.assert_array_equal(f(y=np.ones(3), x=np.zeros(3)), [-1, -1, -1])


@pytest.mark.parametrize("call,exc,fragments", [
    (lambda f: f(np.ones((2, 2), np.float32)), TypeError, ["'x'", "2-d"]),
    (lambda f: f(np.ones(3)), TypeError, ["'x'", "float32", "float64"]),
    (lambda f: f(), TypeError, ["1 input", "'x'"]),
    (lambda f: f(np.ones(3, np.float32), np.ones(3, np.float32)), TypeError, ["2 were given"]),
    (lambda f: f(z=np.ones(3, np.float32)), TypeError, ["unexpected keyword", "'z'"]),
    (lambda f: f("abc"), TypeError, ["'x'", "str"]),
])
def test_errors_are_the_python_paths(call, exc, fragments):
    guard = theon.shared(np.array([1.0]), name="guard")
    x = T.fvector("x")
    f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
    with pytest.raises(exc) as info:
        call(f)
    for frag in fragments:
        assert frag in str(info.value)
    assert guard.get_value().tolist() == [1.0]


def test_static_shape_mismatch_is_a_value_error_naming_the_input():
    t = T.tensor("float64", shape=(None, 3), name="t")
    f = theon.function([t], t * 2)
    with pytest.raises(ValueError, match="'t'"):
        f(np.ones((2, 4)))


def test_native_error_goes_through_the_python_path_and_changes_no_state():
    w = theon.shared(np.zeros(3), name="w")
    a, b = T.vector("a"), T.vector("b")
    f = theon.function([a, b], a + b, updates=[(w, w + 1)])
    with pytest.raises(ValueError, match="shape mismatch"):
        f(np.ones(3), np.ones(4))
    assert w.get_value().tolist() == [0, 0, 0]
    np.testing.assert_array_equal(f(np.ones(3), np.ones(3)), [2, 2, 2])
    assert w.get_value().tolist() == [1, 1, 1]


def test_updates_replace_shared_storage_all_at_once():
    w = theon.shared(np.arange(3.0), name="w")
    b = theon.shared(1.0, name="b")
    x = T.vector("x")
    f = theon.function([x], [w.sum(), b * 1], updates=[(w, w * x), (b, w.sum())])
    before = w.get_value(borrow=True)
    out = f(np.full(3, 2.0))
    assert [float(o) for o in out] == [3.0, 1.0]
    assert w.get_value().tolist() == [0, 2, 4] and float(b.get_value()) == 3.0
    assert before.tolist() == [0, 1, 2]           # the old storage was replaced, not written
    w.set_value(np.ones(5))                        # a new shape is seen by the next call
    assert float(f(np.ones(5))[0]) == 5.0


def test_seed_example_on_the_fast_path():
    w = theon.shared(1.0)
    x = T.scalar("x")
    mul = theon.function([x], updates=[(w, w * x)])
    assert mul(np.array(4.0)) == []
    assert repr(w.get_value()) == "array(4.)"


def test_outputs_are_fresh_owned_arrays():
    x = T.vector("x")
    f = theon.function([x], [x, x * 1])
    a = np.arange(3.0)
    out = f(a)
    for o in out:
        assert type(o) is np.ndarray and o.flags.c_contiguous and o.flags.writeable
        assert not np.shares_memory(o, a)
    assert not np.shares_memory(out[0], out[1])
    out[0][0] = 42
    assert a[0] == 0 and f(a)[0][0] == 0


def test_identical_graphs_share_code_but_not_state():
    results = []
    for start in (1.0, 10.0):
        w = theon.shared(np.full(2, start), name="w")
        x = T.vector("x")
        results.append((theon.function([x], w * x, updates=[(w, w + 1)]), w))
    (f, w1), (g, w2) = results
    np.testing.assert_array_equal(f(np.ones(2)), [1, 1])
    np.testing.assert_array_equal(g(np.ones(2)), [10, 10])
    assert w1.get_value().tolist() == [2, 2] and w2.get_value().tolist() == [11, 11]


def test_no_reference_leaks():
    w = theon.shared(np.zeros(4), name="w")
    x = T.vector("x")
    f = theon.function([x], [x * 2, w.sum()], updates=[(w, w + x)])
    a = np.ones(4)
    f(a)
    gc.collect()
    before = (sys.getrefcount(a), sys.getrefcount(w), sys.getrefcount(f))
    for _ in range(1000):
        out = f(a)
    del out
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(w), sys.getrefcount(f)) == before
    storage = w.get_value(borrow=True)
    assert sys.getrefcount(storage) == 3          # the variable, the local, the call's argument


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_result_buffers_are_freed():
    x = T.vector("x")
    f = theon.function([x], x + 1)
    a = np.zeros(1 << 20)                           # 8 MB per result
    for _ in range(5):
        f(a)
    start = _rss_bytes()
    for _ in range(300):                            # 2.4 GB if nothing were freed
        f(a)
    assert _rss_bytes() - start < 200 << 20


def test_calls_from_several_threads():
    w = theon.shared(np.zeros(()), name="count")
    x = T.vector("x")
    f = theon.function([x], (x * 2).sum())
    a = np.arange(1000.0)

    def work():
        for _ in range(200):
            assert f(a) == 999000.0

    errors = run_in_threads(work, [() for _ in range(4)])
    assert not errors
    _ = w


def test_function_repr_and_callable_identity():
    x = T.vector("x")
    f = theon.function([x], x + 1, name="inc")
    assert "inc" in repr(f)
    assert callable(f)


def test_a_failed_wrapper_prefetch_does_not_poison_the_signature(monkeypatch):
    # theon.function prefetches the fast path's wrapper on the LLVM thread; when that
    # compile fails (its caller gone, e.g. refused), a later function with the same
    # signature compiles the wrapper again instead of re-raising the stale failure
    from concurrent.futures import Future
    from theon.codegen.cpu.driver import compile as cc
    from theon.runtime.function import fast_path_signature

    x = T.dmatrix("x")
    f = theon.function([x], T.tanh(x) * 3.0)
    sig = fast_path_signature(f.ir, f._specs, f.shared, f._update_targets, f._n_outputs, f._single)
    assert sig is not None
    failed = Future()
    failed.set_exception(RuntimeError("prefetch failed"))
    monkeypatch.delitem(cc._WRAPPERS, sig, raising=False)
    monkeypatch.setitem(cc._PENDING_WRAPPERS, sig, (failed, None))
    g = theon.function([x], T.tanh(x) * 3.0 + 1.0)
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    np.testing.assert_allclose(g(a), np.tanh(a) * 3.0 + 1.0)
    assert sig not in cc._PENDING_WRAPPERS
