"""The native side of a call: the entry's C signature and result buffers.

    int64_t theon_f(void **args, const int64_t *meta, void **results,
                    int64_t *result_dims, int64_t *err, int64_t *prof)

(see "Native entry ABI" in ARCHITECTURE.md). Each result is a buffer the
caller owns, from theon's caching allocator (``theon_rt_alloc``,
codegen/cpu/rtlib/alloc.py); ``wrap_result`` turns it into a NumPy array that
gives the buffer back with ``free_result`` (``theon_rt_free``) when the
array is collected. ``release_memory`` empties the allocator's cache.
"""
import ctypes

import numpy as np

ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
ERR_LEN = 5     # err[0] = op index, err[1..4] = details


def cpu_compiler():
    """The CPU backend's compile driver (``codegen/cpu/driver/compile.py``)
    with the runtime's on-disk cache (``runtime/cache.py``) installed in it:
    the runtime reaches native compilation only through here."""
    from ..codegen.cpu.driver import compile as driver
    if driver._cache() is not _cache_module():               # noqa: SLF001
        driver.set_object_cache(_cache_module())
    return driver


def _cache_module():
    from . import cache
    return cache


# --- theon's allocator (runtime library functions, bound on first use) -------------------------
_RT_TYPES = {
    "theon_rt_free": ctypes.CFUNCTYPE(None, ctypes.c_void_p),
    "theon_rt_trim": ctypes.CFUNCTYPE(ctypes.c_int64),
    "theon_rt_alloc_stats": ctypes.CFUNCTYPE(None, ctypes.c_void_p),
}
_rt = {}


def _rt_function(name):
    fn = _rt.get(name)
    if fn is None:
        cpu_compiler()
        from ..codegen.cpu.driver import rtload
        fn = _rt[name] = _RT_TYPES[name](rtload.address(name))
    return fn


def _rt_loaded():
    """Whether this process loaded the runtime library (else nothing was
    ever allocated from it: no need to compile it just to look)."""
    from ..codegen.cpu.driver import rtload
    return bool(_rt) or rtload.is_loaded()


def free_result(ptr):
    """Give a result buffer of a JIT entry back (``theon_rt_free``; 0/None: nothing)."""
    if ptr:
        _rt_function("theon_rt_free")(ptr)


def release_memory():
    """Return the big buffers theon's allocator keeps for reuse to the
    system; the number of bytes given back (see ``theon.runtime.release_memory``)."""
    if not _rt_loaded():
        return 0
    return int(_rt_function("theon_rt_trim")())


def memory_stats():
    """The allocator's counters as a dict (``rt_alloc.STATS``): cache hits
    and misses of big requests, cached blocks and bytes, bytes of big blocks
    in use and their peak since the last trim, and the operation clock."""
    from ..codegen.cpu.rtlib.alloc import STATS
    if not _rt_loaded():
        return dict.fromkeys(STATS, 0)
    out = (ctypes.c_int64 * len(STATS))()
    _rt_function("theon_rt_alloc_stats")(out)
    return dict(zip(STATS, out))


def entry_point(address):
    """A Python callable for the native entry at ``address``."""
    if not isinstance(address, int) or address == 0:
        raise ValueError(f"entry_point: address must be a non-null int, got {address!r}")
    return ENTRY_TYPE(address)


class ResultBuffer:
    """Owns one result buffer; NumPy arrays keep it alive as their base."""

    __slots__ = ("ptr", "_free", "__array_interface__")

    def __init__(self, ptr, shape, typestr):
        self.ptr = ptr
        self._free = _rt_function("theon_rt_free")      # held: usable even while the module is torn down
        self.__array_interface__ = {"data": (ptr, False), "shape": shape, "typestr": typestr,
                                    "version": 3}

    def __del__(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)


class ResultSpec:
    """The dtype and ndim of one native result (output or update value)."""

    __slots__ = ("dtype", "ndim", "typestr", "itemsize")

    def __init__(self, ttype):
        self.dtype = np.dtype(ttype.dtype)
        self.ndim = ttype.ndim
        self.typestr = self.dtype.str
        self.itemsize = self.dtype.itemsize


def wrap_result(ptr, shape, spec):
    """A fresh array the caller owns, over the result buffer at ``ptr``."""
    return np.asarray(ResultBuffer(ptr, shape, spec.typestr))


def free_results(results, count):
    """Free the first ``count`` result buffers (used when wrapping fails)."""
    for k in range(count):
        free_result(results[k])


# --- the CPython fast path (codegen/cpu/driver/pywrap.py) ----------------------------------------------
METH_FASTCALL = 0x0080
METH_KEYWORDS = 0x0002
# Offsets in CPython's PyObject header and NumPy's PyArrayObject_fields (64-bit,
# GIL builds). ``ndarray_layout`` checks each against a live array before use.
ARRAY_LAYOUT = (("ob_type", 8), ("data", 16), ("nd", 24), ("dimensions", 32), ("strides", 40),
                ("descr", 56), ("flags", 64))
# Indices in NumPy's C-API table (numpy/__multiarray_api.h; stable across NumPy 1.x and 2.x).
NPY_API_ARRAY_TYPE = 2
NPY_API_NEW_FROM_DESCR = 94
NPY_API_SET_BASE_OBJECT = 282


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_api = ctypes.pythonapi
_PyCapsule_New = _api.PyCapsule_New
_PyCapsule_New.restype = ctypes.py_object
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_PyCapsule_GetPointer = _api.PyCapsule_GetPointer
_PyCapsule_GetPointer.restype = ctypes.c_void_p
_PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_PyCFunction_NewEx = _api.PyCFunction_NewEx
_PyCFunction_NewEx.restype = ctypes.py_object
_PyCFunction_NewEx.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]

