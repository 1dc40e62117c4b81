"""Shared-variable updates under threads (runtime/function.py): calls that
update the same shared variables are serialized, so no increment is ever
lost; calls without updates take no lock."""
import threading

import numpy as np

import theon
import theon.tensor as T

THREADS, CALLS = 8, 1000


def hammer(*calls):
    """Run each callable CALLS times in each of THREADS threads (all start together)."""
    start = threading.Barrier(THREADS * len(calls))
    errors = []

    def work(call):
        try:
            start.wait()
            for _ in range(CALLS):
                call()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
    threads = [threading.Thread(target=work, args=(c,)) for c in calls for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock: threads still running"
    assert not errors, errors


def test_no_update_is_lost_on_the_fast_path():
    w = theon.shared(np.float64(0.0), name="w")
    inc = theon.function([], [], updates=[(w, w + 1)])
    hammer(inc)
    assert w.get_value() == THREADS * CALLS


def test_no_update_is_lost_on_the_python_path():
    w = theon.shared(np.zeros(3), name="w")
    x = T.vector("x")
    add = theon.function([x], [], updates=[(w, w + x)])
    hammer(lambda: add([1.0, 2.0, 3.0]))          # a list: converted on the Python path
    np.testing.assert_array_equal(w.get_value(), np.array([1.0, 2.0, 3.0]) * THREADS * CALLS)


def test_functions_updating_overlapping_variables_neither_lose_updates_nor_deadlock():
    a = theon.shared(np.int64(0), name="a")
    b = theon.shared(np.int64(0), name="b")
    ab = theon.function([], [], updates=[(a, a + 1), (b, b + 2)])
    ba = theon.function([], [], updates=[(b, b + 1), (a, a + 3)])    # the other order
    only_b = theon.function([], b * 1, updates=[(b, b + 5)])
    hammer(ab, ba, only_b)
    assert a.get_value() == THREADS * CALLS * (1 + 3)
    assert b.get_value() == THREADS * CALLS * (2 + 1 + 5)


def test_calls_without_updates_take_no_lock_and_see_whole_values():
    w = theon.shared(np.zeros(1000), name="w")
    read = theon.function([], w.sum())
    inc = theon.function([], [], updates=[(w, w + 1)])
    assert read._update_locks == () and len(inc._update_locks) == 1
    seen = []
    hammer(inc, lambda: seen.append(float(read())))
    assert w.get_value()[0] == THREADS * CALLS
    assert all(s % 1000 == 0 for s in seen)                    # never a half-updated array
