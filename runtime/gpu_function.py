"""The callable ``theon.function`` returns for ``device='cuda'`` (or 'cuda:N').

    f = theon.function([x], y, updates=[(w, w - 0.1 * g)], mode=theon.Mode(device='cuda'))
    f(x_numpy)                        # NumPy in, NumPy out (as on the CPU)
    f(theon.gpuarray.to_gpu(x_numpy)) # device arrays in: used in place, no upload
    g = theon.function([x], y, mode=theon.Mode(device='cuda', device_outputs=True))
    g(x_gpu)                          # -> GpuArray: no download, no wait

At compile time the optimized IR becomes a launch plan and its kernels
(``codegen/ptx``), compiled to PTX for the GPU (cached on disk) and loaded
once. A call: check the inputs -- a device array (``GpuArray``, or any
object with ``__cuda_array_interface__``) is used where it is, with its
strides; anything else is converted as on the CPU (``InputSpec``) and
uploaded when a kernel needs it -- then run the plan (``run_plan``:
shapes and checks on the host, kernels queued on the device's stream),
and only then give every updated shared variable its new device value,
all at once (a failed call changes nothing). A failed run-time check
raises the same exception, with the same message, as on the CPU.

Outputs are fresh NumPy arrays (a download each, which waits for the
stream), or, with ``device_outputs`` (``Mode(device_outputs=True)``, or
the ``device_outputs`` attribute of the function), ``GpuArray``s: the call
then returns as soon as its work is queued, as in JAX, and a value is
waited for when the host reads it (``.get()``, ``np.asarray``).

Shared variables used by GPU functions live on the device: a call's
updates stay there (no copy back). The host value is brought back lazily,
when someone needs it -- ``get_value()``, a CPU function using the
variable (``SharedVariable.__getattr__('_storage')`` -> ``sync_to_host``)
-- and the device copy stays valid as long as the host value is the one
it mirrors; ``set_value`` (or a CPU function's update) replaces the host
value, and the next GPU call uploads it. ``get_value(borrow=True,
return_internal_type=True)`` returns the device value as a GpuArray, and
``set_value(gpuarray)`` makes it the value without a host copy.

The contract with the plan runner is ``run_plan(plan, state, on_step)``
on a ``RunState`` whose ``env``/``host`` hold the arguments: a compiled
host side may replace the interpreted runner without changing this file.

``from_function(f)`` makes a GPU function of an already compiled CPU
function (same inputs, outputs, updates and IR). ``device`` may be any
object with the device interface (``codegen/ptx/state.py``), e.g. the CPU
emulation ``codegen.ptx.emulator.EmulatedDevice``.
"""
import threading
import time

import numpy as np

from ..codegen.ptx.plan import Plan
from ..codegen.ptx.specialize import HostRunner
from ..codegen.ptx.shapes import PlanError
from ..codegen.ptx.state import DeviceTensor, RunState
from .convert import describe, shape_text
from .errors import native_error
from .function import Function
from .gpuarray import GpuArray, from_cuda_array_interface


def _resolve_device(device, mode=None):
    if device is not None:
        return device
    from .cuda import default_device, parse_device
    name = mode.resolved_device() if mode is not None else "cuda"
    return default_device(parse_device(name if name != "cpu" else "cuda"))


_PUBLISH_LOCK = threading.Lock()      # a device value replacing the host one vs. a lazy sync back


class DeviceValue:
    """A shared variable's value on a device (``SharedVariable._gpu``):
    ``host`` is the host array it mirrors, or None when the device holds
    the newest value (the host slot ``_storage`` is then empty)."""

    __slots__ = ("device", "tensor", "host")

    def __init__(self, device, tensor, host):
        self.device = device
        self.tensor = tensor        # C-contiguous DeviceTensor
        self.host = host

    def to_host(self):
        """A fresh host array with this value (waits for the device's work)."""
        self.device.activate()
        out = np.empty(self.tensor.shape, dtype=np.dtype(self.tensor.dtype))
        if out.size:
            self.device.download(self.tensor.ptr, out)
        return out


def _host_slot(var):
    """``var``'s host value, or None when only the device has it (no sync)."""
    try:    # the slot itself: object.__getattribute__ never falls back to __getattr__ (the sync)
        return object.__getattribute__(var, "_storage")
    except AttributeError:
        return None


def sync_to_host(var):
    """Bring ``var``'s device value to the host (``SharedVariable.__getattr__``);
    the device copy stays, now mirroring the new host array."""
    entry = var._gpu
    if entry is None or entry.host is not None:
        raise AttributeError(f"{var!r} has no value (neither on the host nor on a device)")
    host = entry.to_host()
    with _PUBLISH_LOCK:
        if var._gpu is entry:           # not replaced by an update meanwhile
            var._storage = host
            entry.host = host
    return host


