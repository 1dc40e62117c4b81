"""``theon.compile``: Theano's ``theano.compile`` names (function, In/Out, modes, shared variables)."""
from ..frontend.function import function  # noqa: F401
from ..frontend.io import In, Out, SymbolicInput, SymbolicOutput  # noqa: F401
from ..frontend.shared import SharedVariable, shared  # noqa: F401
from ..runtime.mode import Mode, get_default_mode, get_mode  # noqa: F401
from . import io, mode, nanguardmode  # noqa: F401
from .nanguardmode import NanGuardMode  # noqa: F401
from .function_module import FunctionGraph, FunctionMaker, Function  # noqa: F401
