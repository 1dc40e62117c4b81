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
and ``adv_set_subtensor`` keeps the last write. Large gathers
(``W[idx]``, ``log(p)[arange(n), y]``, ``x[:, idx]``) check every index in
the entry, then copy in slices of the result's first dim on the thread
pool (``parallel.py``: workers cannot fail); large scatters with dims
after B split the first of those dims instead (each place of x is written
by one thread, in the sequential order).
"""
from ....ir.ops.indexing import AdvSubtensor, layout
import contextlib

import llvmlite.ir as lir

from ....ir.types import TensorType, is_float, is_unsigned
from ...errors import ADV_INDEX_ERROR, MASK_MISMATCH
from .context import I64, i64
from .data import _add, broadcast_to, copy_into, memcpy_all
from .loops import broadcast, strided_loop
from .parallel import outline, plan_parts, run_parts
from .random import PARALLEL_ELEMENTS
from .views import as_i64, dyn_values, load_int, resolve, static_dims


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


class _Region:
    """The LLVM values a walk of the indexed region reads: x, the result
    dims split into pre/B/post, x's strides for the pre/post dims, the
    index operands, and the other tensor walked alongside (the gather's
    output or the scatter's value)."""

    def __init__(self, x, dims, split, x_strides, index_ops, other, other_strides):
        self.x, self.dims, self.split, self.x_strides = x, dims, split, x_strides
        self.index_ops, self.other, self.other_strides = index_ops, other, other_strides

    def values(self):
        """Every LLVM value of the region (what a worker must be passed)."""
        x, out = self.x, []
        out += [x.ptr] + x.shape + x.strides + self.dims + [s for s in self.x_strides if s is not None]
        for buf, st, *_ in self.index_ops:
            out += [buf.ptr] + list(st)
        return out + [self.other.ptr] + list(self.other_strides)

    def mapped(self, f):
        """The region with every value v replaced by f(v) (a worker's copies)."""
        def buf(u):
            return u.view(ptr=f(u.ptr), shape=[f(d) for d in u.shape], strides=[f(d) for d in u.strides])
        return _Region(buf(self.x), [f(d) for d in self.dims], self.split,
                       [None if s is None else f(s) for s in self.x_strides],
                       [(u.view(ptr=f(u.ptr)), [f(d) for d in st], axis, dtype, operand)
                        for u, st, axis, dtype, operand in self.index_ops],
                       self.other.view(ptr=f(self.other.ptr)), [f(d) for d in self.other_strides])


def _walk(c, r, body, name, check=True, first=None, cols=None):
    """For every position of region ``r`` (in the result's dim order):
    ``body(c, [x element ptr, other element ptr])``, or, with ``body``
    None, only the index checks. ``c`` is the entry's context or a
    worker's; ``check``: report bad indices (the entry) or trust them (a
    worker, after the entry checked); ``first``: (begin, end) of the
    outermost dim, pre's first or else B's first (a worker's slice);
    ``cols``: (begin, end) of the first post dim (a worker's slice)."""
    b = c.b
    lo, hi = r.split
    pre, bdims, post = r.dims[:lo], r.dims[lo:hi], r.dims[hi:]
    x = r.x

    def advance(ptr, idx, strides):
        for i, s in zip(idx, strides):
            ptr = b.gep(ptr, [b.mul(i, s)])
        return ptr

    with contextlib.ExitStack() as stack:
        pi = []
        for k, d in enumerate(pre):
            start = None
            if k == 0 and first is not None:
                start, d = first
            pi.append(stack.enter_context(c.loop(d, f"{name}.pre{k}", start=start)))
        xbase = advance(x.ptr, pi, r.x_strides[:lo])
        obase = advance(r.other.ptr, pi, r.other_strides[:lo])
        bi = []
        for k, d in enumerate(bdims):
            start = None
            if k == 0 and first is not None and not pre:
                start, d = first
            bi.append(stack.enter_context(c.loop(d, f"{name}.b{k}", start=start)))
        xp = xbase
        for buf, st, axis, dtype, operand in r.index_ops:
            k = load_int(c, buf.view(ptr=advance(buf.ptr, bi, st)), dtype)
            n = x.shape[axis]
            if is_unsigned(dtype):
                wrapped = k
            else:
                wrapped = b.select(b.icmp_signed("<", k, i64(0)), b.add(k, n), k)
            if check:
                c.check(b.icmp_unsigned("<", wrapped, n), ADV_INDEX_ERROR, [i64(axis), k, n, i64(operand)])
            xp = b.gep(xp, [b.mul(wrapped, x.strides[axis])])
        if body is not None:
            op_ = advance(obase, bi, r.other_strides[lo:hi])
            xs, os_ = r.x_strides[hi:], r.other_strides[hi:]
            if cols is not None:
                begin, end = cols
                xp, op_ = b.gep(xp, [b.mul(begin, xs[0])]), b.gep(op_, [b.mul(begin, os_[0])])
                post = [b.sub(end, begin)] + list(post[1:])
            strided_loop(c, post, [(xp, xs), (op_, os_)], lambda ptrs: body(c, ptrs), name=f"{name}.row")


def _copy(c, ptrs):
    c.b.store(c.b.load(ptrs[0]), ptrs[1])


def lower_adv_subtensor(ctx, op, bufs):
    """A gather; from ``parallel`` result elements (op attributes
    ``parallel``/``threads`` override) the entry checks every index, then
    slices of the result's first dim run on the thread pool."""
    x, inds = bufs[0], bufs[1:]
    dims, split, x_strides, index_ops = _plan(ctx, op, x, inds, 1)
    out = ctx.alloc(x.dtype, dims, name="gather")
    r = _Region(x, dims, split, x_strides, index_ops, out, out.strides)
    if split[1] == 0:           # B is 0-d (scalar index operands) and comes first: one loop nest
        _walk(ctx, r, _copy, "gather")
        return [out]
    b = ctx.b
    schedule = (op.attrs.get("parallel", PARALLEL_ELEMENTS), op.attrs.get("threads", 0))
    parts = plan_parts(ctx, dims[0], ctx.product(dims), schedule)
    with b.if_else(b.icmp_signed(">", parts, i64(1)), likely=False) as (many, one):
        with many:
            _walk(ctx, r, None, "gather.check")
            worker, data = outline(ctx, "gather", r.values(), lambda w, begin, end, part, inner: _walk(
                w, r.mapped(inner), _copy, "gather", check=False, first=(begin, end)))
            run_parts(ctx, worker, data, dims[0], parts)
        with one:
            _walk(ctx, r, _copy, "gather")
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

    def body(c, ptrs):
        val = c.b.load(ptrs[1])
        if increment:
            val = _add(c, x.dtype, c.b.load(ptrs[0]), val)
        c.b.store(val, ptrs[0])
    r = _Region(out, dims, split, x_strides, index_ops, v, v_strides)
    if split[1] == len(dims):
        _walk(ctx, r, body, "scatter")
        return [out]
    # Large scatters with dims after the index arrays (the rows of an
    # embedding's gradient): the entry checks every index, then threads
    # take slices of the first of those dims -- disjoint places of out, each
    # written in the same order as one thread would, repeated indices too.
    n = dims[split[1]]
    schedule = (op.attrs.get("parallel", PARALLEL_ELEMENTS), op.attrs.get("threads", 0))
    parts = plan_parts(ctx, n, ctx.product(dims), schedule)
    with b.if_else(b.icmp_signed(">", parts, i64(1)), likely=False) as (many, one):
        with many:
            _walk(ctx, r, None, "scatter.check")
            worker, data = outline(ctx, "scatter", r.values(), lambda w, begin, end, part, inner: _walk(
                w, r.mapped(inner), body, "scatter", check=False, cols=(begin, end)))
            run_parts(ctx, worker, data, n, parts)
        with one:
            _walk(ctx, r, body, "scatter")
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
    """x's dims checked against ``match``; then two passes over x in C
    order: count, then write each nonzero element's indices into column k
    of the (ndim, count) result."""
    x = bufs[0]
    b = ctx.b
    for k, m in enumerate(resolve(op.attrs["match"], dyn_values(ctx, op, bufs, 1))):
        if m is not None and not (isinstance(m, int) and op.operands[0].type.shape[k] is not None):
            ctx.check(b.icmp_signed("==", x.shape[k], as_i64(m)), MASK_MISMATCH, [i64(k + op.attrs.get("axis", 0)), x.shape[k], as_i64(m)])
    counter = ctx.slot(I64, "nz.count")
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
