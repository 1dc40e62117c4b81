"""Lowering context: tensors as LLVM values, loops, allocation, checks.

A tensor in native code is a ``Buf``: a typed data pointer plus one i64 SSA
value per dim and per stride (strides in elements, possibly 0 or negative).
Static dims are LLVM constants, so LLVM folds what the IR knows.

Every ``LowerCtx.alloc`` gets a slot in a stack array of pointers that the
function's single cleanup block frees; results handed to the caller are
taken out of their slot. ``LowerCtx.check`` branches to that cleanup block
with an error code, so a failing call frees everything and writes nothing.

Memory comes from the context's ``allocator`` (``ALLOCATORS``): 'rt', the
caching allocator of theon's runtime library (``theon_rt_alloc`` /
``theon_rt_free``, rt_alloc.py), for JIT code, whose results the runtime
frees; 'libc', plain ``malloc``/``free``, for AOT code, which links nothing
from theon. Whatever ``malloc`` returns must be given back with ``free``.
"""
import contextlib
import struct

import llvmlite.ir as lir

from ...half import host_f16c
from ...llvm_util import F32, F64, I1, I8, I8P, I16, I32, I64, ITEMSIZE, LLTYPE, Emitter, counted_loop, i64, linear_offset  # noqa: F401

MAX_BYTES = 1 << 48     # larger allocations fail with OUT_OF_MEMORY before malloc

# allocator name -> (allocation function, deallocation function)
ALLOCATORS = {"rt": ("theon_rt_alloc", "theon_rt_free"), "libc": ("malloc", "free")}


_ZERO = i64(0)


class Buf:
    """A tensor in native code."""

    def __init__(self, ptr, dtype, shape, strides, slot=None, contiguous=False):
        if len(shape) != len(strides):
            raise ValueError("Buf: shape and strides differ in length")
        self.ptr = ptr                  # pointer to LLTYPE[dtype]
        self.dtype = dtype
        self.shape = list(shape)        # i64 values
        self.strides = list(strides)    # i64 values, in elements
        self.slot = slot                # allocation slot owning ptr, or None for views
        self.contiguous = contiguous    # C-contiguous by construction

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def lltype(self):
        return LLTYPE[self.dtype]

    def view(self, ptr=None, shape=None, strides=None):
        """A view sharing this buffer's memory (never owns it)."""
        return Buf(self.ptr if ptr is None else ptr, self.dtype,
                   self.shape if shape is None else shape,
                   self.strides if strides is None else strides)


