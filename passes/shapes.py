"""Shape simplification (``simplify-shapes``).

    types          every result type is re-inferred, top to bottom, and kept
                   when it is more precise (a ``?`` that became known after
                   constants were folded)
    shape-static   shape(x) of a fully known shape -> a constant
    dim-known      shape(x)[k] of a known dim -> a constant; of a dim known to
                   equal an earlier value's dim -> that one (so CSE merges them)
    static-sizes   a dynamic size/index operand that is a constant moves into
                   the attribute: alloc(v, %c5) {shape=[?]} -> alloc(v) {shape=[5]}
    alloc-noop     alloc(v) to v's own shape -> v  (likewise reshape, sum_to)
    alloc-alloc    alloc(alloc(v, S1), S2) -> alloc(v, S2)
    broadcast-operand  an elementwise operand alloc(v) -> v where broadcasting
                   gives the op the same shape anyway
    alloc-sink     an elementwise op or dimshuffle of alloc(v, S) -> alloc of
                   the op on v, when every other operand fits S: the op runs
                   on the small tensor (neg(alloc(1, n)) -> alloc(-1, n))

"Same shape" is decided symbolically (``passes/symbolic.py``), so these
work for sizes known only at run time. Canonicalize runs these rules too.
"""
from dataclasses import dataclass

import numpy as np

from ..ir.core import DYN, Operation
from ..ir.opdef import const_int
from .manager import Pass
from .rewrite import INVALID, PyRule, apply_rules
from .symbolic import SymbolicShapes, alive, broadcast_dims

def _same_shape_floating(rw, op, operands, attrs=None):
    """Build ``op`` with new operands as a floating op; keep it only if its
    result has the same dtype and symbolic shape as ``op``'s."""
    try:
        new = Operation(op.opdef, operands, op.attrs if attrs is None else attrs)
    except INVALID:
        return None
    if not rw.shapes.same(new.results[0], op.results[0]):
        return None
    return rw.insert(new).result


# --- rules -------------------------------------------------------------------------------
def shape_static(rw, op):
    dims = rw.shapes.dims(op.operands[0])
    if not all(isinstance(d, int) for d in dims):
        return False
    rw.replace(op, rw.create("constant", value=np.array(dims, dtype=np.int64)))
    return True


def dim_known(rw, op):
    src = op.operands[0].owner
    idx = op.attrs["idx"]
    if (len(op.operands) != 1 or src is None or src.name != "shape" or len(idx) != 1
            or not isinstance(idx[0], int) or isinstance(idx[0], bool)):
        return False
    x = src.operands[0]
    k = idx[0] % max(x.ndim, 1)
    d = rw.shapes.dims(x)[k]
    if isinstance(d, int):
        rw.replace(op, rw.const(d, "int64"))
        return True
    if len(d) != 1:
        return False
    kind, w, *j = next(iter(d))
    if not alive(w, rw.block):
        return False
    if kind == "int" and w.dtype == "int64" and w.ndim == 0:
        rw.replace(op, w)
        return True
    if kind == "dim" and (w is not x or j[0] != k) and w.owner is not op:
        rw.replace(op, rw.create("subtensor", rw.create("shape", w), idx=(j[0],)))
        return True
    return False


def static_sizes(rw, op):
    key, first = op.opdef.size_attr, op.opdef.first_dyn
    dyn = op.operands[first:]
    consts = [const_int(v) for v in dyn]
    if all(c is None for c in consts):
        return False
    it = iter(zip(dyn, consts))
    kept = []

    def sub(entry):
        if isinstance(entry, tuple):
            return tuple(sub(e) for e in entry)
        if entry is not DYN:
            return entry
        v, c = next(it)
        if c is None:
            kept.append(v)
            return DYN
        return c

    attrs = dict(op.attrs)
    attrs[key] = sub(op.attrs[key])
    new = _same_shape_floating(rw, op, op.operands[:first] + kept, attrs)
    if new is None:
        return False
    rw.replace(op, new)
    return True


def size_noop(rw, op):
    """An op sized by a ``shape`` attribute (alloc/reshape/sum_to: operand 0
    broadcast, reshaped or summed to it) whose result has operand 0's shape."""
    x = op.operands[0]
    if not rw.shapes.same(x, op.results[0]):
        return False
    rw.replace(op, x)
    return True


def alloc_alloc(rw, op):
    inner = op.operands[0].owner
    if inner is None or inner.name != "alloc":
        return False
    new = _same_shape_floating(rw, op, [inner.operands[0]] + op.operands[1:])
    if new is None:
        return False
    rw.replace(op, new)
    return True


