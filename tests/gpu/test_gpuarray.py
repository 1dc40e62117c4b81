"""theon.gpuarray: device arrays, the CUDA array interface and DLPack.

On the emulated device, "device memory" is host memory (DLPack kDLCPU), so
the capsule exchange is checked against NumPy's own DLPack support; the
kDLCUDA path is checked on a real ``CudaDevice`` over the fake driver
(``tests/cuda_stub_helpers.py``), where memory is host memory too.
"""
import gc
import sys
import weakref

import numpy as np
import pytest

import theon
import theon.gpuarray as ga
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.state import DeviceTensor
from theon.runtime import cuda
from theon.runtime.gpuarray import live_exports

from ..cuda_stub_helpers import FakeDriver

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]


@pytest.fixture(scope="module")
def emu():
    return EmulatedDevice()


@pytest.fixture
def fake_gpu():
    drv = FakeDriver()
    return cuda.CudaDevice(0, drv=drv), drv


def _values(dtype, shape):
    rng = np.random.default_rng(abs(hash((dtype, shape))) % 1000)
    return (rng.standard_normal(shape) * 50).astype(dtype)


def test_module_is_theon_gpuarray():
    import theon.runtime.gpuarray as runtime_ga
    assert theon.gpuarray is runtime_ga is ga and ga.GpuArray is runtime_ga.GpuArray


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_and_metadata(emu, dtype):
    a = _values(dtype, (3, 5))
    g = ga.to_gpu(a, emu)
    assert g.shape == (3, 5) and g.dtype == np.dtype(dtype) and g.ndim == 2 and g.size == 15
    assert g.strides == a.strides and g.nbytes == a.nbytes and g.device is emu and len(g) == 3
    np.testing.assert_array_equal(g.get(), a)
    np.testing.assert_array_equal(np.asarray(g), a)
    c = g.copy()
    assert c.ptr != g.ptr
    np.testing.assert_array_equal(c.get(), a)


def test_strided_views_and_empty_arrays(emu):
    a = np.arange(24.0).reshape(4, 6)
    g = ga.to_gpu(a, emu)
    for off, shape, strides, want in [(1, (4, 3), (6, 2), a[:, 1::2]), (23, (4, 6), (-6, -1), a[::-1, ::-1]),
                                      (0, (6, 4), (1, 6), a.T), (2, (3, 4), (0, 1), np.broadcast_to(a[0, 2:6], (3, 4)))]:
        v = ga.GpuArray(g.tensor.view(off, shape, strides), emu)
        assert not v.c_contiguous
        np.testing.assert_array_equal(v.get(), want)
        assert v.strides == tuple(s * 8 for s in strides)
        np.testing.assert_array_equal(v.copy().get(), want)
    # a non-contiguous host array goes up contiguous
    np.testing.assert_array_equal(ga.to_gpu(a[:, ::-2], emu).get(), a[:, ::-2])
    e = ga.to_gpu(np.zeros((0, 3)), emu)
    assert e.shape == (0, 3) and e.get().shape == (0, 3)
    z = ga.to_gpu(np.float32(2.5), emu)
    assert z.shape == () and z.get() == np.float32(2.5)
    with pytest.raises(TypeError, match="len"):
        len(z)


def test_bad_input_is_refused(emu):
    with pytest.raises(TypeError, match="dtype complex128"):
        ga.to_gpu(np.ones(3, complex), emu)
    with pytest.raises(TypeError, match="dtype"):
        ga.to_gpu(np.array(["a"]), emu)
    with pytest.raises(TypeError, match="DeviceTensor"):
        ga.GpuArray(np.ones(3), emu)
    g = ga.to_gpu(np.ones(3), emu)
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(g, copy=False) if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else g.__array__(copy=False)
    with pytest.raises(ValueError, match="not"):
        ga.asarray(g, EmulatedDevice())


