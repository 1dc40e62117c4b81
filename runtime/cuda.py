"""The CUDA driver API through ctypes: no CUDA toolkit needed at run time.

    cuda_available()            True if libcuda loads, cuInit succeeds and a device exists
    unavailable_reason()        why not (None when available)
    default_device(ordinal=0)   the CudaDevice of GPU ``ordinal`` (made once; 'cuda:N')
    CudaDevice(ordinal)         primary context, its own stream, memory pool, PTX modules, launches
    release_memory()            give every pooled device buffer of every device back to the driver

Every driver call goes through ``Driver.call``, which turns a nonzero
``CUresult`` into a ``CudaError`` naming the call and the CUDA error
(``cuGetErrorName``/``cuGetErrorString``, e.g. CUDA_ERROR_OUT_OF_MEMORY).
PTX is loaded with ``cuModuleLoadDataEx`` so that a JIT failure shows the
driver's error log; the PTX text of a plan is cached on disk
(``runtime/cache.py``, kind ``ptx``).

Coexistence with PyTorch, JAX, CuPy in one process: theon uses the
device's *primary* context (``cuDevicePrimaryCtxRetain``, the one the
runtime API and those libraries use), never ``cuCtxCreate``, and
allocates nothing up front. All its work goes to its own stream
(``cuStreamCreate``, a *blocking* stream: work on the legacy default
stream -- events a profiler or PyTorch's default stream records -- stays
ordered with theon's): launches and copies are asynchronous and ordered
on it; a copy to the host waits for the stream (``download``),
and so does ``synchronize()``. Device memory comes from a bounded caching
pool (``cuMemAlloc`` is slow and synchronizing): freed buffers wait in
size classes for reuse by later work on the same stream, up to
``pool_limit`` bytes (THEON_GPU_POOL_LIMIT, default 1 GiB); beyond that,
and on ``release_memory()``, they go back to the driver. Compiled
functions keep device buffers between calls (a signature's arena of
intermediates, uploaded constants and shapes): each registers itself
(``register_cache``), and ``release_memory()`` -- and an allocation that
finds the device full, before it retries -- first makes every idle one
drop them (they are made again, lazily, by its next call), so afterwards
the device holds only what live arrays and shared variables use.

Streams and events. Every array theon writes remembers the event recorded
on theon's stream after the work that wrote it (``DeviceTensor.event``:
``record_event()``, events recycled through a free list). Handing an array
to another library's stream (DLPack's ``stream``) makes that stream wait
for this event only (``wait_for_stream(stream, event)``), not for the
work theon queued later; the CUDA array interface reports no stream once
the event has completed. The legacy default stream (handle 1, None) needs
no wait: theon's stream is a blocking stream, ordered with it; the
per-thread default stream (2) and other handles get ``cuStreamWaitEvent``.
Imports do the reverse (``wait_on_stream``).

Errors: each launch's status is checked. A fault inside a kernel shows up
at the next synchronization; with ``sync_check`` (THEON_GPU_SYNC_CHECK=1
or ``theon.config.gpu_sync_check``) the stream is synchronized after every
launch, so the error names the kernel that failed (``RunState.launch``
adds its name, grid and block).
"""
import ctypes
import dataclasses
import ctypes.util
import functools
import os
import re
import threading
import weakref

CUDA_SUCCESS = 0
CUDA_ERROR_OUT_OF_MEMORY = 2
CUDA_ERROR_NOT_READY = 600
CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
CU_STREAM_DEFAULT = 0         # ordered with the legacy default stream
CU_STREAM_NON_BLOCKING = 1
CU_STREAM_LEGACY = 1          # the stream handles the CUDA array interface and DLPack give
CU_STREAM_PER_THREAD = 2
NO_SYNC = -1                  # DLPack: the consumer asks for no synchronization
CU_EVENT_DISABLE_TIMING = 2
CU_JIT_ERROR_LOG_BUFFER = 5
CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
JIT_LOG_BYTES = 16384
LIBRARY_NAMES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")

