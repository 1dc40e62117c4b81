"""The GEMM's packing (codegen/cpu/lower/gemm_tile.py): a row-major A and a
transposed B (elements adjacent along K) are packed by in-register
transposes, TRANSPOSE_BYTES along K at a time, with the K values past the
last whole vector and partial panels copied element by element; the
units of a threaded product are balanced row blocks and column ranges.
Every result is checked against NumPy in float64, for K slices that are
and are not a multiple of the transpose width."""
import dataclasses
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theon.codegen.cpu.lower import linalg
from theon.tests.gemm_helpers import compile_with, no_object_cache, operand as _operand  # noqa: F401
from theon.tests.native_helpers import make_func, run_native

DEFAULT = linalg.DEFAULT_SCHEDULE
SCHEDULES = {
    # K slices of 22: 2 whole vectors of 8 float32 (5 of 4 float64) and a tail, in every slice
    "odd-kc": dataclasses.replace(DEFAULT, kc=22, mc=18, nc=64, b_bytes=1 << 12, small=64, threaded=0),
    "odd-kc-two": dataclasses.replace(DEFAULT, kc=22, mc=18, nc=64, b_bytes=1 << 12, small=64, threaded=1,
                                      threads=2, split=3),
    "default": DEFAULT,
}
RNG = np.random.default_rng(17)


@functools.lru_cache(maxsize=None)
def matmul_fn(schedule, dtype):
    return compile_with(SCHEDULES[schedule], make_func([(dtype, (None, None)), (dtype, (None, None))],
                                                       lambda b, x, y: b("matmul", x, y)))


def check(schedule, a, b):
    func, compiled = matmul_fn(schedule, a.dtype.name)
    (out,) = run_native(func, [a, b], compiled=compiled)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    eps = np.finfo(a.dtype).eps
    assert out.shape == ref.shape and out.dtype == a.dtype
    np.testing.assert_allclose(out, ref, rtol=50 * eps, atol=8 * eps * max(a.shape[1], 1))
    return out


def operand(rows, cols, dtype, layout):
    return _operand(RNG, rows, cols, dtype, layout)


@settings(max_examples=15, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), m=st.integers(1, 40), k=st.integers(1, 70),
       n=st.integers(1, 45), a_layout=st.sampled_from("cts"), b_layout=st.sampled_from("cts"),
       schedule=st.sampled_from(["odd-kc", "odd-kc-two"]))
def test_any_layout_and_size_against_float64(dtype, m, k, n, a_layout, b_layout, schedule):
    check(schedule, operand(m, k, dtype, a_layout), operand(k, n, dtype, b_layout))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_packing_edges(dtype):
    """K at, just before and just past whole transpose vectors and K slices;
    rows and columns at, before and past whole panels."""
    for m, k, n in [(6, 8, 16), (7, 7, 17), (12, 9, 33), (13, 22, 15), (5, 23, 1), (25, 45, 40), (257, 13, 7)]:
        for name in ("odd-kc", "odd-kc-two", "default"):
            a = operand(m, k, dtype, "c")              # adjacent along K: the transposing pack
            b = operand(k, n, dtype, "t")
            want = check(name, a, b)
            if name == "odd-kc-two":                   # threads sum each tile in the serial order
                np.testing.assert_array_equal(want, check("odd-kc", a, b))


def test_balanced_units_cover_every_row_once():
    """Threaded products whose rows do not divide into equal MR-tile blocks
    (256 rows over 8 units, 43 tiles) or into the column chunks give every
    element exactly once: a ones matrix times a ones matrix is K everywhere."""
    for m, k, n in [(256, 40, 70), (259, 31, 10), (7, 30, 300), (785, 17, 33)]:
        a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
        out = check("odd-kc-two", a, b)
        assert (out == k).all()
