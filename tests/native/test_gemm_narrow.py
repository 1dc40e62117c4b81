"""Narrow products on the blocked GEMM (codegen/cpu/lower/gemm_kernel.py):
a unit of C one panel wide (N <= NR, W6's 10-column products) reads A
where it lies instead of packing it. Every shape with N or K in 1..17,
A and B row-major, transposed or strided, against float64 sums; threaded
results bit-identical to one thread; the ``matmul_update`` helper (an SGD
step's W - lr * A.T @ B) likewise; the last tile's rows past M are never
read (A ends at a guard page)."""
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
SMALL = dataclasses.replace(DEFAULT, kc=16, mc=18, small=16)      # K slices and row blocks in small products
SCHEDULES = {
    "serial": dataclasses.replace(SMALL, threaded=0),
    "threaded": dataclasses.replace(SMALL, threaded=1, threads=3, split=3),
    "default": DEFAULT,
}
RNG = np.random.default_rng(23)


@functools.lru_cache(maxsize=None)
def compiled(kind, schedule, dtype):
    types = [(dtype, (None, None))] * (3 if kind == "update" else 2)
    if kind == "update":
        func = make_func(types, lambda b, x, y, w: b.create("matmul_update", [x, y, w], {"alpha": -0.25}).result)
    else:
        func = make_func(types, lambda b, x, y: b.create("matmul", [x, y]).result)
    return compile_with(SCHEDULES[schedule], func)


def operand(rows, cols, dtype, layout):
    return _operand(RNG, rows, cols, dtype, layout)


def product(kind, schedule, *args):
    func, code = compiled(kind, schedule, args[0].dtype.name)
    return run_native(func, list(args), compiled=code)[0]


def check(a, b, w=None):
    """Serial, threaded and default schedules: NumPy's float64 result within
    BLAS-like bounds, and threaded == serial bit for bit."""
    kind = "matmul" if w is None else "update"
    args = (a, b) if w is None else (a, b, w)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if w is not None:
        ref = w.astype(np.float64) - 0.25 * ref
    eps = np.finfo(a.dtype).eps
    serial = product(kind, "serial", *args)
    assert serial.shape == ref.shape and serial.dtype == a.dtype
    for name in ("serial", "threaded", "default"):
        got = serial if name == "serial" else product(kind, name, *args)
        np.testing.assert_allclose(got, ref, rtol=50 * eps, atol=8 * eps * max(a.shape[1], 1), err_msg=name)
    np.testing.assert_array_equal(product(kind, "threaded", *args), serial)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", range(1, 18))
def test_every_narrow_width(dtype, n):
    for m, k in ((256, 40), (37, 33)):
        for la, lb in (("c", "c"), ("t", "c"), ("c", "t"), ("s", "s")):
            check(operand(m, k, dtype, la), operand(k, n, dtype, lb))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", range(1, 18))
def test_every_short_inner_dim(dtype, k):
    for m, n in ((64, 10), (64, 70), (7, 3)):
        for la, lb in (("c", "c"), ("t", "t")):
            check(operand(m, k, dtype, la), operand(k, n, dtype, lb))


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), m=st.integers(1, 80), k=st.integers(1, 70),
       n=st.integers(1, 20), layouts=st.tuples(*[st.sampled_from("cts")] * 3))
def test_narrow_update_any_layout(dtype, m, k, n, layouts):
    a, b, w = (operand(r, c, dtype, lay) for (r, c), lay in zip(((m, k), (k, n), (m, n)), layouts))
    check(a, b, w)


def test_w6_shapes():
    """W6's products with 10 columns: h @ W2 and W2 - lr * h.T @ d2."""
    h = operand(256, 512, "float32", "c")
    check(h, operand(512, 10, "float32", "c"))
    check(h.T, operand(256, 10, "float32", "c"), operand(512, 10, "float32", "c"))


def test_rows_past_the_last_tile_are_not_read(run_json):
    """A's last row ends at a page that may not be read: the tile past M
    (M = 13: tiles of 6, 6 and 1 rows) must not touch the rows after it."""
    out = run_json("""
        import ctypes, json, mmap
        import numpy as np
        import theon, theon.tensor as T
        page = mmap.PAGESIZE
        libc = ctypes.CDLL(None)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        x, y = T.fmatrix("x"), T.fmatrix("y")
        f = theon.function([x, y], T.dot(x, y))
        errs = []
        for m, k, n, trans in ((13, 512, 10, False), (13, 40, 16, False), (13, 300, 7, True)):
            count = m * k
            pages = -(-4 * count // page)
            mem = mmap.mmap(-1, (pages + 1) * page)
            base = ctypes.addressof(ctypes.c_char.from_buffer(mem))
            assert libc.mprotect(base + pages * page, page, 0) == 0     # PROT_NONE after A
            a = np.frombuffer(mem, np.float32, count=count, offset=pages * page - 4 * count)
            a = a.reshape((k, m)).T if trans else a.reshape((m, k))
            a[...] = np.random.default_rng(m + k).standard_normal(a.shape)
            b = np.random.default_rng(n).standard_normal((k, n)).astype(np.float32)
            got = f(a, b)
            errs.append(float(np.abs(got - a.astype(np.float64) @ b).max()))
            del a
        print(json.dumps(errs))
    """)
    assert max(out) < 1e-3
