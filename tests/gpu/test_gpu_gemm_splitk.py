"""Split-K matrix products (gemm_step.splitk_plan, gemm.splitk_reduce_kernel).

A product whose block tiles fill less than half of the device and whose K
holds at least two slices runs as partial products per K slice (grid.z =
slices x batches, into a workspace), then a reduction kernel that sums the
slices in order (deterministic). On the emulator the slice minimum is
lowered so that small shapes split; results are checked against NumPy
float64, split and unsplit runs agree (bit for bit for integers), and two
split runs give identical bits.
"""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx import gemm_step
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.state import RunState
from theon.codegen.ptx.target import GPU_SCHEDULE
from theon.runtime.gpu_function import from_function

from .test_gpu_gemm import check_product, rand, tf32_round


def test_the_split_rule():
    plan = gemm_step.splitk_plan
    assert plan(GPU_SCHEDULE, 1, 65536, 8) == (32, 2048)             # 64x64 @ K=65536: 32 slices
    assert plan(GPU_SCHEDULE, 64, 4096, 8) == (3, 1368)             # ceil(132 / 64) slices
    assert plan(GPU_SCHEDULE, 66, 65536, 8) == (2, 32768)
    assert plan(GPU_SCHEDULE, 67, 65536, 8) == (1, 65536)           # the tiles fill half the SMs
    assert plan(GPU_SCHEDULE, 1, 511, 8) == (1, 511)                # K too short for two slices
    for tiles, k, bk in [(1, 1000, 8), (3, 5000, 16), (10, 777, 8), (1, 10 ** 6, 32)]:
        nsplit, ksplit = plan(GPU_SCHEDULE, tiles, k, bk)
        assert ksplit % bk == 0 and (nsplit - 1) * ksplit < k <= nsplit * ksplit
        assert nsplit <= gemm_step.SPLITK_MAX and (nsplit == 1 or ksplit >= gemm_step.SPLITK_MIN_SLICE)


def _launched(monkeypatch):
    names = []
    launch = RunState.launch

    def record(self, name, grid, block, args):
        names.append((name, grid))
        return launch(self, name, grid, block, args)
    monkeypatch.setattr(RunState, "launch", record)
    return names


def _functions(dtype):
    """(plain product (and its transpose), batched product, bias + relu product) on the emulator."""
    a, b = T.tensor(dtype, shape=(None, None), name="a"), T.tensor(dtype, shape=(None, None), name="b")
    a3, b3 = T.tensor(dtype, shape=(None, None, None), name="a3"), T.tensor(dtype, shape=(None, None, None), name="b3")
    c = T.tensor(dtype, shape=(None,), name="c")
    dev = EmulatedDevice()
    return (from_function(theon.function([a, b], [T.dot(a, b), T.dot(b.T, a.T)]), dev),
            from_function(theon.function([a3, b3], T.matmul(a3, b3)), dev),
            from_function(theon.function([a, b, c], T.maximum(T.dot(a, b) + c, 0)), dev))


def _first_call(min_slice, monkeypatch, f, *args):
    """``f(*args)`` with the slice minimum ``min_slice`` (a GPU function plans a
    signature on its first call, later calls replay that plan)."""
    monkeypatch.setattr(gemm_step, "SPLITK_MIN_SLICE", min_slice)
    return f(*args)


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_split_k_products_on_the_emulator(dtype, monkeypatch):
    names = _launched(monkeypatch)
    plain, batched, epilogue = _functions(dtype)
    m, k, n = 7, 203, 5                                   # K: 9 slices of 24, the last one short
    av, bv, cv = rand((m, k), dtype), rand((k, n), dtype), rand((n,), dtype)
    a3, b3 = rand((2, 3, 75), dtype), rand((2, 75, 9), dtype)
    whole = _first_call(10 ** 9, monkeypatch, plain, av[:, :-1], bv[:-1])      # another signature: no split
    assert not any("splitk" in name for name, _ in names)
    names.clear()
    got = _first_call(16, monkeypatch, plain, av, bv)
    assert any(name.startswith("theon_splitk_reduce") for name, _ in names), names
    assert max(grid[2] for name, grid in names if "matmul" in name) > 1       # slices in grid.z
    check_product(got[0], av, bv, dtype)
    check_product(got[1], bv.T, av.T, dtype)
    check_product(whole[0], av[:, :-1], bv[:-1], dtype)
    again = plain(av, bv)
    assert all(np.array_equal(x, y) for x, y in zip(got, again))             # deterministic
    if dtype == "int32":                                                      # exact: split == unsplit
        np.testing.assert_array_equal(whole[0], av[:, :-1].astype(np.int64) @ bv[:-1])
    check_product(_first_call(16, monkeypatch, batched, a3, b3), a3, b3, dtype)
    want = np.maximum(av.astype(np.float64) @ bv + cv, 0)
    got_ep = _first_call(16, monkeypatch, epilogue, av, bv, cv)
    tol = 0 if dtype == "int32" else 1e-5 * (np.abs(av).astype(np.float64) @ np.abs(bv)).max()
    assert np.abs(got_ep - want).max() <= tol


def test_split_k_with_tf32(monkeypatch):
    monkeypatch.setattr(theon.config, "gpu_allow_tf32", True)
    names = _launched(monkeypatch)
    f, _, _ = _functions("float32")
    av, bv = rand((17, 150), "float32"), rand((150, 20), "float32")
    got, _ = _first_call(16, monkeypatch, f, av, bv)
    assert any("tf32" in name for name, _ in names) and any("splitk" in name for name, _ in names)
    ref = tf32_round(av).astype(np.float64) @ tf32_round(bv)
    assert np.all(np.abs(got - ref) <= 2e-6 * 154 * (np.abs(av).astype(np.float64) @ np.abs(bv)))
