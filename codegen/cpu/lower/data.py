"""Data-movement and creation ops: ``shape``, ``set_subtensor``,
``inc_subtensor``, ``concatenate``, ``alloc``, ``arange``, ``constant``.

Each makes a new C-contiguous buffer (``constant`` a view of read-only
module data), fills it with strided loops, and checks every data-dependent
size at run time; allocation sizes are overflow-checked by ``ctx.alloc``.
"""
import llvmlite.ir as lir

from ....ir.core import is_splat
from ....ir.types import is_float, is_unsigned
from ...errors import ARANGE_LENGTH, ARANGE_ZERO_STEP, CONCAT_MISMATCH, NEGATIVE_SIZE, SHAPE_MISMATCH
from .context import F64, I8, I64, ITEMSIZE, LLTYPE, Buf, i64
from .loops import strided_loop
from .views import as_i64, dyn_values, index_view, resolve, static_dims


# --- helpers ------------------------------------------------------------------------
def broadcast_to(ctx, v, v_type, dims, static_shape, operand):
    """Strides that broadcast Buf ``v`` to ``dims`` (NumPy rules: each dim of
    v, aligned right, is 1 or equal), checked -> SHAPE_MISMATCH."""
    b = ctx.b
    lead = len(dims) - v.ndim
    strides = [i64(0)] * lead
    for d in range(v.ndim):
        axis = lead + d
        if v_type.shape[d] == 1:
            strides.append(i64(0))
            continue
        if v_type.shape[d] is not None and v_type.shape[d] == static_shape[axis]:
            strides.append(v.strides[d])
            continue
        size, want = v.shape[d], dims[axis]
        one = b.icmp_signed("==", size, i64(1))
        ctx.check(b.or_(one, b.icmp_signed("==", size, want)), SHAPE_MISMATCH,
                  [i64(axis), size, want, i64(operand)])
        strides.append(b.select(one, i64(0), v.strides[d]))
    return strides


def copy_into(ctx, src, dst):
    """dst[...] = src[...] (same dims) with a vectorizable strided loop."""
    b = ctx.b
    strided_loop(ctx, dst.shape, [(dst.ptr, dst.strides), (src.ptr, src.strides)],
                 lambda ptrs: b.store(b.load(ptrs[1]), ptrs[0]), name="cp")


def memcpy_all(ctx, src, dst):
    """Copy C-contiguous ``src`` into ``dst`` (same dims) with llvm.memcpy."""
    memcpy = ctx.intrinsic("llvm.memcpy.p0i8.p0i8.i64", lir.VoidType(),
                           [I8.as_pointer(), I8.as_pointer(), I64, lir.IntType(1)])
    nbytes = ctx.mul(ctx.product(src.shape), i64(ITEMSIZE[src.dtype]))
    ctx.b.call(memcpy, [ctx.b.bitcast(dst.ptr, I8.as_pointer()), ctx.b.bitcast(src.ptr, I8.as_pointer()),
                        nbytes, lir.Constant(lir.IntType(1), 0)])


# --- shape ----------------------------------------------------------------------------
def lower_shape(ctx, op, bufs):
    (x,) = bufs
    out = ctx.alloc("int64", [i64(x.ndim)], name="shape")
    for d, size in enumerate(x.shape):
        ctx.b.store(size, ctx.b.gep(out.ptr, [i64(d)]))
    return [out]


# --- set_subtensor / inc_subtensor --------------------------------------------------------
def _add(ctx, dtype, a, c):
    """``add``'s scalar semantics: float add, wrapping int add, bool or."""
    if is_float(dtype):
        return ctx.b.fadd(a, c)
    if dtype == "bool":
        return ctx.b.or_(a, c)
    return ctx.b.add(a, c)


def lower_set_subtensor(ctx, op, bufs, increment=False):
    x, v = bufs[0], bufs[1]
    b = ctx.b
    out = ctx.alloc(x.dtype, x.shape, name=op.name)
    region = index_view(ctx, out, op.attrs["idx"], dyn_values(ctx, op, bufs, 2))
    region_static = op.opdef._infer_shape(op)
    region.shape = static_dims(ctx, region.shape, region_static)
    v_strides = broadcast_to(ctx, v, op.operands[1].type, region.shape, region_static, operand=1)
    if x.contiguous:
        memcpy_all(ctx, x, out)
    else:
        copy_into(ctx, x, out)

    def body(ptrs):
        val = b.load(ptrs[1])
        if increment:
            val = _add(ctx, x.dtype, b.load(ptrs[0]), val)
        b.store(val, ptrs[0])

    strided_loop(ctx, region.shape, [(region.ptr, region.strides), (v.ptr, v_strides)], body, name="upd")
    return [out]


