"""Elementwise ops: NumPy broadcasting, operands of one dtype.

The IR never promotes implicitly: the DSL inserts ``cast`` so that every
operand of an elementwise op has the same dtype (``where``'s condition is
bool). Comparisons return bool.

Most ops are one line of data (``unary``/``binary``): name, NumPy function,
accepted dtype kinds, gradient and facts (``ir/opdef.py``). A gradient is
given as ``d(e, g, x, z)`` (unary: the gradient of ``x``) or
``d(e, g, x, y, z)`` (binary: the gradients of ``x`` and ``y`` before
summing away broadcast dims), ``e`` being the gradient graph's emitter,
``g`` the output gradient and ``z`` the result; ``PIECEWISE`` for a
piecewise constant op (zero gradient).
"""
import decimal
import math

import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..opdef import OpDef, result
from ..types import broadcast_shapes, is_bool, is_float, is_int, canonical_dtype

FLOAT, INT, BOOL = "float", "int", "bool"
PIECEWISE = "piecewise constant"
TRANSCENDENTAL = 8      # cost of one vecmath function element (add: 1)


def _kind(dtype):
    if is_float(dtype):
        return FLOAT
    if is_int(dtype):
        return INT
    return BOOL


class Elementwise(OpDef):
    elementwise = True
    kinds = (FLOAT, INT, BOOL)   # operand dtype kinds accepted
    out_dtype = None              # None: same as operands; else a dtype name

    def infer(self, op):
        self.check_arity(op)
        types = [v.type for v in op.operands]
        dtypes = {t.dtype for t in types}
        if len(dtypes) != 1:
            raise TypeError(f"{self.name}: operands must have one dtype, got "
                            f"{[t.dtype for t in types]} (insert a cast)")
        dtype = dtypes.pop()
        if _kind(dtype) not in self.kinds:
            raise TypeError(f"{self.name}: operand dtype {dtype} not supported "
                            f"(accepts {'/'.join(self.kinds)})")
        shape = broadcast_shapes(*[t.shape for t in types], what=f"{self.name}'s operands")
        return result(self.out_dtype or dtype, shape)

    def dims(self, op, shapes):
        return [shapes.broadcast(*[shapes.of(v) for v in op.operands])]

    def np_fn(self, *args):
        raise NotImplementedError

    def reference(self, op, *args):
        if any(np.asarray(a).dtype == np.float16 for a in args):
            # NumPy's float16 loops: float32 math, each result rounded once (so composite
            # references such as sigmoid's round once too; passes/legalize_f16.py)
            args = [np.asarray(a, np.float32) if np.asarray(a).dtype == np.float16 else a for a in args]
        with np.errstate(all="ignore"):
            out = self.np_fn(*args)
        return [np.asarray(out).astype(op.results[0].dtype, copy=False)]


class Unary(Elementwise):
    num_operands = 1


class Binary(Elementwise):
    num_operands = 2


def _piecewise_grad(self, op, grads):
    return [ZERO] * len(op.operands)


def _unary_grad(d):
    def grad(self, op, grads):
        return [d(emitter(op), grads[0], op.operands[0], op.results[0])]
    return grad


def _binary_grad(d):
    def grad(self, op, grads):
        g, e = grads[0], emitter(op)
        nb = batch_ndim(op, g)
        gx, gy = d(e, g, *op.operands, op.results[0])
        return [e.unbroadcast_operand(gx, op, 0, nb), e.unbroadcast_operand(gy, op, 1, nb)]
    return grad


def define(base, name, np_fn, grad=None, doc=None, **facts):
    """A new elementwise op class ``base`` + ``name``, NumPy function
    ``np_fn``, gradient ``grad`` (see the module doc; None: no gradient)
    and class attributes ``facts`` (``kinds``, ``cost``, ``commutative``...)."""
    ns = {"name": name, "np_fn": staticmethod(np_fn), "__doc__": doc, "__module__": base.__module__, **facts}
    if grad is not None:
        wrap = _unary_grad if base.num_operands == 1 else _binary_grad
        ns["grad"] = _piecewise_grad if grad is PIECEWISE else wrap(grad)
        ns["has_grad"] = True
    cls_name = "".join(part.capitalize() for part in name.split("_"))
    return type(cls_name, (base,), ns)


