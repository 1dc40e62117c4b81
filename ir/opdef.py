"""Op definitions: the base class every op of the theon dialect derives from.

An op class states, side by side: its name, operand count, type/shape
inference (``infer``), extra verification, and its NumPy reference
(``reference``), which is the semantic oracle used by DEBUG mode, constant
folding and the tests. Backends keep their own lowering tables keyed by
``name`` (see ``codegen/``); gradient rules are added by the autodiff work.
"""
import numpy as np

from .types import TensorType


class OpDef:
    name = None
    num_operands = None       # int, or None for variadic
    num_results = 1
    required_attrs = ()       # attribute names every instance must carry
    elementwise = False
    pure = True               # no side effects: CSE/DCE may touch it

    # --- regions (ARCHITECTURE.md "Regions"; checked by ir/verifier.py) -----
    # A region is one Block owned by the op, isolated from above: its ops use
    # only its block arguments and values defined inside it.
    num_regions = 0           # regions per op: an int, or None for one or more
    terminator = None         # name of the op that must end each region's block

    def region_arg_types(self, op, k):
        """The types the block arguments of region ``k`` must have (a list
        of TensorType), or None to leave them to ``verify``."""
        return None
    # --- end of regions ---------------------------------------------------

    def infer(self, op):
        """Result types of ``op`` from its operands' types and its attributes."""
        raise NotImplementedError(f"{self.name}: infer")

    def verify(self, op):
        """Raise ValueError/TypeError if ``op`` is malformed (beyond inference)."""

    def reference(self, op, *args):
        """NumPy evaluation: arrays in, list of arrays out."""
        raise NotImplementedError(f"{self.name}: reference")

    def check_arity(self, op):
        if self.num_operands is not None and len(op.operands) != self.num_operands:
            raise ValueError(f"{self.name} takes {self.num_operands} operand"
                             f"{'' if self.num_operands == 1 else 's'}, got {len(op.operands)}")
        for a in self.required_attrs:
            if a not in op.attrs:
                raise ValueError(f"{self.name} requires attribute {a!r}")

    def __repr__(self):
        return f"<op {self.name}>"


def has_side_effects(op):
    """``op`` is impure, or an op of one of its regions (terminators aside) is:
    DCE keeps it and CSE never merges it."""
    if not op.opdef.pure:
        return True
    for region in op.regions:
        for inner in region.ops:
            if inner is not region.ops[-1] or inner.name != op.opdef.terminator:
                if has_side_effects(inner):
                    return True
    return False


def const_value(value):
    """The array a value is known to hold at compile time, else None."""
    owner = value.owner
    if owner is not None and owner.name == "constant":
        return owner.attrs["value"]
    return None


def const_int(value):
    """Compile-time integer of a 0-d int value, else None."""
    c = const_value(value)
    if c is None or c.ndim != 0 or c.dtype.kind not in "iub":
        return None
    return int(c)


def normalize_axis(axis, ndim, opname):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{opname}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{opname}: axis {axis} is out of range for a {ndim}-d tensor")
    return int(axis) % ndim


def result(dtype, shape):
    return [TensorType(dtype, tuple(shape))]
