"""Theano programs as written: a walk over the Theano names theon provides
(``import theon as theano``, ``import theon.tensor as T``), each checked to
be present and, compiled with ``theano.function``, to give what NumPy (or
finite differences) gives. Then the numerics that need care: Rop against
finite differences, xlogx/xlogy0 and their gradients at 0, prod's gradient
with zeros, Theano's corrected variance, grad_clip/grad_scale.
"""
import copy
import functools
import operator

import numpy as np
import pytest

import theon as theano
import theon.tensor as T

RNG = np.random.default_rng(1201)

# Every name below must exist; those with a case in CASES are also run.
NAMES = [
    "theano.function", "theano.shared", "theano.grad", "theano.clone", "theano.Variable",
    "theano.Constant", "theano.Apply", "theano.Rop", "theano.Lop",
    "theano.compile.SharedVariable", "theano.graph.basic.inputs", "theano.graph.basic.ancestors",
    "theano.graph.basic.clone", "theano.graph.basic.io_toposort", "theano.gof.graph.inputs",
    "theano.scalar.upcast",
    "theano.gradient.grad", "theano.gradient.Rop", "theano.gradient.Lop", "theano.gradient.grad_clip",
    "theano.gradient.grad_scale", "theano.gradient.numeric_grad", "theano.gradient.jacobian",
    "theano.gradient.hessian", "theano.gradient.verify_grad", "theano.gradient.DisconnectedType",
    "theano.gradient.NullTypeGradError", "theano.gradient.DisconnectedInputError",
    "T.grad", "T.sgn", "T.TensorType", "T.TensorVariable", "T.TensorConstant", "T.cast",
    "T.unbroadcast", "T.addbroadcast", "T.patternbroadcast", "T.var", "T.std", "T.prod",
    "T.xlogx.xlogx", "T.xlogx.xlogy0", "T.sharedvar.TensorSharedVariable", "T.Rop", "T.Lop",
    "theano.tensor.grad", "theano.tensor.xlogx.xlogx",
]


def resolve(path):
    root, *rest = path.split(".")
    return functools.reduce(getattr, rest, {"theano": theano, "T": T}[root])


@pytest.mark.parametrize("path", NAMES)
def test_name_is_present(path):
    assert resolve(path) is not None


def fn(inputs, outputs, **kw):
    return theano.function(inputs, outputs, **kw)


# --- one case per name: (theon's values, NumPy's values) ----------------------------------------
def case_grad():
    x = T.dvector("x")
    cost = (T.tanh(x) ** 2).sum()
    v = RNG.standard_normal(5)
    t = np.tanh(v)
    want = 2 * t * (1 - t ** 2)
    return [fn([x], g)(v) for g in (T.grad(cost, x), theano.grad(cost, x),
                                    theano.tensor.grad(cost, x), theano.gradient.grad(cost, x))], [want] * 4


def case_sgn():
    x = T.dvector()
    v = np.array([-2.0, 0.0, 3.5, -0.0])
    return [fn([x], T.sgn(x))(v)], [np.sign(v)]


def case_tensor_type():
    t = T.TensorType("float64", (False,) * 3)("t")
    r = T.TensorType("float64", (True, False))("r")
    v, w = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((1, 4))
    return [fn([t, r], t * r + 1)(v, w)], [v * w + 1]


def case_type_call():
    x = T.dmatrix("x")
    y, z = x.type(), x.type("z")
    v, w = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    return [fn([y, z], y - z)(v, w)], [v - w]


def case_rebroadcast():
    x, r = T.dmatrix("x"), T.drow("r")
    v, w = RNG.standard_normal((1, 4)), RNG.standard_normal((1, 4))
    u = T.unbroadcast(r, 0)
    f = fn([x, r], [T.addbroadcast(x, 0) + 1, u * 2, T.patternbroadcast(u, (True, False)) - r])
    return f(v, w), [v + 1, w * 2, np.zeros((1, 4))]


def case_shared():
    s = theano.shared(np.array([[1.0, 2.0, 3.0]]), "s", strict=False, allow_downcast=None,
                      broadcastable=(True, False))
    x = T.dmatrix("x")
    v = RNG.standard_normal((4, 3))
    f = fn([x], x * s, updates=[(s, s + 1)])
    out = [f(v), f(v)]
    return out + [s.get_value()], [v * [1.0, 2.0, 3.0], v * [2.0, 3.0, 4.0], np.array([[3.0, 4.0, 5.0]])]


