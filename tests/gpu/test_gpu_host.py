"""The compiled host side (codegen/ptx/specialize.py): a launch plan
recorded per input signature and replayed with only the pointers patched.

Every replayed call is checked against NumPy and against the interpreted
plan (same kernels, grids, blocks and integer arguments); data-dependent
and side-effecting plans must stay interpreted; the host overhead of a
replay is measured on a device whose launches do nothing.
"""
import ctypes
import time

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx.emulator import EMU_SCHEDULE, EmulatedDevice
from theon.codegen.ptx.plan import run_plan
from theon.codegen.ptx.specialize import AddressDevice, HostRunner
from theon.codegen.ptx.state import RunState
from theon.runtime import cuda
from theon.runtime.gpu_function import from_function

from ..cuda_stub_helpers import FakeDriver
from .test_gpu_exec import _numpy_mlp_step
from .test_gpu_runtime import _mlp

RNG = np.random.default_rng(1818)


class LaunchLog(EmulatedDevice):
    """The emulator, logging (kernel name, grid, block, args) of each launch."""

    def __init__(self):
        super().__init__()
        self.log = []
        self.names = {}

    def load(self, plan):
        program = super().load(plan)
        self.names.update({id(h): n for n, h in program.handles.items()})
        return program

    def launch(self, kernel, grid, block, args):
        self.log.append((self.names[id(kernel)], tuple(grid), tuple(block), list(args)))
        return super().launch(kernel, grid, block, args)


def _pointer_free(log, plan):
    """The log with every pointer parameter replaced by None."""
    out = []
    for name, grid, block, args in log:
        kinds = [k for _, k in plan.kernels[name].params]
        out.append((name, grid, block, [a if k == "i64" else None for a, k in zip(args, kinds)]))
    return out


def _interpreted_log(g, *args):
    g.host_runner.enabled = False
    try:
        g.device.log.clear()
        out = g(*args)
        return out, _pointer_free(g.device.log, g.plan)
    finally:
        g.host_runner.enabled = True


def test_elementwise_replay_matches_numpy_and_the_interpreted_plan():
    x, y = T.dvector("x"), T.dvector("y")
    g = from_function(theon.function([x, y], T.exp(x) * 2 + y), LaunchLog())
    for i in range(4):
        a, b = RNG.standard_normal(100), RNG.standard_normal(100)
        g.device.log.clear()
        out = g(a, b)
        np.testing.assert_allclose(out, np.exp(a) * 2 + b, rtol=1e-13)
        got = _pointer_free(g.device.log, g.plan)
        if i >= 1:
            want_out, want = _interpreted_log(g, a, b)
            assert got == want
            np.testing.assert_array_equal(out, want_out)
    st = g.host_runner.stats
    assert st["recorded"] == 1 and st["replayed"] == 3 and not g.host_runner.refused


def test_results_are_fresh_buffers_and_inputs_patched():
    """Each replay writes new result buffers (earlier results stay valid) and
    reads this call's inputs (device arrays, strided views included)."""
    x = T.dmatrix("x")
    g = from_function(theon.function([x], [x * 3, x.sum(axis=0)]), EmulatedDevice(), device_outputs=True)
    import theon.gpuarray as ga
    outs = []
    arrays = [RNG.standard_normal((5, 7)) for _ in range(3)]
    for a in arrays:
        outs.append(g(ga.to_gpu(a, g.device)))
    for a, (m, s) in zip(arrays, outs):
        np.testing.assert_allclose(m.get(), a * 3)
        np.testing.assert_allclose(s.get(), a.sum(axis=0))
    assert g.host_runner.stats["replayed"] == 2
    big = RNG.standard_normal((7, 5))
    u = ga.to_gpu(big, g.device)
    t = ga.GpuArray(u.tensor.view(0, (5, 7), u.tensor.strides[::-1]), g.device, u)   # strides differ
    m, s = g(t)
    np.testing.assert_allclose(m.get(), big.T * 3)
    np.testing.assert_allclose(s.get(), big.T.sum(axis=0))
    assert len(g.host_runner.traces) == 2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_step_replayed_matches_numpy(dtype):
    n, d, hdim, k, lr = 16, 12, 10, 4, 0.5
    f, params, init = _mlp(d, hdim, k, lr, dtype)
    g = from_function(f, LaunchLog())
    ref = [v.astype(np.float64) for v in init]
    for step in range(3):
        X = RNG.standard_normal((n, d)).astype(dtype)
        Y = RNG.integers(0, k, n)
        loss = g(X, Y)
        want, ref = _numpy_mlp_step(X.astype(np.float64), Y, *ref, lr)
        tol = 1e-10 if dtype == "float64" else 2e-4
        np.testing.assert_allclose(loss, want, rtol=tol, atol=tol)
        for p, r in zip(params, ref):
            np.testing.assert_allclose(p.get_value(), r, rtol=tol, atol=tol)
    assert g.host_runner.stats["replayed"] == 2 and not g.host_runner.refused
    trace = next(iter(g.host_runner.traces.values()))
    assert trace.arena, "intermediates are kept as the signature's arena"
    # the replayed launch sequence is the interpreted one
    X = RNG.standard_normal((n, d)).astype(dtype)
    Y = RNG.integers(0, k, n)
    before = [p.get_value() for p in params]
    g.device.log.clear()
    g(X, Y)
    got = _pointer_free(g.device.log, g.plan)
    for p, v in zip(params, before):
        p.set_value(v)
    _, want = _interpreted_log(g, X, Y)
    assert got == want


