"""Helpers for the gradient tests: raw-IR graph building, evaluation with
the NumPy reference interpreter, and finite differences."""
import numpy as np

from theon.frontend.build import build_function
from theon.frontend.variable import TensorVariable
from theon.gradient import grad, jacobian
from theon.ir import TensorType
from theon.ir.autodiff import Emitter
from theon.ir.interpreter import evaluate

EPS = 1e-6


def var(shape, dtype="float64", name=None):
    return TensorVariable(TensorType(dtype, shape), name=name)


def op(name, *operands, **attrs):
    """A new floating op (the autodiff ops included, registered or not)."""
    return Emitter(TensorVariable)(name, *operands, **attrs)


def const(value, dtype=None):
    return op("constant", value=np.array(value, dtype=dtype))


def total(x):
    """sum over every axis."""
    return op("sum", x, axes=tuple(range(x.ndim)), keepdims=False) if x.ndim else x


def run(inputs, outputs, arrays):
    func, shared = build_function(list(inputs), list(outputs))
    outs, _ = evaluate(func, list(arrays) + [s.get_value() for s in shared])
    return outs


def compiled(inputs, outputs):
    func, _ = build_function(list(inputs), list(outputs))
    return lambda *arrays: evaluate(func, list(arrays))[0]


def numeric_jacobian(f, arrays, j, eps=EPS):
    """d f(*arrays) / d arrays[j] by central differences, f -> list of arrays;
    one result per output, of shape out.shape + arrays[j].shape."""
    arrays = [np.asarray(a) for a in arrays]
    x = arrays[j]
    cols = []
    for k in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[k] += eps
        minus.flat[k] -= eps
        hi = f(*arrays[:j], plus, *arrays[j + 1:])
        lo = f(*arrays[:j], minus, *arrays[j + 1:])
        cols.append([(h - l) / (2 * eps) for h, l in zip(hi, lo)])
    outs = []
    for o in range(len(cols[0]) if cols else 0):
        stacked = np.stack([c[o] for c in cols], axis=-1)
        outs.append(stacked.reshape(stacked.shape[:-1] + x.shape))
    return outs


def input_vars(arrays, dynamic):
    """One variable per array: static shapes, all dims unknown (dynamic=True),
    or the static shapes given as a list (dynamic=[shape, ...])."""
    if isinstance(dynamic, list):
        return [var(s, a.dtype.name, name=f"x{i}") for i, (s, a) in enumerate(zip(dynamic, arrays))]
    return [var((None,) * a.ndim if dynamic else a.shape, a.dtype.name, name=f"x{i}")
            for i, a in enumerate(arrays)]


def _weighted_cost(fn, arrays, dynamic, seed):
    """Input variables ``xs`` for ``arrays`` and the scalar cost sum(fn(*xs) * r),
    r a fixed random array in [0.5, 1.5) of the output's shape."""
    xs = input_vars(arrays, dynamic)
    out = fn(*xs)
    shape = run(xs, [out], arrays)[0].shape
    r = np.random.default_rng(seed).uniform(0.5, 1.5, shape)
    return xs, total(op("mul", out, const(r)))


def check_first_order(fn, arrays, wrt, dynamic, rtol=1e-6, atol=1e-6, seed=0):
    """grad of sum(fn(*xs) * r) against finite differences."""
    xs, cost = _weighted_cost(fn, arrays, dynamic, seed)
    grads = grad(cost, [xs[j] for j in wrt])
    values = run(xs, grads, arrays)
    cost_fn = compiled(xs, [cost])
    for j, value in zip(wrt, values):
        assert value.shape == arrays[j].shape, (j, value.shape)
        expected = numeric_jacobian(cost_fn, arrays, j)[0]
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {j}")


def check_jacobian(fn, arrays, wrt, dynamic, rtol=1e-6, atol=1e-6):
    """The batched backward pass (jacobian) against finite differences."""
    xs = input_vars(arrays, dynamic)
    out = fn(*xs)
    jacs = jacobian(out, [xs[j] for j in wrt])
    values = run(xs, jacs, arrays)
    out_fn = compiled(xs, [out])
    for j, value in zip(wrt, values):
        expected = numeric_jacobian(out_fn, arrays, j)[0]
        assert value.shape == expected.shape, (j, value.shape, expected.shape)
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol,
                                   err_msg=f"jacobian wrt input {j}")


def check_second_order(fn, arrays, wrt, dynamic, rtol=1e-5, atol=1e-5, seed=1):
    """Every block d2 cost / dxi dxj (jacobian of the gradient graph)
    against finite differences of the gradient."""
    xs, cost = _weighted_cost(fn, arrays, dynamic, seed)
    targets = [xs[j] for j in wrt]
    grads = grad(cost, targets)
    blocks = [jacobian(g, targets, disconnected_inputs="ignore") for g in grads]
    values = run(xs, [b for row in blocks for b in row], arrays)
    grad_fn = compiled(xs, grads)
    for jj, j in enumerate(wrt):
        expected = numeric_jacobian(grad_fn, arrays, j)
        for ii in range(len(wrt)):
            value = values[ii * len(wrt) + jj]
            np.testing.assert_allclose(value, expected[ii], rtol=rtol, atol=atol,
                                       err_msg=f"d2/dx{wrt[ii]} dx{j}")
