"""Theano's graph-level API in theon (no native code): types and
broadcastable patterns, variable attributes, Apply-like owners, the
isinstance classes, theon.graph walks, clone and deepcopy, and the
arguments of theon.gradient (names, disconnected and null gradients,
known_grads, Lop/Rop structure, numeric_grad). Values are checked with the
NumPy reference interpreter."""
import copy
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import theon as theano
import theon.tensor as T
from theon.frontend.build import build_function
from theon.gradient import DisconnectedInputError, DisconnectedType, NullType, numeric_grad
from theon.ir.interpreter import evaluate


def run(inputs, outputs, *values):
    """Evaluate ``outputs`` with the reference interpreter."""
    func, shared = build_function(list(inputs), list(outputs))
    outs, _ = evaluate(func, list(values) + [s.get_value() for s in shared])
    return outs


# --- types and broadcastable patterns -------------------------------------------------------
def test_tensor_type_is_callable_and_an_isinstance_class():
    t = T.TensorType("float64", (False,) * 3)("t")
    assert t.type.shape == (None,) * 3 and t.name == "t" and t.broadcastable == (False,) * 3
    assert isinstance(t.type, T.TensorType) and isinstance(t, T.TensorVariable)
    r = T.TensorType("floatX", [True, False])()
    assert r.type.shape == (1, None) and r.dtype == theano.config.floatX
    assert T.TensorType(dtype="int32", broadcastable=(True,)).shape == (1,)
    assert T.TensorType("float32", shape=(2, None)).shape == (2, None)
    assert T.TensorType("float64", (None, 3)).shape == (None, 3)      # PyTensor's (dtype, shape)
    for bad in ((True, 1), "ab", None, (1.5,)):
        with pytest.raises(TypeError, match="TensorType"):
            T.TensorType("float64", bad)
    with pytest.raises(TypeError, match="dtype"):
        T.TensorType("complex64", (False,))


def test_type_call_makes_fresh_variables():
    x = T.matrix("x")
    a, b = x.type(), x.type("b")
    assert a is not x and a.type == x.type and b.name == "b" and a.owner is None
    assert x.type.make_variable("c").name == "c"


def test_broadcastable_and_rebroadcast():
    x, r = T.matrix("x"), T.row("r")
    assert x.broadcastable == (False, False) and r.broadcastable == (True, False)
    assert T.addbroadcast(x, 0).broadcastable == (True, False)
    assert T.addbroadcast(x, 0, 1).broadcastable == (True, True)
    assert T.addbroadcast(r, 0) is r
    assert T.unbroadcast(r, 0).broadcastable == (False, False)
    assert T.unbroadcast(x, 1) is x
    assert T.patternbroadcast(r, (False, True)).broadcastable == (False, True)
    with pytest.raises(ValueError, match="size 3"):
        T.addbroadcast(T.tensor("float64", shape=(3, None)), 0)
    with pytest.raises(ValueError, match="out of range"):
        T.addbroadcast(x, 2)
    with pytest.raises(ValueError, match="entries"):
        T.patternbroadcast(x, (True,))
    data = np.arange(4.0).reshape(1, 4)
    out = run([r], [T.unbroadcast(r, 0) * 2, T.addbroadcast(T.unbroadcast(r, 0), 0) + 1], data)
    np.testing.assert_array_equal(out[0], data * 2)
    np.testing.assert_array_equal(out[1], data + 1)


def test_shared_broadcastable():
    s = theano.shared(np.ones((1, 3)), "s", broadcastable=(True, False))
    assert s.broadcastable == (True, False) and s.type.shape == (1, None)
    s.set_value(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="contradicts the static shape"):
        s.set_value(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="1-d"):
        s.set_value(np.zeros(5))
    with pytest.raises(ValueError, match="size 2"):
        theano.shared(np.ones((2, 3)), broadcastable=(True, False))
    with pytest.raises(TypeError, match="broadcastable"):
        theano.shared(np.ones((2, 3)), broadcastable=(True,))
    assert theano.shared(np.ones((1, 3))).broadcastable == (False, False)   # Theano's default
    assert isinstance(s, theano.compile.SharedVariable)
    assert isinstance(s, T.sharedvar.TensorSharedVariable) and isinstance(s, T.TensorVariable)


