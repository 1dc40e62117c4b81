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

from .ir.autodiff import ZERO, Emitter, NullTypeGradError, backprop
from .ir.core import Value, _ids
from .ir.types import TensorType, is_float

__all__ = ["grad", "Lop", "Rop", "jacobian", "hessian", "verify_grad", "numeric_grad",
           "zero_grad", "disconnected_grad", "grad_clip", "grad_scale", "DisconnectedInputError",
           "DisconnectedType", "NullType", "NullTypeGradError", "GradientError"]


class DisconnectedInputError(ValueError):
    """``grad`` was asked for the gradient with respect to a variable that
    the cost does not depend on (with ``disconnected_inputs='raise'``)."""


class DisconnectedType:
    """The type of the gradient of a variable the cost does not depend on
    (``grad(..., return_disconnected='Disconnected')``); calling it makes
    such a gradient, a placeholder that no graph can use."""

    def __call__(self, name=None):
        return GradientMarker(self, name)

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        return "DisconnectedType"


class NullType:
    """The type of a gradient that is not defined (an op without a gradient
    rule on the way): ``grad(..., null_gradients='return')`` gives one;
    ``why_null`` says why."""

    def __init__(self, why_null="(no explanation given)"):
        self.why_null = why_null

    def __call__(self, name=None):
        return GradientMarker(self, name)

    def __repr__(self):
        return f"NullType({self.why_null!r})"


class GradientMarker:
    """A gradient that is not a value: its ``type`` is a DisconnectedType or a NullType."""

    def __init__(self, type, name=None):
        self.type, self.name, self.owner = type, name, None

    def __repr__(self):
        return f"<{self.type!r} gradient{' ' + self.name if self.name else ''}>"


def disconnected_type():
    return DisconnectedType()()


def _value_cls(v):
    """The class for new values in the graph of ``v`` (TensorVariable in
    the DSL's graphs; never SharedVariable)."""
    from .frontend.variable import TensorVariable
    return TensorVariable if isinstance(v, TensorVariable) else Value


def _label(v):
    return repr(v.name) if getattr(v, "name", None) else repr(v)


def _as_list(wrt, what, name="wrt"):
    if isinstance(wrt, (set, frozenset, dict)):
        raise TypeError(f"{what}: {name} must be a variable or a list/tuple of them, not a "
                        f"{type(wrt).__name__} (its order is not defined)")
    items = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    for i, w in enumerate(items):
        if not isinstance(w, Value):
            raise TypeError(f"{what}: {name}[{i}] must be a theon variable, got {type(w).__name__} {w!r}")
    return items


def _format_as(wrt, results):
    if isinstance(wrt, list):
        return list(results)
    if isinstance(wrt, tuple):
        return tuple(results)
    return results[0]


def _check_mode(disconnected_inputs, name="disconnected_inputs"):
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"{name} must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")


def _check_return_disconnected(return_disconnected):
    """'zero', 'None' (or None) or 'Disconnected', as Theano."""
    if return_disconnected is None:
        return "None"
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError(f"return_disconnected must be 'zero', 'None' or 'Disconnected', got "
                         f"{return_disconnected!r}")
    return return_disconnected


def _disconnected(message, mode, return_disconnected):
    """Report a disconnected entry as ``mode`` says; returns what it gets:
    None, a Disconnected gradient, or ZERO (zeros of its shape)."""
    if mode == "raise":
        raise DisconnectedInputError(message)
    if mode == "warn":
        warnings.warn(message, stacklevel=4)
    if return_disconnected == "None":
        return None
    return disconnected_type() if return_disconnected == "Disconnected" else ZERO


