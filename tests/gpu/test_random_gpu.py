"""Random streams on the GPU path (emulated device; a real GPU when there
is one): the same numbers as the CPU function from the same states, the
states advanced by the GPU call, and a dropout mask fused after the draw."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.runtime import cuda
from theon.runtime.gpu_function import from_function
from theon.tensor.shared_randomstreams import RandomStreams


@pytest.fixture(params=["emulated", "cuda"], scope="module")
def device(request):
    if request.param == "cuda":
        if not cuda.cuda_available():
            pytest.skip(f"no CUDA GPU here: {cuda.unavailable_reason()}")
        return cuda.default_device()
    return EmulatedDevice()


def test_gpu_draws_the_cpu_numbers(device):
    s = RandomStreams(seed=21)
    x = T.fmatrix("x")
    mask = s.binomial(size=x.shape, p=0.5, dtype="float32")
    outs = [s.uniform((5, 3), dtype="float32"), s.normal((1001,), dtype="float64"), x * mask]
    f = theon.function([x], outs)
    g = from_function(f, device)
    states = [st for st, _ in s.updates()]
    start = [st.get_value() for st in states]
    xv = np.ones((4, 6), np.float32)
    got = g(xv)
    after_gpu = [st.get_value() for st in states]
    for st, v in zip(states, start):
        st.set_value(v)
    want = f(xv)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert got[0].tobytes() == want[0].tobytes()
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(got[2], want[2])
    for v0, v1, st in zip(start, after_gpu, states):
        assert v1.tolist() == [v0[0], v0[1] + 1]              # the GPU call advanced the counter
        assert st.get_value().tolist() == v1.tolist()          # ... as the CPU call did
    assert not np.array_equal(g(xv)[0], got[0])
