"""The gamma function family: gamma, gammaln, psi (digamma), trigamma.

Float64 kernels (float32 widens, computes in float64, rounds once,
``in_float64``); coefficients are mpmath fits or exact series terms.

- gamma: 1/gamma's Taylor series on [1, 2) after at most 8 recurrence
  steps, Stirling with a double-double exponent from 10.
- gammaln: the series of lgamma(2+z) (zeta coefficients) up to 3.5,
  log gamma to 20, Stirling.
- psi: recurrence to [1, 2) and a Taylor series around its root x0
  (relative accuracy there), asymptotic series from 10.
- trigamma: upward recurrence and the asymptotic series.
- x < 0 by the reflection formulas with an exactly reduced sin(pi x),
  cos(pi x) (``trig.sincospi``); relative accuracy is lost only next to
  the negative zeros of gammaln and psi.

Measured max error (ulp): gamma 3 in float64 (x > -30), 0.5 in float32.
tests/native/test_elementwise_math.py checks all four against float64
references (``math.gamma``/``math.lgamma``, the ops' series for psi and
trigamma; float64 bounds 6 to 10 ulp, which include the reference's own
rounding; float32 1 ulp), left of zero with relative tolerances, and the
special values.
"""
from .exp_log import emit_log, emit_log1p, exp_kernel, expm1_kernel, log_dd
from .fmath import in_float64
from .trig import PI, sincospi


# lgamma(2 + z) = (1 - euler_gamma) z + z^2 S(z), S's Taylor coefficients (-1)^k (zeta(k)-1)/k, k >= 2
LGAMMA_S = (0.3224670334241132, -0.0673523010531981, 0.020580808427784546, -0.007385551028673986,
            0.0028905103307415234, -0.001192753911703261, 0.0005096695247430425,
            -0.00022315475845357939, 9.945751278180853e-05, -4.492623673813314e-05,
            2.050721277567069e-05, -9.439488275268397e-06, 4.374866789907488e-06,
            -2.039215753801366e-06, 9.55141213040742e-07, -4.492469198764566e-07,
            2.1207184805554665e-07, -1.0043224823968099e-07, 4.7698101693639804e-08,
            -2.2711094608943164e-08, 1.0838659214896955e-08, -5.183475041970047e-09,
            2.4836745438024785e-09, -1.1921401405860912e-09, 5.731367241678862e-10,
            -2.7595228851242334e-10, 1.330476437424449e-10, -6.4229645638381e-11)
# 1/gamma(1.5 + d), Taylor coefficients (|d| <= 1/2)
RGAMMA = (1.1283791670955126, -0.0411745264452831, -0.5266544355255445, 0.17510202604393457,
          0.050966860247706074, -0.042155169368535604, 0.006612897826824127, 0.002120731442572938,
          -0.0011107302545948906, 0.00015235762076747688, 2.5355204923814165e-05,
          -1.3896805717913756e-05, 2.1562032905141724e-06, 5.7942640540526726e-08,
          -8.913551118311116e-08, 1.7103469415915374e-08, -9.313686445241901e-10,
          -2.6804741033496623e-10, 7.458932233316326e-11, -8.012807061414718e-12,
          -8.382343033451855e-14)
# digamma(x0 + d) = d P(d) around its positive root x0 (Taylor, |d| <= 0.54)
PSI_X0 = (1.4616321449683622, 9.549995429965697e-17)
PSI_ROOT = (0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652,
            0.10782405069126237, -0.07219956125645471, 0.04880428816414311, -0.03316112647484736,
            0.022597648232218104, -0.01542476590494896, 0.010538791616612175, -0.007204534386356869,
            0.004926781395729853, -0.003369801655439328, 0.002305126326734928, -0.0015769367714301972,
            0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602,
            -0.0003454680251063077, 0.00023635601564027053, -0.00016170622091974803,
            0.0001106337276874741, -7.569179582195066e-05, 5.178575795222081e-05,
            -3.5430070947659604e-05, 2.424006611860132e-05, -1.6584242271854135e-05,
            1.134638458466385e-05, -7.762817668462094e-06, 5.3110609208898636e-06,
            -3.6336507898010456e-06, 2.486022733129538e-06, -1.7008538854332607e-06,
            1.1636675363548843e-06, -7.96142543124197e-07, 5.446941930669446e-07,
            -3.7266161283438227e-07, 2.549626552021554e-07, -1.7443695117727745e-07)
EULER_C = 0.42278433509846713       # 1 - euler_gamma
HALF_LOG_2PI = (0.9189385332046728, -3.8782941580672414e-17)


