"""Op definitions: the base class every op of the theon dialect derives from.

An op class states, side by side: its name, operand count, type/shape
inference (``infer``), extra verification, and its NumPy reference
(``reference``), which is the semantic oracle used by DEBUG mode, constant
folding and the tests; its gradient rule (``grad``); and every fact the
rest of theon asks about it (the "facts" block: traits, cost, reduction
identity, output-shape rule). Nothing outside ``ir/ops/`` keeps lists of op
names; backends keep only their lowering tables keyed by ``name`` (see
``codegen/``).
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

    # --- facts: what passes, codegen, AOT and the runtime ask the op ---------
    # (tests/ir/test_op_facts.py checks every registered op against them;
    # ARCHITECTURE.md "Adding an op" lists which part reads which)
    random = False            # draws random numbers: never folded, merged or duplicated
    commutative = False       # binary: f(a, b) == f(b, a) as numbers (pattern matching
                              # tries both operand orders)
    bit_commutative = False   # ... bit for bit, signed zeros and NaNs included, so
                              # canonicalize may reorder operands
    associative = False       # binary: f(f(a, b), c) == f(a, f(b, c)) in exact arithmetic
    idempotent = False        # binary: f(x, x) == x
    nonneg = None             # result never below zero (NaN allowed): "always", or
                              # "all"/"any" when all/any data operands are (see nonnegative)
    cost = 1                  # work of one element relative to an add (fusion's thread
                              # threshold; > 1: worth caching rather than recomputing)
    reduces = False           # reduces over ``axes`` (keepdims) with ``identity``/``start``;
                              # fused ops may carry it as a ``reduce`` entry
    arg_reduces = False       # the index (int64) of the extreme along ``axis`` (argmax/argmin)
    identity = None           # reductions: the value of an empty reduction (None: an error)
    accumulates = False       # sums many terms: DEBUG tolerances scale with magnitude()
    moves_elements = False    # every result element is an element of operand 0 (views,
                              # broadcasts): a splat stays a splat
    first_dyn = None          # index of the first dynamic int operand (sizes/indices,
                              # filling the ``?`` of attribute ``size_attr``), else None
    size_attr = None
    shape_from_values = False  # the result shape needs the value of every operand (arange)
    value_from_shapes = False  # the result value needs only the operands' shapes (shape)
    has_grad = False          # defines grad(op, output_grads) (ir/autodiff.py)
    autodiff_only = False     # the value of operand 0, there for autodiff: canonicalize drops it
    infix = None              # binary: the operator theon.printing.pp writes it as
    f16_storage = False       # with float16 operands/results the op only moves or copies
                              # element bits (views, copies, plain scatters, shapes):
                              # legalize-f16 keeps it in float16 (codegen: 16-bit loads and
                              # stores); other ops compute in float32 (passes/legalize_f16.py)

    def dims(self, op, shapes):
        """The output-shape rule: per result, its dims as ``shapes`` (a dim
        algebra: passes/symbolic.py, runtime/aot/shapes.py) builds them from
        the operands' dims, or None when this op cannot say. ``shapes``
        gives ``of(v)`` (operand v's dims), ``broadcast(*dim_tuples)``,
        ``size(v)`` (the dim a 0-d int operand stands for) and ``fresh(k)``
        (an unknown dim k of the result); ints stand for static sizes."""
        return None

    def data_operands(self, op):
        """The operands that are data (not dynamic size/index operands)."""
        return op.operands if self.first_dyn is None else op.operands[:self.first_dyn]

    def value_operands(self, op):
        """The operands whose values (not only shapes) the result shape needs."""
        if self.shape_from_values:
            return op.operands
        return () if self.first_dyn is None else op.operands[self.first_dyn:]

    def nonnegative(self, op, operand_nonneg):
        """Whether ``op``'s result is never below zero (NaN allowed), given
        ``operand_nonneg(v)`` for its operands."""
        if self.nonneg == "always":
            return True
        data = self.data_operands(op)
        if self.nonneg == "all":
            return all(operand_nonneg(v) for v in data)
        if self.nonneg == "any":
            return any(operand_nonneg(v) for v in data)
        return False

    def start(self, dtype):
        """Reductions: the accumulator's start value for ``dtype`` (the
        identity, or the extreme of the dtype for max/min)."""
        raise NotImplementedError(f"{self.name}: start")

    def magnitude(self, op, *args):
        """Per result, the size its rounding errors scale with (DEBUG mode's
        tolerances), or None: the result itself."""
        if not self.accumulates:
            return None
        return self.reference(op, *[np.abs(a) for a in args])
    # --- end of facts -------------------------------------------------------

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


def value_nonneg(v, depth=8):
    """``v`` is never below zero (NaN allowed): its op says so (``nonneg``
    fact, ``OpDef.nonnegative``), looking at most ``depth`` ops up."""
    op = v.owner
    if op is None or depth == 0:
        return False
    return op.opdef.nonnegative(op, lambda o: value_nonneg(o, depth - 1))


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
