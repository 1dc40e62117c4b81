"""CPU lowering of the control-flow ops ``ifelse`` and ``scan``
(``ir/ops/control.py``). Their bodies are lowered with ``entry.lower_block``
at the builder's position, like the function body.

* ``ifelse``: a real branch: the condition selects one of two basic blocks,
  each lowering one region; only that one runs. Each branch hands its
  results over in one allocation slot per result (a fresh contiguous
  buffer the branch computed is moved there, anything else is copied), frees
  its other temporaries, and the merge block takes pointers and dims by phi.
* ``scan``: one native loop. Before it: ``n_steps`` and every sequence's and
  initial state's length are checked (``SCAN_NEGATIVE_STEPS``,
  ``SCAN_SHORT_INPUT``), and each output's buffer for all the steps is
  allocated once (an output without taps whose row shape is not static is
  allocated at step 0, when its row shape is known). Per step: the block
  arguments are views (rows of the sequences at ``t + tap - lo``, of the
  outputs of earlier steps or of the initial states for taps reaching
  before step 0 -- a select of pointer and strides, no copy), the body is
  lowered inline, each yielded row is checked against its state's row
  shape (``SCAN_STEP_SHAPE``) and copied into row ``t`` of its output, and
  the body's temporaries are freed (their slots reused by the next step;
  on an error the cleanup block frees whatever a step holds). Temporaries
  of a small static size (scalars, small rows) are stack arrays of the
  entry instead, reused by every step: a scalar recurrence allocates
  nothing per step. ``until``
  leaves the loop after a step whose condition is true; the results then
  have that many rows. Its outputs' buffers start at 16 rows (or
  ``n_steps``) and double when full (a new buffer, the rows moved), never
  past ``n_steps`` rows, so an unbounded loop (``n_steps`` INT64_MAX, from
  ``scan`` without sequences or n_steps) takes memory for the steps it
  runs; after the loop a buffer more than a quarter unused is trimmed.
  An output with ``last_rows[j] = k`` (``passes/scan_ring.py``) has a ring
  of ``R = max(k, depth)`` rows instead: row ``t`` is stored at ``t mod R``
  and taps read there; after the loop the last ``min(k, steps)`` rows are
  the result (the ring itself when ``R == 1``, else copied out in order).

A non-sequence that a body ``matmul`` takes as B is packed into GEMM
panels once before the loop (``linalg.prepack_b``, ``with_prepacked``).

Errors inside a body are reported with the index of the region op.
"""
import llvmlite.ir as lir

from ...errors import SCAN_NEGATIVE_STEPS, SCAN_SHORT_INPUT, SCAN_STEP_SHAPE
from ...llvm_util import counted_loop
from ....ir.ops.control import RowDims, ScanLayout, body_dims, seq_window
from . import linalg
from .context import I8P, ITEMSIZE, LLTYPE, Buf, i64

_NULL = lir.Constant(I8P, None)


def lower_region(ctx, block, args):
    """Lower ``block`` at the builder's position with Bufs ``args``; the
    ops inside report errors as the region op being lowered, and may
    allocate (their memory is the caller's to free: ``free_slots``).
    Returns (the yielded Bufs, the allocation slots the body took)."""
    from .entry import lower_block, lower_op      # entry imports the lowering table, which imports this
    outer, depth, first = ctx.op_index, ctx.loop_depth, ctx.n_slots
    ctx.loop_depth = 0          # the caller frees the body's allocations each time it runs

    def lower(c, op, bufs):
        c.op_index = outer
        return lower_op(c, op, bufs)
    try:
        ys = lower_block(ctx, block, args, lower=lower)
    finally:
        ctx.loop_depth, ctx.op_index = depth, outer
    return ys, range(first, ctx.n_slots)


STACK_TEMP_BYTES = 1024        # body temporaries of a static size up to this live on the stack
STACK_BUDGET_BYTES = 64 << 10  # ... up to this much per entry


