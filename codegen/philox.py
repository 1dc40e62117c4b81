"""Philox-4x32-10 and the random ops' element formulas as straight-line
LLVM IR, shared by the CPU lowering (``cpu/lower/random.py``) and the GPU
kernel (``ptx/random_step.py``); the numbers are defined by the NumPy
reference in ``ir/ops/random.py``: uniforms bit for bit, normals (Box-Muller
with theon's vectorized log and a cos/sin of 2 pi u reduced exactly in
turns with vecmath's polynomials) within a few ulp.

``em`` is the emitter: ``.b`` (IRBuilder), ``.module``, ``.declare``.
"""
import llvmlite.ir as lir
import numpy as np

from ..ir.ops.random import PHILOX_M, PHILOX_W, ROUNDS
from . import vecmath
from .llvm_util import F32, F64, I1, I32, I64, counted_loop, i32, i64


def key_words(b, key, counter):
    """(c2, c3, round keys) from the i64 key and counter."""
    k0, k1 = b.trunc(key, I32), b.trunc(b.lshr(key, i64(32)), I32)
    c2, c3 = b.trunc(counter, I32), b.trunc(b.lshr(counter, i64(32)), I32)
    keys = [(b.add(k0, i32((r * PHILOX_W[0]) & 0xFFFFFFFF)), b.add(k1, i32((r * PHILOX_W[1]) & 0xFFFFFFFF)))
            for r in range(ROUNDS)]
    return c2, c3, keys


def philox(b, j, c2, c3, keys):
    """The four i32 words of Philox-4x32-10 of counter (j lo, j hi, c2, c3)."""
    x0, x1 = b.trunc(j, I32), b.trunc(b.lshr(j, i64(32)), I32)
    x2, x3 = c2, c3
    m0, m1 = i64(PHILOX_M[0]), i64(PHILOX_M[1])
    for rk0, rk1 in keys:
        p0 = b.mul(b.zext(x0, I64), m0)
        p1 = b.mul(b.zext(x2, I64), m1)
        hi0, lo0 = b.trunc(b.lshr(p0, i64(32)), I32), b.trunc(p0, I32)
        hi1, lo1 = b.trunc(b.lshr(p1, i64(32)), I32), b.trunc(p1, I32)
        x0, x1, x2, x3 = b.xor(b.xor(hi1, x1), rk0), lo1, b.xor(b.xor(hi0, x3), rk1), lo0
    return [x0, x1, x2, x3]


def _unit(b, word, dtype, open_low=False):
    """A uniform in [0, 1) (or (0, 1] if ``open_low``) from an i32 word
    (float32) or an i64 word (float64), exactly as the reference."""
    if dtype == "float32":
        k = b.lshr(word, i32(8))
        if open_low:
            k = b.add(k, i32(1))
        return b.fmul(b.sitofp(k, F32), lir.Constant(F32, 2.0 ** -24))
    k = b.lshr(word, i64(11))
    if open_low:
        k = b.add(k, i64(1))
    return b.fmul(_exact_f64(b, k), lir.Constant(F64, 2.0 ** -53))


def _exact_f64(b, k):
    """The double of ``k`` (i64, 0 <= k <= 2^53: exact) without an i64 -> f64
    conversion, which AVX2 lacks (LLVM scalarizes it): the high 32 bits as
    the mantissa of 2^84 and the low 32 bits as that of 2^52 (bit patterns
    0x453.. / 0x433..), minus 2^84 + 2^52; every step exact, so the loop
    vectorizes and gives the reference's numbers bit for bit."""
    hi = b.bitcast(b.or_(b.lshr(k, i64(32)), i64(0x4530000000000000)), F64)
    lo = b.bitcast(b.or_(b.and_(k, i64(0xFFFFFFFF)), i64(0x4330000000000000)), F64)
    return b.fadd(b.fsub(hi, lir.Constant(F64, 2.0 ** 84 + 2.0 ** 52)), lo)


def _wide(b, lo, hi):
    return b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), i64(32)))


