"""C fmod, exact, for the float floordiv and mod ops (``codegen/scalar.py``).

Straight-line when the quotient is below 2^mant (the quotient rounds to Q
or Q+1 and both remainders are representable); larger quotients run a
short loop, so those two ops are not vectorized. Exactness, the loop path
(quotients far beyond 2^53) and the special values are checked against
NumPy in tests/native/test_codegen_elementwise.py.
"""


def _fmod_fast(m, x, y):
    """x mod y for positive finite x, y with x/y < 2^mant: exact (the
    quotient rounds to Q or Q+1, and both remainders are representable)."""
    q = m.trunc(m.div(x, y))
    r = m.fma(m.neg(q), y, x)
    return m.sel(m.lt(r, m.c(0.0)), m.add(r, y), r)


def emit_fmod(m, a, c):
    """C fmod (exact). The common case, |a/c| < 2^mant, is straight-line;
    larger quotients run a short loop that removes about mant-1 bits of
    quotient per step by reducing modulo c * 2^e (a multiple of c, chosen
    so that the quotient fits; scaling c up by powers of two is exact)."""
    b, p = m.b, m.p
    ax, ay = m.abs(a), m.abs(c)
    ok = b.and_(m.isfinite(ax), b.and_(m.gt(ay, m.c(0.0)), m.isfinite(ay)))
    x0 = m.sel(ok, ax, m.c(0.0))
    y = m.sel(ok, ay, m.c(1.0))
    # unbiased exponent of y (normalizing subnormals)
    tiny = m.lt(y, m.pick(1.1754943508222875e-38, 2.2250738585072014e-308))
    shift = p.mant + 2
    ys = m.sel(tiny, m.mul(y, m.c(2.0 ** shift)), y)
    ey = b.sub(b.lshr(m.bits(ys), m.ci(p.mant)), b.select(tiny, m.ci(p.bias + shift), m.ci(p.bias)))
    fn = b.function
    pre = b.block
    head = fn.append_basic_block("fmod.head")
    body = fn.append_basic_block("fmod.body")
    done = fn.append_basic_block("fmod.done")
    b.branch(head)
    b.position_at_end(head)
    x = b.phi(p.ty, name="fmod.x")
    x.add_incoming(x0, pre)
    b.cbranch(m.lt(m.div(x, y), m.c(2.0 ** p.mant)), done, body)
    b.position_at_end(body)
    # here x >= 2^mant y, so x is normal and e >= 1
    ex = b.sub(b.lshr(m.bits(x), m.ci(p.mant)), m.ci(p.bias))
    e = b.sub(b.sub(ex, ey), m.ci(p.mant - 1))
    e1 = b.sdiv(e, m.ci(3))
    e2 = b.sdiv(b.sub(e, e1), m.ci(2))
    e3 = b.sub(b.sub(e, e1), e2)
    d = m.mul(m.mul(m.mul(y, m.pow2(e1)), m.pow2(e2)), m.pow2(e3))
    x.add_incoming(_fmod_fast(m, x, d), b.block)
    b.branch(head)
    b.position_at_end(done)
    r = m.copysign(_fmod_fast(m, x, y), a)
    keep = b.and_(m.isfinite(ax), m.eq(ay, m.c(float("inf"))))
    return m.sel(ok, r, m.sel(keep, a, m.c(float("nan"))))
