"""Argument reduction of the trigonometric functions: x = (4i + j) pi/2 + r.

For |x| < 2^30 (float64) / 2^16 (float32) Cody-Waite: q = rint(x 2/pi),
r = x - q pi/2 with pi/2 split in three parts applied with fma (exact
first step). Larger finite x take a Payne-Hanek path (in its own basic
block; in a vectorized loop it is if-converted, i.e. runs masked beside
the fast path): x = M 2^E, the product of the integer M with a
per-exponent window of 2/pi bits (96 bits for float32, 192 for float64, an
internal constant table of 32-bit limbs, computed here from Machin's
formula) is formed exactly in 32x32->64-bit limb arithmetic mod 2^window,
giving the quadrant and the fraction (to ~2^-125 for float64, enough for
the worst case, the double within ~2^-61 of a multiple of pi/2), times
pi/2 in double-double (float32: in float64). So sin/cos/tan are accurate
over the whole finite range: tests/native/test_vecmath.py
(test_trig_large_argument_ulp_error) checks points past the bound,
including the float64 argument closest to a multiple of pi/2.
"""
import llvmlite.ir as lir

from ..llvm_util import F32, F64, I32, I64
from .fmath import P64, FMath


def _two_over_pi_bits(nbits):
    """floor(2/pi * 2^nbits), from Machin's formula in integer arithmetic."""
    g = nbits + 64
    one = 1 << g

    def arctan_inv(n):                      # arctan(1/n) * 2^g
        total, term, k, n2 = 0, one // n, 1, n * n
        while term:
            total += term // k if k % 4 == 1 else -(term // k)
            term //= n2
            k += 2
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))          # pi * 2^g
    return (1 << (nbits + 1 + g)) // pi


# Payne-Hanek windows: for |x| = M 2^E (M the integer significand), the bits
# of 2/pi that matter for x 2/pi mod 4 start at weight 2^-(E-1); the window W
# of L bits after them gives x 2/pi mod 4 = (M W mod 2^L) / 2^(L-2) up to
# < M 2^(2-L). One window per biased exponent from the large path's first
# exponent up, as 32-bit limbs (least significant first).
_PH = {  # bits: (first biased exponent handled, window limbs, significand bits, bias)
    32: (127 + 16, 3, 23, 127),
    64: (1023 + 30, 6, 52, 1023),
}
_PH_CACHE = {}


def _ph_table(bits):
    if bits not in _PH_CACHE:
        e0, nl, mant, bias = _PH[bits]
        L = 32 * nl
        emax = 2 * bias
        top = emax - bias - mant - 2 + L
        tp = _two_over_pi_bits(top + 8)
        words = []
        for e in range(e0, emax + 1):
            E = e - bias - mant
            w = (tp >> (top + 8 - (E - 2 + L))) & ((1 << L) - 1)
            words += [(w >> (32 * k)) & 0xFFFFFFFF for k in range(nl)]
        _PH_CACHE[bits] = words
    return _PH_CACHE[bits]


def _ph_global(m):
    name = f"theon.two_over_pi.{m.p.suffix}"
    g = m.module.globals.get(name)
    if g is None:
        words = _ph_table(m.p.bits)
        ty = lir.ArrayType(I32, len(words))
        g = lir.GlobalVariable(m.module, ty, name)
        g.global_constant = True
        g.linkage = "internal"
        g.initializer = lir.Constant(ty, words)
    return g


