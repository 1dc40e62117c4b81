"""Fixtures of the GPU tier.

THEON_REQUIRE_GPU=1 says a GPU is expected here (a GPU CI runner,
gpu_check.sh): the real-device variants then fail, with the reason, where
they would otherwise be skipped because CUDA is not usable.
"""
import os

import pytest

from theon.codegen.ptx.emulator import EmulatedDevice
from theon.runtime import cuda

NO_GPU = "no CUDA GPU here"


def gpu_required():
    return os.environ.get("THEON_REQUIRE_GPU", "") not in ("", "0")


def skip_or_fail_without_gpu():
    """Skip (or, with THEON_REQUIRE_GPU=1, fail) when CUDA is not usable."""
    if cuda.cuda_available():
        return
    reason = f"{NO_GPU}: {cuda.unavailable_reason()}"
    if gpu_required():
        pytest.fail(f"THEON_REQUIRE_GPU=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(params=["emulated", "cuda"], scope="module")
def device(request):
    """The emulated device, and a real CUDA GPU where there is one (that
    case skipped, with the reason, elsewhere; failed with THEON_REQUIRE_GPU=1)."""
    if request.param == "cuda":
        skip_or_fail_without_gpu()
        return cuda.default_device()
    return EmulatedDevice()


@pytest.fixture
def cuda_device():
    """The real GPU 0 (skipped or failed as ``device``'s cuda case)."""
    skip_or_fail_without_gpu()
    return cuda.default_device()
