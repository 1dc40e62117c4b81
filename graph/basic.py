"""Walking and copying the user's graph, with Theano's names
(``theano.gof.graph`` / ``theano.graph.basic``).

A graph is made of variables (``Variable``: theon's IR ``Value``; the DSL's
are ``TensorVariable``) and the operations that compute them (``Apply``:
theon's ``Operation``, with Theano's ``op``/``inputs``/``outputs`` names).
Graph inputs are the variables without an owner (free inputs, shared
variables) and, as in Theano, the constants (``TensorConstant``: in theon
the results of ``constant`` ops, which take no operands).

Every walk here is iterative, so deep graphs do not hit Python's recursion
limit.
"""
import copy

from ..frontend.build import check_replacement
from ..frontend.variable import TensorConstant
from ..ir.core import Operation as Apply
from ..ir.core import ancestors as _ir_ancestors
from ..ir.core import Value as Variable

Constant = TensorConstant

__all__ = ["Apply", "Variable", "Constant", "ancestors", "inputs", "graph_inputs", "variables",
           "ops", "orphans", "io_toposort", "is_in_ancestors", "clone", "clone_get_equiv",
           "deepcopy_graph"]


def _as_list(variables, fname):
    items = list(variables) if isinstance(variables, (list, tuple, set, frozenset)) else [variables]
    for i, v in enumerate(items):
        if not isinstance(v, Variable):
            raise TypeError(f"{fname}: entry {i} is not a graph variable: {type(v).__name__} {v!r}")
    return items


def _is_leaf(v):
    return v.owner is None or v.owner.name == "constant"


def ancestors(variable_list, blockers=None):
    """Every variable the variables of ``variable_list`` depend on, themselves
    included, in depth-first order (as Theano); the walk does not go past
    ``blockers``."""
    blockers = set(blockers or ())
    out, seen = [], set()
    stack = list(_as_list(variable_list, "ancestors"))
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        out.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(reversed(v.owner.operands))
    return out


def inputs(variable_list, blockers=None):
    """The graph inputs the variables depend on: variables without an owner
    (free inputs, shared variables) and constants, in ``ancestors`` order."""
    return [v for v in ancestors(variable_list, blockers) if _is_leaf(v)]


graph_inputs = inputs


def is_in_ancestors(node, target):
    """True if the Apply ``target`` computes something ``node`` (an Apply)
    depends on."""
    return any(v.owner is target for v in ancestors(list(node.inputs)))


def _between(ins, outs):
    """(values, ops) from ``ins`` to ``outs`` in dependency order (operands
    first), not going past ``ins``."""
    ins = set(_as_list(ins, "io_toposort"))
    order = _ir_ancestors(_as_list(outs, "io_toposort"), stop=ins.__contains__)
    ops_ = list(dict.fromkeys(v.owner for v in order if v.owner is not None and v not in ins))
    return order, ops_


def variables(i, o):
    """The variables from inputs ``i`` to outputs ``o``, operands first."""
    return _between(i, o)[0]


def io_toposort(inputs, outputs, orderings=None):
    """The Apply nodes between ``inputs`` and ``outputs``, each after the
    nodes computing its inputs."""
    if orderings:
        raise NotImplementedError("io_toposort: orderings are not supported")
    return _between(inputs, outputs)[1]


def ops(i, o):
    """The Apply nodes between ``i`` and ``o`` (a set, as in Theano)."""
    return set(_between(i, o)[1])


def orphans(i, o):
    """Graph inputs of ``o`` that are not in ``i``."""
    i = set(i)
    return [v for v in variables(i, o) if _is_leaf(v) and v not in i]


# --- copying ------------------------------------------------------------------------------
def _copy_attrs(old, new, memo=None):
    """User attributes (``tag``, ``_keras_shape``...): a shallow copy, or a
    deep one inside ``copy.deepcopy``."""
    extra = getattr(old, "__dict__", None)
    if extra:
        if memo is None:
            new.__dict__.update({k: copy.copy(v) if k == "tag" else v for k, v in extra.items()})
        else:
            new.__dict__.update(copy.deepcopy(extra, memo))