def test_new_shape_records_a_new_signature_and_checks_still_run():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    g = from_function(theon.function([x, y], x + y), EmulatedDevice())
    a = RNG.standard_normal((3, 4))
    for shape in [(3, 4), (3, 4), (2, 5), (3, 4)]:
        b = RNG.standard_normal(shape)
        if shape == (3, 4):
            np.testing.assert_allclose(g(a, b), a + b)
        else:
            with pytest.raises(ValueError):
                g(a, b)
    assert g.host_runner.stats["replayed"] == 2


def test_host_argument_values_enter_the_signature():
    """An integer input used as a size: its value is part of the signature,
    so a replay never reuses another size's launches."""
    n = T.lscalar("n")
    x = T.dvector("x")
    g = from_function(theon.function([x, n], T.alloc(x.sum(), n) + T.arange(n)), EmulatedDevice())
    v = RNG.standard_normal(6)
    for size in [3, 3, 5, 3, 0, 5]:
        np.testing.assert_allclose(g(v, size), v.sum() + np.arange(size))
    assert g.host_runner.value_args == (1,)
    assert g.host_runner.stats["replayed"] >= 2
    with pytest.raises(ValueError):
        g(v, -1)


def test_data_dependent_plans_stay_interpreted():
    x = T.dvector("x")
    cnt = T.cast(T.sum(T.gt(x, 0)), "int64")
    g = from_function(theon.function([x], T.alloc(x.max(), cnt, 2)), EmulatedDevice())
    for a in [np.array([1.0, -2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0]), np.array([-1.0, -2, -3, 5])]:
        np.testing.assert_array_equal(g(a), np.full(((a > 0).sum(), 2), a.max()))
    assert not g.host_runner.traces
    assert "read device data" in next(iter(g.host_runner.refused.values()))
    assert g.host_runner.stats["interpreted"] == 2


def test_checked_integer_pow_stays_interpreted():
    x, e = T.lvector("x"), T.lvector("e")
    g = from_function(theon.function([x, e], x ** e), EmulatedDevice())
    a = np.array([2, 3, 4])
    np.testing.assert_array_equal(g(a, np.array([1, 2, 3])), a ** np.array([1, 2, 3]))
    with pytest.raises(ValueError):
        g(a, np.array([1, -2, 3]))


def test_print_is_never_replayed(capfd):
    x = T.dvector("x")
    g = from_function(theon.function([x], theon.printing.Print("seen")(x) * 2), EmulatedDevice())
    for _ in range(3):
        np.testing.assert_allclose(g(np.ones(2)), 2.0)
    assert capfd.readouterr().out.count("seen") == 3
    assert not g.host_runner.traces


def test_a_busy_trace_runs_interpreted():
    x = T.dvector("x")
    g = from_function(theon.function([x], x + 1), EmulatedDevice())
    g(np.zeros(3))
    trace = next(iter(g.host_runner.traces.values()))
    with trace.lock:
        np.testing.assert_allclose(g(np.ones(3)), 2.0)
    assert g.host_runner.stats["interpreted"] == 1