def unary(name, np_fn, grad=None, doc=None, kinds=(FLOAT,), **facts):
    return define(Unary, name, np_fn, grad, doc, kinds=kinds, **facts)


def binary(name, np_fn, grad=None, doc=None, kinds=(FLOAT, INT), **facts):
    return define(Binary, name, np_fn, grad, doc, kinds=kinds, **facts)


def compare(name, np_fn, **facts):
    return define(Binary, name, np_fn, kinds=(FLOAT, INT, BOOL), out_dtype="bool", **facts)


def _sigmoid(x):
    # exp(-|x|) never overflows: 1/(1+e^-x) for x>=0, e^x/(1+e^x) for x<0
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _one(e, x):
    return e.const(1, x.dtype)


def _scalar_fn(fn, nan_on_error=True):
    """A float64 NumPy function from a ``math`` one, applied elementwise
    (NaN where ``math`` raises: a pole or outside the domain)."""
    def scalar(v):
        try:
            return fn(float(v))             # Python floats: no NumPy overflow warnings
        except (ValueError, OverflowError):
            if not nan_on_error:
                raise
            return math.nan
    def apply(x):
        with np.errstate(all="ignore"):
            return np.vectorize(scalar, otypes=[np.float64])(np.asarray(x, np.float64)).astype(x.dtype)
    return apply


def _tgamma(v):
    """C tgamma: +-inf at +-0, NaN at negative integers and -inf, 0 past overflow on the left."""
    if v == 0:
        return math.copysign(math.inf, v)
    if math.isinf(v):
        return v if v > 0 else math.nan
    if v < 0 and v == math.floor(v):
        return math.nan
    try:
        return math.gamma(v)
    except OverflowError:
        if v > -1:
            return math.copysign(math.inf, v)                 # near 0 from either side
        return 0.0 if math.floor(v) % 2 == 0 else -0.0     # sign of gamma left of a pole
    except ValueError:
        return math.nan


def _zeta_minus_one(k, n=2000):
    """zeta(k) - 1 in float64: exact sum to n, Euler-Maclaurin tail."""
    tail = n ** (1 - k) / (k - 1) + 0.5 * n ** -k + k / 12 * n ** (-k - 1)
    return math.fsum([j ** -k for j in range(2, n)] + [tail])


# lgamma(2 + z) = (1 - euler_gamma) z + sum_k (-1)^k (zeta(k) - 1)/k z^k, |z| < 2
_LGAMMA2 = [(-1) ** k * _zeta_minus_one(k) / k for k in range(2, 48)]
_EULER = 0.5772156649015329


def _lgamma(v):
    """C lgamma; on [0.5, 3.5) (around its zeros at 1 and 2, where
    ``math.lgamma`` is tens of ulp off) the series of lgamma(2 + z)."""
    if math.isinf(v) or (v <= 0 and v == math.floor(v)):
        return math.inf
    if 0.5 <= v < 3.5:
        center = 1 if v < 1.5 else 2 if v < 2.5 else 3
        z = v - center
        series = math.fsum([(1 - _EULER) * z] + [c * z ** (k + 2) for k, c in enumerate(_LGAMMA2)])
        return series - math.log1p(z) if center == 1 else series + math.log(v - 1) if center == 3 else series
    try:
        return math.lgamma(v)
    except OverflowError:
        return math.inf


def _D(p, q):
    return decimal.Decimal(p) / decimal.Decimal(q)


def _pi_frac(v):
    """pi (v - round(v)): the argument whose tan/sin match pi v's, exactly reduced."""
    return math.pi * (v - round(v))


def _psi_series(v):
    """digamma in float64 (the NumPy reference; no scipy): recurrence to
    x >= 20 and the asymptotic series in 40-digit decimals, rounded once;
    the reflection (in float64) for x < 0."""
    if math.isnan(v) or v == -math.inf:
        return math.nan
    if v == 0:
        return -math.copysign(math.inf, v)
    if v < 0:
        if v == math.floor(v):
            return math.nan
        return _psi_series(1 - v) - math.pi / math.tan(_pi_frac(v))
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        d, acc = decimal.Decimal(v), decimal.Decimal(0)
        while d < 20:
            acc -= 1 / d
            d += 1
        z = 1 / (d * d)
        tail = z * (_D(1, 12) - z * (_D(1, 120) - z * (_D(1, 252) - z * (_D(1, 240) - z * (
            _D(1, 132) - z * (_D(691, 32760) - z * _D(1, 12)))))))
        return float(acc + d.ln() - 1 / (2 * d) - tail)


