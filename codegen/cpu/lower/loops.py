"""Strided loop nests with NumPy broadcasting.

``broadcast`` computes an elementwise op's result dims from its operands'
dims (checking run-time sizes where the static types leave them open) and
gives each operand its effective strides: 0 along broadcast dims.

``strided_loop`` walks an index space and hands the body one element
pointer per operand. The innermost loop is emitted twice: a unit-stride
version LLVM can vectorize, taken when every operand that is not statically
broadcast along the last dim has stride 1, and a general strided version.
"""
import llvmlite.ir as lir

from ...errors import SHAPE_MISMATCH
from ...llvm_util import is_const
from .context import I1, i64


def broadcast(ctx, out_type, bufs, static_types):
    """(out dims, [effective strides per operand]) for NumPy broadcasting."""
    b = ctx.b
    nd = out_type.ndim
    dims = []
    strides = [[None] * nd for _ in bufs]
    for d in range(nd):
        present = []
        for k, buf in enumerate(bufs):
            kd = d - (nd - buf.ndim)
            if kd < 0:
                strides[k][d] = i64(0)
            else:
                present.append((k, buf.shape[kd], buf.strides[kd], static_types[k].shape[kd]))
        static = out_type.shape[d]
        if static is None and len(present) == 1 and present[0][3] != 1:
            # one operand spans this dim: the result's size is its size, it never
            # broadcasts (size 1 only ever reads index 0), so its stride stays as
            # it is: a static 1 lets the loop skip its strided copy
            k, size, stride, _ = present[0]
            dims.append(size)
            strides[k][d] = stride
            continue
        if static is not None:
            out = i64(static)
        else:
            out = i64(1)
            for _, size, _, _ in present:
                out = b.select(b.icmp_signed("!=", size, i64(1)), size, out)
        dims.append(out)
        for k, size, stride, sdim in present:
            if sdim == 1:
                strides[k][d] = i64(0)
            elif sdim is not None and static is not None:
                strides[k][d] = stride
            else:
                is_one = b.icmp_signed("==", size, i64(1))
                ok = b.or_(is_one, b.icmp_signed("==", size, out))
                ctx.check(ok, SHAPE_MISMATCH, [i64(d), size, out, i64(k)])
                strides[k][d] = b.select(is_one, i64(0), stride)
    return dims, strides


def _is_zero(v):
    return is_const(v, 0)


def strided_loop(ctx, dims, operands, body, name="i"):
    """Loop over ``dims``; ``operands`` are (base pointer, strides) pairs;
    ``body(ptrs)`` receives one element pointer per operand."""
    b = ctx.b
    nd = len(dims)
    if nd == 0:
        body([p for p, _ in operands])
        return

    def level(d, bases):
        if d == nd - 1:
            _inner(ctx, dims[d], bases, [s[d] for _, s in operands], body, name)
            return
        with ctx.loop(dims[d], f"{name}{d}") as i:
            level(d + 1, [b.gep(p, [b.mul(i, s[d])]) for p, (_, s) in zip(bases, operands)])

    level(0, [p for p, _ in operands])


def _inner(ctx, n, bases, strides, body, name):
    b = ctx.b
    if all(_is_zero(s) for s in strides):
        with ctx.loop(n, f"{name}.bcast"):
            body(bases)
        return

    def emit(unit):
        with ctx.loop(n, f"{name}.vec" if unit else f"{name}.str") as j:
            body([p if _is_zero(s) else b.gep(p, [j if unit else b.mul(j, s)]) for p, s in zip(bases, strides)])
    unit_stride_versions(b, strides, emit)


def unit_stride_versions(b, strides, emit):
    """Emit ``emit(unit)`` twice, the ``unit=True`` version running where
    every stride of ``strides`` (i64 values; static 0s are ignored) is 1 at
    run time -- the version LLVM vectorizes -- and ``unit=False`` elsewhere;
    once (unit=True) when every stride is statically 0 or 1."""
    dynamic = [s for s in strides if not is_const(s, 0) and not is_const(s, 1)]
    if not dynamic:
        emit(True)
        return
    unit = lir.Constant(I1, 1)
    for s in dynamic:
        unit = b.and_(unit, b.icmp_signed("==", s, i64(1)))
    with b.if_else(unit, likely=True) as (then, otherwise):
        with then:
            emit(True)
        with otherwise:
            emit(False)
