"""LLVM target machine, optimization pipeline and in-process JIT."""
import functools

import llvmlite.binding as llvm

try:  # llvmlite < 0.45 needs this; newer versions initialize themselves
    llvm.initialize()
except Exception:  # noqa: BLE001 - newer llvmlite raises to say it is not needed
    pass
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()


@functools.lru_cache(maxsize=None)
def host_cpu():
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def host_target_machine(opt_level=3):
    """A new target machine for this CPU with all its features (AVX-512
    included). New each time: an MCJIT engine takes ownership of its own."""
    cpu, features = host_cpu()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=cpu, features=features,
        opt=opt_level, reloc="pic", codemodel="jitdefault")


def optimize(module_ref, tm, opt_level=3):
    """Run LLVM's standard -O<n> pipeline (vectorizers included) in place."""
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_interleaving = opt_level >= 2
    pto.loop_vectorization = opt_level >= 2
    pto.slp_vectorization = opt_level >= 2
    pto.loop_unrolling = opt_level >= 2
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(module_ref, pb)


class JitModule:
    """An optimized LLVM module loaded into this process."""

    def __init__(self, llvm_ir_text, opt_level=3):
        tm = host_target_machine(opt_level)
        mod = llvm.parse_assembly(llvm_ir_text)
        mod.verify()
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        optimize(mod, tm, opt_level)
        self.module = mod
        self.target_machine = tm
        self.engine = llvm.create_mcjit_compiler(mod, tm)
        self.engine.finalize_object()
        self.engine.run_static_constructors()

    def address(self, name):
        addr = self.engine.get_function_address(name)
        if not addr:
            raise RuntimeError(f"JIT: no function {name!r} in the module")
        return addr

    @property
    def llvm_ir(self):
        return str(self.module)

    @property
    def asm(self):
        return self.target_machine.emit_assembly(self.module)
