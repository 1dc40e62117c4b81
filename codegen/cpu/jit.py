"""LLVM target machine, optimization pipelines, object code and the in-process loader.

    compile_object(llvm_ir_text, opt_level)  parse -> optimize -> object bytes
    compile_object_quick(llvm_ir_text)       the same with a minimal pipeline (tier 0)
    load_object(obj_bytes)                   an MCJIT engine holding that code
    JitModule(llvm_ir_text, opt_level)       both, for one module

Code is always loaded from object bytes, so code compiled now and code read
back from the on-disk cache (``runtime/cache.py``) take the same path.
"""
import functools

import llvmlite.binding as llvm

try:  # llvmlite < 0.45 needs this; newer versions initialize themselves
    llvm.initialize()
except Exception:  # noqa: BLE001 - newer llvmlite raises to say it is not needed
    pass
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()

# Above this many LLVM instructions (before optimization) a module gets the
# cheaper -O2 pipeline without unrolling and interleaving: LLVM's time grows
# faster than linearly with function size, while the loops that matter
# (vectorized bodies, the GEMM micro-kernel) are vectorized either way.
BIG_MODULE_INSTRUCTIONS = 4000


@functools.lru_cache(maxsize=None)
def host_cpu():
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@functools.lru_cache(maxsize=None)
def host_target_key():
    """'triple/cpu/features': what object code compiled here depends on."""
    cpu, features = host_cpu()
    return f"{llvm.get_process_triple()}/{cpu}/{features}"


def host_target_machine(opt_level=3):
    """A new target machine for this CPU with all its features (AVX-512
    included). New each time: an MCJIT engine takes ownership of its own."""
    cpu, features = host_cpu()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=cpu, features=features,
        opt=opt_level, reloc="pic", codemodel="jitdefault")


def optimize(module_ref, tm, opt_level=3, cheap=False):
    """Run LLVM's standard -O<n> pipeline (vectorizers included) in place.
    ``cheap``: -O2 at most, no loop unrolling or interleaving (big modules)."""
    if cheap:
        opt_level = min(opt_level, 2)
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_interleaving = opt_level >= 2 and not cheap
    pto.loop_vectorization = opt_level >= 2
    pto.slp_vectorization = opt_level >= 2
    pto.loop_unrolling = opt_level >= 2 and not cheap
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(module_ref, pb)


def count_instructions(llvm_ir_text):
    """Roughly the number of LLVM instructions in a module's text."""
    return llvm_ir_text.count("\n  ")


def compile_object(llvm_ir_text, opt_level=3, verify=True, cheap=None):
    """(optimized module, object bytes, target machine) for LLVM IR text.
    ``cheap`` None: decided by the module's size (BIG_MODULE_INSTRUCTIONS)."""
    tm = host_target_machine(opt_level)
    mod = llvm.parse_assembly(llvm_ir_text)
    if verify:
        mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    if cheap is None:
        cheap = count_instructions(llvm_ir_text) > BIG_MODULE_INSTRUCTIONS
    if opt_level:
        optimize(mod, tm, opt_level, cheap=cheap)
    return mod, tm.emit_object(mod), tm


# Tier 0 (see compile.py): SROA, InstCombine and SimplifyCFG, then -O1 code
# generation. On the W6 training step this is ~6x less LLVM time than -O3
# for the same GEMM speed; loops are not vectorized (up to ~8x slower on
# cache-resident elementwise work) until the tier-1 code replaces it.
QUICK_PASSES = ("sroa", "instruction_combine", "simplify_cfg")


def compile_object_quick(llvm_ir_text, verify=True):
    """(module, object bytes, target machine) with the tier-0 pipeline."""
    tm = host_target_machine(1)
    mod = llvm.parse_assembly(llvm_ir_text)
    if verify:
        mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pm = llvm.create_new_module_pass_manager()
    for name in QUICK_PASSES:
        getattr(pm, f"add_{name}_pass")()
    pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=1)))
    return mod, tm.emit_object(mod), tm


class LoadedObject:
    """Object code loaded into this process by its own MCJIT engine; keep it
    alive as long as any of its code may run."""

    def __init__(self, obj_bytes, _runtime=False):
        if not _runtime:            # entry objects call theon_rt_* functions (rtlib.py)
            from . import rtlib
            rtlib.ensure_loaded()
        tm = host_target_machine(0)
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        empty.data_layout = str(tm.target_data)
        self.engine = llvm.create_mcjit_compiler(empty, tm)
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(obj_bytes)))
        self.engine.finalize_object()

    def address(self, name):
        addr = self.engine.get_function_address(name)
        if not addr:
            raise RuntimeError(f"JIT: no function {name!r} in the loaded object")
        return addr


def load_object(obj_bytes):
    return LoadedObject(obj_bytes)


class JitModule:
    """An optimized LLVM module loaded into this process."""

    def __init__(self, llvm_ir_text, opt_level=3, verify=True, cheap=None):
        self.module, self.object, self.target_machine = compile_object(
            llvm_ir_text, opt_level, verify=verify, cheap=cheap)
        self.loaded = LoadedObject(self.object)
        self.engine = self.loaded.engine

    def address(self, name):
        return self.loaded.address(name)

    @property
    def llvm_ir(self):
        return str(self.module)

    @property
    def asm(self):
        return self.target_machine.emit_assembly(self.module)
