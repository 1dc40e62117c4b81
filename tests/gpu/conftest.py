"""Fixtures of the GPU tier."""
import pytest

from theon.codegen.ptx.emulator import EmulatedDevice
from theon.runtime import cuda


@pytest.fixture(params=["emulated", "cuda"], scope="module")
def device(request):
    """The emulated device, and a real CUDA GPU where there is one (that
    case skipped, with the reason, elsewhere)."""
    if request.param == "cuda":
        if not cuda.cuda_available():
            pytest.skip(f"no CUDA GPU here: {cuda.unavailable_reason()}")
        return cuda.default_device()
    return EmulatedDevice()
