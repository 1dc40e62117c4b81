"""Sorting and extra_ops with the NumPy reference interpreter: the shared
table of cases (tests/extra_ops_helpers.py, also compiled by
tests/native/test_extra_ops_native.py) against NumPy; the ops' inference,
shape rules, text round trip and bad input; the DSL's argument checks; the
GPU plan's compile-time refusal."""
import numpy as np
import pytest

import theon.tensor as T
from theon.frontend.basic import apply_op
from theon.frontend.build import build_function
from theon.ir.core import Function
from theon.ir.builder import make_op
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.types import TensorType
from theon.runtime.aot.shapes import DimGuess

from ..extra_ops_helpers import assert_matches, extra_cases, noncontiguous_cases, sort_cases, symbolic_inputs
from ..frontend_helpers import run

CASES = sort_cases() + extra_cases() + noncontiguous_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reference_against_numpy(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    assert_matches(run(xs, build(*xs), *arrays), numpy_fn(*arrays), case_id)


def _op(name, types, **attrs):
    f = Function("f", [TensorType(*t) for t in types], [f"a{i}" for i in range(len(types))])
    return make_op(name, f.args, attrs)


@pytest.mark.parametrize("name,types,attrs,result", [
    ("sort", [("float32", (None, 3))], {"axis": 1}, ("float32", (None, 3))),
    ("argsort", [("int8", (4, 3))], {"axis": -2}, ("int64", (4, 3))),
    ("cumsum", [("int64", (2, None))], {"axis": 0}, ("int64", (2, None))),
    ("cumprod", [("float64", (5,))], {"axis": 0}, ("float64", (5,))),
    ("searchsorted", [("float64", (None,)), ("float64", (2, 3))], {"side": "right"}, ("int64", (2, 3))),
    ("bincount", [("int32", (None,))], {"minlength": 3}, ("int64", (None,))),
    ("bincount", [("int32", (None,)), ("float32", (None,))], {"minlength": 0}, ("float32", (None,))),
    ("repeat", [("float64", (3, 4)), ("int64", ())], {"axis": 1}, ("float64", (3, None))),
    ("check_index", [("int32", (2, 2)), ("int64", ())], {}, ("int32", (2, 2))),
])
def test_inference_and_shape_rule(name, types, attrs, result):
    op = _op(name, types, **attrs)
    assert op.results[0].type == TensorType(*result)
    dims = op.opdef.dims(op, DimGuess({v: t[1] for v, t in zip(op.operands, types)}))
    assert len(dims[0]) == len(result[1])
    for d, s in zip(dims[0], result[1]):
        if s is not None and isinstance(d, int):
            assert d == s


@pytest.mark.parametrize("name,types,attrs,exc,words", [
    ("sort", [("float32", ())], {"axis": 0}, ValueError, "at least one dim"),
    ("sort", [("float32", (3,))], {"axis": 1}, ValueError, "out of range"),
    ("cumsum", [("bool", (3,))], {"axis": 0}, TypeError, "bool"),
    ("searchsorted", [("float32", (3, 2)), ("float32", (2,))], {"side": "left"}, ValueError, "1-d"),
    ("searchsorted", [("float32", (3,)), ("float64", (2,))], {"side": "left"}, TypeError, "one dtype"),
    ("searchsorted", [("float32", (3,)), ("float32", (2,))], {"side": "middle"}, ValueError, "side"),
    ("bincount", [("float32", (3,))], {"minlength": 0}, TypeError, "integer"),
    ("bincount", [("int32", (3,))], {"minlength": -1}, ValueError, "minlength"),
    ("repeat", [("float32", (3,)), ("float32", ())], {"axis": 0}, TypeError, "integer"),
    ("repeat", [("float32", (3,)), ("int64", (4,))], {"axis": 0}, ValueError, "4 counts"),
])
def test_bad_ops_are_refused(name, types, attrs, exc, words):
    with pytest.raises(exc, match=words):
        _op(name, types, **attrs)


def test_reference_refuses_bad_values():
    x = T.lvector()
    with pytest.raises(ValueError, match="non-negative"):
        run([x], T.bincount(x), np.array([1, -1]))
    with pytest.raises(ValueError, match="non-negative"):
        run([x], T.repeat(x, x), np.array([1, -1]))
    with pytest.raises(IndexError, match="out of range"):
        run([x], T.ravel_multi_index((x, x), (3, 3)), np.array([0, 3]))
    with pytest.raises(IndexError, match="out of range"):
        run([x], T.unravel_index(x, (3, 3)), np.array([-1]))


def test_dsl_argument_checks():
    x = T.dmatrix()
    with pytest.raises(ValueError, match="kind"):
        T.sort(x, kind="bogo")
    with pytest.raises(ValueError, match="order"):
        T.argsort(x, order="f")
    with pytest.raises(ValueError, match="axis 2"):
        T.cumsum(x, axis=2)
    with pytest.raises(ValueError, match="non-negative"):
        T.repeat(x, [1, -1])
    with pytest.raises(TypeError, match="1-d integer"):
        T.bincount(x)
    with pytest.raises(ValueError, match="side"):
        T.searchsorted(x[0], x, side="up")
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        T.unique(x, axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        T.unique(x, axis=(0,))
    with pytest.raises(ValueError, match="mode"):
        T.ravel_multi_index((x,), (3,), mode="bad")
    with pytest.raises(ValueError, match="at least 2-d"):
        T.fill_diagonal(x[0], 1.0)
    with pytest.raises(ValueError, match="n must be"):
        T.diff(x, n=-1)


def test_names_and_methods():
    import theon.tensor.extra_ops as X
    from theon.tensor.sort import argsort, sort
    assert T.sort is sort and T.argsort is argsort and X.cumsum is T.cumsum and X.squeeze is T.squeeze
    x = T.fmatrix()
    assert x.sort().owner.op.name == "sort" and x.argsort(axis=0).owner.op.name == "argsort"
    assert x.cumsum().ndim == 1 and x.cumprod(axis=1).ndim == 2 and x.repeat(2, axis=0).ndim == 2
    assert x.sort(axis=None).ndim == 1


def test_ir_text_round_trip():
    x = T.dmatrix("x")
    k = T.lvector("k")
    outs = [T.sort(x), T.argsort(x, axis=0), T.cumsum(x, 1), T.cumprod(x), T.searchsorted(x[0], x, side="right"),
            T.bincount(k, minlength=2), T.repeat(x, k, axis=0), T.ravel_multi_index((k, k), (4, 4))]
    func, _ = build_function([x, k], outs)
    text = print_function(func)
    assert print_function(parse_function(text)) == text


def test_gpu_plan_refuses_at_compile_time():
    from theon.codegen.ptx.plan import Plan
    x = T.fvector("x")
    func, _ = build_function([x], [T.sort(x) * 2])
    with pytest.raises(NotImplementedError, match="sort .* not supported on the GPU yet"):
        Plan(func)


def test_static_shapes():
    x = T.tensor("float64", shape=(3, 4))
    assert T.repeat(x, 2, axis=1).type.shape == (3, 8)
    assert T.repeat(x, [1, 0, 2], axis=0).type.shape == (3, 4)
    assert T.bincount(T.constant(np.array([0, 5, 2]))).type.shape == (6,)
    assert apply_op("sort", x, axis=0).type.shape == (3, 4)
