"""theon.grad and theon.gradient: forms of wrt, errors, connectivity
(disconnected_inputs, consider_constant, zero_grad/disconnected_grad,
integer and index paths), known_grads, higher order, jacobian, hessian,
verify_grad. Graphs are evaluated with the NumPy reference interpreter."""
import warnings

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import gradient
from theon.frontend.variable import TensorVariable
from theon.gradient import (DisconnectedInputError, GradientError, NullTypeGradError, disconnected_grad,
                            grad, hessian, jacobian, verify_grad, zero_grad)
from theon.ir.core import Operation
from theon.ir.dialect import get_op
from theon.ir.ops.elementwise import Sin

from ..grad_helpers import run, var

X3 = np.array([0.5, -1.25, 2.0])


@pytest.fixture
def reference_compile(monkeypatch):
    """verify_grad through the reference interpreter, whatever the backend's state."""
    monkeypatch.setattr(gradient, "_compile", gradient._compile_reference)


# --- basics ------------------------------------------------------------------------------------
def test_grad_of_square_is_two_x():
    a = T.dvector("a")
    g = theon.grad((a ** 2).sum(), a)
    assert isinstance(g, TensorVariable) and g.type == a.type
    np.testing.assert_allclose(run([a], [g], [X3])[0], 2 * X3)


def test_theon_grad_is_gradient_grad():
    assert theon.grad is grad


def test_wrt_forms():
    x, y = T.dvector("x"), T.dvector("y")
    cost = (x * y).sum()
    assert isinstance(grad(cost, x), TensorVariable)
    gl = grad(cost, [x, y])
    gt = grad(cost, (y, x))
    assert isinstance(gl, list) and isinstance(gt, tuple)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    vals = run([x, y], list(gl) + list(gt), [a, b])
    np.testing.assert_allclose(vals[0], b)
    np.testing.assert_allclose(vals[1], a)
    np.testing.assert_allclose(vals[2], a)
    np.testing.assert_allclose(vals[3], b)


def test_cost_must_be_a_float_scalar():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        grad(x * 2, x)
    with pytest.raises(TypeError, match="float"):
        grad(T.argmax(x), x)
    with pytest.raises(TypeError, match="theon variable"):
        grad(3.0, x)
    with pytest.raises(TypeError, match="wrt"):
        grad(x.sum(), "x")
    with pytest.raises(ValueError, match="disconnected_inputs"):
        grad(x.sum(), x, disconnected_inputs="maybe")


def test_fan_out_accumulates():
    x = T.dvector("x")
    cost = (x * x + x + T.sin(x) * x).sum()
    g = grad(cost, x)
    expected = 2 * X3 + 1 + np.cos(X3) * X3 + np.sin(X3)
    np.testing.assert_allclose(run([x], [g], [X3])[0], expected)


def test_grad_wrt_intermediate_and_cost():
    x = T.dvector("x")
    y = x * 3.0
    cost = (y ** 2).sum()
    gx, gy, gc = grad(cost, [x, y, cost])
    vx, vy, vc = run([x], [gx, gy, gc], [X3])
    np.testing.assert_allclose(vy, 2 * 3 * X3)
    np.testing.assert_allclose(vx, 18 * X3)
    assert vc == 1.0


def test_grad_wrt_shared_variable():
    w = theon.shared(np.array([1.0, -2.0, 0.5]), name="w")
    x = T.dvector("x")
    g = grad(T.tanh(w * x).sum(), w)
    assert g.type.dtype == "float64" and g.ndim == 1
    expected = (1 - np.tanh(w.get_value() * X3) ** 2) * X3
    np.testing.assert_allclose(run([x], [g], [X3])[0], expected)


def test_float32_gradients_stay_float32():
    x = T.fvector("x")
    g = grad((x * x).sum(), x)
    assert g.dtype == "float32"
    y = T.dvector("y")
    g2 = grad((T.cast(x, "float64") * y).sum(), x)    # float32 -> float64 -> back
    assert g2.dtype == "float32"
    np.testing.assert_allclose(run([x, y], [g2], [X3.astype("float32"), X3])[0], X3, rtol=1e-6)


