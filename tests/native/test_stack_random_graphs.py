"""Random expression graphs, compiled with ``theon.function``, against a NumPy
evaluation of the same expression tree.

A hypothesis strategy draws inputs (dtype, static shape with known and
unknown dims, run-time shapes whose 1-dims broadcast, sometimes empty) and
a few expression trees over them: elementwise unary and binary ops,
comparisons, ``where``, bitwise ops, casts between dtypes, weak Python
scalars and strong NumPy constants, and reductions with random axes and
keepdims. Each node is a function of a backend ``m`` (``TT`` builds theon
graph, ``NP`` - written here on NumPy alone - computes the reference), so one
tree gives both sides. The compiled result must have NumPy's dtype and
shape and its values; the same graph compiled with ``mode='FAST_COMPILE'``
must agree with ``FAST_RUN``.

Values: float domains are kept finite (log1p and sqrt of ``abs``, exp of a
clipped value, division by ``abs(b) + 1``; float->int casts clip first, as
out-of-range conversions are undefined). The tree is also evaluated
in float64 throughout (float32 inputs upcast, float math on small ints in
float64): the difference bounds the rounding error allowed, and a bool/int output that changes between the two
(a comparison on a float32 rounding edge) is checked for dtype and shape only.
"""
import operator
import os
import warnings
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T

from ..mirror_helpers import np_erf

DTYPES = ["float32", "float64", "float64", "float32", "int8", "int16", "int32", "int64", "uint8",
          "bool"]
INT_KINDS = "iub"


# True while the float64 "high precision" mirror runs (see _close)
_HIGH_PRECISION = [False]


def _np_float_math(ufunc):
    """NumPy's ufunc, but bool/int8/int16/uint8 compute in float32 as theon
    documents (NumPy would use float16); in float64 for the high-precision mirror."""
    def apply(x):
        x = np.asarray(x)
        if x.dtype.kind in INT_KINDS and x.dtype.itemsize <= 2:
            x = x.astype(np.float64 if _HIGH_PRECISION[0] else np.float32)
        elif x.dtype.kind in INT_KINDS:
            x = x.astype(np.float64)
        return ufunc(x)
    return apply


def _no_float16(ufunc):
    """``ufunc``, computing in float32 where NumPy would give float16 (theon does)."""
    def apply(x):
        out = ufunc(x)
        if np.asarray(out).dtype == np.float16:
            out = ufunc(np.asarray(x).astype(np.float32))
        return out
    return apply


class _NP:
    """The NumPy mirror of the DSL functions the trees use."""
    name = "np"
    exp = staticmethod(_np_float_math(np.exp))
    tanh = staticmethod(_np_float_math(np.tanh))
    sin = staticmethod(_np_float_math(np.sin))
    cos = staticmethod(_np_float_math(np.cos))
    arctan = staticmethod(_np_float_math(np.arctan))
    log1p = staticmethod(_np_float_math(np.log1p))
    sqrt = staticmethod(_np_float_math(np.sqrt))
    erf = staticmethod(_np_float_math(np_erf))
    sigmoid = staticmethod(_np_float_math(lambda x: 1 / (1 + np.exp(-x))))
    softplus = staticmethod(_np_float_math(lambda x: np.logaddexp(0, x)))
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    floor = staticmethod(_no_float16(np.floor))
    ceil = staticmethod(_no_float16(np.ceil))
    round = staticmethod(_no_float16(np.round))
    clip = staticmethod(np.clip)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    where = staticmethod(np.where)
    and_ = staticmethod(np.bitwise_and)
    or_ = staticmethod(np.bitwise_or)
    xor = staticmethod(np.bitwise_xor)
    not_ = staticmethod(np.logical_not)
    eq = staticmethod(np.equal)
    neq = staticmethod(np.not_equal)
    true_div = staticmethod(np.true_divide)
    floor_div = staticmethod(np.floor_divide)
    mod = staticmethod(np.remainder)
    sum = staticmethod(np.sum)        # uint8 sums and products are uint64, as theon's
    prod = staticmethod(np.prod)
    max = staticmethod(np.max)
    min = staticmethod(np.min)
    mean = staticmethod(np.mean)
    any = staticmethod(np.any)
    all = staticmethod(np.all)
    argmax = staticmethod(np.argmax)
    argmin = staticmethod(np.argmin)

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)

    @staticmethod
    def constant(value):
        return value


