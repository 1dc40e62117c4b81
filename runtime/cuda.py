"""The CUDA driver API through ctypes: no CUDA toolkit needed at run time.

    cuda_available()            True if libcuda loads, cuInit succeeds and a device exists
    unavailable_reason()        why not (None when available)
    default_device()            the CudaDevice of GPU 0 (made once)
    CudaDevice(ordinal)         primary context, memory pool, PTX modules, launches

Every driver call goes through ``Driver.call``, which turns a nonzero
``CUresult`` into a ``CudaError`` naming the call and the CUDA error
(``cuGetErrorName``/``cuGetErrorString``, e.g. CUDA_ERROR_OUT_OF_MEMORY).
PTX is loaded with ``cuModuleLoadDataEx`` so that a JIT failure shows the
driver's error log. Device memory comes from a small caching pool
(``cuMemAlloc`` is slow and synchronizing); all work goes to the default
stream, so a buffer returned to the pool may be reused by the next launch.
"""
import ctypes
import ctypes.util
import functools

CUDA_SUCCESS = 0
CUDA_ERROR_OUT_OF_MEMORY = 2
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
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
    999: "CUDA_ERROR_UNKNOWN",
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
    ("cuLaunchKernel",): [_p, _u, _u, _u, _u, _u, _u, _u, _p, _pp, _pp],
    ("cuGetErrorName",): [_i, ctypes.POINTER(ctypes.c_char_p)],
    ("cuGetErrorString",): [_i, ctypes.POINTER(ctypes.c_char_p)],
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
    JIT-compiles PTX for any newer GPU)."""
    cc = 10 * major + minor
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


class CudaDevice:
    """One GPU: its primary context, a memory pool, module loading, launches.
    ``drv``: the Driver to use (default: libcuda's)."""

    def __init__(self, ordinal=0, drv=None):
        from ..codegen.ptx.target import GPU_SCHEDULE
        self.drv = drv or driver()
        call = self.drv.call
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
        call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), self.handle)
        self.context = ctx
        self.schedule = GPU_SCHEDULE
        self._pool = {}             # size class -> [device addresses]
        self._modules = []
        self.activate()

    def __repr__(self):
        return f"<CudaDevice {self.ordinal}: {self.name}, sm {self.compute_capability[0]}.{self.compute_capability[1]}>"

    def activate(self):
        """Make this device's context current on the calling thread."""
        self.drv.call("cuCtxSetCurrent", self.context)

    # --- memory ------------------------------------------------------------------------
    def alloc(self, nbytes):
        size = _bin_size(nbytes)
        free = self._pool.get(size)
        if free:
            return CudaBuffer(self, free.pop(), size)
        ptr = _dptr()
        try:
            self.drv.call("cuMemAlloc_v2", ctypes.byref(ptr), size)
        except CudaError as e:
            if e.code != CUDA_ERROR_OUT_OF_MEMORY:
                raise
            self.trim()
            self.drv.call("cuMemAlloc_v2", ctypes.byref(ptr), size)
        return CudaBuffer(self, ptr.value, size)

    def release(self, ptr, size):
        self._pool.setdefault(size, []).append(ptr)

    def trim(self):
        """Give every pooled buffer back to the driver."""
        self.synchronize()
        for ptrs in self._pool.values():
            while ptrs:
                self.drv.call("cuMemFree_v2", ptrs.pop())

    def upload(self, array):
        buf = self.alloc(array.nbytes)
        if array.nbytes:
            self.drv.call("cuMemcpyHtoD_v2", buf.ptr, array.ctypes.data, array.nbytes)
        return buf

    def download(self, ptr, out):
        """Copy ``out.nbytes`` bytes at device address ``ptr`` into C-contiguous ``out``."""
        if out.nbytes:
            self.drv.call("cuMemcpyDtoH_v2", out.ctypes.data, ptr, out.nbytes)

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
        """The kernels of ``plan`` compiled to PTX for this GPU and loaded."""
        from ..codegen.ptx import PtxModule
        from ..codegen.ptx.state import LoadedProgram
        compiled = PtxModule(plan, sm=self.sm, schedule=self.schedule)
        program = LoadedProgram(plan)
        program.ptx = compiled.ptx
        program.llvm_ir = compiled.llvm_ir
        program.asm = compiled.ptx
        program.sm = self.sm
        program.module = self.load_ptx(compiled.ptx)
        for name in plan.kernels:
            fn = ctypes.c_void_p()
            self.drv.call("cuModuleGetFunction", ctypes.byref(fn), program.module, name.encode())
            program.handles[name] = fn
        return program

    def launch(self, kernel, grid, block, args):
        """Launch ``kernel`` on the default stream; ``args``: one 64-bit
        integer (device address or int64) per kernel parameter."""
        values = [ctypes.c_int64(a) if a < (1 << 63) else ctypes.c_uint64(a) for a in args]
        params = (ctypes.c_void_p * max(len(values), 1))(*[ctypes.addressof(v) for v in values])
        self.drv.call("cuLaunchKernel", kernel, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                      0, None, params, None)

    def synchronize(self):
        self.drv.call("cuCtxSynchronize")


_devices = {}


def default_device(ordinal=0):
    """The CudaDevice of GPU ``ordinal`` (made once per process)."""
    dev = _devices.get(ordinal)
    if dev is None:
        dev = _devices[ordinal] = CudaDevice(ordinal)
    return dev