# --- connectivity ---------------------------------------------------------------------------------
def test_disconnected_inputs_modes():
    x, y = T.dvector("x"), T.dvector("y")
    cost = (x ** 2).sum()
    with pytest.raises(DisconnectedInputError, match="'y'"):
        grad(cost, [x, y])
    assert issubclass(DisconnectedInputError, ValueError)
    with pytest.warns(UserWarning, match="'y'"):
        gy = grad(cost, y, disconnected_inputs="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gy2 = grad(cost, y, disconnected_inputs="ignore")
    assert grad(cost, y, disconnected_inputs="ignore", return_disconnected=None) is None
    for g in (gy, gy2):
        np.testing.assert_array_equal(run([y], [g], [X3])[0], np.zeros(3))


def test_index_operands_are_disconnected():
    x, i = T.dvector("x"), T.lscalar("i")
    cost = x[i] * 2.0
    with pytest.raises(DisconnectedInputError):
        grad(cost, i)
    np.testing.assert_allclose(run([x, i], [grad(cost, x)], [X3, 1])[0], [0, 2, 0])


def test_integer_wrt_gets_float_zeros():
    x, i = T.dvector("x"), T.lvector("i")
    cost = (T.cast(i, "float64") * x).sum()
    g = grad(cost, i)
    assert g.dtype == "float64" and g.ndim == 1
    np.testing.assert_array_equal(run([x, i], [g], [X3, np.array([1, 2, 3])])[0], np.zeros(3))


def test_non_differentiable_paths_give_zeros():
    x = T.dvector("x")
    for cost in (T.cast(T.argmax(x), "float64"), T.cast(T.gt(x, 0), "float64").sum(),
                 T.floor(x).sum(), T.sign(x).sum()):
        np.testing.assert_array_equal(run([x], [grad(cost, x)], [X3])[0], np.zeros(3))


def test_consider_constant():
    x = T.dvector("x")
    y = x * 3.0
    cost = (y * x).sum()
    g = grad(cost, x, consider_constant=[y])
    np.testing.assert_allclose(run([x], [g], [X3])[0], 3 * X3)            # not 6x
    np.testing.assert_allclose(run([x], [grad(cost, x)], [X3])[0], 6 * X3)
    with pytest.raises(DisconnectedInputError):
        grad(y.sum(), x, consider_constant=[y])
    # a constant wrt variable still gets its own gradient
    np.testing.assert_allclose(run([x], [grad(cost, y, consider_constant=[y])], [X3])[0], X3)


def test_zero_grad():
    x = T.dvector("x")
    z = zero_grad(x)
    np.testing.assert_allclose(run([x], [z], [X3])[0], X3)
    np.testing.assert_allclose(run([x], [grad((z * x).sum(), x)], [X3])[0], X3)
    np.testing.assert_array_equal(run([x], [grad(z.sum(), x)], [X3])[0], np.zeros(3))


def test_disconnected_grad():
    x = T.dvector("x")
    d = disconnected_grad(x)
    np.testing.assert_allclose(run([x], [d], [X3])[0], X3)
    np.testing.assert_allclose(run([x], [grad((d * x).sum(), x)], [X3])[0], X3)
    with pytest.raises(DisconnectedInputError):
        grad(d.sum(), x)
    np.testing.assert_array_equal(
        run([x], [grad(d.sum(), x, disconnected_inputs="ignore")], [X3])[0], np.zeros(3))


def test_known_grads():
    x = T.dvector("x")
    y = x ** 2
    gy = T.dvector("gy")
    g = grad(None, x, known_grads={y: gy})
    np.testing.assert_allclose(run([x, gy], [g], [X3, np.ones(3) * 2])[0], 4 * X3)
    both = grad(x.sum(), x, known_grads={y: gy})
    np.testing.assert_allclose(run([x, gy], [both], [X3, np.ones(3)])[0], 2 * X3 + 1)
    with pytest.raises(ValueError):
        grad(None, x)


def test_op_without_rule_raises_null_type_grad_error():
    class NoRule(Sin):
        name = "sin"
        grad = None

    x = T.dvector("x")
    y = Operation(NoRule(), [x], value_cls=TensorVariable).result
    with pytest.raises(NullTypeGradError, match="sin"):
        grad(y.sum(), x)
    # off the path it does not matter
    w = T.dvector("w")
    np.testing.assert_allclose(run([x, w], [grad((y * w).sum(), w)], [X3, X3])[0], np.sin(X3))


# --- higher order -----------------------------------------------------------------------------------
def test_third_derivative():
    x = T.dscalar("x")
    d1 = grad(T.sin(x) * x, x)
    d2 = grad(d1, x)
    d3 = grad(d2, x)
    v = 0.7
    vals = run([x], [d1, d2, d3], [v])
    np.testing.assert_allclose(vals, [np.cos(v) * v + np.sin(v), -np.sin(v) * v + 2 * np.cos(v),
                                      -np.cos(v) * v - 3 * np.sin(v)])


def test_hessian_of_cube_dynamic_length():
    x = T.dvector("x")
    H = hessian((x ** 3).sum(), x)
    for n in (1, 4):
        v = np.linspace(-1, 2, n)
        np.testing.assert_allclose(run([x], [H], [v])[0], np.diag(6 * v))


def test_hessian_of_quadratic_form():
    A = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 1.0, 2.0]])
    x = T.dvector("x")
    H = hessian(T.dot(x, T.dot(T.constant(A), x)), x)
    np.testing.assert_allclose(run([x], [H], [X3])[0], A + A.T, atol=1e-12)


def test_hessian_of_logsumexp():
    x = T.dvector("x")
    H = hessian(T.logsumexp(x), x)
    p = np.exp(X3 - np.log(np.exp(X3).sum()))
    np.testing.assert_allclose(run([x], [H], [X3])[0], np.diag(p) - np.outer(p, p), atol=1e-12)


