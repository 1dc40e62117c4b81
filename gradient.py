"""Symbolic differentiation: ``theon.grad``, jacobian, hessian, verify_grad.

Gradients are ordinary graphs (TensorVariables) built by the per-op rules
of ``ir/ops/*.py`` and driven by ``ir/autodiff.backprop``; ``theon.function``
compiles and simplifies them like any other graph.

    x = T.vector('x'); cost = (x ** 2).sum()
    g = theon.grad(cost, x)                 # 2 * x
    H = theon.gradient.hessian(cost, x)     # diag(2)
"""
import importlib.util
import warnings

import numpy as np

from .ir.autodiff import Emitter, NullTypeGradError, backprop
from .ir.core import Value
from .ir.types import TensorType, is_float

__all__ = ["grad", "jacobian", "hessian", "verify_grad", "numeric_grad", "zero_grad",
           "disconnected_grad", "DisconnectedInputError", "NullTypeGradError", "GradientError"]


class DisconnectedInputError(ValueError):
    """``grad`` was asked for the gradient with respect to a variable that
    the cost does not depend on (with ``disconnected_inputs='raise'``)."""


def _value_cls(v):
    """The class for new values in the graph of ``v`` (TensorVariable in
    the DSL's graphs; never SharedVariable)."""
    from .frontend.variable import TensorVariable
    return TensorVariable if isinstance(v, TensorVariable) else Value


def _label(v):
    return repr(v.name) if getattr(v, "name", None) else repr(v)


def _as_list(wrt, what):
    items = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    for i, w in enumerate(items):
        if not isinstance(w, Value):
            raise TypeError(f"{what}: wrt[{i}] must be a theon variable, got {type(w).__name__} {w!r}")
    return items


def _format_as(wrt, results):
    if isinstance(wrt, list):
        return list(results)
    if isinstance(wrt, tuple):
        return tuple(results)
    return results[0]


def _check_mode(disconnected_inputs):
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")


def _disconnected(w, disconnected_inputs, what):
    message = (f"{what} was asked for the gradient with respect to {_label(w)}, which is not part of "
               "the computational graph of the cost, or is used only through a non-differentiable "
               "path (consider_constant, disconnected_grad, an index). Pass "
               "disconnected_inputs='ignore' (or 'warn') to get zeros instead.")
    if disconnected_inputs == "raise":
        raise DisconnectedInputError(message)
    if disconnected_inputs == "warn":
        warnings.warn(message, stacklevel=3)


