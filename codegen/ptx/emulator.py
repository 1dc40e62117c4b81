"""Run GPU kernels on this CPU: a device for testing without a GPU.

``EmulatedDevice`` has the interface of the CUDA device
(``runtime/cuda.py``; see ``state.py``) but its memory is host memory and
its kernels are the *same kernel specs* compiled for the host
(``HostTarget``) with a small ``EMU_SCHEDULE``. In a kernel with barriers
each GPU thread of a block is an OS thread calling the kernel (ctypes
releases the GIL) and a barrier is ``pthread_barrier_wait``; the threads of
a kernel without barriers are independent and run one after another.
Blocks run one after another (so a plain global is
their shared memory), and grids are capped at ``EMU_SCHEDULE.max_grid``
per dimension, which exercises every kernel's grid-stride loops.

What it checks: the launch plan (shapes, strides, variants, splits, grid
rules), the kernels' index arithmetic, tiling, tree reductions and
barriers, and the scalar code. What it cannot check: PTX itself (ptxas
does), the CUDA driver calls, and real GPU timing or memory behaviour.
"""
import ctypes
import threading

import llvmlite.binding as llvm
import numpy as np

from .target import HostTarget, Schedule
from .state import LoadedProgram

EMU_SCHEDULE = Schedule(block=32, max_grid=3, mm_bm=16, mm_bn=16, mm_bk=8, mm_tm=2, mm_tn=2)
BARRIER_BYTES = 256         # >= sizeof(pthread_barrier_t) on every libc we know
ALIGN = 256                 # cuMemAlloc's alignment

_libc = ctypes.CDLL(None)
_barrier_init = _libc.pthread_barrier_init
_barrier_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
_barrier_destroy = _libc.pthread_barrier_destroy
_barrier_destroy.argtypes = [ctypes.c_void_p]


class EmuBuffer:
    """Host memory standing in for a device allocation (aligned like cuMemAlloc)."""

    __slots__ = ("_mem", "ptr", "nbytes")

    def __init__(self, nbytes):
        self._mem = np.empty(max(int(nbytes), 1) + ALIGN, dtype=np.uint8)
        base = self._mem.ctypes.data
        self.ptr = base + (-base % ALIGN)
        self.nbytes = nbytes


class EmuProgram(LoadedProgram):
    """A plan's kernels JIT-compiled for this CPU."""

    def __init__(self, plan, schedule):
        super().__init__(plan)
        target = HostTarget()
        from . import emit_module
        module = emit_module(plan, target, schedule, name=f"{plan.func.name}.emu")
        llvm.add_symbol("pthread_barrier_wait",
                        ctypes.cast(_libc.pthread_barrier_wait, ctypes.c_void_p).value)
        ref = llvm.parse_assembly(str(module))
        ref.verify()
        tm = target.machine()
        self.llvm_ir = str(ref)
        self.engine = llvm.create_mcjit_compiler(ref, tm)
        self.engine.finalize_object()
        for name, spec in plan.kernels.items():
            proto = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * len(spec.params)),
                                     ctypes.c_void_p, ctypes.c_void_p)
            self.handles[name] = (proto(self.engine.get_function_address(name)), spec.barriers)

    @property
    def ptx(self):
        """The real PTX of the same plan (for dump(f, 'ptx'))."""
        if self._ptx is None:
            from . import PtxModule
            self._ptx = PtxModule(self.plan).ptx
        return self._ptx

    @property
    def asm(self):
        return self.ptx


class EmulatedDevice:
    """A GPU device emulated on the CPU (see the module docstring). It has
    the CUDA device's whole interface, run synchronously: its "stream" is
    the calling thread, so ``synchronize`` and stream waits do nothing;
    its memory is host memory, so DLPack sees it as kDLCPU."""
    name = "emulated GPU (CPU threads)"
    dlpack_device_type = 1          # kDLCPU
    ordinal = 0
    stream_handle = None

    def __init__(self, schedule=EMU_SCHEDULE):
        self.schedule = schedule
        self.launches = 0
        self.bytes_allocated = 0

    def copy(self, dst, src, nbytes):
        """Device-to-device copy."""
        if nbytes:
            ctypes.memmove(dst, src, nbytes)

    def release_memory(self):
        """Nothing is pooled: buffers go back to NumPy when collected."""
        return 0

    def memory_stats(self):
        return {"in_use_bytes": None, "pooled_bytes": 0, "bytes_allocated": self.bytes_allocated}

    def wait_for_stream(self, stream, event=None):
        pass

    def wait_on_stream(self, stream):
        pass

    def alloc(self, nbytes):
        self.bytes_allocated += nbytes
        return EmuBuffer(nbytes)

    def upload(self, array):
        buf = self.alloc(array.nbytes)
        if array.nbytes:
            ctypes.memmove(buf.ptr, array.ctypes.data, array.nbytes)
        return buf

    def download(self, ptr, out):
        ctypes.memmove(out.ctypes.data, ptr, out.nbytes)

    def load(self, plan):
        return EmuProgram(plan, self.schedule)

    def activate(self):
        pass

    def synchronize(self):
        pass

    def launch(self, kernel, grid, block, args):
        self.launches += 1
        kernel, barriers = kernel
        if not barriers:
            self._run_serially(kernel, grid, block, args)
            return
        threads = block[0] * block[1] * block[2]
        barrier = np.zeros(BARRIER_BYTES, dtype=np.uint8)
        bar_ptr = barrier.ctypes.data
        for bz in range(grid[2]):
            for by in range(grid[1]):
                for bx in range(grid[0]):
                    if _barrier_init(bar_ptr, None, threads):
                        raise RuntimeError("emulator: pthread_barrier_init failed")
                    try:
                        self._run_block(kernel, (bx, by, bz), grid, block, args, bar_ptr)
                    finally:
                        _barrier_destroy(bar_ptr)

    @staticmethod
    def _run_serially(kernel, grid, block, args):
        """A kernel without barriers: its threads are independent, so they
        run one after another on this thread."""
        ids = (ctypes.c_int32 * 12)()
        ids[6:12] = [*block, *grid]
        at = ctypes.addressof(ids)
        for bz in range(grid[2]):
            for by in range(grid[1]):
                for bx in range(grid[0]):
                    ids[3:6] = [bx, by, bz]
                    for tz in range(block[2]):
                        for ty in range(block[1]):
                            for tx in range(block[0]):
                                ids[0:3] = [tx, ty, tz]
                                kernel(*args, at, None)

    @staticmethod
    def _run_block(kernel, ctaid, grid, block, args, bar_ptr):
        workers = []
        for tz in range(block[2]):
            for ty in range(block[1]):
                for tx in range(block[0]):
                    ids = (ctypes.c_int32 * 12)(tx, ty, tz, *ctaid, *block, *grid)
                    t = threading.Thread(target=kernel, args=(*args, ctypes.addressof(ids), bar_ptr))
                    t.ids = ids         # keep the ids alive while the thread runs
                    workers.append(t)
        for t in workers:
            t.start()
        for t in workers:
            t.join()
