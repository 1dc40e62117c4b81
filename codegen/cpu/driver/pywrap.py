"""A CPython-API fast path in front of a native entry (the call path of issue 5).

    PyObject *theon_pywrap(PyObject *self, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)

a ``METH_FASTCALL | METH_KEYWORDS`` C function. ``self`` is a tuple whose
item 0 is a capsule holding the context array ``ctx`` (filled by
``runtime/native.py``; the tuple keeps everything it points to alive):

    ctx[0] &PyArray_Type        ctx[3] PyArray_NewFromDescr   ctx[6 .. 6+A)       arg dtypes (descrs)
    ctx[1] fallback callable    ctx[4] PyArray_SetBaseObject  ctx[6+A .. 6+A+S)   shared variables
    ctx[2] "_storage" (str)     ctx[5] the native entry       ctx[6+A+S .. +R)    result descrs

The wrapper does, in native code, what ``runtime.function.Function`` does
in Python for the common case: every input is exactly an ndarray with the
expected dtype object, ndim and static dims, aligned, with strides a
multiple of its item size. It reads each shared variable's ``_storage``,
packs args/meta per the entry ABI, calls the entry, wraps each result
buffer as an ndarray whose base is a capsule that frees it (with
``theon_rt_free``: JIT entries allocate with theon's runtime library,
rt_alloc.py), then sets the updated shared variables' ``_storage`` and
returns the output(s).

Anything else -- keywords, a wrong count, a list or scalar argument, another
dtype or layout, a nonzero error code from the entry -- calls the fallback
(the Python path) with the same arguments, which converts, checks and
raises exactly as before. The code depends only on the call signature
(``WrapperSig``), so one compiled wrapper serves every function with it.
"""
import ctypes
from dataclasses import dataclass

import llvmlite.ir as lir

from ..rtlib import declare

WRAPPER_NAME = "theon_pywrap"
CAPSULE_FREE_NAME = "theon_capsule_free"

CTX_ARRAY_TYPE, CTX_FALLBACK, CTX_ATTR, CTX_NEW, CTX_SETBASE, CTX_ENTRY = range(6)
CTX_FIXED = 6

NPY_ARRAY_ALIGNED = 0x0100
NPY_ARRAY_CARRAY = 0x0001 | 0x0100 | 0x0400     # C_CONTIGUOUS | ALIGNED | WRITEABLE

# C-API functions the wrapper calls by name (bound with llvm.add_symbol).
CAPI = {
    "PyTuple_GetItem": ("p", ["p", "i64"]),
    "PyCapsule_GetPointer": ("p", ["p", "p"]),
    "PyCapsule_New": ("p", ["p", "p", "p"]),
    "PyObject_GetAttr": ("p", ["p", "p"]),
    "PyObject_SetAttr": ("i32", ["p", "p", "p"]),
    "PyList_New": ("p", ["i64"]),
    "PyList_SetItem": ("i32", ["p", "i64", "p"]),
    "Py_IncRef": ("void", ["p"]),
    "Py_DecRef": ("void", ["p"]),
    "PyEval_SaveThread": ("p", []),
    "PyEval_RestoreThread": ("void", ["p"]),
}
# The fallback call: PyObject_Vectorcall is an exported function from
# Python 3.11 on; before, it is inline and _PyObject_MakeTpCall (with the
# thread state first) is the exported function that calls any callable.
HAS_VECTORCALL = hasattr(ctypes.pythonapi, "PyObject_Vectorcall")
if HAS_VECTORCALL:
    CAPI["PyObject_Vectorcall"] = ("p", ["p", "p", "i64", "p"])
else:
    CAPI["PyThreadState_Get"] = ("p", [])
    CAPI["_PyObject_MakeTpCall"] = ("p", ["p", "p", "p", "i64", "p"])

I8 = lir.IntType(8)
I32 = lir.IntType(32)
I64 = lir.IntType(64)
P = I8.as_pointer()
PP = P.as_pointer()
_TYPES = {"p": P, "i64": I64, "i32": I32, "void": lir.VoidType()}


@dataclass(frozen=True)
class ArgSig:
    ndim: int
    static_shape: tuple      # int or None per dim
    itemsize: int
    shared: bool