def _finish(raw, wrt, batch, float_dtype, emit, disconnected_inputs, return_disconnected, what):
    """Materialize backprop's results: zeros for ZERO and disconnected
    entries (``batch`` leading dims), ints get float zeros."""
    out = []
    for g, w in zip(raw, wrt):
        if g is None:
            _disconnected(w, disconnected_inputs, what)
            if return_disconnected is None:
                out.append(None)
                continue
        dtype = w.dtype if is_float(w.dtype) else float_dtype
        if isinstance(g, Value):
            out.append(g)
        else:
            out.append(emit.zeros(batch + emit.dims(w), dtype))
    return out


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Symbolic gradient of the 0-d float ``cost`` with respect to ``wrt``.

    wrt: a variable (shared variables included) or a list/tuple of them;
         the result is one gradient, or a list/tuple in the same order, each
         with the dtype and shape of its variable (float zeros for integer
         variables, whose gradient is zero).
    consider_constant: variables not to differentiate through.
    disconnected_inputs: 'raise' (DisconnectedInputError), 'warn' or
         'ignore' when the cost does not depend on a ``wrt`` variable; the
         gradient is then zeros (or None with ``return_disconnected=None``).
    known_grads: {variable: its gradient}, added to (or, with cost=None,
         instead of) the cost's; each gradient has its variable's dtype and ndim.
    """
    _check_mode(disconnected_inputs)
    if return_disconnected not in ("zero", None):
        raise ValueError(f"return_disconnected must be 'zero' or None, got {return_disconnected!r}")
    if cost is None and not known_grads:
        raise ValueError("grad: cost is None and there are no known_grads")
    if cost is not None:
        if not isinstance(cost, Value):
            raise TypeError(f"grad: cost must be a theon variable, got {type(cost).__name__} {cost!r}")
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar (0-d), got {cost.type}; "
                            "reduce it first, e.g. cost.sum() or cost.mean()")
        if not is_float(cost.dtype):
            raise TypeError(f"grad: cost must be a float scalar, got {cost.type}; cast it first")
    items = _as_list(wrt, "grad")
    anchor = cost if cost is not None else next(iter(known_grads))
    emit = Emitter(_value_cls(anchor))
    seeds = []
    if cost is not None:
        seeds.append((cost, emit.const(1, cost.dtype)))
    for v, g in (known_grads or {}).items():
        if not isinstance(v, Value) or not isinstance(g, Value):
            raise TypeError("grad: known_grads must map variables to variables")
        if g.ndim != v.ndim:
            raise ValueError(f"grad: known gradient {g.type} of {_label(v)} must have ndim {v.ndim}")
        seeds.append((v, emit.cast(g, v.dtype)))
    float_dtype = cost.dtype if cost is not None else next(
        (g.dtype for _, g in seeds if is_float(g.dtype)), "float64")
    raw = backprop(seeds, items, consider_constant or (), emit.value_cls)
    out = _finish(raw, items, [], float_dtype, emit, disconnected_inputs, return_disconnected, "grad")
    return _format_as(wrt, out)


def _eye(emit, n, dtype):
    """An n x n identity (n an int or a 0-d int64 Value)."""
    n = emit.const(n, "int64") if isinstance(n, int) else emit.cast(n, "int64")
    i = emit("arange", emit.const(0, "int64"), n, emit.const(1, "int64"))
    hit = emit("eq", emit.dimshuffle(i, (0, "x")), emit.dimshuffle(i, ("x", 0)))
    return emit.cast(hit, dtype)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt, of shape ``expression.shape + wrt.shape``.

    A 0-d expression gives ``grad``. All rows come from one batched backward
    pass seeded with an identity matrix, so the graph size does not depend
    on the length of ``expression`` and that length may be known only at
    run time.
    """
    _check_mode(disconnected_inputs)
    if not isinstance(expression, Value):
        raise TypeError(f"jacobian: expression must be a theon variable, got {type(expression).__name__}")
    if not is_float(expression.dtype):
        raise TypeError(f"jacobian: expression must be float, got {expression.type}")
    if expression.ndim == 0:
        return grad(expression, wrt, consider_constant, disconnected_inputs)
    items = _as_list(wrt, "jacobian")
    emit = Emitter(_value_cls(expression))
    flat = expression if expression.ndim == 1 else emit.reshape(expression, [-1])
    n = emit.dim(flat, 0)
    raw = backprop([(flat, _eye(emit, n, expression.dtype))], items, consider_constant or (),
                   emit.value_cls)
    out = _finish(raw, items, [n], expression.dtype, emit, disconnected_inputs, "zero", "jacobian")
    if expression.ndim > 1:
        out = [emit.reshape(j, emit.dims(expression) + emit.dims(w)) for j, w in zip(out, items)]
    return _format_as(wrt, out)


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Second derivatives of the 0-d ``cost``: for each ``wrt`` variable,
    ``jacobian(grad(cost, w), w)``, of shape ``w.shape + w.shape``."""
    _check_mode(disconnected_inputs)
    items = _as_list(wrt, "hessian")
    out = []
    for w in items:
        g = grad(cost, w, consider_constant, disconnected_inputs)
        out.append(jacobian(g, w, consider_constant, "ignore"))
    return _format_as(wrt, out)


def zero_grad(x):
    """``x`` whose gradient is zero: differentiation does not go through it,
    but variables reached only through it get zeros, not an error."""
    return _stop(x, "zero")


def disconnected_grad(x):
    """``x`` that differentiation treats as a constant: variables reached
    only through it are disconnected (DisconnectedInputError by default)."""
    return _stop(x, "disconnected")


def _stop(x, kind):
    if not isinstance(x, Value):
        from .frontend.basic import as_tensor_variable
        x = as_tensor_variable(x)
    return Emitter(_value_cls(x))("stop_gradient", x, kind=kind)


# --- verify_grad ---------------------------------------------------------------------------
_EPS = {"float64": 1e-6, "float32": 3e-3}
_TOL = {"float64": 1e-4, "float32": 1e-2}


class GradientError(Exception):
    """verify_grad found a symbolic gradient that disagrees with finite differences."""

    def __init__(self, arg, err_pos, shape, val1, val2, abs_err, rel_err, abs_tol, rel_tol):
        super().__init__()
        self.arg, self.err_pos, self.shape = arg, err_pos, shape
        self.val1, self.val2 = val1, val2
        self.abs_err, self.rel_err = abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol

    def __str__(self):
        pos = np.unravel_index(self.err_pos, self.shape) if self.shape else ()
        return (f"GradientError: the gradient of input {self.arg} disagrees with finite differences; "
                f"worst element {tuple(int(p) for p in pos)}: analytic {self.val1!r}, numeric "
                f"{self.val2!r} (abs error {self.abs_err:.3g} > abs_tol {self.abs_tol:.3g} and rel "
                f"error {self.rel_err:.3g} > rel_tol {self.rel_tol:.3g})")


def _compile(inputs, outputs, mode):
    """A callable returning the list of outputs: theon.function where it
    exists, else the NumPy reference interpreter."""
    if importlib.util.find_spec("theon.frontend.function") is None:
        return _compile_reference(inputs, outputs, mode)
    from .frontend.function import function
    try:
        f = function(list(inputs), list(outputs), mode=mode, on_unused_input="ignore")
    except NotImplementedError as e:
        if mode is not None:
            raise
        warnings.warn(f"verify_grad: theon.function cannot compile this graph ({e}); "
                      "checking with the NumPy reference interpreter instead", RuntimeWarning, stacklevel=3)
        return _compile_reference(inputs, outputs, mode)
    return lambda *args: [np.asarray(o) for o in f(*args)]


def _compile_reference(inputs, outputs, mode=None):
    """The same callable, evaluated by the NumPy reference interpreter."""
    from .frontend.build import build_function
    from .ir.interpreter import evaluate
    func, shared = build_function(list(inputs), list(outputs))

    def run(*args):
        outs, _ = evaluate(func, list(args) + [s.get_value(borrow=True) for s in shared])
        return outs
    return run


def numeric_grad(f, pt, eps):
    """Central finite-difference gradient of the scalar ``f(*pt)`` with
    respect to each array of ``pt``."""
    grads = []
    for i, p in enumerate(pt):
        g = np.zeros(p.shape, dtype=np.float64)
        for k in range(p.size):
            args = list(pt)
            plus, minus = p.copy(), p.copy()
            plus.flat[k] += eps
            minus.flat[k] -= eps
            args[i] = plus
            hi = float(f(*args))
            args[i] = minus
            lo = float(f(*args))
            step = float(plus.flat[k]) - float(minus.flat[k])   # eps after rounding
            g.flat[k] = (hi - lo) / step
        grads.append(g)
    return grads


def _worst(analytic, numeric, abs_tol, rel_tol):
    """(position, abs error, rel error, score) of the worst element."""
    a = np.asarray(analytic, dtype=np.float64).ravel()
    n = np.asarray(numeric, dtype=np.float64).ravel()
    if a.size == 0:
        return 0, 0.0, 0.0, 0.0
    abs_err = np.abs(a - n)
    denom = np.abs(a) + np.abs(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(denom > 0, abs_err / np.where(denom > 0, denom, 1), 0.0)
    finite = np.isfinite(a) & np.isfinite(n)
    with np.errstate(invalid="ignore"):
        score = np.where(finite, np.minimum(abs_err / abs_tol, rel_err / rel_tol),
                         np.where(a == n, 0.0, np.inf))
    k = int(np.argmax(score))
    return k, float(abs_err[k]), float(rel_err[k]), float(score[k])


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, out_type=None, abs_tol=None,
                rel_tol=None, mode=None, cast_to_output_type=False):
    """Check ``grad`` of ``fun`` at the point ``pt`` against central finite
    differences, as Theano's verify_grad.

    fun: a Python function of one symbolic variable per array of ``pt``,
         returning one float variable (any shape).
    pt:  a list of float arrays (or one array). Each test projects the output
         on a random array (``cost = sum(fun(*x) * r)``) and compares the
         symbolic gradient of that cost with finite differences of step
         ``eps``. Raises GradientError, naming the worst element, when both
         its absolute and its relative error exceed the tolerances (defaults:
         1e-4 for float64, 1e-2 for float32; eps 1e-6 and 3e-3).
    rng: numpy Generator or RandomState for the projections.
    mode: passed to theon.function.
    """
    from .frontend.variable import TensorVariable
    if isinstance(pt, np.ndarray) or not isinstance(pt, (list, tuple)):
        pt = [pt]
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.name not in _EPS:
            raise TypeError(f"verify_grad: point {i} has dtype {p.dtype}; only float32/float64 "
                            "points can be differentiated")
    rng = rng if rng is not None else np.random.default_rng(0)
    dtypes = [p.dtype.name for p in pt]
    eps = eps if eps is not None else max(_EPS[d] for d in dtypes)
    abs_tol = abs_tol if abs_tol is not None else max(_TOL[d] for d in dtypes)
    rel_tol = rel_tol if rel_tol is not None else max(_TOL[d] for d in dtypes)

    inputs = [TensorVariable(TensorType(p.dtype, tuple(1 if s == 1 else None for s in p.shape)),
                             name=f"input{i}") for i, p in enumerate(pt)]
    out = fun(*inputs)
    if not isinstance(out, Value):
        raise TypeError(f"verify_grad: fun must return one theon variable, got {type(out).__name__}")
    if not is_float(out.dtype):
        raise TypeError(f"verify_grad: fun's output must be float, got {out.type}")
    emit = Emitter(_value_cls(out))
    proj_type = TensorType(out_type or out.dtype, (None,) * out.ndim)
    proj = TensorVariable(proj_type, name="projection")
    cost = emit.sum(emit("mul", out, emit.cast(proj, out.dtype)), range(out.ndim), keepdims=False)
    grads = grad(cost, inputs, disconnected_inputs="ignore")
    f = _compile(inputs + [proj], [out] + grads, mode)
    cost_fn = _compile(inputs + [proj], [cost], mode)
    out_shape = f(*pt, np.ones((1,) * out.ndim, proj_type.dtype))[0].shape

    for _ in range(n_tests):
        r = (rng.random(out_shape) + 0.5).astype(proj_type.dtype)
        analytic = f(*pt, r)[1:]
        numeric = numeric_grad(lambda *a: cost_fn(*a, r)[0], pt, eps)
        for i, (a, n) in enumerate(zip(analytic, numeric)):
            k, abs_err, rel_err, score = _worst(a, n, abs_tol, rel_tol)
            if score > 1:
                raise GradientError(i, k, pt[i].shape, float(np.ravel(a)[k]), float(np.ravel(n)[k]),
                                    abs_err, rel_err, abs_tol, rel_tol)


verify_grad.E_grad = GradientError