TT = SimpleNamespace(
    name="theon", exp=T.exp, tanh=T.tanh, sin=T.sin, cos=T.cos, arctan=T.arctan, log1p=T.log1p,
    sqrt=T.sqrt, erf=T.erf, sigmoid=T.sigmoid, softplus=T.softplus, abs=T.abs, sign=T.sign,
    floor=T.floor, ceil=T.ceil, round=T.round, clip=T.clip, maximum=T.maximum, minimum=T.minimum,
    where=T.where, and_=T.and_, or_=T.or_, xor=T.xor, not_=T.not_, eq=T.eq, neq=T.neq,
    true_div=T.true_div, floor_div=T.floor_div, mod=T.mod, sum=T.sum, prod=T.prod, max=T.max,
    min=T.min, mean=T.mean, any=T.any, all=T.all, argmax=T.argmax, argmin=T.argmin, cast=T.cast,
    constant=T.constant)
NP = _NP()


class Node:
    """An expression: ``fn(m, env)`` evaluates it with backend ``m``;
    ``val`` is its NumPy value on the drawn data (guides further drawing)."""

    def __init__(self, text, fn, env):
        self.text = text
        self.fn = fn
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.val = np.asarray(fn(NP, env))

    @property
    def kind(self):
        return self.val.dtype.kind

    def __repr__(self):
        return self.text


def _bounds(x, limit):
    """Clip bounds (-limit, limit), Python ints for int tensors (they may lie
    outside the dtype's range: NumPy and theon clamp them); (None, None) for bool."""
    if x.kind == "b":
        return None, None
    if x.kind in "iu":
        return -limit, limit
    return -float(limit), float(limit)


# --- the strategy -------------------------------------------------------------------------
def _input_data(rng, dtype, shape):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("float"):
        vals = rng.uniform(-3, 3, size=shape)
        grid = np.round(rng.uniform(-3, 3, size=shape) * 2) / 2
        return np.where(rng.random(shape) < 0.5, grid, vals).astype(dtype)
    info = np.iinfo(dtype)
    vals = rng.integers(max(info.min, -6), min(info.max, 6) + 1, size=shape)
    extreme = rng.choice([info.min, info.max, 0], size=shape)
    return np.where(rng.random(shape) < 0.1, extreme, vals).astype(dtype)


