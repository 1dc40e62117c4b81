"""Elementwise math of the DSL, with NumPy semantics and broadcasting.

Each function asks NumPy which dtype its ufunc would compute in for these
operands (``basic.loop_dtype``), casts the operands to it and applies the
IR op. So ``ivector / ivector`` is float64, ``exp(int8)`` float32 (NumPy's
float16 becomes float32 unless an operand is float16: ``exp(f16)`` and
``f16 + int8`` are float16, ``f16 + int16`` float32), ``bool + bool`` bool, and a weak Python scalar
never upcasts a tensor of its kind.
"""
import math

import numpy as np

from .basic import (apply_op, as_tensor_variable, loop_dtype, result_dtype,
                    strengthen, to_dtype)
from ..ir.types import is_bool, is_float, is_int


# comparisons: what ``a OP b`` is when a is unsigned and b negative
_UNSIGNED_VS_NEGATIVE = {"lt": False, "le": False, "gt": True, "ge": True, "eq": False, "ne": True}
_SWAPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


def _ufunc_op(opname, ufunc, fname, *args):
    args = strengthen(args)
    dtype = loop_dtype(ufunc, args, fname)
    if opname in _UNSIGNED_VS_NEGATIVE and sorted(getattr(a, "dtype", None) or "" for a in args) == [
            "int64", "uint64"]:
        return _mixed_64bit_compare(opname, *args)
    return apply_op(opname, *[to_dtype(a, dtype, fname) for a in args])


def _mixed_64bit_compare(opname, a, b):
    """uint64 vs int64, exactly as NumPy 2's mixed loop: a negative int64
    decides alone, else both compare as uint64."""
    if a.dtype == "int64":
        a, b, opname = b, a, _SWAPPED[opname]
    negative = apply_op("lt", b, apply_op("constant", value=np.zeros((), np.int64)))
    same = apply_op(opname, a, to_dtype(b, "uint64", opname))
    fixed = apply_op("constant", value=np.asarray(_UNSIGNED_VS_NEGATIVE[opname]))
    return where(negative, fixed, same)


# --- arithmetic, comparisons and logic ----------------------------------------------
def _ufunc_fn(opname, ufunc, fname, doc=None, variadic=False):
    """The DSL function ``fname`` (of ``ufunc.nin`` operands, or two and
    more, folded from the left, when ``variadic`` as Theano's add and mul):
    IR op ``opname`` in the dtype NumPy's ``ufunc`` computes in, with
    broadcasting."""
    def fn(*args):
        if len(args) != ufunc.nin and not (variadic and len(args) > ufunc.nin):
            raise TypeError(f"{fname}() takes {ufunc.nin}{' or more' if variadic else ''} "
                            f"argument{'s' * (ufunc.nin > 1)}, got {len(args)}")
        out = _ufunc_op(opname, ufunc, fname, *args[:ufunc.nin])
        for a in args[ufunc.nin:]:
            out = _ufunc_op(opname, ufunc, fname, out, a)
        return out
    fn.__name__ = fn.__qualname__ = fname
    fn.__doc__ = doc or f"``np.{ufunc.__name__}`` elementwise."
    return fn


add = _ufunc_fn("add", np.add, "add", variadic=True)
sub = _ufunc_fn("sub", np.subtract, "sub")
mul = _ufunc_fn("mul", np.multiply, "mul", variadic=True)
true_div = _ufunc_fn("div", np.true_divide, "true_div",
                     "``a / b``; integer operands divide in float64, as in NumPy.")
floor_div = _ufunc_fn("floordiv", np.floor_divide, "floor_div",
                      "``a // b`` (NumPy floor_divide; integer division by zero gives 0).")
mod = _ufunc_fn("mod", np.remainder, "mod", "``a % b`` with the sign of the divisor, as NumPy.")
pow = _ufunc_fn("pow", np.power, "pow")
maximum = _ufunc_fn("maximum", np.maximum, "maximum", "Elementwise maximum, NaN-propagating.")
minimum = _ufunc_fn("minimum", np.minimum, "minimum", "Elementwise minimum, NaN-propagating.")
neg = _ufunc_fn("neg", np.negative, "neg")
sign = _ufunc_fn("sign", np.sign, "sign")

eq = _ufunc_fn("eq", np.equal, "eq",
               "``a == b`` elementwise (a bool tensor). The ``==`` operator is identity.")
