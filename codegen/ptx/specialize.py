"""The compiled host side: a launch plan specialized per input signature.

Interpreting a plan (``run_plan``) recomputes shapes, strides, variants,
grids and argument lists on every call. Everything but the data pointers
depends only on the *signature* of a call: the dtype, shape and strides
of every argument (inputs and shared variables; a device argument's
address modulo 16 too), whether it is a host (NumPy) or a device value,
and the values of the few host arguments the plan reads as sizes or
indices. ``HostRunner.run(state)`` records the first call of a signature
(a ``Trace``) while running it interpreted, and replays the trace on the
later calls of that signature:

    launches    each kernel launch with its handle, grid, block and argument
                list built once; only the pointer parameters (kernel param
                kind != 'i64') that point into a call's inputs or results
                are patched per call
    arena       intermediate buffers (allocated by the recorded call and used
                by no result) are kept as the signature's arena and reused by
                every replay (launches of one device are ordered on its stream;
                a replay holds the trace's lock, a concurrent call of the same
                signature runs interpreted); ``drop_cached`` (the device's
                ``release_memory``) drops idle traces with their arenas
    results     buffers that results live in are allocated fresh per call (a
                result is never written again: device buffers are immutable
                after their step); host inputs are uploaded as the plan did
    constants   uploads of values computed on the host (shapes, sizes,
                constants) are kept with the trace and reused

A signature is *not* specialized (it runs interpreted on every call; the
reason is in ``HostRunner.refused``) when its recorded call reads device
data on the host (a data-dependent size, a checked exponent, a scan's
trip count or ``until``, a host region on device data), has a host side
effect (``print``), or passes a pointer the trace cannot attribute to
one region (overlapping arguments). Host arguments whose values the plan
reads (sizes, indices, random states) become part of the signature, so
the checks on them, made while recording, hold for every replay.

The CUDA device replays through prepacked ctypes parameter arrays
(``CudaLaunches``): one ``cuLaunchKernel`` per launch and no argument
marshalling except the patched pointers. ``Trace`` is also what
``runtime/aot/cuda_host.py`` turns into C (``record_trace`` on a device
that only hands out addresses).
"""
import ctypes
import threading

import numpy as np

from ...config import config
from .plan import run_plan
from .print_step import PrintStep
from .state import DeviceTensor, RunState, SymInt, as_int, guards

MAX_SIGNATURES = 8          # traces kept per function (least recently recorded dropped)
ALIGN_KEY = 16              # device argument addresses enter the signature modulo this
SIDE_EFFECT_STEPS = (PrintStep,)


class NotSpecializable(Exception):
    """A recorded call cannot be replayed (the message says why)."""


def _buffer_size(buf):
    n = getattr(buf, "nbytes", None)
    return int(n if n is not None else getattr(buf, "size", 0))


def _extent(t):
    """(lo, hi) byte addresses spanned by DeviceTensor ``t`` (plain ints)."""
    lo = hi = int(t.ptr)
    if int(t.numel):
        for d, s in zip(map(int, t.shape), map(int, t.strides)):
            if s > 0:
                hi += (d - 1) * s * t.itemsize
            else:
                lo += (d - 1) * s * t.itemsize
        hi += t.itemsize
    return lo, hi


