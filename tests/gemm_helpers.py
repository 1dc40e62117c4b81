"""Shared by the CPU GEMM tests (tests/native/test_gemm_*.py): schedules
swapped in through ``linalg.DEFAULT_SCHEDULE`` (read at lowering time)
with the object cache off (it keys on the IR, not on the schedule), and
operands in every layout."""
import pytest

from theon.codegen.cpu import compile_function
from theon.codegen.cpu.lower import linalg
from theon.config import config


@pytest.fixture(autouse=True, scope="module")
def no_object_cache():
    """Import into a test module: its compiled functions bypass the object cache."""
    saved = config.cache_dir
    config.cache_dir = None
    yield
    config.cache_dir = saved


def with_schedule(schedule, build):
    """``build()`` with ``schedule`` as the GEMM's default schedule."""
    saved = linalg.DEFAULT_SCHEDULE
    linalg.DEFAULT_SCHEDULE = schedule
    try:
        return build()
    finally:
        linalg.DEFAULT_SCHEDULE = saved


def compile_with(schedule, func):
    """(func, its native code compiled with ``schedule``)."""
    return func, with_schedule(schedule, lambda: compile_function(func))


def operand(rng, rows, cols, dtype, layout):
    """(rows, cols) uniform in [-1, 1): 'c' row-major (adjacent along K for
    A), 't' a transposed array (adjacent along K for B), 's' a strided slice
    of a row-major one."""
    if layout == "t":
        return rng.uniform(-1, 1, (cols, rows)).astype(dtype).T
    if layout == "s":
        return rng.uniform(-1, 1, (rows, 2 * cols + 1)).astype(dtype)[:, 1::2]
    return rng.uniform(-1, 1, (rows, cols)).astype(dtype)
