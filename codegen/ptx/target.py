"""Kernel targets: where the kernels of a GPU program are compiled to run.

    PtxTarget   ``nvptx64-nvidia-cuda``: kernels use the ``ptx_kernel``
                calling convention (``nvvm.annotations`` metadata before
                LLVM 20), thread and block ids are the
                ``llvm.nvvm.read.ptx.sreg.*`` intrinsics, block-shared
                memory lives in address space 3, a barrier is ``bar.sync 0``.
                LLVM's NVPTX back end prints the module as PTX text.
    HostTarget  the same kernels compiled for this CPU, so that they can run
                without a GPU (``emulator.py``): every kernel takes two hidden
                pointer arguments, the ids of the calling thread
                (tid, ctaid, ntid, nctaid; x, y, z each) and a
                ``pthread_barrier_t`` of its block; block-shared memory is a
                plain global (blocks run one after another).

A ``Schedule`` says *how* kernels are shaped (threads per block, matmul
tiles, grid caps); kernels are correct for any grid size because every one
of them loops over its work with grid strides, so a launcher may cap grids.
"""
import functools
import re
from dataclasses import dataclass

import llvmlite.binding as llvm
import llvmlite.ir as lir

from ..llvm_util import I8P, I32, I64, init_llvm  # noqa: F401

