"""float16 conversions in LLVM IR, bit-exact, for every backend.

theon stores float16 as its 16-bit pattern (LLVM ``i16``: data movement
never touches the bits) and computes in float32 (``passes/legalize_f16.py``
leaves only casts, loads and stores in float16). The casts:

* ``to_f32(b, h)``: exact (normals, subnormals, signed zeros, inf, NaN
  payloads).
* ``from_float(b, x)``: float32 or float64 ``x`` rounded to nearest, ties
  to even, in one rounding (float64 goes directly, not through float32,
  which could round twice), as NumPy's ``astype(np.float16)``: overflow
  to inf from 65520 up, subnormals rounded on their own 2**-24 grid, NaN
  payloads as NumPy (the top 10 bits, never 0; not quieted). Widening
  keeps payloads into float32; float16 -> float64 goes through float32,
  whose ``fpext`` quiets a signaling NaN (NumPy's direct loop does not).

On the CPU they are integer code (and one float add for subnormals), so
neither the JIT nor an ``aot-compile`` object needs a conversion library
call (LLVM's ``fpext``/``fptrunc`` of ``half`` become calls of
``__extendhfsf2``/``__truncsfhf2``/``__truncdfhf2`` on x86 without F16C);
the loop vectorizer widens them like any other select chain. On NVPTX
(``native=True``) they are ``cvt.f32.f16`` / ``cvt.rn.f16.f32`` /
``cvt.rn.f16.f64``; JIT code on a host with F16C (``host_f16c``) converts
between float16 and float32 with ``vcvtph2ps``/``vcvtps2ph`` (twice as
fast in float16 loops; the same values, but a signaling NaN comes out
quiet), never float64 (no instruction: a libcall).
"""
import functools

import llvmlite.binding as llvm
import llvmlite.ir as lir
import numpy as np

I16 = lir.IntType(16)
I32 = lir.IntType(32)
F32 = lir.FloatType()
HALF = lir.HalfType()

# (bits, mantissa bits, exponent bias, LLVM float type, integer type) of the wide formats
_FORMATS = {"float": (32, 23, 127, F32, I32), "double": (64, 52, 1023, lir.DoubleType(), lir.IntType(64))}


@functools.lru_cache(maxsize=None)
def host_f16c():
    """The host CPU converts float16 <-> float32 in hardware (x86 F16C), so
    JIT code (compiled for the host's features) may use ``fpext``/``fptrunc``."""
    return "+f16c" in llvm.get_host_cpu_features().flatten().split(",")


def _c(ty, v):
    """An integer constant of ``ty`` from ``v`` taken modulo 2**width (as
    signed), or a float constant."""
    if isinstance(ty, lir.IntType):
        w = ty.width
        v &= (1 << w) - 1
        v -= (1 << w) if v >> (w - 1) else 0
    return lir.Constant(ty, v)


def to_f32(b, h, native=False):
    """The float32 value of float16 pattern ``h`` (i16)."""
    if native:
        return b.fpext(b.bitcast(h, HALF), F32)
    w = b.zext(h, I32)
    sign = b.shl(b.and_(w, _c(I32, 0x8000)), _c(I32, 16))
    em = b.and_(w, _c(I32, 0x7FFF))                      # exponent and mantissa
    exp = b.lshr(em, _c(I32, 10))
    shifted = b.shl(em, _c(I32, 13))
    # normal: rebias the exponent by 127 - 15; inf/NaN: exponent 31 -> 255
    normal = b.add(shifted, _c(I32, 112 << 23))
    special = b.add(shifted, _c(I32, 224 << 23))
    bits = b.select(b.icmp_unsigned("==", exp, _c(I32, 31)), special, normal)
    # zero and subnormals: mantissa * 2**-24, exact in float32 (no subnormal operand)
    sub = b.bitcast(b.fmul(b.uitofp(b.and_(em, _c(I32, 0x3FF)), F32), _c(F32, 2.0 ** -24)), I32)
    bits = b.select(b.icmp_unsigned("==", exp, _c(I32, 0)), sub, bits)
    return b.bitcast(b.or_(bits, sign), F32)


def from_float(b, x, native=False):
    """float32/float64 ``x`` as a float16 pattern (i16), rounded to nearest even."""
    if native:
        return b.bitcast(b.fptrunc(x, HALF), I16)
    nbits, mbits, bias, fty, ity = _FORMATS[str(x.type)]
    shift = mbits - 10

    def c(v):
        return _c(ity, v)

    bits = b.bitcast(x, ity)
    sign = b.trunc(b.and_(b.lshr(bits, c(nbits - 16)), c(0x8000)), I16)
    a = b.and_(bits, c((1 << (nbits - 1)) - 1))          # |x| bits
    # normal results: rebias, then round to nearest even on the dropped bits
    odd = b.and_(b.lshr(a, c(shift)), c(1))
    r = b.add(b.add(a, c(((15 - bias) << mbits) + (1 << (shift - 1)) - 1)), odd)
    normal = b.trunc(b.lshr(r, c(shift)), I16)
    # below 2**-14: one float add puts the 2**-24 grid in the last mantissa bits (the
    # add rounds to nearest even); the difference of the patterns is the float16 pattern
    magic = _c(fty, 2.0 ** (mbits - 24))
    absx = b.bitcast(a, fty)
    sub = b.trunc(b.sub(b.bitcast(b.fadd(absx, magic), ity), b.bitcast(magic, ity)), I16)
    # from 65520 up (rounds past the largest float16): inf; NaN: the top payload bits,
    # 1 if they are all zero (NumPy's npy_floatbits_to_halfbits: a NaN stays a NaN)
    payload = b.and_(b.trunc(b.lshr(a, c(shift)), I16), _c(I16, 0x3FF))
    payload = b.or_(payload, b.zext(b.icmp_unsigned("==", payload, _c(I16, 0)), I16))
    nan = b.or_(payload, _c(I16, 0x7C00))
    inf_bits = c(((1 << (nbits - 1 - mbits)) - 1) << mbits)
    big = b.select(b.icmp_unsigned(">", a, inf_bits), nan, _c(I16, 0x7C00))
    out = b.select(b.icmp_unsigned("<", a, c((bias - 14) << mbits)), sub, normal)
    out = b.select(b.icmp_unsigned(">=", a, c((bias + 16) << mbits)), big, out)
    return b.or_(out, sign)


def constant(value):
    """The i16 LLVM constant holding float16 ``value``'s pattern."""
    return _c(I16, int(np.asarray(value, np.float16).view(np.uint16)))
