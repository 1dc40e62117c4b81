"""LLVM helpers shared by every backend (CPU, PTX): the LLVM types of theon's
dtypes, i64 constants, and the one-time initialisation of LLVM itself."""
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

LLTYPE = {
    "bool": I8, "int8": I8, "int16": I16, "int32": I32, "int64": I64,
    "uint8": I8, "float32": F32, "float64": F64,
}
ITEMSIZE = {"bool": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
            "uint8": 1, "float32": 4, "float64": 8}


def i64(v):
    """An i64 constant."""
    return lir.Constant(I64, int(v))


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
