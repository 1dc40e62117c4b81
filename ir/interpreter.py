"""Evaluate a Function with every op's NumPy reference.

This is the semantic oracle: DEBUG mode compares native results against it
and tests use it. It is never the execution path of a compiled function.
"""
import numpy as np


def evaluate_block(block, args, on_op=None):
    """Run ``block`` on argument arrays; returns {Value: array}.
    ``on_op(op, inputs, outputs)`` is called after every op. The block's
    terminator (``return``, or the ``terminator`` its region's op declares)
    is not run: its operands are the block's results (``run_region``). Ops
    with regions run through their reference, which evaluates their bodies
    with ``run_region`` (isolated from above, a body needs no outer values)."""
    if len(args) != len(block.args):
        raise ValueError(f"block takes {len(block.args)} arguments, got {len(args)}")
    env = dict(zip(block.args, args))
    terminator = _terminator(block)
    for op in block.ops:
        if op is terminator:
            continue
        ins = [env[v] for v in op.operands]
        outs = op.opdef.reference(op, *ins)
        if len(outs) != len(op.results):
            raise RuntimeError(f"{op.name}: reference returned {len(outs)} results")
        for r, a in zip(op.results, outs):
            a = np.asarray(a)
            if a.dtype != r.type.np_dtype or a.ndim != r.type.ndim:
                raise RuntimeError(f"{op.name}: reference gave {a.dtype}{list(a.shape)}, "
                                   f"inferred type is {r.type}")
            env[r] = a
        if on_op is not None:
            on_op(op, ins, outs)
    return env


def _terminator(block):
    last = block.terminator
    owner = block.parent
    if last is None:
        return None
    if last.name == "return" or (hasattr(owner, "opdef") and last.name == owner.opdef.terminator):
        return last
    return None


def run_region(block, args):
    """The values of a region's terminator operands when its block runs on
    ``args`` (arrays, one per block argument): what a region op's reference
    calls to evaluate its body."""
    env = evaluate_block(block, [np.asarray(a) for a in args])
    terminator = _terminator(block)
    if terminator is None:
        raise ValueError("run_region: the block has no terminator")
    return [env[v] for v in terminator.operands]


def evaluate(func, args):
    """Outputs and update values of ``func`` for argument arrays ``args``
    (inputs then shared values): (outputs, [(shared arg index, new value)])."""
    if len(args) != len(func.args):
        raise ValueError(f"@{func.name} takes {len(func.args)} arguments, got {len(args)}")
    env = evaluate_block(func.body, [np.asarray(a) for a in args])
    ret = func.return_op
    vals = [env[v] for v in ret.operands]
    n = func.num_outputs
    return vals[:n], list(zip(ret.attrs.get("updates", ()), vals[n:]))
