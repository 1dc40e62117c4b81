"""theon.shared used by compiled functions: one variable in two functions, set_value, updates."""
import numpy as np

import theon


def test_one_shared_variable_in_two_functions():
    import theon.tensor as T
    w = theon.shared(np.array([1.0, 2.0]), name="w")
    x = T.vector("x")
    read = theon.function([x], (w * x).sum())
    bump = theon.function([x], updates=[(w, w + x)])
    assert read([1.0, 1.0]) == 3.0
    bump([10.0, 10.0])
    assert read([1.0, 1.0]) == 23.0
    np.testing.assert_array_equal(w.get_value(), [11.0, 12.0])


def test_set_value_is_seen_by_the_next_call():
    import theon.tensor as T
    w = theon.shared(np.array([1.0, 2.0]), name="w")
    x = T.vector("x")
    f = theon.function([x], w * x)
    np.testing.assert_array_equal(f([2.0, 2.0]), [2.0, 4.0])
    w.set_value(np.array([3.0, 4.0, 5.0]))          # a new shape too
    np.testing.assert_array_equal(f([1.0, 1.0, 1.0]), [3.0, 4.0, 5.0])


def test_update_replaces_storage_and_borrowed_value_stays_old():
    w = theon.shared(np.array([1.0, 2.0]), name="w")
    old = w.get_value(borrow=True)
    f = theon.function([], updates=[(w, w * 2)])
    f()
    np.testing.assert_array_equal(old, [1.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])
