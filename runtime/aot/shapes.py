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
from ...ir.core import Operation
from ...ir.types import TensorType

def fix_arg_shapes(func, shapes):
    """Give argument i the static shape ``shapes[i]`` (None: leave it) and
    re-infer every result type top to bottom, keeping what is more precise.
    The state's shapes are fixed in an AOT build, so code generation and
    the update checks see them."""
    for arg, shape in zip(func.args, shapes):
        if shape is not None:
            if not arg.type.accepts_shape(shape):
                raise ValueError(f"argument {arg.name or arg.index} of type {arg.type} cannot "
                                 f"have shape {tuple(shape)}")
            arg.type = TensorType(arg.type.dtype, tuple(shape))
    for op in func.body.ops:
        if op.name == "return" or op.regions:
            continue
        for r, t in zip(op.results, op.opdef.infer(op)):
            if t.dtype == r.type.dtype and t.ndim == r.type.ndim:
                r.type = TensorType(t.dtype, tuple(d if d is not None else t_d
                                                   for d, t_d in zip(r.type.shape, t.shape)))


def _operand_roles(op):
    """Per operand of ``op``: 'shape' if the result shape needs only its
    shape, 'value' if it needs its value."""
    values = {id(v) for v in op.opdef.value_operands(op)}
    return ["value" if id(v) in values else "shape" for v in op.operands]


def _needs(roots):
    """(ids of values whose values are needed, argument indices among them)
    to know the shapes of ``roots`` ('shape', v) and values ('value', v)."""
    need_shape, need_value, args = set(), set(), set()
    stack = list(roots)
    while stack:
        kind, v = stack.pop()
        seen = need_shape if kind == "shape" else need_value
        if id(v) in seen:
            continue
        seen.add(id(v))
        op = v.owner
        if op is None:
            if kind == "value":
                args.add(v.index)
            continue
        if kind == "shape":
            stack.extend((role, o) for role, o in zip(_operand_roles(op), op.operands))
        elif op.name == "shape":
            stack.append(("shape", op.operands[0]))
        elif op.name != "constant":
            stack.extend(("value", o) for o in op.operands)
    return need_value, sorted(args)


def value_dependent_args(func, roots):
    """Indices of ``func``'s arguments whose values the shapes of ``roots``
    (values of ``func``) depend on."""
    return _needs([("shape", v) for v in roots])[1]


def shape_only_ops(func):
    """The elementwise ops of ``func`` whose result values nothing needs to
    compute ``func``'s results (only their shapes matter): in a shape
    function, all but the integer arithmetic on sizes."""
    need_value, _ = _needs([("value", v) for v in func.return_op.operands])
    return {op for op in func.body.ops
            if op.opdef.elementwise and not op.regions and all(id(r) not in need_value for r in op.results)}


def shape_function(func, name, checked_updates):
    """(shape function, results): the clone of ``func`` named ``name``
    returning shape(v) per output (('output', k)) and per update value
    (('update', j) for j in ``checked_updates``, else ('checked', j)), so
    every shape check of the entry happens in it too."""
    clone = func.clone(name)
    ret = clone.return_op
    n_out = clone.num_outputs
    picked = list(ret.operands)
    results = [("output", k) for k in range(n_out)]
    results += [("update" if j in checked_updates else "checked", j) for j in range(len(picked) - n_out)]
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


# --- output shapes as text, for the header ----------------------------------------------------------
def symbolic_shapes(func, arg_dims, values):
    """Per value of ``values`` (of ``func``), its dims as ints, names of
    input dims (``arg_dims[i]`` gives argument i's dims: ints or C names)
    or None where this simple propagation cannot tell. For documentation;
    ``NAME_output_shapes`` computes the real shapes."""
    env = {id(a): tuple(dims) for a, dims in zip(func.args, arg_dims)}
    for op in func.body.ops:
        if op.name == "return":
            break
        ins = {v: env.get(id(v), tuple(v.type.shape)) for v in op.operands}
        guess = op.opdef.dims(op, DimGuess(ins))
        for k, r in enumerate(op.results):
            static = tuple(r.type.shape)
            g = guess[k] if guess is not None and len(guess[k]) == len(static) else static
            env[id(r)] = tuple(s if s is not None else d for s, d in zip(static, g))
    return [env.get(id(v), tuple(v.type.shape)) for v in values]


class DimGuess:
    """The dim algebra of ``symbolic_shapes`` for an op's output-shape rule
    (``OpDef.dims``): dims are ints, C names or None (unknown)."""

    def __init__(self, ins):
        self.ins = ins

    def of(self, v):
        return self.ins[v]

    @staticmethod
    def broadcast(*dim_lists):
        nd = max((len(d) for d in dim_lists), default=0)
        padded = [(1,) * (nd - len(d)) + tuple(d) for d in dim_lists]
        return tuple(_same([p[a] for p in padded]) for a in range(nd))

    @staticmethod
    def size(n):
        return None

    @staticmethod
    def fresh(k):
        return None


def _same(dims):
    """Broadcast of several candidate sizes for one axis."""
    rest = {d for d in dims if d != 1}
    if not rest:
        return 1
    if len(rest) == 1:
        return rest.pop()
    return None
