"""Canonicalization: put the IR in one normal form, so later passes (CSE,
stabilize, the backends) see fewer shapes of the same computation.

Rules, in the order tried:
    ALGEBRA        the data rules of ``passes/patterns.py`` (x*1, --x, x**2, ...)
    commute        operands of commutative ops in one order: constants last,
                   else by definition order -- so ``a*b`` and ``b*a`` CSE
    cast-same      cast(x) to x's own dtype -> x
    cast-cast      cast(cast(x, a), b) -> cast(x, b) when x -> a is lossless
    dimshuffle-id  dimshuffle(x) {pattern = [0, 1, ...]} -> x
    dimshuffle-dimshuffle  two dimshuffles (transposes) -> one
    reshape-reshape  reshape(reshape(x)) -> reshape(x)
    div-const      x / c -> x * (1/c) for a float constant c whose reciprocal
                   is exact (powers of two); any c with ``fast-math``
    sum-alloc      sum of a broadcast scalar -> scalar * count
    reduce-none    a reduction over no axes -> its operand
    stop-gradient  stop_gradient(x), grad_override(x, ...) -> x (only autodiff needed them)
    where-same     where(c, x, x) -> x
    SHAPE_RULES    alloc/reshape/sum_to no-ops, static sizes (``passes/shapes.py``)
    fold           constant folding (``passes/fold.py``), unless ``fold=false``

Options: ``fast-math`` (rules that change results for NaN/inf or rounding),
``fold``, ``max-elements`` (the folding size limit).
"""
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..ir.core import DYN, Operation
from ..ir.opdef import const_value
from ..ir.types import is_float
from .fold import FOLD
from .manager import Pass
from .patterns import ALGEBRA
from .rewrite import INVALID, PyRule, apply_rules
from .shapes import SHAPE_RULES

def _order_key(v):
    return (const_value(v) is not None, v.id)


def commute(rw, op):
    a, b = op.operands
    if _order_key(a) <= _order_key(b):
        return False
    # swapped in place: same result (commutative), no new op to build and infer
    op.set_operand(0, b)
    op.set_operand(1, a)
    rw.changes += 1
    rw.push(op)
    rw.push_users(op.results[0])
    return True


def cast_same(rw, op):
    x = op.operands[0]
    if x.dtype != op.results[0].dtype:
        return False
    rw.replace(op, x)
    return True


def cast_cast(rw, op):
    inner = op.operands[0].owner
    if inner is None or inner.name != "cast":
        return False
    x = inner.operands[0]
    if not np.can_cast(x.dtype, inner.results[0].dtype, "safe"):
        return False
    out = op.results[0].dtype
    rw.replace(op, x if x.dtype == out else rw.create("cast", x, dtype=out))
    return True


def dimshuffle_identity(rw, op):
    x = op.operands[0]
    if op.attrs["pattern"] != tuple(range(x.ndim)):
        return False
    rw.replace(op, x)
    return True


def dimshuffle_dimshuffle(rw, op):
    inner = op.operands[0].owner
    if inner is None or inner.name != "dimshuffle":
        return False
    p1 = inner.attrs["pattern"]
    pattern = tuple("x" if q == "x" else p1[q] for q in op.attrs["pattern"])
    rw.replace(op, rw.create("dimshuffle", inner.operands[0], pattern=pattern))
    return True


def reshape_reshape(rw, op):
    inner = op.operands[0].owner
    if inner is None or inner.name != "reshape":
        return False
    try:
        new = Operation(op.opdef, [inner.operands[0]] + op.operands[1:], op.attrs)
    except INVALID:      # the inner reshape fails at run time: keep it failing
        return False
    rw.replace(op, rw.insert(new).results)
    return True