def test_variadic_add_mul_and_arity_errors():
    x = T.vector("x")
    v = np.array([1.0, 2.0])
    out = run([x], [T.add(x, x, 1), T.mul(x, 2, x, 3)], v)
    np.testing.assert_array_equal(out[0], 2 * v + 1)
    np.testing.assert_array_equal(out[1], 6 * v * v)
    with pytest.raises(TypeError, match="takes 1 argument"):
        T.exp(x, x)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        T.sub(x)


def test_cast_floatx():
    x = T.ivector("x")
    assert T.cast(x, "floatX").dtype == theano.config.floatX
    assert x.astype("floatX").dtype == theano.config.floatX
    assert T.tensor("floatX", shape=(None,)).dtype == theano.config.floatX


# --- variables as Theano code uses them ------------------------------------------------------
def test_variables_take_attributes_and_tags():
    x = T.matrix("x")
    x._keras_shape = (None, 3)
    x.tag.test_value = np.zeros((2, 3))
    y = x * 2
    y._uses_learning_phase = False
    assert x._keras_shape == (None, 3) and y._uses_learning_phase is False
    assert x.tag.test_value.shape == (2, 3) and "test_value" in repr(x.tag)
    assert not hasattr(T.matrix().tag, "test_value")
    x.tag = type("Scratch", (), {})()
    x.tag.trace = "here"
    assert x.tag.trace == "here"
    s = theano.shared(np.zeros(2), "s")
    s.extra = 1
    assert s.extra == 1


def test_owner_is_an_apply_view():
    a, b = T.vector("a"), T.vector("b")
    c = T.exp(a) + b
    node = c.owner
    assert node.op.name == "add" and node.outputs == [c]
    assert node.inputs[1] is b and node.inputs[0].owner.op.name == "exp"
    assert a.owner is None
    assert isinstance(node, theano.Apply)


def test_isinstance_classes():
    x = T.vector("x")
    c = T.constant([1.0, 2.0])
    s = theano.shared(np.zeros(2))
    for v in (x, c, s, x + 1):
        assert isinstance(v, theano.Variable) and isinstance(v, T.TensorVariable)
    assert isinstance(c, T.TensorConstant) and isinstance(c, theano.Constant)
    np.testing.assert_array_equal(c.data, [1.0, 2.0])
    assert not isinstance(x, T.TensorConstant) and not isinstance(x + 1, T.TensorConstant)
    weak = (x * 2).owner.inputs[1]          # a constant the DSL made from a Python number
    assert isinstance(weak, T.TensorConstant) and float(weak.data) == 2.0
    assert isinstance(s, theano.compile.SharedVariable) and not isinstance(x, theano.compile.SharedVariable)
    assert theano.gof.Variable is theano.Variable and theano.gof.graph.inputs is theano.graph.basic.inputs


# --- graph walks, clone, deepcopy -------------------------------------------------------------
def test_inputs_and_ancestors():
    a, b = T.vector("a"), T.vector("b")
    s = theano.shared(np.ones(2), "s")
    c = (a * b + s).sum()
    ins = theano.graph.basic.inputs([c])
    free = [v for v in ins if not isinstance(v, T.TensorConstant)]
    assert free == [a, b, s]
    anc = theano.graph.basic.ancestors([c])
    assert anc[0] is c and set(free) <= set(anc)
    mid = a * b
    d = mid + 1
    assert a not in theano.graph.basic.ancestors([d], blockers=[mid])
    nodes = theano.graph.basic.io_toposort([a, b], [d])
    names = [n.op.name for n in nodes]
    assert sorted(names) == ["add", "constant", "mul"] and names.index("mul") < names.index("add")
    with pytest.raises(TypeError, match="not a graph variable"):
        theano.graph.basic.inputs([a, 3])


