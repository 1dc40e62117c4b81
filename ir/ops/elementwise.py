"""Elementwise ops: NumPy broadcasting, operands of one dtype.

The IR never promotes implicitly: the DSL inserts ``cast`` so that every
operand of an elementwise op has the same dtype (``where``'s condition is
bool). Comparisons return bool.
"""
import math

import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..opdef import OpDef, result
from ..types import broadcast_shapes, is_bool, is_float, is_int, canonical_dtype

FLOAT, INT, BOOL = "float", "int", "bool"


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

    def np_fn(self, *args):
        raise NotImplementedError

    def reference(self, op, *args):
        with np.errstate(all="ignore"):
            out = self.np_fn(*args)
        return [np.asarray(out).astype(op.results[0].dtype, copy=False)]


class Unary(Elementwise):
    num_operands = 1


class FloatUnary(Unary):
    kinds = (FLOAT,)


class Binary(Elementwise):
    num_operands = 2


class Compare(Binary):
    out_dtype = "bool"


# --- unary -------------------------------------------------------------------
class Neg(Unary):
    name = "neg"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.negative)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("neg", grads[0])]


class Abs(Unary):
    name = "abs"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.abs)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("sign", x))]


class Sign(Unary):
    name = "sign"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.sign)

    def grad(self, op, grads):
        return [ZERO]      # piecewise constant


class Exp(FloatUnary):
    name = "exp"
    np_fn = staticmethod(np.exp)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], z)]


class Log(FloatUnary):
    name = "log"
    np_fn = staticmethod(np.log)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("div", grads[0], x)]


class Log1p(FloatUnary):
    name = "log1p"
    np_fn = staticmethod(np.log1p)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("div", grads[0], e("add", x, e.const(1, x.dtype)))]


class Expm1(FloatUnary):
    name = "expm1"
    np_fn = staticmethod(np.expm1)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("add", z, e.const(1, x.dtype)))]


class Sqrt(FloatUnary):
    name = "sqrt"
    np_fn = staticmethod(np.sqrt)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("div", grads[0], e("mul", z, e.const(2, x.dtype)))]


class Sin(FloatUnary):
    name = "sin"
    np_fn = staticmethod(np.sin)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("cos", x))]


class Cos(FloatUnary):
    name = "cos"
    np_fn = staticmethod(np.cos)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("neg", e("sin", x)))]


class Tan(FloatUnary):
    name = "tan"
    np_fn = staticmethod(np.tan)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("add", e.const(1, x.dtype), e("mul", z, z)))]


class Tanh(FloatUnary):
    name = "tanh"
    np_fn = staticmethod(np.tanh)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("sub", e.const(1, x.dtype), e("mul", z, z)))]


class Arctan(FloatUnary):
    name = "arctan"
    np_fn = staticmethod(np.arctan)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("div", grads[0], e("add", e.const(1, x.dtype), e("mul", x, x)))]


class Sigmoid(FloatUnary):
    name = "sigmoid"

    @staticmethod
    def np_fn(x):
        # exp(-|x|) never overflows: 1/(1+e^-x) for x>=0, e^x/(1+e^x) for x<0
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("mul", z, e("sub", e.const(1, x.dtype), z)))]


class Softplus(FloatUnary):
    name = "softplus"

    @staticmethod
    def np_fn(x):
        return np.logaddexp(np.zeros((), x.dtype), x)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("sigmoid", x))]


class Erf(FloatUnary):
    name = "erf"

    @staticmethod
    def np_fn(x):
        return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)

    def grad(self, op, grads):
        (x,), z, e = op.operands, op.results[0], emitter(op)
        return [e("mul", grads[0], e("mul", e.const(2 / math.sqrt(math.pi), x.dtype),
                                  e("exp", e("neg", e("mul", x, x)))))]


class Floor(FloatUnary):
    name = "floor"
    np_fn = staticmethod(np.floor)

    def grad(self, op, grads):
        return [ZERO]      # piecewise constant


class Ceil(FloatUnary):
    name = "ceil"
    np_fn = staticmethod(np.ceil)

    def grad(self, op, grads):
        return [ZERO]      # piecewise constant


class Round(FloatUnary):
    """Round half to even, as np.round."""
    name = "round"
    np_fn = staticmethod(np.round)

    def grad(self, op, grads):
        return [ZERO]      # piecewise constant


class Not(Unary):
    """Logical not for bool, bitwise invert for ints (NumPy's ``~``)."""
    name = "not"
    kinds = (INT, BOOL)
    np_fn = staticmethod(np.invert)


class Cast(Unary):
    """Convert to ``dtype``. Float to int truncates toward zero and saturates
    (NaN gives 0); anything to bool is ``!= 0``."""
    name = "cast"
    required_attrs = ("dtype",)

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
class Add(Binary):
    name = "add"
    kinds = (FLOAT, INT, BOOL)

    @staticmethod
    def np_fn(a, b):
        return np.logical_or(a, b) if a.dtype == np.bool_ else np.add(a, b)

    def grad(self, op, grads):
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.unbroadcast_operand(g, op, 0, nb),
                e.unbroadcast_operand(g, op, 1, nb)]


class Sub(Binary):
    name = "sub"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.subtract)

    def grad(self, op, grads):
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.unbroadcast_operand(g, op, 0, nb),
                e.unbroadcast_operand(e("neg", g), op, 1, nb)]


