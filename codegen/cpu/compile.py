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

Big modules compile in two tiers (``TIERED``, ``tierup.py``): quick code
first, fully optimized code from a helper process shortly after; only
tier-1 code is ever cached.
"""
import weakref

from . import tierup
from .entry import entry_name, lower_function
from .jit import (BIG_MODULE_INSTRUCTIONS, compile_object, compile_object_quick, count_instructions,
                  host_target_key, load_object)

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


def _load(kind, key):
    """The object stored on disk as ``kind``/``key``, loaded; None on a miss
    (an entry that does not load is a miss too: the next store rewrites it)."""
    hit = _cache().load(kind, key)
    if hit is None:
        return None
    try:
        loaded = load_object(hit[1])
    except Exception:  # noqa: BLE001 - a bad entry must never fail a compile
        return None
    _LOADED[key] = loaded
    return loaded


def _store(kind, key, name, obj, loaded):
    _cache().store(kind, key, {"kind": kind, "name": name}, obj)
    _LOADED[key] = loaded


# Big modules (over jit.BIG_MODULE_INSTRUCTIONS) compile in two tiers: the
# quick tier-0 pipeline now, the full pipeline in a helper process
# (tierup.py) whose code the runtime adopts at a later call boundary.
TIERED = True


class CompiledFunction:
    """Native code of one IR Function, loaded and kept alive.

    ``tier`` is 1 for fully optimized code, 0 while the quick code runs and
    the full code is being compiled in the background; ``pending`` then
    receives its object bytes and ``adopt_pending()`` switches to it.
    """

    pending = None

    def __init__(self, func, profile=False, opt_level=3):
        self.name = entry_name(func)
        self.num_ops = len(func.body.ops)
        self.profile = profile
        self.opt_level = opt_level
        self.tier = 1
        self._func = func
        self._module = self._tm = self._llvm_module = None
        self._retired = []          # replaced code: another thread may still be running it
        self.from_cache = False
        key = None
        cache = _cache()
        if cache.cache_dir() is not None and cache.cacheable(func):
            from ...ir.printer import print_function
            key = _object_key("obj", print_function(func), ("entry", profile, opt_level))
        self._key = key
        loaded = (_LOADED.get(key) or _load("obj", key)) if key else None
        self.from_cache = loaded is not None
        if loaded is None:
            loaded = self._compile_now(key)
        self.jit = loaded
        self.address = loaded.address(self.name)

    def _compile_now(self, key):
        cache = _cache()
        self._llvm_module = emit_llvm_module(self._func, profile=self.profile)
        text = str(self._llvm_module)
        if TIERED and self.opt_level >= 2 and count_instructions(text) > BIG_MODULE_INSTRUCTIONS:
            _, obj, _ = compile_object_quick(text)      # before the helper starts competing for the CPU
            if tierup.submit(key, text, self.opt_level, self.name, cache.cache_dir(), self._tier1_ready):
                self.tier = 0
                return load_object(obj)
        self._module, obj, self._tm = compile_object(text, self.opt_level)
        loaded = load_object(obj)
        if key:
            _store("obj", key, self.name, obj, loaded)
        return loaded

    def _tier1_ready(self, obj):
        """Called by the tier-up thread: no LLVM work here, just hand over."""
        self.pending = obj

    def adopt_pending(self):
        """Load the tier-1 code that arrived; its entry address, or None."""
        obj, self.pending = self.pending, None
        if obj is None:
            return None
        loaded = load_object(obj)
        address = loaded.address(self.name)
        self._retired.append(self.jit)
        self.jit, self.address, self.tier = loaded, address, 1
        if self._key:
            _LOADED[self._key] = loaded
        return address

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
    from .pywrap import WRAPPER_NAME, wrapper_module
    key = _object_key("wrap", repr(sig), ()) if _cache().cache_dir() is not None else None
    loaded = (_LOADED.get(key) or _load("wrap", key)) if key else None
    if loaded is None:
        # straight-line code full of calls: as fast at -O0 (measured), in a fifth of the time
        _, obj, _ = compile_object(str(wrapper_module(sig)), opt_level=0)
        loaded = load_object(obj)
        if key:
            _store("wrap", key, WRAPPER_NAME, obj, loaded)
    wrapper = _WRAPPERS[sig] = CompiledWrapper(loaded)
    return wrapper