class _Tracer:
    """A device proxy that records what a plan asks of its device while
    recording; otherwise it only forwards (the call's outputs are read
    back through it after the plan)."""

    def __init__(self, device, names):
        self.__dict__.update(inner=device, names=names, recording=True, launches=[], slots=[],
                             uploads=[], arg_upload=None, reads=0, copies=[], step=None)

    def __getattr__(self, name):
        return getattr(self.__dict__["inner"], name)

    def alloc(self, nbytes):
        buf = self.inner.alloc(nbytes)
        if self.recording:
            self.slots.append((buf, as_int(nbytes)))    # held: no address reused while recording
        return buf

    def upload(self, array):
        buf = self.inner.upload(array)
        if self.recording:
            self.uploads.append((buf, int(array.nbytes), self.arg_upload, array))
        return buf

    def download(self, ptr, out):
        if self.recording:
            self.reads += 1
            step = self.step
            if step is not None and "reader" not in self.__dict__:
                self.__dict__["reader"] = f"{step.kind} step of op #{step.index} ({step.op.name})"
            if getattr(self.inner, "refuse_reads", False):
                raise NotSpecializable(f"the {self.reader} reads device data on the host")
        return self.inner.download(ptr, out)

    def copy(self, dst, src, nbytes):
        if self.recording:
            self.copies.append((as_int(dst), as_int(src), as_int(nbytes)))
        return self.inner.copy(dst, src, nbytes)

    def launch(self, kernel, grid, block, args):
        if self.recording:
            self.launches.append((self.names.get(id(kernel)), kernel, tuple(grid), tuple(block), list(args)))
        return self.inner.launch(kernel, grid, block, args)


class _RecordingState(RunState):
    """A RunState that tells the tracer which uploads are arguments and
    notes the host arguments whose values the plan reads."""

    def __init__(self, state, tracer, arg_index):
        super().__init__(state.loaded, tracer)
        self.env, self.host = state.env, state.host
        self.arg_index = arg_index
        self.value_reads = set()

    def tensor(self, v):
        k = self.arg_index.get(v)
        if k is None or v in self.env:
            return super().tensor(v)
        self.device.__dict__["arg_upload"] = k
        try:
            return super().tensor(v)
        finally:
            self.device.__dict__["arg_upload"] = None

    def host_value(self, v):
        k = self.arg_index.get(v)
        if k is not None and v in self.host:
            self.value_reads.add(k)
        return super().host_value(v)


class Launch:
    """One recorded launch: ``args`` with ``patches`` [(position, region,
    offset)] to fill per call (``region``: an index into the replay's bases)."""
    __slots__ = ("name", "kernel", "grid", "block", "args", "patches")

    def __init__(self, name, kernel, grid, block, args, patches):
        self.name, self.kernel, self.grid, self.block = name, kernel, grid, block
        self.args, self.patches = args, patches


class Trace:
    """A call recorded for one signature (see the module docstring).

    Regions, numbered: first one per function argument (its tensor's base
    address this call; an uploaded host input included), then one per
    *fresh* slot (a buffer a result lives in, allocated per call:
    ``fresh[j]`` = its byte size). ``launches``/``copies`` patch their
    pointers from the regions; ``results`` says where each result is:
    ('region', r, byte offset, dtype, shape, strides), ('fixed', tensor)
    or ('host', array). ``uploads``: arguments uploaded by the plan, in
    order. ``arena``: the kept intermediate buffers; ``kept``: buffers of
    host-computed values the launches read; ``constants``: (address,
    bytes) of those uploads (for the C host)."""

    def __init__(self):
        self.launches = []
        self.copies = []
        self.results = []
        self.uploads = []
        self.fresh = []
        self.arena = []
        self.kept = []
        self.constants = []
        self.arena_slots = []       # (address, nbytes) of the arena buffers (the C host allocates them)
        self.lock = threading.Lock()
        self.replays = 0
        self.fast = None            # a device-specific replayer (CudaLaunches)


def _record(plan, state, arg_values, on_step=None, finish=None, guard_log=None):
    """Run ``plan`` on ``state`` interpreted while recording (then
    ``finish(state)``, recorded too); returns (Trace or None, reason,
    value_reads): None when it cannot be replayed. ``guard_log``: a list
    that gets the SymInt comparisons made while running (symbolic dims)."""
    names = {id(h): n for n, h in state.loaded.handles.items()}
    tracer = _Tracer(state.device, names)
    arg_index = {v: k for k, v in enumerate(arg_values)}
    rec = _RecordingState(state, tracer, arg_index)
    steps = iter(plan.steps[1:])

    def at_next(step):                  # which step runs now: named when it reads device data
        tracer.__dict__["step"] = next(steps, None)
        if on_step is not None:
            on_step(step)
    tracer.__dict__["step"] = plan.steps[0] if plan.steps else None
    try:
        with guards(guard_log):
            run_plan(plan, rec, at_next)
            if finish is not None:
                finish(rec)
    finally:
        tracer.__dict__["recording"] = False
    state.env, state.host = rec.env, rec.host
    try:
        trace = _build_trace(plan, rec, tracer, arg_values)
    except NotSpecializable as e:
        return None, str(e), rec.value_reads
    return trace, None, rec.value_reads


