"""``theon.In`` and ``theon.Out``: options attached to function inputs and outputs.

    f = theon.function([x, In(y, value=1.0), In(s, value=0.0, update=s + x)], x + y)
    f(2.0)            # y defaults to 1.0; s goes 0 -> 2 and stays in f (f['s'])
    f(2.0, y=3.0)     # inputs with a name are keyword arguments

As in Theano 1.0 (``theano.compile.io``): an input with a ``value`` is an
optional argument; with an ``update`` too it is state kept by the function
(read and set with ``f[name]``), replaced by the update after each call,
even when a call passes a value for it. ``mutable`` and ``borrow`` are
accepted: theon never writes its inputs and always returns fresh arrays,
so both are always safe.
"""
from ..ir.core import Value


class In:
    """An input of ``theon.function`` with options.

    variable:  a free symbolic variable (``T.scalar('x')``)
    name:      the keyword name (default: the variable's name when ``autoname``)
    value:     default value; the input becomes optional
    update:    expression replacing the stored value after each call (needs ``value``)
    mutable, borrow, strict: accepted for Theano compatibility
    implicit:  True: the caller may not pass this input (it needs ``value``)
    """

    def __init__(self, variable, name=None, value=None, update=None, mutable=None, strict=False,
                 allow_downcast=None, autoname=True, implicit=None, borrow=None, shared=False):
        if not isinstance(variable, Value):
            raise TypeError(f"In: variable must be a symbolic variable such as T.vector('x'), "
                            f"got {type(variable).__name__} {variable!r:.60}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"In: name must be a str or None, got {type(name).__name__}")
        if update is not None and value is None:
            raise ValueError(f"In({_label(variable)}): an update needs an initial value (value=...)")
        if implicit and value is None:
            raise ValueError(f"In({_label(variable)}): implicit=True needs a value")
        if mutable and borrow is False:
            raise ValueError("In: mutable=True requires borrow to be True or None")
        self.variable = variable
        self.name = variable.name if name is None and autoname else name
        self.value = value
        self.update = update
        self.mutable = bool(mutable)
        self.borrow = bool(mutable) if borrow is None else bool(borrow)
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast
        self.autoname = autoname
        self.implicit = bool(implicit)
        self.shared = shared

    @property
    def has_default(self):
        return self.value is not None

    def __repr__(self):
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("value", "update") if getattr(self, k) is not None)
        return f"In({self.variable!r}, name={self.name!r}{extra})"


SymbolicInput = In


class Out:
    """An output of ``theon.function`` with options: ``borrow=True`` allows
    returning internal storage (theon's outputs are always fresh arrays)."""

    def __init__(self, variable, borrow=False):
        if not isinstance(variable, Value):
            raise TypeError(f"Out: variable must be a symbolic variable, got {type(variable).__name__}")
        self.variable = variable
        self.borrow = bool(borrow)

    def __repr__(self):
        return f"Out({self.variable!r}, borrow={self.borrow})"


SymbolicOutput = Out


def _label(v):
    return repr(v.name) if getattr(v, "name", None) else f"<{type(v).__name__}>"


def as_in(item, position):
    """An ``In`` for one element of ``function``'s input list: a variable, an
    ``In``, or one of Theano's tuple shortcuts ``(name, r)``, ``(r, value)``,
    ``((r, update), value)``, ``(name, r, value)``, ``(name, (r, update), value)``."""
    if isinstance(item, In):
        return item
    if isinstance(item, Value):
        return In(item)
    if isinstance(item, tuple) and len(item) in (2, 3):
        if len(item) == 3:
            name, rest, value = item
            if not isinstance(name, str):
                raise TypeError(f"theon.function: inputs[{position}]: a 3-tuple must be (name, variable, value)")
            return _with_update(rest, value, name, position)
        a, b = item
        if isinstance(a, str) and isinstance(b, Value):
            return In(b, name=a)
        return _with_update(a, b, None, position)
    raise TypeError(f"theon.function: inputs[{position}] must be a symbolic variable such as T.vector('x') "
                    f"or a theon.In, got {type(item).__name__} {item!r:.60}")


def _with_update(rest, value, name, position):
    if isinstance(rest, tuple) and len(rest) == 2 and isinstance(rest[0], Value):
        return In(rest[0], name=name, value=value, update=rest[1])
    if isinstance(rest, Value):
        return In(rest, name=name, value=value)
    raise TypeError(f"theon.function: inputs[{position}]: expected a variable or (variable, update), "
                    f"got {rest!r:.60}")


def as_out(item):
    """(variable, borrow) for an output list element."""
    if isinstance(item, Out):
        return item.variable, item.borrow
    return item, False