def test_clone_with_replace():
    x, y = T.vector("x"), T.vector("y")
    z = T.exp(x) * 2 + x
    w = theano.clone(z, replace={x: y})
    assert x not in theano.graph.basic.inputs([w]) and y in theano.graph.basic.inputs([w])
    assert x in theano.graph.basic.inputs([z])                    # the original is untouched
    v = np.array([0.5, -1.0])
    np.testing.assert_allclose(run([y], [w], v)[0], np.exp(v) * 2 + v)
    # list in, list out; replacement by an expression; replacements are simultaneous
    u = theano.clone([z, x * 3], replace=[(x, y * 2)])
    assert isinstance(u, list) and len(u) == 2
    np.testing.assert_allclose(run([y], u, v)[1], v * 6)
    # a plain clone shares inputs, copies ops
    c = theano.clone(z)
    assert c is not z and c.owner is not z.owner and theano.graph.basic.inputs([c])[0] is x
    c2 = theano.clone(z, share_inputs=False)
    assert x not in theano.graph.basic.inputs([c2])
    with pytest.raises(TypeError, match="clone"):
        theano.clone(z, replace={x: T.ivector()})
    np.testing.assert_allclose(run([y], [theano.clone(z, {x: T.cast(y, "int32")}, strict=False)],
                                   np.array([1.0, 2.0]))[0],
                               np.exp([1.0, 2.0]) * 2 + [1.0, 2.0])
    with pytest.raises(TypeError, match="replace"):
        theano.clone(z, replace=3)


def test_deepcopy_of_graphs():
    x = T.vector("x")
    x.tag.test_value = np.ones(2)
    s = theano.shared(np.array([1.0, 2.0]), "s")
    y = T.tanh(x) * s
    y.name = "y"
    memo = {}
    y2 = copy.deepcopy(y, memo)
    x2, s2 = theano.graph.basic.inputs([y2])[:2]
    assert y2 is not y and y2.name == "y" and x2 is not x and s2 is not s
    assert x2.name == "x" and x2.tag.test_value is not x.tag.test_value
    assert s2.get_value().tolist() == [1.0, 2.0]
    s.set_value(np.array([5.0, 5.0]))
    assert s2.get_value().tolist() == [1.0, 2.0]                 # its own storage
    # one deepcopy call keeps sharing: both outputs use the same copied input
    a, b = copy.deepcopy([y, y + x])
    assert theano.graph.basic.inputs([a])[0] is theano.graph.basic.inputs([b])[0]
    v = np.array([0.3, -0.2])
    np.testing.assert_allclose(run([x2], [y2], v)[0], np.tanh(v) * [1.0, 2.0])


def test_clone_and_deepcopy_keep_regions():
    """ifelse and scan ops carry regions: a clone copies them too."""
    from theon.ifelse import ifelse
    x, y = T.dscalar("x"), T.dscalar("y")
    z = ifelse(T.gt(x, 0), x * 2, y * 3)
    w = theano.clone(z, replace={y: y + 1})
    assert len(w.owner.regions) == 2 and w.owner is not z.owner
    assert run([x, y], [w], -1.0, 1.0)[0] == 6.0 and run([x, y], [w], 2.0, 1.0)[0] == 4.0
    v = T.dvector("v")
    s, _ = theano.scan(lambda a, acc: acc + a * y, sequences=[v], outputs_info=[T.constant(0.0)])
    s2 = theano.clone(s, replace={y: y * 10})
    np.testing.assert_allclose(run([v, y], [s2], np.array([1.0, 2.0]), 1.0)[0], [10.0, 30.0])
    d = copy.deepcopy(z)
    assert len(d.owner.regions) == 2 and d.owner is not z.owner


def test_deepcopy_and_clone_of_deep_graphs():
    x = T.scalar("x")
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y + 1
    assert copy.deepcopy(y).owner.op.name == "add"
    assert theano.clone(y, replace={x: T.scalar("z")}).owner.op.name == "add"
    assert len(theano.graph.basic.ancestors([y])) > 3 * sys.getrecursionlimit()


