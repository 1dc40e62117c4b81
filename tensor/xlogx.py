"""``theon.tensor.xlogx``: ``xlogx(x) = x * log(x)`` and ``xlogy0(x, y) =
x * log(y)``, both 0 where ``x`` is 0 (as Theano's ``tensor/xlogx.py``).

The guard at 0 (``log`` of 1 there) would make a derived gradient wrong at
0, so each states its derivatives, as Theano's scalar ops do:
``d xlogx / dx = 1 + log(x)`` (-inf at 0, the one-sided limit) and
``d xlogy0 = (log(y), x / y)`` (``log(y)`` with respect to x at x = 0).
"""
from ..frontend import elemwise as E
from ..frontend.basic import apply_op, as_tensor_variable


def xlogx(x):
    """``x * log(x)``, 0 at ``x == 0``; float (ints become float as ``log`` makes them)."""
    x = E.as_float(as_tensor_variable(x), "xlogx")
    value = E.mul(x, E.log(E.where(E.eq(x, 0), 1, x)))
    return apply_op("grad_override", value, x, E.add(1, E.log(x)), kind="chain")


def xlogy0(x, y):
    """``x * log(y)``, 0 wherever ``x == 0`` (whatever ``y``); broadcasts."""
    x = E.as_float(as_tensor_variable(x), "xlogy0")
    y = E.as_float(as_tensor_variable(y), "xlogy0")
    value = E.mul(x, E.log(E.where(E.eq(x, 0), 1, y)))
    return apply_op("grad_override", value, x, E.log(y), y, E.true_div(x, y), kind="chain")
