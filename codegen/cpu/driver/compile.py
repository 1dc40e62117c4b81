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
tier-1 code is ever cached. Tier 0 is several objects in one engine
(``irtext.py``): the kernels (loop workers, GEMM, math helpers) with the
quick pipeline, in batches compiled on the LLVM thread while the entry is
still being lowered, and the entry (the glue: checks, allocation, calls)
at -O0 with no passes. ``CompiledFunction`` returns before they are done:
its code is loaded when first needed (``.address``), so the caller can
build the call wrapper meanwhile.
"""
import atexit
import os
import threading
import weakref
from concurrent.futures import Future

from . import tierup
from ..lower.entry import entry_name, lower_function
from .irtext import ModuleText
from .jit import (BIG_MODULE_INSTRUCTIONS, compile_object, compile_object_quick, compile_object_unoptimized,
                  host_target_key, load_object)
from .worker import SerialWorker

_LOADED = weakref.WeakValueDictionary()   # object key -> LoadedObject: identical code shared in a process


# --- the LLVM thread ------------------------------------------------------------------------
# llvmlite runs one binding call at a time (a global lock) and releases the
# GIL inside each, so LLVM work cannot run in parallel with LLVM work, but
# a compile can run on another thread while this one does Python work:
# the runtime library (cpu/rtlib) compiles there while the graph is built
# and optimized, the call wrapper and tier 0's kernels while the module is
# lowered, the entry last. One thread runs the jobs in submission order
# (and ends when it has none); only object bytes come back: engines are
# made and loaded by the caller. (``frontend/function.py`` shortens the
# GIL's switch interval while it compiles, so the LLVM thread gets the GIL
# back promptly after each call into LLVM.)

class _LLVMThread(SerialWorker):
    def __init__(self):
        super().__init__("theon-llvm")

    def submit(self, fn, *args):
        """A Future of ``fn(*args)``, run after the jobs submitted before."""
        future = Future()
        with self.lock:
            self.enqueue((future, fn, args))
        return future

    def run(self, job):
        future, fn, args = job
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the result
                future.set_exception(e)


_llvm_thread = _LLVMThread()
in_background = _llvm_thread.submit
wait_background = _llvm_thread.wait

# Let background work finish before the process forks (a child would find
# llvmlite's lock held forever by a thread it does not have) and before it
# exits (LLVM's static destructors must not run under a running compile).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=wait_background, after_in_child=_llvm_thread.reset)
atexit.register(wait_background)


def emit_llvm_module(func, profile=False, module=None):
    """The (unoptimized) llvmlite module holding ``theon_<func.name>``."""
    module, _ = lower_function(func, module=module, profile=profile)
    return module


def _quick_object(text):
    return compile_object_quick(text)[1]


def _unoptimized_object(text):
    return compile_object_unoptimized(text)[1]


class _Tier0:
    """The tier-0 objects of one module, compiled on the LLVM thread while
    the module is lowered (``irtext.py`` says what the objects are).

    ``lower_function`` calls ``after_op`` after each op. Once the module
    has half of BIG_MODULE_INSTRUCTIONS (W6: a sixth of the way through
    its lowering), every BATCH_INSTRUCTIONS of new kernels are printed and
    queued on the LLVM thread, so LLVM compiles kernels while this thread
    goes on lowering; ``finish`` queues the last kernels and the entry. A
    module that ends up small (compiled at full optimization instead)
    cancels what has not started (``cancel``): at most one batch is lost,
    and printing is never lost (the whole text reuses the pieces). Objects
    cost ~1 ms of LLVM overhead each, a batch ~20 ms of LLVM work.
    """
    BATCH_INSTRUCTIONS = 500
    START = 0.5                 # start at this fraction of BIG_MODULE_INSTRUCTIONS

    def __init__(self, enabled):
        self.enabled = enabled
        self.text = None
        self.objects = []           # Futures of object bytes, in loading order
        self.started = False
        self._entry_blocks = 0      # entry blocks counted (all but the last, still growing)
        self._entry_size = 0        # their instructions: a lower bound of the entry's size

    def after_op(self, module, entry):
        if not self.enabled:
            return
        if self.text is None:
            self.text = ModuleText(module, entry)
        new = self.text.new_instructions()
        if not self.started:
            blocks = entry.blocks
            for block in blocks[self._entry_blocks:-1]:
                self._entry_size += len(block.instructions)
            self._entry_blocks = max(self._entry_blocks, len(blocks) - 1)
            total = self._entry_size + self.text.defined_instructions + new
            self.started = total > BIG_MODULE_INSTRUCTIONS * self.START
        if self.started and new >= self.BATCH_INSTRUCTIONS:
            self._queue_kernels()

    def _queue_kernels(self):
        kernels = self.text.kernels()
        if kernels is not None:
            self.objects.append(in_background(_quick_object, kernels))

    def finish(self):
        """Queue the kernels left and the entry; returns the Futures of
        every object, to load into one engine."""
        text = self.text
        self._queue_kernels()
        glue = text.glue()
        if not text.unchanged():        # a kernel changed after it was printed: all again, in one
            self.cancel()
            text.restart()
            self._queue_kernels()
            glue = text.glue()
        self.objects.append(in_background(_unoptimized_object, glue))
        return self.objects

    def cancel(self):
        """Drop the objects queued so far (those not started)."""
        for future in self.objects:
            future.cancel()
        self.objects = []


# --- the runtime library -------------------------------------------------------------------
# The library's text is a function of theon's sources, which the cache's
# installation fingerprint already covers, so its key is the host target
# alone and a hit never builds or prints the module (the function names
# come back from the entry's header). Like a big module it has two tiers:
# the cache holds it compiled with the quick pipeline, stored by the
# tier-up helper (``store_runtime_library``); a process that finds no
# entry compiles it at -O0 for itself (11 instead of 35 ms of LLVM on
# every cold start) and stores nothing. Its code (the pool's dispatch, the
# buffer cache) is calls, atomics and short loops: W6 and W7 run at the
# same speed with either (and with -O3).
_rt_lock = threading.Lock()
_rt_pending = None          # (Future of the object bytes, names) from prefetch_runtime_library
def _rt_cached():
    """(cache key or None, (object bytes, names) of a hit or None)."""
    cache = _cache()
    try:
        if cache.cache_dir() is None:
            return None, None
        key = cache.make_key("rt", "quick", host_target_key())
        hit = cache.load("rt", key)
        names = hit[0].get("names") if hit is not None else None
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)
                and cache.check_object(hit[1], names) is None):
            return key, None
    except Exception:  # noqa: BLE001 - the cache never fails a compile
        return None, None
    return key, (hit[1], names)


def _rt_store(key, obj, names):
    if key is not None:
        try:
            _cache().store("rt", key, {"kind": "rt", "name": "theon_rt", "names": names}, obj)
        except Exception:  # noqa: BLE001
            pass


def runtime_library_compiled(emit_module, library_names):
    """(object bytes, names of its functions) of the runtime library
    compiled now, at -O0 (no cache)."""
    module = emit_module()
    return _unoptimized_object(str(module)), library_names(module)


def runtime_library_object(emit_module, library_names):
    """(object bytes, names of its functions) of the runtime library
    (cpu/rtlib, which ``rtload.ensure_loaded`` loads): the prefetched one,
    else the on-disk cache's, else compiled now at -O0."""
    global _rt_pending
    with _rt_lock:
        pending, _rt_pending = _rt_pending, None
    if pending is not None:
        future, names = pending
        try:
            return future.result(), names
        except Exception:  # noqa: BLE001 - compiled again below, where an error is raised
            pass
    _, hit = _rt_cached()
    if hit is not None:
        return hit
    return runtime_library_compiled(emit_module, library_names)