# --- __cuda_array_interface__ -------------------------------------------------------------------------------
def test_cuda_array_interface(emu, fake_gpu):
    g = ga.to_gpu(np.arange(6, dtype=np.int32).reshape(2, 3), emu)
    cai = g.__cuda_array_interface__
    assert cai == {"shape": (2, 3), "typestr": "<i4", "data": (g.ptr, False), "strides": None, "version": 3,
                   "stream": None}
    v = ga.GpuArray(g.tensor.view(0, (3, 2), (1, 3)), emu)
    assert v.__cuda_array_interface__["strides"] == (4, 12)
    dev, drv = fake_gpu
    d = ga.to_gpu(np.ones(4), dev)
    assert d.__cuda_array_interface__["stream"] == dev.stream_handle != 0


class Foreign:
    """A foreign device array (as a PyTorch/CuPy tensor exposes itself)."""

    def __init__(self, array, stream=None, strides=None, version=3):
        self.array = array          # host memory standing in for device memory
        self.__cuda_array_interface__ = {"shape": array.shape, "typestr": array.dtype.str,
                                         "data": (array.ctypes.data, False), "strides": strides,
                                         "version": version}
        if stream is not None:
            self.__cuda_array_interface__["stream"] = stream


def test_asarray_wraps_a_cuda_array_interface_in_place(emu, fake_gpu):
    base = np.arange(12.0).reshape(3, 4)
    foreign = Foreign(base)
    g = ga.asarray(foreign, emu)
    assert g.ptr == base.ctypes.data and g.owner is foreign
    np.testing.assert_array_equal(g.get(), base)
    t = np.arange(12.0).reshape(3, 4).T
    g2 = ga.asarray(Foreign(t, strides=t.strides), emu)
    np.testing.assert_array_equal(g2.get(), t)
    ref = weakref.ref(foreign)
    del foreign
    gc.collect()
    assert ref() is not None                  # the view keeps its producer alive
    del g
    gc.collect()
    assert ref() is None
    with pytest.raises(TypeError, match="not one theon supports"):
        ga.asarray(Foreign(np.ones(2, np.complex64)), emu)
    with pytest.raises(TypeError, match="multiples of the item size"):
        ga.asarray(Foreign(np.ones(4), strides=(4,)), emu)
    # a producer's stream: theon's stream waits for it (an event, no host wait)
    dev, drv = fake_gpu
    drv.calls.clear()
    ga.asarray(Foreign(np.ones(3), stream=0x777), dev)
    names = [n for n, _ in drv.calls]
    assert names[-2:] == ["cuEventRecord", "cuStreamWaitEvent"] and "cuStreamSynchronize" not in names
    assert drv.calls[-2][1][1].value == 0x777 and drv.calls[-1][1][0] is dev.stream
    assert drv.calls[-1][1][1].value == drv.calls[-2][1][0].value


# --- DLPack -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_imports_emulated_arrays_without_a_copy(emu, dtype):
    a = _values(dtype, (4, 3))
    g = ga.to_gpu(a, emu)
    assert g.__dlpack_device__() == (ga.kDLCPU, 0)
    n_before = live_exports()
    h = np.from_dlpack(g)
    assert h.ctypes.data == g.ptr and h.dtype == a.dtype
    np.testing.assert_array_equal(h, a)
    assert live_exports() == n_before + 1
    del g
    gc.collect()
    np.testing.assert_array_equal(h, a)        # NumPy's view keeps the device buffer alive
    del h
    gc.collect()
    assert live_exports() == n_before           # the deleter ran


def test_numpy_imports_strided_views(emu):
    a = np.arange(20.0).reshape(4, 5)
    g = ga.to_gpu(a, emu)
    v = ga.GpuArray(g.tensor.view(1, (4, 2), (5, 2)), emu)
    np.testing.assert_array_equal(np.from_dlpack(v), a[:, 1:5:2])


def test_unconsumed_capsules_delete_themselves(emu):
    g = ga.to_gpu(np.ones(3), emu)
    n_before = live_exports()
    for versioned in (False, True):
        cap = g.__dlpack__(max_version=(1, 0) if versioned else None)
        assert live_exports() == n_before + 1
        del cap
        gc.collect()
        assert live_exports() == n_before