@st.composite
def graph_cases(draw):
    ndim = draw(st.integers(0, 3))
    target = tuple(draw(st.sampled_from([1, 2, 3, 4, 2, 3, 0])) for _ in range(ndim))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    specs, env = {}, {}
    for k in range(draw(st.integers(1, 3))):
        dtype = draw(st.sampled_from(DTYPES))
        nd = draw(st.integers(0, ndim))
        runtime, static = [], []
        for d in target[ndim - nd:]:
            r = 1 if (d != 1 and draw(st.integers(0, 3)) == 0) else d
            runtime.append(r)
            static.append(r if draw(st.integers(0, 2)) == 0 else None)
        name = f"i{k}"
        specs[name] = (dtype, tuple(static))
        env[name] = _input_data(rng, dtype, tuple(runtime))

    leaves = [Node(n, (lambda m, e, n=n: e[n]), env) for n in specs]

    def weak_scalar():
        if draw(st.booleans()):
            v = draw(st.sampled_from([0, 1, 2, 3]))
        else:
            v = draw(st.sampled_from([0.5, -1.5, 2.0, 0.25]))
        return v

    def leaf():
        if draw(st.integers(0, 9)) == 0:
            dtype = draw(st.sampled_from(["float32", "float64", "int8", "int32", "bool"]))
            shape = draw(st.sampled_from([(), target[-1:]]))
            value = _input_data(np.random.default_rng(draw(st.integers(0, 999))), dtype, shape)
            return Node(f"const{value.dtype}{list(value.shape)}",
                        lambda m, e, value=value: m.constant(value), env)
        return draw(st.sampled_from(leaves))

    def unary(x):
        choices = ["abs", "floor", "ceil", "round", "not_", "cast", "exp", "tanh", "sin", "cos",
                   "arctan", "sigmoid", "softplus", "log1p", "sqrt", "erf", "square", "pow2"]
        if x.kind != "b":
            choices += ["neg", "sign"]
        if x.kind in INT_KINDS:
            choices += ["invert"]
        op = draw(st.sampled_from(choices))
        t = f"{op}({x.text})"
        if op == "neg":
            return Node(t, lambda m, e: -x.fn(m, e), env)
        if op == "invert":
            return Node(t, lambda m, e: ~x.fn(m, e), env)
        if op == "square":
            return Node(t, lambda m, e: x.fn(m, e) * x.fn(m, e), env)
        if op == "pow2":   # NumPy's ``bool_array ** 2`` is np.square (int8): use np.power
            return Node(t, lambda m, e: (np.power(x.fn(m, e), 2) if m is NP else x.fn(m, e) ** 2),
                        env)
        if op == "exp":   # a bounded argument: exp stays finite
            lo, hi = _bounds(x, 10)
            if lo is None:
                return Node(t, lambda m, e: getattr(m, op)(x.fn(m, e)), env)
            return Node(f"{op}(clip({x.text}, {lo}, {hi}))",
                        lambda m, e: getattr(m, op)(m.clip(x.fn(m, e), lo, hi)), env)
        if op in ("log1p", "sqrt"):
            return Node(f"{op}(abs({x.text}))",
                        lambda m, e: getattr(m, op)(m.abs(x.fn(m, e))), env)
        if op == "cast":
            dtype = draw(st.sampled_from(["float32", "float64", "int8", "int16", "int32", "int64",
                                          "uint8", "bool"]))
            if x.kind == "f" and dtype != "bool" and not dtype.startswith("float"):
                lo = 0 if dtype == "uint8" else -100
                return Node(f"cast{{{dtype}}}(clip({x.text}))",
                            lambda m, e: m.cast(m.clip(x.fn(m, e), lo, 100), dtype), env)
            return Node(f"cast{{{dtype}}}({x.text})", lambda m, e: m.cast(x.fn(m, e), dtype), env)
        return Node(t, lambda m, e: getattr(m, op)(x.fn(m, e)), env)

    def total(x):
        """``x`` summed to 0-d (to combine operands whose shapes do not broadcast)."""
        return Node(f"sum({x.text})", lambda m, e: m.sum(x.fn(m, e)), env)

    def compatible(*nodes):
        try:
            np.broadcast_shapes(*[n.val.shape for n in nodes])
            return True
        except ValueError:
            return False

    def binary(a, b):
        if not compatible(a, b):
            b = total(b)
        choices = ["add", "mul", "maximum", "minimum", "true_div", "floor_div", "mod", "lt", "le",
                   "gt", "ge", "eq", "neq", "where"]
        if not (a.kind == "b" and b.kind == "b"):
            choices.append("sub")
        if a.kind in INT_KINDS and b.kind in INT_KINDS:
            choices += ["and_", "or_", "xor"]
        if a.kind == "f":
            choices.append("pow")
        op = draw(st.sampled_from(choices))
        if op == "pow":   # a positive float base, a bounded exponent of any dtype
            lo, hi = _bounds(b, 3)
            if lo is None:
                return Node(f"((abs({a.text}) + 0.5) ** {b.text})",
                            lambda m, e: (m.abs(a.fn(m, e)) + 0.5) ** b.fn(m, e), env)
            return Node(f"((abs({a.text}) + 0.5) ** clip({b.text}, {lo}, {hi}))",
                        lambda m, e: (m.abs(a.fn(m, e)) + 0.5) ** m.clip(b.fn(m, e), lo, hi), env)
        if op == "where":
            c = expr(1)
            if not compatible(a, b, c):
                c = total(c)
            return Node(f"where({c.text} > 0, {a.text}, {b.text})",
                        lambda m, e: m.where(c.fn(m, e) > 0, a.fn(m, e), b.fn(m, e)), env)
        if op in ("true_div", "floor_div", "mod") and (b.kind == "f" or op == "true_div"):
            return Node(f"{op}({a.text}, abs({b.text}) + 1)",
                        lambda m, e: getattr(m, op)(a.fn(m, e), m.abs(b.fn(m, e)) + 1), env)
        sym = {"add": "+", "sub": "-", "mul": "*", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
               "floor_div": "//", "mod": "%"}
        if op in sym:
            pyop = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
                    "floor_div": operator.floordiv, "mod": operator.mod}[op]
            return Node(f"({a.text} {sym[op]} {b.text})",
                        lambda m, e: pyop(a.fn(m, e), b.fn(m, e)), env)
        return Node(f"{op}({a.text}, {b.text})",
                    lambda m, e: getattr(m, op)(a.fn(m, e), b.fn(m, e)), env)

    def with_scalar(x):
        s = weak_scalar()
        if x.kind == "u" and isinstance(s, int):
            s = abs(s)
        op = draw(st.sampled_from(["radd", "mul", "rsub", "gt", "maximum"]))
        if x.kind == "b" and op == "rsub":
            op = "radd"
        fns = {"radd": lambda a: s + a, "mul": lambda a: a * s, "rsub": lambda a: s - a,
               "gt": lambda a: a > s}
        if op == "maximum":
            return Node(f"maximum({x.text}, {s!r})", lambda m, e: m.maximum(x.fn(m, e), s), env)
        text = {"radd": f"({s!r} + {x.text})", "mul": f"({x.text} * {s!r})",
                "rsub": f"({s!r} - {x.text})", "gt": f"({x.text} > {s!r})"}[op]
        return Node(text, lambda m, e: fns[op](x.fn(m, e)), env)

    def reduction(x):
        if x.val.ndim == 0:
            axes = None
        else:
            picked = draw(st.lists(st.integers(0, x.val.ndim - 1), unique=True, max_size=x.val.ndim))
            axes = None if not picked or len(picked) == x.val.ndim and draw(st.booleans()) \
                else tuple(picked)
            if axes is not None and draw(st.booleans()):
                axes = tuple(a - x.val.ndim for a in axes)   # negative axes
        keep = draw(st.booleans())
        reduced = range(x.val.ndim) if axes is None else axes
        empty = any(x.val.shape[a] == 0 for a in reduced) or x.val.size == 0
        ops = ["sum", "prod", "mean", "any", "all"]
        if not empty:
            ops += ["max", "min"]
            if axes is None or len(axes) == 1:
                ops += ["argmax", "argmin"]
        op = draw(st.sampled_from(ops))
        if op in ("argmax", "argmin") and axes is not None:
            axis = axes[0]
            return Node(f"{op}({x.text}, axis={axis}, keepdims={keep})",
                        lambda m, e: getattr(m, op)(x.fn(m, e), axis=axis, keepdims=keep), env)
        if op == "prod" and x.kind == "f":   # keep products in range
            return Node(f"prod(tanh({x.text}) + 1, axis={axes}, keepdims={keep})",
                        lambda m, e: m.prod(m.tanh(x.fn(m, e)) + 1, axis=axes, keepdims=keep), env)
        return Node(f"{op}({x.text}, axis={axes}, keepdims={keep})",
                    lambda m, e: getattr(m, op)(x.fn(m, e), axis=axes, keepdims=keep), env)

    def expr(depth):
        if depth <= 0:
            return leaf()
        kind = draw(st.sampled_from(["binary", "unary", "reduce", "binary", "scalar", "leaf"]))
        if kind == "leaf":
            return leaf()
        if kind == "unary":
            return unary(expr(depth - 1))
        if kind == "scalar":
            return with_scalar(expr(depth - 1))
        if kind == "reduce":
            return reduction(expr(depth - 1))
        return binary(expr(depth - 1), expr(depth - 1))

    roots = [expr(draw(st.integers(2, 4))) for _ in range(draw(st.integers(1, 3)))]
    return specs, env, roots