def _gamma_pos(m, a, shift=None):
    """gamma(a) for a > 0 (not NaN; inf gives inf): 1/gamma Taylor on [1, 2)
    after at most 8 downward steps (a < 10; a < 1 steps up once), Stirling's
    series with a double-double exponent from 10 on. ``shift`` (a value, 0
    or 200): from 10 on the result is gamma(a) e^-shift (past overflow)."""
    one = m.c(1.0)
    below = m.lt(a, one)
    y = m.sel(below, m.add(a, one), m.sel(m.lt(a, m.c(10.0)), a, m.c(1.5)))
    prod = one
    for _ in range(8):
        step = m.ge(y, m.c(2.0))
        y = m.sel(step, m.sub(y, one), y)
        prod = m.sel(step, m.mul(prod, y), prod)
    den = m.mul(m.poly(m.sub(y, m.c(1.5)), RGAMMA), m.sel(below, a, one))
    small = m.div(prod, den)
    # Stirling: exp((a - 1/2) log a - a + log(2 pi)/2) (1 + expm1(series(1/a)))
    s = m.sel(m.lt(a, m.c(10.0)), m.c(10.0), m.sel(m.lt(a, m.c(200.0)), a, m.c(200.0)))
    lh, ll = log_dd(m, s)
    wv = m.sub(s, m.c(0.5))
    ph = m.mul(wv, lh)
    pl = m.add(m.fma(wv, lh, m.neg(ph)), m.mul(wv, ll))
    eh, el = m.two_sum(ph, m.neg(s))
    eh, el2 = m.two_sum(eh, m.c(HALF_LOG_2PI[0]))
    el = m.add(m.add(el, el2), m.add(pl, m.c(HALF_LOG_2PI[1])))
    eh, el = m.fast_two_sum(eh, el)
    inv = m.div(one, s)
    z = m.mul(inv, inv)
    series = m.mul(inv, m.poly(z, (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)))
    if shift is not None:
        eh = m.sub(eh, shift)                                   # exact: eh is near 700
    big = exp_kernel(m, eh, extra=el)
    big = m.fma(big, expm1_kernel(m, series), big)
    big = m.sel(m.ge(a, m.c(200.0)), m.c(float("inf")), big)
    return m.sel(m.lt(a, m.c(10.0)), small, big)


def _reflected(m, x):
    """(x < 0, a, sin(pi x), cos(pi x)) for the reflection formulas: a = 1 - x
    left of 0, else x (NaN replaced by 1: callers restore NaN)."""
    neg = m.lt(x, m.c(0.0))
    a = m.sel(neg, m.sub(m.c(1.0), x), x)
    s, c = sincospi(m, m.sel(m.isfinite(x), x, m.c(0.5)))
    return neg, m.sel(m.isnan(a), m.c(1.0), a), s, c


def _neg_int(m, x):
    """x < 0 and integral (-inf included)."""
    return m.b.and_(m.lt(x, m.c(0.0)), m.eq(m.floor(x), x))


@in_float64
def emit_gamma(m, x):
    """C tgamma: gamma(x) for x >= 0 (+-0 gives +-inf), else the reflection
    pi / (sin(pi x) gamma(1 - x)); NaN at negative integers and -inf."""
    neg, a, s, _ = _reflected(m, x)
    # left of -150, gamma(1 - x) overflows before gamma(x) underflows: scale it by e^-200
    scaled = m.b.and_(neg, m.ge(a, m.c(150.0)))
    g = _gamma_pos(m, a, m.sel(scaled, m.c(200.0), m.c(0.0)))
    refl = m.div(m.c(PI[0]), m.mul(s, g))
    refl = m.sel(scaled, m.mul(refl, m.c(1.3838965267367376e-87)), refl)     # e^-200
    res = m.sel(neg, refl, g)
    res = m.sel(_neg_int(m, x), m.c(float("nan")), res)
    return m.sel(m.isnan(x), x, res)


def _lgamma_pos(m, a):
    """log gamma(a) for a > 0 (not NaN): the series of lgamma(2 + z) around
    1, 2 and 3 for a < 3.5, log(gamma(a)) up to 20, then Stirling."""
    one = m.c(1.0)
    lt = lambda v: m.lt(a, m.c(v))  # noqa: E731
    z = m.sel(lt(0.5), a, m.sel(lt(1.5), m.sub(a, one), m.sel(lt(2.5), m.sub(a, m.c(2.0)),
                                                                m.sub(a, m.c(3.0)))))
    z = m.sel(lt(3.5), z, m.c(0.0))
    base = m.fma(m.mul(z, z), m.poly(z, LGAMMA_S), m.mul(m.c(EULER_C), z))
    base = m.sel(lt(1.5), m.sub(base, emit_log1p(m, z)), base)
    base = m.sel(lt(0.5), m.sub(base, emit_log(m, a)), base)
    base = m.sel(m.b.and_(m.ge(a, m.c(2.5)), lt(3.5)), m.add(base, emit_log(m, m.sub(a, one))), base)
    mid = emit_log(m, _gamma_pos(m, m.sel(lt(20.0), m.sel(lt(3.5), m.c(4.0), a), m.c(4.0))))
    s = m.sel(lt(20.0), m.c(20.0), a)
    inv = m.div(one, s)
    z2 = m.mul(inv, inv)
    series = m.mul(inv, m.poly(z2, (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)))
    big = m.add(m.mul(m.sub(s, m.c(0.5)), m.sub(emit_log(m, s), one)),
                m.add(m.c(HALF_LOG_2PI[0] - 0.5), series))
    return m.sel(lt(3.5), base, m.sel(lt(20.0), mid, big))


