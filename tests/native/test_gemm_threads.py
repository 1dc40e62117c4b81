"""The multi-threaded GEMM (codegen/cpu/lower/gemm_kernel.py): products split into
units over the thread pool give exactly the single-threaded results (each
C tile is summed by one thread in the same order) and NumPy's, for every
dtype, odd shapes and block remainders, transposed / negative / sliced
strides, batches, column-split units, more parts than cores, many Python
threads at once, forked children and AOT shared libraries.

Schedules are swapped in through ``linalg.DEFAULT_SCHEDULE`` (read at
lowering time) with the object cache off, since the cache keys on the IR,
not on the schedule."""
import dataclasses
import functools
import multiprocessing

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T
from theon.codegen.cpu import compile_function
from theon.codegen.cpu.lower import linalg
from theon.tests.gemm_helpers import no_object_cache, with_schedule  # noqa: F401
from theon.tests.native_helpers import make_func, run_in_threads, run_native

DEFAULT = linalg.DEFAULT_SCHEDULE
# small blocks, so that small products have many K slices, column chunks and units
TINY = dataclasses.replace(DEFAULT, mc=12, kc=16, nc=64, b_bytes=1 << 12, small=64)
SCHEDULES = {
    "serial": dataclasses.replace(TINY, threaded=0),
    "threaded": dataclasses.replace(TINY, threaded=1, threads=3, split=4),    # more parts than cores
    "two": dataclasses.replace(TINY, threaded=1, threads=2, split=1),
}
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8"]
DTYPES = ["float32", "float64"] + INT_DTYPES
RNG = np.random.default_rng(7)


@functools.lru_cache(maxsize=None)
def matmul_fn(schedule_name, dtype, a_ndim=2, b_ndim=2):
    func = make_func([(dtype, (None,) * a_ndim), (dtype, (None,) * b_ndim)],
                     lambda b, x, y: b("matmul", x, y))
    schedule = SCHEDULES[schedule_name] if schedule_name in SCHEDULES else DEFAULT
    if schedule_name == "default-serial":
        schedule = dataclasses.replace(DEFAULT, threaded=0)
    return func, with_schedule(schedule, lambda: compile_function(func))


def matmul(schedule_name, a, b):
    func, compiled = matmul_fn(schedule_name, a.dtype.name, a.ndim, b.ndim)
    (out,) = run_native(func, [a, b], compiled=compiled)
    return out


def data(shape, dtype):
    if np.dtype(dtype).kind == "f":
        return RNG.uniform(-1, 1, shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)   # products wrap


def check_reference(out, a, b):
    """``out`` against NumPy: float64 sums for floats (with a BLAS-like
    tolerance), NumPy's own wrapping product for ints."""
    if out.dtype.kind == "f":
        ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
        eps = np.finfo(out.dtype).eps
        k = a.shape[-1]
        np.testing.assert_allclose(out, ref, rtol=50 * eps, atol=8 * eps * max(k, 1))
    else:
        np.testing.assert_array_equal(out, np.matmul(a, b))


def check_all(a, b, names=("threaded", "two")):
    """Every threaded schedule gives the serial result bit for bit, and NumPy's."""
    want = matmul("serial", a, b)
    check_reference(want, a, b)
    for name in names:
        got = matmul(name, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=name)


LAYOUTS = ["c", "transposed", "negative", "sliced"]


def laid_out(shape, dtype, layout):
    """A (rows, cols) operand with the given memory layout."""
    rows, cols = shape
    if layout == "transposed":
        return data((cols, rows), dtype).T
    if layout == "negative":
        return data(shape, dtype)[::-1, ::-1]
    if layout == "sliced":
        return data((2 * rows + 1, 3 * cols), dtype)[1::2, ::3]
    return data(shape, dtype)


# --- results ----------------------------------------------------------------------------------------
@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(DTYPES), m=st.integers(2, 70), k=st.integers(1, 60), n=st.integers(2, 90),
       a_layout=st.sampled_from(LAYOUTS), b_layout=st.sampled_from(LAYOUTS))
def test_threaded_equals_serial_and_numpy(dtype, m, k, n, a_layout, b_layout):
    check_all(laid_out((m, k), dtype, a_layout), laid_out((k, n), dtype, b_layout))


S = TINY
NR32 = S.nr_vectors * S.lanes("float32")


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_edges(dtype):
    """Rows, columns and K at, just past and just before the block sizes."""
    for m, k, n in [(S.mr, S.kc, NR32), (S.mr + 1, S.kc + 1, NR32 + 1), (S.mc - 1, 2 * S.kc - 1, S.nc - 1),
                    (S.mc + 1, 3 * S.kc, S.nc + 1), (2 * S.mc + 5, 5, 3 * S.nc + 7), (3, 70, 200)]:
        check_all(data((m, k), dtype), data((k, n), dtype))


