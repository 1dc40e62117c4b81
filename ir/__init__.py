"""theon's intermediate representation: types, SSA core, the op dialect,
text printer/parser, verifier and a NumPy reference interpreter."""
from .types import TensorType, broadcast_shapes, promote_dtypes, canonical_dtype  # noqa: F401
from .core import DYN, Value, Operation, Block, Function, Module  # noqa: F401
from .dialect import OPS, get_op  # noqa: F401
from .builder import make_op, apply, Builder  # noqa: F401
from .printer import print_function, print_module  # noqa: F401
from .verifier import VerifyError, verify_function, verify_module  # noqa: F401
from .parser import ParseError, parse_function, parse_module  # noqa: F401