# --- checking -----------------------------------------------------------------------------
def _upcast_env(env):
    return {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in env.items()}


def _np_value(root, env, high_precision=False):
    _HIGH_PRECISION[0] = high_precision
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(root.fn(NP, env))
    finally:
        _HIGH_PRECISION[0] = False


def _expected_dtype(ref):
    return {"float16": np.dtype("float32")}.get(ref.dtype.name, ref.dtype)


def _close(got, ref, ref64, label):
    """Values of ``got`` against NumPy's ``ref``; ``ref64`` (float32 data
    upcast) bounds the rounding error. Returns False when a discrete output
    depends on float32 rounding (then only dtype and shape were checked)."""
    if got.dtype.kind in INT_KINDS:
        if ref64 is not None and not np.array_equal(ref, ref64.astype(ref.dtype)):
            return False
        np.testing.assert_array_equal(got, ref.astype(got.dtype), err_msg=label)
        return True
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    finite = np.abs(r[np.isfinite(r)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    tol = (2e-5 if ref.dtype == np.float32 else 1e-9) * scale
    if ref64 is not None:
        with np.errstate(invalid="ignore"):
            diff = np.abs(ref64.astype(np.float64) - r)
        tol = tol + 16 * np.where(np.isfinite(diff), diff, 0)
    both_nan = np.isnan(g) & np.isnan(r)
    same_inf = np.isinf(g) & (g == r)
    with np.errstate(invalid="ignore"):
        ok = both_nan | same_inf | (np.abs(g - r) <= tol)
    assert ok.all(), f"{label}\ntheon: {got}\nnumpy: {ref}"
    return True


# The default run draws the same examples each time (derandomize); set
# THEON_RANDOM_GRAPH_EXAMPLES=500 for a longer, random search.
_LONG_SEARCH = os.environ.get("THEON_RANDOM_GRAPH_EXAMPLES")


@settings(max_examples=int(_LONG_SEARCH or 30), deadline=None, derandomize=not _LONG_SEARCH,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=graph_cases())
def test_random_graphs_match_numpy(case):
    specs, env, roots = case
    note(f"inputs: { {n: (dt, sh, env[n].shape) for n, (dt, sh) in specs.items()} }")
    for r in roots:
        note(f"expr: {r.text}")
    variables = {n: T.tensor(dt, shape=sh, name=n) for n, (dt, sh) in specs.items()}
    outs = [r.fn(TT, variables) for r in roots]
    args = [env[n] for n in specs]
    f_run = theon.function(list(variables.values()), outs, on_unused_input="ignore")
    f_fast = theon.function(list(variables.values()), outs, on_unused_input="ignore",
                            mode="FAST_COMPILE")
    got_run = f_run(*args)
    got_fast = f_fast(*args)
    env64 = _upcast_env(env)
    for k, root in enumerate(roots):
        ref = _np_value(root, env)
        ref64 = _np_value(root, env64, high_precision=True)
        if ref64 is not None and ref64.shape != ref.shape:
            ref64 = None
        for mode, got in (("FAST_RUN", got_run[k]), ("FAST_COMPILE", got_fast[k])):
            label = f"{mode}: {root.text}"
            assert isinstance(got, np.ndarray), label
            assert got.dtype == _expected_dtype(ref), f"{label}: dtype {got.dtype}, NumPy {ref.dtype}"
            assert got.shape == ref.shape, f"{label}: shape {got.shape}, NumPy {ref.shape}"
            _close(got, ref, ref64, label)
        # the two modes agree with each other (exactly for ints and bools)
        if got_run[k].dtype.kind in INT_KINDS:
            np.testing.assert_array_equal(got_run[k], got_fast[k], err_msg=root.text)
        else:
            _close(got_fast[k], got_run[k], ref64, f"FAST_COMPILE vs FAST_RUN: {root.text}")
