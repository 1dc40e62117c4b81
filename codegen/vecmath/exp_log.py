"""Exponentials and logarithms: exp, exp2, expm1, log, log1p, pow.

- exp: x = n ln2 + r, |r| <= ln2/2, e^r = 1 + r + r^2 P(r), scale by 2^n in
  two steps (correct overflow, gradual underflow).
- exp2: 2^rint(x) e^(r ln2) (r = x - rint(x), exact).
- log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), s = (m-1)/(m+1),
  log m = 2 atanh(s) (fdlibm's arrangement).
- log1p: log of u = 1+x plus the rounding correction ((1+x)-u)/u.
- expm1: 2^k (expm1(r) + 1) - 1 = fma(2^k, expm1(r), 2^k - 1).
- pow: float64 computes log|x| in double-double (``log_dd``) and exp of a
  double-double (``exp_kernel``'s ``extra``); float32 computes in float64
  and rounds once. IEEE/C99 special cases.

``exp_kernel``, ``expm1_kernel`` and ``log_dd`` are the building blocks
of the hyperbolic, erf and gamma families. Measured max errors (ulp,
float32 / float64): exp 0.94 / 0.98, log 0.74 / 0.75, log1p 1.94 / 1.51,
expm1 1.27 / 1.63, pow 0.50 / 1.85, exp2 0.86 / 1; asserted within 4 ulp
by tests/native/test_vecmath.py with the special values and pow's C99
cases (exp2: tests/native/test_elementwise_math.py, 3 ulp float32).
"""
from ..llvm_util import F32, F64
from .fmath import P64, FMath


EXP_F32 = (0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.008368716575205326,
           0.0013814534759148955)
EXP_F64 = (0.5000000000000011, 0.16666666666666413, 0.04166666666652996, 0.008333333333493799,
           0.001388888894366908, 0.00019841269508096414, 2.4801493068739143e-05,
           2.7557584994466263e-06, 2.7630256125174643e-07, 2.5000496180966546e-08)
EXPM1_F32 = (0.1666666567325592, 0.041666481643915176, 0.0083334194496274, 0.0013933252776041627,
             0.00019824061018880457)
EXPM1_F64 = (0.16666666666666677, 0.04166666666666659, 0.008333333333322035, 0.0013888888888935781,
             0.00019841269885205177, 2.4801587212230554e-05, 2.755724506653568e-06,
             2.755737512190368e-07, 2.5108756346239095e-08, 2.0882541039046157e-09)
# R(z) = 2 atanh(s)/s - 2 = z (c0 + c1 z + ...), z = s^2 <= 0.0295
LOG_F32 = (0.6666677594184875, 0.39977535605430603, 0.29871851205825806)
LOG_F64 = (0.6666666666666734, 0.39999999999414404, 0.28571428742438487, 0.2222219856863448,
           0.1818356453769251, 0.15314045620333738, 0.1479599526414124)
# (2 atanh(s) - 2s - 2s^3/3) / s^5 as a polynomial in z = s^2 (for pow's log)
LOGDD_F64 = (0.4000000000000003, 0.28571428571337665, 0.22222222271432657, 0.18181808200093436,
             0.15385577876891413, 0.13285865282339968, 0.12914651309802871)


def _ln2(m):
    return (m.pick(0.6931471824645996, 0.6931471805599453),
            m.pick(-1.9046542121259336e-09, 2.3190468138462996e-17))


def _log2e(m):
    return m.pick(1.4426950216293335, 1.4426950408889634)


def _exp_reduce(m, x):
    """(n as float, r) with x = n ln2 + r; x must be finite and moderate."""
    hi, lo = _ln2(m)
    n = m.rint(m.mul(x, _log2e(m)))
    r = m.fma(m.neg(n), hi, x)
    return n, m.fma(m.neg(n), lo, r)


def _exp_poly(m, r):
    coeffs = EXP_F64 if m.is64 else EXP_F32
    small = m.fma(m.mul(r, r), m.poly(r, coeffs), r)   # r + r^2 P(r)
    return m.add(m.c(1.0), small)


def exp_kernel(m, x, extra=None):
    """e^(x + extra) (extra: an optional tiny double-double tail)."""
    lo, hi = (-746.0, 710.0) if m.is64 else (-105.0, 89.0)
    inrange = m.b.and_(m.lt(x, m.c(hi)), m.gt(x, m.c(lo)))
    xc = m.clamp(x, lo, hi)
    n, r = _exp_reduce(m, xc)
    if extra is not None:
        r = m.add(r, m.sel(inrange, extra, m.c(0.0)))
    return m.scale(_exp_poly(m, r), m.to_int(n))


def emit_exp(m, x):
    return m.sel(m.isnan(x), x, exp_kernel(m, x))


