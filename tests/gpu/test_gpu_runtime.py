"""The GPU runtime: device-resident data, copy and launch counts, the CUDA
driver paths (a fake driver), the memory pool, sync-check, the PTX cache,
device selection and THEON_REQUIRE_GPU.

Counting: ``RecordingDevice`` wraps a device and counts its launches and
host<->device copies; a training step with device-resident shared
parameters makes exactly one upload per NumPy input and one download per
output, none with device inputs and device outputs.
"""
import os

import numpy as np
import pytest

import theon
import theon.gpuarray as ga
import theon.tensor as T
import theon.tensor.nnet as NN
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.state import LoadedProgram, RecordingDevice, RunState
from theon.runtime import cuda
from theon.runtime.gpu_function import from_function

from ..cuda_stub_helpers import STREAM, FakeDriver
from .test_gpu_exec import _numpy_mlp_step

RNG = np.random.default_rng(18)


@pytest.fixture(scope="module")
def emu():
    return EmulatedDevice()


# --- the MLP step: copies and launches per call --------------------------------------------------------------
def _mlp(n_in, n_hidden, n_out, lr, dtype="float64"):
    """(CPU function, shared params, initial values): examples/mlp.py's
    step (W6: 784-512-10 at batch 256; smaller here for the emulator)."""
    init = [(RNG.standard_normal((n_in, n_hidden)) * 0.3).astype(dtype), np.zeros(n_hidden, dtype),
            (RNG.standard_normal((n_hidden, n_out)) * 0.3).astype(dtype), np.zeros(n_out, dtype)]
    params = [theon.shared(v.copy(), name=nm) for v, nm in zip(init, ["W1", "b1", "W2", "b2"])]
    W1, b1, W2, b2 = params
    x = T.tensor(dtype, shape=(None, n_in), name="x")
    y = T.lvector("y")
    p = NN.softmax(T.dot(NN.relu(T.dot(x, W1) + b1), W2) + b2)
    loss = NN.categorical_crossentropy(p, y).mean()
    grads = theon.grad(loss, params)
    f = theon.function([x, y], loss, updates=[(v, v - np.asarray(lr, dtype) * g) for v, g in zip(params, grads)])
    return f, params, init


def test_mlp_step_with_resident_parameters_copies_only_inputs_and_outputs(emu):
    n, d, hdim, k, lr = 16, 12, 10, 4, 0.5
    f, params, init = _mlp(d, hdim, k, lr)
    dev = RecordingDevice(emu)
    g = from_function(f, dev)
    X = RNG.standard_normal((n, d))
    Y = RNG.integers(0, k, n)
    ref = [v.copy() for v in init]
    g(X, Y)                                            # first call: parameters and constants go up once
    _, ref = _numpy_mlp_step(X, Y, *ref, lr)
    for step in range(3):
        dev.reset()
        loss = g(X, Y)
        want, ref = _numpy_mlp_step(X, Y, *ref, lr)
        np.testing.assert_allclose(loss, want, rtol=1e-10)
        c = dev.counts()
        # exactly the two NumPy inputs go up; only the loss comes back; parameters stay
        assert (c["uploads"], c["upload_bytes"]) == (2, X.nbytes + Y.nbytes), c
        assert (c["downloads"], c["download_bytes"]) == (1, 8), c
        assert c["launches"] > 5
        for v in params:
            assert v._gpu is not None and v._gpu.host is None      # newest value only on the device
    # device inputs, device outputs: no copy at all
    Xg, Yg = ga.to_gpu(X, emu), ga.to_gpu(Y, emu)
    g.device_outputs = True
    dev.reset()
    out = g(Xg, Yg)
    want, ref = _numpy_mlp_step(X, Y, *ref, lr)
    c = dev.counts()
    assert c["uploads"] == 0 and c["downloads"] == 0, c
    assert isinstance(out, ga.GpuArray) and out.shape == ()
    np.testing.assert_allclose(out.get(), want, rtol=1e-10)
    # NumPy outputs again, device inputs: no upload, one download
    g.device_outputs = False
    dev.reset()
    loss = g(Xg, Yg)
    want, ref = _numpy_mlp_step(X, Y, *ref, lr)
    assert dev.counts()["uploads"] == 0 and dev.counts()["downloads"] == 1
    np.testing.assert_allclose(loss, want, rtol=1e-10)
    # get_value brings each parameter back once: one download each, then none
    dev.reset()
    for v, want in zip(params, ref):
        np.testing.assert_allclose(v.get_value(), want, rtol=1e-9, atol=1e-12)
    assert dev.counts()["downloads"] == 4
    dev.reset()
    for v in params:
        v.get_value()
    assert dev.counts()["downloads"] == 0
    # the device copies are still current: the next call uploads only the inputs
    dev.reset()
    g(X, Y)
    assert dev.counts()["uploads"] == 2


