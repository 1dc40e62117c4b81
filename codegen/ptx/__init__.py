"""GPU backend: theon IR -> launch plan + kernels -> LLVM IR (NVPTX) -> PTX.

    plan.py     the launch plan of a Function: host values, fusion of
                elementwise ops, one step per op (``LOWERINGS``)
    steps.py    what the host does per op: shapes, checks, allocation, launches
    shapes.py   host shape rules (same checks and error codes as the CPU)
    maps.py     elementwise/copy/arange kernels (grid-stride loops)
    reduce.py   reduction kernels (warp shuffles, vector loads, device-filling splits)
    rows.py     multi-stage fused ops over rows (softmax): one kernel, a block per row
    gemm.py     matrix-product kernels: CUDA cores (double-buffered tiles) and
                tensor cores (mma.sync TF32/f16/bf16); gemm_step.py plans them
                (tile variants, TF32 opt-in, split-K, fused epilogues); gemm_mma.py the
                mma/tf32 primitives per target; gemm_wgmma.py the sm_90a warpgroup kernels
    kernel.py   KernelSpec / KernelBuilder (ids, loops, indexing)
    target.py   PtxTarget (nvptx64-nvidia-cuda) and HostTarget (emulation), Schedule
    state.py    DeviceTensor and RunState: one call on a device
    specialize.py  the compiled host side: plans recorded per input signature, replayed
    emulator.py EmulatedDevice: the kernels on this CPU, a thread per GPU thread

The runtime side is ``runtime/cuda.py`` (the CUDA driver through ctypes)
and ``runtime/gpu_function.py`` (``theon.function`` on ``device='cuda'``).
Elementwise ops compute with the CPU backend's scalar emitters and vector
math (``codegen/scalar.py``, ``vecmath/``), so both backends agree.
"""
from .target import DEFAULT_SM, GPU_SCHEDULE, PtxTarget, Schedule  # noqa: F401


def emit_module(plan, target, schedule, name=None):
    """An llvmlite module with every kernel of ``plan`` built for ``target``."""
    module = target.new_module(name or plan.func.name)
    for spec in plan.kernels.values():
        spec.build(module, target, schedule)
    return module


class PtxModule:
    """The PTX of a function's kernels (and the LLVM IR it came from)."""

    def __init__(self, plan, sm=DEFAULT_SM, opt_level=3, schedule=GPU_SCHEDULE):
        self.plan = plan
        self.sm = sm
        self.schedule = schedule
        target = PtxTarget(sm, opt_level)
        module = emit_module(plan, target, schedule)
        self.unoptimized_llvm_ir = str(module)
        self.llvm_ir, self.ptx = target.compile(module)
        self.kernel_names = list(plan.kernels)

    @property
    def asm(self):
        return self.ptx

    def describe(self, ptx_file=None):
        return self.plan.describe(self.schedule, sm=self.sm, ptx_file=ptx_file)


def compile_ptx(func, sm=DEFAULT_SM, opt_level=3, schedule=GPU_SCHEDULE):
    """PTX for IR Function ``func``: a PtxModule (``.ptx``, ``.llvm_ir``,
    ``.plan``, ``.describe()``)."""
    from .plan import Plan
    return PtxModule(Plan(func), sm=sm, opt_level=opt_level, schedule=schedule)



def ptx_of(compiled, sm=DEFAULT_SM):
    """The PTX of a compiled theon function (``theon.printing.dump(f, 'ptx')``):
    its own for a GPU function, else its optimized IR compiled for ``sm``."""
    native = getattr(compiled, "native", None)
    ptx = getattr(native, "ptx", None)
    if isinstance(ptx, str):
        return ptx
    return compile_ptx(compiled.ir, sm=sm).ptx