def _split_log(m, x, subnormals=True):
    """(k as int, m) with x = 2^k m, m in [sqrt(1/2), sqrt(2)); x > 0 finite."""
    b = m.b
    p = m.p
    kadj = m.ci(0)
    if subnormals:
        tiny = m.lt(x, m.pick(1.1754943508222875e-38, 2.2250738585072014e-308))
        shift = 25 if p.bits == 32 else 54
        x = m.sel(tiny, m.mul(x, m.c(2.0 ** shift)), x)
        kadj = b.select(tiny, m.ci(-shift), m.ci(0))
    sqrt_half = 0x3F3504F3 if p.bits == 32 else 0x3FE6A09E667F3BCD
    one = 0x3F800000 if p.bits == 32 else 0x3FF0000000000000
    u = b.add(m.bits(x), m.ci(one - sqrt_half))
    k = b.sub(b.lshr(u, m.ci(p.mant)), m.ci(p.bias))
    mant = b.add(b.and_(u, m.ci((1 << p.mant) - 1)), m.ci(sqrt_half))
    return b.add(k, kadj), m.from_bits(mant)


def _log1p_f(m, f, k, c=None):
    """k ln2 + log(1+f) (+ c), f in [sqrt(1/2)-1, sqrt(2)-1] (fdlibm's form)."""
    hi = m.pick(0.693145751953125, 6.93147180369123816490e-01)
    lo = m.pick(1.428606765330187045e-06, 1.90821492927058770002e-10)
    coeffs = LOG_F64 if m.is64 else LOG_F32
    s = m.div(f, m.add(m.c(2.0), f))
    z = m.mul(s, s)
    R = m.mul(z, m.poly(z, coeffs))
    hfsq = m.mul(m.mul(m.c(0.5), f), f)
    dk = m.to_float(k)
    tail = m.mul(dk, lo)
    if c is not None:
        tail = m.add(tail, c)
    inner = m.sub(hfsq, m.add(m.mul(s, m.add(hfsq, R)), tail))
    return m.sub(m.mul(dk, hi), m.sub(inner, f))


def emit_log(m, x):
    k, mm = _split_log(m, x)
    r = _log1p_f(m, m.sub(mm, m.c(1.0)), k)
    inf = m.c(float("inf"))
    r = m.sel(m.eq(x, inf), inf, r)
    r = m.sel(m.eq(x, m.c(0.0)), m.neg(inf), r)
    return m.sel(m.b.fcmp_unordered("<", x, m.c(0.0)), m.c(float("nan")), r)


def emit_log1p(m, x):
    b = m.b
    u = m.add(m.c(1.0), x)
    k, mm = _split_log(m, u, subnormals=False)
    # c = ((1 + x) - u) / u, the rounding error of u, relative
    c_pos = m.sub(m.c(1.0), m.sub(u, x))
    c_neg = m.sub(x, m.sub(u, m.c(1.0)))
    c = m.div(b.select(b.icmp_signed(">", k, m.ci(0)), c_pos, c_neg), u)
    r = _log1p_f(m, m.sub(mm, m.c(1.0)), k, c)
    inf = m.c(float("inf"))
    r = m.sel(m.eq(x, inf), inf, r)
    r = m.sel(m.eq(x, m.c(-1.0)), m.neg(inf), r)
    r = m.sel(m.b.fcmp_unordered("<", x, m.c(-1.0)), m.c(float("nan")), r)
    return m.sel(m.eq(x, m.c(0.0)), x, r)


def expm1_kernel(m, x):
    """expm1(x) for x not NaN."""
    lo, hi = (-40.0, 710.0) if m.is64 else (-18.0, 89.0)
    xc = m.clamp(x, lo, hi)
    n, r = _exp_reduce(m, xc)
    coeffs = EXPM1_F64 if m.is64 else EXPM1_F32
    # expm1(r) = r + r^2 (1/2 + r Q(r))
    p = m.fma(m.mul(r, r), m.fma(r, m.poly(r, coeffs), m.c(0.5)), r)
    k = m.to_int(n)
    top = m.ci(m.p.bias)               # largest k with 2^k finite
    b = m.b
    big = b.icmp_signed(">", k, top)
    t = m.pow2(b.select(big, top, k))
    y = m.fma(t, p, m.sub(t, m.c(1.0)))
    return m.sel(big, m.mul(y, m.c(2.0)), y)


def emit_expm1(m, x):
    r = expm1_kernel(m, x)
    r = m.sel(m.eq(x, m.c(0.0)), x, r)
    return m.sel(m.isnan(x), x, r)


