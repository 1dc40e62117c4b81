"""What the DSL does for debugging each time it builds an op.

``built(op)`` is called for every op the DSL creates (``basic.apply_op``):

- it stamps the op with the line of user code that built it
  (``ir/location.py``), which run-time errors and NanGuardMode report;
- with ``theon.config.compute_test_value`` other than ``'off'`` (Theano's
  flag), it evaluates the op's NumPy reference on the test values of its
  operands (``x.tag.test_value``; shared variables and constants have
  theirs) and stores the result in each result's ``tag.test_value``, so a
  shape error shows at graph-building time, at the line that builds the
  op. An operand without a test value is an error (``'raise'``), a warning
  (``'warn'``), or ends the computation silently (``'ignore'``).
"""
import warnings

import numpy as np

from ..config import config
from ..ir.location import user_location


class TestValueError(ValueError):
    """An operand has no test value (compute_test_value='raise')."""


def built(op):
    if op.loc is None:
        op.loc = user_location(2)
    if config.compute_test_value != "off":
        compute_test_value(op)


def _label(v):
    return repr(v.name) if v.name else f"<{v.type}>"


def test_value(var):
    """The test value of ``var``, or None. A computed variable without one
    (built by theon.grad, or before compute_test_value was turned on) gets
    it from its ops' references, when the graph's inputs have test values."""
    value = _own_test_value(var)
    if value is not None or var.owner is None:
        return value
    memo, stack = {}, [(var, False)]
    while stack:                                # iterative: deep graphs do not recurse
        v, ready = stack.pop()
        if v in memo:
            continue
        own = _own_test_value(v)
        if own is not None or v.owner is None:
            memo[v] = own
            continue
        op = v.owner
        if not ready:
            stack.append((v, True))
            stack.extend((o, False) for o in op.operands if o not in memo)
            continue
        ins = [memo[o] for o in op.operands]
        if any(i is None for i in ins):
            outs = [None] * len(op.results)
        else:
            with np.errstate(all="ignore"):
                outs = [np.asarray(o).astype(r.type.np_dtype, copy=False)
                        for r, o in zip(op.results, op.opdef.reference(op, *ins))]
        for r, o in zip(op.results, outs):
            memo[r] = o
            if o is not None and hasattr(r, "tag"):
                r.tag.test_value = o
    return memo[var]


def _own_test_value(var):
    if getattr(var, "is_shared", False):
        return var.get_value(borrow=True)
    if var.owner is not None and var.owner.name == "constant":
        return var.owner.attrs["value"]
    tag = var.__dict__.get("tag") if hasattr(var, "__dict__") else None
    value = getattr(tag, "test_value", None)
    if value is None:
        return None
    arr = np.asarray(value)
    var.type.check_shape(arr.shape, f"the test value of {_label(var)}")
    return arr.astype(var.type.np_dtype, copy=False)


def compute_test_value(op):
    policy = config.compute_test_value
    values = []
    for k, v in enumerate(op.operands):
        value = test_value(v)
        if value is None:
            message = (f"compute_test_value: operand {k} ({_label(v)}) of {op.name} has no test value; "
                       f"set it with x.tag.test_value = ..., or set theon.config.compute_test_value "
                       f"to 'off'")
            if policy == "raise" or policy == "pdb":
                raise TestValueError(message + _where(op))
            if policy == "warn":
                warnings.warn(message, UserWarning, stacklevel=4)
            return
        values.append(value)
    try:
        with np.errstate(all="ignore"):
            outs = op.opdef.reference(op, *values)
    except Exception as e:  # noqa: BLE001 - the error is reported with the op and the test values
        shapes = ", ".join(f"{_label(v)} {np.shape(a)}" for v, a in zip(op.operands, values))
        error = (type(e) if type(e) in (ValueError, IndexError, TypeError) else ValueError)(
            f"{op.name}: computing the test value failed: {e}; operand test values: {shapes}{_where(op)}")
        raise error from e
    for r, out in zip(op.results, outs):
        r.tag.test_value = np.asarray(out).astype(r.type.np_dtype, copy=False)


def _where(op):
    loc = op.loc
    return f" (op built at {loc.describe()})" if hasattr(loc, "describe") else ""
