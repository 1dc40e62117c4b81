"""theon's first examples, runnable: python examples/basic.py

Multiple outputs, a shared variable updated by a function, an accumulator,
and givens (replacing a variable by another expression at compile time).
"""
import numpy as np

import theon
import theon.tensor as T
from theon import function, shared


def multiple_outputs():
    """One function, three outputs computed together."""
    a, b = T.matrix("a"), T.matrix("b")
    diff = a - b
    abs_diff = abs(diff)
    diff_squared = diff ** 2
    f = function([a, b], [diff, abs_diff, diff_squared])
    return f([[1, 1], [1, 1]], [[0, 1], [2, 3]])


def shared_update():
    """An update multiplies the shared state."""
    w = shared(1.0)
    x = T.scalar("x")
    mul = function([x], updates=[(w, w * x)])
    returned = mul(4)
    return returned, w.get_value()


def accumulator_with_givens():
    """Theano's accumulator; givens compute with another value instead."""
    state = shared(0)
    inc = T.iscalar("inc")
    accumulator = function([inc], state, updates=[(state, state + inc)])
    before = [int(accumulator(1)), int(accumulator(300))]
    fn_of_state = state * 2 + inc
    foo = T.lscalar("foo")                 # the type of state
    skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
    return before, int(state.get_value()), int(skip_shared(1, 3))


def main():
    diff, abs_diff, diff_squared = multiple_outputs()
    print("diff:\n", diff, "\nabs_diff:\n", abs_diff, "\ndiff_squared:\n", diff_squared)

    returned, value = shared_update()
    print("mul(4) ->", returned, "; w.get_value() ->", repr(value))
    assert returned == [] and value == np.array(4.0)

    before, state, skipped = accumulator_with_givens()
    print("accumulator returned", before, "; state is now", state)
    print("skip_shared(1, 3) with givens state := foo ->", skipped)
    assert (before, state, skipped) == ([0, 1], 301, 7)
    print("floatX is", theon.config.floatX)


if __name__ == "__main__":
    main()
