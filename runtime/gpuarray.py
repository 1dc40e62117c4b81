"""theon.gpuarray: arrays that live in GPU memory.

    to_gpu(ndarray, device=None)      upload a host array (one host-to-device copy)
    asarray(obj, device=None)         a GpuArray for obj without a copy where possible:
                                      a GpuArray as is, anything with __cuda_array_interface__
                                      (PyTorch, CuPy, Numba) or __dlpack__ (JAX, PyTorch)
                                      wrapped in place; other arrays uploaded
    from_dlpack(obj, device=None)     zero-copy import of a DLPack producer
    release_memory(device=None)       give pooled device memory back to the driver
    GpuArray                          .shape .dtype .strides (bytes) .ndim .size .nbytes .ptr
                                      .device .get() (host copy), np.asarray(a) (host copy),
                                      __cuda_array_interface__ (v3), __dlpack__, __dlpack_device__

A GpuArray is a device tensor (``codegen/ptx/state.DeviceTensor``: address,
dtype, shape, strides in elements, the buffer that keeps the memory alive),
its device, and an ``owner`` (the foreign object whose memory it views, if
any). theon never writes a device buffer after the step that filled it, so
arrays, function results and shared variables may share memory.

GPU functions (``runtime/gpu_function.py``) take GpuArrays as inputs in
place (no upload) and return them with ``Mode(device='cuda',
device_outputs=True)``.

Exchange. Each array theon writes (a function's outputs and updated shared
values, ``to_gpu``, ``copy``) carries the event recorded on theon's stream
after that work (``DeviceTensor.event``). ``__cuda_array_interface__``
(version 3) gives the address, shape, typestr and strides, and 'stream':
theon's stream, on which the array's producing work is queued (a consumer
makes its own stream wait for it), or None once that event has completed.
``__dlpack__(stream=s)`` makes work later queued on the consumer's stream
``s`` wait for the array's event only (``cuStreamWaitEvent``; no wait for
-1, nor for the legacy default stream (None, 1), which theon's blocking
stream is ordered with), then hands out a ``DLManagedTensor`` in a capsule named
"dltensor"; the consumer renames it "used_dltensor" and calls the deleter
when done, which drops the reference that kept the array alive (a capsule
never consumed runs the deleter itself when collected). ``from_dlpack``
is the consumer side (legacy and versioned capsules).

Devices: a real GPU (``runtime/cuda.CudaDevice``, DLPack device kDLCUDA)
or the CPU emulation (``codegen/ptx/emulator.EmulatedDevice``) whose
"device memory" is host memory: its arrays report kDLCPU, so NumPy can
import them with ``np.from_dlpack`` without a copy, and host DLPack
producers are imported into it without a copy.
"""
import ctypes

import numpy as np

from ..codegen.llvm_util import ITEMSIZE
from ..codegen.ptx.shapes import c_strides, numel
from ..codegen.ptx.state import DeviceTensor

# --- DLPack ---------------------------------------------------------------------------------------
kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged = 1, 2, 3, 13
kDLInt, kDLUInt, kDLFloat, kDLBool = 0, 1, 2, 6
DLPACK_VERSION = (1, 0)


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


DELETER_V = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                                     ("deleter", DELETER_V), ("flags", ctypes.c_uint64),
                                     ("dl_tensor", DLTensor)]
DLPACK_FLAG_READ_ONLY = 1