def emit_exp2(m, x):
    """2^x = 2^n e^(r ln2), n = rint(x), |r| <= 1/2 (exact)."""
    lo, hi = (-1080.0, 1030.0) if m.is64 else (-155.0, 130.0)
    xc = m.clamp(x, lo, hi)
    n = m.rint(xc)
    r = m.mul(m.sub(xc, n), m.pick(0.6931471824645996, 0.6931471805599453))
    return m.sel(m.isnan(x), x, m.scale(_exp_poly(m, r), m.to_int(n)))


def log_dd(m, ax):
    """log(ax) as a double-double (hi, lo); float64 only, ax > 0 finite."""
    k, mm = _split_log(m, ax)
    f = m.sub(mm, m.c(1.0))
    dh, dl = m.fast_two_sum(m.c(1.0), mm)                 # 1 + m
    sh = m.div(f, dh)
    resid = m.sub(m.fma(m.neg(sh), dh, f), m.mul(sh, dl))
    sl = m.div(resid, dh)
    # s^3 in double-double, times 2/3 in double-double
    s2h = m.mul(sh, sh)
    s2l = m.add(m.fma(sh, sh, m.neg(s2h)), m.mul(m.add(sh, sh), sl))
    s3h = m.mul(s2h, sh)
    s3l = m.add(m.fma(s2h, sh, m.neg(s3h)), m.add(m.mul(s2l, sh), m.mul(s2h, sl)))
    c23h, c23l = m.c(0.6666666666666666), m.c(3.700743415417188e-17)
    t3h = m.mul(c23h, s3h)
    t3l = m.add(m.fma(c23h, s3h, m.neg(t3h)), m.add(m.mul(c23h, s3l), m.mul(c23l, s3h)))
    s5p = m.mul(m.mul(s3h, s2h), m.poly(s2h, LOGDD_F64))
    dk = m.to_float(k)
    kh = m.mul(dk, m.c(6.93147180369123816490e-01))   # exact: 32-bit ln2 head
    kl = m.mul(dk, m.c(1.90821492927058770002e-10))
    lh, ll = m.two_sum(kh, m.add(sh, sh))
    lh, l2 = m.two_sum(lh, t3h)
    tail = m.add(m.add(ll, l2), m.add(m.add(sl, sl), m.add(t3l, m.add(s5p, kl))))
    return m.fast_two_sum(lh, tail)


def _pow_special(m, x, y, core):
    """C99 pow special cases around ``core`` = |x|^y for finite nonzero x."""
    inf, nan = m.c(float("inf")), m.c(float("nan"))
    zero, one = m.c(0.0), m.c(1.0)
    b = m.b
    ax, ay = m.abs(x), m.abs(y)
    yneg = m.lt(y, zero)
    yint = m.eq(m.trunc(y), y)
    half = m.trunc(m.mul(y, m.c(0.5)))
    yodd = b.and_(yint, m.ne(m.add(half, half), y))
    res = core
    res = m.sel(m.eq(ax, zero), m.sel(yneg, inf, zero), res)
    res = m.sel(m.eq(ax, inf), m.sel(yneg, zero, inf), res)
    toward = b.icmp_unsigned("==", m.lt(ax, one), yneg)
    res = m.sel(m.eq(ay, inf), m.sel(m.eq(ax, one), one, m.sel(toward, inf, zero)), res)
    xneg = b.icmp_signed("<", m.bits(x), m.ci(0))        # sign bit: -0 and -inf too
    res = m.sel(b.and_(xneg, yodd), m.neg(res), res)
    bad = b.and_(b.and_(m.lt(x, zero), m.isfinite(x)), b.not_(yint))
    res = m.sel(b.or_(bad, b.or_(m.isnan(x), m.isnan(y))), nan, res)
    res = m.sel(m.eq(y, zero), one, res)
    return m.sel(m.eq(x, one), one, res)


def emit_pow(m, x, y):
    if not m.is64:
        # float32: compute in float64 (errors far below float32's ulp), round once
        b = m.b
        m64 = FMath(m.module, b, P64)
        x64, y64 = b.fpext(x, F64), b.fpext(y, F64)
        ax = m64.abs(x64)
        lg = emit_log(m64, m64.sel(m64.isfinite(ax), ax, m64.c(1.0)))
        core = exp_kernel(m64, m64.mul(y64, lg))
        return b.fptrunc(_pow_special(m64, x64, y64, core), F32)
    ax = m.abs(x)
    safe = m.sel(m.b.and_(m.isfinite(ax), m.gt(ax, m.c(0.0))), ax, m.c(1.0))
    lh, ll = log_dd(m, safe)
    ph = m.mul(y, lh)
    pl = m.fma(y, lh, m.neg(ph))
    pl = m.add(pl, m.mul(y, ll))
    pl = m.sel(m.isfinite(pl), pl, m.c(0.0))
    core = exp_kernel(m, ph, extra=pl)
    return _pow_special(m, x, y, core)
