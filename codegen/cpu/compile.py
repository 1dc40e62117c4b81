"""Compile an IR Function to native code in this process."""
import llvmlite.ir as lir

from .entry import entry_name, lower_function
from .jit import JitModule


def emit_llvm_module(func, profile=False, module=None):
    """The (unoptimized) llvmlite module holding ``theon_<func.name>``."""
    module, _ = lower_function(func, module=module, profile=profile)
    return module


class CompiledFunction:
    """Native code of one IR Function, loaded and kept alive."""

    def __init__(self, func, profile=False, opt_level=3):
        self.name = entry_name(func)
        self.num_ops = len(func.body.ops)
        self.llvm_module = emit_llvm_module(func, profile=profile)
        self.jit = JitModule(str(self.llvm_module), opt_level=opt_level)
        self.address = self.jit.address(self.name)

    @property
    def unoptimized_llvm_ir(self):
        return str(self.llvm_module)

    @property
    def llvm_ir(self):
        return self.jit.llvm_ir

    @property
    def asm(self):
        return self.jit.asm


def compile_function(func, *, profile=False, opt_level=3):
    return CompiledFunction(func, profile=profile, opt_level=opt_level)


_ = lir
