"""Building one kernel: parameters, thread ids, grid-stride loops, indexing.

A ``KernelBuilder`` is what the CPU backend's scalar emitters
(``codegen/scalar.py``: ``SCALAR``, ``ScalarCtx``) expect of a lowering
context -- ``.b`` (an llvmlite IRBuilder), ``.module`` and ``.declare`` --
so GPU kernels compute every elementwise op with exactly the CPU's
semantics, transcendental functions included (``codegen/vecmath/``
emits them as plain LLVM IR: no libdevice, no libm).

Kernel parameters are typed pointers (device addresses) and i64 scalars;
``KernelSpec.params`` lists them, and launchers pass values in that order.
"""
import contextlib

import llvmlite.ir as lir

from ..llvm_util import I64, LLTYPE, Emitter, counted_loop, i64, linear_offset, smin  # noqa: F401 (i64: kernels import it here)


def ptr_type(dtype):
    return LLTYPE[dtype].as_pointer()


class KernelSpec:
    """A kernel of a program: its name, its parameters ((name, kind) with
    kind 'i64' or a dtype for a pointer to it), and how to emit it."""

    def __init__(self, name, params, emit, doc="", barriers=False):
        self.name = name
        self.params = tuple(params)
        self.emit = emit            # emit(kb, schedule) fills the body
        self.doc = doc
        self.barriers = barriers    # its threads synchronize (bar.sync)

    def param_types(self):
        return [I64 if kind == "i64" else ptr_type(kind) for _, kind in self.params]

    def build(self, module, target, schedule):
        kb = KernelBuilder(module, target, self.name, self.params, self.param_types())
        self.emit(kb, schedule)
        kb.finish()
        return kb.fn


