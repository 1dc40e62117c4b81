"""scan-batch: per-step products and elementwise maps become whole-sequence ops.

Two rewrites of a ``scan`` that is not a while-loop (``until``):

**Products with an invariant matrix.** A body ``matmul(x, W)`` or
``matmul(W, x)``, ``x`` a row of a sequence ``X`` (one of its tap
arguments) and ``W`` a 1-d or 2-d non-sequence (or a constant), computes at
every step a row of one product over the whole sequence: ``P =
matmul(X, W)`` (``X``'s rows times ``W``; for ``matmul(W, x)``, ``matmul(W, X)``
when ``x`` has two dims or more, else ``matmul(X, W^T)``). ``P`` is
computed once before the loop -- one big GEMM instead of one small product
per step -- and becomes a new sequence with ``X``'s taps; the body reads its
row where it computed the product. When no body op reads ``X``'s rows any
more, ``X`` leaves the loop (``P`` has its rows, so the loop's length check
stays). This is the input projection of an RNN or LSTM: ``dot(x_t, W_x)``
for all steps as one matrix product before the recurrence.

**Maps.** A scan without recurrent outputs whose sequences all have taps
``[0]`` and whose every output depends on a sequence row is a map when each
body op can run over all the steps at once: elementwise ops (batched
operands gain broadcast axes so that the rows line up, non-sequences
broadcast as in the body), reductions over ``axes`` and ``dimshuffle``
(their axes shifted past the step axis), a ``subtensor`` of a row, a
``matmul`` of a row with a 1-d/2-d invariant or of two rows of matrices,
constants, and invariant work. The scan is replaced by those ops on the
stacked rows (``X[:n]``, reversed first with ``go_backwards``); fusion then
makes the elementwise ones one loop. Only when every
sequence has provably at least ``n_steps`` rows (``n_steps`` is the
frontend's ``max(min(len(X), ...), 0)`` of them, or constants say so): a
shorter sequence must still raise the loop's length error.

**Rows passed through.** An output without taps that yields a sequence
row unchanged (after the rewrites above, a saved product's row) is a slice
of that sequence after the loop -- a view, not a copy per step.

(Products are batched first, so a map of ``dot(W, x_t)`` becomes the one
matrix product followed by the map rewrite: no loop at all.)
"""
import numpy as np

from ..ir.builder import Builder, make_op
from ..ir.core import DYN, Operation, Value
from ..ir.ops.control import ScanLayout, seq_window
from ..ir.opdef import const_int
from .dce import sweep_block
from .manager import BlockPass
from .scan_hoist import is_scan, nonseq_args, replace_op


def batch_block(block):
    """Apply the pass to the scans of ``block`` and of the regions inside it."""
    for op in list(block.ops):
        for region in op.regions:
            batch_block(region)
        if is_scan(op) and not op.attrs.get("until", False) and not any(op.attrs.get("last_rows", ())):
            op = batch_products(block, op)
            if not batch_map(block, op):
                forward_rows(block, op)


# --- products with an invariant matrix ----------------------------------------------------------
def _seq_arg_positions(lay):
    """{body argument index: (sequence index, tap index)} of the sequence taps."""
    out, pos = {}, 0
    for i, taps in enumerate(lay.seq_taps):
        for q in range(len(taps)):
            out[pos] = (i, q)
            pos += 1
    return out


def _invariant(v, inv):
    """The outer value of a body value that is the same at every step, or None:
    a non-sequence argument, or a constant (copied out)."""
    if v in inv:
        return v
    if v.owner is not None and v.owner.name == "constant" and v.ndim in (1, 2):
        return v
    return None


