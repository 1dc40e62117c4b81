"""Call a compiled IR Function directly through the native ABI (no runtime),
and build small IR functions for backend tests; run work on several threads."""
import ctypes
import threading

import numpy as np

from theon.codegen.cpu import compile_function
from theon.ir.builder import Builder
from theon.ir.core import Function
from theon.ir.interpreter import evaluate
from theon.ir.types import TensorType
from theon.runtime.native import free_result

_PROTO = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def run_in_threads(work, args):
    """Run ``work(*a)`` for every tuple ``a`` of ``args``, each on its own
    thread, all at once; returns the exceptions the calls raised (a failed
    assertion in a thread would otherwise go unnoticed)."""
    errors = []

    def guarded(*a):
        try:
            work(*a)
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


class NativeError(Exception):
    def __init__(self, code, err):
        super().__init__(f"native error code {code}, err={list(err)}")
        self.code = code
        self.err = list(err)


def run_native(func, args, compiled=None):
    """Results (outputs then update values) of ``func`` on ``args`` via native code."""
    compiled = compiled or compile_function(func)
    fn = _PROTO(compiled.address)
    args = [np.asarray(a, dtype=v.type.np_dtype) for a, v in zip(args, func.args)]
    ptrs = (ctypes.c_void_p * max(len(args), 1))(*[a.ctypes.data for a in args])
    meta = []
    for a in args:
        meta += list(a.shape) + [s // a.itemsize for s in a.strides]
    meta_arr = (ctypes.c_int64 * max(len(meta), 1))(*meta)
    results = func.return_op.operands
    res = (ctypes.c_void_p * max(len(results), 1))()
    ndims = sum(v.type.ndim for v in results)
    rdims = (ctypes.c_int64 * max(ndims, 1))()
    err = (ctypes.c_int64 * 5)()
    code = fn(ptrs, meta_arr, res, rdims, err, None)
    if code:
        raise NativeError(code, err)
    outs, off = [], 0
    for j, v in enumerate(results):
        shape = tuple(rdims[off:off + v.type.ndim])
        off += v.type.ndim
        n = int(np.prod(shape, dtype=np.int64)) * v.type.np_dtype.itemsize
        buf = (ctypes.c_char * max(n, 1)).from_address(res[j])
        arr = np.frombuffer(buf, dtype=v.type.np_dtype, count=n // v.type.np_dtype.itemsize).reshape(shape).copy()
        free_result(res[j])                     # JIT results come from theon_rt_alloc
        outs.append(arr)
    return outs


def make_func(arg_types, build, name="f"):
    """A Function with args of ``arg_types`` ((dtype, shape) pairs); ``build(b, *args)``
    returns the output value(s)."""
    f = Function(name, [TensorType(d, s) for d, s in arg_types], [f"a{i}" for i in range(len(arg_types))])
    b = Builder(f.body)
    outs = build(b, *f.args)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    b.create("return", outs)
    return f


def check_against_reference(func, args, rtol=None, atol=0.0):
    """Native results equal the NumPy reference interpreter's."""
    native = run_native(func, args)
    ref, _ = evaluate(func, [np.asarray(a, dtype=v.type.np_dtype) for a, v in zip(args, func.args)])
    for n, r in zip(native, ref):
        assert n.dtype == r.dtype, (n.dtype, r.dtype)
        assert n.shape == r.shape, (n.shape, r.shape)
        tol = rtol if rtol is not None else (1e-5 if n.dtype == np.float32 else 1e-12)
        if n.dtype.kind == "f":
            np.testing.assert_allclose(n, r, rtol=tol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(n, r)
    return native