class KernelBuilder(Emitter):
    """Emits one kernel; ``declare``, ``at_entry`` and ``slot`` (what
    ScalarCtx and the accumulators use) come from ``llvm_util.Emitter``."""

    ENTRY_AT_START = False          # "entry" is a prologue block (see __init__)

    def __init__(self, module, target, name, params, param_types):
        self.module = module
        self.target = target
        self.fn = target.declare_kernel(module, name, param_types)
        # "entry" holds the prologue (ids, stack slots) and ends with a branch
        # to "start", added by finish(); the body is built from "start" on
        self.entry = self.entry_block = self.fn.append_basic_block("entry")
        self.b = lir.IRBuilder(self.entry)
        self.p = {}
        for (pname, _), arg in zip(params, self.fn.args):
            arg.name = pname
            self.p[pname] = arg
        target.enter_kernel(self)
        self._sregs = {}
        self.start = self.fn.append_basic_block("start")
        self.b.position_at_end(self.start)

    # --- ids, barriers, shared memory ----------------------------------------------
    def sreg(self, reg, axis="x"):
        """Special register ``reg`` of ``axis`` as i64 (read once per kernel)."""
        key = (reg, axis)
        if key not in self._sregs:
            with self.at_entry():
                self._sregs[key] = self.b.zext(self.target.sreg(self, reg, axis), I64, name=f"{reg}.{axis}")
        return self._sregs[key]

    def barrier(self):
        self.target.barrier(self)

    def mma(self, kind, a, b, c):
        """A warp's tensor-core product d = a @ b + c on fragment registers
        (``gemm_mma.py``: kinds, layouts, the emulator's semantics)."""
        return self.target.mma(self, kind, a, b, c)

    def tf32(self, x):
        """f32 ``x`` rounded to TF32 (``cvt.rna.tf32.f32``), as i32 bits."""
        return self.target.tf32(self, x)

    def ldmatrix(self, row_ptr, count):
        """``ldmatrix.sync.aligned.m8n8.x<count>.shared.b16``: ``count`` i32
        fragments; this lane gives the shared address of one 16-byte row."""
        return self.target.ldmatrix(self, row_ptr, count)

    # --- warps ------------------------------------------------------------------------------
    @property
    def warp(self):
        """Threads per warp of the target (32 on NVPTX; smaller on the host,
        so that emulated blocks have several warps)."""
        return self.target.warp

    def lane(self):
        """(lane in the warp, warp in the block) of this thread (1-d blocks)."""
        tid = self.sreg("tid")
        return self.b.and_(tid, i64(self.warp - 1), name="lane"), self.b.lshr(tid, i64(self.warp.bit_length() - 1),
                                                                               name="warp")

    def shuffle_xor(self, value, mask):
        """The ``value`` of lane ``lane ^ mask`` of this warp (every thread of
        the block must call it: on the host it is a block barrier)."""
        return self.target.shuffle_xor(self, value, mask)

    def warp_reduce(self, values, combine):
        """Butterfly over the warp: every lane gets ``combine`` of all lanes'
        ``values`` (a tuple; ``combine(a, b)`` returns a tuple). The order of
        combination is fixed (deterministic)."""
        values = tuple(values)
        mask = self.warp // 2
        while mask >= 1:
            other = tuple(self.shuffle_xor(v, mask) for v in values)
            values = tuple(combine(values, other))
            mask //= 2
        return values

    def block_reduce(self, values, combine, identity, max_threads):
        """``combine`` of every thread's ``values`` over a 1-d block of at most
        ``max_threads`` threads (a multiple of the warp): warp shuffles, one
        value per warp in shared memory, then the first warp's shuffles.
        Every thread of the block gets the result (two barriers)."""
        b = self.b
        values = self.warp_reduce(values, combine)
        nwarps = max(max_threads // self.warp, 1)
        lane, warp = self.lane()
        scratch = [self.shared(v.type, nwarps, "wred") for v in values]
        with self.if_(b.icmp_unsigned("==", lane, i64(0))):
            for v, sm in zip(values, scratch):
                b.store(v, b.gep(sm, [warp]))
        self.barrier()
        nw = b.lshr(self.sreg("ntid"), i64(self.warp.bit_length() - 1))
        inside = b.icmp_unsigned("<", lane, nw)
        at = b.select(inside, lane, i64(0))
        vals = tuple(b.select(inside, b.load(b.gep(sm, [at])), ident)
                     for sm, ident in zip(scratch, identity))
        vals = self.warp_reduce(vals, combine)
        self.barrier()              # the scratch may be written again
        return vals

    def shared(self, dtype_or_type, count, name="smem"):
        """Pointer to element 0 of a new block-shared array."""
        ty = LLTYPE[dtype_or_type] if isinstance(dtype_or_type, str) else dtype_or_type
        gv = self.target.shared_array(self.module, ty, count, f"{self.fn.name}_{name}")
        return self.b.gep(gv, [i64(0), i64(0)], name=name)

    # --- loops --------------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, start, stop, step, name="i"):
        """``for (i = start; i < stop; i += step)`` (signed i64); yields i."""
        with counted_loop(self.b, stop, name, start, step) as lp:
            yield lp.index

    def grid_first_step(self, axis="x"):
        """(this thread's first index, the grid's stride) along ``axis``."""
        b = self.b
        first = b.add(b.mul(self.sreg("ctaid", axis), self.sreg("ntid", axis)), self.sreg("tid", axis))
        return first, b.mul(self.sreg("ntid", axis), self.sreg("nctaid", axis))

    def grid_stride(self, n, name="i", axis="x"):
        """Every index below ``n`` once over the whole grid along ``axis``."""
        first, step = self.grid_first_step(axis)
        return self.loop(first, n, step, name)

    def block_stride(self, n, name="blk", axis="x"):
        """Block indices below ``n`` (uniform within a block: barriers allowed)."""
        return self.loop(self.sreg("ctaid", axis), n, self.sreg("nctaid", axis), name)

    @contextlib.contextmanager
    def if_(self, cond):
        with self.b.if_then(cond):
            yield

    # --- indexing --------------------------------------------------------------------------
    def decompose(self, flat, dims):
        """The multi-index of the C-order position ``flat`` in ``dims``
        (i64 values, all >= 0); dim 0 needs no division."""
        b = self.b
        idx = [None] * len(dims)
        rem = flat
        for d in range(len(dims) - 1, 0, -1):
            q = b.udiv(rem, dims[d])
            idx[d] = b.sub(rem, b.mul(q, dims[d]))
            rem = q
        if dims:
            idx[0] = rem
        return idx

    def offset(self, idx, strides):
        """sum(idx[d] * strides[d]) in elements."""
        return linear_offset(self.b, idx, strides)

    def walk(self, start, dims, name="ix"):
        """An ``IndexWalker`` at the C-order position ``start`` of ``dims``."""
        return IndexWalker(self, start, dims, name)

    def min(self, a, c):
        return smin(self.b, a, c)

    def finish(self):
        self.b.ret_void()
        self.b.position_at_end(self.entry)
        self.b.branch(self.start)


class IndexWalker:
    """The multi-index of a flat position that moves forward by a fixed step:
    the divisions happen once (``decompose`` of the start and of the step),
    each move is an add with one conditional carry per dim (both parts are
    below the dim's size, so one subtraction suffices). Its state lives in
    stack slots, so moves may happen inside loops."""

    def __init__(self, kb, start, dims, name="ix"):
        b = kb.b
        # a size-0 dim means no position at all: divide by 1 instead (no trap)
        self.kb, self.dims = kb, [b.select(b.icmp_unsigned("==", d, i64(0)), i64(1), d) for d in dims]
        self.slots = [kb.slot(I64, f"{name}{d}") for d in range(len(self.dims))]
        for slot, v in zip(self.slots, kb.decompose(start, self.dims)):
            kb.b.store(v, slot)

    def index(self):
        return [self.kb.b.load(s) for s in self.slots]

    def step_of(self, step):
        """The decomposed ``step`` (emit it before the loop that advances)."""
        return self.kb.decompose(step, self.dims)

    def advance(self, step_idx):
        """Move by a step given as ``step_of(step)``."""
        b = self.kb.b
        carry = None
        for d in range(len(self.dims) - 1, -1, -1):
            v = b.add(b.load(self.slots[d]), step_idx[d])
            if carry is not None:
                v = b.add(v, carry)
            if d == 0:
                b.store(v, self.slots[d])       # dim 0 never wraps: the flat position bounds the loop
                break
            over = b.icmp_unsigned(">=", v, self.dims[d])
            b.store(b.select(over, b.sub(v, self.dims[d]), v), self.slots[d])
            carry = b.zext(over, I64)