def _trigamma_series(v):
    if math.isnan(v) or v == -math.inf:
        return math.nan
    if v <= 0 and v == math.floor(v):
        return math.inf
    if v < 0:
        q = math.pi / math.sin(_pi_frac(v))
        return q * q - _trigamma_series(1 - v)
    if v * v == 0:
        return math.inf
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        d, acc = decimal.Decimal(v), decimal.Decimal(0)
        while d < 20:
            acc += 1 / (d * d)
            d += 1
        z = 1 / (d * d)
        tail = z / d * (_D(1, 6) - z * (_D(1, 30) - z * (_D(1, 42) - z * (_D(1, 30) - z * (
            _D(5, 66) - z * _D(691, 2730))))))
        return float(acc + 1 / d + z / 2 + tail)


def _erfinv_newton(v):
    """erfinv in float64 by Newton's method on erf / erfc (the reference)."""
    if math.isnan(v) or abs(v) > 1:
        return math.nan
    if abs(v) == 1:
        return math.copysign(math.inf, v)
    a, x = abs(v), 0.0
    w = -math.log((1 - a) * (1 + a))
    x = math.sqrt(w) if w > 1 else a
    for _ in range(100):
        r = math.erf(x) - a if a <= 0.5 else (1 - a) - math.erfc(x)
        step = r / (2 / math.sqrt(math.pi) * math.exp(-x * x))
        x -= step
        if abs(step) <= 1e-17 * abs(x):
            break
    return math.copysign(x, v)


# --- unary -------------------------------------------------------------------
NUMERIC = (FLOAT, INT)
Neg = unary("neg", np.negative, lambda e, g, x, z: e("neg", g), kinds=NUMERIC)
Abs = unary("abs", np.abs, lambda e, g, x, z: e("mul", g, e("sign", x)), kinds=NUMERIC, nonneg="always")
Sign = unary("sign", np.sign, PIECEWISE, kinds=NUMERIC)
Exp = unary("exp", np.exp, lambda e, g, x, z: e("mul", g, z), nonneg="always", cost=TRANSCENDENTAL)
Log = unary("log", np.log, lambda e, g, x, z: e("div", g, x), cost=TRANSCENDENTAL)
Log1p = unary("log1p", np.log1p, lambda e, g, x, z: e("div", g, e("add", x, _one(e, x))), cost=TRANSCENDENTAL)
Expm1 = unary("expm1", np.expm1, lambda e, g, x, z: e("mul", g, e("add", z, _one(e, x))), cost=TRANSCENDENTAL)
Sqrt = unary("sqrt", np.sqrt, lambda e, g, x, z: e("div", g, e("mul", z, e.const(2, x.dtype))),
             nonneg="always", cost=4)
Sin = unary("sin", np.sin, lambda e, g, x, z: e("mul", g, e("cos", x)), cost=TRANSCENDENTAL)
Cos = unary("cos", np.cos, lambda e, g, x, z: e("mul", g, e("neg", e("sin", x))), cost=TRANSCENDENTAL)
Tan = unary("tan", np.tan, lambda e, g, x, z: e("mul", g, e("add", _one(e, x), e("mul", z, z))),
            cost=TRANSCENDENTAL)
Tanh = unary("tanh", np.tanh, lambda e, g, x, z: e("mul", g, e("sub", _one(e, x), e("mul", z, z))),
             cost=TRANSCENDENTAL)
Arctan = unary("arctan", np.arctan, lambda e, g, x, z: e("div", g, e("add", _one(e, x), e("mul", x, x))),
               cost=TRANSCENDENTAL)
Sigmoid = unary("sigmoid", _sigmoid, lambda e, g, x, z: e("mul", g, e("mul", z, e("sub", _one(e, x), z))),
                nonneg="always", cost=TRANSCENDENTAL)
Softplus = unary("softplus", lambda x: np.logaddexp(np.zeros((), x.dtype), x),
                 lambda e, g, x, z: e("mul", g, e("sigmoid", x)), nonneg="always", cost=TRANSCENDENTAL)
