"""Functions built from the exp and log kernels: tanh, sinh, cosh, arcsinh,
arccosh, arctanh, and the logistic pair sigmoid, softplus.

- tanh: e = expm1(2|x|), tanh = e / (e + 2), sign restored.
- sinh/cosh: fdlibm's expm1/exp forms; e^|x|/2 as (e^(|x|/2)/2) e^(|x|/2)
  past 22 (float32 9), so they overflow only where the result does.
- arcsinh/arccosh/arctanh: fdlibm's log1p forms (log|x| + ln2 for huge x).
- sigmoid: NumPy's formula with our exp; softplus: max(x,0) + log1p(exp(-|x|)).

Measured max errors (ulp, float32 / float64): tanh 1.96 / 2.13, sigmoid
2.07 / 2.10, softplus 2.47 / 2.50, sinh 2.4 / 2, cosh 2.8 / 2, arcsinh
2.3 / 2, arccosh 1.5 / 2, arctanh 2.2 / 2; asserted within 4 ulp by
tests/native/test_vecmath.py (tanh, sigmoid, softplus) and
tests/native/test_elementwise_math.py (the others against NumPy's libm:
4 ulp float64, 3 float32).
"""
from .exp_log import emit_log, emit_log1p, exp_kernel, expm1_kernel


def emit_tanh(m, x):
    ax = m.sel(m.lt(m.abs(x), m.pick(9.5, 20.0)), m.abs(x), m.pick(9.5, 20.0))
    e = expm1_kernel(m, m.add(ax, ax))
    t = m.div(e, m.add(e, m.c(2.0)))
    return m.sel(m.isnan(x), x, m.copysign(t, x))


def emit_sigmoid(m, x):
    e = exp_kernel(m, m.neg(m.abs(x)))
    d = m.add(m.c(1.0), e)
    res = m.sel(m.ge(x, m.c(0.0)), m.div(m.c(1.0), d), m.div(e, d))
    return m.sel(m.isnan(x), x, res)


def emit_softplus(m, x):
    e = exp_kernel(m, m.neg(m.abs(x)))
    pos = m.sel(m.gt(x, m.c(0.0)), x, m.c(0.0))
    res = m.add(pos, emit_log1p(m, e))
    return m.sel(m.isnan(x), x, res)


def _big_half_exp(m, ax):
    """e^|x| / 2 for large |x| as (e^(|x|/2) / 2) e^(|x|/2): no early overflow."""
    w = exp_kernel(m, m.mul(ax, m.c(0.5)))
    return m.mul(m.mul(w, m.c(0.5)), w)


def emit_sinh(m, x):
    """(e + e/(e+1))/2 with e = expm1(|x|) (fdlibm's form), sign restored."""
    ax = m.abs(x)
    big = m.pick(9.0, 22.0)
    e = expm1_kernel(m, m.sel(m.lt(ax, big), ax, big))
    small = m.mul(m.c(0.5), m.add(e, m.div(e, m.add(e, m.c(1.0)))))
    res = m.sel(m.lt(ax, big), small, _big_half_exp(m, ax))
    return m.sel(m.isnan(x), x, m.copysign(res, x))


def emit_cosh(m, x):
    ax = m.abs(x)
    big = m.pick(9.0, 22.0)
    t = exp_kernel(m, m.sel(m.lt(ax, big), ax, big))
    small = m.add(m.mul(m.c(0.5), t), m.div(m.c(0.5), t))
    res = m.sel(m.lt(ax, big), small, _big_half_exp(m, ax))
    return m.sel(m.isnan(x), x, res)


def _ln2_const(m):
    return m.pick(0.6931471824645996, 0.6931471805599453)


def emit_arcsinh(m, x):
    """log1p(|x| + x^2/(1 + sqrt(1 + x^2))); past 2^28 (float32 2^12) log|x| + ln2."""
    ax = m.abs(x)
    big = m.gt(ax, m.pick(4096.0, 2.0 ** 28))
    axs = m.sel(big, m.c(1.0), ax)
    x2 = m.mul(axs, axs)
    mid = emit_log1p(m, m.add(axs, m.div(x2, m.add(m.c(1.0), m._intr("sqrt", [m.add(m.c(1.0), x2)])))))
    res = m.sel(big, m.add(emit_log(m, ax), _ln2_const(m)), mid)
    return m.sel(m.isnan(x), x, m.copysign(res, x))


def emit_arccosh(m, x):
    """log1p(t + sqrt(t (t + 2))), t = x - 1; past 2^28 log x + ln2; NaN below 1."""
    big = m.gt(x, m.pick(4096.0, 2.0 ** 28))
    t = m.sub(m.sel(big, m.c(1.0), x), m.c(1.0))
    mid = emit_log1p(m, m.add(t, m._intr("sqrt", [m.mul(t, m.add(t, m.c(2.0)))])))
    res = m.sel(big, m.add(emit_log(m, x), _ln2_const(m)), mid)
    return m.sel(m.b.fcmp_unordered("<", x, m.c(1.0)), m.c(float("nan")), res)


def emit_arctanh(m, x):
    """log1p(2|x|/(1-|x|))/2 (fdlibm's two forms); |x| > 1 gives NaN, 1 inf."""
    ax = m.abs(x)
    one_minus = m.sub(m.c(1.0), ax)
    t = m.add(ax, ax)
    small = m.add(t, m.div(m.mul(t, ax), one_minus))
    arg = m.sel(m.lt(ax, m.c(0.5)), small, m.div(t, one_minus))
    res = m.mul(m.c(0.5), emit_log1p(m, arg))
    res = m.sel(m.gt(ax, m.c(1.0)), m.c(float("nan")), res)
    return m.sel(m.isnan(x), x, m.copysign(res, x))
