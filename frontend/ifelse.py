"""``theon.ifelse.ifelse(condition, then_branch, else_branch)``: Theano's
lazy conditional.

The branches are ordinary graph values (one each, or lists of the same
length). The work only a branch needs -- every op it depends on that the
condition does not -- moves into a region of one ``ifelse`` op
(``ir/ops/control.py``), so only the chosen branch's ops run; values the
condition needs, inputs and shared variables are computed once outside and
passed in. (A value also used elsewhere in the graph is then computed
outside too: the region keeps its own copy.)
"""
from ..ir.core import Operation
from ..ir.dialect import get_op
from ..ir.ops.control import ancestors, outline
from .basic import as_tensor_variable, cast, is_weak
from .debug import built
from .variable import TensorVariable


def _pair(a, b, k):
    """Branch values ``a``, ``b`` as variables of one dtype (a weak Python
    number takes its partner's dtype) and one ndim."""
    weak_a, weak_b = is_weak(a), is_weak(b)
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim != b.ndim:
        raise TypeError(f"ifelse: value {k} is {a.type} in then_branch and {b.type} in else_branch: "
                        "the ndims must agree")
    if a.dtype != b.dtype:
        if weak_a and not weak_b:
            a = cast(a, b.dtype)
        elif weak_b and not weak_a:
            b = cast(b, a.dtype)
        else:
            raise TypeError(f"ifelse: value {k} is {a.type} in then_branch and {b.type} in else_branch: "
                            "the dtypes must agree (cast one)")
    return a, b


def ifelse(condition, then_branch, else_branch, name=None):
    """The values of ``then_branch`` if ``condition`` (a scalar; nonzero is
    true) holds, else those of ``else_branch``; only one branch runs.
    Each branch is a variable or a list of them (same length, dtypes and
    ndims pairwise; a Python number takes its partner's dtype)."""
    then_raw, listed = (list(then_branch), True) if isinstance(then_branch, (list, tuple)) else ([then_branch], False)
    else_raw = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(then_raw) != len(else_raw):
        raise ValueError(f"ifelse: then_branch has {len(then_raw)} values and else_branch "
                         f"{len(else_raw)}: they must have as many")
    then_vals, else_vals = [], []
    for k, (a, b) in enumerate(zip(then_raw, else_raw)):
        a, b = _pair(a, b, k)
        then_vals.append(a)
        else_vals.append(b)
    c = as_tensor_variable(condition)
    if c.ndim != 0:
        raise TypeError(f"ifelse: condition must be a scalar, got {c.type}")
    c = cast(c, "bool")          # nonzero is true
    # values the condition needs are computed anyway: keep them outside
    cond_side = set(ancestors([c], lambda v: False))
    regions, captured = [], []
    for vals in (then_vals, else_vals):
        block, capture = outline(vals, [], outside=lambda v: v in cond_side)
        regions.append(block)
        captured.append(capture)
    op = Operation(get_op("ifelse"), [c] + captured[0] + captured[1], {"n_then": len(captured[0])},
                   regions=regions, value_cls=TensorVariable)
    built(op)
    outs = list(op.results)
    if name is not None:
        for v in outs:
            v.name = name
    return outs if listed else outs[0]