# Names for codes whose name cuGetErrorName cannot give (an old driver)
ERROR_NAMES = {
    1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
    4: "CUDA_ERROR_DEINITIALIZED", 100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
    200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
    218: "CUDA_ERROR_INVALID_PTX", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", 400: "CUDA_ERROR_INVALID_HANDLE",
    500: "CUDA_ERROR_NOT_FOUND", 700: "CUDA_ERROR_ILLEGAL_ADDRESS",
    701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", 702: "CUDA_ERROR_LAUNCH_TIMEOUT", 719: "CUDA_ERROR_LAUNCH_FAILED",
    600: "CUDA_ERROR_NOT_READY", 999: "CUDA_ERROR_UNKNOWN",
}

_u = ctypes.c_uint
_i = ctypes.c_int
_p = ctypes.c_void_p
_sz = ctypes.c_size_t
_dptr = ctypes.c_uint64
_pp = ctypes.POINTER(ctypes.c_void_p)

# name -> argtypes (every function returns CUresult, an int); the first
# name of a tuple is tried first (versioned entry points)
SIGNATURES = {
    ("cuInit",): [_u],
    ("cuDriverGetVersion",): [ctypes.POINTER(_i)],
    ("cuDeviceGetCount",): [ctypes.POINTER(_i)],
    ("cuDeviceGet",): [ctypes.POINTER(_i), _i],
    ("cuDeviceGetName",): [ctypes.c_char_p, _i, _i],
    ("cuDeviceGetAttribute",): [ctypes.POINTER(_i), _i, _i],
    ("cuDevicePrimaryCtxRetain",): [ctypes.POINTER(_p), _i],
    ("cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"): [_i],
    ("cuCtxSetCurrent",): [_p],
    ("cuCtxSynchronize",): [],
    ("cuModuleLoadDataEx",): [ctypes.POINTER(_p), ctypes.c_char_p, _u, ctypes.POINTER(_i), _pp],
    ("cuModuleGetFunction",): [ctypes.POINTER(_p), _p, ctypes.c_char_p],
    ("cuModuleUnload",): [_p],
    ("cuMemAlloc_v2",): [ctypes.POINTER(_dptr), _sz],
    ("cuMemFree_v2",): [_dptr],
    ("cuMemGetInfo_v2",): [ctypes.POINTER(_sz), ctypes.POINTER(_sz)],
    ("cuMemcpyHtoD_v2",): [_dptr, _p, _sz],
    ("cuMemcpyDtoH_v2",): [_p, _dptr, _sz],
    ("cuMemcpyHtoDAsync_v2",): [_dptr, _p, _sz, _p],
    ("cuMemcpyDtoHAsync_v2",): [_p, _dptr, _sz, _p],
    ("cuMemcpyDtoDAsync_v2",): [_dptr, _dptr, _sz, _p],
    ("cuStreamCreate",): [ctypes.POINTER(_p), _u],
    ("cuStreamDestroy_v2", "cuStreamDestroy"): [_p],
    ("cuStreamSynchronize",): [_p],
    ("cuStreamWaitEvent",): [_p, _p, _u],
    ("cuEventCreate",): [ctypes.POINTER(_p), _u],
    ("cuEventRecord",): [_p, _p],
    ("cuEventDestroy_v2", "cuEventDestroy"): [_p],
    ("cuLaunchKernel",): [_p, _u, _u, _u, _u, _u, _u, _u, _p, _pp, _pp],
    ("cuGetErrorName",): [_i, ctypes.POINTER(ctypes.c_char_p)],
    ("cuGetErrorString",): [_i, ctypes.POINTER(ctypes.c_char_p)],
}

# bound when the library has them (theon works without)
OPTIONAL_SIGNATURES = {
    ("cuEventQuery",): [_p],
}


class CudaError(RuntimeError):
    """A CUDA driver call failed: ``.call``, ``.code``, ``.name`` (CUDA_ERROR_...)."""

    def __init__(self, call, code, name, text=""):
        detail = f": {text}" if text else ""
        super().__init__(f"CUDA driver call {call} failed with {name} ({code}){detail}")
        self.call, self.code, self.name = call, code, name


class CudaUnavailableError(RuntimeError):
    """No usable CUDA driver or device on this machine."""