def _stack_alloc(ctx, heap_alloc):
    """``ctx.alloc`` for a loop body: a temporary of a small static size is
    a stack array of the entry (reused by every step: no allocation per
    step; not owned by a slot, so never handed over); anything else
    comes from ``heap_alloc`` (the body's slots, freed per step)."""
    def alloc(dtype, shape, name="buf"):
        if all(isinstance(d, lir.Constant) for d in shape):
            count = 1
            for d in shape:
                count *= int(d.constant)
            nbytes = count * ITEMSIZE[dtype]
            used = getattr(ctx, "_stack_temp_bytes", 0)
            if 0 < nbytes <= STACK_TEMP_BYTES and used + nbytes <= STACK_BUDGET_BYTES:
                ctx._stack_temp_bytes = used + nbytes
                with ctx.at_entry():
                    ptr = ctx.b.alloca(LLTYPE[dtype], size=i64(count), name=name)
                ptr.align = 64
                return Buf(ptr, dtype, shape, ctx.contiguous_strides(shape), contiguous=True)
        return heap_alloc(dtype, shape, name)
    return alloc


def free_slots(ctx, slots):
    """Free the allocations of ``slots`` now and empty them."""
    b = ctx.b
    for k in slots:
        p = ctx._slot(k)
        ctx.free(b.load(p))
        b.store(_NULL, p)


def new_slot(ctx):
    """An allocation slot of its own (empty until stored; freed at cleanup)."""
    k = ctx.n_slots
    ctx.n_slots += 1
    ctx._slot(k)
    return k


def _truth(ctx, buf):
    v = ctx.b.load(buf.ptr)
    return ctx.b.icmp_unsigned("!=", v, lir.Constant(v.type, 0))


# --- ifelse ----------------------------------------------------------------------------------
def _hand_over(ctx, y, slot, temps, moved):
    """``y``'s data in a fresh contiguous buffer owned by ``slot``: the
    buffer itself when the body allocated it, else a copy. Returns its typed pointer."""
    b = ctx.b
    if y.slot is not None and y.slot in temps and y.contiguous and y.slot not in moved:
        moved.add(y.slot)
        src = ctx._slot(y.slot)
        b.store(b.load(src), ctx._slot(slot))
        b.store(_NULL, src)
        return y.ptr
    raw = ctx.malloc(ctx.checked_nbytes(y.shape, ITEMSIZE[y.dtype]))
    b.store(raw, ctx._slot(slot))
    ptr = b.bitcast(raw, LLTYPE[y.dtype].as_pointer())
    ctx.copy(y, Buf(ptr, y.dtype, y.shape, ctx.contiguous_strides(y.shape)))
    return ptr


def lower_ifelse(ctx, op, bufs):
    b = ctx.b
    n = op.attrs["n_then"]
    slots = [new_slot(ctx) for _ in op.results]
    blocks = [ctx.fn.append_basic_block("ifelse.then"), ctx.fn.append_basic_block("ifelse.else")]
    merge = ctx.fn.append_basic_block("ifelse.end")
    b.cbranch(_truth(ctx, bufs[0]), *blocks)
    incoming = []
    for k, args in enumerate((bufs[1:1 + n], bufs[1 + n:])):
        b.position_at_end(blocks[k])
        ys, temps = lower_region(ctx, op.regions[k], list(args))
        moved = set()
        ptrs = [_hand_over(ctx, y, s, temps, moved) for y, s in zip(ys, slots)]
        free_slots(ctx, temps)
        incoming.append((b.block, ptrs, [y.shape for y in ys]))
        b.branch(merge)
    b.position_at_end(merge)
    merged = []                 # every phi first (they must lead the block), then the strides
    for j, r in enumerate(op.results):
        ptr = b.phi(LLTYPE[r.type.dtype].as_pointer(), name=f"ifelse.r{j}")
        for block, ptrs, _ in incoming:
            ptr.add_incoming(ptrs[j], block)
        shape = []
        for d in range(r.type.ndim):
            sizes = [dims[j][d] for _, _, dims in incoming]
            if all(isinstance(s, lir.Constant) for s in sizes) and \
                    len({int(s.constant) for s in sizes}) == 1:
                shape.append(sizes[0])
                continue
            phi = b.phi(sizes[0].type, name=f"ifelse.r{j}.d{d}")
            for (block, _, _), s in zip(incoming, sizes):
                phi.add_incoming(s, block)
            shape.append(phi)
        merged.append((ptr, shape))
    return [Buf(ptr, r.type.dtype, shape, ctx.contiguous_strides(shape), slot=slot, contiguous=True)
            for r, (ptr, shape), slot in zip(op.results, merged, slots)]


