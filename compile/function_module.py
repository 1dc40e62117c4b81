"""``theon.compile.function_module``: the compiled function's classes (see ``theon/frontend/compiled.py``)."""
from ..frontend.compiled import CompiledFunction as Function, FunctionGraph, FunctionMaker  # noqa: F401
