"""LLVM helpers shared by every backend (CPU, PTX): the LLVM types of theon's
dtypes, i64 constants, the one counted-loop builder (with loop-carried
values), linear offsets, and the one-time initialisation of LLVM itself."""
import contextlib
import functools

import llvmlite.binding as llvm
import llvmlite.ir as lir

I1 = lir.IntType(1)
I8 = lir.IntType(8)
I16 = lir.IntType(16)
I32 = lir.IntType(32)
I64 = lir.IntType(64)
F32 = lir.FloatType()
F64 = lir.DoubleType()
I8P = I8.as_pointer()

# float16 is stored as its 16-bit pattern (i16): codegen only loads, stores and
# converts it (codegen/half.py); its arithmetic was legalized to float32
LLTYPE = {
    "bool": I8, "int8": I8, "int16": I16, "int32": I32, "int64": I64,
    "uint8": I8, "uint16": I16, "uint32": I32, "uint64": I64, "float16": I16, "float32": F32, "float64": F64,
}
ITEMSIZE = {"bool": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
            "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "float16": 2, "float32": 4, "float64": 8}


def i64(v):
    """An i64 constant."""
    return lir.Constant(I64, int(v))


def i32(v):
    """An i32 constant."""
    return lir.Constant(I32, int(v))


def is_const(v, value):
    """``v`` is an LLVM integer constant equal to ``value``."""
    return isinstance(v, lir.Constant) and isinstance(v.type, lir.IntType) and int(v.constant) == value


def smin(b, x, y, name=""):
    """Signed minimum of two i64 values."""
    return b.select(b.icmp_signed("<", x, y), x, y, name=name)


def smax(b, x, y, name=""):
    """Signed maximum of two i64 values."""
    return b.select(b.icmp_signed(">", x, y), x, y, name=name)


def linear_offset(b, idx, strides):
    """sum(idx[d] * strides[d]) (i64 values, in elements)."""
    off = i64(0)
    for i, s in zip(idx, strides):
        off = b.add(off, b.mul(i, s))
    return off


class Emitter:
    """What every LLVM emitter of theon offers (CPU lowering contexts, PTX
    kernel builders): function declarations and stack slots in the entry
    block. Needs ``module``, ``b`` (the IRBuilder) and ``entry_block``;
    ``ENTRY_AT_START``: entry-block code goes at the block's start (the CPU
    entry block goes on with the body) or at its end (a prologue block)."""

    ENTRY_AT_START = True

    def declare(self, name, ret, args, var_arg=False):
        """A function declaration in the module (created once)."""
        if name in self.module.globals:
            return self.module.globals[name]
        return lir.Function(self.module, lir.FunctionType(ret, args, var_arg=var_arg), name=name)

    @contextlib.contextmanager
    def at_entry(self):
        """Builder positioned in the entry block (for allocas, values read once)."""
        saved = self.b.block
        if self.ENTRY_AT_START:
            self.b.position_at_start(self.entry_block)
        else:
            self.b.position_at_end(self.entry_block)
        yield
        self.b.position_at_end(saved)

    def slot(self, ty, name):
        """A stack slot (alloca in the entry block; promoted to a register)."""
        with self.at_entry():
            return self.b.alloca(ty, name=name)


class Loop:
    """A counted loop being emitted (``counted_loop``): ``index`` (i64),
    ``carried`` (the phis of the loop-carried values) and ``next``, which the
    body sets to the carried values for the next iteration (default: the
    phis themselves, i.e. unchanged)."""

    def __init__(self, b, index, carried, done):
        self.b = b
        self.index = index
        self.carried = carried
        self.next = list(carried)
        self.done = done

    def exit_if(self, cond, name="exit"):
        """Leave the loop when ``cond`` (i1) holds; the body goes on
        otherwise. After the loop the carried phis hold the values of the
        iteration that left (or of the last one)."""
        cont = self.b.function.append_basic_block(f"{self.index.name}.{name}.no")
        self.b.cbranch(cond, self.done, cont)
        self.b.position_at_end(cont)


@contextlib.contextmanager
def counted_loop(b, stop, name="i", start=None, step=1, carried=()):
    """``for i in range(start or 0, stop, step)`` at ``b``'s position (signed
    i64 compare; step > 0, an int or an i64 value), with loop-carried values
    started at ``carried``. Yields a ``Loop`` (``exit_if`` leaves early);
    the builder ends after the loop, where the carried phis hold the final
    values."""
    fn = b.function
    pre = b.block
    head = fn.append_basic_block(f"{name}.head")
    body = fn.append_basic_block(f"{name}.body")
    done = fn.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(start if start is not None else i64(0), pre)
    phis = []
    for k, v in enumerate(carried):
        p = b.phi(v.type, name=f"{name}.acc{k}")
        p.add_incoming(v, pre)
        phis.append(p)
    b.cbranch(b.icmp_signed("<", i, stop), body, done)
    b.position_at_end(body)
    loop = Loop(b, i, phis, done)
    yield loop
    nxt = b.add(i, i64(step) if isinstance(step, int) else step, name=f"{name}.next")
    i.add_incoming(nxt, b.block)
    for p, v in zip(phis, loop.next):
        p.add_incoming(v, b.block)
    b.branch(head)
    b.position_at_end(done)


@functools.lru_cache(maxsize=None)
def init_llvm(all_targets=False):
    """Initialise LLVM once per process: the native target and asm printer,
    and with ``all_targets`` every target compiled into llvmlite (NVPTX)."""
    try:  # llvmlite < 0.45 needs this; newer versions initialize themselves
        llvm.initialize()
    except Exception:  # noqa: BLE001 - newer llvmlite raises to say it is not needed
        pass
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    if all_targets:
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
    return True
