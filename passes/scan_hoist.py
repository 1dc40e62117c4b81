"""scan-hoist: loop-invariant work leaves the loop.

An op of a ``scan`` body whose operands are all loop invariant -- the
body's non-sequence arguments (the same value at every step), constants,
and results of ops already hoisted -- computes the same at every step. If
it is also pure and draws no random numbers (``cse.mergeable``: no side
effects, also none in its regions) and reads at least one non-sequence
(work on constants alone is constant folding's), a copy of it runs once in
the enclosing block, before the loop, and its result reaches the body as a
new non-sequence (``Scan.with_region_operands``); the body's copy and the
work only it fed are removed. Constants a hoisted op reads are copied out
with it (the body keeps its own). Inner loops are hoisted first, so work
invariant in both loops leaves both. ``ifelse`` bodies are never hoisted
from: only the taken branch may run.

(Like Theano's ``scanOp_pushout_nonseqs_ops``, a hoisted op runs even when
the loop runs zero steps: an error it raises, e.g. a shape mismatch of an
invariant product, is then raised although no step would have run.)
"""
from ..ir.ops.control import Scan, ScanLayout
from .cse import mergeable
from .dce import sweep_block
from .manager import BlockPass


def is_scan(op):
    return isinstance(op.opdef, Scan)


def nonseq_args(op):
    """{body argument: the outer value it receives} for the non-sequences of scan ``op``."""
    lay = ScanLayout(op)
    body = op.regions[0]
    first = len(body.args) - len(lay.nonseqs)
    return dict(zip(body.args[first:], lay.nonseqs))


def replace_op(block, op, new, where=None):
    """Put ``new`` in ``op``'s place in ``block``: result ``j`` of ``op``
    becomes result ``where[j]`` (default ``j``) of ``new`` (those ``where``
    leaves out must be unused)."""
    block.insert_before(op, new)
    for j, r in enumerate(op.results):
        if where is None or j in where:
            r.replace_all_uses_with(new.results[j if where is None else where[j]])
    block.remove(op)
    return new


def hoist_block(block):
    """Apply the pass to the scans of ``block`` and of the regions inside it."""
    for op in list(block.ops):
        for region in op.regions:
            hoist_block(region)
        if is_scan(op):
            hoist_scan(block, op)


def hoist_scan(block, op):
    """Hoist the invariant work of scan ``op`` (in ``block``) in front of it;
    returns the scan now in its place."""
    body = op.regions[0]
    outer = nonseq_args(op)             # invariant body value -> its outer value
    reads_nonseq = set(outer)           # invariant values that depend on a non-sequence
    consts = {}                         # body constant -> its copy before the loop
    moved = []
    for inner in body.ops[:-1]:
        if inner.name == "constant" or not mergeable(inner):
            continue
        if not all(v in outer or _is_constant(v) for v in inner.operands):
            continue
        if not any(v in reads_nonseq for v in inner.operands):
            continue
        mapping = {}
        for v in inner.operands:
            if v in outer:
                mapping[v] = outer[v]
            else:
                if v not in consts:
                    copy = v.owner.clone({})
                    block.insert_before(op, copy)
                    consts[v] = copy.results[v.index]
                mapping[v] = consts[v]
        clone = inner.clone(mapping)
        block.insert_before(op, clone)
        outer.update(zip(inner.results, clone.results))
        reads_nonseq.update(inner.results)
        moved.append(inner)
    if not moved:
        return op
    gone = set(moved)
    take = [r for inner in moved for r in inner.results if any(u not in gone for u, _ in r.uses)]
    new, args = op.opdef.with_region_operands(op, 0, [outer[r] for r in take])
    replace_op(block, op, new)
    for r, a in zip(take, args):
        r.replace_all_uses_with(a)
    sweep_block(new.regions[0])
    return new


def _is_constant(v):
    return v.owner is not None and v.owner.name == "constant"


class ScanHoist(BlockPass):
    name = "scan-hoist"
    rewrite = staticmethod(hoist_block)