def lower_inc_subtensor(ctx, op, bufs):
    return lower_set_subtensor(ctx, op, bufs, increment=True)


# --- concatenate ---------------------------------------------------------------------------
def lower_concatenate(ctx, op, bufs):
    axis = op.attrs["axis"]
    b = ctx.b
    types = [v.type for v in op.operands]
    first = bufs[0]
    for k, (x, t) in enumerate(zip(bufs[1:], types[1:]), start=1):
        for d in range(x.ndim):
            if d == axis or (t.shape[d] is not None and t.shape[d] == types[0].shape[d]):
                continue
            ctx.check(b.icmp_signed("==", x.shape[d], first.shape[d]), CONCAT_MISMATCH,
                      [i64(d), x.shape[d], first.shape[d], i64(k)])
    total = i64(0)
    for x in bufs:
        total = b.add(total, x.shape[axis])
    dims = list(first.shape)
    dims[axis] = total
    dims = static_dims(ctx, dims, op.results[0].type.shape)
    out = ctx.alloc(first.dtype, dims, name="concat")
    offset = i64(0)
    for x in bufs:
        ptr = b.gep(out.ptr, [b.mul(offset, out.strides[axis])])
        shape = list(dims)
        shape[axis] = x.shape[axis]
        copy_into(ctx, x, Buf(ptr, out.dtype, shape, out.strides))
        offset = b.add(offset, x.shape[axis])
    return [out]


# --- alloc ------------------------------------------------------------------------------------
def lower_alloc(ctx, op, bufs):
    v = bufs[0]
    b = ctx.b
    dims = [as_i64(d) for d in resolve(op.attrs["shape"], dyn_values(ctx, op, bufs, 1))]
    for pos, d in enumerate(dims):
        if not isinstance(d, lir.Constant):
            ctx.check(b.icmp_signed(">=", d, i64(0)), NEGATIVE_SIZE, [i64(pos), d])
    out_static = op.results[0].type.shape
    dims = static_dims(ctx, dims, out_static)
    strides = broadcast_to(ctx, v, op.operands[0].type, dims, out_static, operand=0)
    out = ctx.alloc(v.dtype, dims, name="alloc")
    strided_loop(ctx, dims, [(out.ptr, out.strides), (v.ptr, strides)],
                 lambda ptrs: b.store(b.load(ptrs[1]), ptrs[0]), name="fill")
    return [out]


# --- arange -----------------------------------------------------------------------------------
def _arange_int(ctx, dtype, start, stop, step):
    """(length, first, delta) as i64 for an integer arange: the exact
    count of start + i*step in [start, stop) (or (stop, start] for step < 0)."""
    b = ctx.b
    ext = b.zext if is_unsigned(dtype) else b.sext
    start, stop, step = (v if v.type == I64 else ext(v, I64) for v in (start, stop, step))
    neg = b.icmp_signed("<", step, i64(0))
    diff = b.select(neg, b.sub(start, stop), b.sub(stop, start))      # exact as unsigned
    nonempty = b.select(neg, b.icmp_signed(">", start, stop), b.icmp_signed("<", start, stop))
    mag = b.select(neg, b.sub(i64(0), step), step)
    length = b.add(b.udiv(b.sub(diff, i64(1)), b.select(nonempty, mag, i64(1))), i64(1))
    return b.select(nonempty, length, i64(0), name="arange.len"), start, step