neq = _ufunc_fn("ne", np.not_equal, "neq")
lt = _ufunc_fn("lt", np.less, "lt")
le = _ufunc_fn("le", np.less_equal, "le")
gt = _ufunc_fn("gt", np.greater, "gt")
ge = _ufunc_fn("ge", np.greater_equal, "ge")
and_ = _ufunc_fn("and", np.bitwise_and, "and_", "``a & b``: logical for bool, bitwise for ints.")
or_ = _ufunc_fn("or", np.bitwise_or, "or_", "``a | b``: logical for bool, bitwise for ints.")
xor = _ufunc_fn("xor", np.bitwise_xor, "xor", "``a ^ b``: logical for bool, bitwise for ints.")
invert = _ufunc_fn("not", np.invert, "invert", "``~x``: logical not for bool, bitwise not for ints.")


def abs(x):
    x = as_tensor_variable(x)
    if is_bool(x.dtype):
        return x
    return _ufunc_op("abs", np.absolute, "abs", x)


def sqr(x):
    """``x * x``."""
    x = as_tensor_variable(x)
    return mul(x, x)


def not_(x):
    """Logical not (``np.logical_not``): a bool tensor, True where x is 0."""
    x = as_tensor_variable(x)
    if is_bool(x.dtype):
        return apply_op("not", x)
    return eq(x, 0)


# --- float math ----------------------------------------------------------------------
def _float_op(opname, x, ufunc=np.exp):
    """A float-only op; int and bool operands are cast to the float dtype
    NumPy's ``ufunc`` would use (float32 for bool/int8/int16/uint8, else float64)."""
    return _ufunc_op(opname, ufunc, opname, x)


def as_float(x, fname="as_float"):
    """``x`` itself if float, else cast to the float dtype NumPy's math uses for it."""
    x = as_tensor_variable(x)
    if is_float(x.dtype):
        return x
    return to_dtype(x, loop_dtype(np.exp, [x], fname), fname)


exp = _ufunc_fn("exp", np.exp, "exp")
log = _ufunc_fn("log", np.log, "log")
log1p = _ufunc_fn("log1p", np.log1p, "log1p")
expm1 = _ufunc_fn("expm1", np.expm1, "expm1")
sqrt = _ufunc_fn("sqrt", np.sqrt, "sqrt")
sin = _ufunc_fn("sin", np.sin, "sin")
cos = _ufunc_fn("cos", np.cos, "cos")
tan = _ufunc_fn("tan", np.tan, "tan")
tanh = _ufunc_fn("tanh", np.tanh, "tanh")
arctan = _ufunc_fn("arctan", np.arctan, "arctan")
# no ufunc of their own: NumPy's float dtype for them is that of exp
sigmoid = _ufunc_fn("sigmoid", np.exp, "sigmoid", "``1 / (1 + exp(-x))``, computed without overflow.")
softplus = _ufunc_fn("softplus", np.exp, "softplus", "``log(1 + exp(x))``, computed without overflow.")
erf = _ufunc_fn("erf", np.exp, "erf", "The error function.")
exp2 = _ufunc_fn("exp2", np.exp2, "exp2")
sinh = _ufunc_fn("sinh", np.sinh, "sinh")
cosh = _ufunc_fn("cosh", np.cosh, "cosh")
arcsin = _ufunc_fn("arcsin", np.arcsin, "arcsin", "``np.arcsin``: NaN outside [-1, 1].")
arccos = _ufunc_fn("arccos", np.arccos, "arccos", "``np.arccos``: NaN outside [-1, 1].")
arcsinh = _ufunc_fn("arcsinh", np.arcsinh, "arcsinh")
arccosh = _ufunc_fn("arccosh", np.arccosh, "arccosh", "``np.arccosh``: NaN below 1.")
arctanh = _ufunc_fn("arctanh", np.arctanh, "arctanh", "``np.arctanh``: NaN outside [-1, 1], +-inf at +-1.")
arctan2 = _ufunc_fn("arctan2", np.arctan2, "arctan2", "``np.arctan2(y, x)``: the angle of the point (x, y).")
erfc = _ufunc_fn("erfc", np.exp, "erfc", "``1 - erf(x)``, accurate in the tail (not computed as 1 - erf).")
erfinv = _ufunc_fn("erfinv", np.exp, "erfinv", "The inverse error function: NaN outside [-1, 1].")
gamma = _ufunc_fn("gamma", np.exp, "gamma",
                  "The gamma function (C tgamma): +-inf at +-0, NaN at the negative integers.")
gammaln = _ufunc_fn("gammaln", np.exp, "gammaln", "``log |gamma(x)|`` (C lgamma): +inf at the poles.")
psi = _ufunc_fn("psi", np.exp, "psi", "The digamma function, ``d/dx gammaln(x)``; NaN at the poles.")
tri_gamma = _ufunc_fn("trigamma", np.exp, "tri_gamma", "The trigamma function, ``d/dx psi(x)``.")


