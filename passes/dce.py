"""Dead code elimination: remove pure ops whose results nobody uses.

Ops are visited in reverse order, so a chain of dead ops goes in one sweep;
the blocks of regions are cleaned too (a region's terminator uses what the
body computes for the op's results). ``return``, terminators, impure ops,
and ops with a region whose body has side effects always stay.
"""
from ..ir.opdef import has_side_effects
from .manager import BlockPass


def sweep_block(block):
    """Remove the dead ops of ``block`` (and of the regions inside it), all
    at once (``Block.remove_all``): an op is dead when only dead ops use it."""
    dead = set()
    for op in reversed(block.ops):
        if is_dead(op, dead):
            dead.add(op)
            continue
        for region in op.regions:
            sweep_block(region)
    block.remove_all(dead)


class DCE(BlockPass):
    name = "dce"
    rewrite = staticmethod(sweep_block)


def is_dead(op, dead=()):
    """``op`` is pure and nothing but ops of ``dead`` uses its results."""
    if op.name == "return" or has_side_effects(op):
        return False
    return all(user in dead for r in op.results for user, _ in r.uses)
