"""Pickling and deep-copying the user's graph (``Value``/``Operation``).

A graph pickles as what it is: each value as (its op, result index) or, for
a graph input, (its class, type); each op as (op name, operands, attributes,
result types). Pickle's memo keeps identity within one pickle: a variable
(a shared variable too) reached twice, from two outputs or two compiled
functions pickled together, is one variable after loading.
``copy.deepcopy`` goes the same way (its memo does the same). An op
holding regions (ifelse, scan) travels as the IR text of a function that
applies it to its operands (regions are isolated from above).

Per-class data (a shared variable's storage and flags, a variable's name,
``tag`` and user attributes) travels as the object's state.
"""
from .core import Value, Operation
from .dialect import get_op

# Value slots that the reconstruction sets itself.
_CORE_SLOTS = frozenset(("type", "owner", "index", "uses", "id", "__weakref__", "__dict__"))


def _slot_names(cls):
    names = []
    for klass in cls.__mro__:
        for s in getattr(klass, "__slots__", ()):
            if isinstance(s, str) and s not in _CORE_SLOTS and s not in names:
                names.append(s)
    return names


def _state(obj):
    slots = {}
    for s in _slot_names(type(obj)):
        try:
            slots[s] = getattr(obj, s)
        except AttributeError:
            pass
    d = getattr(obj, "__dict__", None)
    return (dict(d) if d else None, slots)


def reduce_value(v):
    if v.owner is not None:
        return (_result_of, (v.owner, v.index), _state(v))
    return (_new_leaf, (type(v), v.type), _state(v))


def reduce_operation(op):
    value_cls = type(op.results[0]) if op.results else Value
    if op.regions:
        return (_new_region_op, (_region_text(op), list(op.operands), value_cls,
                                 [r.name for r in op.results], op.loc))
    return (_new_op, (op.opdef.name, list(op.operands), dict(op.attrs),
                      [r.type for r in op.results], value_cls, op.loc))


def _region_text(op):
    """An op holding regions (ifelse, scan, fused) as the text of a function
    that applies it to its arguments (regions are isolated from above, so
    the text holds everything they use)."""
    from .core import Function
    from .printer import print_function
    func = Function("pickled_op", [v.type for v in op.operands])
    clone = op.clone(dict(zip(op.operands, func.args)))
    func.body.append(clone)
    func.body.append(Operation(get_op("return"), list(clone.results), {"updates": ()}))
    return print_function(func, locations=True)


def _result_of(op, index):
    return op.results[index]


def _new_leaf(cls, type_):
    obj = cls.__new__(cls)
    Value.__init__(obj, type_)
    return obj


def _new_op(name, operands, attrs, result_types, value_cls, loc):
    op = Operation(get_op(name), operands, attrs, result_types, value_cls=value_cls)
    op.loc = loc
    return op


def _new_region_op(text, operands, value_cls, result_names, loc):
    from .parser import parse_function
    parsed = parse_function(text, verify=False).body.ops[0]
    regions = list(parsed.regions)
    for region in regions:
        region.parent = None
    op = Operation(parsed.opdef, operands, parsed.attrs, [r.type for r in parsed.results], regions,
                   value_cls=value_cls, result_names=result_names)
    op.attrs = dict(parsed.attrs)
    op.loc = loc
    return op