_fast_support = None     # None: not probed yet; False: unavailable; else (layout, api dict)


def _addr(fn):
    return ctypes.cast(fn, ctypes.c_void_p).value


def _read(address, ctype):
    return ctype.from_address(address).value


def ndarray_layout():
    """``ARRAY_LAYOUT`` if this interpreter and NumPy lay arrays out as it
    says (checked on a live strided array), else None."""
    import sys
    import sysconfig
    if ctypes.sizeof(ctypes.c_void_p) != 8 or hasattr(sys, "gettotalrefcount"):
        return None
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    off = dict(ARRAY_LAYOUT)
    base = np.zeros((3, 5), dtype=np.float32)
    a = base[:, ::2]
    obj = id(a)
    try:
        ok = (_read(obj + off["ob_type"], ctypes.c_void_p) == id(np.ndarray)
              and _read(obj + off["data"], ctypes.c_void_p) == a.__array_interface__["data"][0]
              and _read(obj + off["nd"], ctypes.c_int) == 2
              and _read(obj + off["descr"], ctypes.c_void_p) == id(a.dtype)
              and bool(_read(obj + off["flags"], ctypes.c_int) & 0x0100) == a.flags.aligned
              and not (_read(obj + off["flags"], ctypes.c_int) & 0x0001))
        if ok:
            dims = _read(obj + off["dimensions"], ctypes.c_void_p)
            strides = _read(obj + off["strides"], ctypes.c_void_p)
            ok = (tuple((ctypes.c_int64 * 2).from_address(dims)) == a.shape
                  and tuple((ctypes.c_int64 * 2).from_address(strides)) == a.strides)
    except (ValueError, OverflowError):
        return None
    return ARRAY_LAYOUT if ok else None


def numpy_c_api():
    """{'array_type', 'new_from_descr', 'set_base_object'}: addresses from
    NumPy's C-API capsule, or None if they cannot be confirmed."""
    try:
        from numpy._core import _multiarray_umath as mu
    except ImportError:
        try:
            from numpy.core import _multiarray_umath as mu
        except ImportError:
            return None
    capsule = getattr(mu, "_ARRAY_API", None)
    if capsule is None:
        return None
    try:
        table = _PyCapsule_GetPointer(capsule, None)
    except Exception:  # noqa: BLE001 - not a capsule: no fast path
        return None
    if not table:
        return None
    slots = (ctypes.c_void_p * (NPY_API_SET_BASE_OBJECT + 1)).from_address(table)
    api = {"array_type": slots[NPY_API_ARRAY_TYPE], "new_from_descr": slots[NPY_API_NEW_FROM_DESCR],
           "set_base_object": slots[NPY_API_SET_BASE_OBJECT]}
    if api["array_type"] != id(np.ndarray) or not api["new_from_descr"] or not api["set_base_object"]:
        return None
    return api


def fast_support():
    """(array layout, NumPy API addresses) when the native fast path can be
    used in this process, else None. Probed once."""
    global _fast_support
    if _fast_support is None:
        layout, api = ndarray_layout(), numpy_c_api()
        _fast_support = (layout, api) if layout and api else False
        if _fast_support:
            _bind_capi()
    return _fast_support or None


def _bind_capi():
    """Give the JIT the addresses of the C-API functions wrappers call."""
    import llvmlite.binding as llvm

    from ..codegen.cpu.driver.pywrap import CAPI
    for name in CAPI:
        llvm.add_symbol(name, _addr(getattr(_api, name)))


class FastCall:
    """A C function (``theon_pywrap`` for this signature) bound to one
    compiled entry, its shared variables and its Python fallback.
    ``callable(*args, **kwargs)`` behaves exactly like the fallback."""

    def __init__(self, wrapper, entry_address, fallback, arg_dtypes, shared_vars, result_dtypes,
                 keepalive):
        _, api = fast_support()
        attr = "_storage"
        descrs = [np.dtype(d) for d in arg_dtypes] + [np.dtype(d) for d in result_dtypes]
        values = [api["array_type"], id(fallback), id(attr), api["new_from_descr"],
                  api["set_base_object"], entry_address]
        values += [id(d) for d in descrs[:len(arg_dtypes)]]
        values += [id(v) for v in shared_vars]
        values += [id(d) for d in descrs[len(arg_dtypes):]]
        self.ctx = (ctypes.c_void_p * len(values))(*values)
        capsule = _PyCapsule_New(ctypes.addressof(self.ctx), None, None)
        self.method = _MethodDef(b"theon_function", wrapper.address, METH_FASTCALL | METH_KEYWORDS, None)
        # Everything ctx points to stays alive as long as the C function does.
        self.owner = (capsule, self.ctx, fallback, attr, descrs, tuple(shared_vars), self.method,
                      wrapper, keepalive)
        self.callable = _PyCFunction_NewEx(ctypes.addressof(self.method), self.owner, None)

    def set_entry(self, address):
        """Call the entry at ``address`` from now on (an aligned 8-byte store)."""
        from ..codegen.cpu.driver.pywrap import CTX_ENTRY
        self.ctx[CTX_ENTRY] = address