def test_cpu_function_sees_device_updates_lazily(emu):
    w = theon.shared(np.arange(4.0), name="w")
    x = T.vector("x")
    f = theon.function([x], (w * x).sum(), updates=[(w, w + x)])
    dev = RecordingDevice(emu)
    g = from_function(f, dev)
    g(np.ones(4))
    dev.reset()
    g(np.ones(4))
    assert dev.counts()["downloads"] == 1             # the output only, not w
    assert f(np.ones(4)) == float(np.sum(np.arange(4.0) + 2))     # the CPU call syncs w back
    assert dev.counts()["downloads"] == 2
    np.testing.assert_array_equal(w.get_value(), np.arange(4.0) + 3)
    dev.reset()
    assert g(np.ones(4)) == float(np.sum(np.arange(4.0) + 3))    # the CPU update is uploaded
    assert dev.counts()["uploads"] == 2
    # set_value invalidates the device copy
    w.set_value(np.full(4, 10.0))
    assert w._gpu is None
    assert g(np.ones(4)) == 40.0
    np.testing.assert_array_equal(w.get_value(), np.full(4, 11.0))
    # a failed call changes nothing
    with pytest.raises(ValueError):
        g(np.ones(5))
    np.testing.assert_array_equal(w.get_value(), np.full(4, 11.0))


def test_shared_values_as_device_arrays(emu):
    w = theon.shared(np.arange(3.0), name="w")
    x = T.vector("x")
    g = from_function(theon.function([x], x * w, updates=[(w, w * 2)]), emu)
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), np.ndarray)   # not on a device yet
    g(np.ones(3))
    dv = w.get_value(borrow=True, return_internal_type=True)
    assert isinstance(dv, ga.GpuArray) and dv.device is emu
    np.testing.assert_array_equal(dv.get(), np.arange(3.0) * 2)
    # set_value with a device array: no host copy; the next call uses it in place
    dev = RecordingDevice(emu)
    g2 = from_function(theon.function([x], x * w), dev)
    new = ga.to_gpu(np.array([5.0, 6.0, 7.0]), emu)
    w.set_value(new)
    dev.reset()
    np.testing.assert_array_equal(g2(np.ones(3)), [5.0, 6.0, 7.0])
    assert dev.counts()["uploads"] == 1                 # x only
    np.testing.assert_array_equal(w.get_value(), [5.0, 6.0, 7.0])
    with pytest.raises(TypeError, match="float32, expected float64"):
        w.set_value(ga.to_gpu(np.ones(3, np.float32), emu))
    with pytest.raises(TypeError):
        theon.shared(np.ones((2, 2))).set_value(ga.to_gpu(np.ones(3), emu))
    # a strided device array is made contiguous
    base = ga.to_gpu(np.arange(6.0), emu)
    view = ga.GpuArray(base.tensor.view(1, (3,), (2,)), emu)
    w.set_value(view)
    np.testing.assert_array_equal(w.get_value(), [1.0, 3.0, 5.0])


def test_device_inputs_are_checked(emu):
    x = T.matrix("x")
    g = from_function(theon.function([x], x + 1), emu)
    with pytest.raises(TypeError, match="input 'x'.*GpuArray of float32"):
        g(ga.to_gpu(np.ones((2, 2), np.float32), emu))
    with pytest.raises(TypeError, match="input 'x'.*1-d GpuArray"):
        g(ga.to_gpu(np.ones(2), emu))
    with pytest.raises(ValueError, match="input 'x'.*GpuArray on"):
        g(ga.to_gpu(np.ones((2, 2)), EmulatedDevice()))
    # a strided device input is used with its strides
    base = ga.to_gpu(np.arange(12.0).reshape(3, 4), emu)
    t = base.tensor.view(1, (3, 2), (4, 2))
    np.testing.assert_array_equal(g(ga.GpuArray(t, emu)), np.arange(12.0).reshape(3, 4)[:, 1::2] + 1)


def test_device_outputs_from_the_mode(emu):
    x = T.vector("x")
    mode = theon.Mode(device_outputs=True)
    assert mode.clone().device_outputs and "device_outputs" in mode._fields()
    g = from_function(theon.function([x], [x * 2, x.sum()], mode=mode), emu)
    outs = g(np.arange(3.0))
    assert all(isinstance(o, ga.GpuArray) for o in outs)
    np.testing.assert_array_equal(np.asarray(outs[0]), [0.0, 2.0, 4.0])
    assert float(outs[1].get()) == 3.0


