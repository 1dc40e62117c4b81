"""CPU backend: theon IR -> LLVM IR (llvmlite builder) -> native code.

Three parts, imported in one direction only (``driver`` -> ``lower`` ->
``rtlib``; tests/ir/test_layering.py checks it):

    lower/    op lowering: one table keyed by op (``lowering.LOWERINGS``),
              the entry ABI and ``entry.lower_block``
    rtlib/    the native runtime library written in LLVM IR (thread pool,
              allocator) and the declarations compiled code calls it by
    driver/   compile orchestration: LLVM pipelines, object loading, the
              on-disk cache, tier 0/tier-up, the Python and C wrappers
"""
from .driver.compile import CompiledFunction, compile_function, emit_llvm_module  # noqa: F401
