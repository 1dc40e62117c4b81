"""Constant folding: an op whose operands are all constants becomes a
constant, computed by the op's own NumPy reference (``opdef.reference``),
so folding has exactly the semantics DEBUG mode checks against.

A result larger than ``max-elements`` (and larger than every operand) is
not materialized: ``alloc(0, 10000, 10000)`` stays an alloc. An op whose
reference raises (a bad reshape, an index out of range) is left alone, so
the error still happens at run time.
"""
from dataclasses import dataclass

import numpy as np

from ..ir.core import stored_elements
from ..ir.opdef import const_value
from .manager import Pass
from .rewrite import PyRule, apply_rules

def fold_op(rw, op):
    if op.name == "constant" or op.regions or not op.opdef.pure or op.opdef.random or not op.results:
        return False
    values = [const_value(v) for v in op.operands]
    if any(c is None for c in values):
        return False
    # (a splat operand counts as the one element it stores: never expanded)
    limit = max([getattr(rw.options, "max_elements", 4096)] + [stored_elements(c).size for c in values])
    for r in op.results:
        if None in r.type.shape or int(np.prod(r.type.shape, dtype=np.int64)) > limit:
            return False
    try:
        with np.errstate(all="ignore"):
            outs = op.opdef.reference(op, *[np.array(c) for c in values])
    except Exception:     # the op fails at run time; keep it so it still does
        return False
    new = []
    for r, out in zip(op.results, outs):
        out = np.asarray(out)
        if out.dtype != r.type.np_dtype or out.shape != r.type.shape:
            return False
        new.append(rw.create("constant", value=out))
    rw.replace(op, new)
    return True


FOLD = [PyRule("fold", (), fold_op)]


@dataclass
class ConstantFold(Pass):
    """Replace ops of constant operands by their value (see the module doc)."""
    name = "constant-fold"
    max_elements: int = 4096

    def run(self, func):
        apply_rules(func, FOLD, self)