def batch_products(block, op):
    """Batch the ``matmul`` of a sequence row and an invariant 1-d/2-d value
    in scan ``op``'s body; returns the scan now in ``op``'s place."""
    body = op.regions[0]
    lay = ScanLayout(op)
    seq_pos = _seq_arg_positions(lay)
    row_of = {body.args[k]: seq_pos[k] for k in seq_pos}         # body arg -> (sequence, tap index)
    inv = nonseq_args(op)
    found = []      # (matmul op, sequence index, tap index, invariant body value, row on the left)
    for inner in body.ops[:-1]:
        if inner.name != "matmul":
            continue
        a, b = inner.operands
        if a in row_of and _invariant(b, inv) is not None and b.ndim <= 2:
            found.append((inner, *row_of[a], b, True))
        elif b in row_of and _invariant(a, inv) is not None and a.ndim <= 2:
            found.append((inner, *row_of[b], a, False))
    if not found:
        return op
    build = Builder(block, before=op)
    consts = {}

    def outer(v):
        if v in inv:
            return inv[v]
        if v not in consts:
            copy = v.owner.clone({})
            block.insert_before(op, copy)
            consts[v] = copy.results[0]
        return consts[v]

    products = {}       # (sequence, invariant value, row on the left) -> the new sequence's index
    new_seqs, new_taps = [], []
    reads = []          # per found product: (new sequence index, tap index)
    for inner, i, q, w, left in found:
        key = (i, w, left)
        if key not in products:
            x, wv = lay.seqs[i], outer(w)
            if left or x.ndim > 2:
                prod = build.create("matmul", [x, wv] if left else [wv, x])
            else:
                wt = wv if wv.ndim == 1 else build("dimshuffle", wv, pattern=(1, 0))
                prod = build.create("matmul", [x, wt])
            prod.loc = inner.loc
            products[key] = lay.n_seqs + len(new_seqs)
            new_seqs.append(prod.results[0])
            new_taps.append(lay.seq_taps[i])
        reads.append((products[key], q))
    # the body, changed in place: the products' row arguments after the old
    # sequences' ones, read where the products were
    n_seq_args = len(seq_pos)
    seqs = list(lay.seqs) + new_seqs
    seq_taps = list(lay.seq_taps) + new_taps
    added, first_arg = [], {}
    for s, (v, taps) in enumerate(zip(new_seqs, new_taps), start=lay.n_seqs):
        first_arg[s] = n_seq_args + len(added)
        added += [Value(v.type.with_shape(v.type.shape[1:]), None, 0, v.name) for _ in taps]
    body.args[n_seq_args:n_seq_args] = added
    for k, a in enumerate(body.args):
        a.index = k
    for (inner, *_), (s, q) in zip(found, reads):
        inner.results[0].replace_all_uses_with(body.args[first_arg[s] + q])
    sweep_block(body)
    regions, op.regions = op.regions, []
    new = Operation(op.opdef, [lay.n_steps] + seqs + list(op.operands[lay.first_init:]),
                    {**op.attrs, "seq_taps": tuple(tuple(t) for t in seq_taps)},
                    [r.type for r in op.results], regions, type(op.results[0]),
                    [r.name for r in op.results])
    new.loc = op.loc
    new = replace_op(block, op, new)
    return drop_unused_sequences(block, new, {i for _, i, *_ in found})


def forward_rows(block, op):
    """Outputs without taps that yield a sequence row unchanged (a product's
    row the gradient saves, a row the gradient stacks) become slices of that
    sequence after the loop -- views, not a copy per step -- and leave the loop
    (``Scan.without_results``), as long as other outputs stay."""
    lay = ScanLayout(op)
    body = op.regions[0]
    seq_pos = _seq_arg_positions(lay)
    ys = body.ops[-1].operands
    rows = {}
    for j in op.opdef.droppable_results(op):
        y = ys[j]
        if y.owner is None and y.index < len(seq_pos) and body.args[y.index] is y:
            rows[j] = seq_pos[y.index]
    if not rows or len(rows) == len(op.results):
        return op
    after = block.ops[block.index(op) + 1]        # (the loop is never last: a return follows)
    build = Builder(block, before=after)
    n = lay.n_steps
    for j, (i, q) in rows.items():
        x = lay.seqs[i]
        if op.attrs.get("go_backwards", False):
            x = build("subtensor", x, idx=((None, None, -1),))
        start = lay.seq_taps[i][q] - seq_window(lay.seq_taps[i])[0]
        stop = n if not start else build("add", n, build("constant", value=np.array(start, "int64")))
        view = build("subtensor", x, stop, idx=((start or None, DYN, None),))
        op.results[j].replace_all_uses_with(view)
    new, where = op.opdef.without_results(op, set(rows))
    new = replace_op(block, op, new, where)
    sweep_block(new.regions[0])
    return new


