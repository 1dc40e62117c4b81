"""JIT: the native runtime library (``cpu/rtlib``) compiled, or read from the
on-disk cache, and loaded once per process; its ``theon_rt_*`` functions are
registered with ``llvm.add_symbol`` so that every object loaded after it
resolves its declarations against the one library (one pool, one cache)."""
import threading

from .. import rtlib

_lock = threading.Lock()
_loaded = None              # the LoadedObject holding the library (kept alive)
_addresses = {}             # name -> address in this process


def is_loaded():
    return _loaded is not None


def ensure_loaded():
    """JIT: compile (or read from the cache) and load the library once per
    process; register its functions for the objects loaded after it."""
    global _loaded
    if _loaded is not None:
        return _addresses
    with _lock:
        if _loaded is not None:
            return _addresses
        import llvmlite.binding as llvm

        from . import jit
        from .compile import runtime_library_object     # the on-disk cache, the pipeline
        obj, names = runtime_library_object(rtlib.emit_module, rtlib.library_names)
        try:
            loaded = jit.LoadedObject(obj, _runtime=True)
            addresses = {n: loaded.address(n) for n in names}
        except Exception:  # noqa: BLE001 - a cached library that does not load is a miss: build it here
            from .compile import runtime_library_compiled
            obj, names = runtime_library_compiled(rtlib.emit_module, rtlib.library_names)
            loaded = jit.LoadedObject(obj, _runtime=True)
            addresses = {n: loaded.address(n) for n in names}
        for n, a in addresses.items():
            llvm.add_symbol(n, a)
        from ..lower.debug import register_hook     # print ops call back into Python
        register_hook()
        _addresses.update(addresses)
        _loaded = loaded
    return _addresses


def address(name):
    """The address of library function ``name`` in this process."""
    return ensure_loaded()[name]