def _build_trace(plan, rec, tracer, arg_values):
    bad = sorted({type(s).__name__ for s in plan.steps if isinstance(s, SIDE_EFFECT_STEPS)})
    if bad:
        raise NotSpecializable(f"steps with host side effects: {', '.join(bad)}")
    if tracer.reads:
        raise NotSpecializable(f"the host read device data {tracer.reads} time(s), first in the "
                               f"{tracer.__dict__.get('reader', 'plan')} (a data-dependent step)")
    env = rec.env
    host_args = {v for v in arg_values if v in rec.host}
    for s in plan.steps:        # loop/branch bodies run on states of their own, given host values as they are
        if hasattr(s, "bodies") and any(v in host_args for v in s.op.operands):
            raise NotSpecializable(f"a {s.kind} step (op {s.index}) takes host input data directly")
    trace = Trace()
    regions = []            # (lo, hi, region index or None for a fixed buffer)
    n_args = len(arg_values)
    arg_upload_bufs = {}
    for buf, nbytes, k, array in tracer.uploads:
        if k is not None:
            trace.uploads.append(k)
            arg_upload_bufs[id(buf)] = k
    for k, v in enumerate(arg_values):
        t = env.get(v)
        if t is not None:
            lo, hi = _extent(t)
            regions.append((lo, hi, k, int(t.ptr)))
    results = list(plan.func.return_op.operands)
    result_bufs = {id(env[v].buffer) for v in results if v in env}
    slot_region = {}
    for buf, nbytes in tracer.slots:
        if id(buf) in result_bufs:
            r = n_args + len(trace.fresh)
            trace.fresh.append(nbytes)
            slot_region[id(buf)] = r
            regions.append((buf.ptr, buf.ptr + int(nbytes), r, buf.ptr))
        else:
            trace.arena.append(buf)
            trace.arena_slots.append((buf.ptr, nbytes))
            regions.append((buf.ptr, buf.ptr + int(nbytes), None, buf.ptr))
    for buf, nbytes, k, array in tracer.uploads:
        if k is None:
            trace.kept.append(buf)
            trace.constants.append((buf.ptr, np.ascontiguousarray(array).tobytes()))
            regions.append((buf.ptr, buf.ptr + nbytes, None, buf.ptr))
    known = {id(b) for b, _ in tracer.slots} | {id(u[0]) for u in tracer.uploads}
    args = set(arg_values)
    known |= {id(env[v].buffer) for v in args if v in env}
    for v, t in env.items():        # device values of constants and small host values (cached)
        if v not in args and t.buffer is not None and id(t.buffer) not in known:
            known.add(id(t.buffer))
            trace.kept.append(t.buffer)
            regions.append((t.buffer.ptr, t.buffer.ptr + _buffer_size(t.buffer), None, t.buffer.ptr))

    def locate(p, what):
        """(region, byte offset from its base; a SymInt where ``p`` is one)."""
        q = int(p)
        inside = [r for r in regions if r[0] <= q < r[1]] or [r for r in regions if r[0] <= q <= r[1]]
        kinds = {(r[2], r[3]) for r in inside}
        if len(kinds) != 1:
            raise NotSpecializable(f"{what}: address {p:#x} is in {len(kinds)} regions "
                                   f"({'overlapping arguments' if kinds else 'none known'})")
        _, _, region, base = inside[0]
        return region, p - base

    kernels = plan.kernels
    for name, kernel, grid, block, args in tracer.launches:
        spec = kernels.get(name)
        if spec is None:
            raise NotSpecializable(f"a launch of an unknown kernel {name!r}")
        patches = []
        for pos, (_, kind) in enumerate(spec.params):
            if kind != "i64":
                region, off = locate(args[pos], f"kernel {name} parameter {pos}")
                if region is not None:
                    patches.append((pos, region, off))
        trace.launches.append(Launch(name, kernel, grid, block, [as_int(a) for a in args], patches))
    for dst, src, nbytes in tracer.copies:
        trace.copies.append((len(trace.launches), locate(dst, "copy destination"), locate(src, "copy source"),
                             nbytes))
    used = {r for ln in trace.launches for _, r, _ in ln.patches}
    used |= {r for _, (rd, _), (rs, _), _ in trace.copies for r in (rd, rs) if r is not None}
    for v in results:
        t = env.get(v)
        if t is None:
            trace.results.append(("host", v, np.array(rec.host[v], copy=True)))
            continue
        region, off = locate(t.ptr, "a result")
        if region is None:
            trace.results.append(("fixed", v, t))
        else:
            trace.results.append(("region", v, region, off, t.dtype, t.shape, t.strides))
            used.add(region)
    trace.used_args = sorted(r for r in used if r < n_args)
    trace.bases = [0] * (n_args + len(trace.fresh))
    trace.plain = [(ln.kernel, ln.grid, ln.block, ln.args, ln.patches) for ln in trace.launches]
    return trace


