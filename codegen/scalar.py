"""Scalar semantics of elementwise ops: one emitter per op name.

``SCALAR[name](sc, args)`` returns the LLVM value of one result element;
``sc`` is a ``ScalarCtx`` (builder, operand/result dtypes, the op). Bool
values are i8 holding 0 or 1, as in memory. The same emitters serve plain
elementwise lowering now and fused loop bodies later.

Every emitter matches its op's NumPy reference (``ir/ops/elementwise.py``):
integer ``floordiv``/``mod`` floor toward -inf and never trap (a zero
divisor gives 0, ``INT_MIN // -1`` wraps); float ``floordiv``/``mod`` follow
NumPy's ``npy_divmod``; ``maximum``/``minimum`` propagate NaN; float to int
casts truncate and saturate (NaN gives 0). Transcendental functions come
from ``vecmath`` (straight-line IR the loop vectorizer can widen); none of
the emitters calls libm.
"""
import llvmlite.ir as lir

from ..ir.dialect import OPS
from ..ir.types import int_bits, is_bool, is_float, is_unsigned
from . import half, vecmath
from .llvm_util import I1, I8, LLTYPE

class ScalarCtx:
    def __init__(self, ctx, op, in_dtype, out_dtype):
        self.ctx = ctx
        self.b = ctx.b
        self.op = op
        self.in_dtype = in_dtype
        self.out_dtype = out_dtype

    @property
    def module(self):
        return self.ctx.module

    @property
    def is_float(self):
        return is_float(self.in_dtype)

    @property
    def is_bool(self):
        return is_bool(self.in_dtype)

    @property
    def is_unsigned(self):
        return is_unsigned(self.in_dtype)

    @property
    def lltype(self):
        return LLTYPE[self.in_dtype]

    def const(self, value, dtype=None):
        ty = LLTYPE[dtype or self.in_dtype]
        return lir.Constant(ty, float(value) if isinstance(ty, (lir.FloatType, lir.DoubleType)) else int(value))

    def intrinsic(self, name, args):
        ty = args[0].type
        suffix = {"float": "f32", "double": "f64"}.get(str(ty), str(ty))
        fn = self.ctx.declare(f"llvm.{name}.{suffix}", ty, [a.type for a in args])
        return self.b.call(fn, args)

    def vecmath(self, name, args):
        return vecmath.call(self.module, self.b, name, args)

    def to_bool(self, i1):
        return self.b.zext(i1, I8)

    def icmp(self, pred, a, c):
        """Integer compare, unsigned for uint*/bool."""
        if self.is_unsigned:
            return self.b.icmp_unsigned(pred, a, c)
        return self.b.icmp_signed(pred, a, c)


# --- arithmetic ----------------------------------------------------------------
def _bin(float_op, int_op, bool_op=None):
    def emit(sc, args):
        a, c = args
        if sc.is_float:
            return getattr(sc.b, float_op)(a, c)
        if sc.is_bool and bool_op:
            return getattr(sc.b, bool_op)(a, c)
        return getattr(sc.b, int_op)(a, c)
    return emit


def _neg(sc, args):
    return sc.b.fneg(args[0]) if sc.is_float else sc.b.neg(args[0])


def _abs(sc, args):
    (a,) = args
    b = sc.b
    if sc.is_float:
        return sc.intrinsic("fabs", [a])
    if sc.is_unsigned:
        return a
    return b.select(b.icmp_signed("<", a, sc.const(0)), b.neg(a), a)   # INT_MIN wraps


def _sign(sc, args):
    (a,) = args
    b = sc.b
    if sc.is_float:
        # +-1, and x itself for +-0 and NaN (np.sign(nan) is nan)
        return b.select(b.fcmp_ordered(">", a, sc.const(0)), sc.const(1),
                        b.select(b.fcmp_ordered("<", a, sc.const(0)), sc.const(-1), a))
    ty = sc.lltype
    if sc.is_unsigned:
        return b.zext(b.icmp_unsigned("!=", a, sc.const(0)), ty)
    return b.sub(b.zext(b.icmp_signed(">", a, sc.const(0)), ty),
                 b.zext(b.icmp_signed("<", a, sc.const(0)), ty))


def _not(sc, args):
    (a,) = args
    if sc.is_bool:
        return sc.b.xor(a, sc.const(1))
    return sc.b.not_(a)


def _math(name):
    def emit(sc, args):
        return sc.vecmath(name, args)
    return emit


def _intrinsic(name):
    def emit(sc, args):
        return sc.intrinsic(name, args)
    return emit


