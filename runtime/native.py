"""The native side of a call: the entry's C signature and result buffers.

    int64_t theon_f(void **args, const int64_t *meta, void **results,
                    int64_t *result_dims, int64_t *err, int64_t *prof)

(see "Native entry ABI" in ARCHITECTURE.md). Each result is a malloc'd
buffer the caller owns; ``wrap_result`` turns it into a NumPy array that
frees the buffer with libc ``free`` when the array is collected.
"""
import ctypes
import ctypes.util

import numpy as np

ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
ERR_LEN = 5     # err[0] = op index, err[1..4] = details


def _load_libc():
    try:
        lib = ctypes.CDLL(None)
        lib.free  # noqa: B018 - probe the symbol
        return lib
    except (OSError, AttributeError):
        return ctypes.CDLL(ctypes.util.find_library("c"))


_libc = _load_libc()
libc_free = _libc.free
libc_free.argtypes = [ctypes.c_void_p]
libc_free.restype = None


def entry_point(address):
    """A Python callable for the native entry at ``address``."""
    if not isinstance(address, int) or address == 0:
        raise ValueError(f"entry_point: address must be a non-null int, got {address!r}")
    return ENTRY_TYPE(address)


class MallocBuffer:
    """Owns one malloc'd result buffer; NumPy arrays keep it alive as their base."""

    __slots__ = ("ptr", "__array_interface__")

    def __init__(self, ptr, shape, typestr):
        self.ptr = ptr
        self.__array_interface__ = {"data": (ptr, False), "shape": shape, "typestr": typestr,
                                    "version": 3}

    def __del__(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            libc_free(ptr)


class ResultSpec:
    """The dtype and ndim of one native result (output or update value)."""

    __slots__ = ("dtype", "ndim", "typestr", "itemsize")

    def __init__(self, ttype):
        self.dtype = np.dtype(ttype.dtype)
        self.ndim = ttype.ndim
        self.typestr = self.dtype.str
        self.itemsize = self.dtype.itemsize


def wrap_result(ptr, shape, spec):
    """A fresh array the caller owns, over the malloc'd buffer at ``ptr``."""
    return np.asarray(MallocBuffer(ptr, shape, spec.typestr))


def free_results(results, count):
    """Free the first ``count`` result buffers (used when wrapping fails)."""
    for k in range(count):
        if results[k]:
            libc_free(results[k])