def test_hessian_list_and_matrix_wrt():
    W, v = T.dmatrix("W"), T.dvector("v")
    cost = (T.dot(W, v) ** 2).sum()          # sum_i (W v)_i^2
    HW, Hv = hessian(cost, [W, v])
    w0, v0 = np.arange(6.0).reshape(2, 3) / 5, X3
    hw, hv = run([W, v], [HW, Hv], [w0, v0])
    assert hw.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(hv, 2 * w0.T @ w0)
    expected = np.einsum("ik,j,l->ijkl", np.eye(2), v0, v0) * 2
    np.testing.assert_allclose(hw, expected)


def test_jacobian_theano_example():
    x = T.dvector("x")
    J = jacobian(x ** 2, x)
    np.testing.assert_allclose(run([x], [J], [np.array([4.0, 4.0])])[0], [[8, 0], [0, 8]])


def test_jacobian_shapes_and_forms():
    x, W = T.dvector("x"), T.dmatrix("W")
    y = T.tanh(T.dot(W, x))                      # (2,)
    M = T.outer(x, x)                           # (3, 3)
    Jx, JW = jacobian(y, [x, W])
    JM = jacobian(M, x)
    J0 = jacobian(y.sum(), x)                   # 0-d: the gradient
    w0 = np.arange(6.0).reshape(2, 3) / 7
    jx, jw, jm, j0 = run([x, W], [Jx, JW, JM, J0], [X3, w0])
    d = 1 - np.tanh(w0 @ X3) ** 2
    np.testing.assert_allclose(jx, d[:, None] * w0)
    np.testing.assert_allclose(jw, np.einsum("i,ij,k->ijk", d, np.eye(2), X3))
    np.testing.assert_allclose(jm, np.einsum("ik,j->ijk", np.eye(3), X3) + np.einsum("jk,i->ijk", np.eye(3), X3))
    np.testing.assert_allclose(j0, d @ w0)
    with pytest.raises(DisconnectedInputError):
        jacobian(y, T.dvector("z"))


def test_jacobian_of_gradient_with_fan_out_matches_finite_differences():
    x = var((None,), name="x")
    cost = (T.exp(x) * T.sin(x)).sum() * x.sum()
    g = grad(cost, x)
    J = jacobian(g, x)
    gfun = lambda v: run([x], [g], [v])[0]  # noqa: E731
    eps = 1e-6
    num = np.stack([(gfun(X3 + eps * e) - gfun(X3 - eps * e)) / (2 * eps) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(run([x], [J], [X3])[0], num, rtol=1e-6, atol=1e-6)


# --- verify_grad ------------------------------------------------------------------------------------
class WrongSin(Sin):
    def grad(self, op, grads):
        from theon.ir.autodiff import emitter
        e = emitter(op)
        return [e("mul", grads[0], e("sin", op.operands[0]))]     # should be cos


def wrong_sin(x):
    return Operation(WrongSin(), [x], value_cls=TensorVariable).result


def test_verify_grad_passes(reference_compile):
    rng = np.random.default_rng(0)
    verify_grad(lambda a, b: T.tanh(T.dot(a, b)) + a.sum(), [rng.random((2, 3)), rng.random((3, 4))], rng=rng)
    verify_grad(T.nnet.softmax, [rng.random((2, 3))], rng=np.random.RandomState(1))
    verify_grad(lambda a: a * 2, rng.random(3).astype("float32"))     # one point, float32


def test_verify_grad_reports_the_worst_mismatch(reference_compile):
    pt = [np.array([0.3, 1.2, -0.4])]
    with pytest.raises(GradientError) as info:
        verify_grad(wrong_sin, pt, rng=np.random.default_rng(0))
    err = info.value
    assert err.arg == 0 and err.abs_err > err.abs_tol and err.rel_err > err.rel_tol
    message = str(err)
    assert "input 0" in message and "worst element" in message and "numeric" in message
    assert verify_grad.E_grad is GradientError


def test_verify_grad_rejects_bad_arguments(reference_compile):
    with pytest.raises(TypeError, match="float"):
        verify_grad(lambda a: a * 2, [np.arange(3)])
    with pytest.raises(TypeError, match="one theon variable"):
        verify_grad(lambda a: [a, a], [np.ones(3)])


def test_verify_grad_dtype_tolerances(reference_compile):
    # a float32 point gets float32 tolerances (1e-2): this gradient is only close
    pt = np.array([0.5, 1.0], dtype="float32")
    verify_grad(lambda a: a ** 3, [pt])
    with pytest.raises(GradientError):
        verify_grad(lambda a: a ** 3, [pt.astype("float64")], abs_tol=1e-14, rel_tol=1e-14)


def test_get_op_lookup_is_unchanged():
    assert get_op("sin").name == "sin"
