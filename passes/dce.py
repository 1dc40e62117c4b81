"""Dead code elimination: remove pure ops whose results nobody uses.

Ops are visited in reverse order, so a chain of dead ops goes in one sweep;
regions are cleaned too. ``return`` and impure ops always stay.
"""
from dataclasses import dataclass

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
    if op.name == "return" or not op.opdef.pure:
        return False
    return all(not r.uses for r in op.results)


def erase_op(op):
    """Remove an unused op from its block, the ops of its regions first, last
    to first, so no use of an enclosing value is left behind."""
    for region in op.regions:
        for inner in reversed(list(region.ops)):
            erase_op(inner)
    op.parent.remove(op)