def drop_unused_sequences(block, op, candidates):
    """Scan ``op`` without those sequences of ``candidates`` (indices) whose
    rows its body no longer reads, and without unused non-sequences."""
    body = op.regions[0]
    lay = ScanLayout(op)
    pos, drop_args, drop_seqs = 0, [], set()
    for i, taps in enumerate(lay.seq_taps):
        args = body.args[pos:pos + len(taps)]
        if i in candidates and not any(a.uses for a in args):
            drop_seqs.add(i)
            drop_args += args
        pos += len(taps)
    first = len(body.args) - len(lay.nonseqs)
    drop_w = {k for k, a in enumerate(body.args[first:]) if not a.uses}
    drop_args += [body.args[first + k] for k in drop_w]
    if not drop_args:
        return op
    gone = set(drop_args)
    body.args[:] = [a for a in body.args if a not in gone]
    for k, a in enumerate(body.args):
        a.index = k
    seqs = [x for i, x in enumerate(lay.seqs) if i not in drop_seqs]
    taps = tuple(t for i, t in enumerate(lay.seq_taps) if i not in drop_seqs)
    nonseqs = [w for k, w in enumerate(lay.nonseqs) if k not in drop_w]
    inits = list(op.operands[lay.first_init:lay.first_nonseq])
    regions, op.regions = op.regions, []
    new = Operation(op.opdef, [lay.n_steps] + seqs + inits + nonseqs, {**op.attrs, "seq_taps": taps},
                    [r.type for r in op.results], regions, type(op.results[0]), [r.name for r in op.results])
    new.loc = op.loc
    return replace_op(block, op, new)


# --- elementwise maps ---------------------------------------------------------------------------
def _rows_at_least(n, x, depth=0):
    """``x`` provably has at least ``n`` (a 0-d int64 value) rows."""
    if depth > 8 or n.owner is None:
        return False
    owner = n.owner
    known = const_int(n)
    if known is not None:
        return known <= 0 or (x.type.shape[0] is not None and x.type.shape[0] >= known)
    if owner.name == "maximum":
        a, b = owner.operands
        return all((const_int(v) is not None and const_int(v) <= 0) or _rows_at_least(v, x, depth + 1)
                   for v in (a, b))
    if owner.name == "minimum":
        return any(_rows_at_least(v, x, depth + 1) for v in owner.operands)
    if owner.name == "cast" and owner.operands[0].dtype.startswith("int"):
        return _rows_at_least(owner.operands[0], x, depth + 1)
    if owner.name == "subtensor" and owner.attrs.get("idx") == (0,):
        s = owner.operands[0].owner
        return s is not None and s.name == "shape" and s.operands[0] in _same_rows(x)
    return False


def _same_rows(x):
    """Values with as many rows as ``x``: itself, and what a product this pass
    made (``matmul`` with one operand of at most 2 dims) took its rows from."""
    out = [x]
    while x.owner is not None and x.owner.name == "matmul":
        a, b = x.owner.operands
        if a.ndim >= 2 and b.ndim <= 2 and a.ndim == x.ndim:
            x = a
        elif b.ndim >= 3 and a.ndim <= 2 and b.ndim == x.ndim:
            x = b
        else:
            break
        out.append(x)
    return out