def device_value(var):
    """``var``'s value as a GpuArray when a device holds a current copy, else None."""
    entry = var._gpu
    if entry is None:
        return None
    host = _host_slot(var)
    if host is not None and entry.host is not host:
        return None
    return GpuArray(entry.tensor, entry.device)


def set_device_value(var, array):
    """Make GpuArray ``array`` the value of shared variable ``var`` (no host
    copy; a strided array is made contiguous on the device)."""
    want = var.type.np_dtype
    if array.dtype != want:
        raise TypeError(f"set_value of {var._what}: the GpuArray is {array.dtype}, expected {want} "
                        f"(theon does not convert device arrays)")
    var.type.check_shape(array.shape, f"the value given to set_value of {var._what}")
    if not array.c_contiguous:
        array = array.copy()
    with _PUBLISH_LOCK:
        var._gpu = DeviceValue(array.device, array.tensor, None)
        _drop_host(var)


def _drop_host(var):
    try:
        del var._storage
    except AttributeError:
        pass


class _Residency:
    """Where the value of each shared variable lives (see the module docstring)."""

    def tensor(self, var, state):
        """The device tensor holding ``var``'s current value on ``state.device``."""
        entry = var._gpu
        if entry is not None and _inner(entry.device) is _inner(state.device):
            host = _host_slot(var)
            if host is None or entry.host is host:
                return entry.tensor
        host = var._storage                 # (from another device, if it is there)
        t = state.upload(host)
        var._gpu = DeviceValue(state.device, t, host)
        return t

    def publish(self, var, tensor, state):
        """``var``'s new value is ``tensor`` (C-contiguous, on state.device);
        it stays on the device, the host value is dropped."""
        with _PUBLISH_LOCK:
            var._gpu = DeviceValue(state.device, tensor, None)
            _drop_host(var)


def _inner(device):
    """The device itself under a wrapper (``RecordingDevice``)."""
    return getattr(device, "inner", device)


_RESIDENCY = _Residency()


def residency():
    return _RESIDENCY


