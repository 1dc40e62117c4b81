"""Common subexpression elimination.

Two pure ops with the same op definition, the same operands (by identity),
equal attributes and equal result types compute the same values: the later
one's results are replaced by the earlier one's and the later op is removed.
Attributes compare exactly: floats by their bits (so ``-0.0`` differs from
``0.0`` and a NaN equals itself), numpy arrays by dtype, shape and bytes,
``True`` differs from ``1``. Inside a region, ops may reuse equal ops of the
enclosing scopes; ops that carry regions, impure ops and ``return`` are
never merged.
"""
import struct
from dataclasses import dataclass

import numpy as np

from ..ir.core import DYN
from .manager import Pass


@dataclass
class CSE(Pass):
    name = "cse"

    def run(self, func):
        cse_block(func.body, {})


def cse_block(block, known):
    """``known`` maps op keys of the enclosing scopes to their ops."""
    known = dict(known)
    for op in list(block.ops):
        for region in op.regions:
            cse_block(region, known)
        if op.regions or op.name == "return" or not op.opdef.pure:
            continue
        key = op_key(op)
        first = known.get(key)
        if first is None:
            known[key] = op
            continue
        for old, new in zip(op.results, first.results):
            old.replace_all_uses_with(new)
        block.remove(op)


def op_key(op):
    return (id(op.opdef), tuple(id(v) for v in op.operands),
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
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return (type(value).__name__, value)