class SnapDriver(FakeDriver):
    """The fake driver, logging each cuLaunchKernel's kernel, dims and
    parameter values when it is called (``launched``; set ``plan`` first)."""

    def __init__(self):
        super().__init__()
        self.launched = []

    def _cuLaunchKernel(self, fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        name = self.functions.get(_handle_of(fn))
        if name is not None:
            n = len(self.plan.kernels[name].params)
            self.launched.append((name, (gx, gy, gz, bx, by, bz),
                                  [ctypes.c_int64.from_address(params[k]).value for k in range(n)]))
        return super()._cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra)


def test_cuda_replay_uses_prepacked_parameters():
    """On the CUDA device (a fake driver) a replay is one cuLaunchKernel per
    launch with the same grids, blocks and integer arguments as the
    interpreted call, and this call's pointers."""
    drv = SnapDriver()
    dev = cuda.CudaDevice(0, drv=drv)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    g = from_function(theon.function([x, y], (x * y).sum(axis=1)), dev)
    drv.plan = g.plan
    a, b = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    g(a, b)                                         # recorded
    g.host_runner.enabled = False
    drv.launched.clear()
    g(a, b)
    want = list(drv.launched)
    g.host_runner.enabled = True
    drv.launched.clear()
    g(a, b)
    got = list(drv.launched)
    trace = next(iter(g.host_runner.traces.values()))
    assert trace.fast is not None and g.host_runner.stats["replayed"] == 1
    assert [(k, d) for k, d, _ in got] == [(k, d) for k, d, _ in want]
    for (k, _, gv), (_, _, wv) in zip(got, want):
        kinds = [kind for _, kind in g.plan.kernels[k].params]
        assert [v for v, kind in zip(gv, kinds) if kind == "i64"] == \
            [v for v, kind in zip(wv, kinds) if kind == "i64"]


# --- host overhead on a device whose launches do nothing ----------------------------------------------------------
def host_overhead(g, args, calls):
    """(interpreted, replayed) seconds per run of ``g``'s plan on its device,
    the arguments already device tensors (medians of 5 rounds)."""
    dev = g.device
    tensors = [RunState(g.native, dev).upload(np.asarray(a)) for a in args]

    def fresh():
        st = RunState(g.native, dev)
        for v, t in zip(g.ir.args, tensors):
            st.env[v] = t
        for v, var in zip(g.ir.args[len(args):], g.shared):
            st.env[v] = g._residency.tensor(var, st)
        return st

    runner = HostRunner(g.plan)
    result = []
    for run in (lambda st: run_plan(g.plan, st), runner.run):
        run(fresh())
        times = []
        for _ in range(5):
            states = [fresh() for _ in range(calls)]
            t0 = time.perf_counter()
            for st in states:
                run(st)
            times.append((time.perf_counter() - t0) / calls)
        result.append(float(np.median(times)))
    assert runner.stats["replayed"] > 0
    return result


def test_replay_cuts_host_overhead_on_a_null_device():
    dev = AddressDevice(EMU_SCHEDULE)
    s = T.dscalar("s")
    g = from_function(theon.function([s], s + 1), dev)
    interp1, replay1 = host_overhead(g, [1.0], 300)
    f, _, _ = _mlp(784, 512, 10, 0.1)
    g = from_function(f, dev)
    interp6, replay6 = host_overhead(g, [np.zeros((256, 784)), np.zeros(256, np.int64)], 30)
    print(f"host overhead per call: one element {interp1 * 1e6:.1f} -> {replay1 * 1e6:.1f} us, "
          f"W6 step {interp6 * 1e6:.0f} -> {replay6 * 1e6:.0f} us")
    assert replay6 < interp6 / 5
    assert replay1 < interp1


