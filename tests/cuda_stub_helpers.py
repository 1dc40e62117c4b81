"""A fake CUDA driver in Python, for testing ``runtime/cuda.py`` without a GPU.

``FakeDriver`` has ``Driver``'s interface (``call(name, *args)``,
``error_name``, ``error_string``) and implements the entry points theon
uses: device memory is host memory (so copies really copy), kernels do
nothing, every call is recorded in ``calls`` as (name, args). Failures are
scripted: ``fail[name] = code`` makes the next call of ``name`` return
``code``; events recorded on a stream complete at the next synchronization
(``cuEventQuery`` says CUDA_ERROR_NOT_READY until then); ``capacity`` bounds the bytes allocated at once
(CUDA_ERROR_OUT_OF_MEMORY beyond it); ``fail_after_kernel[kernel name] =
code`` makes the next synchronization after launching that kernel fail, as
an asynchronous fault does.
"""
import ctypes

NAMES = {1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 101: "CUDA_ERROR_INVALID_DEVICE",
         201: "CUDA_ERROR_INVALID_CONTEXT", 218: "CUDA_ERROR_INVALID_PTX", 400: "CUDA_ERROR_INVALID_HANDLE",
         500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY", 700: "CUDA_ERROR_ILLEGAL_ADDRESS", 719: "CUDA_ERROR_LAUNCH_FAILED"}
PRIMARY_CONTEXT = 0x1000
STREAM = 0x2000


def _value(obj):
    """The int behind a ctypes object or int (None -> 0)."""
    if obj is None:
        return 0
    if isinstance(obj, int):
        return obj
    return obj.value or 0


class FakeDriver:
    def __init__(self, devices=1, capacity=1 << 30, name="Fake GPU", cc=(9, 0), sm_count=114):
        self.devices = devices
        self.sm_count = sm_count
        self.capacity = capacity
        self.name = name
        self.cc = cc
        self.calls = []
        self.fail = {}
        self.fail_after_kernel = {}
        self.memory = {}            # address -> ctypes buffer
        self.modules = {}
        self.functions = {}         # handle -> kernel name
        self.pending_error = None   # an asynchronous fault, reported at the next sync
        self.pending_events = set() # recorded events not yet passed (kernels "run" at a sync)
        self.next_handle = 0x10000

    # --- Driver's interface ---------------------------------------------------------------------
    def call(self, name, *args):
        from theon.runtime.cuda import CudaError
        self.calls.append((name, args))
        code = self.fail.pop(name, 0)
        if not code:
            code = getattr(self, "_" + name)(*args) or 0
        if code:
            raise CudaError(name, code, self.error_name(code), "fake driver")

    def error_name(self, code):
        return NAMES.get(code, f"CUDA error {code}")

    def error_string(self, code):
        return "fake driver"

    def count(self, name):
        return sum(1 for n, _ in self.calls if n == name)

    def allocated(self):
        return sum(len(b) for b in self.memory.values())

    def _handle(self):
        self.next_handle += 0x10
        return self.next_handle

    # --- entry points ---------------------------------------------------------------------------
    def _cuInit(self, flags):
        return 0

    def _cuDeviceGetCount(self, out):
        out._obj.value = self.devices

    def _cuDeviceGet(self, out, ordinal):
        if not 0 <= ordinal < self.devices:
            return 101
        out._obj.value = ordinal

    def _cuDeviceGetName(self, buf, size, dev):
        text = self.name.encode()[:size - 1] + b"\0"
        ctypes.memmove(buf, text, len(text))

    def _cuDeviceGetAttribute(self, out, attr, dev):
        out._obj.value = {16: self.sm_count, 75: self.cc[0], 76: self.cc[1]}.get(attr, 0)

    def _cuDevicePrimaryCtxRetain(self, out, dev):
        out._obj.value = PRIMARY_CONTEXT + dev

    def _cuCtxSetCurrent(self, ctx):
        return 0 if _value(ctx) >= PRIMARY_CONTEXT else 201

    def _cuCtxSynchronize(self):
        return self._sync()

    def _cuStreamCreate(self, out, flags):
        out._obj.value = STREAM + len([c for c in self.calls if c[0] == "cuStreamCreate"])

    def _cuStreamDestroy_v2(self, stream):
        return 0

    def _sync(self):
        self.pending_events.clear()
        err, self.pending_error = self.pending_error, None
        return err or 0

    def _cuStreamSynchronize(self, stream):
        return self._sync()

    def _cuEventCreate(self, out, flags):
        out._obj.value = self._handle()

    def _cuEventRecord(self, event, stream):
        self.pending_events.add(_value(event))

    def _cuEventQuery(self, event):
        return 600 if _value(event) in self.pending_events else 0

    def _cuStreamWaitEvent(self, stream, event, flags):
        return 0

    def _cuEventDestroy_v2(self, event):
        return 0

    def _cuMemAlloc_v2(self, out, size):
        if self.allocated() + size > self.capacity:
            return 2
        buf = ctypes.create_string_buffer(size)
        addr = ctypes.addressof(buf)
        self.memory[addr] = buf
        out._obj.value = addr

    def _cuMemFree_v2(self, ptr):
        if self.memory.pop(_value(ptr), None) is None:
            return 1

    def _cuMemGetInfo_v2(self, free, total):
        free._obj.value = self.capacity - self.allocated()
        total._obj.value = self.capacity

    def _copy(self, dst, src, n):
        ctypes.memmove(_value(dst), _value(src), n)

    def _cuMemcpyHtoD_v2(self, dst, src, n):
        self._copy(dst, src, n)

    def _cuMemcpyDtoH_v2(self, dst, src, n):
        self._copy(dst, src, n)

    def _cuMemcpyHtoDAsync_v2(self, dst, src, n, stream):
        self._copy(dst, src, n)

    def _cuMemcpyDtoHAsync_v2(self, dst, src, n, stream):
        self._copy(dst, src, n)

    def _cuMemcpyDtoDAsync_v2(self, dst, src, n, stream):
        self._copy(dst, src, n)

    def _cuModuleLoadDataEx(self, out, image, n, options, values):
        text = image.decode(errors="replace") if isinstance(image, bytes) else str(image)
        if ".entry" not in text:
            return 218
        handle = self._handle()
        self.modules[handle] = text
        out._obj.value = handle

    def _cuModuleGetFunction(self, out, module, name):
        name = name.decode()
        if f".entry {name}" not in self.modules.get(_value(module), ""):
            return 500
        handle = self._handle()
        self.functions[handle] = name
        out._obj.value = handle

    def _cuModuleUnload(self, module):
        return 0

    def _cuLaunchKernel(self, fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        name = self.functions.get(_value(fn))
        if name is None:
            return 400
        code = self.fail_after_kernel.pop(name, 0)
        if code:
            self.pending_error = code

    def _cuGetErrorName(self, code, out):
        return 1

    def _cuGetErrorString(self, code, out):
        return 1