# --- division ------------------------------------------------------------------
def _int_divmod(sc, a, c):
    """NumPy floor division and remainder of ints; x // 0 == x % 0 == 0 and
    INT_MIN // -1 == INT_MIN, without ever executing a trapping division."""
    b = sc.b
    zero, one = sc.const(0), sc.const(1)
    is_zero = b.icmp_unsigned("==", c, zero)
    if sc.is_unsigned:
        safe = b.select(is_zero, one, c)
        q, r = b.udiv(a, safe), b.urem(a, safe)
        return b.select(is_zero, zero, q), b.select(is_zero, zero, r)
    int_min = sc.const(-(1 << (int_bits(sc.in_dtype) - 1)))
    overflow = b.and_(b.icmp_signed("==", a, int_min), b.icmp_signed("==", c, sc.const(-1)))
    # divisor 1 gives (a, 0): the right answer for INT_MIN // -1 (wraps) and % -1
    safe = b.select(b.or_(is_zero, overflow), one, c)
    q, r = b.sdiv(a, safe), b.srem(a, safe)
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, safe), zero))
    q = b.select(adjust, b.sub(q, one), q)
    r = b.select(adjust, b.add(r, safe), r)
    return b.select(is_zero, zero, q), b.select(is_zero, zero, r)


def _float_divmod(sc, a, c):
    """NumPy's npy_divmod: (floor_divide, remainder) of floats."""
    b = sc.b
    zero, one = sc.const(0), sc.const(1)
    mod = sc.vecmath("fmod", [a, c])
    div = b.fdiv(b.fsub(a, mod), c)
    nonzero_mod = b.fcmp_unordered("!=", mod, zero)
    flip = b.and_(nonzero_mod, b.icmp_unsigned("!=", b.fcmp_ordered("<", c, zero),
                                               b.fcmp_ordered("<", mod, zero)))
    mod = b.select(flip, b.fadd(mod, c), mod)
    div = b.select(flip, b.fsub(div, one), div)
    mod = b.select(nonzero_mod, mod, sc.intrinsic("copysign", [zero, c]))
    fl = sc.intrinsic("floor", [div])
    fl = b.select(b.fcmp_ordered(">", b.fsub(div, fl), sc.const(0.5)), b.fadd(fl, one), fl)
    quotient = b.fdiv(a, c)
    fl = b.select(b.fcmp_unordered("!=", div, zero), fl, sc.intrinsic("copysign", [zero, quotient]))
    c_zero = b.fcmp_ordered("==", c, zero)
    return b.select(c_zero, quotient, fl), mod


def _floordiv(sc, args):
    return (_float_divmod if sc.is_float else _int_divmod)(sc, *args)[0]


def _mod(sc, args):
    return (_float_divmod if sc.is_float else _int_divmod)(sc, *args)[1]


# --- pow -----------------------------------------------------------------------
def _int_pow(sc, a, e):
    """a ** e with wrap-around, by binary exponentiation in a loop over the
    exponent's bits (an internal function per int type); negative e gives
    the truncated 1/a**|e|: 1 for a == 1, +-1 for a == -1, else 0."""
    ty = sc.lltype
    fname = f"theon.ipow.{'u' if sc.is_unsigned else 'i'}{ty.width}"
    fn = sc.module.globals.get(fname)
    if fn is None:
        fn = _emit_int_pow(sc.module, fname, ty, sc.is_unsigned)
    return sc.b.call(fn, [a, e])


def _emit_int_pow(module, fname, ty, unsigned):
    fn = lir.Function(module, lir.FunctionType(ty, [ty, ty]), fname)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    a, e = fn.args
    entry, head, body, done = (fn.append_basic_block(n) for n in ("entry", "head", "body", "done"))
    b = lir.IRBuilder(entry)
    zero, one = lir.Constant(ty, 0), lir.Constant(ty, 1)
    b.branch(head)
    b.position_at_end(head)
    result = b.phi(ty, name="result")
    base = b.phi(ty, name="base")
    rest = b.phi(ty, name="rest")
    result.add_incoming(one, entry)
    base.add_incoming(a, entry)
    rest.add_incoming(e, entry)
    # a negative exponent is handled below; its loop ends at once
    more = b.icmp_signed(">", rest, zero) if not unsigned else b.icmp_unsigned("!=", rest, zero)
    b.cbranch(more, body, done)
    b.position_at_end(body)
    bit = b.trunc(rest, I1)
    result.add_incoming(b.select(bit, b.mul(result, base), result), body)
    base.add_incoming(b.mul(base, base), body)
    rest.add_incoming(b.lshr(rest, one), body)
    b.branch(head)
    b.position_at_end(done)
    if unsigned:
        b.ret(result)
        return fn
    odd = b.trunc(e, I1)
    minus_one = lir.Constant(ty, -1)
    inv = b.select(b.icmp_signed("==", a, one), one,
                   b.select(b.icmp_signed("==", a, minus_one), b.select(odd, minus_one, one), zero))
    b.ret(b.select(b.icmp_signed("<", e, zero), inv, result))
    return fn