def case_cast_floatx():
    x = T.ivector("x")
    v = np.array([1, -2, 3], dtype=np.int32)
    a, b = fn([x], [T.cast(x, "floatX"), x.astype("floatX") / 2])(v)
    assert a.dtype == b.dtype == np.dtype(theano.config.floatX)
    return [a, b], [v.astype(theano.config.floatX), v.astype(theano.config.floatX) / 2]


def case_attributes():
    x = T.dmatrix("x")
    x.tag.test_value = np.ones((2, 3))
    x._keras_shape = (None, 3)
    y = T.exp(x)
    y._keras_shape = x._keras_shape
    assert y.owner.op.name == "exp" and y.owner.inputs == [x] and y.owner.outputs == [y]
    v = RNG.standard_normal((2, 3))
    return [fn([x], y)(v), np.array(y._keras_shape[1])], [np.exp(v), np.array(3)]


def case_clone():
    x, y = T.dvector("x"), T.dvector("y")
    z = T.sin(x) * x
    w = theano.clone(z, replace={x: y * 2})
    v = RNG.standard_normal(4)
    return [fn([y], w)(v), fn([x], z)(v)], [np.sin(2 * v) * 2 * v, np.sin(v) * v]


def case_graph_walks():
    x, y = T.dvector("x"), T.dvector("y")
    s = theano.shared(np.ones(3), "s")
    z = (x * y + s).sum()
    ins = [v for v in theano.graph.basic.inputs([z]) if not isinstance(v, T.TensorConstant)]
    anc = theano.graph.basic.ancestors([z])
    assert ins == [x, y, s] and z in anc and x in anc
    vx, vy = RNG.standard_normal(3), RNG.standard_normal(3)
    return [fn([x, y], z)(vx, vy)], [np.sum(vx * vy + 1)]


def case_isinstance():
    x = T.dvector("x")
    c = T.constant(np.array([1.0, 2.0]))
    s = theano.shared(np.zeros(2))
    flags = [isinstance(x, theano.Variable), isinstance(x, T.TensorVariable),
             isinstance(c, T.TensorConstant), isinstance(s, theano.compile.SharedVariable),
             isinstance(s, T.sharedvar.TensorSharedVariable), isinstance(x, T.TensorConstant),
             isinstance(x, theano.compile.SharedVariable)]
    return [np.array(flags), fn([x], x + c)(np.ones(2))], [
        np.array([True] * 5 + [False] * 2), np.array([2.0, 3.0])]


