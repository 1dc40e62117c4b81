"""scan-merge: two loops of the same steps become one.

Two ``scan`` ops of one block with the same number of steps (the same
``n_steps`` value), the same ``go_backwards`` and ``truncate_gradient``,
neither a while-loop (``until``), where the later one does not depend on
the earlier one's results, and neither has side effects, run as one scan: its sequences, initial states
and non-sequences are the first loop's then the second's (a sequence with
the same value and taps, or a non-sequence with the same value, is passed
once), its body runs the first body then the second, and it yields the
first loop's outputs then the second's. The merged loop takes the later
loop's place; the ops between the two that use the earlier loop's results
move after it. CSE then shares the work both bodies did (the same
sequence row times the same matrix, say). Like Theano's ``scanOp_merge``.
"""
from ..ir.core import Block, Operation
from ..ir.opdef import has_side_effects
from ..ir.ops.control import ScanLayout
from .manager import BlockPass
from .scan_hoist import is_scan


def _key(op):
    a = op.attrs
    # (a print's lines would interleave; a scan-ring loop keeps its outputs' last rows only)
    if a.get("until", False) or has_side_effects(op) or any(a.get("last_rows", ())):
        return None
    return (id(op.operands[0]), a.get("go_backwards", False), a.get("truncate_gradient", -1))


def merge_block(block):
    """Apply the pass to the scans of ``block`` and of the regions inside it."""
    for op in block.ops:
        for region in op.regions:
            merge_block(region)
    merged = True
    while merged:
        merged = False
        seen = {}           # key -> the earlier scans with that key, in order
        for op in list(block.ops):
            if not is_scan(op):
                continue
            key = _key(op)
            if key is None:
                continue
            for first in seen.get(key, []):
                if _independent(block, first, op):
                    merge_pair(block, first, op)
                    merged = True
                    break
            if merged:
                break
            seen.setdefault(key, []).append(op)


def _after_users(block, first, second):
    """The ops between ``first`` and ``second`` that depend on ``first``, in
    order, and whether ``second`` does."""
    tainted = set(first.results)
    moved = []
    for op in block.ops[block.index(first) + 1:block.index(second) + 1]:
        if any(v in tainted for v in op.operands):
            if op is second:
                return moved, True
            tainted.update(op.results)
            moved.append(op)
    return moved, False


def _independent(block, first, second):
    return not _after_users(block, first, second)[1]


def merge_pair(block, first, second):
    """Merge scan ``first`` into the later scan ``second`` (see the module doc)."""
    moved, _ = _after_users(block, first, second)
    la, lb = ScanLayout(first), ScanLayout(second)
    ba, bb = first.regions[0], second.regions[0]
    na, nb = len(la.arg_types()) - len(la.nonseqs), len(lb.arg_types()) - len(lb.nonseqs)
    seq_taps_a = sum(len(t) for t in la.seq_taps)
    seq_taps_b = sum(len(t) for t in lb.seq_taps)

    # sequences: the first loop's, then those of the second it does not have
    seqs, taps = list(la.seqs), list(la.seq_taps)
    where_b = []        # per sequence of the second loop: its index in ``seqs``
    for x, t in zip(lb.seqs, lb.seq_taps):
        same = [i for i, (y, u) in enumerate(zip(seqs, taps)) if y is x and u == t]
        if same:
            where_b.append(same[0])
        else:
            where_b.append(len(seqs))
            seqs.append(x)
            taps.append(t)
    nonseqs = list(la.nonseqs)
    wb = []
    for w in lb.nonseqs:
        same = [k for k, v in enumerate(nonseqs) if v is w]
        if same:
            wb.append(same[0])
        else:
            wb.append(len(nonseqs))
            nonseqs.append(w)

    arg_types, arg_names = [], []
    seq_first = []
    for x, t in zip(seqs, taps):
        seq_first.append(len(arg_types))
        arg_types += [x.type.with_shape(x.type.shape[1:])] * len(t)
        arg_names += [x.name] * len(t)
    out_a = ba.args[seq_taps_a:na]
    out_b = bb.args[seq_taps_b:nb]
    out_first = len(arg_types)
    for a in list(out_a) + list(out_b):
        arg_types.append(a.type)
        arg_names.append(a.name)
    w_first = len(arg_types)
    arg_types += [w.type for w in nonseqs]
    arg_names += [w.name for w in nonseqs]
    body = Block(arg_types, arg_names)
    args = body.args

    map_a = dict(zip(ba.args[:seq_taps_a], args[:seq_taps_a]))
    map_a.update(zip(out_a, args[out_first:out_first + len(out_a)]))
    map_a.update(zip(ba.args[na:], args[w_first:w_first + len(la.nonseqs)]))
    map_b = {}
    pos = 0
    for i, t in enumerate(lb.seq_taps):
        s = seq_first[where_b[i]]
        map_b.update(zip(bb.args[pos:pos + len(t)], args[s:s + len(t)]))
        pos += len(t)
    map_b.update(zip(out_b, args[out_first + len(out_a):w_first]))
    map_b.update(zip(bb.args[nb:], [args[w_first + k] for k in wb]))
    ys = []
    for block_in, mapping in ((ba, map_a), (bb, map_b)):
        for inner in block_in.ops[:-1]:
            body.append(inner.clone(mapping))
        ys += [mapping.get(v, v) for v in block_in.ops[-1].operands]
    body.append(Operation(ba.ops[-1].opdef, ys, {}))

    attrs = {**second.attrs, "seq_taps": tuple(tuple(t) for t in taps),
             "out_taps": tuple(la.out_taps) + tuple(lb.out_taps)}
    names = [n for n in (first.attrs.get("name"), second.attrs.get("name")) if n]
    if names:
        attrs["name"] = "+".join(names)
    elif "name" in attrs:
        del attrs["name"]
    operands = ([la.n_steps] + seqs + list(first.operands[la.first_init:la.first_nonseq])
                + list(second.operands[lb.first_init:lb.first_nonseq]) + nonseqs)
    results = list(first.results) + list(second.results)
    new = Operation(second.opdef, operands, attrs, [r.type for r in results], [body],
                    type(second.results[0]), [r.name for r in results])
    new.loc = second.loc
    block.insert_before(second, new)
    for old, r in zip(results, new.results):
        old.replace_all_uses_with(r)
    # the ops that used the first loop's results now follow the merged loop
    _move_after(block, moved, new)
    block.remove(second)
    block.remove(first)
    return new


def _move_after(block, ops, anchor):
    """Move ``ops`` (in order) right after ``anchor`` in ``block``, keeping their uses."""
    if not ops:
        return
    gone = set(ops)
    rest = [op for op in block.ops if op not in gone]
    at = rest.index(anchor) + 1
    block.ops[:] = rest[:at] + list(ops) + rest[at:]
    block.__dict__.pop("_op_hints", None)        # positions changed: Block.index rebuilds its hints
    block.__dict__.pop("_op_drift", None)


class ScanMerge(BlockPass):
    name = "scan-merge"
    rewrite = staticmethod(merge_block)
