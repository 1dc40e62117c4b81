"""The theon dialect: the explicit list of its ops and a name -> op registry.

Nothing registers itself on import; the dialect's own ops are the ``OPS``
lists of ``ir/ops/*.py``, collected here. ``register_op`` adds an op class
defined elsewhere (a test, an extension); ``unregister_op`` takes it out.
"""
from .opdef import OpDef
from .ops import extra, sorting
from .ops import la
from .ops import autodiff_ops, control, conv, debug, elementwise, fused, gradient_ops, indexing, linalg, pool, random, reduction, shape

OP_CLASSES = (elementwise.OPS + reduction.OPS + linalg.OPS + shape.OPS + autodiff_ops.OPS + fused.OPS
              + gradient_ops.OPS + debug.OPS + control.OPS + random.OPS + indexing.OPS + conv.OPS
              + pool.OPS + sorting.OPS + extra.OPS + la.OPS)

OPS = {}


def register_op(cls):
    """Add op class ``cls`` to the dialect (usable as a class decorator);
    its name must be new. Returns ``cls``."""
    if not (isinstance(cls, type) and issubclass(cls, OpDef)):
        raise TypeError(f"register_op: expected an OpDef subclass, got {cls!r}")
    if not isinstance(cls.name, str) or not cls.name:
        raise ValueError(f"register_op: {cls.__name__} has no name")
    if cls.name in OPS:
        raise ValueError(f"register_op: op {cls.name!r} is already defined")
    OPS[cls.name] = cls()
    return cls


def unregister_op(name):
    """Remove op ``name`` added by ``register_op``; the dialect's own ops stay."""
    if any(c.name == name for c in OP_CLASSES):
        raise ValueError(f"unregister_op: {name!r} is one of the dialect's own ops")
    OPS.pop(name, None)


def ops_where(predicate):
    """Names of the registered ops whose OpDef satisfies ``predicate``, sorted."""
    return tuple(sorted(name for name, opdef in OPS.items() if predicate(opdef)))


for _cls in OP_CLASSES:
    register_op(_cls)


def get_op(name):
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None
