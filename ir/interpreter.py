"""Evaluate a Function with every op's NumPy reference.

This is the semantic oracle: DEBUG mode compares native results against it
and tests use it. It is never the execution path of a compiled function.
"""
import numpy as np


def evaluate_block(block, args, on_op=None):
    """Run ``block`` on argument arrays; returns {Value: array}.
    ``on_op(op, inputs, outputs)`` is called after every op."""
    env = dict(zip(block.args, args))
    for op in block.ops:
        if op.name == "return":
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
