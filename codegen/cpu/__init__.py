"""CPU backend: theon IR -> LLVM IR (llvmlite builder) -> native code."""
from .compile import CompiledFunction, compile_function, emit_llvm_module  # noqa: F401
