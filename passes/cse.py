"""Common subexpression elimination.

Two pure ops with the same op definition, the same operands (by identity),
equal attributes and equal result types compute the same values: the later
one's results are replaced by the earlier one's and the later op is removed.
Attributes compare exactly: floats by their bits (so ``-0.0`` differs from
``0.0`` and a NaN equals itself), numpy arrays by dtype, shape and bytes,
``True`` differs from ``1``.

Scopes: each block is its own scope -- the body, and every region's block,
which starts empty (regions are isolated from above: an op inside a region
is never replaced by an equal op outside it, nor the other way round).
Ops that carry regions, ops with side effects (or random ones) and
terminators are never merged.
"""
import struct

import numpy as np

from ..ir.core import DYN, is_splat, stored_elements
from ..ir.opdef import has_side_effects
from .manager import BlockPass


def cse_block(block):
    """Merge equal ops of ``block``, then of each region's block, each in
    its own scope."""
    known = {}
    for op in list(block.ops):
        for region in op.regions:
            cse_block(region)
        if op.regions or not mergeable(op):
            continue
        key = op_key(op)
        first = known.get(key)
        if first is None:
            known[key] = op
            continue
        for old, new in zip(op.results, first.results):
            old.replace_all_uses_with(new)
        block.remove(op)


class CSE(BlockPass):
    name = "cse"
    rewrite = staticmethod(cse_block)


def mergeable(op):
    """``op`` computes values that an equal op may stand for: it has results,
    no side effects and draws no random numbers (terminators, effects and
    random draws are never merged)."""
    return bool(op.results) and not has_side_effects(op) and not op.opdef.random


def op_key(op, operands=None):
    """Equal for ops that compute the same: op, operands (``operands``, if
    given, in place of the op's own), attributes and result types."""
    return (id(op.opdef), tuple(id(v) for v in (op.operands if operands is None else operands)),
            tuple(sorted((k, attr_key(v)) for k, v in op.attrs.items())),
            tuple(r.type for r in op.results))


def attr_key(value):
    """A hashable key that is equal exactly when two attribute values are."""
    if value is DYN:
        return ("?",)
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, tuple):
        return ("tuple",) + tuple(attr_key(v) for v in value)
    if isinstance(value, np.ndarray):
        if is_splat(value):         # its one element: a splat is never expanded
            return ("splat", value.dtype.str, value.shape, stored_elements(value).tobytes())
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return (type(value).__name__, value)