# --- scan ------------------------------------------------------------------------------------
def _row(ctx, buf, index):
    """Row ``index`` (i64) of ``buf``: a view."""
    ptr = ctx.b.gep(buf.ptr, [ctx.b.mul(index, buf.strides[0])])
    return Buf(ptr, buf.dtype, buf.shape[1:], buf.strides[1:])


def _select_row(ctx, cond, a, c):
    """``a`` if the i1 ``cond`` else ``c`` (rows of one shape): pointer and strides by select."""
    b = ctx.b
    return Buf(b.select(cond, a.ptr, c.ptr), a.dtype, a.shape,
               [x if x is y else b.select(cond, x, y) for x, y in zip(a.strides, c.strides)])


GROW_FIRST_ROWS = 16    # an until loop's growing output starts with this many rows (or n_steps)


class _Output:
    """One scan output's buffer for every step: allocated before the loop,
    or at step 0 when its row shape is known only then (``lazy``); in an
    ``until`` loop (``grow``) it starts small and doubles whenever a step
    needs a row past its end (never past ``n_steps`` rows), and is trimmed
    after the loop."""

    def __init__(self, ctx, j, rtype, n, row_shape, zero_step_row=None, grow=False):
        b = ctx.b
        self.dtype = rtype.dtype
        self.lazy = row_shape is None
        self.grow = grow
        if not self.lazy and not grow:
            self.row_shape = row_shape
            self.buf = ctx.alloc(self.dtype, [n] + row_shape, name=f"scan.out{j}")
            return
        # pointer and dims (and the rows allocated) live in stack slots
        self.slot = new_slot(ctx)
        with ctx.at_entry():
            self.ptr_slot = b.alloca(LLTYPE[self.dtype].as_pointer(), name=f"scan.out{j}.ptr")
            self.dim_slots = [b.alloca(i64(0).type, name=f"scan.out{j}.d{d}") for d in range(rtype.ndim - 1)]
            self.cap_slot = b.alloca(i64(0).type, name=f"scan.out{j}.cap") if grow else None
        b.store(lir.Constant(LLTYPE[self.dtype].as_pointer(), None), self.ptr_slot)
        for d, s in zip(zero_step_row if self.lazy else row_shape, self.dim_slots):
            b.store(d if d is not None else i64(0), s)      # zero steps: the rows' shape rule, else 0
        if grow:
            b.store(i64(0), self.cap_slot)
        self.n = n

    def first_step(self, ctx, y):
        """At step 0 of a lazy output: its row shape is ``y``'s; allocate for
        every step (a growing output allocates in ``grow_to``)."""
        b = ctx.b
        for d, s in zip(y.shape, self.dim_slots):
            b.store(d, s)
        if self.grow:
            return
        raw = ctx.malloc(ctx.checked_nbytes([self.n] + list(y.shape), ITEMSIZE[self.dtype]))
        b.store(raw, ctx._slot(self.slot))
        b.store(b.bitcast(raw, LLTYPE[self.dtype].as_pointer()), self.ptr_slot)

    def _move_rows(self, ctx, rows, cap):
        """Move the first ``rows`` rows into a new buffer of ``cap`` rows."""
        b = ctx.b
        old = self.current(ctx)
        row = old.shape[1:]
        raw = ctx.malloc(ctx.checked_nbytes([cap] + row, ITEMSIZE[self.dtype]))
        ptr = b.bitcast(raw, LLTYPE[self.dtype].as_pointer())
        shape = [rows] + row
        strides = ctx.contiguous_strides(shape)
        ctx.copy(Buf(old.ptr, self.dtype, shape, strides), Buf(ptr, self.dtype, shape, strides))
        ctx.free(b.load(ctx._slot(self.slot)))
        b.store(raw, ctx._slot(self.slot))
        b.store(ptr, self.ptr_slot)
        b.store(cap, self.cap_slot)

    def make_room(self, ctx, t):
        """Before writing row ``t`` of a growing output: when it is full,
        double it (at least ``GROW_FIRST_ROWS``, at most ``n_steps`` rows)."""
        b = ctx.b
        cap = b.load(self.cap_slot)
        with b.if_then(b.icmp_signed("==", t, cap)):
            want = b.select(b.icmp_signed("<", cap, i64(GROW_FIRST_ROWS // 2)), i64(GROW_FIRST_ROWS),
                            b.mul(cap, i64(2)))
            self._move_rows(ctx, t, b.select(b.icmp_signed(">", want, self.n), self.n, want))

    def trim(self, ctx, steps):
        """After the loop: a growing output with more than a quarter of its
        rows unused moves to a buffer of exactly ``steps`` rows (as does one
        of zero steps: it has no buffer yet)."""
        b = ctx.b
        cap = b.load(self.cap_slot)
        waste = b.icmp_signed(">", b.sub(cap, steps), b.ashr(cap, i64(2)))
        with b.if_then(b.or_(waste, b.icmp_signed("==", cap, i64(0)))):
            self._move_rows(ctx, steps, steps)

    def current(self, ctx):
        """The buffer for every step (in a lazy or growing output, read from its slots)."""
        if not self.lazy and not self.grow:
            return self.buf
        b = ctx.b
        shape = [self.n] + [b.load(s) for s in self.dim_slots]
        return Buf(b.load(self.ptr_slot), self.dtype, shape, ctx.contiguous_strides(shape),
                   slot=self.slot, contiguous=True)


def _zero_step_rows(ctx, op, lay, seqs, inits, nonseqs):
    """Per output, the row dims the body's output-shape rules give from the
    operands' dims (i64 values, None where unknown): the rows of zero steps."""
    b = ctx.b

    def pair(a, c):
        if isinstance(a, lir.Constant) and isinstance(c, lir.Constant):
            return c if int(a.constant) == 1 else a
        return b.select(b.icmp_signed("==", a, i64(1)), c, a)
    args = [x.shape[1:] for x, taps in zip(seqs, lay.seq_taps) for _ in taps]
    args += [inits[j].shape[1:] for j in lay.recurrent for _ in lay.out_taps[j]]
    return body_dims(op.regions[0], args + [w.shape for w in nonseqs], RowDims({}, pair, i64))


def _check_row(ctx, j, y, expected):
    b = ctx.b
    for d, (got, want) in enumerate(zip(y.shape, expected)):
        if isinstance(got, lir.Constant) and isinstance(want, lir.Constant) and \
                int(got.constant) == int(want.constant):
            continue
        ctx.check(b.icmp_signed("==", got, want), SCAN_STEP_SHAPE, [i64(j), i64(d), got, want])


def lower_scan(ctx, op, bufs):
    b = ctx.b
    lay = ScanLayout(op)
    backwards = op.attrs.get("go_backwards", False)
    n = b.load(bufs[0].ptr, name="scan.n")
    ctx.check(b.icmp_signed(">=", n, i64(0)), SCAN_NEGATIVE_STEPS, [n])
    seqs = bufs[1:lay.first_init]
    inits = dict(zip(lay.recurrent, bufs[lay.first_init:lay.first_nonseq]))
    nonseqs = list(bufs[lay.first_nonseq:])
    for i, (x, taps) in enumerate(zip(seqs, lay.seq_taps)):
        lo, hi = seq_window(taps)
        need = b.add(n, i64(hi - lo))
        ctx.check(b.icmp_signed(">=", x.shape[0], need), SCAN_SHORT_INPUT, [i64(1 + i), x.shape[0], need])
    for j, s in inits.items():
        ctx.check(b.icmp_signed(">=", s.shape[0], i64(lay.depth(j))), SCAN_SHORT_INPUT,
                  [i64(lay.first_init + lay.recurrent.index(j)), s.shape[0], i64(lay.depth(j))])
    outs, guess = [], None
    for j, r in enumerate(op.results):
        if j in inits:
            row = list(inits[j].shape[1:])
        elif None not in r.type.shape[1:]:
            row = [i64(d) for d in r.type.shape[1:]]
        else:
            row = None
            if guess is None:
                guess = _zero_step_rows(ctx, op, lay, seqs, inits, nonseqs)
        ring = lay.ring(j)
        outs.append(_Output(ctx, j, r.type, n if ring is None else i64(ring), row,
                            None if row is not None else guess[j], grow=lay.until and ring is None))
    steps_slot = ctx.slot(i64(0).type, "scan.steps")
    b.store(n, steps_slot)
    # a non-sequence the body multiplies by (matmul's B) is packed once, here
    body = op.regions[0]
    nonseq_args = body.args[len(body.args) - len(nonseqs):]
    by_arg = dict(zip(nonseq_args, nonseqs))
    packed = {v: linalg.prepack_b(ctx, by_arg[v]) for v in linalg.prepack_targets(body, nonseq_args)}

    # the loop: for t in range(n); until leaves from the body's end
    with counted_loop(b, n, name="scan.t") as loop, linalg.with_prepacked(ctx, packed):
        t = loop.index

        args = []
        for x, taps in zip(seqs, lay.seq_taps):
            lo, _ = seq_window(taps)
            for k in taps:
                idx = b.add(t, i64(k - lo))
                if backwards:
                    idx = b.sub(b.sub(x.shape[0], i64(1)), idx)
                args.append(_row(ctx, x, idx))
        for j in lay.recurrent:
            d = lay.depth(j)
            full = outs[j].current(ctx)
            for k in lay.out_taps[j]:
                back = b.add(t, i64(k))
                earlier = b.icmp_signed(">=", back, i64(0))
                from_out = _row(ctx, full, _ring_index(ctx, lay, j, b.select(earlier, back, i64(0))))
                from_init = _row(ctx, inits[j], b.select(earlier, i64(0), b.add(back, i64(d))))
                args.append(_select_row(ctx, earlier, from_out, from_init))
        outer_alloc = ctx.__dict__.get("alloc")            # an enclosing loop's, or none (the method)
        ctx.alloc = _stack_alloc(ctx, ctx.alloc)          # an instance attribute shadowing the method
        try:
            ys, temps = lower_region(ctx, op.regions[0], args + nonseqs)
        finally:
            if outer_alloc is None:
                del ctx.alloc
            else:
                ctx.alloc = outer_alloc

        for j, y in enumerate(ys[:lay.n_outs]):
            o = outs[j]
            if o.lazy:
                first = b.icmp_signed("==", t, i64(0))
                with b.if_then(first):
                    o.first_step(ctx, y)
            if o.grow:
                o.make_room(ctx, t)
            full = o.current(ctx)
            _check_row(ctx, j, y, full.shape[1:])
            ctx.copy(y, _row(ctx, full, _ring_index(ctx, lay, j, t)))
        stop = _truth(ctx, ys[-1]) if lay.until else None
        free_slots(ctx, temps)
        if stop is not None:                           # the steps taken so far: t + 1 if it stops here
            b.store(b.add(t, i64(1)), steps_slot)
            loop.exit_if(stop, "stop")

    steps = b.load(steps_slot, name="scan.steps") if lay.until else n
    results = []
    for j, o in enumerate(outs):
        full = o.current(ctx)
        if lay.ring(j) is not None:
            results.append(_last_rows(ctx, lay, j, full, steps))
            continue
        if o.grow:
            o.trim(ctx, steps)
            full = o.current(ctx)
        shape = [steps] + full.shape[1:]
        results.append(Buf(full.ptr, full.dtype, shape, full.strides, slot=full.slot, contiguous=True))
    return results


# --- outputs that keep only their last rows (``last_rows``, passes/scan_ring.py) ------------
def _ring_index(ctx, lay, j, t):
    """Where step ``t``'s row of output ``j`` lives: ``t`` itself, or
    ``t mod`` the ring's rows when the output keeps only its last rows."""
    ring = lay.ring(j)
    if ring is None:
        return t
    return i64(0) if ring == 1 else ctx.b.urem(t, i64(ring))


def _last_rows(ctx, lay, j, ring_buf, steps):
    """The result of an output that keeps its last ``k`` rows in a ring of
    ``R`` rows after ``steps`` steps: the last ``min(k, steps)`` rows in
    order. With ``R == 1`` that is the ring itself; else they are copied
    out (``k`` rows, once)."""
    b = ctx.b
    k = i64(lay.last_rows[j])
    m = b.select(b.icmp_signed("<", steps, k), steps, k, name=f"scan.out{j}.kept")
    if lay.ring(j) == 1:
        shape = [m] + ring_buf.shape[1:]
        return Buf(ring_buf.ptr, ring_buf.dtype, shape, ring_buf.strides, slot=ring_buf.slot, contiguous=True)
    out = ctx.alloc(ring_buf.dtype, [m] + ring_buf.shape[1:], name=f"scan.out{j}.last")
    first = b.sub(steps, m)
    with counted_loop(b, m, name=f"scan.out{j}.copy") as loop:
        i = loop.index
        ctx.copy(_row(ctx, ring_buf, _ring_index(ctx, lay, j, b.add(first, i))), _row(ctx, out, i))
    return out


LOWERINGS = {"ifelse": lower_ifelse, "scan": lower_scan}
