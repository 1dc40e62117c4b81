"""gemm-epilogue: a matrix product scaled and added to a matrix becomes one
``matmul_update`` op (``ir/ops/linalg.py``), so the CPU GEMM adds it while
each tile of the product is still in registers: the product is written
once, not written, read and written again (an SGD step ``W - lr * g`` with
``g = X^T @ d``: one pass over W's size fewer).

    %p = matmul(%a, %b)
    %s = mul(%p, %k)              # %k: a constant, every element one number
    %w2 = sub(%w, %s)       ->    %w2 = matmul_update(%a, %b, %w) {alpha = -k}

(also ``add(%w, %s)``/``add(%s, %w)``: alpha = k; ``mul(%k, %p)``). Only where
nothing else reads %p or %s, the product is of two float matrices, %w a
matrix of their dtype, and %k does not broadcast %p up. ``c + p * alpha``
is what the ops compute, bit for bit (``-(x*k) == x*(-k)`` and ``w - y ==
w + (-y)`` in IEEE arithmetic). Runs in fast_run before fuse-elementwise;
``target=gpu`` leaves the IR as it is (the PTX backend has no such op).
"""
import dataclasses

from ..ir.builder import make_op
from .manager import Pass
from .rewrite import INVALID, PyRule, apply_rules, splat_value

FLOATS = ("float32", "float64")


def _only_use(v, op):
    return len(v.uses) == 1 and v.uses[0][0] is op


def _scaled_product(v, op):
    """(matmul op, k) when ``v`` = mul(matmul(a, b), k) read only by ``op``, else None."""
    mul = v.owner
    if mul is None or mul.name != "mul" or not _only_use(v, op) or mul.parent is not op.parent:
        return None
    for p, k in (mul.operands, mul.operands[::-1]):
        mm = p.owner
        if mm is None or mm.name != "matmul" or mm.parent is not op.parent or not _only_use(p, mul):
            continue
        if p.type.ndim != 2 or any(x.type.ndim != 2 for x in mm.operands) or p.dtype not in FLOATS:
            continue
        if v.type != p.type or k.type.ndim > 2 or any(d != 1 for d in k.type.shape) or k.dtype != p.dtype:
            continue
        value = splat_value(k)
        if value is None:
            continue
        return mm, float(value)
    return None


def gemm_update(rw, op):
    out = op.results[0].type
    if out.ndim != 2 or out.dtype not in FLOATS:
        return False
    for ci, si in [(0, 1)] if op.name == "sub" else [(0, 1), (1, 0)]:
        c, s = op.operands[ci], op.operands[si]
        if c.type.ndim != 2 or c.dtype != out.dtype:
            continue
        found = _scaled_product(s, op)
        if found is None:
            continue
        mm, k = found
        alpha = -k if op.name == "sub" else k
        try:
            new = make_op("matmul_update", [mm.operands[0], mm.operands[1], c], {"alpha": alpha})
        except INVALID:
            return False
        if new.results[0].type != out:
            return False
        rw.insert(new)
        rw.replace(op, new.result)
        return True
    return False


RULES = [PyRule("gemm-update", ("add", "sub"), gemm_update)]


@dataclasses.dataclass
class GemmEpilogue(Pass):
    """c +- matmul(a, b) * k as one matmul_update op (see the module doc)."""
    name = "gemm-epilogue"
    target: str = "cpu"

    def run(self, func):
        if self.target == "cpu":
            apply_rules(func, RULES, self)