class GraphDriver(SnapDriver):
    """The fake driver with the CUDA graph entry points: a graph is a list
    of kernel nodes; launching it logs each node's kernel, dims and
    parameter values as they are at that moment (as the driver copies them)."""

    def __init__(self):
        super().__init__()
        self.graphs, self.node_of, self.graph_launches = {}, {}, []

    def _cuGraphCreate(self, out, flags):
        handle = self._handle()
        self.graphs[handle] = []
        out._obj.value = handle

    def _snapshot(self, p):
        kp = p._obj
        name = self.functions[kp.func]
        n = len(self.plan.kernels[name].params)
        params = ctypes.cast(kp.kernelParams, ctypes.POINTER(ctypes.c_void_p))
        vals = [ctypes.c_int64.from_address(params[k]).value for k in range(n)]
        return name, (kp.gridDimX, kp.gridDimY, kp.gridDimZ, kp.blockDimX, kp.blockDimY, kp.blockDimZ), vals

    def _cuGraphAddKernelNode(self, out, graph, deps, n_deps, p):
        nodes = self.graphs[_handle_of(graph)]
        assert n_deps == (1 if nodes else 0)
        handle = self._handle()
        nodes.append(handle)
        self.node_of[handle] = self._snapshot(p)
        out._obj.value = handle

    def _cuGraphInstantiateWithFlags(self, out, graph, flags):
        handle = self._handle()
        self.graphs[handle] = self.graphs[_handle_of(graph)]
        out._obj.value = handle

    def _cuGraphExecKernelNodeSetParams(self, ex, node, p):
        self.node_of[_handle_of(node)] = self._snapshot(p)

    def _cuGraphLaunch(self, ex, stream):
        self.graph_launches.append([self.node_of[n] for n in self.graphs[_handle_of(ex)]])

    def _cuGraphExecDestroy(self, ex):
        return 0

    def _cuGraphDestroy(self, graph):
        return 0


def _handle_of(obj):
    return obj if isinstance(obj, int) else (obj.value or 0)


def test_cuda_replay_as_a_graph_patches_changed_pointers():
    """With the graph API, a replay updates the nodes whose pointers changed
    and launches one graph whose nodes equal the interpreted launches."""
    drv = GraphDriver()
    dev = cuda.CudaDevice(0, drv=drv)
    f, params, init = _mlp(6, 5, 3, 0.1)
    g = from_function(f, dev)
    drv.plan = g.plan
    X, Y = RNG.standard_normal((4, 6)), RNG.integers(0, 3, 4)
    g(X, Y)                                         # recorded
    trace = next(iter(g.host_runner.traces.values()))
    assert type(trace.fast).__name__ == "CudaGraph"
    for _ in range(2):
        g.host_runner.enabled = False
        drv.launched.clear()
        g(X, Y)
        want = list(drv.launched)
        g.host_runner.enabled = True
        drv.calls.clear()
        g(X, Y)
        assert not any(name == "cuLaunchKernel" for name, _ in drv.calls)
        assert sum(name == "cuGraphLaunch" for name, _ in drv.calls) == 1
        got = drv.graph_launches[-1]
        assert [(k, d) for k, d, _ in got] == [(k, d) for k, d, _ in want]
        for (k, _, gv), (_, _, wv) in zip(got, want):
            kinds = [kind for _, kind in g.plan.kernels[k].params]
            assert [v for v, kind in zip(gv, kinds) if kind == "i64"] == \
                [v for v, kind in zip(wv, kinds) if kind == "i64"]
        # this call's uploaded inputs are what the graph's nodes read
        uploads = [_handle_of(args[0]) for name, args in drv.calls if name == "cuMemcpyHtoDAsync_v2"]
        ptrs = {v for _, _, vals in got for v in vals}
        assert len(uploads) == 2 and set(uploads) <= ptrs
        updated = [name for name, _ in drv.calls if name == "cuGraphExecKernelNodeSetParams"]
        assert len(updated) <= len(got)        # only nodes whose pointers changed


def test_scan_over_host_data_stays_interpreted_and_over_device_data_replays():
    import theon.gpuarray as ga
    x = T.dvector("x")
    ys, _ = theon.scan(lambda v, acc: acc + v, sequences=[x], outputs_info=[T.constant(0.0)])
    f = theon.function([x], ys[-1] * 2)
    g = from_function(f, EmulatedDevice())
    for _ in range(3):
        a = RNG.standard_normal(5)
        np.testing.assert_allclose(g(a), a.sum() * 2)
    assert not g.host_runner.traces and "takes host input data" in next(iter(g.host_runner.refused.values()))
    for _ in range(3):
        a = RNG.standard_normal(5)
        np.testing.assert_allclose(g(ga.to_gpu(a, g.device)), a.sum() * 2)
    assert g.host_runner.stats["replayed"] == 2


def test_ifelse_on_device_data_follows_the_data():
    from theon.ifelse import ifelse
    x = T.dvector("x")
    g = from_function(theon.function([x], ifelse(T.gt(x.sum(), 0), x * 2, x - 1)), EmulatedDevice())
    for a in [np.ones(3), -np.ones(3), np.ones(3), -np.ones(3)]:
        np.testing.assert_allclose(g(a), a * 2 if a.sum() > 0 else a - 1)
    assert not g.host_runner.traces