def clone_get_equiv(inputs, outputs, copy_inputs=True, memo=None, replace=None):
    """{old variable: new one} for the graph from ``inputs`` to ``outputs``.

    Every op on the way is copied (constants included). Graph inputs (and
    the given ``inputs``) map to themselves, or to fresh variables of the
    same type with ``copy_inputs=True``; ``replace`` maps variables to
    their replacements, which are used as they are.
    """
    equiv = dict(memo or {})
    equiv.update(replace or {})
    stop = set(inputs) | set(replace or {})
    order = _between(list(stop), outputs)[0]
    for v in order:
        if v in equiv:
            continue
        if v.owner is None or v in stop:
            equiv[v] = _copy_input(v) if copy_inputs else v
            continue
        op = v.owner
        # result types inferred again: a replacement of a more general type propagates
        new = op.clone({o: equiv[o] for o in op.operands}, infer=True)
        for old_r, new_r in zip(op.results, new.results):
            _copy_attrs(old_r, new_r)
            equiv[old_r] = new_r
    return equiv


def _copy_input(v, memo=None):
    """A new graph input like ``v``: same type and name. A shared variable
    is the storage itself: it stays, except in a deepcopy (``memo`` given),
    which makes a new shared variable holding a copy of the value."""
    if getattr(v, "is_shared", False):
        if memo is None:
            return v
        new = v.copy_variable()
    else:
        new = type(v)(v.type, name=v.name)
    _copy_attrs(v, new, memo)
    return new


def _replacement_pairs(replace):
    if replace is None:
        return []
    if isinstance(replace, dict):
        return list(replace.items())
    if isinstance(replace, (list, tuple)):
        pairs = list(replace)
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise TypeError("clone: replace must be a dict or a list of (variable, replacement) pairs")
        return pairs
    raise TypeError(f"clone: replace must be a dict, a list of pairs or None, got "
                    f"{type(replace).__name__}")


def clone(output, replace=None, strict=True, share_inputs=True):
    """A copy of the graph of ``output`` (a variable or a list/tuple of them)
    with the variables of ``replace`` ({variable: replacement} or a list of
    pairs) replaced, all at once; returns the copy in the same structure.

    strict: a replacement must have the dtype and ndim of its variable and
        a compatible static shape; with ``strict=False`` it is cast to the
        dtype.
    share_inputs: keep the graph inputs (True) or use fresh ones of the
        same type (False); shared variables are kept either way, so a clone
        always sees their current value (Theano's "same underlying storage").
    """
    from ..frontend.basic import as_tensor_variable, cast
    outs = _as_list(output, "clone")
    pairs = []
    for var, rep in _replacement_pairs(replace):
        if not isinstance(var, Variable):
            raise TypeError(f"clone: replace keys must be graph variables, got {var!r}")
        rep = as_tensor_variable(rep)
        if not strict and rep.dtype != var.dtype:
            rep = cast(rep, var.dtype)
        check_replacement(var, rep, "clone")
        pairs.append((var, rep))
    equiv = clone_get_equiv([], outs, copy_inputs=not share_inputs, replace=dict(pairs))
    result = [equiv[o] for o in outs]
    if isinstance(output, (list, tuple)):
        return type(output)(result)
    return result[0]


def deepcopy_graph(variables, memo):
    """``copy.deepcopy`` of variables: their whole graphs, fresh inputs and
    shared variables included (``memo``: the deepcopy memo, by ``id``)."""
    order = _between([], variables)[0]
    for v in order:
        if id(v) in memo:
            continue
        if v.owner is None:
            memo[id(v)] = _copy_input(v, memo)
            continue
        op = v.owner
        new = op.clone({o: memo[id(o)] for o in op.operands}, infer=True)
        for old_r, new_r in zip(op.results, new.results):
            _copy_attrs(old_r, new_r, memo)
            memo[id(old_r)] = new_r
    return [memo[id(v)] for v in variables]
