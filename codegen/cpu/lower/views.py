"""View ops: ``dimshuffle``, ``reshape``, ``subtensor``.

Each returns a Buf over its operand's memory with new dims and strides
(``slot=None``: the entry copies a view that is returned). ``reshape``
copies only when its input is not C-contiguous. Every data-dependent
condition (dropped dims, reshape sizes, index bounds, slice steps) is checked
at run time; what the static types decide is folded in Python.

The index arithmetic here (``index_view``) also serves ``set_subtensor`` and
``inc_subtensor`` (data.py), which update a region of a fresh copy.
"""
import llvmlite.ir as lir

from ....ir.core import substitute_dyn
from ....ir.types import is_unsigned
from ...errors import DIMSHUFFLE_DROP, INDEX_ERROR, RESHAPE_ERROR, ZERO_STEP
from .context import I1, I64, i64


# --- helpers -------------------------------------------------------------------
def _static(v):
    """The Python int of an i64 constant, else None."""
    return int(v.constant) if isinstance(v, lir.Constant) else None


def load_int(ctx, buf, dtype):
    """A 0-d integer operand's value as i64 (unsigned ones zero-extended)."""
    v = ctx.b.load(buf.ptr)
    if v.type == I64:
        return v
    return ctx.b.zext(v, I64) if is_unsigned(dtype) else ctx.b.sext(v, I64)


def dyn_values(ctx, op, bufs, first):
    """The i64 values of the dynamic operands ``op.operands[first:]``."""
    return [load_int(ctx, buf, v.type.dtype) for buf, v in zip(bufs[first:], op.operands[first:])]


resolve = substitute_dyn      # each ``?`` of a (nested) attribute -> the next of the values


def as_i64(v):
    """A Python int or an i64 value as an i64 value (None stays None)."""
    return i64(v) if isinstance(v, int) else v


def static_dims(ctx, dims, static_shape):
    """``dims`` with each dim the type knows replaced by its constant."""
    return [i64(s) if s is not None else d for d, s in zip(dims, static_shape)]


def is_c_contiguous(ctx, buf):
    """i1: ``buf``'s elements are dense in row-major order (size-1 dims
    may have any stride; an empty buffer counts as contiguous)."""
    b = ctx.b
    ok = lir.Constant(I1, 1)
    empty = lir.Constant(I1, 0)
    acc = i64(1)
    for size, stride in reversed(list(zip(buf.shape, buf.strides))):
        one = b.icmp_signed("==", size, i64(1))
        ok = b.and_(ok, b.or_(one, b.icmp_signed("==", stride, acc)))
        empty = b.or_(empty, b.icmp_signed("==", size, i64(0)))
        acc = b.mul(acc, size)
    return b.or_(ok, empty)


def contiguous(ctx, buf, name="contig"):
    """A C-contiguous Buf with ``buf``'s contents: ``buf`` itself when it is
    contiguous (known statically or checked at run time), else a copy.
    The result is a view (slot None): it may share ``buf``'s memory."""
    if buf.contiguous:
        return buf
    b = ctx.b
    with ctx.at_entry():
        slot = b.alloca(buf.ptr.type, name=f"{name}.ptr")
    b.store(buf.ptr, slot)
    with b.if_then(b.not_(is_c_contiguous(ctx, buf)), likely=False):
        copy = ctx.alloc(buf.dtype, buf.shape, name=name)
        ctx.copy(buf, copy)
        b.store(copy.ptr, slot)
    out = buf.view(ptr=b.load(slot), strides=ctx.contiguous_strides(buf.shape))
    out.contiguous = True
    return out


# --- dimshuffle -------------------------------------------------------------------
def lower_dimshuffle(ctx, op, bufs):
    (x,) = bufs
    t = op.operands[0].type
    pattern = op.attrs["pattern"]
    kept = [p for p in pattern if p != "x"]
    b = ctx.b
    for d in range(x.ndim):
        if d not in kept and t.shape[d] != 1:
            size = x.shape[d]
            ctx.check(b.icmp_signed("==", size, i64(1)), DIMSHUFFLE_DROP, [i64(d), size])
    shape = [i64(1) if p == "x" else x.shape[p] for p in pattern]
    strides = [i64(0) if p == "x" else x.strides[p] for p in pattern]
    out = x.view(shape=shape, strides=strides)
    out.contiguous = x.contiguous and kept == sorted(kept)
    return [out]


# --- reshape ------------------------------------------------------------------------
def _reshape_dims(ctx, op, x, dyn):
    """The target dims (i64 values), checked against the input size."""
    b = ctx.b
    in_t, out_t = op.operands[0].type, op.results[0].type
    entries = [as_i64(e) for e in resolve(op.attrs["shape"], dyn)]
    if None not in in_t.shape and None not in out_t.shape:
        return [i64(d) for d in out_t.shape]       # infer checked it all
    size = ctx.product(x.shape)
    false = lir.Constant(I1, 0)
    n_neg, bad, zero, ovf = i64(0), false, false, false
    known = i64(1)
    for e in entries:
        s = _static(e)
        if s == -1:
            n_neg = b.add(n_neg, i64(1))
            continue
        is_neg = b.icmp_signed("==", e, i64(-1))
        n_neg = b.add(n_neg, b.zext(is_neg, I64))
        bad = b.or_(bad, b.icmp_signed("<", e, i64(-1)))
        factor = b.select(is_neg, i64(1), e)
        zero = b.or_(zero, b.icmp_signed("==", factor, i64(0)))
        prod = b.umul_with_overflow(known, factor)
        known = b.extract_value(prod, 0)
        ovf = b.or_(ovf, b.extract_value(prod, 1))
    bad = b.or_(bad, b.icmp_signed(">", n_neg, i64(1)))
    has_neg = b.icmp_signed("==", n_neg, i64(1))
    divisor = b.select(b.icmp_signed("==", known, i64(0)), i64(1), known)
    missing = b.sdiv(size, divisor, name="reshape.missing")
    ok_neg = b.and_(b.and_(b.icmp_signed("!=", known, i64(0)), b.not_(ovf)),
                    b.icmp_signed("==", b.srem(size, divisor), i64(0)))
    ok_full = b.and_(b.icmp_signed("==", known, size), b.or_(b.not_(ovf), zero))
    ok = b.and_(b.not_(bad), b.select(has_neg, ok_neg, ok_full))
    computable = b.not_(b.or_(bad, b.and_(ovf, b.not_(zero))))
    ctx.check(ok, RESHAPE_ERROR, [size, b.select(computable, known, i64(-1))])
    dims = []
    for e in entries:
        s = _static(e)
        dims.append(missing if s == -1 else e if s is not None
                    else b.select(b.icmp_signed("==", e, i64(-1)), missing, e))
    return static_dims(ctx, dims, out_t.shape)