Erf = unary("erf", _erf, lambda e, g, x, z: e("mul", g, e("mul", e.const(2 / math.sqrt(math.pi), x.dtype),
                                                           e("exp", e("neg", e("mul", x, x))))),
            cost=TRANSCENDENTAL)
Exp2 = unary("exp2", np.exp2, lambda e, g, x, z: e("mul", g, e("mul", z, e.const(math.log(2), x.dtype))),
             nonneg="always", cost=TRANSCENDENTAL)
Sinh = unary("sinh", np.sinh, lambda e, g, x, z: e("mul", g, e("cosh", x)), cost=TRANSCENDENTAL)
Cosh = unary("cosh", np.cosh, lambda e, g, x, z: e("mul", g, e("sinh", x)), nonneg="always",
             cost=TRANSCENDENTAL)


def _rsqrt_grad(sign, inner):
    """g * sign / sqrt(inner(e, x))."""
    def d(e, g, x, z):
        r = e("div", g, e("sqrt", inner(e, x)))
        return r if sign > 0 else e("neg", r)
    return d


_one_minus_sq = lambda e, x: e("sub", _one(e, x), e("mul", x, x))  # noqa: E731
Arcsin = unary("arcsin", np.arcsin, _rsqrt_grad(1, _one_minus_sq), cost=TRANSCENDENTAL)
Arccos = unary("arccos", np.arccos, _rsqrt_grad(-1, _one_minus_sq), nonneg="always", cost=TRANSCENDENTAL)
Arcsinh = unary("arcsinh", np.arcsinh, _rsqrt_grad(1, lambda e, x: e("add", e("mul", x, x), _one(e, x))),
                cost=TRANSCENDENTAL)
Arccosh = unary("arccosh", np.arccosh, _rsqrt_grad(1, lambda e, x: e("sub", e("mul", x, x), _one(e, x))),
                nonneg="always", cost=TRANSCENDENTAL)
Arctanh = unary("arctanh", np.arctanh, lambda e, g, x, z: e("div", g, _one_minus_sq(e, x)),
                cost=TRANSCENDENTAL)
Erfc = unary("erfc", _scalar_fn(math.erfc),
             lambda e, g, x, z: e("mul", g, e("mul", e.const(-2 / math.sqrt(math.pi), x.dtype),
                                                e("exp", e("neg", e("mul", x, x))))),
             doc="1 - erf(x), accurate where erf(x) is near 1.", nonneg="always", cost=TRANSCENDENTAL)
Erfinv = unary("erfinv", _scalar_fn(_erfinv_newton),
               lambda e, g, x, z: e("mul", g, e("mul", e.const(math.sqrt(math.pi) / 2, x.dtype),
                                                  e("exp", e("mul", z, z)))),
               doc="The inverse of erf: NaN outside [-1, 1], +-inf at +-1.", cost=4 * TRANSCENDENTAL)
def _tetragamma_missing(e, g, x, z):
    raise NotImplementedError("the gradient of trigamma (polygamma(2, x)) is not implemented: "
                              "psi is differentiable once")


Trigamma = unary("trigamma", _scalar_fn(_trigamma_series), _tetragamma_missing,
                 doc="psi'(x), the derivative of digamma; +inf at the poles.", cost=2 * TRANSCENDENTAL)
Psi = unary("psi", _scalar_fn(_psi_series), lambda e, g, x, z: e("mul", g, e("trigamma", x)),
            doc="digamma, d/dx log gamma(x); NaN at negative integers.", cost=2 * TRANSCENDENTAL)
Gammaln = unary("gammaln", _scalar_fn(_lgamma), lambda e, g, x, z: e("mul", g, e("psi", x)),
                doc="log |gamma(x)| (C lgamma); +inf at the poles.", cost=3 * TRANSCENDENTAL)
Gamma = unary("gamma", _scalar_fn(_tgamma), lambda e, g, x, z: e("mul", g, e("mul", z, e("psi", x))),
              doc="C tgamma: +-inf at +-0, NaN at negative integers.", cost=2 * TRANSCENDENTAL)