# --- the CUDA driver paths, on a fake driver ---------------------------------------------------------------
def test_device_uses_the_primary_context_and_its_own_stream():
    drv = FakeDriver(devices=2)
    dev = cuda.CudaDevice(1, drv=drv)
    names = [n for n, _ in drv.calls]
    assert "cuDevicePrimaryCtxRetain" in names and not any(n.startswith("cuCtxCreate") for n in names)
    assert drv.count("cuMemAlloc_v2") == 0               # nothing allocated up front
    (_, args), = [c for c in drv.calls if c[0] == "cuStreamCreate"]
    assert args[1] == cuda.CU_STREAM_DEFAULT and dev.stream_handle >= STREAM
    assert dev.schedule.sm_count == 114          # grids fill the device's own multiprocessors
    assert cuda.CudaDevice(0, drv=FakeDriver(sm_count=0)).schedule.sm_count > 0    # unknown: the default
    a = np.arange(10, dtype=np.float32)
    buf = dev.upload(a)
    (_, up), = [c for c in drv.calls if c[0] == "cuMemcpyHtoDAsync_v2"]
    assert up[3] is dev.stream
    out = np.empty_like(a)
    drv.calls.clear()
    dev.download(buf.ptr, out)
    assert [n for n, _ in drv.calls] == ["cuMemcpyDtoHAsync_v2", "cuStreamSynchronize"]
    np.testing.assert_array_equal(out, a)
    with pytest.raises(ValueError, match=r"no GPU cuda:2; this machine has 2 \(cuda:0..cuda:1\)"):
        cuda.CudaDevice(2, drv=drv)


def _run_state(dev, kernel_names):
    """A RunState on ``dev`` whose program has kernels ``kernel_names``."""
    ptx = "".join(f".entry {k}(\n)\n" for k in kernel_names)
    module = dev.load_ptx(ptx)
    plan = type("P", (), {"func": None, "kernels": {}})()
    prog = LoadedProgram(plan)
    import ctypes
    for k in kernel_names:
        fn = ctypes.c_void_p()
        dev.drv.call("cuModuleGetFunction", ctypes.byref(fn), module, k.encode())
        prog.handles[k] = fn
    return RunState(prog, dev)


def test_launch_errors_name_the_kernel_with_sync_check():
    drv = FakeDriver()
    dev = cuda.CudaDevice(0, drv=drv)
    st = _run_state(dev, ["theon_f_good", "theon_f_bad"])
    st.launch("theon_f_good", (1, 1, 1), (32, 1, 1), [1, 2])
    (_, args), = [c for c in drv.calls if c[0] == "cuLaunchKernel"]
    assert args[8] is dev.stream                       # theon's stream, not the default one
    # a launch the driver refuses is named at once
    drv.fail["cuLaunchKernel"] = 719
    with pytest.raises(cuda.CudaError, match=r"CUDA_ERROR_LAUNCH_FAILED.*in kernel theon_f_good") as e:
        st.launch("theon_f_good", (1, 1, 1), (32, 1, 1), [])
    assert e.value.kernel == "theon_f_good" and e.value.code == 719
    # an asynchronous fault: without sync-check it shows at the next synchronization ...
    drv.fail_after_kernel["theon_f_bad"] = 700
    st.launch("theon_f_bad", (1, 1, 1), (32, 1, 1), [])
    with pytest.raises(cuda.CudaError, match="CUDA_ERROR_ILLEGAL_ADDRESS"):
        dev.synchronize()
    # ... with sync-check the launch itself fails, naming the kernel
    old = theon.config.gpu_sync_check
    theon.config.gpu_sync_check = True
    try:
        drv.fail_after_kernel["theon_f_bad"] = 700
        st.launch("theon_f_good", (1, 1, 1), (32, 1, 1), [])
        with pytest.raises(cuda.CudaError, match=r"ILLEGAL_ADDRESS.*in kernel theon_f_bad, grid \(2, 1, 1\)"):
            st.launch("theon_f_bad", (2, 1, 1), (32, 1, 1), [])
        assert drv.count("cuStreamSynchronize") >= 2
    finally:
        theon.config.gpu_sync_check = old