def deg2rad(x):
    """``x * (pi / 180)``, as ``np.deg2rad``."""
    return mul(as_float(x, "deg2rad"), math.pi / 180)


def rad2deg(x):
    """``x * (180 / pi)``, as ``np.rad2deg``."""
    return mul(as_float(x, "rad2deg"), 180 / math.pi)


def inv(x):
    """``1 / x`` (Theano's ``inv``; integers divide in float64)."""
    return true_div(1.0, x)


def log2(x):
    x = _float_op("log", x, np.log2)
    return mul(x, 1.0 / math.log(2.0))


def log10(x):
    x = _float_op("log", x, np.log10)
    return mul(x, 1.0 / math.log(10.0))


def _rounding(opname, ufunc, x):
    """floor/ceil: the identity on int and bool tensors (as NumPy >= 2.1,
    which keeps their dtype; older NumPy returned floats)."""
    x = as_tensor_variable(x)
    if not is_float(x.dtype):
        return x
    return _float_op(opname, x, ufunc)


def floor(x):
    return _rounding("floor", np.floor, x)


def ceil(x):
    return _rounding("ceil", np.ceil, x)


def trunc(x):
    """Round toward zero (``np.trunc``); the identity on ints."""
    return _rounding("trunc", np.trunc, x)


def round(x, mode="half_to_even"):
    """Round half to even as ``np.round`` (Theano's ``mode='half_away_from_zero'``
    too); the identity on ints."""
    if mode not in (None, "half_to_even", "half_away_from_zero"):
        raise ValueError(f"round: mode must be 'half_to_even' or 'half_away_from_zero', got {mode!r}")
    x = as_tensor_variable(x)
    if is_int(x.dtype):
        return x
    if mode == "half_away_from_zero":
        x = as_float(x, "round")
        return mul(sign(x), floor(add(abs(x), 0.5)))
    return _float_op("round", x, np.rint)


def round_half_to_even(x):
    return round(x, "half_to_even")


def round_half_away_from_zero(x):
    return round(x, "half_away_from_zero")


def iround(x, mode=None):
    """``round(x, mode)`` as int64; Theano's default mode is half away from zero."""
    return to_dtype(round(x, mode or "half_away_from_zero"), "int64", "iround")


def ceil_intdiv(a, b):
    """Integer division rounding up (Theano's ``ceil_intdiv``)."""
    q = floor_div(a, b)
    return add(q, to_dtype(neq(mod(a, b), 0), q.dtype, "ceil_intdiv"))


def largest(*args):
    """The elementwise maximum of all arguments (Theano)."""
    if not args:
        raise TypeError("largest() takes at least one argument")
    return _fold(maximum, args)


def smallest(*args):
    """The elementwise minimum of all arguments (Theano)."""
    if not args:
        raise TypeError("smallest() takes at least one argument")
    return _fold(minimum, args)


def _fold(fn, args):
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = fn(out, a)
    return out


def isnan(x):
    """``x != x``: True at NaNs (never for int and bool tensors)."""
    x = as_tensor_variable(x)
    return neq(x, x)


def isinf(x):
    x = as_tensor_variable(x)
    if not is_float(x.dtype):
        return neq(x, x)   # all False, with x's shape
    return eq(abs(x), np.inf)


# --- selection ------------------------------------------------------------------------
def where(condition, x=None, y=None):
    """``x`` where ``condition`` is true, else ``y`` (NumPy broadcasting;
    a non-bool condition means ``!= 0``). Also named ``switch``."""
    if x is None or y is None:
        raise NotImplementedError("where: the one-argument form (nonzero) is not supported; "
                                  "pass where(condition, x, y)")
    cond = as_tensor_variable(condition)
    if not is_bool(cond.dtype):
        cond = neq(cond, 0)
    x, y = strengthen([x, y])
    dtype = result_dtype([x, y], "where")
    return apply_op("where", cond, to_dtype(x, dtype, "where"), to_dtype(y, dtype, "where"))


switch = where


def clip(x, a_min, a_max):
    """``minimum(maximum(x, a_min), a_max)``; None skips a bound. Python int
    bounds outside an integer dtype's range are clamped to it first, as
    NumPy 2's clip keeps the tensor's dtype."""
    x = as_tensor_variable(x)
    if np.dtype(x.dtype).kind in "iu":
        info = np.iinfo(x.dtype)
        a_min, a_max = (min(max(b, int(info.min)), int(info.max))
                        if isinstance(b, int) and not isinstance(b, bool) else b
                        for b in (a_min, a_max))
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x