def _finish(raw, wrt, batch, float_dtype, emit, disconnected_inputs, return_disconnected, what):
    """Materialize backprop's results: zeros for ZERO and disconnected
    entries (``batch`` leading dims), ints get float zeros; disconnected
    ones as ``return_disconnected`` says."""
    out = []
    for g, w in zip(raw, wrt):
        if g is None:
            g = _disconnected(
                f"{what} was asked for the gradient with respect to {_label(w)}, which is not part "
                "of the computational graph of the cost, or is used only through a "
                "non-differentiable path (consider_constant, disconnected_grad, an index). Pass "
                "disconnected_inputs='ignore' (or 'warn') to get zeros instead.",
                disconnected_inputs, return_disconnected)
            if g is not ZERO:
                out.append(g)
                continue
        dtype = w.dtype if is_float(w.dtype) else float_dtype
        if isinstance(g, Value):
            out.append(g)
        else:
            out.append(emit.zeros(batch + emit.dims(w), dtype))
    return out


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", add_names=True,
         known_grads=None, return_disconnected="zero", null_gradients="raise"):
    """Symbolic gradient of the 0-d float ``cost`` with respect to ``wrt``
    (Theano's ``grad``).

    wrt: a variable (shared variables included) or a list/tuple of them;
         the result is one gradient, or a list/tuple in the same order, each
         with the dtype and shape of its variable (float zeros for integer
         variables, whose gradient is zero).
    consider_constant: variables not to differentiate through.
    disconnected_inputs: 'raise' (DisconnectedInputError), 'warn' or
         'ignore' when the cost does not depend on a ``wrt`` variable.
    add_names: name each gradient ``(d<cost>/d<wrt>)`` when both are named.
    known_grads: {variable: its gradient}, added to the cost's (or, with
         cost=None, instead of it; a gradient given for the cost replaces the
         default 1); each has its variable's ndim.
    return_disconnected: what a disconnected variable gets: 'zero' (zeros
         of its shape), 'None' (None), 'Disconnected' (a DisconnectedType
         gradient).
    null_gradients: 'raise' (NullTypeGradError) or 'return' (a NullType
         gradient) where an op on the way has no gradient rule.
    """
    _check_mode(disconnected_inputs)
    return_disconnected = _check_return_disconnected(return_disconnected)
    if null_gradients not in ("raise", "return"):
        raise ValueError(f"null_gradients must be 'raise' or 'return', got {null_gradients!r}")
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
    known_grads = dict(known_grads or {})
    anchor = cost if cost is not None else next(iter(known_grads))
    emit = Emitter(_value_cls(anchor))
    first_new_id = next(_ids)
    seeds = []
    if cost is not None and cost not in known_grads:
        seeds.append((cost, emit.const(1, cost.dtype)))
    for v, g in known_grads.items():
        if not isinstance(v, Value) or not isinstance(g, Value):
            raise TypeError("grad: known_grads must map variables to variables")
        if g.ndim != v.ndim:
            raise ValueError(f"grad: known gradient {g.type} of {_label(v)} must have ndim {v.ndim}")
        if not is_float(g.dtype):
            raise TypeError(f"grad: known gradient {g.type} of {_label(v)} must be float")
        seeds.append((v, emit.cast(g, v.dtype) if is_float(v.dtype) else g))
    float_dtype = cost.dtype if cost is not None else next(
        (g.dtype for _, g in seeds if is_float(g.dtype)), "float64")
    raw = _backprop(seeds, items, consider_constant or (), emit.value_cls, null_gradients)
    out = list(raw)    # NullType gradients stay as they are
    done = [i for i, g in enumerate(raw) if not isinstance(g, GradientMarker)]
    finished = _finish([raw[i] for i in done], [items[i] for i in done], [], float_dtype, emit,
                       disconnected_inputs, return_disconnected, "grad")
    for i, g in zip(done, finished):
        out[i] = g
    if add_names and cost is not None and cost.name:
        for g, w in zip(out, items):
            if isinstance(g, Value) and g.id > first_new_id and g.name is None and w.name:
                g.name = f"(d{cost.name}/d{w.name})"
    return _format_as(wrt, out)


def _backprop(seeds, items, consider_constant, value_cls, null_gradients):
    """backprop; with null_gradients='return', a NullType gradient for each
    ``wrt`` whose gradient needs an op without a gradient rule."""
    try:
        return backprop(seeds, items, consider_constant, value_cls)
    except NullTypeGradError as e:
        if null_gradients == "raise":
            raise
        why = str(e)
    out = []
    for w in items:
        try:
            out.append(backprop(seeds, [w], consider_constant, value_cls)[0])
        except NullTypeGradError:
            out.append(NullType(why)())
    return out


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """The vector-Jacobian product: ``sum_i eval_points[i] * d f[i] / d wrt``
    (each ``eval_points[i]`` of the shape of ``f[i]``), for each ``wrt``
    variable; the result has the structure of ``wrt``."""
    fs = _as_list(f, "Lop", "f")
    points = _eval_points(eval_points, fs, "Lop", "f")
    return grad(None, wrt, consider_constant, disconnected_inputs,
                known_grads=dict(zip(fs, points)))


