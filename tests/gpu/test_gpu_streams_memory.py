"""The CUDA runtime's memory release and stream ordering, on the fake driver.

``release_memory()`` frees every cached device allocation no live object
needs -- the arenas and constants that compiled functions keep between
calls included -- so the driver then holds exactly the live arrays'
memory; the next call makes its arena again. Exports order another
library's stream after the work that wrote *that* array (its event), not
after everything theon queued since.
"""
import numpy as np
import pytest

import theon
import theon.gpuarray as ga
import theon.tensor as T
import theon.tensor.nnet as NN
from theon.runtime import cuda
from theon.runtime.gpu_function import from_function

from ..cuda_stub_helpers import FakeDriver

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def ptx_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("ptx"))      # one compile of each plan for the whole module


@pytest.fixture
def fake(ptx_cache, monkeypatch):
    monkeypatch.setattr(theon.config, "cache_dir", ptx_cache)
    drv = FakeDriver()
    return cuda.CudaDevice(0, drv=drv), drv


def _step(dev):
    """Softmax of a product with a resident weight: intermediates (arena),
    constants, a reduction and an update; device outputs."""
    W = theon.shared(RNG.standard_normal((6, 3)).astype(np.float32), name="W")
    x = T.fmatrix("x")
    p = NN.softmax(T.dot(x, W))
    loss = -T.log(p[:, 0]).mean()
    g = from_function(theon.function([x], [p, loss], updates=[(W, W * np.float32(0.5) + loss)]),
                      dev, device_outputs=True)
    return g, W


def _live_bytes(*arrays):
    bufs = {id(a.tensor.buffer): a.tensor.buffer for a in arrays}
    return sum(b.size for b in bufs.values())


def test_release_memory_frees_idle_arenas_and_calls_still_work(fake):
    dev, drv = fake
    g, W = _step(dev)
    x = ga.to_gpu(RNG.standard_normal((8, 6)).astype(np.float32), dev)
    outs = g(x)
    outs = g(x)                                   # replayed: the signature's arena is kept
    assert g.host_runner.stats["replayed"] == 1
    launches = drv.count("cuLaunchKernel")
    w = W.get_value(borrow=True, return_internal_type=True)
    live = _live_bytes(x, w, *outs)
    assert drv.allocated() > live                 # arena, constants, pooled blocks
    st = dev.memory_stats()
    assert st["pooled_bytes"] <= st["pool_limit_bytes"]
    freed = ga.release_memory(dev)
    assert freed > 0
    assert drv.allocated() == live == dev.memory_stats()["in_use_bytes"]
    assert dev.memory_stats()["pooled_bytes"] == 0 and not g.host_runner.traces
    # the next call records again (a new arena) and gives the same launches
    drv.calls.clear()
    outs2 = g(x)
    assert g.host_runner.stats["recorded"] == 2 and isinstance(outs2[0], ga.GpuArray)
    assert drv.count("cuLaunchKernel") == launches // 2
    assert drv.allocated() > _live_bytes(x, W.get_value(borrow=True, return_internal_type=True), *outs2)
    outs3 = g(x)
    assert g.host_runner.stats["replayed"] == 2 and outs3[0].shape == (8, 3)


def test_a_full_device_drops_idle_caches_before_failing(fake):
    dev, drv = fake
    g, W = _step(dev)
    x = ga.to_gpu(RNG.standard_normal((8, 6)).astype(np.float32), dev)
    g(x)
    outs = g(x)
    live = _live_bytes(x, W.get_value(borrow=True, return_internal_type=True), *outs)
    held = drv.allocated() - live
    size = cuda._bin_size(held)
    drv.capacity = live + size                    # fits only once the caches are gone
    big = dev.alloc(size)
    assert big.size == size and drv.allocated() == live + size and not g.host_runner.traces
    del big
    drv.capacity = 1 << 30
    assert g(x)[0].shape == (8, 3)


def _waits(drv):
    return [(args[0].value, args[1].value) for n, args in drv.calls if n == "cuStreamWaitEvent"]


