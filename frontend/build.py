"""From the user's floating graph to an IR Function.

``build_function`` clones the part of the graph that the outputs and update
values need into a new ``ir.Function``, substituting ``givens`` on the way;
the user's graph is never changed. The Function's arguments are the given
inputs, then every shared variable the graph reads (in discovery order).
"""
from ..ir.core import Function, Operation, Value
from ..ir.dialect import get_op


class MissingInputError(ValueError):
    pass


def check_replacement(var, rep, what="givens"):
    """A replacement must have its variable's dtype and ndim and a
    compatible static shape (TypeError / ValueError naming ``what``)."""
    if rep.type.dtype != var.type.dtype or rep.type.ndim != var.type.ndim:
        raise TypeError(f"{what}: replacement for {_label(var)} has type {rep.type}, "
                        f"expected dtype {var.type.dtype} and ndim {var.type.ndim}")
    for a, b in zip(var.type.shape, rep.type.shape):
        if a is not None and b is not None and a != b:
            raise ValueError(f"{what}: replacement for {_label(var)} has shape {rep.type.shape}, "
                             f"incompatible with {var.type.shape}")


def _label(v):
    return repr(v.name) if v.name else str(v.type)


def _postorder(roots, givens):
    """Original values in dependency order (operands before users),
    following givens; iterative so deep graphs do not hit recursion limits."""
    order, seen = [], set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        v, expanded = stack.pop()
        v = givens.get(v, v)
        if expanded:
            if v not in seen:
                seen.add(v)
                order.append(v)
            continue
        if v in seen:
            continue
        stack.append((v, True))
        if v.owner is not None:
            for o in reversed(v.owner.operands):
                o = givens.get(o, o)
                if o not in seen:
                    stack.append((o, False))
    return order


def build_function(inputs, outputs, updates=(), givens=None, name="f"):
    """Clone the graph of ``outputs`` and ``updates`` into an IR Function.

    inputs:  list of owner-less, non-shared TensorVariables (the call's arguments)
    outputs: list of variables; updates: list of (shared variable, expression)
    givens:  dict {variable: replacement expression}
    Returns (func, shared_vars): shared_vars are the shared variables that
    follow the inputs among the function's arguments.
    """
    givens = dict(givens or {})
    for var, rep in givens.items():
        check_replacement(var, rep)
    for i, v in enumerate(inputs):
        if v.owner is not None:
            raise TypeError(f"input {i} ({_label(v)}) is not a free variable: it is computed by "
                            f"{v.owner.name}; inputs must be variables like T.matrix()")
        if v.is_shared:
            raise TypeError(f"input {i} ({_label(v)}) is a shared variable; shared variables are "
                            "implicit inputs and cannot be listed in inputs")
    if len(set(inputs)) != len(inputs):
        raise ValueError("the same variable is listed twice in inputs")
    for s, _ in updates:
        if not getattr(s, "is_shared", False):
            raise TypeError(f"update target {_label(s)} is not a shared variable")

    roots = list(outputs) + [u for _, u in updates]
    order = _postorder(roots, givens)
    input_set = set(inputs)
    shared = [v for v in order if v.owner is None and v.is_shared and v not in input_set]
    for s, _ in updates:
        if s not in shared:
            shared.append(s)
    for v in order:
        if v.owner is None and not v.is_shared and v not in input_set:
            raise MissingInputError(
                f"variable {_label(v)} is needed to compute the outputs but is not in inputs "
                f"(nor replaced by givens)")

    args = list(inputs) + shared
    func = Function(name, [a.type for a in args], [a.name for a in args],
                    [{} for _ in inputs] + [{"shared": s.name or f"shared{i}"} for i, s in enumerate(shared)])
    env = dict(zip(args, func.args))
    for v in order:
        if v in env or v.owner is None:
            continue
        op = v.owner
        mapping = {o: env[givens.get(o, o)] for o in op.operands}
        # types are inferred again only where givens changed an operand's type
        # (the user's ops got theirs by inference from these operand types)
        infer = any(n.type != o.type for o, n in mapping.items())
        new = op.clone(mapping, infer=infer, value_cls=Value)
        func.body.append(new)
        for old_r, new_r in zip(op.results, new.results):
            env[old_r] = new_r

    def look(v):
        return env[givens.get(v, v)]

    update_targets = []
    for s, u in updates:
        new_u = look(u)
        if new_u.type.dtype != s.type.dtype or new_u.type.ndim != s.type.ndim:
            raise TypeError(f"update of shared variable {_label(s)} ({s.type}) has type {new_u.type}: "
                            "dtype and ndim must match")
        for a, b in zip(s.type.shape, new_u.type.shape):
            if a is not None and b is not None and a != b:
                raise ValueError(f"update of shared variable {_label(s)} has shape {new_u.type.shape}, "
                                 f"incompatible with {s.type.shape}")
        update_targets.append(args.index(s))
    if len(set(update_targets)) != len(update_targets):
        raise ValueError("a shared variable is updated twice in one function")
    ret_operands = [look(v) for v in outputs] + [look(u) for _, u in updates]
    func.body.append(Operation(get_op("return"), ret_operands, {"updates": tuple(update_targets)}))
    return func, shared