def batch_map(block, op):
    """Replace scan ``op`` by ops over its stacked sequences when it is a map
    (see the module doc); returns whether it did."""
    lay = ScanLayout(op)
    body = op.regions[0]
    if lay.recurrent or any(t != (0,) for t in lay.seq_taps) or not lay.seqs:
        return False
    n = lay.n_steps
    if not all(_rows_at_least(n, x) for x in lay.seqs):
        return False
    batched = set(body.args[:lay.n_seqs])      # body values that are rows: (n, *row) outside
    for inner in body.ops[:-1]:
        if any(v in batched for v in inner.operands):
            batched.update(inner.results)
    ys = body.ops[-1].operands[:lay.n_outs]
    if not all(y in batched for y in ys):
        return False
    made = []

    def emit(name, operands, attrs, like=None):
        new = make_op(name, operands, attrs)
        new.loc = (like or op).loc
        block.insert_before(op, new)
        made.append(new)
        return new.results[0]
    steps = const_int(n)
    env = dict(nonseq_args(op))
    for arg, x in zip(body.args, lay.seqs):
        if op.attrs.get("go_backwards", False):
            x = emit("subtensor", [x], {"idx": ((None, None, -1),)})
        env[arg] = (emit("subtensor", [x], {"idx": ((None, steps, None),)}) if steps is not None else
                    emit("subtensor", [x, n], {"idx": ((None, DYN, None),)}))
    for inner in body.ops[:-1]:
        if inner.name == "constant":
            copy = inner.clone({})
            block.insert_before(op, copy)
            made.append(copy)
            env[inner.results[0]] = copy.results[0]
            continue
        got = _batched_op(inner, env, batched, emit)
        if got is None:
            block.remove_all(made)
            return False
        env[inner.results[0]] = got
    outs = [env[y] for y in ys]
    if any(o.type.dtype != r.type.dtype or o.ndim != r.ndim for o, r in zip(outs, op.results)):
        block.remove_all(made)          # (a bug guard: the rows would not be the loop's)
        return False
    for r, o in zip(op.results, outs):
        r.replace_all_uses_with(o)
    block.remove(op)
    return True


def _batched_op(inner, env, batched, emit):
    """The value of body op ``inner`` over all the steps (a leading step axis
    on every batched value), built with ``emit``; None when this op cannot be
    batched: one result, and elementwise, a reduction over ``axes``, a
    ``dimshuffle``, a ``subtensor`` of a row or a ``matmul``."""
    if len(inner.results) != 1 or inner.regions:
        return None
    operands = [env[v] for v in inner.operands]
    rows = [v in batched for v in inner.operands]
    if not any(rows):                   # invariant work: as it is (hoisting would have moved it)
        return emit(inner.name, operands, inner.attrs, inner) if inner.opdef.pure and not inner.opdef.random \
            else None
    d = inner.opdef
    if d.elementwise:
        rank = inner.results[0].ndim
        for k, v in enumerate(inner.operands):
            if rows[k] and v.ndim < rank:      # rows line up after the step axis
                operands[k] = emit("dimshuffle", [operands[k]],
                                   {"pattern": (0,) + ("x",) * (rank - v.ndim) + tuple(range(1, v.ndim + 1))})
        return emit(inner.name, operands, inner.attrs, inner)
    if inner.name == "subtensor" and rows[0] and not any(rows[1:]):     # rows indexed alike
        return emit(inner.name, operands, {**inner.attrs, "idx": ((None, None, None),) + tuple(inner.attrs["idx"])},
                    inner)
    if len(operands) != 1 and inner.name != "matmul":
        return None
    if d.reduces and "axes" in inner.attrs:
        return emit(inner.name, operands, {**inner.attrs, "axes": tuple(a + 1 for a in inner.attrs["axes"])}, inner)
    if inner.name == "dimshuffle":
        pattern = (0,) + tuple(p if p == "x" else p + 1 for p in inner.attrs["pattern"])
        return emit(inner.name, operands, {"pattern": pattern}, inner)
    if inner.name == "matmul":
        (a, b), (ra, rb) = inner.operands, rows
        if ra and rb:                   # both rows: a batched product of matrices
            return emit("matmul", operands, {}, inner) if a.ndim >= 2 and a.ndim == b.ndim else None
        if ra and b.ndim <= 2:          # rows @ W
            return emit("matmul", operands, {}, inner)
        if rb and a.ndim <= 2:          # W @ rows
            if b.ndim >= 2:
                return emit("matmul", operands, {}, inner)
            w = operands[0] if a.ndim == 1 else emit("dimshuffle", [operands[0]], {"pattern": (1, 0)})
            return emit("matmul", [operands[1], w], {}, inner)
    return None


class ScanBatch(BlockPass):
    name = "scan-batch"
    rewrite = staticmethod(batch_block)
