"""CPU lowering of the random sampling ops (``ir/ops/random.py``):
Philox-4x32-10 in straight-line i32/i64 arithmetic, one loop iteration per
Philox block, each block's counter its index (so the loop vectorizes: no
carried state). The full blocks run in the loop, a last partial block after
it stores only the elements that exist. Uniforms are the reference's bit
for bit; normals use the reference's Box-Muller with theon's vectorized
log (vecmath) and a cos/sin of 2 pi u reduced exactly in turns (vecmath's
polynomials, no large-argument path): within a few ulp of the reference.
"""
import llvmlite.ir as lir
import numpy as np

from ....ir.ops.random import PER_BLOCK, PHILOX_M, PHILOX_W, ROUNDS
from ... import vecmath
from ...errors import NEGATIVE_SIZE, SHAPE_MISMATCH
from .context import F32, F64, I1, I32, I64, i64
from .parallel import outline, parallel_for
from .views import as_i64, dyn_values, resolve, static_dims


PARALLEL_ELEMENTS = 65536      # threads from this many elements (op attributes parallel/threads override)


def _key_words(b, key, counter):
    """(c2, c3, round keys) from the i64 key and counter."""
    k0, k1 = b.trunc(key, I32), b.trunc(b.lshr(key, i64(32)), I32)
    c2, c3 = b.trunc(counter, I32), b.trunc(b.lshr(counter, i64(32)), I32)
    keys = [(b.add(k0, _i32((r * PHILOX_W[0]) & 0xFFFFFFFF)), b.add(k1, _i32((r * PHILOX_W[1]) & 0xFFFFFFFF)))
            for r in range(ROUNDS)]
    return c2, c3, keys


def _i32(v):
    return lir.Constant(I32, v)


def _philox(b, j, c2, c3, keys):
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
        k = b.lshr(word, _i32(8))
        if open_low:
            k = b.add(k, _i32(1))
        return b.fmul(b.sitofp(k, F32), lir.Constant(F32, 2.0 ** -24))
    k = b.lshr(word, i64(11))
    if open_low:
        k = b.add(k, i64(1))
    return b.fmul(b.sitofp(k, F64), lir.Constant(F64, 2.0 ** -53))


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
    s, c = vecmath._sin_cos_poly(m, a)
    j = b.fptosi(k, I32)
    odd = b.trunc(b.and_(j, _i32(1)), I1)
    neg_cos = b.trunc(b.lshr(b.and_(b.add(j, _i32(1)), _i32(2)), _i32(1)), I1)   # j = 1, 2
    neg_sin = b.trunc(b.lshr(b.and_(j, _i32(2)), _i32(1)), I1)                    # j = 2, 3
    cos, sin = m.sel(odd, s, c), m.sel(odd, c, s)
    return m.sel(neg_cos, m.neg(cos), cos), m.sel(neg_sin, m.neg(sin), sin)


def _box_muller(ctx, u1, u2, dtype):
    b = ctx.b
    ty = F32 if dtype == "float32" else F64
    sqrt = ctx.intrinsic(f"llvm.sqrt.{'f32' if ty == F32 else 'f64'}", ty, [ty])
    r = b.call(sqrt, [b.fmul(lir.Constant(ty, -2.0), vecmath.call(ctx.module, b, "log", [u1]))])
    cos, sin = _sincos_turns(ctx, u2, ty)
    return [b.fmul(r, cos), b.fmul(r, sin)]


def _elements(ctx, distribution, words, dtype):
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


def lower_random(ctx, op, bufs):
    b = ctx.b
    state = bufs[0]
    dtype = op.attrs["dtype"]
    per = PER_BLOCK[dtype]
    if op.operands[0].type.shape[0] != 2:
        size = state.shape[0]
        ctx.check(b.icmp_signed("==", size, i64(2)), SHAPE_MISMATCH, [i64(0), size, i64(2), i64(0)])
    dims = [as_i64(d) for d in resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, 1))]
    for pos, d in enumerate(dims):
        if not isinstance(d, lir.Constant):
            ctx.check(b.icmp_signed(">=", d, i64(0)), NEGATIVE_SIZE, [i64(pos), d])
    dims = static_dims(ctx, dims, op.results[0].type.shape)
    out = ctx.alloc(dtype, dims, name=op.name)
    n = ctx.product(dims)
    key = b.load(state.ptr)
    counter = b.load(b.gep(state.ptr, [state.strides[0]]))
    shift = {4: 2, 2: 1}[per]
    full = b.lshr(n, i64(shift), name="rng.blocks")

    def emit(w, begin, end, part, inner):
        wb = w.b
        words = _key_words(wb, inner(key), inner(counter))
        ptr = inner(out.ptr)
        with w.loop(end, "rng", start=begin) as j:
            first = wb.shl(j, i64(shift))
            for k, v in enumerate(_elements(w, op.opdef.distribution, _philox(wb, j, *words), dtype)):
                wb.store(v, wb.gep(ptr, [wb.add(first, i64(k))]))
    worker, data = outline(ctx, "rng", [key, counter, out.ptr], emit)
    schedule = (op.attrs.get("parallel", PARALLEL_ELEMENTS // per), op.attrs.get("threads", 0))
    parallel_for(ctx, worker, data, full, full, schedule)
    words = _key_words(b, key, counter)
    base = b.shl(full, i64(shift))
    rest = b.sub(n, base, name="rng.rest")
    with b.if_then(b.icmp_signed(">", rest, i64(0))):
        values = _elements(ctx, op.opdef.distribution, _philox(b, full, *words), dtype)
        b.store(values[0], b.gep(out.ptr, [base]))          # rest >= 1
        for k in range(1, per - 1):                          # the last is never needed (rest < per)
            with b.if_then(b.icmp_signed(">", rest, i64(k))):
                b.store(values[k], b.gep(out.ptr, [b.add(base, i64(k))]))
    return [out]


LOWERINGS = {"random_uniform": lower_random, "random_normal": lower_random}