def _sincos_turns(ctx, u, ty):
    """(cos, sin) of 2 pi u for u in [0, 1), straight-line: u = k/4 + f
    exactly (k = rint(4u), |f| <= 1/8), the polynomials of vecmath on
    2 pi f in [-pi/4, pi/4], then the quadrant k mod 4 (no large-argument
    path: the loop vectorizes)."""
    m = vecmath.FMath(ctx.module, ctx.b, vecmath.precision_of(ty))
    b = ctx.b
    k = m.rint(m.mul(u, m.c(4.0)))
    f = m.fma(k, m.c(-0.25), u)
    hi = float(np.float32(2 * np.pi)) if ty == F32 else 2 * np.pi
    lo = float(np.float32(2 * np.pi - hi)) if ty == F32 else 2.4492935982947064e-16
    a = m.fma(f, m.c(hi), m.mul(f, m.c(lo)))
    s, c = vecmath.trig.sin_cos_poly(m, a)
    j = b.fptosi(k, I32)
    odd = b.trunc(b.and_(j, i32(1)), I1)
    neg_cos = b.trunc(b.lshr(b.and_(b.add(j, i32(1)), i32(2)), i32(1)), I1)   # j = 1, 2
    neg_sin = b.trunc(b.lshr(b.and_(j, i32(2)), i32(1)), I1)                    # j = 2, 3
    cos, sin = m.sel(odd, s, c), m.sel(odd, c, s)
    return m.sel(neg_cos, m.neg(cos), cos), m.sel(neg_sin, m.neg(sin), sin)


def _box_muller(ctx, u1, u2, dtype):
    b = ctx.b
    ty = F32 if dtype == "float32" else F64
    sqrt = ctx.declare(f"llvm.sqrt.{'f32' if ty == F32 else 'f64'}", ty, [ty])
    r = b.call(sqrt, [b.fmul(lir.Constant(ty, -2.0), vecmath.call(ctx.module, b, "log", [u1]))])
    cos, sin = _sincos_turns(ctx, u2, ty)
    return [b.fmul(r, cos), b.fmul(r, sin)]


def elements(ctx, distribution, words, dtype):
    """The PER_BLOCK[dtype] result elements of one block's words."""
    b = ctx.b
    if dtype == "float32":
        if distribution == "uniform":
            return [_unit(b, w, dtype) for w in words]
        return (_box_muller(ctx, _unit(b, words[0], dtype, True), _unit(b, words[1], dtype), dtype)
                + _box_muller(ctx, _unit(b, words[2], dtype, True), _unit(b, words[3], dtype), dtype))
    a, c = _wide(b, words[0], words[1]), _wide(b, words[2], words[3])
    if distribution == "uniform":
        return [_unit(b, a, dtype), _unit(b, c, dtype)]
    return _box_muller(ctx, _unit(b, a, dtype, True), _unit(b, c, dtype), dtype)


def uniform64_at(b, e, c2, c3, keys):
    """The float64 uniform element ``e`` (i64) of the stream: lane e & 1 of
    Philox block e >> 1 (the permutation's draws)."""
    x = philox(b, b.lshr(e, i64(1)), c2, c3, keys)
    lane = b.trunc(b.and_(e, i64(1)), I1)
    return _unit(b, b.select(lane, _wide(b, x[2], x[3]), _wide(b, x[0], x[1])), "float64")


def shuffle_row(b, out_ptr, base, n, c2, c3, keys):
    """Fisher-Yates on the row ``out[base : base + n]`` (int64): the row
    becomes 0 .. n-1, then for i = n-1 down to 1 it swaps i with
    j = floor(u_{base+i} (i + 1)), exactly as the reference."""
    with counted_loop(b, n, "perm.init") as lp:
        b.store(lp.index, b.gep(out_ptr, [b.add(base, lp.index)]))
    with counted_loop(b, b.sub(n, i64(1)), "perm.k") as lp:
        i = b.sub(b.sub(n, i64(1)), lp.index)
        u = uniform64_at(b, b.add(base, i), c2, c3, keys)
        j = b.fptosi(b.fmul(u, b.sitofp(b.add(i, i64(1)), F64)), I64)
        pi, pj = b.gep(out_ptr, [b.add(base, i)]), b.gep(out_ptr, [b.add(base, j)])
        vi, vj = b.load(pi), b.load(pj)
        b.store(vj, pi)
        b.store(vi, pj)