class LowerCtx(Emitter):
    """What an op lowering needs: the builder, allocation, checks, loops."""

    def __init__(self, module, fn, builder, err_ptr, allocator="rt"):
        if allocator not in ALLOCATORS:
            raise ValueError(f"allocator must be one of {sorted(ALLOCATORS)}, not {allocator!r}")
        self.allocator = allocator
        self.module = module
        # JIT code ('rt') runs on the host it is compiled for: float16 casts may use F16C
        module.host_f16c = allocator == "rt" and host_f16c()
        self.fn = fn
        self.b = builder
        self.err_ptr = err_ptr
        self.op_index = 0
        self.loop_depth = 0
        self.n_slots = 0
        self.entry_block = fn.entry_basic_block
        self.cleanup_block = fn.append_basic_block("cleanup")
        with self.at_entry():
            self.status = self.b.alloca(I64, name="status")
        self._slot_array = None

    # --- small helpers ------------------------------------------------------
    def intrinsic(self, name, ret, args):
        return self.declare(name, ret, args)

    def product(self, values):
        out = i64(1)
        for v in values:
            out = self.mul(out, v)
        return out

    # --- errors -------------------------------------------------------------
    def check(self, ok, code, details=()):
        """If the i1 ``ok`` is false: record (op index, details), return ``code``.

        All checks of a function branch to one shared failure block whose
        phis receive (op index, details, code) and which stores them and
        goes to cleanup (details a check does not give are stored as 0):
        a check costs one branch instead of a dozen instructions, which
        keeps the entry small to build, print and compile."""
        b = self.b
        values = [i64(self.op_index)]
        for d in details[:4]:
            if d.type != I64:
                d = b.sext(d, I64) if isinstance(d.type, lir.IntType) else d
            values.append(d)
        values += [_ZERO] * (5 - len(values))
        values.append(i64(code))
        fail, phis = self._failure_block()
        here = b.block
        ok_block = self.fn.append_basic_block("ok")
        b.cbranch(ok, ok_block, fail).set_weights([99, 1])
        for phi, v in zip(phis, values):
            phi.add_incoming(v, here)
        b.position_at_end(ok_block)

    def _failure_block(self):
        """(the shared failure block, its phis: op index, 4 details, code)."""
        fail = getattr(self, "_fail", None)
        if fail is None:
            block = self.fn.append_basic_block("fail")
            fb = lir.IRBuilder(block)
            phis = [fb.phi(I64, name=n) for n in ("fail.op", "fail.d1", "fail.d2", "fail.d3", "fail.d4",
                                                  "fail.code")]
            fb.store(phis[0], self.err_ptr)
            for k in range(1, 5):
                fb.store(phis[k], fb.gep(self.err_ptr, [i64(k)]))
            fb.store(phis[5], self.status)
            fb.branch(self.cleanup_block)
            fail = self._fail = (block, phis)
        return fail

    # --- memory -------------------------------------------------------------
    def _memory_function(self, which):
        """The allocator's allocation (0) or deallocation (1) function."""
        name = ALLOCATORS[self.allocator][which]
        ftype = lir.FunctionType(I8P, [I64]) if which == 0 else lir.FunctionType(lir.VoidType(), [I8P])
        if self.allocator == "rt":
            from ..rtlib import declare
            fn = declare(self.module, name, ftype)
        else:
            fn = self.declare(name, ftype.return_type, list(ftype.args))
        if which == 0 and "noalias" not in fn.return_value.attributes:
            fn.return_value.add_attribute("noalias")
        return fn

    def malloc(self, nbytes):
        """``nbytes`` (i64, may be 0) of new memory from the allocator (at
        least 16-byte aligned; 64 with 'rt'); fails with OUT_OF_MEMORY.
        Give it back with ``free``, never with libc ``free``."""
        from ...errors import OUT_OF_MEMORY
        b = self.b
        if self.allocator == "libc":
            nbytes_or_1 = b.select(b.icmp_signed("==", nbytes, i64(0)), i64(1), nbytes)
        else:
            nbytes_or_1 = nbytes            # theon_rt_alloc(0) is a valid block
        raw = b.call(self._memory_function(0), [nbytes_or_1])
        self.check(b.icmp_unsigned("!=", raw, lir.Constant(I8P, None)), OUT_OF_MEMORY, [nbytes])
        return raw

    def free(self, ptr):
        """Give memory from ``malloc`` back (NULL: nothing)."""
        self.b.call(self._memory_function(1), [ptr])

    def alloc(self, dtype, shape, name="buf"):
        """A new C-contiguous buffer of ``shape`` (list of i64), freed at exit
        unless handed to the caller with ``release``."""
        if self.loop_depth:
            raise RuntimeError("LowerCtx.alloc inside a loop would leak; allocate before looping")
        b = self.b
        raw = self.malloc(self.checked_nbytes(shape, ITEMSIZE[dtype]))
        k = self.n_slots
        self.n_slots += 1
        b.store(raw, self._slot(k))
        ptr = b.bitcast(raw, LLTYPE[dtype].as_pointer(), name=name)
        return Buf(ptr, dtype, shape, self.contiguous_strides(shape), slot=k, contiguous=True)

    def checked_nbytes(self, shape, itemsize):
        """Byte size of a C-contiguous ``shape`` (i64 values), checked: a
        negative dim, a product that overflows, or more than ``MAX_BYTES``
        fails with OUT_OF_MEMORY (err[1] = the bytes, or -1 when they
        overflow 64 bits or a dim is negative; err[2] = the bytes as a
        double's bits, always) instead of wrapping around to a small
        allocation. Dims may be huge when inputs have stride-0 (broadcast)
        dims."""
        from ...errors import OUT_OF_MEMORY
        if all(isinstance(d, lir.Constant) for d in shape):
            n = itemsize
            for d in shape:
                n *= int(d.constant)
            if 0 <= n <= MAX_BYTES or any(int(d.constant) == 0 for d in shape):
                return i64(max(n, 0))
            exact = n if 0 <= n < 2 ** 63 else -1
            approx = struct.unpack("<q", struct.pack("<d", float(n)))[0]
            self.check(lir.Constant(I1, 0), OUT_OF_MEMORY, [i64(exact), i64(approx)])
            return i64(0)
        # The static dims are multiplied here (the product is the same in any
        # order, and with every dim >= 1 a step overflows iff the whole product
        # does), so only the run-time dims cost instructions.
        static = [int(d.constant) for d in shape if isinstance(d, lir.Constant)]
        if 0 in static:
            return i64(0)
        const = itemsize
        for d in static:
            const *= d
        b = self.b
        false = lir.Constant(I1, 0)
        static_bad = min(static, default=0) < 0 or const > MAX_BYTES    # (then nbytes is never used)
        bad, zero = (lir.Constant(I1, 1) if static_bad else false), false
        nbytes = i64(1 if static_bad else const)
        wrong = lir.Constant(I1, 1) if static_bad else false      # err[1] = -1: only the estimate
        approx = lir.Constant(F64, float(const))        # the size in floating point, for the message

        def either(acc, v):
            return v if acc is false else b.or_(acc, v)
        for d in shape:
            if isinstance(d, lir.Constant):
                continue
            negative = b.icmp_signed("<", d, i64(0))
            bad = either(bad, negative)
            zero = either(zero, b.icmp_signed("==", d, i64(0)))
            prod = b.umul_with_overflow(nbytes, d)
            nbytes = b.extract_value(prod, 0)
            bad = either(bad, b.extract_value(prod, 1))
            wrong = either(wrong, b.or_(negative, b.extract_value(prod, 1)))
            approx = b.fmul(approx, b.sitofp(d, F64))
        bad = either(bad, b.icmp_unsigned(">", nbytes, i64(MAX_BYTES)))
        wrong = either(wrong, b.icmp_signed("<", nbytes, i64(0)))
        self.check(b.or_(zero, b.not_(bad)), OUT_OF_MEMORY,
                   [b.select(wrong, i64(-1), nbytes), b.bitcast(approx, I64)])
        return b.select(zero, i64(0), nbytes, name="nbytes")

    def _slot(self, k):
        if self._slot_array is None:
            with self.at_entry():
                # its length is set in finish(), once every slot is known
                self._slot_array = self.b.alloca(I8P, size=i64(1), name="allocs")
        return self.b.gep(self._slot_array, [i64(k)])

    def release(self, buf):
        """Hand ``buf``'s memory to the caller: cleanup will not free it."""
        if buf.slot is None:
            raise ValueError("release: buffer is a view, not an allocation")
        self.b.store(lir.Constant(I8P, None), self._slot(buf.slot))

    def mul(self, a, c):
        """i64 product, folded when both are constants or one is 1."""
        if isinstance(a, lir.Constant):
            if isinstance(c, lir.Constant):
                return i64(int(a.constant) * int(c.constant))
            if int(a.constant) == 1:
                return c
        elif isinstance(c, lir.Constant) and int(c.constant) == 1:
            return a
        return self.b.mul(a, c)

    def contiguous_strides(self, shape):
        strides = [None] * len(shape)
        acc = i64(1)
        for k in range(len(shape) - 1, -1, -1):
            strides[k] = acc
            acc = self.mul(acc, shape[k])
        return strides

    # --- addressing and loops -------------------------------------------------
    def elem_ptr(self, buf, idx):
        """Pointer to buf[idx...] (idx: i64 values, one per dim)."""
        return self.b.gep(buf.ptr, [linear_offset(self.b, idx, buf.strides)])

    @contextlib.contextmanager
    def loop(self, n, name="i", start=None):
        """``for i in range(start or 0, n)``: yields the i64 index."""
        with counted_loop(self.b, n, name, start) as lp:
            self.loop_depth += 1
            yield lp.index
            self.loop_depth -= 1

    @contextlib.contextmanager
    def loop_nest(self, dims, name="i"):
        """Nested loops over ``dims`` (outermost first); yields the index list."""
        with contextlib.ExitStack() as stack:
            idx = [stack.enter_context(self.loop(d, f"{name}{k}")) for k, d in enumerate(dims)]
            yield idx

    def copy(self, src, dst):
        """Strided element copy src -> dst (same shape, same dtype)."""
        with self.loop_nest(dst.shape, "cp") as idx:
            self.b.store(self.b.load(self.elem_ptr(src, idx)), self.elem_ptr(dst, idx))

    # --- finish ----------------------------------------------------------------
    def finish(self):
        """Size the allocation-slot array, zero it at entry, free it at
        cleanup, return the status. Call once, after the body branched to
        cleanup."""
        b = self.b
        if self._slot_array is not None:
            n = self.n_slots
            self._slot_array.operands = [i64(n)]
            saved = b.block
            b.position_after(self._slot_array)
            for k in range(n):
                b.store(lir.Constant(I8P, None), b.gep(self._slot_array, [i64(k)]))
            b.position_at_end(saved)
        b.position_at_end(self.cleanup_block)
        if self._slot_array is not None:
            for k in range(self.n_slots):
                self.free(b.load(b.gep(self._slot_array, [i64(k)])))
        b.ret(b.load(self.status))