def store_runtime_library():
    """Put the runtime library compiled with the quick pipeline in the
    on-disk cache, unless it is there (the tier-up helper calls this)."""
    key, hit = _rt_cached()
    if key is None or hit is not None:
        return
    from .. import rtlib
    module = rtlib.emit_module()
    _rt_store(key, _quick_object(str(module)), rtlib.library_names(module))


def prefetch_runtime_library():
    """Unless the runtime library is loaded: read it from the cache, or
    build its text here and compile it on the LLVM thread. The first
    compile of a process needs the library only when it loads its object,
    so LLVM compiles it while this thread builds the graph, runs the
    passes and lowers."""
    global _rt_pending
    from .. import rtlib
    from . import rtload
    if rtload.is_loaded() or _rt_pending is not None:
        return
    _, hit = _rt_cached()
    if hit is not None:
        future, (obj, names) = Future(), hit
        future.set_result(obj)
    else:
        module = rtlib.emit_module()
        names = rtlib.library_names(module)
        future = in_background(_unoptimized_object, str(module))
    with _rt_lock:
        if _rt_pending is None and not rtload.is_loaded():
            _rt_pending = (future, names)


class NoObjectCache:
    """The object cache until the runtime installs one: caches nothing."""

    @staticmethod
    def cache_dir():
        return None

    @staticmethod
    def cacheable(func):
        return False


