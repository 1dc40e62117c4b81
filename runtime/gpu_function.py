"""The callable ``theon.function`` returns for ``device='cuda'``.

    f = theon.function([x], y, updates=[(w, w - 0.1 * g)], mode=theon.Mode(device='cuda'))

At compile time the optimized IR becomes a launch plan and its kernels
(``codegen/ptx``), compiled to PTX for the GPU and loaded once. A call:
convert and check the inputs (``InputSpec``, as on the CPU), then run the
plan's steps in order -- shapes and checks on the host, kernels on the
device -- read the outputs back as fresh NumPy arrays, and only then give
every updated shared variable its new device value, all at once (a
failed call changes nothing). A failed run-time check raises the same
exception, with the same message, as on the CPU.

Shared variables used by GPU functions keep a device copy between calls:
a call uploads one only when its host value changed (``set_value``, a CPU
function's update); each update is also copied back to the host at once.

``from_function(f)`` makes a GPU function of an already compiled CPU
function (same inputs, outputs, updates and IR). ``device`` may be any
object with the device interface (``codegen/ptx/state.py``), e.g. the CPU
emulation ``codegen.ptx.emulator.EmulatedDevice``.
"""
import time
import weakref

import numpy as np

from ..codegen.ptx.plan import Plan, run_plan
from ..codegen.ptx.shapes import PlanError
from ..codegen.ptx.state import RunState
from .errors import native_error
from .function import Function


def _resolve_device(device):
    if device is not None:
        return device
    from .cuda import default_device
    return default_device()


class DeviceValue:
    """A shared variable's value on a device (``SharedVariable._device``)."""

    __slots__ = ("device", "tensor")

    def __init__(self, device, tensor):
        self.device = device
        self.tensor = tensor        # C-contiguous DeviceTensor

    def to_host(self):
        """A fresh host array with this value."""
        self.device.activate()
        out = np.empty(self.tensor.shape, dtype=np.dtype(self.tensor.dtype))
        if out.size:
            self.device.download(self.tensor.ptr, out)
        return out


class _Residency:
    """Where the value of each shared variable lives: a device copy of its
    host value, uploaded again when the host value changed."""

    def __init__(self):
        self.mirrors = weakref.WeakKeyDictionary()   # var -> (DeviceValue, host array)

    def tensor(self, var, state):
        """The device tensor holding ``var``'s current value on ``state.device``."""
        entry = self.mirrors.get(var)
        if entry is not None and entry[0].device is state.device and entry[1] is var._storage:
            return entry[0].tensor
        host = var._storage
        t = state.upload(host)
        self.mirrors[var] = (DeviceValue(state.device, t), host)
        return t

    def publish(self, var, tensor, state):
        """``var``'s new value is ``tensor`` (C-contiguous, on state.device):
        copied back to the host at once, the device copy kept as its mirror."""
        host = state.download(tensor)
        var._storage = host
        self.mirrors[var] = (DeviceValue(state.device, tensor), host)


_RESIDENCY = None


def residency():
    global _RESIDENCY
    if _RESIDENCY is None:
        _RESIDENCY = _Residency()
    return _RESIDENCY


class GpuFunction(Function):
    """A theon function whose code runs on a GPU (see the module docstring).

    Attributes as ``runtime.function.Function``; ``native`` is the loaded
    program (``.ptx``, ``.llvm_ir``, ``.asm`` (the PTX)), ``device`` the
    device, ``plan`` the launch plan.
    """

    def __init__(self, *, name, inputs, outputs, single_output, updates, shared, specs, ir,
                 mode, input_ir, profile=None, device=None, plan=None):
        # Function.__init__ binds a native CPU entry point; a GPU function has none
        self.device = _resolve_device(device)
        self.plan = plan or Plan(ir)
        ir = self.plan.func                 # the IR the plan runs (fused stages split)
        self._set_signature(name, inputs, outputs, single_output, updates, shared, specs, ir,
                            mode, input_ir, profile)
        self.device.activate()
        self.native = self.device.load(self.plan)
        self._results = tuple(ir.return_op.operands)
        self._residency = residency()

    def __call__(self, *args, **kwargs):
        if not self._update_locks:
            return self._call_gpu(*args, **kwargs)
        return self._locked(self._call_gpu, args, kwargs)       # updates never lost (function.py)

    def _call_gpu(self, *args, **kwargs):
        arrays = self._convert_inputs(args, kwargs)
        self.device.activate()
        state = RunState(self.native, self.device)
        ir_args = self.ir.args
        for arg, a in zip(ir_args, arrays):
            state.host[arg] = a
        shared_tensors = []
        for arg, var in zip(ir_args[self._n_inputs:], self.shared):
            state.env[arg] = self._residency.tensor(var, state)
            shared_tensors.append(state.env[arg])
        start = time.perf_counter_ns()
        try:
            run_plan(self.plan, state, self._timer() if self.profile is not None else None)
        except PlanError as e:
            details = (e.details + [0, 0, 0, 0])[:4]
            raise native_error(e.code, [e.op_index] + details, self.ir, arrays + shared_tensors) from None
        n = self._n_outputs
        outs = [self._output(state, v) for v in self._results[:n]]
        new = [state.contiguous(state.tensor(v)) for v in self._results[n:]]
        if self.profile is not None:
            self.device.synchronize()
            self.profile.record_call(time.perf_counter_ns() - start)
        for var, t in zip(self._update_targets, new):
            self._residency.publish(var, t, state)
        if self._single:
            return outs[0]
        return outs

    @staticmethod
    def _output(state, v):
        t = state.env.get(v)
        if t is None:
            return np.array(state.host[v], dtype=v.type.np_dtype, copy=True)
        return state.download(t)

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


def from_function(f, device=None):
    """The GPU version of compiled CPU function ``f`` (its IR, inputs,
    outputs, updates), running on ``device`` (default: GPU 0)."""
    from .profiling import ProfileStats
    if isinstance(f, GpuFunction):
        return f
    if getattr(f.mode, "debug", False):
        raise ValueError("from_function: a DEBUG-mode function returns extra values; compile it in FAST_RUN")
    profile = ProfileStats(f.name or f.ir.name, f.ir) if f.profile is not None else None
    return GpuFunction(name=f.name, inputs=f.inputs, outputs=f.outputs, single_output=f._single,
                       updates=f.updates, shared=f.shared, specs=f._specs, ir=f.ir, mode=f.mode,
                       input_ir=f.input_ir, profile=profile, device=device)
