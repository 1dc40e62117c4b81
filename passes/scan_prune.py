"""scan-prune: a loop stops computing outputs nobody uses.

An output of a region op that it declares droppable (``droppable_results``:
for ``scan``, those without taps, whose rows feed no later step) and whose
result has no use is removed from the op (``without_results``) and
the body's work that only it needed goes with it (DCE of the body). The
gradient's reverse scans gain most: they compute a gradient row for every
sequence tap, also of sequences the cost is not differentiated for.
(Outputs with taps stay: their rows are the loop's state.)
"""
from .dce import sweep_block
from .manager import BlockPass


def prune_block(block):
    for op in list(block.ops):
        for region in op.regions:
            prune_block(region)
        if not hasattr(op.opdef, "without_results"):
            continue
        drop = {j for j in op.opdef.droppable_results(op) if not op.results[j].uses}
        if not drop or len(drop) == len(op.results):
            continue        # nothing to drop; a wholly unused loop is DCE's
        new, where = op.opdef.without_results(op, drop)
        block.insert_before(op, new)
        for j, r in enumerate(op.results):
            if j in where:
                r.replace_all_uses_with(new.results[where[j]])
        block.remove(op)
        sweep_block(new.regions[0])


class ScanPrune(BlockPass):
    name = "scan-prune"
    rewrite = staticmethod(prune_block)
