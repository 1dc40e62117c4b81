"""Dead code elimination: remove pure ops whose results nobody uses.

Ops are visited in reverse order, so a chain of dead ops goes in one sweep;
the blocks of regions are cleaned too (a region's terminator uses what the
body computes for the op's results). ``return``, terminators, impure ops,
and ops with a region whose body has side effects always stay.
"""
from dataclasses import dataclass

from ..ir.opdef import has_side_effects
from .manager import Pass


@dataclass
class DCE(Pass):
    name = "dce"

    def run(self, func):
        sweep_block(func.body)


def sweep_block(block):
    """Remove the dead ops of ``block`` (and of the regions inside it)."""
    for op in reversed(list(block.ops)):
        if is_dead(op):
            erase_op(op)
            continue
        for region in op.regions:
            sweep_block(region)


def is_dead(op):
    if op.name == "return" or has_side_effects(op):
        return False
    return all(not r.uses for r in op.results)


def erase_op(op):
    """Remove an unused op from its block (its regions go with it: they are
    isolated from above, so they hold no use of an outer value)."""
    op.parent.remove(op)