PTX_TRIPLE = "nvptx64-nvidia-cuda"
DEFAULT_SM = "sm_80"
SM_PATTERN = re.compile(r"^sm_[0-9]{2,3}[af]?$")
SREGS = ("tid", "ctaid", "ntid", "nctaid")
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Schedule:
    """How kernels are shaped (never what they compute)."""
    block: int = 256            # threads per block: elementwise, copy, reduction kernels (power of 2)
    max_grid: int = 65535       # blocks per grid dimension at most (kernels grid-stride)
    mm_bm: int = 128            # matmul: rows of C per block tile (gemm.py)
    mm_bn: int = 128            # matmul: columns of C per block tile
    mm_bk: int = 8              # matmul: K slice staged in shared memory
    mm_tm: int = 8              # matmul: rows of the register tile of one thread
    mm_tn: int = 8              # matmul: columns of the register tile of one thread
    sm_count: int = 132         # multiprocessors to fill (H100 SXM; a device may know its own)
    threads_per_sm: int = 2048  # resident threads per multiprocessor at full occupancy

    @property
    def fill_blocks(self):
        """Blocks of ``block`` threads that fill every multiprocessor once."""
        return self.sm_count * max(1, self.threads_per_sm // self.block)

    def __post_init__(self):
        if self.block & (self.block - 1) or self.block < 2:
            raise ValueError(f"Schedule: block must be a power of two >= 2, got {self.block}")
        for name in ("mm_bm", "mm_bn"):
            tile, reg = getattr(self, name), getattr(self, "mm_t" + name[-1])
            if tile % reg:
                raise ValueError(f"Schedule: {name}={tile} is not a multiple of its register tile {reg}")
        threads = self.mm_threads
        if (self.mm_bm * self.mm_bk) % threads or (self.mm_bk * self.mm_bn) % threads:
            raise ValueError("Schedule: matmul tiles must split evenly over the block's threads")

    @property
    def mm_threads(self):
        return (self.mm_bm // self.mm_tm) * (self.mm_bn // self.mm_tn)


GPU_SCHEDULE = Schedule()


def _init_all():
    return init_llvm(all_targets=True)


def nvptx_available():
    """True if this llvmlite was built with the NVPTX back end."""
    _init_all()
    try:
        llvm.Target.from_triple(PTX_TRIPLE)
    except RuntimeError:
        return False
    return True


def check_sm(sm):
    """``sm`` as given, if it names a GPU architecture (sm_80, sm_90a, ...)."""
    if not isinstance(sm, str) or not SM_PATTERN.match(sm):
        raise ValueError(f"GPU architecture must look like sm_80 or sm_90a, got {sm!r}")
    return sm


def optimize(module_ref, tm, opt_level):
    """LLVM's standard -O<n> pipeline, in place."""
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_unrolling = opt_level >= 2
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module_ref, pb)


class KernelTarget:
    """The hooks a kernel builder needs from its target."""
    name = None

    def declare_kernel(self, module, name, param_types):
        raise NotImplementedError

    def enter_kernel(self, kb):
        """Called once the kernel's entry block exists."""

    def sreg(self, kb, reg, axis):
        """The i32 special register ``reg`` (tid/ctaid/ntid/nctaid) of ``axis``."""
        raise NotImplementedError

    def barrier(self, kb):
        raise NotImplementedError

    def shared_array(self, module, elem_type, count, name):
        """A block-shared array of ``count`` elements; returns the global."""
        raise NotImplementedError

    warp = 32                   # threads per warp

    def shuffle_xor(self, kb, value, mask):
        """The value of lane ``lane ^ mask`` (``mask`` < warp) of the warp."""
        raise NotImplementedError


def _as_words(b, value):
    """(i32 words, rebuild(words)) of a scalar LLVM value (shuffles move 32 bits)."""
    ty = value.type
    if isinstance(ty, lir.FloatType):
        return [value], lambda w: w[0]
    if isinstance(ty, lir.DoubleType):
        bits = b.bitcast(value, I64)
    elif isinstance(ty, lir.IntType) and ty.width < 32:
        return [b.zext(value, I32)], lambda w: b.trunc(w[0], ty)
    elif ty == I32:
        return [value], lambda w: w[0]
    elif ty == I64:
        bits = value
    else:
        raise TypeError(f"shuffle: unsupported type {ty}")
    words = [b.trunc(bits, I32), b.trunc(b.lshr(bits, lir.Constant(I64, 32)), I32)]

    def rebuild(w):
        v = b.or_(b.zext(w[0], I64), b.shl(b.zext(w[1], I64), lir.Constant(I64, 32)))
        return v if ty == I64 else b.bitcast(v, ty)
    return words, rebuild


class PtxTarget(KernelTarget):
    name = "ptx"
    native_f16 = True       # float16 casts are cvt.f32.f16 / cvt.rn.f16.f32 (codegen/half.py)

    def __init__(self, sm=DEFAULT_SM, opt_level=3):
        _init_all()
        self.sm = check_sm(sm)
        self.opt_level = opt_level
        self.new_llvm = llvm.llvm_version_info >= (20,)

    @functools.cached_property
    def machine(self):
        try:
            target = llvm.Target.from_triple(PTX_TRIPLE)
        except RuntimeError as e:
            raise RuntimeError(f"this llvmlite has no NVPTX back end ({e}); PTX cannot be emitted") from None
        return target.create_target_machine(cpu=self.sm, features="", opt=self.opt_level)

    def new_module(self, name):
        module = lir.Module(name=name)
        module.triple = PTX_TRIPLE
        module.data_layout = str(self.machine.target_data)
        return module

    def declare_kernel(self, module, name, param_types):
        fn = lir.Function(module, lir.FunctionType(lir.VoidType(), param_types), name=name)
        if self.new_llvm:
            fn.calling_convention = "ptx_kernel"
        else:
            md = module.add_named_metadata("nvvm.annotations")
            md.add(module.add_metadata([fn, "kernel", lir.Constant(I32, 1)]))
        return fn

    def sreg(self, kb, reg, axis):
        return kb.b.call(kb.declare(f"llvm.nvvm.read.ptx.sreg.{reg}.{axis}", I32, []), [])

    def barrier(self, kb):
        if self.new_llvm:
            fn = kb.declare("llvm.nvvm.barrier.cta.sync.aligned.all", lir.VoidType(), [I32])
            kb.b.call(fn, [lir.Constant(I32, 0)])
        else:
            kb.b.call(kb.declare("llvm.nvvm.barrier0", lir.VoidType(), []), [])

    def mma(self, kb, kind, a, b, c):
        from .gemm_mma import ptx_mma
        return ptx_mma(kb, kind, a, b, c)

    def tf32(self, kb, x):
        from .gemm_mma import ptx_tf32
        return ptx_tf32(kb, x)

    def ldmatrix(self, kb, row_ptr, count):
        from .gemm_mma import ptx_ldmatrix
        return ptx_ldmatrix(kb, row_ptr, count)

    def shared_array(self, module, elem_type, count, name):
        ty = lir.ArrayType(elem_type, count)
        gv = lir.GlobalVariable(module, ty, module.get_unique_name(name), addrspace=3)
        gv.linkage = "internal"
        gv.initializer = lir.Constant(ty, lir.Undefined)
        gv.align = 16
        return gv

    def shuffle_xor(self, kb, value, mask):
        """``shfl.sync.bfly.b32`` (full warp) per 32-bit word of ``value``."""
        b = kb.b
        words, rebuild = _as_words(b, value)
        out = []
        for w in words:
            suffix = "f32" if isinstance(w.type, lir.FloatType) else "i32"
            fn = kb.declare(f"llvm.nvvm.shfl.sync.bfly.{suffix}", w.type, [I32, w.type, I32, I32])
            out.append(b.call(fn, [lir.Constant(I32, -1), w, lir.Constant(I32, mask), lir.Constant(I32, 0x1f)]))
        return rebuild(out)

    def compile(self, module):
        """(optimized LLVM IR text, PTX text) of ``module``."""
        ref = llvm.parse_assembly(str(module))
        ref.verify()
        optimize(ref, self.machine, self.opt_level)
        return str(ref), self.machine.emit_assembly(ref)


class HostTarget(KernelTarget):
    """Kernels for this CPU, launched by the emulator (see module docstring)."""
    name = "host"
    IDS = {(reg, axis): 3 * r + a for r, reg in enumerate(SREGS) for a, axis in enumerate(AXES)}

    def __init__(self, opt_level=0):
        # -O0 code generation: the emulator's kernels run on test-sized data, and their compile was
        # most of an emulated test's time (tests/gpu/test_gpu_kernels.py: 61.9 CPU s at -O2, 43.6 at -O0)
        _init_all()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.opt_level = opt_level

    def machine(self):
        """A new host target machine (an MCJIT engine owns the one it gets)."""
        target = llvm.Target.from_triple(llvm.get_process_triple())
        return target.create_target_machine(cpu=llvm.get_host_cpu_name(), opt=self.opt_level,
                                            reloc="pic", codemodel="jitdefault")

    def new_module(self, name):
        module = lir.Module(name=name)
        module.triple = llvm.get_process_triple()
        return module

    def declare_kernel(self, module, name, param_types):
        return lir.Function(module, lir.FunctionType(lir.VoidType(), list(param_types) + [I8P, I8P]),
                            name=name)

    def enter_kernel(self, kb):
        ids_raw, kb.emu_barrier = kb.fn.args[-2], kb.fn.args[-1]
        ids_raw.name, kb.emu_barrier.name = "emu.ids", "emu.barrier"
        kb.emu_ids = kb.b.bitcast(ids_raw, I32.as_pointer())

    def sreg(self, kb, reg, axis):
        slot = kb.b.gep(kb.emu_ids, [lir.Constant(I64, self.IDS[reg, axis])])
        return kb.b.load(slot, name=f"{reg}.{axis}")

    def mma(self, kb, kind, a, b, c):
        from .gemm_mma import host_mma
        return host_mma(kb, kind, a, b, c)

    def tf32(self, kb, x):
        from .gemm_mma import host_tf32
        return host_tf32(kb, x)

    def ldmatrix(self, kb, row_ptr, count):
        from .gemm_mma import host_ldmatrix
        return host_ldmatrix(kb, row_ptr, count)

    def barrier(self, kb):
        wait = kb.declare("pthread_barrier_wait", I32, [I8P])
        kb.b.call(wait, [kb.emu_barrier])

    warp = 8            # emulated warps: a 32-thread emulated block has 4 of them
    MAX_THREADS = 1024

    def shuffle_xor(self, kb, value, mask):
        """Through a per-kernel scratch of one word per thread: store, block
        barrier, load lane ``tid ^ mask``, barrier (so the kernel must be a
        barrier kernel, and every thread of the block must call it)."""
        b = kb.b
        scratch = getattr(kb, "emu_shuffle", None)
        if scratch is None:
            gv = self.shared_array(kb.module, I64, self.MAX_THREADS, f"{kb.fn.name}_shfl")
            scratch = kb.emu_shuffle = gv
        tid = kb.sreg("tid")
        words, rebuild = _as_words(b, value)
        out = []
        for w in words:
            wide = b.zext(b.bitcast(w, I32), I64)
            b.store(wide, b.gep(scratch, [lir.Constant(I64, 0), tid]))
            self.barrier(kb)
            got = b.load(b.gep(scratch, [lir.Constant(I64, 0), b.xor(tid, lir.Constant(I64, mask))]))
            self.barrier(kb)
            got = b.trunc(got, I32)
            out.append(b.bitcast(got, w.type) if w.type != I32 else got)
        return rebuild(out)

    def shared_array(self, module, elem_type, count, name):
        ty = lir.ArrayType(elem_type, count)
        gv = lir.GlobalVariable(module, ty, module.get_unique_name(name))
        gv.linkage = "internal"
        gv.initializer = lir.Constant(ty, None)
        gv.align = 16
        return gv