Floor = unary("floor", np.floor, PIECEWISE)
Ceil = unary("ceil", np.ceil, PIECEWISE)
Round = unary("round", np.round, PIECEWISE, doc="Round half to even, as np.round.")
Trunc = unary("trunc", np.trunc, PIECEWISE, doc="Round toward zero, as np.trunc.")
Not = unary("not", np.invert, doc="Logical not for bool, bitwise invert for ints (NumPy's ``~``).",
            kinds=(INT, BOOL))


class Cast(Unary):
    """Convert to ``dtype``. Float to int truncates toward zero and saturates
    (NaN gives 0); anything to bool is ``!= 0``."""
    name = "cast"
    required_attrs = ("dtype",)
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        dtype = canonical_dtype(op.attrs["dtype"])
        return result(dtype, op.operands[0].type.shape)

    def reference(self, op, x):
        dtype = np.dtype(op.results[0].dtype)
        if is_float(str(x.dtype)) and dtype.kind in "iu":
            info = np.iinfo(dtype)
            y = np.trunc(np.asarray(x, dtype=np.float64))
            hi = y >= float(info.max) + 1.0       # exact: a power of two
            lo = y < float(info.min)
            mid = ~(hi | lo | np.isnan(y))
            out = np.zeros(y.shape, dtype)
            out[hi] = info.max
            out[lo] = info.min
            out[mid] = y[mid].astype(dtype)
            return [out]
        if dtype == np.bool_:
            return [np.asarray(x != 0)]
        return [np.asarray(x).astype(dtype)]

    def grad(self, op, grads):
        """float -> float passes the gradient back (cast to x's dtype); an
        integer or bool operand has a zero gradient (float -> int outputs are
        not differentiable and never reach a rule)."""
        x = op.operands[0]
        return [emitter(op).cast(grads[0], x.dtype) if is_float(x.dtype) else ZERO]


# --- binary ------------------------------------------------------------------
def _or_if_bool(logical, numeric):
    """``numeric``, or ``logical`` for bool operands (bool add is or, mul and)."""
    return lambda a, b: logical(a, b) if a.dtype == np.bool_ else numeric(a, b)


def _int_pow(a, b):
    if a.dtype.kind in "iu":
        b = np.asarray(b)
        if np.any(b < 0):           # as NumPy, and native code (INT_NEGATIVE_POWER)
            raise ValueError("Integers to negative integer powers are not allowed.")
    return np.power(a, b)


def _pow_grad(e, g, x, y, z):
    # d/dy = x**y * log(x), taken as 0 where x == 0 (as Theano)
    one, zero = e.const(1, x.dtype), e.const(0, x.dtype)
    dx = e("mul", y, e("pow", x, e("sub", y, one)))
    dy = e("where", e("eq", x, zero), zero, e("mul", z, e("log", x)))
    return e("mul", g, dx), e("mul", g, dy)


def _select_grad(cmp):
    """Gradients of maximum (cmp "gt") / minimum (cmp "lt"): the selected
    operand takes g, a tie splits it in halves (as JAX), so the two
    gradients always sum to the output's."""
    def d(e, g, x, y, z):
        c = lambda v: e.const(v, x.dtype)  # noqa: E731
        wx = e("where", e(cmp, x, y), c(1), e("where", e("eq", x, y), c(0.5), c(0)))
        return e("mul", g, wx), e("mul", g, e("sub", c(1), wx))
    return d


ANY = (FLOAT, INT, BOOL)
SYMMETRIC = dict(commutative=True, bit_commutative=True, associative=True)
Add = binary("add", _or_if_bool(np.logical_or, np.add), lambda e, g, x, y, z: (g, g), kinds=ANY,
             nonneg="all", **SYMMETRIC, infix="+")
Sub = binary("sub", np.subtract, lambda e, g, x, y, z: (g, e("neg", g)), infix="-")


def _square_or_all(self, op, operand_nonneg):
    return op.operands[0] is op.operands[1] or OpDef.nonnegative(self, op, operand_nonneg)   # x * x


Mul = binary("mul", _or_if_bool(np.logical_and, np.multiply),
             lambda e, g, x, y, z: (e("mul", g, y), e("mul", g, x)), kinds=ANY, nonneg="all",
             nonnegative=_square_or_all, **SYMMETRIC, infix="*")
