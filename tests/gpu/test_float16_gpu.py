"""float16 on the GPU path: buffers load and store as 16-bit patterns,
arithmetic is legalized to float32 (``legalize-f16{target=gpu}``), and a
float16 matrix product runs on the f16 tensor-core kernel (``mma.sync``
m16n8k16, float32 accumulation, rounded to float16 in the store, before
any fused epilogue). Run on the emulator (and a real GPU where there is
one); the PTX assembles with ptxas for sm_80 and sm_90.
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx import compile_ptx
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.gemm_step import GemmStep
from theon.runtime import pipeline
from theon.runtime.gpu_function import from_function

RNG = np.random.default_rng(1661)
EPS16 = float(np.finfo(np.float16).eps)
PTXAS = shutil.which("ptxas")


def f16(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float16)


def bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def assert_bits_equal(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    same = (bits(got) == bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (got[~same][:8], want[~same][:8])


def product_bound(x, y):
    """float32 accumulation of k terms, then one float16 rounding."""
    exact = np.matmul(x.astype(np.float64), y.astype(np.float64))
    mag = np.matmul(np.abs(x.astype(np.float64)), np.abs(y.astype(np.float64)))
    return exact, np.abs(exact) * EPS16 / 2 + x.shape[-1] * 2.0 ** -24 * mag * (1 + EPS16) + 2.0 ** -25


def gemm_steps(g):
    return [s for s in g.plan.steps if isinstance(s, GemmStep)]


def test_float16_products_run_on_the_f16_tensor_core_kernel(device):
    a, b = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    t3 = T.tensor3(dtype="float16")
    f = theon.function([a, b, t3], [T.dot(b.T, a.T), T.matmul(t3, b)])
    g = from_function(f, device)
    steps = gemm_steps(g)
    assert len(steps) == 2 and all(s.f16 for s in steps)
    assert all(name.endswith("_f16") for s in steps for name in s._names(s.name).values())
    for m, k, n in [(1, 1, 1), (37, 29, 41), (5, 70, 3)]:
        A, B, C = f16(m, k), f16(k, n), f16(2, m, k)
        mt, bm = g(A, B, C)
        for got, x, y in [(mt, B.T, A.T), (bm, C, B)]:
            exact, bound = product_bound(x, y)
            assert got.dtype == np.float16 and got.shape == exact.shape
            assert np.all(np.abs(got - exact) <= bound), np.abs(got - exact).max()


def test_fused_epilogue_on_the_f16_kernel(device):
    a, b, c = T.matrix(dtype="float16"), T.matrix(dtype="float16"), T.vector(dtype="float16")
    f = theon.function([a, b, c], T.nnet.relu(T.dot(a, b) + c))
    g = from_function(f, device)
    (step,) = gemm_steps(g)
    assert step.f16 and step.kind == "matmul+epilogue"
    assert step.epilogue.program.in_dtypes[step.epilogue.acc[0]] == "float16"      # the IR's rounded product
    A, B, C = f16(33, 40), f16(40, 19), f16(19)
    got = g(A, B, C)
    exact, bound = product_bound(A, B)
    c64 = C.astype(np.float64)
    want = np.maximum(exact + c64, 0)       # relu is 1-Lipschitz: the product's and the sum's roundings
    assert got.dtype == np.float16
    assert np.all(np.abs(got - want) <= bound + EPS16 * (np.abs(exact) + np.abs(c64)))
    np.testing.assert_allclose(got.astype(np.float64), f(A, B, C).astype(np.float64), rtol=4 * EPS16,
                               atol=40 * 2.0 ** -20)


def test_elementwise_and_reductions_on_the_device_are_numpy(device):
    x, y = T.vector(dtype="float16"), T.vector(dtype="float16")
    m = T.matrix(dtype="float16")
    f = theon.function([x, y, m], [x * y + 1.5, x / y, T.sqrt(abs(x)), T.maximum(x, y), T.cast(x, "float32"),
                                   T.cast(T.cast(x, "float64") * 3, "float16"), T.sum(m, axis=1), x[::-2]])
    g = from_function(f, device)
    a, b, c = f16(1000, scale=4), f16(1000, scale=4), f16(30, 300)
    got = g(a, b, c)
    with np.errstate(all="ignore"):
        assert_bits_equal(got[0], a * b + np.float16(1.5))
        assert_bits_equal(got[1], a / b)
        assert_bits_equal(got[2], np.sqrt(abs(a)))
        assert_bits_equal(got[3], np.maximum(a, b))
        assert_bits_equal(got[4], a.astype(np.float32))
        assert_bits_equal(got[5], (a.astype(np.float64) * 3).astype(np.float16))
        exact = c.astype(np.float64).sum(1)
        mag = np.abs(c.astype(np.float64)).sum(1)
        assert np.all(np.abs(got[6] - exact) <= np.abs(exact) * EPS16 / 2 + 300 * 2.0 ** -24 * mag + 2.0 ** -25)
        assert_bits_equal(got[7], a[::-2])


def test_every_pattern_converts_on_the_device(device):
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    x = T.vector(dtype="float16")
    w = T.vector(dtype="float32")
    g = from_function(theon.function([x, w], [T.cast(x, "float32"), T.cast(w, "float16")]), device)
    mids = ((h[:-1].astype(np.float64) + h[1:].astype(np.float64)) / 2).astype(np.float32)
    vals = np.concatenate([h.astype(np.float32), mids, RNG.standard_normal(5000).astype(np.float32) * 1e3])
    vals = np.concatenate([vals, np.array([0x7F800001, 0xFF812345, 0x7FA00000], np.uint32).view(np.float32)])
    wide, narrow = g(h, vals)
    fin = ~np.isnan(h)
    assert np.array_equal(wide[fin].view(np.uint32), h[fin].astype(np.float32).view(np.uint32))
    assert np.isnan(wide[~fin]).all()
    with np.errstate(all="ignore"):
        assert_bits_equal(narrow, vals.astype(np.float16))
        if isinstance(device, EmulatedDevice):
            # the emulator runs codegen/half.py's integer code: NumPy's NaN payloads exactly
            assert np.array_equal(bits(wide), bits(h.astype(np.float32)))
            assert np.array_equal(bits(narrow), bits(vals.astype(np.float16)))


@pytest.mark.slow
def test_training_step_with_float16_shared_weights(device):
    w = theon.shared((RNG.standard_normal((8, 4)) * 0.3).astype(np.float16), name="w16g")
    x, t = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    loss = -T.sum(T.dot(x, w) * t)          # gradient x^T t: a second float16 product
    step = theon.function([x, t], loss, updates=[(w, w - np.float16(0.01) * theon.grad(loss, w))])
    g = from_function(step, device)
    assert any(s.f16 for s in gemm_steps(g))
    X, Y = f16(16, 8), f16(16, 4)
    w0 = w.get_value().astype(np.float64)
    losses = [float(g(X, Y)) for _ in range(3)]
    assert losses[-1] < losses[0]
    assert w.get_value().dtype == np.float16
    # three steps of w += 0.01 x^T t (each product and update rounded to float16)
    want = w0 + 3 * 0.01 * X.astype(np.float64).T @ Y.astype(np.float64)
    assert np.abs(w.get_value() - want).max() <= 8 * EPS16 * (np.abs(want).max() + 1)


@pytest.mark.parametrize("sm", ["sm_80", "sm_90"])
def test_float16_ptx_uses_cvt_and_mma_and_assembles(sm, tmp_path):
    a, b, c = T.matrix(dtype="float16"), T.matrix(dtype="float16"), T.vector(dtype="float16")
    d = T.vector(dtype="float64")
    f = theon.function([a, b, c, d], [T.nnet.relu(T.dot(a, b) + c), T.dot(a, b) * 2, T.exp(a).sum(axis=0),
                                      T.cast(d, "float16")])
    ir = pipeline.legalize(pipeline.optimize(f.input_ir(), pipeline.for_target(f.mode.pipeline, "gpu")), "gpu")
    assert sum(op.name == "matmul" and op.results[0].dtype == "float16" for op in ir.body.ops) == 1
    m = compile_ptx(ir, sm=sm)
    ptx = m.ptx
    assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in ptx
    assert "cvt.f32.f16" in ptx and "cvt.rn.f16.f32" in ptx and "cvt.rn.f16.f64" in ptx
    assert "__truncsfhf2" not in ptx and "__extendhfsf2" not in ptx
    if PTXAS is None:
        pytest.skip("ptxas is not on PATH")
    path = tmp_path / "k.ptx"
    path.write_text(ptx)
    proc = subprocess.run([PTXAS, "--gpu-name", sm, "-o", os.devnull, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_float16_device_arrays_exchange_by_dlpack():
    from theon import gpuarray as ga
    emu = EmulatedDevice()
    host = f16(3, 5)
    g = ga.from_dlpack(host, emu)
    assert g.dtype == np.float16 and g.ptr == host.ctypes.data
    assert_bits_equal(g.get(), host)
    up = ga.to_gpu(host, emu)
    assert up.__cuda_array_interface__["typestr"] == np.dtype(np.float16).str

    class Producer:
        def __dlpack__(self, stream=None, max_version=None):
            return up.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return up.__dlpack_device__()
    back = ga.from_dlpack(Producer(), emu)
    assert back.dtype == np.float16 and back.ptr == up.ptr
    assert_bits_equal(back.get(), host)


def test_aot_compile_cuda_keeps_float16_products_on_tensor_cores(tmp_path):
    from theon.runtime.aot_cli import main as aot_main
    src = tmp_path / "model16.py"
    src.write_text("import numpy as np\nimport theon\nimport theon.tensor as T\n"
                   "w = theon.shared(np.ones((4, 3), np.float16), name='w')\n"
                   "X = T.tensor('float16', shape=(None, 4), name='X')\n"
                   "predict = theon.function([X], T.nnet.relu(T.dot(X, w)))\n")
    out = tmp_path / "out"
    assert aot_main([str(src), "-o", str(out), "--target", "cuda"]) == 0
    ptx = (out / "predict.ptx").read_text()
    assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in ptx
    assert "const uint16_t *X" in (out / "predict.h").read_text()
    cc = shutil.which("cc")         # (ptxas: test_float16_ptx_uses_cvt_and_mma_and_assembles)
    if cc is not None:
        proc = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-c", "-I", str(out), str(out / "predict_cuda.c"),
                               "-o", str(tmp_path / "host.o")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