def lower_reshape(ctx, op, bufs):
    x = bufs[0]
    dims = _reshape_dims(ctx, op, x, dyn_values(ctx, op, bufs, 1))
    src = contiguous(ctx, x, name="reshape")
    out = src.view(shape=dims, strides=ctx.contiguous_strides(dims))
    out.contiguous = True
    return [out]


# --- subtensor -----------------------------------------------------------------------
def _index(ctx, axis, n, i):
    """Offset (in elements along the axis) of integer index ``i``, checked."""
    sn, si = _static(n), _static(i)
    if si is not None and sn is not None:
        return i64(si % sn)                       # infer checked the bounds
    b = ctx.b
    if si is not None and si >= 0:
        wrapped = i
    else:
        wrapped = b.select(b.icmp_signed("<", i, i64(0)), b.add(i, n), i)
    ctx.check(b.icmp_unsigned("<", wrapped, n), INDEX_ERROR, [i64(axis), i, n])
    return wrapped


def _slice(ctx, axis, n, start, stop, step):
    """(first index, length, step) of ``slice(start, stop, step)`` on a dim
    of size ``n``: Python's ``slice.indices`` then ``len(range(...))``."""
    step = i64(1) if step is None else step
    values = [n, start, stop, step]
    if all(v is None or _static(v) is not None for v in values):
        r = range(*slice(*[None if v is None else _static(v) for v in (start, stop, step)]).indices(_static(n)))
        return i64(r.start if len(r) else 0), i64(len(r)), step
    b = ctx.b
    if _static(step) is None:
        ctx.check(b.icmp_signed("!=", step, i64(0)), ZERO_STEP, [i64(axis)])
    neg = b.icmp_signed("<", step, i64(0))
    lower = b.select(neg, i64(-1), i64(0))
    upper = b.select(neg, b.sub(n, i64(1)), n)

    def clamp(v, default):
        if v is None:
            return default
        v = b.select(b.icmp_signed("<", v, i64(0)), b.add(v, n), v)
        v = b.select(b.icmp_signed("<", v, lower), lower, v)
        return b.select(b.icmp_signed(">", v, upper), upper, v)

    first = clamp(start, b.select(neg, upper, lower))
    last = clamp(stop, b.select(neg, lower, upper))
    diff = b.select(neg, b.sub(first, last), b.sub(last, first))
    mag = b.select(neg, b.sub(i64(0), step), step)   # |step|, exact as unsigned
    length = b.add(b.udiv(b.sub(diff, i64(1)), mag), i64(1))
    nonempty = b.icmp_signed(">", diff, i64(0))
    length = b.select(nonempty, length, i64(0), name="slice.len")
    return b.select(nonempty, first, i64(0)), length, step


def index_view(ctx, buf, idx, dyn):
    """The view ``buf[idx]`` (basic indexing; ``idx`` an attribute with ``?``
    entries taken from ``dyn``), with every bound checked."""
    b = ctx.b
    entries = resolve(idx, dyn)
    offset = i64(0)
    shape, strides = [], []
    for axis, e in enumerate(entries):
        n, stride = buf.shape[axis], buf.strides[axis]
        if isinstance(e, tuple):
            first, length, step = _slice(ctx, axis, n, *[as_i64(v) for v in e])
            offset = b.add(offset, b.mul(first, stride))
            shape.append(length)
            strides.append(ctx.mul(stride, step))
        else:
            offset = b.add(offset, b.mul(_index(ctx, axis, n, as_i64(e)), stride))
    shape += buf.shape[len(entries):]
    strides += buf.strides[len(entries):]
    out = buf.view(ptr=b.gep(buf.ptr, [offset]), shape=shape, strides=strides)
    out.contiguous = buf.contiguous and _keeps_contiguity(idx)
    return out


def _keeps_contiguity(idx):
    """Statically: integer indices, then at most one step-1 slice, then
    whole-dim slices keep a C-contiguous buffer contiguous."""
    k = 0
    while k < len(idx) and not isinstance(idx[k], tuple):
        k += 1
    if k < len(idx):
        if idx[k][2] not in (None, 1):
            return False
        k += 1
    return all(e == (None, None, None) or e == (None, None, 1) for e in idx[k:])


def lower_subtensor(ctx, op, bufs):
    out = index_view(ctx, bufs[0], op.attrs["idx"], dyn_values(ctx, op, bufs, 1))
    out.shape = static_dims(ctx, out.shape, op.results[0].type.shape)
    return [out]


LOWERINGS = {
    "dimshuffle": lower_dimshuffle,
    "reshape": lower_reshape,
    "subtensor": lower_subtensor,
}
