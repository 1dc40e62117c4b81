"""Pooling window arithmetic on i64 LLVM values, shared by the CPU lowering
(``cpu/lower/pool.py``) and the GPU kernels (``ptx/pool_step.py``); the
semantics are ``ir/ops/pool.py``'s (``window_bounds``)."""
import llvmlite.ir as lir

from .llvm_util import LLTYPE, i64, smax, smin


def window(b, j, n, ws, stride, pad, mode):
    """(lo, hi, count) of output j's window along a dim of ``n`` elements
    (i64): its elements in image coordinates ``[lo, hi)`` and the count an
    average divides by (``average_inc_pad``: the window clipped to the
    padded dim; otherwise hi - lo)."""
    s = b.mul(j, i64(stride))
    r = b.add(n, i64(2 * pad))
    end = smin(b, b.add(s, i64(ws)), r)
    lo = b.sub(smax(b, s, i64(pad)), i64(pad))
    hi = b.sub(smin(b, end, b.sub(r, i64(pad))), i64(pad))
    count = b.sub(end, s) if mode == "average_inc_pad" else b.sub(hi, lo)
    return lo, hi, count


def covering(b, c, m, ws, stride, pad):
    """[first, stop): the outputs (of ``m``) whose windows hold image
    element ``c`` (i64): ``j * stride <= c + pad < j * stride + ws``."""
    q = b.add(c, i64(pad))
    low = b.sub(q, i64(ws - 1))                      # j * stride >= low
    up = b.sdiv(b.add(low, i64(stride - 1)), i64(stride))
    first = b.select(b.icmp_signed("<=", low, i64(0)), i64(0), up)
    stop = smin(b, b.add(b.sdiv(q, i64(stride)), i64(1)), m)
    return first, smax(b, stop, first)


# --- combining elements ------------------------------------------------------------------------------
def is_float(dtype):
    return dtype in ("float32", "float64")


def max_(b, dtype, a, acc):
    """np.maximum(a, acc): NaN propagates."""
    if is_float(dtype):
        take = b.or_(b.fcmp_unordered("uno", a, a), b.fcmp_ordered(">", a, acc))
    else:
        take = b.icmp_unsigned(">", a, acc) if dtype == "uint8" else b.icmp_signed(">", a, acc)
    return b.select(take, a, acc)


def add(b, dtype, a, c):
    return b.fadd(a, c) if is_float(dtype) else b.add(a, c)


def fill(dtype, mode):
    """The start of a window's accumulation: 0, or for max the dtype's lowest value."""
    ty = LLTYPE[dtype]
    if mode != "max":
        return lir.Constant(ty, 0.0 if is_float(dtype) else 0)
    if is_float(dtype):
        return lir.Constant(ty, float("-inf"))
    return lir.Constant(ty, 0 if dtype == "uint8" else -(1 << (ty.width - 1)))