def test_few_rows_split_columns():
    """Fewer row blocks than units wanted: units are column chunks (A is
    packed again for each)."""
    for m in [2, 5, 6, 7, 13]:
        check_all(data((m, 40), "float32"), data((40, 700), "float32"))
        check_all(data((m, 33), "int32"), data((33, 300), "int32").T.copy().T)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_batched_products(dtype):
    check_all(data((3, 40, 30), dtype), data((30, 50), dtype))
    check_all(data((2, 1, 17, 9), dtype), data((4, 9, 23), dtype))
    check_all(data((5, 30, 20), dtype).transpose(0, 2, 1), data((5, 30, 41), dtype)[:, ::-1])


def test_one_d_and_skinny_products_are_unchanged():
    for a, b in [(data((70,), "float32"), data((70, 90), "float32")),
                 (data((60, 70), "float64"), data((70,), "float64")),
                 (data((1, 70), "int32"), data((70, 90), "int32")),
                 (data((70, 90), "float32"), data((90, 1), "float32"))]:
        check_all(a, b)


def test_empty_and_zero_k():
    for shape_a, shape_b in [((0, 5), (5, 40)), ((40, 5), (5, 0)), ((40, 0), (0, 50))]:
        check_all(data(shape_a, "float32"), data(shape_b, "float32"))


@pytest.mark.parametrize("m,k,n", [(256, 784, 512), (784, 256, 512), (8, 784, 512), (300, 129, 1000),
                                   (1024, 16, 256)])     # 11 row blocks of MC: 2 column chunks each
def test_default_schedule_big_products(m, k, n):
    """The default schedule threads these; the result is the serial one."""
    for dtype in ["float32", "float64"]:
        a, b = data((m, k), dtype), data((k, n), dtype)
        got = matmul("default", a, b)
        np.testing.assert_array_equal(got, matmul("default-serial", a, b))
        check_reference(got, a, b)


def test_default_schedule_asks_for_threads():
    func, compiled = matmul_fn("default", "float32")
    assert "theon_rt_num_threads" in compiled.llvm_ir and "theon_rt_parallel" in compiled.llvm_ir
    _, serial = matmul_fn("default-serial", "float32")
    assert "theon_rt_num_threads" not in serial.llvm_ir


# --- callers -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dot():
    """theon.function(dot) with every product threaded (three parts, small blocks)."""
    x, y = T.fmatrix("x"), T.fmatrix("y")
    return with_schedule(SCHEDULES["threaded"], lambda: theon.function([x, y], T.dot(x, y)))


def test_many_python_threads_call_at_once(dot):
    """The pool is busy for all but one caller: the others run their parts
    in turn on their own thread, with the same results."""
    cases = [(data((40 + 3 * i, 33), "float32"), data((33, 50 + i), "float32")) for i in range(8)]
    want = [matmul("serial", a, b) for a, b in cases]

    def work(i):
        for _ in range(25):
            np.testing.assert_array_equal(dot(*cases[i]), want[i])

    errors = run_in_threads(work, [(i,) for i in range(len(cases))])
    assert not errors, errors[:2]


_FORK_CASE = {}


def _product_in_child(seed):
    a, b = _FORK_CASE["a"] + seed, _FORK_CASE["b"]
    return _FORK_CASE["dot"](a, b)


def test_forked_children_compute_products(dot):
    a, b = data((97, 45), "float32"), data((45, 130), "float32")
    _FORK_CASE.update(dot=dot, a=a, b=b)
    dot(a, b)                                   # the parent's pool is running
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            got = pool.map(_product_in_child, [0, 1, 2, 3], chunksize=1)
    finally:
        _FORK_CASE.clear()
    for seed, out in enumerate(got):
        np.testing.assert_array_equal(out, matmul("serial", a + seed, b))
    np.testing.assert_array_equal(dot(a, b), matmul("serial", a, b))


AOT_MODEL = """
import theon, theon.tensor as T
x = T.fmatrix("x")
w = T.fmatrix("w")
project = theon.function([x, w], T.dot(x, w) * 2)      # 300 x 400 x 500: threaded by default
"""


def test_aot_shared_library_runs_threaded_products(tmp_path):
    import shutil
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to link the shared library")
    from theon.runtime.aot_cli import main
    src = tmp_path / "model.py"
    src.write_text(AOT_MODEL)
    assert main([str(src), "-o", str(tmp_path), "--emit", "header,shared"]) == 0
    project = theon.runtime.load_library(tmp_path / "libproject.so")
    a, b = data((300, 400), "float32"), data((400, 500), "float32")
    got = project(a, b)
    np.testing.assert_array_equal(got, 2 * matmul("default-serial", a, b))

    def work():
        for _ in range(5):
            np.testing.assert_array_equal(project(a, b), got)

    errors = run_in_threads(work, [() for _ in range(4)])
    assert not errors, errors[:2]
