"""Bad inputs raise clear Python errors -- never a crash in native code.

Each case runs in its own interpreter: a segfault would show as a signal
exit there. Each asserts the exception type, that the message names the
input and what was expected, and that shared state is unchanged.
"""
import textwrap

import pytest

PRELUDE = """
import json, numpy as np, theon
import theon.tensor as T
guard = theon.shared(np.array([1.0, 2.0]), name='guard')
def check(f, *args):
    before = guard.get_value().tolist()
    try:
        f(*args)
        result = {'type': None, 'msg': ''}
    except Exception as e:
        result = {'type': type(e).__name__, 'msg': str(e)}
    result['unchanged'] = guard.get_value().tolist() == before
    print(json.dumps(result))
"""

CASES = {
    "wrong-ndim": ("""
        m = T.matrix('m')
        f = theon.function([m], m * 2, updates=[(guard, guard + 1)])
        check(f, np.ones(3))
    """, "TypeError", ["'m'", "matrix", "1-d"]),
    "wrong-dtype": ("""
        x = T.fvector('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, np.ones(3))
    """, "TypeError", ["'x'", "float32", "float64"]),
    "lossy-int": ("""
        i = T.bscalar('i')
        f = theon.function([i], i * 2, updates=[(guard, guard + 1)])
        check(f, 300)
    """, "TypeError", ["'i'", "int8", "300"]),
    "too-many-args": ("""
        x = T.vector('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, [1.0], [2.0])
    """, "TypeError", ["1 input", "'x'", "2 were given"]),
    "too-few-args": ("""
        x, y = T.vector('x'), T.vector('y')
        f = theon.function([x, y], x * y, updates=[(guard, guard + 1)])
        check(f, [1.0])
    """, "TypeError", ["2 input", "'x'", "'y'"]),
    "string": ("""
        x = T.vector('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, 'abc')
    """, "TypeError", ["'x'", "float64", "str"]),
    "object": ("""
        x = T.vector('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, object())
    """, "TypeError", ["'x'", "float64", "object"]),
    "none": ("""
        x = T.vector('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, None)
    """, "TypeError", ["'x'", "NoneType"]),
    "ragged-list": ("""
        x = T.matrix('x')
        f = theon.function([x], x * 2, updates=[(guard, guard + 1)])
        check(f, [[1.0, 2.0], [3.0]])
    """, "TypeError", ["'x'"]),
    "broadcast-mismatch": ("""
        x, y = T.vector('x'), T.vector('y')
        f = theon.function([x, y], x + y, updates=[(guard, guard + 1)])
        check(f, np.ones(3), np.ones(4))
    """, "ValueError", ["'x'", "'y'", "(3,)", "(4,)", "broadcast"]),
    "broadcast-mismatch-deep": ("""
        x, y = T.matrix('x'), T.vector('y')
        f = theon.function([x, y], T.exp(x) * y, updates=[(guard, guard + 1)])
        check(f, np.ones((2, 3)), np.ones(4))
    """, "ValueError", ["'x'", "'y'", "(4,)", "broadcast"]),
    "dot-shape-mismatch": ("""
        a, b = T.matrix('a'), T.matrix('b')
        f = theon.function([a, b], T.dot(a, b), updates=[(guard, guard + 1)])
        check(f, np.ones((3, 4)), np.ones((5, 2)))
    """, "ValueError", ["'a'", "'b'", "(3, 4)", "(5, 2)"]),
    "static-shape-mismatch": ("""
        t = T.tensor('float64', shape=(None, 3), name='t')
        f = theon.function([t], t * 2, updates=[(guard, guard + 1)])
        check(f, np.ones((2, 4)))
    """, "ValueError", ["'t'", "(?, 3)", "(2, 4)"]),
    "index-out-of-range": ("""
        x = T.vector('x'); i = T.lscalar('i')
        f = theon.function([x, i], x[i], updates=[(guard, guard + 1)])
        check(f, np.arange(5.0), 7)
    """, "IndexError", ["'x'", "7", "size 5"]),
    "negative-index-out-of-range": ("""
        x = T.vector('x'); i = T.lscalar('i')
        f = theon.function([x, i], x[i], updates=[(guard, guard + 1)])
        check(f, np.arange(5.0), -6)
    """, "IndexError", ["'x'", "-6", "size 5"]),
    "bad-reshape": ("""
        x = T.vector('x')
        f = theon.function([x], x.reshape((2, 3)), updates=[(guard, guard + 1)])
        check(f, np.arange(5.0))
    """, "ValueError", ["'x'", "reshape", "5", "(2, 3)"]),
    "zero-slice-step": ("""
        x = T.vector('x'); s = T.lscalar('s')
        f = theon.function([x, s], x[::s], updates=[(guard, guard + 1)])
        check(f, np.arange(5.0), 0)
    """, "ValueError", ["'x'", "step", "zero"]),
    "update-type-mismatch": ("""
        w = theon.shared(np.zeros(3, np.float32), name='w')
        x = T.dvector('x')
        check(lambda: theon.function([x], [], updates=[(w, x)]))
    """, "TypeError", ["'w'", "float32", "float64"]),
    "update-ndim-mismatch": ("""
        w = theon.shared(np.zeros(3), name='w')
        m = T.matrix('m')
        check(lambda: theon.function([m], [], updates=[(w, m)]))
    """, "TypeError", ["'w'", "ndim"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, run_json):
    body, exc_type, fragments = CASES[case]
    result = run_json(PRELUDE + textwrap.dedent(body))
    assert result["type"] == exc_type, result
    for fragment in fragments:
        assert fragment in result["msg"], f"{fragment!r} not in message: {result['msg']}"
    assert result["unchanged"], "a failed call changed a shared variable"


def test_a_good_call_after_a_bad_one_works(run_json):
    result = run_json(PRELUDE + textwrap.dedent("""
        x, y = T.vector('x'), T.vector('y')
        f = theon.function([x, y], x + y, updates=[(guard, guard + 1)])
        try:
            f(np.ones(3), np.ones(4))
        except ValueError:
            pass
        out = f(np.ones(3), np.ones(3))
        print(json.dumps({'out': out.tolist(), 'guard': guard.get_value().tolist()}))
    """))
    assert result == {"out": [2.0, 2.0, 2.0], "guard": [2.0, 3.0]}


# --- error codes -> exceptions (no native code needed) ---------------------------------
def _func_with(opname, *operand_types, **attrs):
    from theon.ir.builder import Builder
    from theon.ir.core import Function
    from theon.ir.types import TensorType
    types = [TensorType("float64", s) for s in operand_types]
    func = Function("g", types, [f"in{k}" for k in range(len(types))])
    b = Builder(func.body)
    r = b(opname, *func.args, **attrs)
    b.create("return", [r], {"updates": ()})
    return func


@pytest.mark.parametrize("code_name, exc, fragments", [
    ("SHAPE_MISMATCH", ValueError, ["add", "'in1'", "size 4", "(3,)", "(4,)"]),
    ("INDEX_ERROR", IndexError, ["index 4", "axis 0", "size 3"]),
    ("EMPTY_REDUCTION", ValueError, ["empty axis"]),
    ("OUT_OF_MEMORY", MemoryError, ["bytes"]),
])
def test_native_error_codes_map_to_exceptions(code_name, exc, fragments):
    import numpy as np
    from theon.codegen import errors as codes
    from theon.runtime.errors import native_error
    func = _func_with("add", (None,), (None,))
    arrays = [np.zeros(3), np.zeros(4)]
    err = [0, 0, 4, 3, 1]
    e = native_error(getattr(codes, code_name), err, func, arrays)
    assert isinstance(e, exc)
    for fragment in fragments:
        assert fragment in str(e), str(e)


def test_native_error_matmul_names_both_inputs():
    import numpy as np
    from theon.codegen import errors as codes
    from theon.runtime.errors import native_error
    func = _func_with("matmul", (None, None), (None, None))
    e = native_error(codes.MATMUL_MISMATCH, [0, 4, 5, 0, 0], func, [np.zeros((3, 4)), np.zeros((5, 2))])
    assert isinstance(e, ValueError)
    assert "'in0' with shape (3, 4)" in str(e) and "'in1' with shape (5, 2)" in str(e)


def test_native_error_unknown_code_and_bad_op_index():
    from theon.runtime.errors import NativeError, native_error
    func = _func_with("add", (None,), (None,))
    assert isinstance(native_error(999, [0, 0, 0, 0, 0], func, []), NativeError)
    assert isinstance(native_error(1, [57, 0, 0, 0, 0], func, []), NativeError)
