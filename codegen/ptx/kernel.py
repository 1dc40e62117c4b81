"""Building one kernel: parameters, thread ids, grid-stride loops, indexing.

A ``KernelBuilder`` is what the CPU backend's scalar emitters
(``codegen/scalar.py``: ``SCALAR``, ``ScalarCtx``) expect of a lowering
context -- ``.b`` (an llvmlite IRBuilder), ``.module`` and ``.declare`` --
so GPU kernels compute every elementwise op with exactly the CPU's
semantics, transcendental functions included (``codegen/vecmath.py``
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

    def grid_stride(self, n, name="i", axis="x"):
        """Every index below ``n`` once over the whole grid along ``axis``."""
        b = self.b
        first = b.add(b.mul(self.sreg("ctaid", axis), self.sreg("ntid", axis)), self.sreg("tid", axis))
        step = b.mul(self.sreg("ntid", axis), self.sreg("nctaid", axis))
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

    def min(self, a, c):
        return smin(self.b, a, c)

    def finish(self):
        self.b.ret_void()
        self.b.position_at_end(self.entry)
        self.b.branch(self.start)
