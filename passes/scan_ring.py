"""scan-ring: a loop keeps only the last rows of an output that nothing
after it reads more of.

A scan result whose every use takes rows from its end -- ``out[-i]``
(``subtensor`` with a constant negative index on the steps axis) or
``out[-i:]`` (a slice from a constant negative start to the end, step 1)
-- needs only its last ``k = max(i)`` rows; a recurrent output with no
use at all needs none (its rows are the loop's own state). The pass sets
the scan's ``last_rows[j] = k`` (at least 1): the result becomes those
last ``min(k, steps)`` rows, and the CPU lowering keeps a buffer of
``max(k, depth)`` rows used circularly instead of one row per step
(``codegen/cpu/lower/control.py``). The uses stay as they are: ``-i``
counted from the end picks the same row of either result, and is out of
range for the same number of steps.

It runs after autodiff: a gradient (BPTT) reads the whole sequence (the
reverse scan takes it as a sequence), which is a use of another kind, so
the pass leaves such a result alone. Results already pruned by
scan-prune are gone; the pass runs after it.
"""
from ..ir.ops.control import ScanLayout
from .manager import BlockPass


def _rows_from_end(use):
    """How many rows from the end the use ``(op, operand index)`` reads,
    or None when it may read any row."""
    op, i = use
    if op.name != "subtensor" or i != 0:
        return None
    idx = op.attrs.get("idx")
    if not idx:
        return None
    first = idx[0]
    if isinstance(first, int) and not isinstance(first, bool):
        return -first if first < 0 else None
    if isinstance(first, (tuple, list)) and len(first) == 3:
        start, stop, step = first
        if isinstance(start, int) and not isinstance(start, bool) and start < 0 and stop is None \
                and (step is None or step == 1):
            return -start
    return None


def rows_needed(result, recurrent):
    """The last rows every use of ``result`` together reads (>= 1), or None
    when some use may read earlier rows (or there is nothing to gain: an
    output without taps and no use is scan-prune's)."""
    if not result.uses:
        return 1 if recurrent else None
    need = 0
    for use in result.uses:
        k = _rows_from_end(use)
        if k is None:
            return None
        need = max(need, k)
    return need


def ring_block(block):
    for op in list(block.ops):
        for region in op.regions:
            ring_block(region)
        if op.name != "scan":
            continue
        lay = ScanLayout(op)
        last = list(lay.last_rows)
        for j, r in enumerate(op.results):
            if last[j]:
                continue
            k = rows_needed(r, j in lay.inits)
            if k is not None:
                last[j] = k
        if last == list(lay.last_rows):
            continue
        op.attrs["last_rows"] = tuple(last)
        for r, t in zip(op.results, op.opdef.infer(op)):
            r.type = t


class ScanRing(BlockPass):
    name = "scan-ring"
    rewrite = staticmethod(ring_block)