def test_sync_check_flag_from_the_environment(run_json):
    code = ("import json, theon; print(json.dumps(theon.config.gpu_sync_check))")
    assert run_json(code, env={"THEON_GPU_SYNC_CHECK": "1"}) is True
    assert run_json(code, env={"THEON_GPU_SYNC_CHECK": "0"}) is False


def test_memory_pool_is_bounded_and_releasable():
    drv = FakeDriver(capacity=64 << 10)
    dev = cuda.CudaDevice(0, drv=drv, pool_limit=4096)
    bufs = [dev.alloc(1000) for _ in range(6)]            # 1024-byte class
    assert drv.count("cuMemAlloc_v2") == 6
    ptrs = {b.ptr for b in bufs}
    del bufs
    st = dev.memory_stats()
    assert st["pooled_bytes"] == 4096 and st["in_use_bytes"] == 0
    assert drv.count("cuMemFree_v2") == 2                 # beyond the limit: back to the driver
    again = dev.alloc(900)
    assert again.ptr in ptrs and drv.count("cuMemAlloc_v2") == 6       # reused
    del again
    assert ga.release_memory(dev) == 4096
    assert drv.count("cuMemFree_v2") == 6 and dev.memory_stats()["pooled_bytes"] == 0
    assert drv.allocated() == 0
    # out of memory: the pool is given back and the allocation retried
    dev.pool_limit = 1 << 20
    keep = [dev.alloc(16 << 10) for _ in range(3)]
    del keep[0]
    assert dev.memory_stats()["pooled_bytes"] == 16 << 10
    big = dev.alloc(32 << 10)
    assert dev.memory_stats()["pooled_bytes"] == 0 and big.size == 32 << 10
    with pytest.raises(cuda.CudaError, match="CUDA_ERROR_OUT_OF_MEMORY"):
        dev.alloc(64 << 10)
    assert dev.memory_stats()["in_use_bytes"] == 64 << 10          # two of 16 KiB, one of 32 KiB


def test_gpu_function_on_the_fake_driver_queues_on_its_stream(tmp_path, monkeypatch):
    """The real CudaDevice under a GPU function: copies and launches on
    theon's stream, no context-wide synchronization, shared values stay."""
    monkeypatch.setattr(theon.config, "cache_dir", str(tmp_path))
    drv = FakeDriver()
    dev = cuda.CudaDevice(0, drv=drv)
    w = theon.shared(np.ones(4, np.float32), name="w")
    x = T.fvector("x")
    g = from_function(theon.function([x], x * w, updates=[(w, w + x)]), dev, device_outputs=True)
    drv.calls.clear()
    out = g(np.ones(4, np.float32))
    names = [n for n, _ in drv.calls]
    assert isinstance(out, ga.GpuArray)
    assert "cuCtxSynchronize" not in names and "cuStreamSynchronize" not in names   # asynchronous
    assert names.count("cuMemcpyHtoDAsync_v2") == 2 and "cuMemcpyDtoHAsync_v2" not in names
    assert all(args[8] is dev.stream for n, args in drv.calls if n == "cuLaunchKernel")
    drv.calls.clear()
    g(np.ones(4, np.float32))
    assert drv.count("cuMemcpyHtoDAsync_v2") == 1          # x; w is resident
    # the PTX went to the disk cache: a second device loads it without compiling
    import theon.codegen.ptx as ptx_pkg
    monkeypatch.setattr(ptx_pkg, "PtxModule", None)        # compiling now would fail
    dev2 = cuda.CudaDevice(0, drv=FakeDriver())
    g2 = from_function(theon.function([x], x * w, updates=[(w, w + x)]), dev2)
    assert ".entry" in g2.native.ptx


def test_ptx_cache_entries_are_validated(tmp_path, monkeypatch):
    from theon.codegen.ptx.plan import Plan
    from theon.runtime import cache
    monkeypatch.setattr(theon.config, "cache_dir", str(tmp_path))
    x = T.vector("x")
    plan = Plan(theon.function([x], T.exp(x) + 1).ir)
    ptx, llvm_ir = cuda.compiled_ptx(plan, "sm_80", cuda.CudaDevice(0, drv=FakeDriver()).schedule)
    assert llvm_ir is not None and cuda.valid_ptx(ptx.encode(), "sm_80", plan.kernels)
    assert not cuda.valid_ptx(ptx.encode(), "sm_90", plan.kernels)
    assert not cuda.valid_ptx(ptx.replace(".entry", ".func").encode(), "sm_80", plan.kernels)
    assert not cuda.valid_ptx(b"\xff\xfe", "sm_80", plan.kernels)
    entries = [p for p in os.listdir(tmp_path) if p.endswith(".ptx")]
    assert len(entries) == 1
    hit, _ = cuda.compiled_ptx(plan, "sm_80", cuda.GPU_SCHEDULE if hasattr(cuda, "GPU_SCHEDULE") else
                               cuda.CudaDevice(0, drv=FakeDriver()).schedule)
    assert hit == ptx
    # an entry that is valid as a cache entry but not PTX for these kernels is a miss, then rewritten
    key = entries[0][:-4]
    cache.store("ptx", key, {"kind": "ptx"}, b".version 8.0\n.target sm_80\n")
    again, llvm_again = cuda.compiled_ptx(plan, "sm_80", cuda.CudaDevice(0, drv=FakeDriver()).schedule)
    assert again == ptx and llvm_again is not None