_object_cache = NoObjectCache()


def set_object_cache(cache):
    """Keep compiled objects in ``cache`` (the runtime's on-disk cache,
    ``theon.runtime.cache``: ``cache_dir()``, ``cacheable(func)``,
    ``make_key``, ``load``, ``store``). codegen never imports the runtime:
    the runtime installs its cache here (``runtime/native.cpu_compiler``),
    and the tier-up helper process imports the same module by name."""
    global _object_cache
    _object_cache = cache


def _cache():
    return _object_cache


def _object_key(kind, text, options):
    return _cache().make_key(kind, text, repr(options), host_target_key())


def _load(kind, key, symbol):
    """The object stored on disk as ``kind``/``key``, loaded; None on a miss.
    The bytes are checked (``cache.load_code``: objects of this machine,
    one or several loaded together, defining ``symbol``) before LLVM sees
    them, and an entry that does not load or lacks ``symbol`` is a miss
    too: the caller's store rewrites it."""
    hit = _cache().load_code(kind, key, [symbol])
    if hit is None:
        return None
    try:
        loaded = load_object(hit[1])
        loaded.address(symbol)
    except Exception:  # noqa: BLE001 - a bad entry must never fail a compile
        return None
    _LOADED[key] = loaded
    return loaded


def _store(kind, key, name, obj, loaded):
    """``obj``: one object's bytes, or a list of objects loaded together."""
    _cache().store_code(kind, key, {"kind": kind, "name": name}, obj)
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

    Tier-0 objects may still be compiling on the LLVM thread when the
    constructor returns: the first use of ``address``, ``jit`` or ``tier``
    waits for them, loads them and starts the tier-up (only then, so that
    the helper process does not compete with them for the CPU).
    """

    pending = None

    def __init__(self, func, profile=False, opt_level=3):
        self.name = entry_name(func)
        self.num_ops = len(func.body.ops)
        self.profile = profile
        self.opt_level = opt_level
        self._func = func
        self._module = self._tm = self._llvm_module = None
        self._retired = []          # replaced code: another thread may still be running it
        self._jit = self._address = None
        self._tier = 1
        self._tier0 = None          # (Futures of the tier-0 objects, the module's text for tier 1)
        self._lock = threading.Lock()
        self.from_cache = False
        key = None
        cache = _cache()
        if cache.cache_dir() is not None and cache.cacheable(func):
            from ....ir.printer import print_function
            key = _object_key("obj", print_function(func), ("entry", profile, opt_level))
        self._key = key
        loaded = (_LOADED.get(key) or _load("obj", key, self.name)) if key else None
        self.from_cache = loaded is not None
        if loaded is None:
            loaded = self._compile_now(key)
        if loaded is not None:
            self._set_code(loaded, 1)

    def _set_code(self, loaded, tier):
        self._jit, self._address, self._tier = loaded, loaded.address(self.name), tier

    def _compile_now(self, key):
        """The loaded code, or None while tier 0 compiles (``_tier0``)."""
        tier0 = _Tier0(TIERED and self.opt_level >= 1)
        try:
            self._llvm_module, entry = lower_function(self._func, profile=self.profile, after_op=tier0.after_op)
        except BaseException:
            tier0.cancel()
            raise
        module_text = tier0.text or ModuleText(self._llvm_module, entry)
        tier0.text = module_text
        if tier0.enabled and module_text.instructions > BIG_MODULE_INSTRUCTIONS:
            self._tier0 = (tier0.finish(), module_text.whole())
            return None
        tier0.cancel()
        return self._compile_full(key, module_text.whole())

    def _compile_full(self, key, text):
        self._module, obj, self._tm = compile_object(text, self.opt_level)
        loaded = load_object(obj)
        if key:
            _store("obj", key, self.name, obj, loaded)
        return loaded

    def _finish(self):
        """Load the tier-0 objects when they are compiled, and start the
        tier-up (or, if its queue is full, compile tier 1 now)."""
        with self._lock:
            if self._tier0 is None:
                return
            futures, text = self._tier0
            objects = [f.result() for f in futures]
            self._tier0 = None
            if self.opt_level < 2:
                # -O1 (FAST_COMPILE): the quick kernels and the -O0 glue are the final
                # code; one -O1 module of a huge graph would cost LLVM superlinear time
                loaded = load_object(objects)
                self._set_code(loaded, 1)
                if self._key:           # several objects, one cache entry (cache.store_code)
                    _store("obj", self._key, self.name, objects, loaded)
            elif tierup.submit(self._key, text, self.opt_level, self.name, _cache().cache_dir(),
                               self._tier1_ready):
                self._set_code(load_object(objects), 0)
            else:
                self._set_code(self._compile_full(self._key, text), 1)

    @property
    def address(self):
        self._finish()
        return self._address

    @property
    def jit(self):
        self._finish()
        return self._jit

    @property
    def tier(self):
        self._finish()
        return self._tier

    def _tier1_ready(self, obj):
        """Called by the tier-up thread: no LLVM work here, just hand over."""
        self.pending = obj

    def adopt_pending(self):
        """Load the tier-1 code that arrived; its entry address, or None."""
        obj, self.pending = self.pending, None
        if obj is None:
            return None
        loaded = load_object(obj)
        self._retired.append(self.jit)
        self._set_code(loaded, 1)
        if self._key:
            _LOADED[self._key] = loaded
        return self._address

    def _compiled_module(self):
        if self._module is None:
            module = self.llvm_module       # the lowered module, kept or lowered again
            self._module, _, self._tm = compile_object(str(module), self.opt_level)
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
_PENDING_WRAPPERS = {}          # sig -> (Future of the object bytes, cache key), from prefetch_wrapper
_wrappers_lock = threading.Lock()


def _wrapper_object(text):
    # straight-line code full of calls: as fast at -O0 (measured), in a fifth of the time
    return compile_object(text, opt_level=0)[1]


def _wrapper_key(sig):
    return _object_key("wrap", repr(sig), ()) if _cache().cache_dir() is not None else None


def prefetch_wrapper(sig):
    """Unless the wrapper for ``sig`` is loaded or on disk: build its text
    here and compile it on the LLVM thread (``compile_wrapper`` picks it
    up). ``theon.function`` calls this before lowering its graph, when the
    LLVM thread would otherwise wait for the first kernels."""
    if sig in _WRAPPERS or sig in _PENDING_WRAPPERS:
        return
    key = _wrapper_key(sig)
    from .pywrap import WRAPPER_NAME, wrapper_module
    if key is not None and (key in _LOADED or _cache().load_code("wrap", key, [WRAPPER_NAME]) is not None):
        return
    future = in_background(_wrapper_object, str(wrapper_module(sig)))
    with _wrappers_lock:
        _PENDING_WRAPPERS.setdefault(sig, (future, key))


def compile_wrapper(sig):
    """The loaded ``theon_pywrap`` for ``sig`` (a pywrap.WrapperSig); one per
    signature and process, from the disk cache when it has it."""
    wrapper = _WRAPPERS.get(sig)
    if wrapper is not None:
        return wrapper
    from .pywrap import WRAPPER_NAME, wrapper_module
    with _wrappers_lock:
        pending = _PENDING_WRAPPERS.pop(sig, None)
    if pending is not None and pending[0].exception() is not None:
        pending = None      # a prefetch that failed (its caller is gone): compile here, raising here
    if pending is not None:
        future, key = pending
        obj = future.result()
        loaded = load_object(obj)
        if key:
            _store("wrap", key, WRAPPER_NAME, obj, loaded)
    else:
        key = _wrapper_key(sig)
        loaded = (_LOADED.get(key) or _load("wrap", key, WRAPPER_NAME)) if key else None
        if loaded is None:
            obj = _wrapper_object(str(wrapper_module(sig)))
            loaded = load_object(obj)
            if key:
                _store("wrap", key, WRAPPER_NAME, obj, loaded)
    wrapper = _WRAPPERS[sig] = CompiledWrapper(loaded)
    return wrapper