class Driver:
    """libcuda's entry points, each checked."""

    def __init__(self, lib):
        self.lib = lib
        self.fns = {}
        for names, argtypes in SIGNATURES.items():
            fn = None
            for name in names:
                fn = getattr(lib, name, None)
                if fn is not None:
                    break
            if fn is None:
                raise CudaUnavailableError(f"the CUDA driver library has no {names[0]} (driver too old)")
            fn.argtypes = argtypes
            fn.restype = _i
            self.fns[names[0]] = fn
        for names, argtypes in OPTIONAL_SIGNATURES.items():
            fn = next((f for f in (getattr(lib, n, None) for n in names) if f is not None), None)
            if fn is not None:
                fn.argtypes, fn.restype = argtypes, _i
                self.fns[names[0]] = fn

    def call(self, name, *args):
        code = self.fns[name](*args)
        if code != CUDA_SUCCESS:
            raise CudaError(name, code, self.error_name(code), self.error_string(code))

    def error_name(self, code):
        text = ctypes.c_char_p()
        if self.fns["cuGetErrorName"](code, ctypes.byref(text)) == CUDA_SUCCESS and text.value:
            return text.value.decode(errors="replace")
        return ERROR_NAMES.get(code, f"CUDA error {code}")

    def error_string(self, code):
        text = ctypes.c_char_p()
        if self.fns["cuGetErrorString"](code, ctypes.byref(text)) == CUDA_SUCCESS and text.value:
            return text.value.decode(errors="replace")
        return ""


def _load_library():
    errors = []
    for name in LIBRARY_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
    found = ctypes.util.find_library("cuda")
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError as e:
            errors.append(f"{found}: {e}")
    raise CudaUnavailableError("the CUDA driver library (libcuda.so) could not be loaded; is an NVIDIA "
                               "driver installed? (" + "; ".join(errors) + ")")


@functools.lru_cache(maxsize=None)
def _driver_or_reason():
    """(Driver, None) or (None, reason), decided once per process."""
    try:
        drv = Driver(_load_library())
        drv.call("cuInit", 0)
        count = ctypes.c_int()
        drv.call("cuDeviceGetCount", ctypes.byref(count))
    except (CudaUnavailableError, CudaError) as e:
        return None, str(e)
    if count.value < 1:
        return None, "the CUDA driver found no GPU (cuDeviceGetCount is 0)"
    return drv, None


def driver():
    drv, reason = _driver_or_reason()
    if drv is None:
        raise CudaUnavailableError(f"CUDA is not available: {reason}")
    return drv


def cuda_available():
    return _driver_or_reason()[0] is not None


def unavailable_reason():
    return _driver_or_reason()[1]


def ptx_arch(major, minor):
    """The PTX target for a device of compute capability major.minor: the
    newest architecture at or below it that theon emits for (the driver
    JIT-compiles PTX for any newer GPU). Compute capability 9.0 exactly
    gets ``sm_90a``, whose architecture-specific ``wgmma`` the matrix
    products use; arch-specific PTX does not carry forward, so newer GPUs
    get plain ``sm_90``."""
    cc = 10 * major + minor
    if cc == 90:
        return "sm_90a"
    for known in (90, 89, 87, 86, 80, 75, 72, 70, 62, 61, 60, 53, 52, 50):
        if cc >= known:
            return f"sm_{known}"
    raise CudaUnavailableError(f"GPU compute capability {major}.{minor} is too old (theon needs 5.0+)")


