"""Lowering of ``print`` (ir/ops/debug.py): the value, printed when the op runs.

JIT code calls ``theon_print_hook(spec, data, dtype code, ndim, meta)``:
``spec`` is the op's message and attribute names (JSON, a constant of the
module), ``meta`` its operand's dims then strides in elements. The hook is
a ctypes callback into Python (it takes the GIL, which the runtime released
around the native call), which wraps the memory as a NumPy array and prints
it with ``theon.printing.print_value``; ``register_hook`` binds the symbol
with ``llvm.add_symbol`` before any object is loaded
(``driver/rtload.py``), so code read back from the on-disk cache resolves
it too.

AOT code (allocator ``'libc'``), which runs without Python, prints with
``printf``: the message, then every element in C order.
"""
import ctypes
import json
import sys
import threading
import traceback

import llvmlite.ir as lir
import numpy as np

from ....ir.types import is_unsigned
from .context import F64, I8, I8P, I32, I64, i64
from .loops import strided_loop

HOOK = "theon_print_hook"
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64", "uint16", "uint32", "uint64")

_HOOK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                              ctypes.POINTER(ctypes.c_int64))
_specs = {}
_registered = None
_lock = threading.Lock()


def _array(data, shape, strides, dtype):
    """A copy of the (possibly strided) native array at ``data``."""
    if any(d == 0 for d in shape):
        return np.empty(shape, dtype)
    itemsize = dtype.itemsize
    lo = sum(min(0, (d - 1) * s) for d, s in zip(shape, strides))
    hi = sum(max(0, (d - 1) * s) for d, s in zip(shape, strides)) + itemsize
    buf = (ctypes.c_char * (hi - lo)).from_address(data + lo)
    return np.ndarray(shape, dtype, buffer=buf, offset=-lo, strides=strides).copy()


def _hook(spec, data, code, ndim, meta):
    try:
        info = _specs.get(spec)
        if info is None:
            info = _specs[spec] = json.loads(spec.decode())
        dtype = np.dtype(DTYPES[code])
        shape = tuple(meta[i] for i in range(ndim))
        strides = tuple(meta[ndim + i] * dtype.itemsize for i in range(ndim))
        from ....printing import print_value
        print_value(info["message"], info["attrs"], _array(data or 0, shape, strides, dtype))
    except BaseException:  # noqa: BLE001 - an exception cannot cross native code: report it
        traceback.print_exc(file=sys.stderr)


_hook_fn = _HOOK_TYPE(_hook)


def register_hook():
    """Bind ``theon_print_hook`` for the objects this process loads (once)."""
    global _registered
    if _registered is None:
        with _lock:
            if _registered is None:
                import llvmlite.binding as llvm
                address = ctypes.cast(_hook_fn, ctypes.c_void_p).value
                llvm.add_symbol(HOOK, address)
                _registered = address
    return _registered


def _cstring(ctx, text, name):
    data = bytearray(text.encode()) + b"\0"
    gv = lir.GlobalVariable(ctx.module, lir.ArrayType(I8, len(data)), name=ctx.module.get_unique_name(name))
    gv.linkage = "internal"
    gv.global_constant = True
    gv.initializer = lir.Constant(lir.ArrayType(I8, len(data)), data)
    return ctx.b.bitcast(gv, I8P)


def lower_print(ctx, op, bufs):
    x = bufs[0]
    if ctx.allocator == "libc":
        _printf_elements(ctx, op, x)
        return [x.view()]
    b = ctx.b
    nd = x.ndim
    with ctx.at_entry():
        meta = b.alloca(I64, size=i64(max(1, 2 * nd)), name="print.meta")
    for i in range(nd):
        b.store(x.shape[i], b.gep(meta, [i64(i)]))
        b.store(x.strides[i], b.gep(meta, [i64(nd + i)]))
    hook = ctx.declare(HOOK, lir.VoidType(), [I8P, I8P, I64, I64, I64.as_pointer()])
    spec = json.dumps({"message": op.attrs["message"], "attrs": list(op.attrs["attrs"])})
    b.call(hook, [_cstring(ctx, spec, "theon_print_spec"), b.bitcast(x.ptr, I8P), i64(DTYPES.index(x.dtype)), i64(nd), meta])
    return [x.view()]


def _printf_elements(ctx, op, x):
    """AOT: ``message [e0 e1 ...]`` on stdout with printf (%.17g, %lld)."""
    b = ctx.b
    printf = ctx.declare("printf", I32, [I8P], var_arg=True)
    head = f"{op.attrs['message']} " if op.attrs["message"] else ""
    b.call(printf, [_cstring(ctx, "%s[", "theon_print_fmt"), _cstring(ctx, head, "theon_print_msg")])
    is_float = x.dtype.startswith("float")
    fmt = _cstring(ctx, " %.17g" if is_float else " %lld", "theon_print_fmt")

    def body(ptrs):
        v = b.load(ptrs[0])
        if is_float:
            v = v if x.dtype == "float64" else b.fpext(v, F64)
        elif is_unsigned(x.dtype):
            v = v if v.type == I64 else b.zext(v, I64)
        elif v.type != I64:
            v = b.sext(v, I64)
        b.call(printf, [fmt, v])

    strided_loop(ctx, x.shape, [(x.ptr, x.strides)], body, name="print")
    b.call(printf, [_cstring(ctx, " ]\n", "theon_print_fmt")])


LOWERINGS = {"print": lower_print}