def broadcast_operand(rw, op):
    """op(alloc(v, S), w) -> op(v, w) when that has the same shape, or when w
    alone broadcasts to the op's shape (the alloc checked that v fits S)."""
    if not op.opdef.elementwise or not any(v.owner is not None and v.owner.name == "alloc" for v in op.operands):
        return False
    out = rw.shapes.dims(op.results[0])
    for i, v in enumerate(op.operands):
        if v.owner is None or v.owner.name != "alloc":
            continue
        others = [rw.shapes.dims(o) for j, o in enumerate(op.operands) if j != i]
        value = v.owner.operands[0]
        operands = list(op.operands)
        operands[i] = value
        try:
            new = Operation(op.opdef, operands, op.attrs)
        except INVALID:
            continue
        covered = broadcast_dims(*others) == out and value.ndim <= len(out)
        if not covered and not rw.shapes.same(new.results[0], op.results[0]):
            continue
        rw.replace(op, rw.insert(new).result)
        return True
    return False


def alloc_sink(rw, op):
    if op.opdef.elementwise:
        return _sink_elementwise(rw, op)
    if op.name == "dimshuffle":
        return _sink_dimshuffle(rw, op)
    return False


def _sink_elementwise(rw, op):
    for i, v in enumerate(op.operands):
        alloc = v.owner
        if alloc is None or alloc.name != "alloc":
            continue
        target = rw.shapes.dims(v)
        if not all(rw.shapes.fits(o, target) for j, o in enumerate(op.operands) if j != i):
            continue
        operands = list(op.operands)
        operands[i] = alloc.operands[0]
        try:
            inner = Operation(op.opdef, operands, op.attrs)
            outer = Operation(alloc.opdef, [inner.result] + alloc.operands[1:], alloc.attrs)
        except INVALID:
            continue
        if rw.shapes.same(outer.result, op.results[0]):
            rw.insert(inner)
            rw.replace(op, rw.insert(outer).result)
            return True
    return False


def _sink_dimshuffle(rw, op):
    alloc = op.operands[0].owner
    if alloc is None or alloc.name != "alloc" or alloc.operands[0].ndim != 0:
        return False
    dyn = iter(alloc.operands[1:])
    sizes = [next(dyn) if d is DYN else d for d in alloc.attrs["shape"]]
    picked = [1 if p == "x" else sizes[p] for p in op.attrs["pattern"]]
    spec = tuple(d if isinstance(d, int) else DYN for d in picked)
    dyn_values = [d for d in picked if not isinstance(d, int)]
    new = _same_shape_floating(rw, alloc, [alloc.operands[0]] + dyn_values, {"shape": spec})
    if new is None:
        new = rw.insert(Operation(alloc.opdef, [alloc.operands[0]] + dyn_values, {"shape": spec})).result
    rw.replace(op, new)
    return True


SHAPE_RULES = [
    PyRule("shape-static", ("shape",), shape_static),
    PyRule("dim-known", ("subtensor",), dim_known),
    PyRule("static-sizes", lambda d: d.size_attr is not None, static_sizes),
    PyRule("alloc-noop", lambda d: d.size_attr == "shape" and d.first_dyn == 1 and not d.random,   # operand 0 resized
           size_noop),
    PyRule("alloc-alloc", ("alloc",), alloc_alloc),
    PyRule("broadcast-operand", (), broadcast_operand),
    PyRule("alloc-sink", (), alloc_sink),
]


# --- types ----------------------------------------------------------------------------------
def refine_types(func):
    """Re-infer result types top to bottom; a result's type gains every size
    that inference now knows. Returns the number of types refined."""
    count = 0
    memo = {}
    for op in func.walk("post"):      # a region op after its body (fused infers from it)
        if not op.results or all(None not in r.type.shape for r in op.results):
            continue          # nothing left to learn
        inferred = _infer(op, memo)
        if inferred is None:
            continue
        for r, t in zip(op.results, inferred):
            if t.dtype != r.type.dtype or t.ndim != r.type.ndim:
                continue
            shape = tuple(d if d is not None else i for d, i in zip(r.type.shape, t.shape))
            if shape != r.type.shape:
                r.type = r.type.with_shape(shape)
                count += 1
    return count


def _infer(op, memo):
    """The result types ``op`` infers, None when inference fails (the
    verifier reports broken ops). An elementwise op's follow from its
    attributes and operand types alone: ``memo`` keeps them by those."""
    key = None
    if op.opdef.elementwise and not op.regions:
        try:
            key = (op.opdef, tuple(op.attrs.items()), tuple(v.type for v in op.operands))
            known = memo.get(key)
        except TypeError:     # an unhashable attribute
            key = known = None
        if known is not None:
            return known
    try:
        inferred = op.opdef.infer(op)
    except Exception:     # noqa: BLE001
        return None
    if key is not None:
        memo[key] = inferred
    return inferred


@dataclass
class SimplifyShapes(Pass):
    """Fold what is known about shapes (see the module doc)."""
    name = "simplify-shapes"

    def run(self, func):
        refine_types(func)
        apply_rules(func, SHAPE_RULES, self, SymbolicShapes())
        refine_types(func)