Div = binary("div", np.true_divide,
             lambda e, g, x, y, z: (e("div", g, y), e("neg", e("div", e("mul", g, z), y))),
             doc="True division; float operands only (the DSL casts ints).", kinds=(FLOAT,),
             nonneg="all", cost=4, infix="/")
Floordiv = binary("floordiv", np.floor_divide, PIECEWISE,
                  doc="NumPy floor_divide; integer division by zero gives 0.", cost=TRANSCENDENTAL, infix="//")
Mod = binary("mod", np.remainder, lambda e, g, x, y, z: (g, e("neg", e("mul", g, e("floordiv", x, y)))),
             doc="NumPy remainder (sign of the divisor); integer x % 0 gives 0.", cost=TRANSCENDENTAL,
             infix="%")


def _arctan2_grad(e, g, y, x, z):
    r = e("add", e("mul", x, x), e("mul", y, y))
    return e("mul", g, e("div", x, r)), e("neg", e("mul", g, e("div", y, r)))


Arctan2 = binary("arctan2", np.arctan2, _arctan2_grad, kinds=(FLOAT,), cost=2 * TRANSCENDENTAL,
                 doc="C atan2(y, x), the angle of the point (x, y).")
Pow = binary("pow", _int_pow, _pow_grad, cost=2 * TRANSCENDENTAL,
             doc="x ** y; d/dx = y * x**(y-1), d/dy = x**y * log(x) (0 where x == 0).", infix="**")
# NaN-propagating, as np.maximum. Commutative as numbers, not bit for bit:
# maximum(-0.0, 0.0) is 0.0 but maximum(0.0, -0.0) is -0.0, so canonicalize
# keeps their operand order.
MINMAX = dict(kinds=ANY, commutative=True, associative=True, idempotent=True)
Maximum = binary("maximum", np.maximum, _select_grad("gt"), nonneg="any", **MINMAX)
Minimum = binary("minimum", np.minimum, _select_grad("lt"), nonneg="all", **MINMAX)

Eq = compare("eq", np.equal, commutative=True, bit_commutative=True, infix="==")
Ne = compare("ne", np.not_equal, commutative=True, bit_commutative=True, infix="!=")
Lt = compare("lt", np.less, infix="<")
Le = compare("le", np.less_equal, infix="<=")
Gt = compare("gt", np.greater, infix=">")
Ge = compare("ge", np.greater_equal, infix=">=")

LOGICAL = dict(kinds=(INT, BOOL), **SYMMETRIC)
And = binary("and", np.bitwise_and, doc="Logical for bool, bitwise for ints.", idempotent=True, infix="&",
             **LOGICAL)
Or = binary("or", np.bitwise_or, idempotent=True, **LOGICAL, infix="|")
Xor = binary("xor", np.bitwise_xor, **LOGICAL, infix="^")


# --- ternary -----------------------------------------------------------------
class Where(Elementwise):
    """where(cond, a, b): cond is bool, a and b share a dtype."""
    name = "where"
    num_operands = 3
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        cond, a, b = (v.type for v in op.operands)
        if not is_bool(cond.dtype):
            raise TypeError(f"where: condition must be bool, got {cond.dtype}")
        if a.dtype != b.dtype:
            raise TypeError(f"where: branches must have one dtype, got {a.dtype} and {b.dtype}")
        shape = broadcast_shapes(cond.shape, a.shape, b.shape, what="where's operands")
        return result(a.dtype, shape)

    np_fn = staticmethod(np.where)

    def grad(self, op, grads):
        (c, a, b), g, e = op.operands, grads[0], emitter(op)
        nb = batch_ndim(op, g)
        zero = e.const(0, a.dtype)
        return [ZERO,
                e.unbroadcast_operand(e("where", c, g, zero), op, 1, nb),
                e.unbroadcast_operand(e("where", c, zero, g), op, 2, nb)]


OPS = [Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sqrt, Sin, Cos, Tan, Tanh, Arctan,
       Sigmoid, Softplus, Erf, Exp2, Sinh, Cosh, Arcsin, Arccos, Arcsinh, Arccosh, Arctanh,
       Erfc, Erfinv, Trigamma, Psi, Gammaln, Gamma,
       Floor, Ceil, Round, Trunc, Not, Cast,
       Add, Sub, Mul, Div, Floordiv, Mod, Arctan2, Pow, Maximum, Minimum,
       Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor, Where]