def _pow(sc, args):
    if sc.is_float:
        return sc.vecmath("pow", args)
    return _int_pow(sc, *args)


# --- comparisons, min/max, logic -------------------------------------------------
def _cmp(pred):
    def emit(sc, args):
        a, c = args
        b = sc.b
        if sc.is_float:
            # NumPy: every comparison with NaN is False except !=
            i1 = b.fcmp_unordered(pred, a, c) if pred == "!=" else b.fcmp_ordered(pred, a, c)
        else:
            i1 = sc.icmp(pred, a, c)
        return sc.to_bool(i1)
    return emit


def _minmax(pred):
    """np.maximum/np.minimum: a if a wins or a is NaN, else b (so NaN
    propagates from either side, and ties give b, as NumPy)."""
    def emit(sc, args):
        a, c = args
        b = sc.b
        if sc.is_float:
            take_a = b.or_(b.fcmp_unordered("uno", a, a), b.fcmp_ordered(pred, a, c))
        else:
            take_a = sc.icmp(pred, a, c)
        return b.select(take_a, a, c)
    return emit


def _where(sc, args):
    cond, a, c = args
    b = sc.b
    return b.select(b.icmp_unsigned("!=", cond, lir.Constant(I8, 0)), a, c)


# --- cast ------------------------------------------------------------------------
def _cast(sc, args):
    (x,) = args
    b = sc.b
    src, dst = sc.in_dtype, sc.out_dtype
    if src == dst:
        return x
    if "float16" in (src, dst):
        return _cast_f16(sc, x, src, dst)
    return _cast_values(sc, x, src, dst)


def _cast_f16(sc, x, src, dst):
    """Casts from float16 go through float32 (exact); to float16 from
    float32/float64 directly (one rounding), from ints and bool through
    float32 (exact below 2**24, and anything larger overflows float16)."""
    native = getattr(getattr(sc.ctx, "target", None), "native_f16", False)
    # JIT code runs on the host it is compiled for: F16C's instructions when it has them
    hw = native or getattr(sc.module, "host_f16c", False)
    if src == "float16":
        return _cast_values(sc, half.to_f32(sc.b, x, hw), "float32", dst)
    if src not in ("float32", "float64"):
        x, src = _cast_values(sc, x, src, "float32"), "float32"
    return half.from_float(sc.b, x, native or (hw and src == "float32"))


def _cast_values(sc, x, src, dst):
    b = sc.b
    dty = LLTYPE[dst]
    if is_bool(dst):
        if is_float(src):
            i1 = b.fcmp_unordered("!=", x, lir.Constant(x.type, 0.0))   # NaN is True
        else:
            i1 = b.icmp_unsigned("!=", x, lir.Constant(x.type, 0))
        return sc.to_bool(i1)
    unsigned_src = is_unsigned(src)
    if is_float(dst):
        if is_float(src):
            return b.fpext(x, dty) if src == "float32" else b.fptrunc(x, dty)
        return b.uitofp(x, dty) if unsigned_src else b.sitofp(x, dty)
    # dst is an integer type
    if is_float(src):
        return _float_to_int(sc, x, dst)
    sw, dw = int_bits(src), int_bits(dst)
    if dw < sw:
        return b.trunc(x, dty)
    if dw > sw:
        return b.zext(x, dty) if unsigned_src else b.sext(x, dty)
    return x   # int8 <-> uint8 ...: same bits