@in_float64
def emit_gammaln(m, x):
    """log|gamma(x)|; the reflection log(pi/|sin(pi x)|) - lgamma(1 - x)
    for x < 0; +inf at the poles (non-positive integers) and +-inf."""
    neg, a, s, _ = _reflected(m, x)
    lg = _lgamma_pos(m, a)
    refl = m.sub(m.sub(m.c(1.1447298858494002), emit_log(m, m.abs(s))), lg)     # log(pi) - log|s|
    inf = m.c(float("inf"))
    tiny = m.lt(m.abs(x), m.c(2.0 ** -60))                 # -log|x| (sin(pi x) would underflow)
    res = m.sel(neg, m.sel(tiny, m.neg(emit_log(m, m.abs(x))), refl), lg)
    res = m.sel(_neg_int(m, x), inf, res)
    return m.sel(m.isnan(x), x, res)


def _psi_pos(m, a):
    """digamma(a) for a > 0 (not NaN): below 10, at most 8 downward steps
    (a < 1 one upward) to [1, 2), where a Taylor series around the root
    x0 keeps the relative accuracy near it; from 10 on the asymptotic series."""
    one = m.c(1.0)
    below = m.lt(a, one)
    y = m.sel(below, m.add(a, one), m.sel(m.lt(a, m.c(10.0)), a, m.c(1.5)))
    acc = m.c(0.0)
    for _ in range(8):
        step = m.ge(y, m.c(2.0))
        y = m.sel(step, m.sub(y, one), y)
        acc = m.sel(step, m.add(acc, m.div(one, y)), acc)
    d = m.sub(m.sub(y, m.c(PSI_X0[0])), m.c(PSI_X0[1]))
    small = m.add(m.mul(d, m.poly(d, PSI_ROOT)), acc)
    small = m.sel(below, m.sub(small, m.div(one, a)), small)
    s = m.sel(m.lt(a, m.c(10.0)), m.c(10.0), a)
    inv = m.div(one, s)
    z = m.mul(inv, inv)
    # log s - 1/(2s) - sum B_2k / (2k s^2k)
    tail = m.mul(z, m.poly(z, (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12,
                               -3617 / 8160)))
    big = m.sub(m.sub(emit_log(m, s), m.mul(m.c(0.5), inv)), tail)
    return m.sel(m.lt(a, m.c(10.0)), small, big)


@in_float64
def emit_psi(m, x):
    """digamma: the reflection psi(1 - x) - pi cos(pi x)/sin(pi x) for
    x < 0; NaN at negative integers and -inf, -inf at +0, +inf at -0."""
    neg, a, s, c = _reflected(m, x)
    p = _psi_pos(m, a)
    refl = m.sub(p, m.div(m.mul(m.c(PI[0]), c), s))
    res = m.sel(neg, refl, p)
    res = m.sel(_neg_int(m, x), m.c(float("nan")), res)
    return m.sel(m.isnan(x), x, res)


def _trigamma_pos(m, a):
    """trigamma(a), a > 0: up to 10 upward steps (all terms positive), then
    the asymptotic series from 10."""
    one = m.c(1.0)
    y = a
    acc = m.c(0.0)
    for _ in range(10):
        step = m.lt(y, m.c(10.0))
        acc = m.sel(step, m.add(acc, m.div(one, m.mul(y, y))), acc)
        y = m.sel(step, m.add(y, one), y)
    inv = m.div(one, y)
    z = m.mul(inv, inv)
    # 1/y + 1/(2y^2) + sum B_2k / y^(2k+1)
    tail = m.mul(m.mul(z, inv), m.poly(z, (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6,
                                           -3617 / 510, 43867 / 798)))
    return m.add(acc, m.add(inv, m.add(m.mul(m.c(0.5), z), tail)))


@in_float64
def emit_trigamma(m, x):
    """psi'(x): the reflection (pi/sin(pi x))^2 - trigamma(1 - x) for x < 0;
    +inf at the poles (non-positive integers), NaN at -inf."""
    neg, a, s, _ = _reflected(m, x)
    t = _trigamma_pos(m, a)
    q = m.div(m.c(PI[0]), s)
    res = m.sel(neg, m.sub(m.mul(q, q), t), t)
    res = m.sel(_neg_int(m, x), m.c(float("inf")), res)
    res = m.sel(m.eq(x, m.c(float("-inf"))), m.c(float("nan")), res)
    return m.sel(m.isnan(x), x, res)
