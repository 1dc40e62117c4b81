"""The llvmlite builder seen as float arithmetic of one precision.

``FMath(module, builder, prec)`` is what every vecmath kernel computes
with: constants (``c``, ``pick(v32, v64)``), arithmetic, ``fma`` and the
other ``llvm.*`` intrinsics that stay instructions (fabs, rint, floor,
trunc, copysign, sqrt), Horner polynomials, ordered compares and selects,
bit casts and exponent tricks (``pow2``, ``scale``), and the error-free
double-double steps (``two_sum``, ``fast_two_sum``). ``Precision`` holds
the constants of float32 (``P32``) and float64 (``P64``).

``in_float64`` turns a float64 kernel into an emitter for both precisions
(float32 widened, computed in float64, rounded once): the special
functions use it. Nothing here is approximated, so nothing here has an
accuracy of its own; it is exercised by every test of the kernels.
"""
import llvmlite.ir as lir

from ..llvm_util import F32, F64, I32, I64


class Precision:
    """Constants of one float format."""

    def __init__(self, ty, ity, bits, mant, bias, suffix):
        self.ty, self.ity, self.bits, self.mant, self.bias, self.suffix = ty, ity, bits, mant, bias, suffix


P32 = Precision(F32, I32, 32, 23, 127, "f32")
P64 = Precision(F64, I64, 64, 52, 1023, "f64")
PRECISION = {"float": P32, "double": P64}


def precision_of(ty):
    return PRECISION[str(ty)]


class FMath:
    """The llvmlite builder seen as float arithmetic of one precision."""

    def __init__(self, module, builder, prec):
        self.module = module
        self.b = builder
        self.p = prec
        self.is64 = prec.bits == 64

    # constants and intrinsics
    def c(self, v):
        return lir.Constant(self.p.ty, float(v))

    def ci(self, v):
        return lir.Constant(self.p.ity, int(v))

    def pick(self, v32, v64):
        return self.c(v64 if self.is64 else v32)

    def _intr(self, name, args):
        ty = args[0].type
        fname = f"llvm.{name}.{'f64' if str(ty) == 'double' else 'f32'}"
        fn = self.module.globals.get(fname)
        if fn is None:
            fn = lir.Function(self.module, lir.FunctionType(ty, [a.type for a in args]), fname)
        return self.b.call(fn, args)

    # arithmetic
    def add(self, a, c):
        return self.b.fadd(a, c)

    def sub(self, a, c):
        return self.b.fsub(a, c)

    def mul(self, a, c):
        return self.b.fmul(a, c)

    def div(self, a, c):
        return self.b.fdiv(a, c)

    def neg(self, a):
        return self.b.fneg(a)

    def fma(self, a, c, d):
        return self._intr("fma", [a, c, d])

    def abs(self, a):
        return self._intr("fabs", [a])

    def rint(self, a):
        return self._intr("rint", [a])

    def floor(self, a):
        return self._intr("floor", [a])

    def trunc(self, a):
        return self._intr("trunc", [a])

    def copysign(self, mag, sign):
        return self._intr("copysign", [mag, sign])

    def poly(self, x, coeffs):
        """c0 + c1 x + c2 x^2 + ... by Horner's rule with fma."""
        acc = self.c(coeffs[-1])
        for k in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.c(k))
        return acc

    # compares (ordered: false on NaN) and selects
    def lt(self, a, c):
        return self.b.fcmp_ordered("<", a, c)

    def le(self, a, c):
        return self.b.fcmp_ordered("<=", a, c)

    def gt(self, a, c):
        return self.b.fcmp_ordered(">", a, c)

    def ge(self, a, c):
        return self.b.fcmp_ordered(">=", a, c)

    def eq(self, a, c):
        return self.b.fcmp_ordered("==", a, c)

    def ne(self, a, c):
        return self.b.fcmp_unordered("!=", a, c)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def isfinite(self, a):
        return self.lt(self.abs(a), self.c(float("inf")))

    def sel(self, cond, a, c):
        return self.b.select(cond, a, c)

    def clamp(self, x, lo, hi):
        """x clamped to [lo, hi]; NaN becomes hi (callers restore NaN)."""
        x = self.sel(self.lt(x, self.c(hi)), x, self.c(hi))
        return self.sel(self.gt(x, self.c(lo)), x, self.c(lo))

    # bits and integers
    def bits(self, x):
        return self.b.bitcast(x, self.p.ity)

    def from_bits(self, i):
        return self.b.bitcast(i, self.p.ty)

    def to_int(self, x):
        """Convert an integral float known to fit (never NaN) to the int type."""
        return self.b.fptosi(x, self.p.ity)

    def to_float(self, i):
        return self.b.sitofp(i, self.p.ty)

    def pow2(self, n):
        """2^n for an int n in the normal exponent range."""
        b = self.b
        return self.from_bits(b.shl(b.add(n, self.ci(self.p.bias)), self.ci(self.p.mant)))

    def scale(self, x, n):
        """x * 2^n for |n| up to about twice the exponent range, in two
        exact-or-correctly-rounded steps."""
        b = self.b
        n1 = b.ashr(n, self.ci(1))
        n2 = b.sub(n, n1)
        return self.mul(self.mul(x, self.pow2(n1)), self.pow2(n2))

    # double-double helpers
    def two_sum(self, a, c):
        s = self.add(a, c)
        bb = self.sub(s, a)
        err = self.add(self.sub(a, self.sub(s, bb)), self.sub(c, bb))
        return s, err

    def fast_two_sum(self, a, c):
        """|a| >= |c| (or a's exponent >= c's)."""
        s = self.add(a, c)
        return s, self.sub(c, self.sub(s, a))


def in_float64(kernel):
    """``kernel`` (float64 arithmetic) for both precisions: float32 operands
    are widened, computed in float64 and rounded once."""
    def emit(m, x):
        if m.is64:
            return kernel(m, x)
        b = m.b
        return b.fptrunc(kernel(FMath(m.module, b, P64), b.fpext(x, F64)), F32)
    emit.__name__ = kernel.__name__
    emit.__doc__ = kernel.__doc__
    return emit