def _eval_points(eval_points, against, what, name):
    from .frontend.basic import as_tensor_variable
    points = list(eval_points) if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(points) != len(against):
        raise ValueError(f"{what}: {len(points)} eval_points for {len(against)} entries of {name}")
    out = []
    for i, (p, v) in enumerate(zip(points, against)):
        p = as_tensor_variable(p)
        if p.ndim != v.ndim:
            raise ValueError(f"{what}: element {i} of {name}/eval_points have mismatched "
                             f"dimensionality: {v.ndim} versus {p.ndim}")
        out.append(p)
    return out


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """The Jacobian-vector product (forward mode): for each ``f[i]``,
    ``sum_j d f[i] / d wrt[j] * eval_points[j]`` (``eval_points[j]`` of the
    shape of ``wrt[j]``); the result has the structure of ``f``.

    Computed by transposing reverse mode twice: the vector-Jacobian product
    ``u -> J^T u`` is linear in ``u``, so the gradient of ``<J^T u, v>``
    with respect to ``u`` is ``J v``, exactly.
    """
    _check_mode(disconnected_outputs, "disconnected_outputs")
    return_disconnected = _check_return_disconnected(return_disconnected)
    fs = _as_list(f, "Rop", "f")
    wrts = _as_list(wrt, "Rop")
    points = _eval_points(eval_points, wrts, "Rop", "wrt")
    out = []
    for y in fs:
        if y in wrts:
            out.append(points[wrts.index(y)])
            continue
        r = _jvp(y, wrts, points) if is_float(y.dtype) else None
        if r is None:
            r = _disconnected(
                f"Rop was asked for the derivative of {_label(y)}, which does not depend on the "
                "variables in wrt (or only through a non-differentiable path)",
                disconnected_outputs, return_disconnected)
            if r is not ZERO:
                out.append(r)
                continue
        if r is ZERO:
            emit = Emitter(_value_cls(y))
            r = emit.zeros(emit.dims(y), y.dtype if is_float(y.dtype) else "float64")
        out.append(r)
    return _format_as(f, out)


def _jvp(y, wrts, points):
    """J v for one output: a Value, ZERO, or None when ``y`` does not
    depend on ``wrts``."""
    from .graph.basic import clone
    emit = Emitter(_value_cls(y))
    u = emit.value_cls(y.type, name="rop_dual")
    raw = backprop([(y, u)], wrts, (), emit.value_cls)
    if all(g is None for g in raw):
        return None
    terms = [emit.sum(emit("mul", g, emit.cast(p, g.dtype)), range(g.ndim), keepdims=False)
             for g, p in zip(raw, points) if isinstance(g, Value)]
    if not terms:
        return ZERO
    s = emit.cast(terms[0], y.dtype)
    for t in terms[1:]:
        s = emit("add", s, emit.cast(t, y.dtype))
    r = backprop([(s, emit.const(1, s.dtype))], [u], (), emit.value_cls)[0]
    if not isinstance(r, Value):
        return ZERO
    # s is linear in u, so r does not depend on u's value; u may remain
    # through its shape, which is y's
    return clone(r, replace={u: emit.zeros(emit.dims(y), y.dtype)})


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


def grad_clip(x, lower_bound, upper_bound):
    """``x``, whose gradient is clipped to ``[lower_bound, upper_bound]``
    on the way back (Theano's grad_clip)."""
    lower, upper = (_bound(b, x, "grad_clip") for b in (lower_bound, upper_bound))
    from .ir.opdef import const_value
    lo, hi = const_value(lower), const_value(upper)
    if lo is not None and hi is not None and not hi >= lo:
        raise ValueError(f"grad_clip: upper_bound ({hi}) must be >= lower_bound ({lo})")
    x = _as_variable(x)
    return Emitter(_value_cls(x))("grad_override", x, lower, upper, kind="clip")


def grad_scale(x, multiplier):
    """``x``, whose gradient is multiplied by ``multiplier`` on the way back
    (Theano's grad_scale)."""
    m = _bound(multiplier, x, "grad_scale")
    x = _as_variable(x)
    return Emitter(_value_cls(x))("grad_override", x, m, kind="scale")


def _bound(b, x, what):
    """A 0-d float constant or variable for a grad_clip bound or a multiplier."""
    from .frontend.basic import as_tensor_variable, cast, constant
    x = _as_variable(x)
    dtype = x.dtype if is_float(x.dtype) else "float64"
    b = constant(b, dtype=dtype) if not isinstance(b, Value) else as_tensor_variable(b)
    if b.ndim != 0:
        raise TypeError(f"{what}: bounds and multipliers must be 0-d, got {b.type}")
    return cast(b, dtype) if not is_float(b.dtype) else b


def _as_variable(x):
    if not isinstance(x, Value):
        from .frontend.basic import as_tensor_variable
        x = as_tensor_variable(x)
    return x


def _stop(x, kind):
    x = _as_variable(x)
    return Emitter(_value_cls(x))("stop_gradient", x, kind=kind)


# --- verify_grad ---------------------------------------------------------------------------
_EPS = {"float64": 1e-6, "float32": 3e-3, "float16": 1e-1}      # float16: Theano 1.0's values
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


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


def _central_grad(f, pt, eps):
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