@dataclass(frozen=True)
class WrapperSig:
    """What the wrapper's code depends on."""
    args: tuple              # ArgSig per entry argument: inputs, then shared variables
    result_ndims: tuple      # per result: outputs, then update values
    n_outputs: int
    single: bool             # return the one output itself, not a list
    update_targets: tuple    # per update value, its index among the shared variables
    layout: tuple            # (("ob_type", 8), ("data", 16), ...): ndarray field offsets

    @property
    def n_inputs(self):
        return sum(1 for a in self.args if not a.shared)

    @property
    def n_shared(self):
        return len(self.args) - self.n_inputs


def _const(v, ty=I64):
    return lir.Constant(ty, v)


class _Emitter:
    def __init__(self, module, sig):
        self.m = module
        self.sig = sig
        self.layout = dict(sig.layout)
        self.fns = {}
        for name, (ret, params) in CAPI.items():
            fnty = lir.FunctionType(_TYPES[ret], [_TYPES[t] for t in params])
            self.fns[name] = lir.Function(module, fnty, name=name)
        # result buffers come from theon_rt_alloc (context.ALLOCATORS['rt'])
        self.fns["free"] = declare(module, "theon_rt_free", lir.FunctionType(lir.VoidType(), [P]))

    def call(self, name, *args):
        return self.b.call(self.fns[name], list(args))

    def field(self, obj, name, ty):
        """Load the ndarray/PyObject field ``name`` (byte offset from layout)."""
        b = self.b
        addr = b.gep(obj, [_const(self.layout[name])])
        return b.load(b.bitcast(addr, ty.as_pointer()), name=name)

    def ctx_at(self, k):
        return self.b.load(self.b.gep(self.ctx, [_const(k)]))

    def check(self, cond, fail_block, name="ok"):
        """Continue in a new block when ``cond`` holds, else go to ``fail_block``."""
        ok = self.fn.append_basic_block(name)
        self.b.cbranch(cond, ok, fail_block)
        self.b.position_at_end(ok)

    # --- the capsule destructor -------------------------------------------------------
    def emit_capsule_free(self):
        fn = lir.Function(self.m, lir.FunctionType(lir.VoidType(), [P]), name=CAPSULE_FREE_NAME)
        fn.linkage = "internal"
        b = lir.IRBuilder(fn.append_basic_block("entry"))
        ptr = b.call(self.fns["PyCapsule_GetPointer"], [fn.args[0], lir.Constant(P, None)])
        b.call(self.fns["free"], [ptr])
        b.ret_void()
        return fn

    # --- the wrapper ------------------------------------------------------------------
    def emit(self):
        sig = self.sig
        capsule_free = self.emit_capsule_free()
        fnty = lir.FunctionType(P, [P, PP, I64, P])
        fn = self.fn = lir.Function(self.m, fnty, name=WRAPPER_NAME)
        self_obj, args, nargs, kwnames = fn.args
        for a, n in zip(fn.args, ("self", "args", "nargs", "kwnames")):
            a.name = n
        b = self.b = lir.IRBuilder(fn.append_basic_block("entry"))
        null = lir.Constant(P, None)

        n_args, n_shared, n_res = len(sig.args), sig.n_shared, len(sig.result_ndims)
        n_meta = max(2 * sum(a.ndim for a in sig.args), 1)
        n_dims = max(sum(sig.result_ndims), 1)
        argv = b.alloca(P, max(n_args, 1), name="argv")
        meta = b.alloca(I64, n_meta, name="meta")
        results = b.alloca(P, max(n_res, 1), name="results")
        rdims = b.alloca(I64, n_dims, name="rdims")
        err = b.alloca(I64, 5, name="err")
        held = b.alloca(P, max(n_shared, 1), name="held")      # shared storages (new refs)
        arrays = b.alloca(P, max(n_res, 1), name="arrays")     # wrapped results (new refs)
        for k in range(max(n_shared, 1)):
            b.store(null, b.gep(held, [_const(k)]))
        for j in range(max(n_res, 1)):
            b.store(null, b.gep(arrays, [_const(j)]))
            b.store(null, b.gep(results, [_const(j)]))

        capsule = self.call("PyTuple_GetItem", self_obj, _const(0))
        self.ctx = b.bitcast(self.call("PyCapsule_GetPointer", capsule, null), PP, name="ctx")

        fallback = fn.append_basic_block("fallback")
        drop_fallback = fn.append_basic_block("drop_storages_then_fallback")
        fail = fn.append_basic_block("fail")                  # return NULL, exception set
        drop_fail = fn.append_basic_block("drop_storages_then_fail")
        res_fail = fn.append_basic_block("release_results_then_fail")

        self.check(b.icmp_unsigned("==", kwnames, null), fallback, "no_keywords")
        self.check(b.icmp_signed("==", nargs, _const(sig.n_inputs)), fallback, "arg_count")

        array_type = self.ctx_at(CTX_ARRAY_TYPE)
        attr = self.ctx_at(CTX_ATTR)
        off = 0
        shared_k = 0
        for k, a in enumerate(sig.args):
            if a.shared:
                var = self.ctx_at(CTX_FIXED + n_args + shared_k)
                obj = self.call("PyObject_GetAttr", var, attr)
                self.check(b.icmp_unsigned("!=", obj, null), drop_fail, f"storage{shared_k}")
                b.store(obj, b.gep(held, [_const(shared_k)]))
                shared_k += 1
                bad = drop_fallback
            else:
                obj = b.load(b.gep(args, [_const(k)]), name=f"arg{k}")
                bad = fallback
            self.emit_arg_checks(k, a, obj, array_type, bad, argv, meta, off)
            off += 2 * a.ndim

        entry = b.bitcast(self.ctx_at(CTX_ENTRY), lir.FunctionType(
            I64, [PP, I64.as_pointer(), PP, I64.as_pointer(), I64.as_pointer(), I64.as_pointer()]).as_pointer())
        tstate = self.call("PyEval_SaveThread")       # other Python threads run meanwhile
        code = b.call(entry, [argv, meta, results, rdims, err, lir.Constant(I64.as_pointer(), None)], name="code")
        self.call("PyEval_RestoreThread", tstate)
        self.emit_drop_storages(held, n_shared)
        self.check(b.icmp_signed("==", code, _const(0)), fallback, "entry_ok")

        self.emit_wrap_results(results, rdims, arrays, capsule_free, res_fail)
        for u, target in enumerate(sig.update_targets):
            j = sig.n_outputs + u
            var = self.ctx_at(CTX_FIXED + n_args + target)
            arr = b.load(b.gep(arrays, [_const(j)]))
            rc = self.call("PyObject_SetAttr", var, attr, arr)     # takes its own reference
            self.check(b.icmp_signed("==", rc, lir.Constant(I32, 0)), res_fail, f"update{u}")
        for u in range(len(sig.update_targets)):
            slot = b.gep(arrays, [_const(sig.n_outputs + u)])
            self.call("Py_DecRef", b.load(slot))
            b.store(null, slot)
        if sig.single:
            b.ret(b.load(b.gep(arrays, [_const(0)])))
        else:
            lst = self.call("PyList_New", _const(sig.n_outputs))
            self.check(b.icmp_unsigned("!=", lst, null), res_fail, "list_ok")
            for j in range(sig.n_outputs):
                slot = b.gep(arrays, [_const(j)])
                self.call("PyList_SetItem", lst, _const(j), b.load(slot))   # steals the reference
                b.store(null, slot)
            b.ret(lst)

        # fallback: the Python path, with the caller's arguments as they came
        b.position_at_end(fallback)
        fb = self.ctx_at(CTX_FALLBACK)
        if HAS_VECTORCALL:
            b.ret(self.call("PyObject_Vectorcall", fb, b.bitcast(args, P), nargs, kwnames))
        else:
            tstate = self.call("PyThreadState_Get")
            b.ret(self.call("_PyObject_MakeTpCall", tstate, fb, b.bitcast(args, P), nargs, kwnames))

        b.position_at_end(drop_fallback)
        self.emit_drop_storages(held, n_shared)
        b.branch(fallback)

        b.position_at_end(drop_fail)
        self.emit_drop_storages(held, n_shared)
        b.branch(fail)

        b.position_at_end(res_fail)
        for j in range(n_res):
            self.call("Py_DecRef", b.load(b.gep(arrays, [_const(j)])))     # NULL-safe
        for j in range(n_res):
            self.call("free", b.load(b.gep(results, [_const(j)])))          # not yet owned by an array
        b.branch(fail)

        b.position_at_end(fail)
        b.ret(null)
        return fn

    def emit_arg_checks(self, k, a, obj, array_type, bad, argv, meta, off):
        """Exact ndarray, expected dtype object, ndim, static dims, aligned,
        strides in whole elements; then store data pointer, dims, strides."""
        b = self.b
        self.check(b.icmp_unsigned("==", self.field(obj, "ob_type", P), array_type), bad, f"a{k}.type")
        descr = self.ctx_at(CTX_FIXED + k)
        self.check(b.icmp_unsigned("==", self.field(obj, "descr", P), descr), bad, f"a{k}.dtype")
        self.check(b.icmp_signed("==", self.field(obj, "nd", I32), lir.Constant(I32, a.ndim)), bad, f"a{k}.ndim")
        flags = self.field(obj, "flags", I32)
        aligned = b.and_(flags, lir.Constant(I32, NPY_ARRAY_ALIGNED))
        self.check(b.icmp_unsigned("!=", aligned, lir.Constant(I32, 0)), bad, f"a{k}.aligned")
        if a.ndim:
            dims = self.field(obj, "dimensions", I64.as_pointer())
            strides = self.field(obj, "strides", I64.as_pointer())
            shift = a.itemsize.bit_length() - 1
            for d in range(a.ndim):
                size = b.load(b.gep(dims, [_const(d)]), name=f"a{k}.d{d}")
                if a.static_shape[d] is not None:
                    self.check(b.icmp_signed("==", size, _const(a.static_shape[d])), bad, f"a{k}.static{d}")
                b.store(size, b.gep(meta, [_const(off + d)]))
                stride = b.load(b.gep(strides, [_const(d)]), name=f"a{k}.s{d}")
                if shift:
                    low = b.and_(stride, _const(a.itemsize - 1))
                    self.check(b.icmp_signed("==", low, _const(0)), bad, f"a{k}.stride{d}")
                    stride = b.ashr(stride, _const(shift))
                b.store(stride, b.gep(meta, [_const(off + a.ndim + d)]))
        b.store(self.field(obj, "data", P), b.gep(argv, [_const(k)]))

    def emit_drop_storages(self, held, n_shared):
        b = self.b
        for k in range(n_shared):
            slot = b.gep(held, [_const(k)])
            self.call("Py_DecRef", b.load(slot))
            b.store(lir.Constant(P, None), slot)

    def emit_wrap_results(self, results, rdims, arrays, capsule_free, res_fail):
        """arrays[j] = ndarray over results[j], owning it through a capsule."""
        b, sig = self.b, self.sig
        n_args, n_shared = len(sig.args), sig.n_shared
        null = lir.Constant(P, None)
        new_fn = b.bitcast(self.ctx_at(CTX_NEW), lir.FunctionType(
            P, [P, P, I32, I64.as_pointer(), I64.as_pointer(), P, I32, P]).as_pointer())
        setbase = b.bitcast(self.ctx_at(CTX_SETBASE), lir.FunctionType(I32, [P, P]).as_pointer())
        array_type = self.ctx_at(CTX_ARRAY_TYPE)
        off = 0
        for j, nd in enumerate(sig.result_ndims):
            descr = self.ctx_at(CTX_FIXED + n_args + n_shared + j)
            self.call("Py_IncRef", descr)                     # NewFromDescr steals it
            data_slot = b.gep(results, [_const(j)])
            data = b.load(data_slot, name=f"r{j}")
            arr = b.call(new_fn, [array_type, descr, lir.Constant(I32, nd), b.gep(rdims, [_const(off)]),
                                  lir.Constant(I64.as_pointer(), None), data,
                                  lir.Constant(I32, NPY_ARRAY_CARRAY), null], name=f"arr{j}")
            self.check(b.icmp_unsigned("!=", arr, null), res_fail, f"r{j}.array")
            b.store(arr, b.gep(arrays, [_const(j)]))
            has_data = b.icmp_unsigned("!=", data, null)
            with b.if_then(has_data, likely=True):
                cap = self.call("PyCapsule_New", data, null, b.bitcast(capsule_free, P))
                self.check(b.icmp_unsigned("!=", cap, null), res_fail, f"r{j}.capsule")
                b.store(null, data_slot)                      # the capsule owns the buffer now
                rc = b.call(setbase, [arr, cap])              # steals cap, even on failure
                self.check(b.icmp_signed("==", rc, lir.Constant(I32, 0)), res_fail, f"r{j}.base")
            off += nd


def emit_pywrap(module, sig):
    """Add ``theon_pywrap`` (and its capsule destructor) to ``module``."""
    return _Emitter(module, sig).emit()


def wrapper_module(sig):
    """A new llvmlite module holding only the wrapper for ``sig``."""
    module = lir.Module(name="theon_pywrap")
    emit_pywrap(module, sig)
    return module
