"""The path ``gpu_check.sh`` (../shared/tools, read-only) runs for the
driver-binding and PTX-target tests of ``tests/gpu/test_ptx.py``, from
before the test tiers: the same tests, with the GPU tier's fixtures.
Collected only when named on the command line (``tests/conftest.py``
lists it in ``collect_ignore``), so the suite runs them once."""
import pytest

from .gpu.conftest import cuda_device, device  # noqa: F401 - the GPU tier's fixtures
from .gpu.test_ptx import *  # noqa: F401,F403
from .gpu.test_ptx import stub_driver  # noqa: F401 - a module fixture

pytestmark = pytest.mark.gpu