def exact_reciprocal(c):
    """1/c (c's dtype) when x*(1/c) equals x/c for every x, else None."""
    with np.errstate(all="ignore"):
        r = np.asarray(np.ones((), c.dtype) / c).astype(c.dtype)
    for a, b in zip(c.flat, r.flat):
        if not np.isfinite(a) or a == 0:
            continue          # 1/inf = 0, 1/0 = inf, 1/nan = nan: exact
        if not np.isfinite(b) or Fraction(float(a)) * Fraction(float(b)) != 1:
            return None
    return r


def div_const(rw, op):
    x, c = op.operands
    value = const_value(c)
    if value is None or not is_float(c.dtype):
        return False
    r = exact_reciprocal(value)
    if r is None and getattr(rw.options, "fast_math", False):
        with np.errstate(all="ignore"):
            r = np.asarray(np.ones((), value.dtype) / value).astype(value.dtype)
    if r is None:
        return False
    rw.replace(op, rw.create("mul", x, rw.create("constant", value=r)))
    return True


def sum_alloc(rw, op):
    """sum(alloc(v, S), axes) of a 0-d v -> v * (number of elements summed),
    broadcast to the remaining shape."""
    alloc = op.operands[0].owner
    if alloc is None or alloc.name != "alloc" or alloc.operands[0].ndim != 0:
        return False
    v, dtype = alloc.operands[0], op.results[0].dtype
    if dtype == "bool":
        return False
    dyn = iter(alloc.operands[1:])
    sizes = [next(dyn) if d is DYN else d for d in alloc.attrs["shape"]]
    axes, keep = op.attrs["axes"], op.attrs["keepdims"]
    static, symbolic = 1, None
    for a in axes:
        if isinstance(sizes[a], int):
            static *= sizes[a]
        else:
            symbolic = sizes[a] if symbolic is None else rw.create("mul", symbolic, sizes[a])
    count = rw.const(static, dtype)
    if symbolic is not None:
        n = symbolic if symbolic.dtype == dtype else rw.create("cast", symbolic, dtype=dtype)
        count = n if static == 1 else rw.create("mul", n, count)
    total = rw.create("mul", v, count)
    rest = [(1 if a in axes else s) for a, s in enumerate(sizes) if keep or a not in axes]
    if rest:
        spec = tuple(s if isinstance(s, int) else DYN for s in rest)
        total = rw.create("alloc", total, *[s for s in rest if not isinstance(s, int)], shape=spec)
    rw.replace(op, total)
    return True


def reduce_none(rw, op):
    if op.attrs["axes"]:
        return False
    rw.replace(op, op.operands[0])
    return True


def forward_operand(rw, op):
    rw.replace(op, op.operands[0])
    return True


def where_same(rw, op):
    _, a, b = op.operands
    if a is not b or not rw.shapes.same(a, op.results[0]):
        return False
    rw.replace(op, a)
    return True


CANONICAL = [
    PyRule("commute", lambda d: d.bit_commutative, commute),
    PyRule("cast-same", ("cast",), cast_same),
    PyRule("cast-cast", ("cast",), cast_cast),
    PyRule("dimshuffle-id", ("dimshuffle",), dimshuffle_identity),
    PyRule("dimshuffle-dimshuffle", ("dimshuffle",), dimshuffle_dimshuffle),
    PyRule("reshape-reshape", ("reshape",), reshape_reshape),
    PyRule("div-const", ("div",), div_const),
    PyRule("sum-alloc", ("sum",), sum_alloc),
    PyRule("reduce-none", lambda d: d.reduces, reduce_none),
    PyRule("stop-gradient", lambda d: d.autodiff_only, forward_operand),
    PyRule("where-same", ("where",), where_same),
]


@dataclass
class Canonicalize(Pass):
    """Algebraic identities and normal forms (see the module doc)."""
    name = "canonicalize"
    fast_math: bool = False
    fold: bool = True
    max_elements: int = 4096

    def run(self, func):
        apply_rules(func, ALGEBRA + CANONICAL + SHAPE_RULES + (FOLD if self.fold else []), self)