def case_xlogx():
    from theon.tensor.xlogx import xlogx, xlogy0
    x, y = T.dvector("x"), T.dvector("y")
    v = np.array([0.0, 0.5, 1.0, 2.0])
    w = np.array([3.0, 0.0, 0.25, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_x = np.where(v == 0, 0.0, v * np.log(np.where(v == 0, 1, v)))
        ref_y = np.where(v == 0, 0.0, v * np.log(np.where(v == 0, 1, w)))
    return fn([x, y], [xlogx(x), xlogy0(x, y), T.xlogx.xlogy0(x, x)])(v, w), [ref_x, ref_y, ref_x]


def case_upcast():
    x = T.bvector("x")
    y = T.fvector("y")
    dt = theano.scalar.upcast(x.dtype, y.dtype)
    z = fn([x, y], x + y)(np.array([1, 2], dtype=np.int8), np.array([0.5, 0.5], dtype=np.float32))
    assert z.dtype.name == dt == "float32"
    return [z], [np.array([1.5, 2.5], dtype=np.float32)]


def case_deepcopy():
    x = T.dvector("x")
    s = theano.shared(np.array([1.0, 2.0]), "s")
    y = T.exp(x) * s
    y2 = copy.deepcopy(y)
    x2 = [v for v in theano.graph.basic.inputs([y2]) if v.name == "x"][0]
    s.set_value(np.array([10.0, 10.0]))
    v = np.array([0.1, 0.2])
    return [fn([x2], y2)(v), fn([x], y)(v)], [np.exp(v) * [1.0, 2.0], np.exp(v) * 10]


def _tanh_times_sum():
    """y = tanh(x) * sum(x), a point, a direction, and its Jacobian there."""
    x, u = T.dvector("x"), T.dvector("u")
    v, w = RNG.standard_normal(3), RNG.standard_normal(3)
    t = np.tanh(v)
    jac = np.diag((1 - t ** 2) * v.sum()) + np.outer(t, np.ones(3))
    return x, u, T.tanh(x) * x.sum(), v, w, jac


def case_lop():
    x, u, y, v, w, jac = _tanh_times_sum()
    got = [fn([x, u], theano.gradient.Lop(y, x, u))(v, w), fn([x, u], T.Lop([y], x, [u]))(v, w)]
    return got, [w @ jac] * 2


def case_rop():
    x, u, y, v, w, jac = _tanh_times_sum()
    return [fn([x, u], theano.gradient.Rop(y, x, u))(v, w), fn([x, u], T.Rop(y, x, u))(v, w)], [jac @ w] * 2


def case_grad_clip_scale():
    x = T.dvector("x")
    c = theano.gradient.grad_clip(x, -0.5, 0.5)
    s = theano.gradient.grad_scale(x, 3.0)
    v = np.array([0.1, 2.0, -3.0])
    f = fn([x], [c, T.grad((c ** 2).sum(), x), s, T.grad((s ** 2).sum(), x)])
    return f(v), [v, np.clip(2 * v, -0.5, 0.5), v, 6 * v]


def case_numeric_grad():
    x = T.dvector("x")
    cost = (T.sin(x) * x).sum()
    f = fn([x], cost)
    g = fn([x], T.grad(cost, x))
    v = RNG.standard_normal(4)
    ng = theano.gradient.numeric_grad(lambda a: f(a), [v])
    assert ng.max_err([g(v)], 1e-4, 1e-4)[2] < 1e-5
    return [ng.gf[0]], [np.sin(v) + v * np.cos(v)], 1e-6      # one-sided differences: O(eps)


def case_var_std():
    x = T.dmatrix("x")
    v = RNG.standard_normal((4, 5)) + 3
    f = fn([x], [T.var(x, corrected=True), T.std(x, axis=0, corrected=True),
                 T.var(x, axis=1, ddof=1, corrected=True), x.var(axis=1), x.std(ddof=1)])
    return f(v), [np.var(v), np.std(v, axis=0), np.var(v, axis=1, ddof=1), np.var(v, axis=1),
                  np.std(v, ddof=1)]


def case_prod():
    x = T.dmatrix("x")
    v = np.array([[2.0, 0.0, 3.0], [1.5, 2.0, -1.0], [0.0, 0.0, 4.0]])
    p = T.prod(x, axis=1, no_zeros_in_input=False)
    f = fn([x], [p, T.grad(p.sum(), x), x.prod(no_zeros_in_input=True)])
    return f(v), [np.prod(v, axis=1), np.array([[0.0, 6.0, 0.0], [-2.0, -1.5, 3.0], [0.0, 0.0, 0.0]]),
                  np.prod(v)]


CASES = {name[5:]: f for name, f in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_equals_numpy(name):
    got, want, *tol = CASES[name]()
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=tol[0] if tol else 1e-10, atol=1e-12)


# --- numerics that need care ------------------------------------------------------------------------
def finite_jvp(f, args, direction, k, eps=1e-6):
    """Central difference of f along ``direction`` (for argument k)."""
    plus = list(args)
    minus = list(args)
    plus[k] = args[k] + eps * direction
    minus[k] = args[k] - eps * direction
    return (f(*plus) - f(*minus)) / (2 * eps)


ROP_GRAPHS = {
    "mlp": lambda x, w: T.tanh(T.dot(x, w)).sum(axis=0),
    "softmax": lambda x, w: T.nnet.softmax(T.dot(x, w)),
    "prod-max": lambda x, w: T.concatenate([(x * x).prod(axis=1), T.max(T.dot(x, w), axis=1)]),
    "broadcast": lambda x, w: T.exp(x[:, :1] * w[0]) / (1 + w.sum()),
}


@pytest.mark.parametrize("name", sorted(ROP_GRAPHS))
def test_rop_matches_finite_differences(name):
    x, w = T.dmatrix("x"), T.dmatrix("w")
    vx, vw = T.dmatrix("vx"), T.dmatrix("vw")
    y = ROP_GRAPHS[name](x, w)
    f = fn([x, w], y)
    jvp = fn([x, w, vx, vw], theano.gradient.Rop(y, [x, w], [vx, vw]))
    jvp_x = fn([x, w, vx], theano.gradient.Rop(y, x, vx))
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5)) * 0.5
    da, db = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))
    want = finite_jvp(f, [a, b], da, 0) + finite_jvp(f, [a, b], db, 1)
    np.testing.assert_allclose(jvp(a, b, da, db), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jvp_x(a, b, da), finite_jvp(f, [a, b], da, 0), rtol=1e-6, atol=1e-7)


