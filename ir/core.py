"""SSA core: values, operations, blocks, functions, modules.

An ``Operation`` applies an op definition (``OpDef``, see ``ir/opdef.py``) to
operand ``Value``s and produces result ``Value``s. Operations may float free
(the graph a user builds with the DSL, Theano-style) or live in a ``Block``
(a function body). Use lists are kept only for operations inside blocks, so
the user's graph never holds references to the functions compiled from it.
"""
import itertools

import numpy as np

from .types import TensorType


class Singleton:
    """Base of marker classes with exactly one instance, which prints as
    ``text`` and survives pickling as that same instance."""
    _instance = None
    text = None

    def __new__(cls):
        if cls.__dict__.get("_instance") is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return self.text

    def __reduce__(self):
        return (type(self), ())


class _Dynamic(Singleton):
    """Marker in int-list attributes: 'this entry is the next dynamic operand'."""
    text = "?"


DYN = _Dynamic()


def substitute_dyn(entries, values):
    """The (nested tuple) attribute ``entries`` with each ``DYN`` replaced by
    the next of ``values``, in order (the one shape/index substitution:
    ops, interpreter, CPU and PTX codegen)."""
    it = iter(values)

    def sub(e):
        if isinstance(e, tuple):
            return tuple(sub(x) for x in e)
        return next(it) if e is DYN else e
    return sub(entries)

_ids = itertools.count()


def is_splat(array):
    """``array`` is one value broadcast to a shape (more than one element,
    every stride 0): a splat constant, stored as one element and never
    materialized (``dense<1.0> : tensor<1000000000xf64>`` is 8 bytes)."""
    return isinstance(array, np.ndarray) and array.ndim > 0 and array.size > 1 and not any(array.strides)


def splat(value, shape, dtype):
    """A read-only splat array: ``value`` everywhere in ``shape``, in one
    element's memory."""
    return np.broadcast_to(np.array(value, dtype=dtype), tuple(shape))


def stored_elements(array):
    """The elements ``array`` really stores: one for a splat, else all."""
    return array.reshape(-1)[:1] if is_splat(array) else array