# --- theon.gradient arguments ------------------------------------------------------------------
def test_grad_names():
    x = T.vector("x")
    cost = (x ** 2).sum()
    cost.name = "cost"
    assert T.grad(cost, x).name == "(dcost/dx)"
    assert T.grad(cost, x, add_names=False).name is None
    assert theano.tensor.grad is theano.grad is theano.gradient.grad


def test_return_disconnected_and_null_gradients():
    x, y = T.vector("x"), T.vector("y")
    cost = (x ** 2).sum()
    with pytest.raises(DisconnectedInputError):
        T.grad(cost, y)
    assert T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="None") is None
    assert T.grad(cost, y, disconnected_inputs="ignore", return_disconnected=None) is None
    g = T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="Disconnected")
    assert isinstance(g.type, DisconnectedType)
    gx, gy = T.grad(cost, [x, y], disconnected_inputs="ignore")
    np.testing.assert_array_equal(run([x, y], [gy], np.ones(2), np.ones(3))[0], np.zeros(3))
    with pytest.warns(UserWarning, match="not part"):
        T.grad(cost, y, disconnected_inputs="warn")
    with pytest.raises(ValueError, match="return_disconnected"):
        T.grad(cost, x, return_disconnected="zeros")
    with pytest.raises(ValueError, match="null_gradients"):
        T.grad(cost, x, null_gradients="ignore")
    with pytest.raises(TypeError, match="set"):
        T.grad(cost, {x})


def test_null_gradients_return():
    from theon.ir.autodiff import NullTypeGradError
    from theon.ir.dialect import register_op, unregister_op
    from theon.ir.opdef import OpDef

    class NoGrad(OpDef):
        name = "test_no_grad"
        num_operands = 1

        def infer(self, op):
            return [op.operands[0].type]

    register_op(NoGrad)
    try:
        from theon.frontend.basic import apply_op
        x, y = T.vector("x"), T.vector("y")
        cost = apply_op("test_no_grad", x).sum() + (y * 3).sum()
        with pytest.raises(NullTypeGradError):
            T.grad(cost, [x, y])
        gx, gy = T.grad(cost, [x, y], null_gradients="return")
        assert isinstance(gx.type, NullType) and "test_no_grad" in gx.type.why_null
        np.testing.assert_array_equal(run([y], [gy], np.ones(2))[0], [3.0, 3.0])
    finally:
        unregister_op("test_no_grad")


def test_known_grads_replace_the_cost_seed():
    x = T.vector("x")
    cost = (x ** 2).sum()
    g = T.grad(cost, x, known_grads={cost: T.constant(3.0, dtype="float64")})
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(run([x], [g], v)[0], 6 * v)


def test_lop_and_rop_structure():
    x, v = T.vector("x"), T.vector("v")
    y = T.sin(x)
    assert isinstance(theano.gradient.Rop([y], x, v), list)
    assert isinstance(theano.gradient.Rop((y,), [x], [v]), tuple)
    assert isinstance(theano.gradient.Lop(y, [x], v), list)
    assert theano.gradient.Rop(x, x, v) is v
    with pytest.raises(ValueError, match="dimensionality"):
        theano.gradient.Rop(y, x, T.matrix())
    with pytest.raises(ValueError, match="eval_points"):
        theano.gradient.Rop(y, [x], [v, v])
    z = T.vector("z")
    with pytest.raises(DisconnectedInputError):
        theano.gradient.Rop(z * 2, x, v)
    r = theano.gradient.Rop(z * 2, x, v, disconnected_outputs="ignore")
    np.testing.assert_array_equal(run([z], [r], np.ones(3))[0], np.zeros(3))
    assert theano.gradient.Rop(z * 2, x, v, disconnected_outputs="ignore", return_disconnected="None") is None
    # no trace of the dual variable: only x and v are inputs of the result
    r = theano.gradient.Rop(T.tanh(x).sum() * x, x, v)
    free = [i for i in theano.graph.basic.inputs([r]) if not isinstance(i, T.TensorConstant)]
    assert {i.name for i in free} == {"x", "v"}


