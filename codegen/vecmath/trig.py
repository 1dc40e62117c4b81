"""Trigonometric functions: sin, cos, tan, arctan, arcsin, arccos, arctan2.

- sin/cos/tan: reduction to r in [-pi/4, pi/4] and the quadrant
  (``trig_reduce``), then polynomials sin r = r + r^3 S(r^2),
  cos r = 1 - r^2/2 + r^4 C(r^2); tan = sin/cos.
- arctan: reduction to |t| <= tan(pi/8) via 1/x and (x-1)/(x+1).
- arcsin = arctan(x/sqrt((1-x)(1+x))), arccos = 2 arctan(sqrt((1-x)/(1+x)));
  arctan2: arctan(|y|/|x|) reflected, C99 special cases.
- ``sincospi``: sin(pi x), cos(pi x) with an exact reduction (the
  reflection formulas of the gamma family); ``sin_cos_poly`` is also
  Philox's Box-Muller step (``codegen/philox.py``).

Measured max errors (ulp, float32 / float64): sin 1.45 / 1.52, cos 1.53 /
1.39, tan 3.16 / 2.91, arctan 1.95 / 1.42, arcsin 2.1 / 2, arccos 2.1 / 3;
asserted within 4 ulp by tests/native/test_vecmath.py (sin/cos/tan over
the whole finite range, arctan) and tests/native/test_elementwise_math.py
(arcsin, arccos: 4 ulp float64, 3 float32; arctan2 and its C99 special
cases against NumPy).
"""
import llvmlite.ir as lir

from ..llvm_util import I1, I32
from .trig_reduce import trig_reduce


# sin r = r + r^3 S(r^2), cos r = 1 - r^2/2 + r^4 C(r^2) on |r| <= pi/4
SIN_F32 = (-0.16666655242443085, 0.00833216030150652, -0.0001951524754986167)
SIN_F64 = (-0.1666666666666663, 0.008333333333322113, -0.0001984126982958591, 2.755731362031257e-06,
           -2.5050747615361984e-08, 1.589622249658892e-10)
COS_F32 = (0.04166664555668831, -0.0013887315290048718, 2.443309494992718e-05)
COS_F64 = (0.041666666666666595, -0.0013888888888873043, 2.4801587288844558e-05,
           -2.755731417745666e-07, 2.087570061537754e-09, -1.1358525759231465e-11)
# atan t = t + t^3 A(t^2) on |t| <= tan(pi/8)
ATAN_F32 = (-0.33333316445350647, 0.19998469948768616, -0.14243516325950623, 0.10593698173761368,
            -0.06077953428030014)
ATAN_F64 = (-0.333333333333332, 0.19999999999953197, -0.14285714280162107, 0.11111110781952367,
            -0.09090897719863753, 0.07692059627840026, -0.06663098244326837, 0.05847852656967376,
            -0.050391620388175705, 0.038061450520272246, -0.017904315610556953)
# pi as a double-double (sincospi)
PI = (3.141592653589793, 1.2246467991473532e-16)


def sin_cos_poly(m, r):
    """(sin r, cos r) for |r| <= pi/4, no reduction."""
    z = m.mul(r, r)
    s = m.fma(m.mul(r, z), m.poly(z, SIN_F64 if m.is64 else SIN_F32), r)
    one_minus = m.fma(z, m.c(-0.5), m.c(1.0))
    c = m.fma(m.mul(z, z), m.poly(z, COS_F64 if m.is64 else COS_F32), one_minus)
    return s, c


def _trig(m, x, which):
    b = m.b
    finite = m.isfinite(x)
    xs = m.sel(finite, x, m.c(0.0))
    j, r = trig_reduce(m, xs)
    s, c = sin_cos_poly(m, r)
    odd = b.trunc(b.and_(j, lir.Constant(I32, 1)), I1)
    if which == "tan":
        num, den = m.sel(odd, m.neg(c), s), m.sel(odd, s, c)
        # den is never 0 for finite x (r = 0 only at x = 0, j = 0); keep a guard
        tiny = m.pick(1.1754943508222875e-38, 2.2250738585072014e-308)
        res = m.div(num, m.sel(m.eq(den, m.c(0.0)), tiny, den))
    else:
        if which == "cos":
            j = b.add(j, lir.Constant(I32, 1))
            odd = b.not_(odd)
        neg = b.trunc(b.lshr(b.and_(j, lir.Constant(I32, 2)), lir.Constant(I32, 1)), I1)
        res = m.sel(odd, c, s)
        res = m.sel(neg, m.neg(res), res)
    if which != "cos":
        res = m.sel(m.eq(x, m.c(0.0)), x, res)
    return m.sel(finite, res, m.c(float("nan")))