class HostRunner:
    """Runs a plan: interpreted for a new signature (recording it), then
    from its Trace. ``stats``: recordings, replays, interpreted calls;
    ``refused``: {signature: reason} of signatures that stay interpreted."""

    def __init__(self, plan, enabled=True):
        self.plan = plan
        self.enabled = enabled
        self.args = list(plan.func.args)
        self.value_args = ()            # indices of host arguments whose values the plan reads
        self.traces = {}
        self.refused = {}
        self.stats = {"recorded": 0, "replayed": 0, "interpreted": 0}

    def drop_cached(self, device=None):
        """Drop the traces no call is replaying now, and with them their
        arenas and kept constants (``release_memory``): the next call of a
        signature records it again, allocating a new arena."""
        for key, trace in list(self.traces.items()):
            if trace.lock.acquire(blocking=False):
                try:
                    if self.traces.get(key) is trace:
                        del self.traces[key]
                finally:
                    trace.lock.release()

    def signature(self, state):
        env, host = state.env, state.host
        key = []
        for v in self.args:
            t = env.get(v)
            if t is not None:
                key.append((t.dtype, t.shape, t.strides, t.ptr % ALIGN_KEY))
            else:
                a = host[v]
                key.append((a.dtype.char, a.shape))
        for k in self.value_args:
            a = host.get(self.args[k])
            key.append(None if a is None else a.tobytes())
        return tuple(key)

    def run(self, state, on_step=None):
        if not self.enabled or on_step is not None:
            self.stats["interpreted"] += 1
            return run_plan(self.plan, state, on_step)
        key = self.signature(state)
        trace = self.traces.get(key)
        if trace is not None and trace.lock.acquire(blocking=False):
            try:
                replay(trace, state, self.args)
            finally:
                trace.lock.release()
            self.stats["replayed"] += 1
            return
        if trace is not None or key in self.refused:
            self.stats["interpreted"] += 1
            return run_plan(self.plan, state)
        trace, reason, reads = _record(self.plan, state, self.args)
        self.stats["recorded"] += 1
        if reads - set(self.value_args):
            self.value_args = tuple(sorted(set(self.value_args) | reads))
            self.traces.clear()
            self.refused.clear()
            key = self.signature(state)
        if trace is None:
            self.refused[key] = reason
            return
        attach_fast_path(trace, state.device)
        if len(self.traces) >= MAX_SIGNATURES:
            self.traces.pop(next(iter(self.traces)))
        self.traces[key] = trace


