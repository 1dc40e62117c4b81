"""Advanced indexing (``ir/ops/indexing.py``): ``adv_subtensor`` (gather),
``adv_set_subtensor`` / ``adv_inc_subtensor`` (scatter); ``nonzero``.

The indexed region x[idx] is walked as three loop nests, in the result's
dim order: the ``pre`` dims (whole dims before adjacent index arrays),
the broadcast index shape B, and the ``post`` dims (the rest). Per B
position each index operand's element is loaded once, sign- or zero-
extended, wrapped if negative and checked against its axis of x
(ADV_INDEX_ERROR names the index operand); the ``post`` dims are one
``strided_loop`` (vectorized where unit-stride: the rows of an embedding
lookup). A gather whose ``post`` part is empty (``log(p)[arange(n), y]``)
is one flat loop over B. Scatters update a copy of x -- or x's own buffer when x is a fresh
buffer only they use (``_donated``: the zeros of a gather's gradient) --
walking the same order sequentially, so
``adv_inc_subtensor`` accumulates over repeated indices (``np.add.at``)
and ``adv_set_subtensor`` keeps the last write.
"""
from ....ir.ops.indexing import AdvSubtensor, layout
import llvmlite.ir as lir

from ....ir.types import TensorType, is_float
from ...errors import ADV_INDEX_ERROR
from .context import I64, i64
from .data import _add, broadcast_to, copy_into, memcpy_all
from .loops import broadcast, strided_loop
from .views import load_int, static_dims


def _plan(ctx, op, x, inds, n_data):
    """(result dims, pre/B/post split, per-dim x strides for pre/post, per
    index operand (buf, B strides, axis of x, dtype, operand number))."""
    opdef = op.opdef
    idx = op.attrs["idx"]
    ivals = opdef.indices(op)
    items, axes = layout(idx, x.ndim)
    bt = TensorType("int64", _b_static(ivals))
    b_dims, b_strides = broadcast(ctx, bt, inds, [v.type for v in ivals])
    dims, x_strides, parts = [], [], []
    for kind, a in items:
        if kind == "B":
            parts.append(("B", len(dims), len(dims) + len(b_dims)))
            dims.extend(b_dims)
            x_strides.extend([None] * len(b_dims))
        else:
            dims.append(x.shape[a] if kind == "x" else i64(1))
            x_strides.append(x.strides[a] if kind == "x" else i64(0))
    dims = static_dims(ctx, dims, opdef.region_shape(op))
    b_lo, b_hi = parts[0][1], parts[0][2]
    index_ops = [(buf, st, axes[k], v.type.dtype, n_data + k)
                 for k, (buf, st, v) in enumerate(zip(inds, b_strides, ivals))]
    return dims, (b_lo, b_hi), x_strides, index_ops


def _b_static(ivals):
    from ....ir.types import broadcast_shapes
    return broadcast_shapes(*[v.type.shape for v in ivals])


def _walk(ctx, x, dims, split, x_strides, index_ops, other, other_strides, body, name):
    """For every position of the region (``dims``, split into pre/B/post at
    ``split``): ``body([x element ptr, other element ptr])``. ``other`` is
    the gather's output or the scatter's value, walked with ``other_strides``."""
    b = ctx.b
    lo, hi = split
    pre, bdims, post = dims[:lo], dims[lo:hi], dims[hi:]

    def advance(ptr, idx, strides):
        for i, s in zip(idx, strides):
            ptr = b.gep(ptr, [b.mul(i, s)])
        return ptr

    with ctx.loop_nest(pre, f"{name}.pre") as pi:
        xbase = advance(x.ptr, pi, x_strides[:lo])
        obase = advance(other.ptr, pi, other_strides[:lo])
        with ctx.loop_nest(bdims, f"{name}.b") as bi:
            xp = xbase
            for buf, st, axis, dtype, operand in index_ops:
                k = load_int(ctx, buf.view(ptr=advance(buf.ptr, bi, st)), dtype)
                n = x.shape[axis]
                if dtype in ("uint8", "bool"):
                    wrapped = k
                else:
                    wrapped = b.select(b.icmp_signed("<", k, i64(0)), b.add(k, n), k)
                ctx.check(b.icmp_unsigned("<", wrapped, n), ADV_INDEX_ERROR,
                          [i64(axis), k, n, i64(operand)])
                xp = b.gep(xp, [b.mul(wrapped, x.strides[axis])])
            op_ = advance(obase, bi, other_strides[lo:hi])
            strided_loop(ctx, post, [(xp, x_strides[hi:]), (op_, other_strides[hi:])], body, name=f"{name}.row")


