"""TensorVariable protocol: hashing and identity, truth value, NumPy
interplay, .eval() with its cache, and what graphs the methods build."""
import numpy as np
import pytest

import theon.tensor as T
from theon.frontend import variable as variable_module
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate

from ..frontend_helpers import check, rand


def test_variables_are_hashable_and_equality_is_identity():
    x, y = T.vector(), T.vector()
    assert x == x and x != y
    assert {x: 1, y: 2}[y] == 2
    assert T.eq(x, y).dtype == "bool"


def test_no_truth_value():
    x = T.vector()
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="truth value"):
        if x:
            pass


def test_numpy_on_the_left_defers_to_the_variable():
    x = T.vector()
    out = np.arange(3.0) * x
    assert isinstance(out, T.TensorVariable) and out.type.shape == (3,)
    assert isinstance(np.float32(2) + T.fvector(), T.TensorVariable)
    assert (np.float32(2) + T.fvector()).dtype == "float32"


def test_copy_and_name():
    x = T.vector("x")
    c = x.copy(name="c")
    assert c is not x and c.name == "c"
    check([x], c, [rand(3)], rand(3))


def _interpreted_function(calls):
    def compile_(inputs, output):
        calls.append(list(inputs))
        func, _ = build_function(inputs, [output])
        return lambda *args: evaluate(func, [np.asarray(a) for a in args])[0][0]
    return compile_


def test_eval_compiles_once_per_input_set(monkeypatch):
    calls = []
    monkeypatch.setattr(variable_module, "_compile", _interpreted_function(calls))
    x, y = T.scalar("x"), T.scalar("y")
    z = x * 2 + y
    assert z.eval({x: np.array(1.0), y: np.array(3.0)}) == 5.0
    assert z.eval({x: np.array(2.0), y: np.array(3.0)}) == 7.0
    assert len(calls) == 1
    assert z.eval({y: np.array(1.0), x: np.array(1.0)}) == 3.0
    assert len(calls) == 2 and calls[1] == [y, x]
    assert T.sqrt(T.constant(4.0)).eval() == 2.0
    assert calls[-1] == []
    with pytest.raises(TypeError, match="keys"):
        z.eval({"x": 1.0})


def test_method_surface():
    x = T.matrix()
    data = rand((3, 4))
    check([x], x.ravel(), [data], data.ravel())
    check([x], x.round(), [data], np.round(data))
    check([x], x.astype("int32").sum(axis=0), [data], data.astype(np.int32).sum(axis=0))
    check([x], x.prod(axis=1, keepdims=True), [data], data.prod(axis=1, keepdims=True))
    check([x], x.var(axis=-1), [data], data.var(axis=-1))
    check([x], x.std(), [data], data.std())
    check([x], x.mean(dtype="float32"), [data], data.mean(dtype=np.float32), rtol=1e-5)
    check([x], x.min(axis=0), [data], data.min(axis=0))