def test_rop_of_several_outputs_and_float32():
    x, v = T.fvector("x"), T.fvector("v")
    outs = theano.gradient.Rop([T.exp(x), (x ** 3).sum()], x, v)
    a = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    d = np.array([1.0, 2.0, -1.0], dtype=np.float32)
    r1, r2 = fn([x, v], outs)(a, d)
    assert r1.dtype == r2.dtype == np.float32
    np.testing.assert_allclose(r1, np.exp(a) * d, rtol=1e-6)
    np.testing.assert_allclose(r2, np.sum(3 * a ** 2 * d), rtol=1e-6)


def test_xlogx_gradients_at_zero():
    from theon.tensor.xlogx import xlogx, xlogy0
    x, y = T.dvector("x"), T.dvector("y")
    gx = T.grad(xlogx(x).sum(), x)
    gxy = T.grad(xlogy0(x, y).sum(), [x, y])
    v = np.array([0.0, 0.5, 2.0])
    w = np.array([3.0, 0.5, 2.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(fn([x], gx)(v), 1 + np.log(v))      # -inf at 0, the one-sided limit
    dx, dy = fn([x, y], gxy)(v, w)
    np.testing.assert_allclose(dx, np.log(w))                       # log(y) at x = 0, not 0
    np.testing.assert_allclose(dy, v / w)
    # second derivative of xlogx: 1/x
    h = T.grad(T.grad(xlogx(x).sum(), x).sum(), x)
    np.testing.assert_allclose(fn([x], h)(np.array([0.5, 2.0])), [2.0, 0.5])
    # and the values survive every pipeline, the one without canonicalize included
    for mode in (None, theano.Mode(optimizer=None)):
        np.testing.assert_allclose(fn([x], xlogx(x), mode=mode)(np.array([0.0, 2.0])), [0.0, 2 * np.log(2)])


def test_grad_clip_without_optimizer_and_symbolic_multiplier():
    x, m = T.dvector("x"), T.dscalar("m")
    c = theano.gradient.grad_scale(theano.gradient.grad_clip(x, -1.0, 1.0), m)
    g = T.grad((c * c).sum(), x)
    v = np.array([0.25, 3.0])
    for mode in (None, theano.Mode(optimizer=None)):
        f = fn([x, m], [c, g], mode=mode)
        out = f(v, 2.0)
        np.testing.assert_allclose(out[0], v)
        np.testing.assert_allclose(out[1], np.clip(2 * v * 2.0, -1, 1))   # scale first, then clip


def test_addbroadcast_checks_the_size_at_run_time():
    x = T.dmatrix("x")
    f = fn([x], T.addbroadcast(x, 0) * 2)
    np.testing.assert_array_equal(f(np.ones((1, 3))), 2 * np.ones((1, 3)))
    with pytest.raises(ValueError, match="size 1"):
        f(np.ones((2, 3)))


def test_corrected_variance_is_more_accurate_in_float32():
    """Theano's corrected two-pass variance: with an offset large against the
    spread, the plain two-pass result in float32 carries the rounding error
    of the mean (as NumPy's float32 var: ~2e-4 relative here), the
    corrected one does not (~2e-8)."""
    x = T.fvector("x")
    f = fn([x], [T.var(x), T.var(x, corrected=True)])
    rng = np.random.default_rng(7)
    plain_err, corrected_err = [], []
    for _ in range(20):
        data = (1e4 + 0.01 * rng.standard_normal(4097)).astype(np.float32)
        truth = np.var(data.astype(np.float64))
        plain, corrected = f(data)
        plain_err.append(abs(float(plain) - truth) / truth)
        corrected_err.append(abs(float(corrected) - truth) / truth)
    assert np.mean(corrected_err) < np.mean(plain_err) / 100
    assert max(corrected_err) < 1e-6


def test_prod_gradient_against_finite_differences():
    x = T.dvector("x")
    for data in ([2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.0, 2.0], [1.5, -2.0, 0.3, 4.0]):
        data = np.array(data)
        f = fn([x], x.prod())
        g = fn([x], T.grad(x.prod(), x))(data)
        num = [finite_jvp(f, [data], e, 0) for e in np.eye(4)]
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
        assert np.allclose(g, [functools.reduce(operator.mul, np.delete(data, i), 1.0) for i in range(4)])