def test_numeric_grad_class():
    def f(a, b):
        return float(np.sum(a ** 2) + np.sum(np.sin(b)))
    a, b = np.array([1.0, -2.0]), np.array([[0.5], [0.1]])
    ng = numeric_grad(f, [a, b])
    np.testing.assert_allclose(ng.gf[0], 2 * a, atol=1e-5)
    np.testing.assert_allclose(ng.gf[1], np.cos(b), atol=1e-5)
    assert ng.max_err([2 * a, np.cos(b)], 1e-4, 1e-4)[2] < 1e-5
    arg, pos, abs_err, rel_err = ng.max_err([2 * a, np.cos(b) + [[0.0], [0.5]]], 1e-4, 1e-4)
    assert (arg, pos) == (1, 1) and abs(abs_err - 0.5) < 1e-4 and rel_err > 0.1
    single = numeric_grad(lambda a: float(np.sum(a ** 3)), np.array([2.0], dtype=np.float32))
    assert isinstance(single.gf, np.ndarray) and abs(single.gf[0] - 12.0) < 0.05
    assert numeric_grad.type_eps["float64"] == 1e-7
    with pytest.raises(ValueError, match="shape"):
        ng.max_err([a, a], 1e-4, 1e-4)
    with pytest.raises(TypeError, match="float32/float64"):
        numeric_grad(f, [np.array([1, 2]), b])


def test_grad_clip_bounds_checked():
    x = T.vector()
    with pytest.raises(ValueError, match="upper_bound"):
        theano.gradient.grad_clip(x, 1.0, -1.0)
    with pytest.raises(TypeError, match="0-d"):
        theano.gradient.grad_scale(x, np.ones(2))


def test_scalar_upcast():
    assert theano.scalar.upcast("int8", "float32") == "float32"
    assert theano.scalar.upcast("int32", "float32") == "float64"
    assert theano.scalar.upcast("int8", "uint8") == "int16"
    assert theano.scalar.upcast("floatX") == theano.config.floatX
    assert theano.scalar.upgrade_to_float("int8") == "float32"
    assert theano.scalar.upgrade_to_float("int64") == "float64"


# --- Rop on random graphs against finite differences (reference interpreter) --------------------
UNARY = {"tanh": T.tanh, "sin": T.sin, "sigmoid": T.nnet.sigmoid, "sqr": T.sqr,
         "softplus": T.nnet.softplus, "exp-small": lambda a: T.exp(a * 0.3)}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / (1.5 + T.sqr(b)), "outer-sum": lambda a, b: a + b.sum(),
          "max": lambda a, b: T.maximum(a, b + 0.05), "dot": lambda a, b: a * T.dot(a, b)}


@st.composite
def random_graphs(draw):
    steps = draw(st.lists(st.tuples(st.sampled_from(sorted(UNARY) + sorted(BINARY)),
                                    st.integers(0, 10), st.integers(0, 10)), min_size=1, max_size=7))
    return steps


def build(steps, x, w):
    pool = [x, w]
    for name, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append(UNARY[name](a) if name in UNARY else BINARY[name](a, b))
    return pool[-1]


@settings(max_examples=40, deadline=None)
@given(random_graphs(), st.integers(0, 2 ** 31))
def test_rop_random_graphs_match_finite_differences(steps, seed):
    x, w, vx, vw = T.dvector("x"), T.dvector("w"), T.dvector("vx"), T.dvector("vw")
    y = build(steps, x, w)
    r = theano.gradient.Rop(y, [x, w], [vx, vw], disconnected_outputs="ignore")
    rng = np.random.default_rng(seed)
    a, b, da, db = (rng.uniform(-1, 1, 3) for _ in range(4))
    func, _ = build_function([x, w], [y])
    got = run([x, w, vx, vw], [r], a, b, da, db)[0]
    eps = 1e-6

    def f(p, q):
        return evaluate(func, [p, q])[0][0]
    want = (f(a + eps * da, b + eps * db) - f(a - eps * da, b - eps * db)) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