class _CApi:
    """The PyCapsule functions, bound here (never changing ``ctypes.pythonapi``'s
    shared function objects, whose argtypes other modules set)."""

    def __init__(self):
        api, fn = ctypes.pythonapi, ctypes.PYFUNCTYPE
        self.PyCapsule_New = fn(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p,
                                ctypes.c_void_p)(("PyCapsule_New", api))
        self.PyCapsule_IsValid = fn(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(("PyCapsule_IsValid", api))
        self.PyCapsule_GetPointer = fn(ctypes.c_void_p, ctypes.py_object,
                                       ctypes.c_char_p)(("PyCapsule_GetPointer", api))
        self.PyCapsule_SetName = fn(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(("PyCapsule_SetName", api))


_api = _CApi()

_DTYPE_CODES = {"bool": (kDLBool, 8), "int8": (kDLInt, 8), "int16": (kDLInt, 16), "int32": (kDLInt, 32),
                "int64": (kDLInt, 64), "uint8": (kDLUInt, 8), "uint16": (kDLUInt, 16), "uint32": (kDLUInt, 32),
                "uint64": (kDLUInt, 64), "float16": (kDLFloat, 16), "float32": (kDLFloat, 32),
                "float64": (kDLFloat, 64)}
_CODE_DTYPES = {v: k for k, v in _DTYPE_CODES.items()}

class _Export:
    """What one exported DLManagedTensor keeps alive (the struct, its shape
    and strides, the array); its address is the tensor's manager_ctx, held
    by one reference that the (native) deleter drops."""
    live = 0

    def __init__(self, managed, shape, strides, array):
        self.managed, self.shape, self.strides, self.array = managed, shape, strides, array
        _Export.live += 1

    def __del__(self):
        _Export.live -= 1


def live_exports():
    """How many exported tensors are not deleted yet (for tests)."""
    return _Export.live


_NATIVE = {}
_IR_HEAD = r"""
declare i32 @PyGILState_Ensure()
declare void @PyGILState_Release(i32)
declare void @Py_DecRef(ptr)
declare i32 @PyCapsule_IsValid(ptr, ptr)
declare ptr @PyCapsule_GetPointer(ptr, ptr)
"""
# per capsule kind (SUFFIX, NAME, its length + 1, the offset CTX of manager_ctx):
# the deleter drops the holder's reference; the destructor of a capsule still
# carrying its unused name deletes the tensor
_IR_KIND = r"""
@name_SUFFIX = private constant [LEN x i8] c"NAME\00"

define void @theon_dl_deleterSUFFIX(ptr %m) {
  %s = call i32 @PyGILState_Ensure()
  %p = getelementptr i8, ptr %m, i64 CTX
  %ctx = load ptr, ptr %p
  call void @Py_DecRef(ptr %ctx)
  call void @PyGILState_Release(i32 %s)
  ret void
}

define void @theon_dl_capsule_dtorSUFFIX(ptr %cap) {
  %ok = call i32 @PyCapsule_IsValid(ptr %cap, ptr @name_SUFFIX)
  %unused = icmp ne i32 %ok, 0
  br i1 %unused, label %delete, label %done
delete:
  %m = call ptr @PyCapsule_GetPointer(ptr %cap, ptr @name_SUFFIX)
  call void @theon_dl_deleterSUFFIX(ptr %m)
  br label %done
done:
  ret void
}
"""


def _ir_text():
    text = _IR_HEAD
    for suffix, name, struct in (("", "dltensor", DLManagedTensor), ("_v", "dltensor_versioned",
                                                                     DLManagedTensorVersioned)):
        text += (_IR_KIND.replace("SUFFIX", suffix).replace("NAME", name).replace("LEN", str(len(name) + 1))
                 .replace("CTX", str(struct.manager_ctx.offset)))
    return text


def _native():
    """The deleters and capsule destructors as native code, JIT-compiled
    once: a capsule destructor may run while an exception is pending (a
    consumer that failed), when no Python code may run; a deleter may be
    called from any thread, so it takes the GIL itself."""
    if not _NATIVE:
        import llvmlite.binding as llvm
        from ..codegen.llvm_util import init_llvm
        init_llvm()
        for name in ("PyGILState_Ensure", "PyGILState_Release", "Py_DecRef", "PyCapsule_IsValid",
                     "PyCapsule_GetPointer"):
            llvm.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value)
        ref = llvm.parse_assembly(_ir_text())
        ref.verify()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        engine = llvm.create_mcjit_compiler(ref, target.create_target_machine())
        engine.finalize_object()
        for name in ("theon_dl_deleter", "theon_dl_deleter_v", "theon_dl_capsule_dtor",
                     "theon_dl_capsule_dtor_v"):
            _NATIVE[name] = engine.get_function_address(name)
        _NATIVE["engine"] = engine
    return _NATIVE


_Py_IncRef = ctypes.PYFUNCTYPE(None, ctypes.py_object)(("Py_IncRef", ctypes.pythonapi))


class _DLPackOwner:
    """Holds an imported DLManagedTensor; calls its deleter when collected."""

    def __init__(self, managed, versioned):
        self.managed = managed          # POINTER(DLManagedTensor[Versioned])
        self.versioned = versioned

    def __del__(self):
        m, self.managed = self.managed, None
        if m and m.contents.deleter:
            m.contents.deleter(m)


def _dl_dtype(dtype):
    code = _DTYPE_CODES.get(np.dtype(dtype).name)
    if code is None:
        raise TypeError(f"theon.gpuarray: dtype {dtype} has no DLPack code theon supports")
    return DLDataType(code[0], code[1], 1)


# --- devices --------------------------------------------------------------------------------------
_default = [None]


def default_device():
    """The device new arrays go to: the one set by ``set_default_device``,
    else the GPU ``theon.config.device`` names ('cuda:N'), else cuda:0."""
    if _default[0] is not None:
        return _default[0]
    from ..config import config
    from . import cuda
    from .mode import is_gpu_device
    name = config.device if is_gpu_device(config.device) else "cuda"
    return cuda.default_device(cuda.parse_device(name))


def set_default_device(device):
    """Make ``device`` (a device object, 'cuda:N', or None to reset) the default."""
    if isinstance(device, str):
        from . import cuda
        device = cuda.default_device(cuda.parse_device(device))
    _default[0] = device


def _device(device):
    return default_device() if device is None else device


def _dlpack_type(device):
    return getattr(device, "dlpack_device_type", kDLCUDA)


def release_memory(device=None):
    """Give ``device``'s pooled (unused) memory back to the driver, or that
    of every GPU theon opened when ``device`` is None; returns the bytes freed."""
    if device is not None:
        return device.release_memory()
    from . import cuda
    return cuda.release_memory()


# --- the array ---------------------------------------------------------------------------------------
class GpuArray:
    """An array in device memory (see the module docstring)."""

    __slots__ = ("tensor", "device", "owner", "__weakref__")
    __array_priority__ = 100

    def __init__(self, tensor, device, owner=None):
        if not isinstance(tensor, DeviceTensor):
            raise TypeError(f"GpuArray: tensor must be a DeviceTensor, got {type(tensor).__name__}")
        self.tensor = tensor
        self.device = device
        self.owner = owner

    # --- metadata -------------------------------------------------------------------------------
    @property
    def shape(self):
        return self.tensor.shape

    @property
    def dtype(self):
        return np.dtype(self.tensor.dtype)

    @property
    def ndim(self):
        return len(self.tensor.shape)

    @property
    def size(self):
        return numel(self.tensor.shape)

    @property
    def itemsize(self):
        return ITEMSIZE[self.tensor.dtype]

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def strides(self):
        """Strides in bytes, as NumPy's."""
        return tuple(s * self.itemsize for s in self.tensor.strides)

    @property
    def ptr(self):
        return self.tensor.ptr

    @property
    def c_contiguous(self):
        return self.tensor.c_contiguous

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d GpuArray")
        return self.shape[0]

    def __repr__(self):
        return f"<GpuArray {self.dtype.name}{list(self.shape)} on {getattr(self.device, 'name', self.device)}>"

    # --- to the host -------------------------------------------------------------------------------
    def get(self):
        """A new host (NumPy) array with the values: one device-to-host copy,
        after the work queued before it."""
        t = self.tensor
        out = np.empty(t.shape, dtype=self.dtype)
        if out.size == 0:
            return out
        self.device.activate()
        if t.c_contiguous:
            self.device.download(t.ptr, out)
            return out
        # a strided view: read the bytes it spans, then gather on the host
        lo = sum(min(0, (d - 1) * s) for d, s in zip(t.shape, t.strides))
        hi = sum(max(0, (d - 1) * s) for d, s in zip(t.shape, t.strides))
        span = np.empty(hi - lo + 1, dtype=self.dtype)
        self.device.download(t.ptr + lo * self.itemsize, span)
        view = np.lib.stride_tricks.as_strided(span[-lo:], shape=t.shape, strides=self.strides)
        out[...] = view
        return out

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a GpuArray cannot be viewed as a NumPy array without a copy; use .get()")
        out = self.get()
        return out if dtype is None else out.astype(dtype, copy=False)

    def copy(self):
        """A new C-contiguous GpuArray with the same values (device-to-device)."""
        return _contiguous(self, force=True)

    # --- exchange -------------------------------------------------------------------------------------
    @property
    def __cuda_array_interface__(self):
        t = self.tensor
        stream = getattr(self.device, "stream_handle", None)
        if stream and t.event is not None and self.device.event_done(t.event):
            stream = None               # the work that wrote it has run: nothing to wait for
        return {
            "shape": t.shape,
            "typestr": self.dtype.str,
            "data": (t.ptr if self.size else 0, False),
            "strides": None if t.c_contiguous else self.strides,
            "version": 3,
            "stream": stream if stream else None,
        }

    def __dlpack_device__(self):
        return (_dlpack_type(self.device), getattr(self.device, "ordinal", 0))

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A capsule holding a DLManagedTensor that views this array
        (``max_version`` >= (1, 0): a versioned one)."""
        if copy:
            return self.copy().__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device)
        mine = self.__dlpack_device__()
        if dl_device is not None and tuple(dl_device) != mine:
            raise BufferError(f"GpuArray.__dlpack__: the array is on DLPack device {mine}, "
                              f"not {tuple(dl_device)}; copy it with .get() or to_gpu")
        if stream is not None and mine[0] == kDLCUDA:
            # the consumer's stream waits for the work that wrote this array only
            # (-1: no wait; None, 1: the legacy default stream, ordered with theon's)
            self.device.wait_for_stream(stream, self.tensor.event)
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        return _export(self, versioned)


def _export(array, versioned):
    native = _native()
    t = array.tensor
    shape = (ctypes.c_int64 * max(t.ndim, 1))(*t.shape)
    strides = (ctypes.c_int64 * max(t.ndim, 1))(*t.strides)
    dl = DLTensor(ctypes.c_void_p(t.ptr or None), DLDevice(*array.__dlpack_device__()), t.ndim,
                  _dl_dtype(t.dtype), ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
                  ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)), 0)
    if versioned:
        managed = DLManagedTensorVersioned(DLPackVersion(*DLPACK_VERSION), None,
                                           DELETER_V(native["theon_dl_deleter_v"]), 0, dl)
        name, dtor = b"dltensor_versioned", native["theon_dl_capsule_dtor_v"]
    else:
        managed = DLManagedTensor(dl, None, DELETER(native["theon_dl_deleter"]))
        name, dtor = b"dltensor", native["theon_dl_capsule_dtor"]
    holder = _Export(managed, shape, strides, array)
    managed.manager_ctx = id(holder)
    _Py_IncRef(holder)                  # dropped by the deleter
    return _api.PyCapsule_New(ctypes.addressof(managed), name, dtor)


# --- making arrays --------------------------------------------------------------------------------
def empty(shape, dtype, device=None):
    """A new C-contiguous GpuArray (values undefined)."""
    device = _device(device)
    dtype = np.dtype(dtype).name
    if dtype not in ITEMSIZE:
        raise TypeError(f"theon.gpuarray.empty: dtype {dtype} is not one theon supports ({sorted(ITEMSIZE)})")
    shape = tuple(int(d) for d in shape)
    device.activate()
    buf = device.alloc(numel(shape) * ITEMSIZE[dtype])
    return GpuArray(DeviceTensor(buf, buf.ptr, dtype, shape, c_strides(shape)), device)


def to_gpu(array, device=None):
    """A GpuArray holding a copy of host array ``array`` (one upload)."""
    device = _device(device)
    arr = np.asarray(array)
    if arr.dtype.name not in ITEMSIZE:
        raise TypeError(f"theon.gpuarray.to_gpu: dtype {arr.dtype} is not one theon supports "
                        f"({sorted(ITEMSIZE)})")
    if not arr.flags.c_contiguous or not arr.dtype.isnative:
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)
    device.activate()
    buf = device.upload(arr)
    record = getattr(device, "record_event", None)
    return GpuArray(DeviceTensor(buf, buf.ptr, arr.dtype.name, arr.shape, c_strides(arr.shape),
                                 record() if record is not None and arr.nbytes else None), device)


def _contiguous(a, force=False):
    """``a`` if C-contiguous (and not ``force``), else a C-contiguous device copy."""
    t = a.tensor
    if t.c_contiguous and not force:
        return a
    out = empty(t.shape, t.dtype, a.device)
    if not a.size:
        return out
    if t.c_contiguous:
        a.device.copy(out.ptr, t.ptr, a.nbytes)
        record = getattr(a.device, "record_event", None)
        if record is not None:
            out.tensor.event = record()
        return out
    return to_gpu(a.get(), a.device)          # strided: gathered on the host (no kernel needed)


def asarray(obj, device=None):
    """A GpuArray for ``obj``: itself if it is one; a zero-copy view of an
    object with ``__cuda_array_interface__`` or ``__dlpack__`` on a GPU;
    else (host data) an upload to ``device``."""
    if isinstance(obj, GpuArray):
        if device is not None and obj.device is not device:
            raise ValueError(f"theon.gpuarray.asarray: the array is on {obj.device!r}, not {device!r}")
        return obj
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        return from_cuda_array_interface(obj, device)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__") and not isinstance(obj, np.ndarray):
        kind = obj.__dlpack_device__()[0]
        if kind != kDLCPU or _dlpack_type(_device(device)) == kDLCPU:
            return from_dlpack(obj, device)
    return to_gpu(obj, device)


def from_cuda_array_interface(obj, device=None):
    """A GpuArray viewing the memory ``obj.__cuda_array_interface__``
    describes (versions 0-3); keeps ``obj`` alive. A 'stream' in it makes
    theon's stream wait for the producer's."""
    device = _device(device)
    cai = obj.__cuda_array_interface__
    try:
        shape = tuple(int(d) for d in cai["shape"])
        dtype = np.dtype(cai["typestr"])
        ptr, readonly = cai["data"]
    except (KeyError, TypeError, ValueError) as e:
        raise TypeError(f"theon.gpuarray.asarray: bad __cuda_array_interface__ {cai!r}: {e}") from None
    if cai.get("mask") is not None:
        raise TypeError("theon.gpuarray.asarray: masked __cuda_array_interface__ arrays are not supported")
    if not dtype.isnative or dtype.name not in ITEMSIZE:
        raise TypeError(f"theon.gpuarray.asarray: dtype {cai['typestr']!r} is not one theon supports "
                        f"({sorted(ITEMSIZE)}, native byte order)")
    item = dtype.itemsize
    byte_strides = cai.get("strides")
    if byte_strides is None:
        strides = c_strides(shape)
    else:
        if any(s % item for s in byte_strides):
            raise TypeError(f"theon.gpuarray.asarray: strides {tuple(byte_strides)} are not multiples of "
                            f"the item size {item}")
        strides = tuple(int(s) // item for s in byte_strides)
    stream = cai.get("stream")
    if stream is not None and cai.get("version", 0) >= 3:
        if stream == 0:
            raise TypeError("theon.gpuarray.asarray: __cuda_array_interface__ 'stream' 0 is not allowed "
                            "(ambiguous: 1 is the legacy default stream, 2 the per-thread one)")
        wait = getattr(device, "wait_on_stream", None)
        if wait is not None:            # theon's stream waits for the producer's (not for 1: implicit)
            wait(stream)
    return GpuArray(DeviceTensor(obj, int(ptr or 0), dtype.name, shape, strides), device, owner=obj)


def from_dlpack(obj, device=None):
    """A GpuArray viewing the memory of DLPack producer ``obj`` (no copy).
    The producer must be on ``device``'s DLPack device (kDLCUDA N for GPU
    N; kDLCPU for the emulated device)."""
    device = _device(device)
    want = (_dlpack_type(device), getattr(device, "ordinal", 0))
    if hasattr(obj, "__dlpack_device__"):
        kind, dev_id = obj.__dlpack_device__()
        if (int(kind), int(dev_id) if int(kind) != kDLCPU else 0) != (want[0], want[1] if want[0] != kDLCPU else 0):
            raise BufferError(f"theon.gpuarray.from_dlpack: the object is on DLPack device "
                              f"({int(kind)}, {int(dev_id)}) but the target device {device!r} is {want}; "
                              f"copy it (to_gpu(np.from_dlpack(obj)) for host data)")
    stream = None
    if want[0] == kDLCUDA:
        stream = getattr(device, "stream_handle", None) or 1
    capsule = _call_dlpack(obj, stream)
    return _import_capsule(capsule, device)


def _call_dlpack(obj, stream):
    if not hasattr(obj, "__dlpack__"):
        if type(obj).__name__ == "PyCapsule":
            return obj
        raise TypeError(f"theon.gpuarray.from_dlpack: {type(obj).__name__} has no __dlpack__")
    try:
        return obj.__dlpack__(stream=stream, max_version=DLPACK_VERSION)
    except TypeError:
        return obj.__dlpack__(stream=stream)             # a producer from before DLPack 1.0


def _import_capsule(capsule, device):
    if _api.PyCapsule_IsValid(capsule, b"dltensor_versioned"):
        address = _api.PyCapsule_GetPointer(capsule, b"dltensor_versioned")
        managed = ctypes.cast(address, ctypes.POINTER(DLManagedTensorVersioned))
        if managed.contents.version.major != DLPACK_VERSION[0]:
            raise BufferError(f"theon.gpuarray.from_dlpack: DLPack version {managed.contents.version.major} "
                              f"is not supported (theon reads {DLPACK_VERSION[0]}.x)")
        used, versioned = b"used_dltensor_versioned", True
    elif _api.PyCapsule_IsValid(capsule, b"dltensor"):
        address = _api.PyCapsule_GetPointer(capsule, b"dltensor")
        managed = ctypes.cast(address, ctypes.POINTER(DLManagedTensor))
        used, versioned = b"used_dltensor", False
    else:
        raise BufferError("theon.gpuarray.from_dlpack: the capsule is not an unused DLPack tensor "
                          "(named 'dltensor'; a capsule can be consumed only once)")
    dl = managed.contents.dl_tensor
    code = (dl.dtype.code, dl.dtype.bits)
    dtype = _CODE_DTYPES.get(code)
    if dtype is None or dl.dtype.lanes != 1:
        raise TypeError(f"theon.gpuarray.from_dlpack: DLPack dtype (code {code[0]}, {code[1]} bits, "
                        f"{dl.dtype.lanes} lanes) is not one theon supports")
    shape = tuple(dl.shape[k] for k in range(dl.ndim))
    strides = c_strides(shape) if not dl.strides else tuple(dl.strides[k] for k in range(dl.ndim))
    ptr = (dl.data or 0) + dl.byte_offset
    _api.PyCapsule_SetName(capsule, used)              # ours now: the owner calls the deleter
    owner = _DLPackOwner(managed, versioned)
    return GpuArray(DeviceTensor(owner, ptr, dtype, shape, strides), device, owner=owner)


__all__ = ["GpuArray", "to_gpu", "asarray", "from_dlpack", "from_cuda_array_interface", "empty",
           "release_memory", "default_device", "set_default_device"]
