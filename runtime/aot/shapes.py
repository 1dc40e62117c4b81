"""Output shapes without running the entry: the shape function of an entry.

``shape_function(func, checked_updates)`` clones ``func`` into a function
that returns, instead of the outputs and updates, ``shape(v)`` of every
output that is not 0-d and of every update value whose shape must be
checked against the fixed state shape; dead code is removed.
``NAME_output_shapes`` calls it.

``value_dependent_args(func, roots)`` finds the arguments whose *values*
(not only dims) those shapes depend on: reshape/alloc sizes, subtensor
bounds and arange bounds computed from input data. When there are none,
the shape function is called with a zeroed scratch element broadcast to
each argument's dims (stride 0), so C code asks for shapes by dims alone.
"""
from ...ir.builder import make_op
from ...ir.core import DYN, Operation
from ...ir.parser import parse_function
from ...ir.printer import print_function

# ops whose result shape is a function of their operands' shapes only
SHAPE_ONLY = frozenset({
    "sum", "prod", "max", "min", "argmax", "argmin", "matmul", "dimshuffle", "concatenate",
    "shape", "constant", "stop_gradient", "fused", "return",
})
# ops whose result shape needs the values of every operand
VALUE_SHAPED = frozenset({"arange"})


def _count_dyn(attr):
    if attr is DYN:
        return 1
    if isinstance(attr, tuple):
        return sum(_count_dyn(a) for a in attr)
    return 0


def _operand_roles(op):
    """Per operand of ``op``: 'shape' if the result shape needs only its
    shape, 'value' if it needs its value."""
    n = len(op.operands)
    if op.opdef.elementwise or op.name in SHAPE_ONLY:
        return ["shape"] * n
    if op.name in VALUE_SHAPED:
        return ["value"] * n
    n_dyn = sum(_count_dyn(v) for v in op.attrs.values())
    if n_dyn:
        return ["shape"] * (n - n_dyn) + ["value"] * n_dyn
    return ["value"] * n       # an op this analysis does not know: assume the worst


def value_dependent_args(func, roots):
    """Indices of ``func``'s arguments whose values the shapes of ``roots``
    (values of ``func``) depend on."""
    need_shape, need_value, found = set(), set(), set()
    stack = [("shape", v) for v in roots]
    while stack:
        kind, v = stack.pop()
        seen = need_shape if kind == "shape" else need_value
        if id(v) in seen:
            continue
        seen.add(id(v))
        op = v.owner
        if op is None:
            if kind == "value":
                found.add(v.index)
            continue
        if kind == "shape":
            stack.extend((role, o) for role, o in zip(_operand_roles(op), op.operands))
        elif op.name == "shape":
            stack.append(("shape", op.operands[0]))
        elif op.name != "constant":
            stack.extend(("value", o) for o in op.operands)
    return sorted(found)


def shape_function(func, name, checked_updates):
    """(shape function, results): the clone of ``func`` named ``name``
    returning shape(v) per output that is not 0-d (('output', k)) and per
    update position j in ``checked_updates`` ((('update', j)))."""
    clone = parse_function(print_function(func), f"<shapes of @{func.name}>")
    clone.name = name
    ret = clone.return_op
    n_out = clone.num_outputs
    picked, results = [], []
    for k, v in enumerate(ret.operands[:n_out]):
        if v.type.ndim:
            picked.append(v)
            results.append(("output", k))
    for j, v in enumerate(ret.operands[n_out:]):
        if j in checked_updates and v.type.ndim:
            picked.append(v)
            results.append(("update", j))
    body = clone.body
    body.remove(ret)
    shapes = []
    for v in picked:
        op = make_op("shape", [v])
        body.append(op)
        shapes.append(op.result)
    body.append(Operation(ret.opdef, shapes, {"updates": ()}))
    from ...passes import PASSES
    PASSES["dce"]().run(clone)
    return clone, results