def test_from_dlpack_imports_numpy_arrays_without_a_copy(emu):
    base = np.arange(10, dtype=np.float32)
    ref = weakref.ref(base)
    g = ga.from_dlpack(base, emu)
    assert g.ptr == base.ctypes.data and g.dtype == np.float32 and g.shape == (10,)
    del base
    gc.collect()
    assert ref() is not None
    np.testing.assert_array_equal(g.get(), np.arange(10, dtype=np.float32))
    del g
    gc.collect()
    assert ref() is None                        # the consumer called NumPy's deleter
    strided = np.arange(12).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(ga.from_dlpack(strided, emu).get(), strided)
    # asarray takes host DLPack producers as they are on the emulated device
    b = np.ones(3)
    assert ga.asarray(b, emu).ptr != b.ctypes.data          # a NumPy array is uploaded


@pytest.mark.parametrize("versioned", [False, True])
def test_round_trip_through_our_own_from_dlpack(emu, versioned):
    a = np.arange(6.0).reshape(2, 3)
    g = ga.to_gpu(a, emu)

    class Producer:
        def __dlpack__(self, stream=None, max_version=None):
            return g.__dlpack__(stream=stream, max_version=(1, 0) if versioned else None)

        def __dlpack_device__(self):
            return g.__dlpack_device__()

    n_before = live_exports()
    h = ga.from_dlpack(Producer(), emu)
    assert h.ptr == g.ptr and h.shape == (2, 3) and h.dtype == np.float64
    np.testing.assert_array_equal(h.get(), a)
    del g
    gc.collect()
    np.testing.assert_array_equal(h.get(), a)
    del h
    gc.collect()
    assert live_exports() == n_before


def test_a_capsule_is_consumed_once(emu):
    g = ga.to_gpu(np.ones(2), emu)
    cap = g.__dlpack__()
    h = ga.from_dlpack(cap, emu)
    with pytest.raises(BufferError, match="consumed only once"):
        ga.from_dlpack(cap, emu)
    np.testing.assert_array_equal(h.get(), np.ones(2))


def test_dlpack_on_a_cuda_device(fake_gpu):
    """The kDLCUDA path: a CudaDevice's arrays export kDLCUDA capsules, wait
    for the consumer's stream, and import each other without copies."""
    dev, drv = fake_gpu
    a = np.arange(8, dtype=np.int64)
    g = ga.to_gpu(a, dev)
    assert g.__dlpack_device__() == (ga.kDLCUDA, 0)
    drv.calls.clear()
    h = ga.from_dlpack(g, dev)              # our own stream: no event needed
    assert h.ptr == g.ptr and not any(n == "cuStreamWaitEvent" for n, _ in drv.calls)
    np.testing.assert_array_equal(h.get(), a)
    cap = g.__dlpack__(stream=0x4242)       # a consumer's stream waits for the upload's event
    assert drv.calls[-1][0] == "cuStreamWaitEvent" and drv.calls[-1][1][0].value == 0x4242
    del cap
    # NumPy refuses device memory; our from_dlpack refuses host memory for a GPU
    with pytest.raises((BufferError, RuntimeError, TypeError)):
        np.from_dlpack(g)
    with pytest.raises(BufferError, match="copy it"):
        ga.from_dlpack(np.ones(3), dev)
    with pytest.raises(BufferError, match="DLPack device"):
        g.__dlpack__(dl_device=(ga.kDLCPU, 0))
    # to_gpu / asarray upload host data to the GPU
    drv.calls.clear()
    u = ga.asarray(np.ones(3), dev)
    assert drv.count("cuMemcpyHtoDAsync_v2") == 1
    np.testing.assert_array_equal(u.get(), np.ones(3))


def test_release_memory_on_a_cuda_device(fake_gpu):
    dev, drv = fake_gpu
    g = ga.to_gpu(np.ones(1000), dev)
    del g
    assert dev.memory_stats()["pooled_bytes"] > 0
    assert ga.release_memory(dev) > 0 and drv.allocated() == 0


def test_empty(emu):
    e = ga.empty((2, 3), "float32", emu)
    assert e.shape == (2, 3) and e.dtype == np.float32 and e.c_contiguous
    with pytest.raises(TypeError, match="complex"):
        ga.empty((2,), "complex64", emu)
    assert isinstance(e.tensor, DeviceTensor) and sys.getrefcount(e) >= 2
