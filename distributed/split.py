"""``data-parallel-split``: one training step -> a gradient part and an apply part.

A training step ``@f`` (``theon.function(inputs, loss, updates=[(w, w - lr*g)
...])``) becomes two IR functions:

``@f_grad``  the same arguments; returns the outputs, then the *reduced
             values*: the values every rank computes from its own shard of
             the batch and the update needs (the gradients); no updates.
``@f_apply`` arguments: the reduced values (``{allreduce = "mean", result = k}``:
             result k of ``@f_grad``, averaged over the ranks), then the
             shared variables the step updates; no outputs; the updates.

Where the cut goes. The values that may differ between ranks are those
depending on the step's inputs or on a shared variable the step does not
update (a data set, a minibatch set with ``set_value``): every rank holds the
same updated shared variables (the parameters), nothing else. Walking back from
each update value, the apply part takes

- every op none of whose operands differ between ranks (the weight decay's
  ``2*l2*W``, a learning-rate schedule: every rank computes the same), and
- every *elementwise* op over rank-dependent values (``w - lr*g``, Adam's
  ``g*g``, ``m/(sqrt(v)+eps)``): applied to the averaged values, it computes
  what one process computes from the gradient of the whole batch;

a rank-dependent value made by any other op (the ``matmul`` or ``sum`` that
reduces over the batch: a gradient) or an argument is cut: ``@f_grad``
returns it and it is averaged. So averaging happens on the raw gradients,
once per value, and optimizer arithmetic is applied once to the average.

The pass works on a module (it adds a function), so it runs from
``theon-opt --plugin theon.distributed.plugin -p data-parallel-split``;
``theon.distributed.mpi.DataParallel`` calls ``split_step`` on the step's
input IR and compiles both parts with the step's mode.
"""
import dataclasses

from ..ir.core import Function
from ..ir.builder import make_op
from ..passes import PASSES
from ..passes.manager import Pass

REDUCE_KINDS = ("mean", "sum")


class SplitPlan:
    """What ``split_step`` made: ``grad`` and ``apply`` (IR Functions),
    ``n_outputs`` (the step's outputs, the first results of ``grad``),
    ``reduced`` (the types of the values ``grad`` returns after them, in
    ``apply``'s argument order) and ``targets`` (per shared argument of
    ``apply``, the index of that argument in the step)."""

    def __init__(self, grad, apply, n_outputs, reduced, targets):
        self.grad = grad
        self.apply = apply
        self.n_outputs = n_outputs
        self.reduced = reduced
        self.targets = targets


def rank_dependent(func):
    """ids of the values of ``func`` that may differ between ranks: the
    non-shared arguments, the shared ones the function does not update, and
    every value computed from one of them."""
    updated = set(func.return_op.attrs.get("updates", ()))
    dependent = {id(a) for i, a in enumerate(func.args)
                 if "shared" not in func.arg_attrs[i] or i not in updated}
    for op in func.body.ops:
        if op.name != "return" and any(id(v) in dependent for v in op.operands):
            dependent.update(id(r) for r in op.results)
    return dependent


def split_step(func, reduce="mean"):
    """The gradient and apply parts of the training step ``func`` (an IR
    Function with updates; it is not changed), as a ``SplitPlan``."""
    if reduce not in REDUCE_KINDS:
        raise ValueError(f"split_step: reduce must be one of {REDUCE_KINDS}, got {reduce!r}")
    updates = func.updates
    if not updates:
        raise ValueError(f"split_step: @{func.name} updates no shared variable, so there is no "
                         "training step to split (give theon.function updates=[(w, w - lr*g), ...])")
    dependent = rank_dependent(func)
    cuts, seen_cut, apply_ops = [], set(), set()
    stack = [v for _, v in reversed(updates)]
    while stack:
        v = stack.pop()
        op = v.owner
        if id(v) in dependent and (op is None or not op.opdef.elementwise or len(op.results) != 1):
            if id(v) not in seen_cut:
                seen_cut.add(id(v))
                cuts.append(v)
            continue
        if op is None or op in apply_ops:
            continue            # an updated shared argument, or an op already taken
        apply_ops.add(op)
        stack.extend(reversed(op.operands))

    n_out = func.num_outputs
    grad = func.clone(func.name + "_grad")
    old_to_grad = dict(zip(func.args, grad.args))
    for old_op, new_op in zip(func.body.ops, grad.body.ops):
        old_to_grad.update(zip(old_op.results, new_op.results))
    ret = grad.return_op
    outs = list(ret.operands[:n_out]) + [old_to_grad[v] for v in cuts]
    grad.body.remove(ret)
    grad.body.append(make_op("return", outs, {"updates": ()}))

    targets = sorted({a.index for a, _ in updates})
    shared_args = [func.args[i] for i in targets]
    apply = Function(func.name + "_apply",
                     [v.type for v in cuts] + [a.type for a in shared_args],
                     [f"g{k}" for k in range(len(cuts))] + [a.name for a in shared_args],
                     [{"allreduce": reduce, "result": n_out + k} for k in range(len(cuts))]
                     + [dict(func.arg_attrs[i]) for i in targets])
    mapping = dict(zip(cuts, apply.args[:len(cuts)]))
    mapping.update(zip(shared_args, apply.args[len(cuts):]))
    for op in func.body.ops:
        if op in apply_ops:
            apply.body.append(op.clone(mapping))
    index = {t: len(cuts) + k for k, t in enumerate(targets)}
    apply.body.append(make_op("return", [mapping[v] for _, v in updates],
                              {"updates": tuple(index[a.index] for a, _ in updates)}))
    return SplitPlan(grad, apply, n_out, [v.type for v in cuts], targets)


@dataclasses.dataclass
class DataParallelSplit(Pass):
    """Replace each function with updates by ``@<f>_grad`` and ``@<f>_apply``."""
    name = "data-parallel-split"
    reduce: str = "mean"

    def run(self, func):
        raise TypeError("data-parallel-split turns one function into two, so it runs on a module "
                        "(PassManager.run(module), or theon-opt)")

    def run_on_module(self, module):
        out = []
        for func in module.functions:
            if func.updates:
                plan = split_step(func, self.reduce)
                out += [plan.grad, plan.apply]
            else:
                out.append(func)
        module.functions[:] = out


def register():
    """Make ``data-parallel-split`` a pass name of this process (what
    ``theon-opt --plugin theon.distributed.plugin`` does). Not done on import:
    the registry's passes each run on a single function, this one needs a
    module."""
    PASSES.setdefault(DataParallelSplit.name, DataParallelSplit)
