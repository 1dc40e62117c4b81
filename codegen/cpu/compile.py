"""Compile an IR Function to native code in this process, through the object cache.

    compile_function(func, profile=False, opt_level=3) -> CompiledFunction
        .address   the entry ``theon_<name>`` (ARCHITECTURE.md, native entry ABI)
        .llvm_ir   optimized LLVM IR text      .asm   host assembly
    compile_wrapper(sig) -> the CPython fast path for a call signature (pywrap.py)

Each is keyed by its input text (the optimized IR text and the codegen
options; the wrapper signature) plus the host target. The object code is
looked up in this process, then in the on-disk cache (``runtime/cache.py``),
and only then compiled: lower -> LLVM IR text -> parse -> optimize -> object.
A hit skips lowering and LLVM entirely; ``.llvm_ir``/``.asm`` then compile
the module again on first use (the same code: compilation is deterministic).
"""
import weakref

from .entry import entry_name, lower_function
from .jit import compile_object, host_target_key, load_object

_LOADED = weakref.WeakValueDictionary()   # object key -> LoadedObject: identical code shared in a process


def emit_llvm_module(func, profile=False, module=None):
    """The (unoptimized) llvmlite module holding ``theon_<func.name>``."""
    module, _ = lower_function(func, module=module, profile=profile)
    return module


def _cache():
    from ...runtime import cache
    return cache


def _object_key(kind, text, options):
    return _cache().make_key(kind, text, repr(options), host_target_key())


def _cached_object(kind, key, build):
    """(LoadedObject, header, compiled-or-None) for the entry ``kind``/``key``;
    ``build()`` returns (header dict, object bytes, optimized module, target machine)."""
    cache = _cache()
    hit = cache.load(kind, key) if key else None
    if hit is not None:
        header, blob = hit
        try:
            loaded = load_object(blob)
            if key:
                _LOADED[key] = loaded
            return loaded, header, None
        except Exception:  # noqa: BLE001 - an unloadable entry is a miss, rewritten below
            pass
    header, obj, module, tm = build()
    loaded = load_object(obj)
    if key:
        cache.store(kind, key, header, obj)
        _LOADED[key] = loaded
    return loaded, header, (module, tm)


class CompiledFunction:
    """Native code of one IR Function, loaded and kept alive."""

    def __init__(self, func, profile=False, opt_level=3):
        self.name = entry_name(func)
        self.num_ops = len(func.body.ops)
        self.profile = profile
        self.opt_level = opt_level
        self._func = func
        self._module = self._tm = self._llvm_module = None
        self.from_cache = False
        key = None
        cache = _cache()
        if cache.cache_dir() is not None and cache.cacheable(func):
            from ...ir.printer import print_function
            key = _object_key("obj", print_function(func), ("entry", profile, opt_level))
        loaded = _LOADED.get(key) if key else None
        if loaded is None:
            loaded, _, compiled = _cached_object("obj", key, self._build)
            self.from_cache = compiled is None
            if compiled is not None:
                self._module, self._tm = compiled
        else:
            self.from_cache = True
        self.jit = loaded
        self.address = loaded.address(self.name)

    def _build(self):
        self._llvm_module = emit_llvm_module(self._func, profile=self.profile)
        module, obj, tm = compile_object(str(self._llvm_module), self.opt_level)
        return {"kind": "entry", "name": self.name}, obj, module, tm

    def _compiled_module(self):
        if self._module is None:
            self._llvm_module = emit_llvm_module(self._func, profile=self.profile)
            self._module, _, self._tm = compile_object(str(self._llvm_module), self.opt_level)
        return self._module

    @property
    def llvm_module(self):
        if self._llvm_module is None:
            self._llvm_module = emit_llvm_module(self._func, profile=self.profile)
        return self._llvm_module

    @property
    def unoptimized_llvm_ir(self):
        return str(self.llvm_module)

    @property
    def llvm_ir(self):
        return str(self._compiled_module())

    @property
    def asm(self):
        module = self._compiled_module()
        return self._tm.emit_assembly(module)


def compile_function(func, *, profile=False, opt_level=3):
    return CompiledFunction(func, profile=profile, opt_level=opt_level)


class CompiledWrapper:
    """The CPython fast-path wrapper for one call signature, loaded."""

    def __init__(self, loaded):
        from .pywrap import WRAPPER_NAME
        self.jit = loaded
        self.address = loaded.address(WRAPPER_NAME)


_WRAPPERS = {}


def compile_wrapper(sig):
    """The loaded ``theon_pywrap`` for ``sig`` (a pywrap.WrapperSig); one per
    signature and process, from the disk cache when it has it."""
    wrapper = _WRAPPERS.get(sig)
    if wrapper is not None:
        return wrapper
    from .pywrap import wrapper_module

    def build():
        # straight-line code full of calls: -O1 makes it as fast as -O2, in half the time
        module, obj, tm = compile_object(str(wrapper_module(sig)), opt_level=1, cheap=True)
        return {"kind": "wrapper"}, obj, module, tm

    key = _object_key("wrap", repr(sig), ()) if _cache().cache_dir() is not None else None
    loaded = _LOADED.get(key) if key else None
    if loaded is None:
        loaded, _, _ = _cached_object("wrap", key, build)
    wrapper = _WRAPPERS[sig] = CompiledWrapper(loaded)
    return wrapper

