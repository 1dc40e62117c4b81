"""LLVM target machine, optimization pipelines, object code and the in-process loader.

    compile_object(llvm_ir_text, opt_level)  parse -> optimize -> object bytes
    compile_object_quick(llvm_ir_text)       the same with a minimal pipeline (tier-0 kernels)
    compile_object_unoptimized(text)         no passes, -O0 code generation (tier-0 glue)
    load_object(obj_bytes)                   an MCJIT engine holding that code (or objects)
    JitModule(llvm_ir_text, opt_level)       both, for one module

Code is always loaded from object bytes, so code compiled now and code read
back from the on-disk cache (``runtime/cache.py``) take the same path.
"""
import contextlib
import functools

import llvmlite.binding as llvm

from ...llvm_util import init_llvm

init_llvm()

# Above this many LLVM instructions (before optimization) a module gets the
# cheaper -O2 pipeline without unrolling and interleaving: LLVM's time grows
# faster than linearly with function size, while the loops that matter
# (vectorized bodies, the GEMM micro-kernel) are vectorized either way.
# (Was 4000 while most loops were emitted in two versions: a 1,000-add chain,
# 5,700 instructions then, is 3,500 with one, and takes 0.45 s at -O3.)
BIG_MODULE_INSTRUCTIONS = 3000


@functools.lru_cache(maxsize=None)
def host_cpu():
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@functools.lru_cache(maxsize=None)
def host_target_key():
    """'triple/cpu/features': what object code compiled here depends on."""
    cpu, features = host_cpu()
    return f"{llvm.get_process_triple()}/{cpu}/{features}"


@functools.lru_cache(maxsize=None)
def _host_target():
    return llvm.Target.from_triple(llvm.get_process_triple())


def host_target_machine(opt_level=3, reloc="pic", codemodel="jitdefault"):
    """A new target machine for this CPU with all its features (AVX-512
    included). New each time: an MCJIT engine takes ownership of its own."""
    cpu, features = host_cpu()
    return _host_target().create_target_machine(
        cpu=cpu, features=features,
        opt=opt_level, reloc=reloc, codemodel=codemodel)


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


def _parse(llvm_ir_text, tm, verify):
    mod = llvm.parse_assembly(llvm_ir_text)
    if verify:
        mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    return mod


def compile_object(llvm_ir_text, opt_level=3, verify=True, cheap=None):
    """(optimized module, object bytes, target machine) for LLVM IR text.
    ``cheap`` None: decided by the module's size (BIG_MODULE_INSTRUCTIONS)."""
    tm = host_target_machine(opt_level)
    mod = _parse(llvm_ir_text, tm, verify)
    if cheap is None:
        cheap = count_instructions(llvm_ir_text) > BIG_MODULE_INSTRUCTIONS
    if opt_level:
        optimize(mod, tm, opt_level, cheap=cheap)
    return mod, tm.emit_object(mod), tm


# Tier 0 (see compile.py, irtext.py) compiles a big module as two objects:
#  * the kernels (loop workers, GEMM, math helpers) with the quick pipeline:
#    SROA, InstCombine and SimplifyCFG, then -O1 code generation. Same GEMM
#    speed as -O3 on the W6 step; loops are not vectorized (up to ~8x slower
#    on cache-resident elementwise work) until the tier-1 code replaces them.
#  * the glue (the entry: checks, allocation, calls; run once per call)
#    with no IR passes and -O0 code generation (FastISel), ~10x cheaper
#    per instruction than -O1 code generation.
# Relocations: RuntimeDyld resolves every R_X86_64_GOTOFF64 (PIC code of
# the large code model, the JIT default) against the first ".got" section
# of the engine, so only one object of an engine may use them. The kernels
# are static (absolute addresses, no GOT); the glue is PIC in the small
# code model (RIP-relative data, calls through stubs RuntimeDyld makes, a
# GOT of its own, no GOTOFF), where FastISel also selects its calls, which
# it leaves to SelectionDAG in the large model (-O0 code generation of the
# W6 entry: 19 instead of 25 ms).
#
# The kernels' code generation also skips Loop Strength Reduction and the
# machine scheduler: 40% less code generation time on the W6 kernels, for
# tier-0 steps ~5% slower (x86 addressing modes do most of what LSR would).
# LLVM's command-line options are process-wide, so they are set and reset
# around the one emit, under llvmlite's lock: no other compile sees them.
QUICK_PASSES = ("sroa", "instruction_combine", "simplify_cfg")
QUICK_CODEGEN_OPTIONS = (("disable-lsr", "true", "false"), ("enable-misched", "false", "true"))
TIER0_RELOC = "static"             # the kernels
GLUE_MACHINE = ("pic", "small")     # the glue: relocation model, code model


@contextlib.contextmanager
def llvm_options(options):
    """LLVM command-line options ``(name, value, default)`` set inside, and
    llvmlite's lock held (its binding calls from this thread still run)."""
    lock = getattr(getattr(llvm.ffi, "lib", None), "_lock", None)
    if lock is None:            # not the llvmlite this was written for: no options
        yield
        return
    with lock:
        try:
            for name, value, _ in options:
                llvm.set_option("theon", f"-{name}={value}")
            yield
        finally:
            for name, _, default in options:
                llvm.set_option("theon", f"-{name}={default}")


def compile_object_quick(llvm_ir_text, verify=True):
    """(module, object bytes, target machine) with the tier-0 kernel pipeline."""
    tm = host_target_machine(1, TIER0_RELOC)
    mod = _parse(llvm_ir_text, tm, verify)
    pm = llvm.create_new_module_pass_manager()
    for name in QUICK_PASSES:
        getattr(pm, f"add_{name}_pass")()
    pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=1)))
    with llvm_options(QUICK_CODEGEN_OPTIONS):
        obj = tm.emit_object(mod)
    return mod, obj, tm


def compile_object_unoptimized(llvm_ir_text, verify=True):
    """(module, object bytes, target machine): no IR passes, -O0 code
    generation (the tier-0 glue)."""
    tm = host_target_machine(0, *GLUE_MACHINE)
    mod = _parse(llvm_ir_text, tm, verify)
    return mod, tm.emit_object(mod), tm


class LoadedObject:
    """Object code loaded into this process by its own MCJIT engine; keep it
    alive as long as any of its code may run.

    ``obj_bytes`` is one object, or a list of objects that reference each
    other's external symbols (tier 0's glue and kernels): they are loaded
    into the same engine, whose symbols resolve before the process's, so
    names need only be unique among the objects of one engine."""

    def __init__(self, obj_bytes, _runtime=False):
        if not _runtime:            # entry objects call theon_rt_* functions (cpu/rtlib)
            from .rtload import ensure_loaded
            ensure_loaded()
        objects = obj_bytes if isinstance(obj_bytes, (list, tuple)) else [obj_bytes]
        tm = host_target_machine(0)
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        empty.data_layout = str(tm.target_data)
        self.engine = llvm.create_mcjit_compiler(empty, tm)
        for obj in objects:
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(obj)))
        self.engine.finalize_object()

    def address(self, name):
        addr = self.engine.get_function_address(name)
        if not addr:
            raise RuntimeError(f"JIT: no function {name!r} in the loaded object")
        return addr


def load_object(obj_bytes):
    """A LoadedObject for one object's bytes (or a list of them)."""
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