class GpuFunction(Function):
    """A theon function whose code runs on a GPU (see the module docstring).

    Attributes as ``runtime.function.Function``; ``native`` is the loaded
    program (``.ptx``, ``.llvm_ir``, ``.asm`` (the PTX)), ``device`` the
    device, ``plan`` the launch plan, ``device_outputs`` whether calls
    return GpuArrays.
    """

    def __init__(self, *, name, inputs, outputs, single_output, updates, shared, specs, ir,
                 mode, input_ir, profile=None, device=None, plan=None, device_outputs=None):
        # Function.__init__ binds a native CPU entry point; a GPU function has none
        self.device = _resolve_device(device, mode)
        self.plan = plan or Plan(ir)
        ir = self.plan.func                 # the IR the plan runs (fused stages split)
        self._set_signature(name, inputs, outputs, single_output, updates, shared, specs, ir,
                            mode, input_ir, profile)
        self.device_outputs = bool(getattr(mode, "device_outputs", False) if device_outputs is None
                                   else device_outputs)
        self.device.activate()
        self.native = self.device.load(self.plan)
        self._results = tuple(ir.return_op.operands)
        self._residency = residency()
        self.host_runner = HostRunner(self.plan)      # per-signature replay (codegen/ptx/specialize.py)
        register = getattr(self.device, "register_cache", None)
        if register is not None:        # release_memory() takes idle arenas and constants back
            register(self.host_runner)
            register(self.native)

    def __call__(self, *args, **kwargs):
        if not self._update_locks:
            return self._call_gpu(*args, **kwargs)
        return self._locked(self._call_gpu, args, kwargs)       # updates never lost (function.py)

    def _call_gpu(self, *args, **kwargs):
        if kwargs:
            args = self._bind_keywords(args, kwargs)
        if len(args) != self._n_inputs:
            raise TypeError(self._count_message(len(args)))
        device = self.device
        device.activate()
        state = RunState(self.native, device)
        ir_args = self.ir.args
        arrays = []
        for spec, arg, a in zip(self._specs, ir_args, args):
            t = self._device_input(spec, a)
            if t is None:
                a = spec.convert(a)
                state.host[arg] = a
                arrays.append(a)
            else:
                state.env[arg] = t
                arrays.append(t)
        shared_tensors = []
        for arg, var in zip(ir_args[self._n_inputs:], self.shared):
            state.env[arg] = self._residency.tensor(var, state)
            shared_tensors.append(state.env[arg])
        start = time.perf_counter_ns()
        try:
            self.host_runner.run(state, self._timer() if self.profile is not None else None)
        except PlanError as e:
            details = (e.details + [0, 0, 0, 0])[:4]
            raise native_error(e.code, [e.op_index] + details, self.ir, arrays + shared_tensors) from None
        n = self._n_outputs
        if self.device_outputs:
            outs = [self._device_output(state, v) for v in self._results[:n]]
        else:
            outs = [self._output(state, v) for v in self._results[:n]]
        new = [state.contiguous(state.tensor(v)) for v in self._results[n:]]
        record = getattr(device, "record_event", None)
        if record is not None and (new or self.device_outputs):
            event = record()            # what a consumer of these arrays waits for (gpuarray exports)
            for t in new:
                t.event = event
            for o in outs if self.device_outputs else ():
                o.tensor.event = event
        if self.profile is not None:
            device.synchronize()
            self.profile.record_call(time.perf_counter_ns() - start)
        for var, t in zip(self._update_targets, new):
            self._residency.publish(var, t, state)
        if self._single:
            return outs[0]
        return outs

    def _device_input(self, spec, value):
        """The DeviceTensor of a device-array argument (checked), or None
        for host data."""
        if isinstance(value, GpuArray):
            arr = value
        elif hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
            arr = from_cuda_array_interface(value, self.device)
        else:
            return None
        if _inner(arr.device) is not _inner(self.device):
            raise ValueError(f"{spec.what} is a GpuArray on {arr.device!r}, but this function runs on "
                             f"{_inner(self.device)!r}")
        if arr.dtype != spec.dtype:
            raise TypeError(f"{spec.what} must be a {describe(spec.dtype.name, spec.static_shape)}; got a "
                            f"GpuArray of {arr.dtype} (device arrays are not converted: cast it first, "
                            f"or pass a NumPy array)")
        if arr.ndim != spec.ndim:
            raise TypeError(f"{spec.what} must be a {describe(spec.dtype.name, spec.static_shape)}; "
                            f"got a {arr.ndim}-d GpuArray of shape {arr.shape}")
        for d, n in spec.known_dims:
            if arr.shape[d] != n:
                raise ValueError(f"{spec.what} has static shape {shape_text(spec.static_shape)} but got "
                                 f"shape {arr.shape}: dim {d} is {arr.shape[d]}, expected {n}")
        return arr.tensor

    @staticmethod
    def _output(state, v):
        t = state.env.get(v)
        if t is None:
            return np.array(state.host[v], dtype=v.type.np_dtype, copy=True)
        return state.download(t)

    def _device_output(self, state, v):
        t = state.env.get(v)
        if t is None:
            t = state.upload(np.array(state.host[v], dtype=v.type.np_dtype))
        return GpuArray(t, self.device)

    def _timer(self):
        """on_step callback: synchronize after each step and add its time
        to the profile (the profile then shows per-op GPU times)."""
        buf, dev = self.profile.buffer, self.device
        last = [time.perf_counter_ns()]

        def on_step(step):
            dev.synchronize()
            now = time.perf_counter_ns()
            buf[step.index] += now - last[0]
            last[0] = now
        return on_step

    def __repr__(self):
        return f"<theon.GpuFunction {self.name or '@' + self.ir.name} on {getattr(self.device, 'name', 'GPU')}>"


def from_function(f, device=None, device_outputs=None):
    """The GPU version of compiled CPU function ``f`` (its IR, inputs,
    outputs, updates), running on ``device`` (default: the GPU of f's mode,
    else GPU 0); ``device_outputs``: return GpuArrays (default: the mode's)."""
    from .profiling import ProfileStats
    if isinstance(f, GpuFunction):
        return f
    if getattr(f.mode, "debug", False):
        raise ValueError("from_function: a DEBUG-mode function returns extra values; compile it in FAST_RUN")
    ir = f.ir
    from . import pipeline
    if pipeline.needs_gpu_ir(ir):
        # float16 products the CPU made float32 ones, or a CPU-only op (gemm-epilogue's): the
        # GPU's own pipeline keeps f16 products for the tensor cores (same interface: same input IR)
        ir = pipeline.legalize(pipeline.optimize(f.input_ir(), pipeline.for_target(f.mode.pipeline, "gpu")), "gpu")
        pipeline.verify(ir)
    profile = ProfileStats(f.name or ir.name, ir) if f.profile is not None else None
    return GpuFunction(name=f.name, inputs=f.inputs, outputs=f.outputs, single_output=f._single,
                       updates=f.updates, shared=f.shared, specs=f._specs, ir=ir, mode=f.mode,
                       input_ir=f.input_ir, profile=profile, device=device, device_outputs=device_outputs)