class Mul(Binary):
    name = "mul"
    kinds = (FLOAT, INT, BOOL)

    @staticmethod
    def np_fn(a, b):
        return np.logical_and(a, b) if a.dtype == np.bool_ else np.multiply(a, b)

    def grad(self, op, grads):
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.unbroadcast_operand(e("mul", g, y), op, 0, nb),
                e.unbroadcast_operand(e("mul", g, x), op, 1, nb)]


class Div(Binary):
    """True division; float operands only (the DSL casts ints)."""
    name = "div"
    kinds = (FLOAT,)
    np_fn = staticmethod(np.true_divide)

    def grad(self, op, grads):
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.unbroadcast_operand(e("div", g, y), op, 0, nb),
                e.unbroadcast_operand(e("neg", e("div", e("mul", g, z), y)), op, 1, nb)]


class FloorDiv(Binary):
    """NumPy floor_divide; integer division by zero gives 0."""
    name = "floordiv"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.floor_divide)

    def grad(self, op, grads):
        return [ZERO, ZERO]      # piecewise constant


class Mod(Binary):
    """NumPy remainder (sign of the divisor); integer x % 0 gives 0."""
    name = "mod"
    kinds = (FLOAT, INT)
    np_fn = staticmethod(np.remainder)

    def grad(self, op, grads):
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.unbroadcast_operand(g, op, 0, nb),
                e.unbroadcast_operand(e("neg", e("mul", g, e("floordiv", x, y))), op, 1, nb)]


class Pow(Binary):
    name = "pow"
    kinds = (FLOAT, INT)

    @staticmethod
    def np_fn(a, b):
        if a.dtype.kind in "iu":
            # NumPy refuses negative integer powers; theon gives the
            # truncated result (0, or +-1 for a base of +-1).
            b = np.asarray(b)
            neg = b < 0
            safe = np.power(a, np.where(neg, 0, b))
            inv = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
            return np.where(neg, inv, safe).astype(a.dtype)
        return np.power(a, b)

    def grad(self, op, grads):
        """d/dx = y * x**(y-1); d/dy = x**y * log(x), taken as 0 where x == 0
        (as Theano) so that a zero base does not give NaN."""
        (x, y), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        one, zero = e.const(1, x.dtype), e.const(0, x.dtype)
        dx = e("mul", y, e("pow", x, e("sub", y, one)))
        dy = e("where", e("eq", x, zero), zero, e("mul", z, e("log", x)))
        return [e.unbroadcast_operand(e("mul", g, dx), op, 0, nb),
                e.unbroadcast_operand(e("mul", g, dy), op, 1, nb)]


class Maximum(Binary):
    """NaN-propagating, as np.maximum."""
    name = "maximum"
    np_fn = staticmethod(np.maximum)

    def grad(self, op, grads):
        """The larger operand gets the gradient; at a tie each gets half (as
        JAX), so the two gradients always sum to the output's."""
        return _select_grad(op, grads[0], "gt")


class Minimum(Binary):
    name = "minimum"
    np_fn = staticmethod(np.minimum)

    def grad(self, op, grads):
        """The smaller operand gets the gradient; at a tie each gets half."""
        return _select_grad(op, grads[0], "lt")


class Eq(Compare):
    name = "eq"
    np_fn = staticmethod(np.equal)


class Ne(Compare):
    name = "ne"
    np_fn = staticmethod(np.not_equal)


class Lt(Compare):
    name = "lt"
    np_fn = staticmethod(np.less)


class Le(Compare):
    name = "le"
    np_fn = staticmethod(np.less_equal)


class Gt(Compare):
    name = "gt"
    np_fn = staticmethod(np.greater)


class Ge(Compare):
    name = "ge"
    np_fn = staticmethod(np.greater_equal)


class And(Binary):
    """Logical for bool, bitwise for ints."""
    name = "and"
    kinds = (INT, BOOL)
    np_fn = staticmethod(np.bitwise_and)


class Or(Binary):
    name = "or"
    kinds = (INT, BOOL)
    np_fn = staticmethod(np.bitwise_or)


class Xor(Binary):
    name = "xor"
    kinds = (INT, BOOL)
    np_fn = staticmethod(np.bitwise_xor)


# --- ternary -----------------------------------------------------------------
class Where(Elementwise):
    """where(cond, a, b): cond is bool, a and b share a dtype."""
    name = "where"
    num_operands = 3

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


def _select_grad(op, g, cmp):
    """Gradients of maximum (cmp "gt") / minimum (cmp "lt"): the selected
    operand takes g, a tie splits it in halves."""
    (x, y), e = op.operands, emitter(op)
    nb = batch_ndim(op, g)
    c = lambda v: e.const(v, x.dtype)  # noqa: E731
    wx = e("where", e(cmp, x, y), c(1), e("where", e("eq", x, y), c(0.5), c(0)))
    return [e.unbroadcast_operand(e("mul", g, wx), op, 0, nb),
            e.unbroadcast_operand(e("mul", g, e("sub", c(1), wx)), op, 1, nb)]


OPS = [Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sqrt, Sin, Cos, Tan, Tanh, Arctan,
       Sigmoid, Softplus, Erf, Floor, Ceil, Round, Not, Cast,
       Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Maximum, Minimum,
       Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor, Where]