def _arange_float(ctx, dtype, start, stop, step):
    """NumPy's length ceil((stop - start) / step), the quotient computed in
    the dtype (so 1/0.01f gives 100 elements, as NumPy does), except that a
    float32 quotient that underflows to 0 counts as the tiny positive number
    it is (NumPy gives one element there); NaN -> ARANGE_LENGTH; values
    start + i*delta with delta = (start+step)-start, in the dtype."""
    b = ctx.b
    q = b.fdiv(b.fsub(stop, start), step)
    if q.type != F64:
        wide = [b.fpext(x, F64) for x in (start, stop, step)]
        q_wide = b.fdiv(b.fsub(wide[1], wide[0]), wide[2])
        q = b.fpext(q, F64)
        underflow = b.and_(b.fcmp_ordered("==", q, lir.Constant(F64, 0.0)),
                           b.fcmp_ordered(">", q_wide, lir.Constant(F64, 0.0)))
        q = b.select(underflow, q_wide, q)
    ceil = ctx.intrinsic("llvm.ceil.f64", F64, [F64])
    q = b.call(ceil, [q])
    ctx.check(b.fcmp_ordered("ord", q, q), ARANGE_LENGTH, [])
    big = b.fcmp_ordered(">=", q, lir.Constant(F64, 2.0 ** 62))
    q = b.select(b.fcmp_ordered("<", q, lir.Constant(F64, 0.0)), lir.Constant(F64, 0.0), q)
    length = b.select(big, i64(-1), b.fptosi(q, I64), name="arange.len")   # -1: alloc reports OOM
    delta = b.fsub(b.fadd(start, step), start)
    return length, start, delta


def lower_arange(ctx, op, bufs):
    dtype = op.results[0].type.dtype
    b = ctx.b
    start, stop, step = (b.load(x.ptr) for x in bufs)
    zero = lir.Constant(step.type, 0.0 if is_float(dtype) else 0)
    nonzero = b.fcmp_unordered("!=", step, zero) if is_float(dtype) else b.icmp_signed("!=", step, zero)
    ctx.check(nonzero, ARANGE_ZERO_STEP, [])
    emit = _arange_float if is_float(dtype) else _arange_int
    length, first, delta = emit(ctx, dtype, start, stop, step)
    static = op.results[0].type.shape[0]
    out = ctx.alloc(dtype, [i64(static) if static is not None else length], name="arange")
    ty = LLTYPE[dtype]
    with ctx.loop(out.shape[0], "ar") as i:
        if is_float(dtype):
            # NumPy stores start, then start + step, then fills start + i*delta
            val = b.fadd(first, b.fmul(b.sitofp(i, ty), delta))
            val = b.select(b.icmp_signed("==", i, i64(1)), b.fadd(first, step), val)
            val = b.select(b.icmp_signed("==", i, i64(0)), first, val)
        else:
            val = b.trunc(b.add(first, b.mul(i, delta)), ty) if ty != I64 else b.add(first, b.mul(i, delta))
        b.store(val, b.gep(out.ptr, [i]))
    return [out]


# --- constant -----------------------------------------------------------------------------------
def lower_constant(ctx, op, bufs):
    value = op.attrs["value"]
    dtype = op.results[0].type.dtype
    if is_splat(value):
        # one element with every stride 0, like a broadcast input: a splat
        # of any size costs its one element of the object
        shape = [i64(d) for d in value.shape]
        ptr = _constant_global(ctx, value.reshape(-1)[:1], dtype)
        return [Buf(ptr, dtype, shape, [i64(0)] * len(shape), slot=None, contiguous=False)]
    ptr = _constant_global(ctx, value, dtype)
    shape = [i64(d) for d in value.shape]
    return [Buf(ptr, dtype, shape, ctx.contiguous_strides(shape), slot=None, contiguous=True)]


def _constant_global(ctx, value, dtype):
    """A pointer to a private constant global holding ``value``'s bytes."""
    data = bytearray(value.astype(value.dtype.newbyteorder("<"), copy=False).tobytes(order="C")) or bytearray(1)
    ty = lir.ArrayType(I8, len(data))
    gv = lir.GlobalVariable(ctx.module, ty, name=ctx.module.get_unique_name("const"))
    gv.initializer = lir.Constant(ty, data)
    gv.global_constant = True
    gv.linkage = "private"
    gv.align = 64
    return ctx.b.bitcast(gv, LLTYPE[dtype].as_pointer(), name="const")


LOWERINGS = {
    "shape": lower_shape,
    "set_subtensor": lower_set_subtensor,
    "inc_subtensor": lower_inc_subtensor,
    "concatenate": lower_concatenate,
    "alloc": lower_alloc,
    "arange": lower_arange,
    "constant": lower_constant,
}