def freeze_attr(value):
    """Attributes are immutable: lists become tuples, numpy scalars Python
    ones, arrays read-only (a splat stays one element, ``is_splat``)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze_attr(v) for v in value)
    if is_splat(value):
        return value if not value.flags.writeable else splat(value.reshape(-1)[0], value.shape, value.dtype)
    if isinstance(value, np.ndarray):
        if not value.flags.writeable and value.base is None:
            return value            # already frozen (a clone's attributes): no copy
        value = value.copy()
        value.setflags(write=False)
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class Value:
    """An SSA value: the result of an operation or a block argument."""

    __slots__ = ("type", "owner", "index", "name", "uses", "id", "__weakref__")

    def __init__(self, type, owner=None, index=0, name=None):
        if not isinstance(type, TensorType):
            raise TypeError(f"Value type must be a TensorType, got {type!r}")
        self.type = type
        self.owner = owner      # Operation or None (block argument / graph input)
        self.index = index      # result number in owner, or argument number
        self.name = name        # user-facing name hint (may be None)
        self.uses = []          # [(Operation, operand index)] for ops inside blocks
        self.id = next(_ids)    # creation order; stable sort key

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def ndim(self):
        return self.type.ndim

    @property
    def static_shape(self):
        return self.type.shape

    def __reduce_ex__(self, protocol):
        from .pickling import reduce_value      # pickle/deepcopy of graphs: ir/pickling.py
        return reduce_value(self)

    def replace_all_uses_with(self, new):
        if new is self:
            return
        for op, i in list(self.uses):
            op.set_operand(i, new)

    def __repr__(self):
        label = self.name or f"v{self.id}"
        return f"<{type(self).__name__} {label}: {self.type}>"


class Operation:
    """One application of an op definition.

    ``attrs`` is a dict of immutable attribute values (ints, floats, bools,
    strings, None, DYN, tuples of those, numpy arrays for dense constants).
    """

    __slots__ = ("opdef", "operands", "attrs", "results", "regions", "parent", "id", "loc")

    def __init__(self, opdef, operands, attrs=None, result_types=None, regions=(),
                 value_cls=Value, result_names=None):
        self.opdef = opdef
        self.operands = list(operands)
        self.attrs = {k: freeze_attr(v) for k, v in (attrs or {}).items()}
        self.regions = list(regions)
        self.parent = None
        self.id = next(_ids)
        self.loc = None         # (filename, line, col) when parsed from text
        for r in self.regions:
            r.parent = self
        for i, v in enumerate(self.operands):
            if not isinstance(v, Value):
                raise TypeError(f"operand {i} of {opdef.name} must be a Value, got {type(v).__name__}")
        if result_types is None:
            result_types = opdef.infer(self)
        names = result_names or [None] * len(result_types)
        self.results = [value_cls(t, self, i, n) for i, (t, n) in enumerate(zip(result_types, names))]

    @property
    def name(self):
        return self.opdef.name

    def __reduce_ex__(self, protocol):
        from .pickling import reduce_operation
        return reduce_operation(self)

    # Theano's Apply-node names: ``x.owner.op``, ``.inputs``, ``.outputs``
    op = property(lambda self: self.opdef)
    inputs = property(lambda self: self.operands)
    outputs = property(lambda self: self.results)

    @property
    def result(self):
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    def set_operand(self, i, new):
        old = self.operands[i]
        if self.parent is not None:
            old.uses.remove((self, i))
            new.uses.append((self, i))
        self.operands[i] = new

    def walk(self, order="pre"):
        """This op and every op nested in its regions, in text order:
        ``order="pre"`` yields an op before the ops of its regions,
        ``"post"`` after them (erase-safe: an op comes after its body)."""
        if order == "pre":
            yield self
        for region in self.regions:
            yield from region.walk(order)
        if order == "post":
            yield self
        elif order != "pre":
            raise ValueError(f"walk order must be 'pre' or 'post', got {order!r}")

    def clone(self, mapping=None, *, infer=False, value_cls=None):
        """A floating copy of this op, its regions cloned (new block
        arguments, new ops). Operands are ``mapping.get(v, v)``; ``mapping``
        (old Value -> new Value) then also holds this op's results and every
        value defined in its regions. Result names, attributes and the
        source location are kept; result types too, unless ``infer`` (then
        they are inferred from the new operands). Results are of
        ``value_cls`` (default: the class of this op's results)."""
        if mapping is None:
            mapping = {}
        regions = [region.clone(mapping) for region in self.regions]
        if value_cls is None:
            value_cls = type(self.results[0]) if self.results else Value
        new = Operation(self.opdef, [mapping.get(v, v) for v in self.operands], self.attrs,
                        None if infer else [r.type for r in self.results], regions, value_cls,
                        [r.name for r in self.results])
        new.loc = self.loc
        mapping.update(zip(self.results, new.results))
        return new

    def _attach(self):
        for i, v in enumerate(self.operands):
            v.uses.append((self, i))

    def _detach(self):
        for i, v in enumerate(self.operands):
            v.uses.remove((self, i))

    def __repr__(self):
        return f"<Operation {self.name} #{self.id}>"


def ancestors(roots, stop=None):
    """Values ``roots`` depend on, operands before users (iterative).

    With ``stop``, the walk does not look past values for which
    ``stop(v)`` is true (they are still listed)."""
    order, seen = [], set()
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
            continue
        if v in seen:
            continue
        seen.add(v)
        stack.append((v, True))
        if v.owner is not None and not (stop is not None and stop(v)):
            for o in reversed(v.owner.operands):
                if o not in seen:
                    stack.append((o, False))
    return order


class Block:
    """A straight-line list of operations with block arguments."""

    def __init__(self, arg_types=(), arg_names=None):
        names = arg_names or [None] * len(arg_types)
        self.args = [Value(t, None, i, n) for i, (t, n) in enumerate(zip(arg_types, names))]
        self.ops = []
        self.parent = None

    def append(self, op):
        return self.insert(len(self.ops), op)

    def insert(self, index, op):
        if op.parent is not None:
            raise ValueError(f"{op.name} is already in a block")
        self.ops.insert(index, op)
        self._hints()[op] = index
        op.parent = self
        op._attach()
        return op

    def insert_before(self, anchor, op):
        return self.insert(self.index(anchor), op)

    def remove(self, op):
        for r in op.results:
            if r.uses:
                raise ValueError(f"cannot remove {op.name}: its result is still used by "
                                 f"{[u.name for u, _ in r.uses]}")
        del self.ops[self.index(op)]
        self._hints().pop(op, None)
        op._detach()
        op.parent = None

    # Where each op was last seen in ``ops``. Passes insert and remove ops in
    # pairs (a rewrite's new op before the anchor, then the old op), so
    # positions drift little and ``index`` finds an op near its hint
    # instead of comparing it with every op before it: rewriting a long
    # body costs linear, not quadratic, time.
    HINT_WINDOW = 32

    def _hints(self):
        hints = self.__dict__.get("_op_hints")
        if hints is None:
            hints = self._op_hints = {}
        return hints

    def index(self, op):
        """The position of ``op`` in ``ops`` (ValueError if it is not there)."""
        ops = self.ops
        hints = self._hints()
        h = hints.get(op)
        if h is not None:
            n = len(ops)
            drift = self.__dict__.get("_op_drift", 0)     # ops after an edit all moved alike
            for c in (h + drift, h) if drift else (h,):
                for d in range(self.HINT_WINDOW + 1):
                    for k in (c - d, c + d):
                        if 0 <= k < n and ops[k] is op:
                            hints[op] = k
                            self._op_drift = k - h
                            return k
        k = ops.index(op)
        hints.clear()               # stale: refresh every hint at once
        hints.update((o, i) for i, o in enumerate(ops))
        return k

    def remove_all(self, ops):
        """Remove every op of ``ops`` at once (their results may be used only
        by each other): one pass over the block and the operands' uses,
        where a ``remove`` per op would cost the block's length each."""
        gone = set(ops)
        if not gone:
            return
        for op in gone:
            if op.parent is not self:
                raise ValueError(f"cannot remove {op.name}: it is not in this block")
            for r in op.results:
                for user, _ in r.uses:
                    if user not in gone:
                        raise ValueError(f"cannot remove {op.name}: its result is still used by {user.name}")
        self.ops[:] = [op for op in self.ops if op not in gone]
        self._op_hints = {op: i for i, op in enumerate(self.ops)}
        operands = {id(v): v for op in gone for v in op.operands}
        for v in operands.values():
            v.uses[:] = [(user, i) for user, i in v.uses if user not in gone]
        for op in gone:
            op.parent = None

    @property
    def terminator(self):
        return self.ops[-1] if self.ops else None

    def walk(self, order="pre"):
        """Every operation, nested regions included, in text order (see
        ``Operation.walk`` for ``order``). The ops are listed before the walk
        starts at each level, so the walk may erase the op it is given."""
        for op in list(self.ops):
            yield from op.walk(order)

    def clone(self, mapping=None):
        """A new block with new arguments and a clone of every op (see
        ``Operation.clone``); ``mapping`` gains old -> new for every value."""
        if mapping is None:
            mapping = {}
        new = Block([a.type for a in self.args], [a.name for a in self.args])
        mapping.update(zip(self.args, new.args))
        for op in self.ops:
            new.append(op.clone(mapping))
        return new


class Function:
    """A compiled unit: block arguments are inputs then shared variables;
    the body ends with a ``return`` op whose operands are the outputs then the
    update values, and whose ``updates`` attribute names, for each update
    value, the index of the argument (a shared variable) it replaces."""

    def __init__(self, name, arg_types, arg_names=None, arg_attrs=None):
        self.name = name
        self.body = Block(arg_types, arg_names)
        self.body.parent = self
        self.arg_attrs = [dict(a) for a in (arg_attrs or [{} for _ in arg_types])]
        if len(self.arg_attrs) != len(arg_types):
            raise ValueError("arg_attrs must have one dict per argument")

    @property
    def args(self):
        return self.body.args

    @property
    def return_op(self):
        op = self.body.terminator
        if op is None or op.name != "return":
            raise ValueError(f"function @{self.name} has no return")
        return op

    @property
    def num_outputs(self):
        op = self.return_op
        return len(op.operands) - len(op.attrs.get("updates", ()))

    @property
    def outputs(self):
        return self.return_op.operands[:self.num_outputs]

    @property
    def updates(self):
        """[(shared argument Value, new Value)]"""
        op = self.return_op
        targets = op.attrs.get("updates", ())
        return [(self.args[t], v) for t, v in zip(targets, op.operands[self.num_outputs:])]

    def shared_args(self):
        return [a for a, attr in zip(self.args, self.arg_attrs) if "shared" in attr]

    def walk(self, order="pre"):
        return self.body.walk(order)

    def clone(self, name=None):
        """An independent copy (new values and ops, same names, types,
        attributes and argument attributes), named ``name`` or the same."""
        new = Function(self.name if name is None else name, [a.type for a in self.args],
                       [a.name for a in self.args], [dict(a) for a in self.arg_attrs])
        mapping = dict(zip(self.args, new.args))
        for op in self.body.ops:
            new.body.append(op.clone(mapping))
        return new

    def __str__(self):
        from .printer import print_function
        return print_function(self)


class Module:
    def __init__(self, functions=()):
        self.functions = list(functions)

    def get(self, name):
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"module has no function @{name}")

    def __str__(self):
        from .printer import print_module
        return print_module(self)