def _bin_size(nbytes):
    """Pool size class: powers of two up to 1 MiB, then whole MiB."""
    n = max(int(nbytes), 1)
    if n <= 1 << 20:
        return max(512, 1 << (n - 1).bit_length())
    return -(-n // (1 << 20)) << 20


DEFAULT_POOL_LIMIT = 1 << 30


def _env_int(name, default):
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of bytes, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def sync_check_enabled():
    """True when every launch is followed by a synchronization (debugging)."""
    from ..config import config
    return bool(config.gpu_sync_check)


def parse_device(name):
    """The GPU ordinal of a device name: 'cuda' -> 0, 'cuda:N' -> N."""
    if isinstance(name, str):
        m = re.fullmatch(r"cuda(?::(\d+))?", name)
        if m:
            return int(m.group(1) or 0)
    raise ValueError(f"a GPU device name is 'cuda' or 'cuda:N' (N the GPU's ordinal), got {name!r}")


class CudaBuffer:
    """A device allocation; returns to its device's pool when collected."""

    __slots__ = ("device", "ptr", "size", "__weakref__")

    def __init__(self, device, ptr, size):
        self.device = device
        self.ptr = ptr
        self.size = size

    def __del__(self):
        dev, self.device = self.device, None
        if dev is not None and self.ptr:
            dev.release(self.ptr, self.size)


class MemoryPool:
    """Free device blocks by size class, at most ``limit`` bytes of them.
    ``free_fn(ptr)`` gives a block back to the driver; ``sync_fn()`` waits
    for the work that may still use a block before that."""

    def __init__(self, alloc_fn, free_fn, sync_fn, limit, on_full=None):
        self.alloc_fn, self.free_fn, self.sync_fn = alloc_fn, free_fn, sync_fn
        self.on_full = on_full      # frees what caches hold and the pool (default: the pool)
        self.limit = limit
        self.free = {}              # size class -> [device addresses]
        self.pooled = 0             # bytes waiting in ``free``
        self.in_use = 0             # bytes handed out
        self.peak = 0
        self.driver_allocs = 0
        self.driver_frees = 0
        self.lock = threading.RLock()     # give() runs from __del__, maybe inside take()

    def take(self, size):
        """A block of size class ``size``: a pooled one, or a new one (after
        giving the pool back to the driver when the device is full)."""
        with self.lock:
            blocks = self.free.get(size)
            if blocks:
                self.pooled -= size
                ptr = blocks.pop()
            else:
                ptr = None
            self.in_use += size
            self.peak = max(self.peak, self.in_use)
        if ptr is not None:
            return ptr
        try:
            try:
                ptr = self.alloc_fn(size)
            except CudaError as e:
                if e.code != CUDA_ERROR_OUT_OF_MEMORY:
                    raise
                (self.on_full or self.release_all)()
                ptr = self.alloc_fn(size)
        except BaseException:
            with self.lock:
                self.in_use -= size
            raise
        self.driver_allocs += 1
        return ptr

    def give(self, ptr, size):
        with self.lock:
            self.in_use -= size
            if self.pooled + size <= self.limit:
                self.free.setdefault(size, []).append(ptr)
                self.pooled += size
                return
        try:
            self.sync_fn()
            self.free_fn(ptr)
            self.driver_frees += 1
        except Exception:      # noqa: BLE001 - called from __del__: the block is lost, not the process
            pass

    def release_all(self):
        """Give every pooled block back to the driver; returns the bytes freed."""
        with self.lock:
            blocks = [(size, p) for size, ptrs in self.free.items() for p in ptrs]
            self.free = {}
            self.pooled = 0
        if blocks:
            self.sync_fn()
        for _, ptr in blocks:
            self.free_fn(ptr)
            self.driver_frees += 1
        return sum(size for size, _ in blocks)

    def stats(self):
        return {"in_use_bytes": self.in_use, "pooled_bytes": self.pooled, "peak_in_use_bytes": self.peak,
                "pool_limit_bytes": self.limit, "driver_allocs": self.driver_allocs,
                "driver_frees": self.driver_frees}


class CudaDevice:
    """One GPU: its primary context, theon's stream on it, a memory pool,
    module loading, launches. ``drv``: the Driver to use (default:
    libcuda's); ``pool_limit``: bytes of free blocks the pool keeps."""

    dlpack_device_type = 2          # kDLCUDA

    def __init__(self, ordinal=0, drv=None, pool_limit=None):
        from ..codegen.ptx.target import GPU_SCHEDULE
        self.drv = drv or driver()
        call = self.drv.call
        if not isinstance(ordinal, int) or isinstance(ordinal, bool) or ordinal < 0:
            raise ValueError(f"CudaDevice: ordinal must be an int >= 0, got {ordinal!r}")
        count = ctypes.c_int()
        call("cuDeviceGetCount", ctypes.byref(count))
        if ordinal >= count.value:
            raise ValueError(f"CudaDevice: no GPU cuda:{ordinal}; this machine has {count.value} "
                             f"(cuda:0..cuda:{count.value - 1})")
        dev = ctypes.c_int()
        call("cuDeviceGet", ctypes.byref(dev), ordinal)
        self.ordinal = ordinal
        self.handle = dev.value
        name = ctypes.create_string_buffer(256)
        call("cuDeviceGetName", name, 256, self.handle)
        self.name = name.value.decode(errors="replace")
        major, minor = ctypes.c_int(), ctypes.c_int()
        call("cuDeviceGetAttribute", ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.handle)
        call("cuDeviceGetAttribute", ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.handle)
        self.compute_capability = (major.value, minor.value)
        self.sm = ptx_arch(major.value, minor.value)
        ctx = ctypes.c_void_p()
        call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), self.handle)     # shared with the runtime API
        self.context = ctx
        sms = ctypes.c_int()
        call("cuDeviceGetAttribute", ctypes.byref(sms), CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self.handle)
        # grids are sized to fill this device's multiprocessors (reductions' splits)
        self.schedule = (dataclasses.replace(GPU_SCHEDULE, sm_count=sms.value) if sms.value > 0
                         else GPU_SCHEDULE)
        self._modules = []
        self.activate()
        stream = ctypes.c_void_p()
        call("cuStreamCreate", ctypes.byref(stream), CU_STREAM_DEFAULT)
        self.stream = stream
        limit = _env_int("THEON_GPU_POOL_LIMIT", DEFAULT_POOL_LIMIT) if pool_limit is None else int(pool_limit)
        self.pool = MemoryPool(self._driver_alloc, self._driver_free, self.synchronize, limit,
                               on_full=self.release_memory)
        self.last_kernel = None     # name of the last kernel launched (for error messages)
        self._caches = weakref.WeakSet()    # holders of reusable device buffers (drop_cached(device))
        self._free_events = []              # recorded-and-dropped event handles, for reuse
        self._events_lock = threading.Lock()

    def __repr__(self):
        return f"<CudaDevice {self.ordinal}: {self.name}, sm {self.compute_capability[0]}.{self.compute_capability[1]}>"

    @property
    def stream_handle(self):
        """theon's stream as an integer (``__cuda_array_interface__``'s 'stream')."""
        return self.stream.value or 0

    def activate(self):
        """Make this device's context current on the calling thread."""
        self.drv.call("cuCtxSetCurrent", self.context)

    # --- memory ------------------------------------------------------------------------
    def _driver_alloc(self, size):
        ptr = _dptr()
        self.drv.call("cuMemAlloc_v2", ctypes.byref(ptr), size)
        return ptr.value

    def _driver_free(self, ptr):
        self.drv.call("cuMemFree_v2", ptr)

    @property
    def pool_limit(self):
        return self.pool.limit

    @pool_limit.setter
    def pool_limit(self, value):
        self.pool.limit = int(value)

    def alloc(self, nbytes):
        size = _bin_size(nbytes)
        return CudaBuffer(self, self.pool.take(size), size)

    def release(self, ptr, size):
        self.pool.give(ptr, size)

    def register_cache(self, holder):
        """``holder.drop_cached(device)`` drops the device buffers it keeps
        for reuse (a compiled function's arenas and constants) when they
        are not in use; called by ``release_memory`` (held weakly)."""
        self._caches.add(holder)

    def drop_caches(self):
        """Make every registered holder drop the buffers it keeps but does not use now."""
        for holder in list(self._caches):
            holder.drop_cached(self)

    def release_memory(self):
        """Free every cached device allocation no live object needs: the
        buffers idle compiled functions keep (arenas, constants; made again
        by their next call), then the pool's free blocks, all given back to
        the driver; returns the bytes the pool gave back."""
        self.drop_caches()
        return self.pool.release_all()

    trim = release_memory

    def memory_stats(self):
        """Pool counters: bytes in use, pooled, peak, limit; driver allocations and frees."""
        return self.pool.stats()

    def upload(self, array):
        """A new buffer holding C-contiguous host ``array`` (asynchronous on
        theon's stream: the driver stages pageable memory before returning)."""
        buf = self.alloc(array.nbytes)
        if array.nbytes:
            self.drv.call("cuMemcpyHtoDAsync_v2", buf.ptr, array.ctypes.data, array.nbytes, self.stream)
        return buf

    def download(self, ptr, out):
        """Copy ``out.nbytes`` bytes at device address ``ptr`` into C-contiguous
        ``out``, after the work queued before it (waits for the stream)."""
        if out.nbytes:
            self.drv.call("cuMemcpyDtoHAsync_v2", out.ctypes.data, ptr, out.nbytes, self.stream)
            self.synchronize()

    def copy(self, dst, src, nbytes):
        """Device-to-device copy of ``nbytes`` bytes, queued on the stream."""
        if nbytes:
            self.drv.call("cuMemcpyDtoDAsync_v2", dst, src, nbytes, self.stream)

    def memory_info(self):
        free, total = _sz(), _sz()
        self.drv.call("cuMemGetInfo_v2", ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    # --- modules and launches ----------------------------------------------------------
    def load_ptx(self, ptx):
        """Load PTX text; returns the CUmodule handle (a JIT error carries the driver's log)."""
        module = ctypes.c_void_p()
        log = ctypes.create_string_buffer(JIT_LOG_BYTES)
        options = (ctypes.c_int * 2)(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        values = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p).value, JIT_LOG_BYTES)
        try:
            self.drv.call("cuModuleLoadDataEx", ctypes.byref(module), ptx.encode() + b"\0", 2, options, values)
        except CudaError as e:
            text = log.value.decode(errors="replace").strip()
            if text:
                raise CudaError(e.call, e.code, e.name, f"{e}\nJIT log:\n{text}") from None
            raise
        self._modules.append(module)
        return module

    def load(self, plan):
        """The kernels of ``plan`` compiled to PTX for this GPU and loaded
        (the PTX comes from the disk cache when it holds it)."""
        from ..codegen.ptx.state import LoadedProgram
        ptx, llvm_ir = compiled_ptx(plan, self.sm, self.schedule)
        program = LoadedProgram(plan)
        program.ptx = ptx
        program.llvm_ir = llvm_ir
        program.asm = ptx
        program.sm = self.sm
        program.module = self.load_ptx(ptx)
        for name in plan.kernels:
            fn = ctypes.c_void_p()
            self.drv.call("cuModuleGetFunction", ctypes.byref(fn), program.module, name.encode())
            program.handles[name] = fn
        return program

    def launch(self, kernel, grid, block, args):
        """Launch ``kernel`` on theon's stream; ``args``: one 64-bit integer
        (device address or int64) per kernel parameter. With sync_check,
        waits for it and raises its error."""
        values = [ctypes.c_int64(a) if a < (1 << 63) else ctypes.c_uint64(a) for a in args]
        params = (ctypes.c_void_p * max(len(values), 1))(*[ctypes.addressof(v) for v in values])
        self.drv.call("cuLaunchKernel", kernel, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                      0, self.stream, params, None)
        if sync_check_enabled():
            self.synchronize()

    def synchronize(self):
        """Wait for everything queued on theon's stream."""
        self.drv.call("cuStreamSynchronize", self.stream)

    # --- events: ordering with other libraries' streams ------------------------------
    def record_event(self):
        """An ``Event`` recorded on theon's stream now: it completes when
        the work queued so far has run (what ``DeviceTensor.event`` holds)."""
        handle = self._event_handle()
        try:
            self.drv.call("cuEventRecord", ctypes.c_void_p(handle), self.stream)
        except BaseException:
            self._recycle_event(handle)
            raise
        return Event(self, handle)

    def _event_handle(self):
        """A free event handle (reused, or a new one)."""
        with self._events_lock:
            if self._free_events:
                return self._free_events.pop()
        event = ctypes.c_void_p()
        self.drv.call("cuEventCreate", ctypes.byref(event), CU_EVENT_DISABLE_TIMING)
        return event.value

    def _recycle_event(self, handle):
        # a stream already waiting on it keeps waiting for that record (cuStreamWaitEvent
        # takes the event's state when called): re-recording it later is safe
        with self._events_lock:
            self._free_events.append(handle)

    def event_done(self, event):
        """True when ``event`` (an Event or None: theon's whole stream) has completed."""
        fns = getattr(self.drv, "fns", None)
        if fns is not None and "cuEventQuery" not in fns:
            return False                # cannot tell: assume pending
        if event is None:
            event = self.record_event()
        try:
            self.drv.call("cuEventQuery", ctypes.c_void_p(event.handle))
        except CudaError as e:
            if e.code == CUDA_ERROR_NOT_READY:
                return False
            raise
        return True

    def _foreign(self, stream):
        """The handle of another library's stream that needs an explicit
        wait, or None: none given (DLPack -1), theon's own, or the legacy
        default stream (None, 0, 1: theon's stream is a blocking stream,
        implicitly ordered with it)."""
        if stream is None:
            return None
        s = int(stream)
        if s in (NO_SYNC, 0, CU_STREAM_LEGACY) or s == self.stream_handle:
            return None
        if s < 0:
            raise ValueError(f"a CUDA stream is a handle, 1 (legacy default), 2 (per-thread default) or "
                             f"-1 (no synchronization); got {stream!r}")
        return s

    def wait_for_stream(self, stream, event=None):
        """Make work queued later on ``stream`` (another library's, e.g. a
        DLPack consumer's) wait for ``event`` (an Event: the work that wrote
        one array), or, when None, for everything theon queued so far."""
        s = self._foreign(stream)
        if s is None:
            return
        if event is None:
            event = self.record_event()
        self.drv.call("cuStreamWaitEvent", ctypes.c_void_p(s), ctypes.c_void_p(event.handle), 0)

    def wait_on_stream(self, stream):
        """Make work theon queues from now on wait for what another library
        queued so far on ``stream`` (a producer's: __cuda_array_interface__'s
        'stream')."""
        s = self._foreign(stream)
        if s is None:
            return
        handle = self._event_handle()
        try:
            self.drv.call("cuEventRecord", ctypes.c_void_p(handle), ctypes.c_void_p(s))
            self.drv.call("cuStreamWaitEvent", self.stream, ctypes.c_void_p(handle), 0)
        finally:
            self._recycle_event(handle)


