"""theon's intermediate representation: types, SSA core, the op dialect,
text printer/parser, verifier and a NumPy reference interpreter."""
from .types import TensorType, broadcast_shapes, promote_dtypes, canonical_dtype  # noqa: F401
from .core import DYN, Value, Operation, Block, Function, Module  # noqa: F401
from .dialect import OPS, get_op  # noqa: F401
from .builder import make_op, apply, Builder  # noqa: F401