def replay(trace, state, args):
    """Run ``trace`` on ``state`` (arguments in env/host): upload the host
    inputs the plan uploads, allocate result buffers, launch, and put the
    results into env/host as the interpreted plan would."""
    device = state.device
    env = state.env
    for k in trace.uploads:
        state.tensor(args[k])
    bases = list(trace.bases)
    for k in trace.used_args:
        bases[k] = env[args[k]].ptr
    n = len(args)
    fresh = [device.alloc(nbytes) for nbytes in trace.fresh]
    for j, buf in enumerate(fresh):
        bases[n + j] = buf.ptr
    fast = trace.fast
    if (fast is not None and fast.device is device and not config.gpu_sync_check
            and "launch" not in getattr(device, "__dict__", ())):       # a wrapped launch (a profiler's) sees every launch
        fast.launch(bases)
    elif not trace.copies:
        launch = device.launch
        for kernel, grid, block, a, patches in trace.plain:
            if patches:
                a = list(a)
                for pos, r, off in patches:
                    a[pos] = bases[r] + off
            launch(kernel, grid, block, a)
    else:
        _replay_with_copies(trace, device, bases)
    for res in trace.results:
        kind, v = res[0], res[1]
        if kind == "host":
            state.host[v] = res[2]
        elif kind == "fixed":
            env[v] = res[2]
        else:
            _, _, r, off, dtype, shape, strides = res
            buf = fresh[r - n] if r >= n else env[args[r]].buffer
            env[v] = DeviceTensor(buf, bases[r] + off, dtype, shape, strides)


def _replay_with_copies(trace, device, bases):
    copies = list(trace.copies)
    for i, ln in enumerate(trace.launches + [None]):
        while copies and copies[0][0] == i:
            _, (rd, od), (rs, os_), nbytes = copies.pop(0)
            device.copy((bases[rd] if rd is not None else 0) + od, (bases[rs] if rs is not None else 0) + os_,
                        nbytes)
        if ln is None:
            break
        a = list(ln.args)
        for pos, r, off in ln.patches:
            a[pos] = bases[r] + off
        device.launch(ln.kernel, ln.grid, ln.block, a)


# --- the CUDA device: prepacked parameter arrays ---------------------------------------------------
class CudaLaunches:
    """A trace's launches as ctypes parameter arrays built once: a call
    writes the patched pointers into their slots and calls cuLaunchKernel
    ``len(launches)`` times, nothing else (``device``: a CudaDevice)."""

    def __init__(self, trace, device):
        self.device = device
        self.items = []
        for ln in trace.launches:
            values = (ctypes.c_uint64 * max(len(ln.args), 1))(*[a & ((1 << 64) - 1) for a in ln.args])
            params = (ctypes.c_void_p * max(len(ln.args), 1))(
                *[ctypes.addressof(values) + 8 * k for k in range(len(ln.args))])
            self.items.append((ln.kernel, ln.grid, ln.block, values, params, ln.patches, ln.name))

    def launch(self, bases):
        dev = self.device
        call, stream = dev.drv.call, dev.stream
        for kernel, g, b, values, params, patches, name in self.items:
            for pos, r, off in patches:
                values[pos] = bases[r] + off
            try:
                call("cuLaunchKernel", kernel, g[0], g[1], g[2], b[0], b[1], b[2], 0, stream, params, None)
            except RuntimeError as e:
                e.kernel = name
                e.args = (f"{e} [in kernel {name}, grid {g}, block {b}]",)
                raise


class KernelNodeParams(ctypes.Structure):
    """CUDA_KERNEL_NODE_PARAMS (the v1 layout of cuGraphAddKernelNode and
    cuGraphExecKernelNodeSetParams)."""
    _fields_ = [("func", ctypes.c_void_p), ("gridDimX", ctypes.c_uint), ("gridDimY", ctypes.c_uint),
                ("gridDimZ", ctypes.c_uint), ("blockDimX", ctypes.c_uint), ("blockDimY", ctypes.c_uint),
                ("blockDimZ", ctypes.c_uint), ("sharedMemBytes", ctypes.c_uint),
                ("kernelParams", ctypes.c_void_p), ("extra", ctypes.c_void_p)]