def _trig_reduce_large(m, x):
    """(j in 0..3 as i32, r) with x = (4i + j) pi/2 + r for any finite x
    (used for |x| past the Cody-Waite bound; exact integer Payne-Hanek step,
    r correctly rounded up to ~2^-70 relative)."""
    b = m.b
    e0, nl, mant, bias = _PH[m.p.bits]
    c64 = lambda v: lir.Constant(I64, v)
    ax = m.abs(x)
    xb = b.zext(m.bits(ax), I64) if not m.is64 else m.bits(ax)
    e = b.lshr(xb, c64(mant))
    sig = b.or_(b.and_(xb, c64((1 << mant) - 1)), c64(1 << mant))
    # table index (i32: 16-lane gathers for float32), clamped into the table
    c32 = lambda v: lir.Constant(I32, v)
    nent = (2 * bias) - e0 + 1
    idx = b.sub(b.trunc(e, I32), c32(e0))
    idx = b.select(b.icmp_signed("<", idx, c32(0)), c32(0), idx)
    idx = b.select(b.icmp_signed(">", idx, c32(nent - 1)), c32(nent - 1), idx)
    base = b.mul(idx, c32(nl))
    g = _ph_global(m)
    w = [b.zext(b.load(b.gep(g, [c32(0), b.add(base, c32(k))], inbounds=True)), I64)
         for k in range(nl)]
    mask = c64(0xFFFFFFFF)
    # P = sig * W mod 2^(32 nl), 32-bit limbs in i64 (all products fit in u64)
    sig_limbs = [b.and_(sig, mask)] + ([b.lshr(sig, c64(32))] if m.is64 else [])
    p = [c64(0)] * nl
    for i, sl in enumerate(sig_limbs):
        carry = c64(0)
        for k in range(nl - i):
            t = b.add(b.add(b.mul(sl, w[k]), carry), p[k + i])
            p[k + i] = b.and_(t, mask)
            carry = b.lshr(t, c64(32))
    # value mod 4 = P / 2^(32 nl - 2): quadrant rounded to nearest, signed fraction
    T = b.or_(b.shl(p[nl - 1], c64(32)), p[nl - 2])
    j = b.trunc(b.and_(b.lshr(b.add(T, c64(1 << 61)), c64(62)), c64(3)), I32)
    g1 = b.or_(b.shl(T, c64(2)), b.lshr(p[nl - 3], c64(30)))   # fraction * 2^64, signed
    m64 = m if m.is64 else FMath(m.module, b, P64)
    c = m64.c
    hpi_h, hpi_l = 1.5707963267948966, 6.123233995736766e-17
    if m.is64:
        # fraction = g1h 2^-32 + g1l 2^-64 + g2 2^-128 as a double-double
        g1h = b.sitofp(b.ashr(g1, c64(32)), F64)
        g1l = b.sitofp(b.and_(g1, mask), F64)
        g2 = b.or_(b.or_(b.shl(b.and_(p[nl - 3], c64(0x3FFFFFFF)), c64(34)), b.shl(p[nl - 4], c64(2))),
                   b.lshr(p[nl - 5], c64(30)))
        g2 = b.sitofp(b.lshr(g2, c64(11)), F64)                 # top 53 bits, exact
        sh, sl = m.fast_two_sum(m.mul(g1h, c(2.0 ** -32)), m.mul(g1l, c(2.0 ** -64)))
        fh, fl = m.fast_two_sum(sh, m.add(sl, m.mul(g2, c(2.0 ** -117))))
        rh = m.mul(fh, c(hpi_h))
        rl = m.fma(fh, c(hpi_h), m.neg(rh))
        rl = m.add(rl, m.fma(fh, c(hpi_l), m.mul(fl, c(hpi_h))))
        r = m.add(rh, rl)
    else:
        frac = m64.mul(b.sitofp(g1, F64), c(2.0 ** -64))
        r = b.fptrunc(m64.mul(frac, c(hpi_h)), F32)
    # x < 0: -x = (4(-i) - j) pi/2 - r
    neg = m.lt(x, m.c(0.0))
    j = b.select(neg, b.and_(b.sub(lir.Constant(I32, 0), j), lir.Constant(I32, 3)), j)
    return j, m.sel(neg, m.neg(r), r)


def trig_reduce(m, x):
    """(j in 0..3 as i32, r) with x = (4i + j) pi/2 + r; x finite.

    Cody-Waite for |x| below 2^16 (float32) / 2^30 (float64), else the
    Payne-Hanek path in its own block (branch; vectorized loops if-convert it)."""
    b = m.b
    if m.is64:
        p1, p2, p3 = 1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33
    else:
        p1, p2, p3 = 1.5707963705062866, -4.371138828673793e-08, -1.7151245100058819e-15
    q = m.rint(m.mul(x, m.pick(0.6366197466850281, 0.6366197723675814)))
    nq = m.neg(q)
    r = m.fma(nq, m.c(p1), x)
    r = m.fma(nq, m.c(p2), r)
    r = m.fma(nq, m.c(p3), r)
    jf = m.sub(q, m.mul(m.c(4.0), m.floor(m.mul(q, m.c(0.25)))))
    j = b.fptosi(jf, I32)
    e0 = _PH[m.p.bits][0]
    big = m.ge(m.abs(x), m.c(2.0 ** (e0 - m.p.bias)))
    pre = b.block
    fn = b.function
    slow = fn.append_basic_block("trig.large")
    done = fn.append_basic_block("trig.reduced")
    b.cbranch(big, slow, done)
    b.position_at_end(slow)
    j2, r2 = _trig_reduce_large(m, x)
    slow_end = b.block
    b.branch(done)
    b.position_at_end(done)
    jp = b.phi(I32, name="trig.j")
    jp.add_incoming(j, pre)
    jp.add_incoming(j2, slow_end)
    rp = b.phi(m.p.ty, name="trig.r")
    rp.add_incoming(r, pre)
    rp.add_incoming(r2, slow_end)
    return jp, rp