# --- device selection, THEON_REQUIRE_GPU ---------------------------------------------------------------------
def test_cuda_n_device_names():
    assert cuda.parse_device("cuda") == 0 and cuda.parse_device("cuda:3") == 3
    for bad in ("gpu", "cuda:", "cuda:-1", "cuda:x", 1):
        with pytest.raises(ValueError, match="'cuda' or 'cuda:N'"):
            cuda.parse_device(bad)
    m = theon.Mode(device="cuda:1")
    assert m.device == "cuda:1" and m.on_gpu() and not theon.Mode(device="cpu").on_gpu()
    with pytest.raises(ValueError, match="cuda:N"):
        theon.Mode(device="gpu0")
    old = theon.config.device
    try:
        theon.config.device = "cuda:2"
        assert theon.Mode().on_gpu() and theon.Mode().resolved_device() == "cuda:2"
        with pytest.raises(ValueError):
            theon.config.device = "cuda:two"
    finally:
        theon.config.device = old


def test_require_gpu_turns_the_skip_into_a_failure(monkeypatch):
    from . import conftest
    monkeypatch.setattr(cuda, "cuda_available", lambda: False)
    monkeypatch.setattr(cuda, "unavailable_reason", lambda: "no driver (test)")
    monkeypatch.delenv("THEON_REQUIRE_GPU", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no CUDA GPU here: no driver"):
        conftest.skip_or_fail_without_gpu()
    monkeypatch.setenv("THEON_REQUIRE_GPU", "1")
    with pytest.raises(pytest.fail.Exception, match="THEON_REQUIRE_GPU=1 but no CUDA GPU here"):
        conftest.skip_or_fail_without_gpu()


def test_release_memory_names():
    assert theon.cuda.release_memory is cuda.release_memory
    assert ga.release_memory(EmulatedDevice()) == 0
    assert isinstance(cuda.release_memory(), int)       # no device opened here: nothing to free


def test_mode_device_names_pick_the_gpu(monkeypatch, emu):
    """theon.function with Mode(device='cuda:N') asks for GPU N (here the
    emulated device stands in for it) and honours device_outputs."""
    asked = []

    def fake_default_device(ordinal=0):
        asked.append(ordinal)
        return emu
    monkeypatch.setattr(cuda, "default_device", fake_default_device)
    x = T.vector("x")
    f = theon.function([x], x * 3, mode=theon.Mode(device="cuda:1", device_outputs=True))
    assert asked == [1] and f.device is emu
    out = f(np.arange(3.0))
    assert isinstance(out, ga.GpuArray)
    np.testing.assert_array_equal(out.get(), [0.0, 3.0, 6.0])
    monkeypatch.setattr(theon.config, "device", "cuda:3")
    g = theon.function([x], x + 1)
    assert asked == [1, 3] and isinstance(g(np.ones(2)), np.ndarray)


def test_pickling_and_copying_bring_device_values_home(emu):
    import copy
    import pickle
    w = theon.shared(np.arange(3.0), name="w")
    x = T.vector("x")
    g = from_function(theon.function([x], x, updates=[(w, w + x)]), emu)
    g(np.ones(3))
    assert w._gpu.host is None
    w2 = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(w2.get_value(), np.arange(3.0) + 1)
    assert w2._gpu is None
    g(np.ones(3))
    w3 = copy.deepcopy(w)
    np.testing.assert_array_equal(w3.get_value(), np.arange(3.0) + 2)
    assert w3._gpu is None and w._gpu is not None
    f = theon.function([x], x * w)
    g(np.ones(3))
    f2 = pickle.loads(pickle.dumps(f))          # a compiled CPU function pickles its shared values
    np.testing.assert_array_equal(f2(np.ones(3)), np.arange(3.0) + 3)