_p = ctypes.c_void_p
GRAPH_SIGNATURES = {
    "cuGraphCreate": [ctypes.POINTER(_p), ctypes.c_uint],
    "cuGraphAddKernelNode": [ctypes.POINTER(_p), _p, ctypes.POINTER(_p), ctypes.c_size_t,
                             ctypes.POINTER(KernelNodeParams)],
    "cuGraphInstantiateWithFlags": [ctypes.POINTER(_p), _p, ctypes.c_ulonglong],
    "cuGraphExecKernelNodeSetParams": [_p, _p, ctypes.POINTER(KernelNodeParams)],
    "cuGraphLaunch": [_p, _p],
    "cuGraphExecDestroy": [_p],
    "cuGraphDestroy": [_p],
}
GRAPH_MIN_LAUNCHES = 4          # shorter traces launch directly (a graph launch costs about one launch)


def graph_api(drv):
    """True when driver ``drv`` has the graph entry points (registering
    them with the real ctypes driver, whose ``fns`` hold what ``call`` uses)."""
    fns, lib = getattr(drv, "fns", None), getattr(drv, "lib", None)
    if fns is None:                 # a stand-in driver (tests): it implements them or not
        return all(hasattr(drv, "_" + name) for name in GRAPH_SIGNATURES)
    for name, argtypes in GRAPH_SIGNATURES.items():
        if name not in fns:
            fn = getattr(lib, name, None)
            if fn is None:
                return False
            fn.argtypes, fn.restype = argtypes, ctypes.c_int
            fns[name] = fn
    return True


class CudaGraph(CudaLaunches):
    """A trace's launches as one CUDA graph (a chain of kernel nodes, built
    with cuGraphAddKernelNode so each node's handle is known): a call
    updates the nodes whose pointers changed (cuGraphExecKernelNodeSetParams)
    and launches the graph on theon's stream (cuGraphLaunch)."""

    def __init__(self, trace, device):
        super().__init__(trace, device)
        call = device.drv.call
        self.graph, self.exec = _p(), _p()
        self.nodes, self.node_params, self.last = [], [], []
        call("cuGraphCreate", ctypes.byref(self.graph), 0)
        prev = None
        for kernel, g, b, values, params, patches, name in self.items:
            kp = KernelNodeParams(_handle(kernel), g[0], g[1], g[2], b[0], b[1], b[2], 0,
                                  ctypes.cast(params, _p).value, None)
            node = _p()
            deps = (_p * 1)(prev) if prev is not None else None
            call("cuGraphAddKernelNode", ctypes.byref(node), self.graph, deps, 1 if prev is not None else 0,
                 ctypes.byref(kp))
            self.nodes.append(node)
            self.node_params.append(kp)
            self.last.append([values[pos] for pos, _, _ in patches])
            prev = node
        call("cuGraphInstantiateWithFlags", ctypes.byref(self.exec), self.graph, 0)

    def launch(self, bases):
        dev = self.device
        call = dev.drv.call
        ex = self.exec
        for (kernel, g, b, values, params, patches, name), node, kp, last in zip(
                self.items, self.nodes, self.node_params, self.last):
            if not patches:
                continue
            new = [bases[r] + off for _, r, off in patches]
            if new != last:
                for (pos, _, _), v in zip(patches, new):
                    values[pos] = v
                call("cuGraphExecKernelNodeSetParams", ex, node, ctypes.byref(kp))
                last[:] = new
        call("cuGraphLaunch", ex, dev.stream)

    def __del__(self):
        try:
            call = self.device.drv.call
            if self.exec:
                call("cuGraphExecDestroy", self.exec)
            if self.graph:
                call("cuGraphDestroy", self.graph)
        except Exception:  # noqa: BLE001 - at exit the driver may be gone
            pass


def _handle(kernel):
    return kernel.value if isinstance(kernel, ctypes.c_void_p) else int(kernel)