def test_dlpack_export_waits_for_the_arrays_own_event(fake):
    dev, drv = fake
    g, W = _step(dev)
    x = ga.to_gpu(RNG.standard_normal((8, 6)).astype(np.float32), dev)
    p1, _ = g(x)
    p2, _ = g(x)
    e1, e2 = p1.tensor.event, p2.tensor.event
    assert e1 is not None and e2 is not None and e1.handle != e2.handle
    # W's new device value carries the second call's event
    assert W.get_value(borrow=True, return_internal_type=True).tensor.event is e2
    drv.calls.clear()
    cap = p1.__dlpack__(stream=0x4242)
    # one wait on the first call's event: the consumer is not ordered after the second call
    assert [n for n, _ in drv.calls] == ["cuStreamWaitEvent"] and _waits(drv) == [(0x4242, e1.handle)]
    del cap
    for stream in (None, 1, -1, dev.stream_handle):     # legacy default (implicit), no sync, our own
        drv.calls.clear()
        cap = p1.__dlpack__(stream=stream)
        assert drv.calls == [], stream
        del cap
    drv.calls.clear()
    cap = p2.__dlpack__(stream=2)                      # the per-thread default stream: explicit
    assert _waits(drv) == [(cuda.CU_STREAM_PER_THREAD, e2.handle)]
    del cap
    # an array whose writer is unknown: everything queued so far
    u = ga.GpuArray(ga.empty((3,), "float32", dev).tensor, dev)
    drv.calls.clear()
    cap = u.__dlpack__(stream=0x4242)
    (rec,) = [a for n, a in drv.calls if n == "cuEventRecord"]
    assert rec[1] is dev.stream and _waits(drv) == [(0x4242, rec[0].value)]
    del cap
    with pytest.raises(ValueError, match="a CUDA stream is a handle"):
        p1.__dlpack__(stream=-5)


def test_events_are_recycled(fake):
    dev, drv = fake
    x = T.fvector("x")
    g = from_function(theon.function([x], x * 2), dev, device_outputs=True)
    a = ga.to_gpu(np.ones(4, np.float32), dev)
    for _ in range(10):
        out = g(a)
        del out
    assert drv.count("cuEventCreate") <= 3 and drv.count("cuEventRecord") >= 11


def test_cuda_array_interface_stream_follows_the_event(fake):
    dev, drv = fake
    a = ga.to_gpu(np.arange(4, dtype=np.float32), dev)
    assert a.__cuda_array_interface__["stream"] == dev.stream_handle      # the upload is pending
    dev.synchronize()
    assert a.__cuda_array_interface__["stream"] is None                    # done: nothing to wait for
    b = a.copy()
    assert b.tensor.event is not None and b.__cuda_array_interface__["stream"] == dev.stream_handle


class _Producer:
    """A foreign device array (host memory standing in for device memory)."""

    def __init__(self, stream):
        self.data = np.ones(3)
        self.__cuda_array_interface__ = {"shape": (3,), "typestr": "<f8", "data": (self.data.ctypes.data, False),
                                         "version": 3, "stream": stream}


def test_imports_make_theons_stream_wait_for_the_producer(fake):
    dev, drv = fake
    for stream, want in ((1, []), (2, [cuda.CU_STREAM_PER_THREAD]), (0x5150, [0x5150])):
        drv.calls.clear()
        ga.asarray(_Producer(stream), dev)
        recorded = [a[1].value for n, a in drv.calls if n == "cuEventRecord"]
        assert recorded == want, stream
        assert [s for s, _ in _waits(drv)] == [dev.stream_handle] * len(want)
        assert drv.count("cuStreamSynchronize") == 0
    with pytest.raises(TypeError, match="'stream' 0 is not allowed"):
        ga.asarray(_Producer(0), dev)

    # DLPack: the producer is handed theon's stream to order its work before
    class DL:
        def __init__(self, inner):
            self.inner, self.seen = inner, []

        def __dlpack_device__(self):
            return self.inner.__dlpack_device__()

        def __dlpack__(self, stream=None, max_version=None):
            self.seen.append(stream)
            return self.inner.__dlpack__(stream=stream, max_version=max_version)

    src = DL(ga.to_gpu(np.ones(2), dev))
    got = ga.from_dlpack(src, dev)
    assert src.seen == [dev.stream_handle] and got.ptr == src.inner.ptr


def test_a_wrapped_launch_sees_replayed_launches(fake):
    """gpu_check.sh counts launches by setting ``device.launch`` on the
    device object: a replay then launches through it, not its prepacked
    parameters, so every launch is counted."""
    dev, drv = fake
    g, _ = _step(dev)
    x = ga.to_gpu(RNG.standard_normal((8, 6)).astype(np.float32), dev)
    g(x)
    drv.calls.clear()
    g(x)
    per_call = drv.count("cuLaunchKernel")
    seen = []
    orig = dev.launch

    def counting(*a):
        seen.append(a[0])
        return orig(*a)
    dev.launch = counting
    try:
        g(x)
    finally:
        del dev.launch
    assert g.host_runner.stats["replayed"] == 2 and len(seen) == per_call > 0