def _float_to_int(sc, x, dst):
    """Truncate toward zero and saturate; NaN gives 0 (the reference's
    semantics, as llvm.fpto[su]i.sat, written with selects and an in-range
    fptosi because x86 scalarizes vector .sat conversions)."""
    b = sc.b
    bits = int_bits(dst)
    if is_unsigned(dst):
        lo, hi = 0, (1 << bits) - 1
    else:
        hi = (1 << (bits - 1)) - 1
        lo = -hi - 1
    top = lir.Constant(x.type, float(hi + 1))      # a power of two: exact
    bottom = lir.Constant(x.type, float(lo))
    # convert in i32 where the range fits it, else in i64 (uint64: fptoui)
    cvt_ty = LLTYPE["int64"] if bits > 32 or dst == "uint32" else LLTYPE["int32"]
    above = b.fcmp_ordered(">=", x, top)
    below = b.fcmp_ordered("<", x, bottom)
    outside = b.or_(b.or_(above, below), b.fcmp_unordered("uno", x, x))
    cvt = b.fptoui if dst == "uint64" else b.fptosi
    r = cvt(b.select(outside, lir.Constant(x.type, 0.0), x), cvt_ty)
    hi_bits = hi - (1 << 64) if hi >= 1 << 63 else hi      # uint64's max as i64 bits
    r = b.select(above, lir.Constant(cvt_ty, hi_bits), b.select(below, lir.Constant(cvt_ty, lo), r))
    return r if cvt_ty == LLTYPE[dst] else b.trunc(r, LLTYPE[dst])


SCALAR = {
    # unary
    "neg": _neg, "abs": _abs, "sign": _sign, "not": _not, "cast": _cast,
    "sqrt": _intrinsic("sqrt"), "floor": _intrinsic("floor"), "ceil": _intrinsic("ceil"),
    "round": _intrinsic("roundeven"),
    "exp": _math("exp"), "log": _math("log"), "log1p": _math("log1p"), "expm1": _math("expm1"),
    "sin": _math("sin"), "cos": _math("cos"), "tan": _math("tan"), "tanh": _math("tanh"),
    "arctan": _math("arctan"), "sigmoid": _math("sigmoid"), "softplus": _math("softplus"),
    "erf": _math("erf"), "trunc": _intrinsic("trunc"),
    "exp2": _math("exp2"), "sinh": _math("sinh"), "cosh": _math("cosh"), "arcsin": _math("arcsin"),
    "arccos": _math("arccos"), "arcsinh": _math("arcsinh"), "arccosh": _math("arccosh"),
    "arctanh": _math("arctanh"), "erfc": _math("erfc"), "erfinv": _math("erfinv"), "gamma": _math("gamma"),
    "gammaln": _math("gammaln"), "psi": _math("psi"), "trigamma": _math("trigamma"),
    "arctan2": _math("arctan2"),
    # binary
    "add": _bin("fadd", "add", "or_"), "sub": _bin("fsub", "sub"),
    "mul": _bin("fmul", "mul", "and_"), "div": _bin("fdiv", "sdiv"),
    "floordiv": _floordiv, "mod": _mod, "pow": _pow,
    "maximum": _minmax(">"), "minimum": _minmax("<"),
    "eq": _cmp("=="), "ne": _cmp("!="), "lt": _cmp("<"), "le": _cmp("<="),
    "gt": _cmp(">"), "ge": _cmp(">="),
    "and": _bin(None, "and_"), "or": _bin(None, "or_"), "xor": _bin(None, "xor"),
    # ternary
    "where": _where,
}


def register_scalar(name, emitter):
    """Give elementwise op ``name`` (registered with ``ir.dialect.register_op``)
    its scalar emitter ``emitter(sc, args) -> LLVM value``: the CPU loops,
    fused loop bodies and the PTX map kernels all lower it with this."""
    if name in SCALAR:
        raise ValueError(f"register_scalar: op {name!r} already has a scalar emitter")
    if not callable(emitter):
        raise TypeError(f"register_scalar: emitter must be callable, got {emitter!r}")
    SCALAR[name] = emitter


def unregister_scalar(name):
    """Remove the emitter ``register_scalar`` gave ``name``."""
    SCALAR.pop(name, None)


class LoweringTable(dict):
    """A backend's table op name -> lowering, where every elementwise op of
    the dialect with a scalar emitter in ``SCALAR`` and no entry of its own
    lowers with ``elementwise`` -- so ops added later (``register_op`` +
    ``register_scalar``) need no entry. It starts with an entry for each
    such op registered now."""

    def __init__(self, elementwise):
        super().__init__()
        self.elementwise = elementwise
        self.update({name: elementwise for name in OPS if self._default(name) is not None})

    def _default(self, name):
        opdef = OPS.get(name)
        return self.elementwise if opdef is not None and opdef.elementwise and name in SCALAR else None

    def __missing__(self, name):
        default = self._default(name)
        if default is None:
            raise KeyError(name)
        return default

    def __contains__(self, name):
        return dict.__contains__(self, name) or self._default(name) is not None

    def get(self, name, default=None):
        return self[name] if name in self else default