class Event:
    """A recorded CUDA event of a CudaDevice (its handle goes back to the
    device's free list when the last array holding it is collected)."""

    __slots__ = ("device", "handle")

    def __init__(self, device, handle):
        self.device, self.handle = device, handle

    def __del__(self):
        dev, self.device = self.device, None
        if dev is not None:
            dev._recycle_event(self.handle)

    def __repr__(self):
        return f"<cuda.Event {self.handle:#x}>"


def compiled_ptx(plan, sm, schedule, opt_level=3):
    """(PTX text, LLVM IR text or None) of ``plan``'s kernels for ``sm``: from
    the disk cache (kind 'ptx', keyed by the IR text, the plan's scalar
    options (e.g. allow_tf32), the kernel names, the target, the schedule and
    theon's fingerprint) or compiled and stored.
    A cached entry must name every kernel with an ``.entry`` of this
    target, or it is a miss."""
    from ..codegen.ptx import PtxModule
    from . import cache
    key = None
    if cache.cache_dir() is not None and plan.func is not None and cache.cacheable(plan.func):
        from ..ir.printer import print_function
        options = sorted((k, v) for k, v in vars(plan).items() if isinstance(v, (bool, int, float, str)))
        key = cache.make_key("ptx", print_function(plan.func), sm, opt_level, repr(schedule),
                             repr(options), ",".join(plan.kernels))
        hit = cache.load("ptx", key)
        if hit is not None and valid_ptx(hit[1], sm, plan.kernels):
            return hit[1].decode(), None
    compiled = PtxModule(plan, sm=sm, schedule=schedule, opt_level=opt_level)
    if key is not None:
        try:
            cache.store("ptx", key, {"kind": "ptx", "sm": sm, "kernels": len(plan.kernels)},
                        compiled.ptx.encode())
        except Exception:  # noqa: BLE001 - never fail a compile because of the cache
            pass
    return compiled.ptx, compiled.llvm_ir


def valid_ptx(data, sm, kernels):
    """True if ``data`` (bytes) is PTX text for ``sm`` defining every kernel."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    if "\0" in text or not re.search(r"^\s*\.version\s+\d+\.\d+", text, re.M):
        return False
    if not re.search(rf"^\s*\.target\s+{re.escape(sm)}\b", text, re.M):
        return False
    entries = set(re.findall(r"\.entry\s+([A-Za-z_$][\w$]*)", text))
    return all(name in entries for name in kernels)


_devices = {}
_devices_lock = threading.Lock()


def default_device(ordinal=0):
    """The CudaDevice of GPU ``ordinal`` (an int or 'cuda'/'cuda:N'; made once per process)."""
    if isinstance(ordinal, str):
        ordinal = parse_device(ordinal)
    with _devices_lock:
        dev = _devices.get(ordinal)
        if dev is None:
            dev = _devices[ordinal] = CudaDevice(ordinal)
    return dev


def release_memory():
    """Give the pooled buffers of every device theon opened back to the
    driver (buffers still in use stay); returns the bytes freed."""
    return sum(dev.release_memory() for dev in list(_devices.values()))