class numeric_grad:
    """Theano's finite-difference gradient: ``numeric_grad(f, pt).gf`` is the
    one-sided difference ``(f(x + eps e_i) - f(x)) / eps`` of the scalar
    ``f(*pt)`` for every element of every array of ``pt`` (a list of arrays,
    or one array: then ``gf`` is one array). ``eps`` defaults to
    ``type_eps`` of the widest-step dtype among the points; the points are
    perturbed in the dtype of smallest step. ``max_err`` compares a
    symbolic gradient with it."""
    type_eps = {"float64": 1e-7, "float32": 3e-4, "float16": 1e-1}

    def __init__(self, f, pt, eps=None, out_type=None):
        packed = not isinstance(pt, (list, tuple))
        points = [np.array(p) for p in ([pt] if packed else pt)]
        dtypes = [p.dtype.name for p in points]
        for i, d in enumerate(dtypes):
            if d not in self.type_eps:
                raise TypeError(f"numeric_grad: point {i} has dtype {d}; only float16/float32/float64 "
                                "points can be differentiated")
        working = min((self.type_eps[d], d) for d in dtypes)[1]
        if eps is None:
            eps = max(self.type_eps[d] for d in dtypes)
        sizes = [p.size for p in points]
        x = np.concatenate([p.astype(working).ravel() for p in points]) if points else np.zeros(0)
        gx = np.zeros(x.size, dtype=out_type or working)
        bounds = np.cumsum([0] + sizes)

        def unpack(flat):
            return [flat[a:b].reshape(p.shape).copy() for a, b, p in zip(bounds, bounds[1:], points)]
        f_x = f(*unpack(x))
        for i in range(x.size):
            moved = x.copy()
            moved[i] += eps
            gx[i] = (f(*unpack(moved)) - f_x) / eps
        self.gf = [gx[a:b].reshape(p.shape) for a, b, p in zip(bounds, bounds[1:], points)]
        if packed:
            self.gf = self.gf[0]

    @staticmethod
    def abs_rel_err(a, b):
        """(``|a - b|``, ``|a - b| / max(|a| + |b|, 1e-8)``), as arrays."""
        abs_err = np.asarray(abs(a - b))
        return abs_err, np.asarray(abs_err / np.maximum(abs(a) + abs(b), 1e-8))

    def abs_rel_errors(self, g_pt):
        """[(abs error, rel error)] of each array of ``g_pt`` against ``gf``."""
        gf = self.gf if isinstance(self.gf, list) else [self.gf]
        if len(g_pt) != len(gf):
            raise ValueError(f"numeric_grad: {len(g_pt)} gradients for {len(gf)} points")
        out = []
        for i, (a, b) in enumerate(zip(g_pt, gf)):
            a = np.asarray(a)
            if a.shape != b.shape:
                raise ValueError(f"numeric_grad: gradient {i} has shape {a.shape}, expected {b.shape}")
            out.append(self.abs_rel_err(a, b))
        return out

    def max_err(self, g_pt, abs_tol, rel_tol):
        """(index of the worst array, flat position in it, its abs error, its
        rel error), worst by ``min(abs_err / abs_tol, rel_err / rel_tol)``:
        above 1 means both tolerances are exceeded."""
        worst = []
        for abs_err, rel_err in self.abs_rel_errors(g_pt):
            if not (np.all(np.isfinite(abs_err)) and np.all(np.isfinite(rel_err))):
                raise ValueError(f"numeric_grad: the errors are not finite: {abs_err!r}")
            scaled = np.minimum(abs_err / abs_tol, rel_err / rel_tol).ravel()
            k = int(scaled.argmax()) if scaled.size else 0
            worst.append((scaled[k] if scaled.size else 0.0, k,
                          abs_err.ravel()[k] if scaled.size else 0.0,
                          rel_err.ravel()[k] if scaled.size else 0.0))
        arg = int(np.argmax([w[0] for w in worst]))
        return arg, worst[arg][1], worst[arg][2], worst[arg][3]


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
         1e-4 for float64, 1e-2 for float32, 5e-2 for float16; eps 1e-6, 3e-3, 1e-1).
    rng: numpy Generator or RandomState for the projections.
    mode: passed to theon.function.
    """
    from .frontend.variable import TensorVariable
    if isinstance(pt, np.ndarray) or not isinstance(pt, (list, tuple)):
        pt = [pt]
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.name not in _EPS:
            raise TypeError(f"verify_grad: point {i} has dtype {p.dtype}; only float16/float32/float64 "
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
        numeric = _central_grad(lambda *a: cost_fn(*a, r)[0], pt, eps)
        for i, (a, n) in enumerate(zip(analytic, numeric)):
            k, abs_err, rel_err, score = _worst(a, n, abs_tol, rel_tol)
            if score > 1:
                raise GradientError(i, k, pt[i].shape, float(np.ravel(a)[k]), float(np.ravel(n)[k]),
                                    abs_err, rel_err, abs_tol, rel_tol)


verify_grad.E_grad = GradientError
