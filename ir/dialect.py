"""The theon dialect: the explicit list of its ops and a name -> op registry.

Nothing registers itself on import; adding an op means adding it to a
module's ``OPS`` list, which this file collects.
"""
from .ops import autodiff_ops, elementwise, fused, linalg, reduction, shape

OP_CLASSES = elementwise.OPS + reduction.OPS + linalg.OPS + shape.OPS + autodiff_ops.OPS + fused.OPS

OPS = {}
for _cls in OP_CLASSES:
    if _cls.name in OPS:
        raise RuntimeError(f"op {_cls.name!r} defined twice")
    OPS[_cls.name] = _cls()


def get_op(name):
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None