def lower_adv_subtensor(ctx, op, bufs):
    x, inds = bufs[0], bufs[1:]
    dims, split, x_strides, index_ops = _plan(ctx, op, x, inds, 1)
    out = ctx.alloc(x.dtype, dims, name="gather")
    b = ctx.b
    _walk(ctx, x, dims, split, x_strides, index_ops, out, out.strides,
          lambda ptrs: b.store(b.load(ptrs[0]), ptrs[1]), "gather")
    return [out]


def lower_adv_set_subtensor(ctx, op, bufs, increment=False):
    x, v, inds = bufs[0], bufs[1], bufs[2:]
    b = ctx.b
    if _donated(op, x):
        out = x
    else:
        out = ctx.alloc(x.dtype, x.shape, name=op.name)
        if x.contiguous:
            memcpy_all(ctx, x, out)
        else:
            copy_into(ctx, x, out)
    dims, split, x_strides, index_ops = _plan(ctx, op, out, inds, 2)
    v_strides = broadcast_to(ctx, v, op.operands[1].type, dims, op.opdef.region_shape(op), operand=1)

    def body(ptrs):
        val = b.load(ptrs[1])
        if increment:
            val = _add(ctx, x.dtype, b.load(ptrs[0]), val)
        b.store(val, ptrs[0])
    _walk(ctx, out, dims, split, x_strides, index_ops, v, v_strides, body, "scatter")
    return [out]


def _donated(op, x):
    """Whether the scatter may update x's buffer in place instead of a copy:
    x is a fresh buffer of this function (made by ``alloc`` -- the zeros a
    gather's gradient scatters into -- or by another advanced-indexing op,
    whose lowerings always allocate), and this op is its only use."""
    v = op.operands[0]
    owner = v.owner
    return (x.slot is not None and x.contiguous and len(v.uses) == 1 and owner is not None
            and owner.parent is op.parent
            and (owner.name == "alloc" or isinstance(owner.opdef, AdvSubtensor)))


def lower_adv_inc_subtensor(ctx, op, bufs):
    return lower_adv_set_subtensor(ctx, op, bufs, increment=True)


# --- nonzero ------------------------------------------------------------------------------------
def _is_nonzero(ctx, dtype, val):
    """i1: ``val`` is not zero (NaN is nonzero, as in NumPy)."""
    b = ctx.b
    if is_float(dtype):
        return b.fcmp_unordered("!=", val, lir.Constant(val.type, 0.0))
    return b.icmp_unsigned("!=", val, lir.Constant(val.type, 0))


def lower_nonzero(ctx, op, bufs):
    """Two passes over x in C order: count, then write each nonzero
    element's indices into column k of the (ndim, count) result."""
    (x,) = bufs
    b = ctx.b
    with ctx.at_entry():
        counter = b.alloca(I64, name="nz.count")
    b.store(i64(0), counter)

    def count(ptrs):
        hit = b.zext(_is_nonzero(ctx, x.dtype, b.load(ptrs[0])), I64)
        b.store(b.add(b.load(counter), hit), counter)
    strided_loop(ctx, x.shape, [(x.ptr, x.strides)], count, name="nz.count")
    n = b.load(counter, name="nz.n")
    out = ctx.alloc("int64", [i64(x.ndim), n], name="nonzero")
    b.store(i64(0), counter)
    with ctx.loop_nest(x.shape, "nz") as idx:
        with b.if_then(_is_nonzero(ctx, x.dtype, b.load(ctx.elem_ptr(x, idx)))):
            k = b.load(counter)
            for d, i in enumerate(idx):
                b.store(i, b.gep(out.ptr, [b.add(b.mul(i64(d), n), k)]))
            b.store(b.add(k, i64(1)), counter)
    return [out]


LOWERINGS = {
    "nonzero": lower_nonzero,
    "adv_subtensor": lower_adv_subtensor,
    "adv_set_subtensor": lower_adv_set_subtensor,
    "adv_inc_subtensor": lower_adv_inc_subtensor,
}