def attach_fast_path(trace, device):
    """Give ``trace`` a device-specific replayer where the device has one:
    on a CudaDevice a CUDA graph (``theon.config.gpu_graphs``, at least
    GRAPH_MIN_LAUNCHES launches, a driver with the graph API), else
    prepacked parameter arrays."""
    own = getattr(device, "__dict__", {})         # not through a wrapper (RecordingDevice counts)
    if own.get("drv") is None or own.get("stream") is None or trace.copies or not trace.launches:
        return
    if len(trace.launches) >= GRAPH_MIN_LAUNCHES and config.gpu_graphs and graph_api(own["drv"]):
        trace.fast = CudaGraph(trace, device)
    else:
        trace.fast = CudaLaunches(trace, device)


# --- recording without a device (the AOT C host) --------------------------------------------------
class _AddressBuffer:
    __slots__ = ("ptr", "nbytes")

    def __init__(self, ptr, nbytes):
        self.ptr, self.nbytes = ptr, nbytes


class AddressDevice:
    """A device that only hands out distinct, aligned addresses: launches
    do nothing, downloads are refused. Recording a plan on it gives the
    launch sequence of one signature without running anything."""
    name = "address-only device"
    dlpack_device_type = 1
    ordinal = 0
    stream_handle = None
    BASE = 1 << 44

    def __init__(self, schedule, refuse_reads=False):
        self.schedule = schedule
        self.refuse_reads = refuse_reads
        self.next = self.BASE

    def alloc(self, nbytes):
        buf = _AddressBuffer(self.next, int(nbytes))
        self.next += (int(nbytes) + 511) // 256 * 256 + 256        # a gap: no two buffers touch
        return buf

    def upload(self, array):
        return self.alloc(array.nbytes)

    def download(self, ptr, out):
        if self.refuse_reads:           # (the tracer names the step first)
            raise NotSpecializable("a step reads device data on the host (a data-dependent step)")
        out[...] = 0

    def copy(self, dst, src, nbytes):
        pass

    def launch(self, kernel, grid, block, args):
        pass

    def activate(self):
        pass

    def synchronize(self):
        pass

    def release_memory(self):
        return 0

    def load(self, plan):
        """The plan's kernels "loaded": handles are their names."""
        from .state import LoadedProgram
        loaded = LoadedProgram(plan)
        for name in plan.kernels:
            loaded.handles[name] = name
        return loaded


def record_trace(plan, schedule, inputs, shared, guard_log=None):
    """The Trace of ``plan`` for inputs ``inputs`` ((dtype, shape) per input,
    the dims ints or ``SymInt``s: symbolic dims) and shared values
    ``shared`` (NumPy arrays), all on the device, recorded on an
    AddressDevice, its results made C-contiguous. Sizes, offsets, grids and
    launch arguments computed from symbolic dims are SymInts in the trace;
    ``guard_log`` (a list) gets the comparisons they went through.
    ``value_reads``: the inputs whose values the plan read; ``arg_tensors``:
    each argument's device tensor. Raises NotSpecializable (or PlanError
    when the plan fails for these dims)."""
    from .shapes import c_strides, numel
    from ..llvm_util import ITEMSIZE
    device = AddressDevice(schedule, refuse_reads=True)
    state = RunState(device.load(plan), device)
    args = list(plan.func.args)

    def place(v, dtype, shape):
        buf = device.alloc(int(numel(shape)) * ITEMSIZE[dtype])
        state.env[v] = DeviceTensor(buf, buf.ptr, dtype, shape, c_strides(shape))
    for v, (dtype, shape) in zip(args, inputs):
        place(v, np.dtype(dtype).name, tuple(shape))
    for v, a in zip(args[len(inputs):], shared):
        a = np.asarray(a, dtype=v.type.np_dtype)
        place(v, a.dtype.name, a.shape)
    results = list(plan.func.return_op.operands)

    def contiguous_results(st):
        for v in results:
            if v in st.env:
                st.env[v] = st.contiguous(st.env[v])
    trace, reason, reads = _record(plan, state, args, finish=contiguous_results, guard_log=guard_log)
    if trace is None:
        raise NotSpecializable(reason)
    trace.value_reads = reads
    trace.arg_tensors = [state.env.get(v) for v in args]
    return trace


__all__ = ["HostRunner", "Trace", "record_trace", "AddressDevice", "NotSpecializable", "SymInt"]