def emit_sin(m, x):
    return _trig(m, x, "sin")


def emit_cos(m, x):
    return _trig(m, x, "cos")


def emit_tan(m, x):
    return _trig(m, x, "tan")


def emit_arctan(m, x):
    ax = m.abs(x)
    big = m.gt(ax, m.c(2.414213562373095))
    mid = m.gt(ax, m.c(0.41421356237309503))
    t = m.sel(big, m.div(m.c(-1.0), ax),
              m.sel(mid, m.div(m.sub(ax, m.c(1.0)), m.add(ax, m.c(1.0))), ax))
    base_hi = m.sel(big, m.pick(1.5707963705062866, 1.5707963267948966),
                    m.sel(mid, m.pick(0.7853981852531433, 0.7853981633974483), m.c(0.0)))
    base_lo = m.sel(big, m.pick(-4.371138828673793e-08, 6.123233995736766e-17),
                    m.sel(mid, m.pick(-2.1855694143368964e-08, 3.061616997868383e-17), m.c(0.0)))
    z = m.mul(t, t)
    a = m.fma(m.mul(t, z), m.poly(z, ATAN_F64 if m.is64 else ATAN_F32), t)
    res = m.add(base_hi, m.add(a, base_lo))
    res = m.sel(m.eq(x, m.c(0.0)), x, m.copysign(res, x))
    return m.sel(m.isnan(x), x, res)


def emit_arcsin(m, x):
    """arctan(x / sqrt((1-x)(1+x))); NaN outside [-1, 1]."""
    ax = m.abs(x)
    t = m.div(ax, m._intr("sqrt", [m.mul(m.sub(m.c(1.0), ax), m.add(m.c(1.0), ax))]))
    res = m.copysign(emit_arctan(m, t), x)
    return m.sel(m.eq(x, m.c(0.0)), x, res)


def emit_arccos(m, x):
    """2 arctan(sqrt((1-x)/(1+x))); NaN outside [-1, 1]."""
    t = m._intr("sqrt", [m.div(m.sub(m.c(1.0), x), m.add(m.c(1.0), x))])
    return m.mul(m.c(2.0), emit_arctan(m, t))


def emit_arctan2(m, y, x):
    """C atan2: arctan(|y|/|x|), reflected to pi - . for x < 0 (sign bit:
    -0 too), sign of y; (inf, inf) gives pi/4, (0, 0) 0 (then the same
    reflections), NaN if either is."""
    b = m.b
    ax, ay = m.abs(x), m.abs(y)
    inf = m.c(float("inf"))
    q = emit_arctan(m, m.div(ay, ax))
    both_inf = b.and_(m.eq(ax, inf), m.eq(ay, inf))
    q = m.sel(both_inf, m.pick(0.7853981852531433, 0.7853981633974483), q)
    q = m.sel(b.and_(m.eq(ax, m.c(0.0)), m.eq(ay, m.c(0.0))), m.c(0.0), q)
    pi_hi, pi_lo = m.pick(3.1415927410125732, 3.141592653589793), m.pick(-8.742278e-08, 1.2246467991473532e-16)
    xneg = b.icmp_signed("<", m.bits(x), m.ci(0))
    q = m.sel(xneg, m.add(m.sub(pi_hi, q), pi_lo), q)
    res = m.copysign(q, y)
    return m.sel(b.or_(m.isnan(x), m.isnan(y)), m.add(x, y), res)


def sincospi(m, x):
    """(sin(pi x), cos(pi x)) for finite x, exact reduction: r = x mod 2,
    j = rint(2r), f = r - j/2 in [-1/4, 1/4], then the quadrant j."""
    b = m.b
    r = m.sub(x, m.mul(m.c(2.0), m.rint(m.mul(x, m.c(0.5)))))
    jf = m.rint(m.add(r, r))
    f = m.sub(r, m.mul(jf, m.c(0.5)))
    s, c = sin_cos_poly(m, m.fma(f, m.c(PI[0]), m.mul(f, m.c(PI[1]))))
    j = b.and_(b.fptosi(jf, I32), lir.Constant(I32, 3))
    odd = b.trunc(j, I1)
    neg_s = b.icmp_unsigned(">=", j, lir.Constant(I32, 2))           # j = 2, 3
    neg_c = b.or_(b.icmp_unsigned("==", j, lir.Constant(I32, 1)),
                  b.icmp_unsigned("==", j, lir.Constant(I32, 2)))
    sin = m.sel(odd, c, s)
    cos = m.sel(odd, s, c)
    return m.sel(neg_s, m.neg(sin), sin), m.sel(neg_c, m.neg(cos), cos)
