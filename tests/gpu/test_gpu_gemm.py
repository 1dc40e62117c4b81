"""Matrix-product kernels (codegen/ptx/gemm.py, gemm_step.py, gemm_mma.py).

Plan-level tests run theon functions on the ``device`` fixture (the
emulated GPU; a real GPU where there is one) against NumPy float64:
odd sizes, sizes that are not multiples of any tile, skinny and batched
shapes, transposed operands, TF32 (opt-in) with a TF32 tolerance, and the
matmul epilogue (bias + activation in the product's kernel: one launch).
Kernel-level tests launch the tensor-core kernels directly on the emulator
(f16/bf16 inputs have no theon dtype: their kernels take uint16 patterns),
check the fragment layouts against the PTX ISA's tables, and assemble
every variant with ptxas for sm_80 and sm_90.
"""
import re
import shutil
import subprocess
import types

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx import gemm, gemm_mma
from theon.codegen.ptx.emulator import EMU_SCHEDULE, EmulatedDevice, EmuProgram
from theon.codegen.ptx.gemm_step import GemmStep
from theon.codegen.ptx.plan import Plan
from theon.codegen.ptx.target import GPU_SCHEDULE, PtxTarget, nvptx_available
from theon.runtime.gpu_function import from_function

RNG = np.random.default_rng(18)


def rand(shape, dtype):
    if np.dtype(dtype).kind == "i":
        return RNG.integers(-4, 5, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def tf32_round(x):
    """cvt.rna.tf32.f32: 10-bit mantissa, to nearest, ties away from zero."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return (((u + 0x1000) & 0xFFFFE000).astype(np.uint32)).view(np.float32)


def check_product(got, a, b, dtype, ref=None):
    """``got`` against the float64 product, with a bound that scales with
    sum |a||b| (the error of any summation order)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.matmul(a64, b64) if ref is None else ref
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    if np.dtype(dtype).kind == "i":
        np.testing.assert_array_equal(got, want.astype(dtype))
        return
    scale = np.matmul(np.abs(a64), np.abs(b64))
    eps = {"float32": 2e-6, "float64": 1e-14}[np.dtype(dtype).name]
    k = a.shape[-1] if a.ndim else 1
    assert np.all(np.abs(got - want) <= eps * (k + 4) * scale + 1e-30), np.abs(got - want).max()


def launches(device):
    return getattr(device, "launches", None)


# --- plan level: shapes, dtypes, layouts ---------------------------------------------------------------
SHAPES = [(1, 1, 1), (1, 37, 1), (2, 3, 5), (17, 33, 9), (16, 8, 16), (33, 70, 31), (3, 50, 61),
          (61, 50, 3), (1, 40, 130), (130, 40, 1), (45, 0, 7), (0, 5, 4), (70, 130, 65)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_matrix_products_many_shapes(device, dtype):
    a, b = T.tensor(dtype, shape=(None, None), name="a"), T.tensor(dtype, shape=(None, None), name="b")
    f = theon.function([a, b], [T.dot(a, b), T.dot(b.T, a.T)])
    g = from_function(f, device)
    for m, k, n in SHAPES:
        av, bv = rand((m, k), dtype), rand((k, n), dtype)
        got, got_t = g(av, bv)
        check_product(got, av, bv, dtype)
        check_product(got_t, bv.T, av.T, dtype)


def test_skinny_shapes_pick_skinny_tiles():
    sch = GPU_SCHEDULE
    assert gemm.simt_variant(sch, 1, 4096) == "rows"
    assert gemm.simt_variant(sch, 4096, 8) == "cols"
    assert gemm.simt_variant(sch, 1024, 1024) == "full"
    tiles = gemm.simt_tiles(sch)
    assert (tiles["full"].bm, tiles["full"].bn, tiles["full"].tm, tiles["full"].tn) == (128, 128, 8, 8)
    assert gemm.simt_tiles(sch, "float64")["full"].tm == 4          # 64 doubles would not fit
    for s in (GPU_SCHEDULE, EMU_SCHEDULE):
        for dtype in ("float32", "float64", "int32"):
            tiles = gemm.simt_tiles(s, dtype)
            assert len({t.threads for t in tiles.values()}) == 1
            for t in tiles.values():    # every thread stages >= 1 element of each operand tile
                assert t.bm * t.bk % t.threads == 0 and t.bm * t.bk >= t.threads
                assert t.bn * t.bk % t.threads == 0 and t.bn * t.bk >= t.threads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_broadcast_and_vector_products(device, dtype):
    a3, b3 = T.tensor(dtype, shape=(None, None, None), name="a3"), T.tensor(dtype, shape=(None, None, None), name="b3")
    b2 = T.tensor(dtype, shape=(None, None), name="b2")
    a4 = T.tensor(dtype, shape=(None, None, None, None), name="a4")
    v = T.tensor(dtype, shape=(None,), name="v")
    outs = [T.matmul(a3, b3), T.matmul(a3, b2), T.matmul(a4, b3), T.dot(v[:b2.shape[0]], b2),
            T.dot(b2, v[:b2.shape[1]])]
    g = from_function(theon.function([a3, b3, b2, a4, v], outs), device)
    g_t = from_function(theon.function([a3, b3], T.matmul(a3.dimshuffle(0, 2, 1), b3)), device)
    for bt, m, k, n in [(3, 5, 7, 9), (2, 1, 33, 17), (5, 19, 4, 1)]:
        A3, B3, B2 = rand((bt, m, k), dtype), rand((bt, k, n), dtype), rand((k, n), dtype)
        A4, V = rand((2, 1, m, k), dtype), rand((max(k, n),), dtype)
        got = g(A3, B3, B2, A4, V)
        At = rand((bt, k, m), dtype)
        got_t = g_t(At, B3)
        check_product(got[0], A3, B3, dtype)
        check_product(got[1], A3, B2, dtype)
        check_product(got[2], A4, B3, dtype)
        check_product(got[3], V[:k], B2, dtype)
        check_product(got[4], B2, V[:n], dtype)
        check_product(got_t, At.transpose(0, 2, 1), B3, dtype)


def test_strided_operand_views(device):
    a, b = T.matrix("a"), T.matrix("b")
    f = theon.function([a, b], T.dot(a[::2, 1:], b[:, ::3]))
    g = from_function(f, device)
    av, bv = rand((41, 24), "float64"), rand((23, 50), "float64")
    check_product(g(av, bv), av[::2, 1:], bv[:, ::3], "float64")
    bw = rand((41, 9), "float64")
    f2 = theon.function([a, b], T.dot(a.T[:, ::-1], b))
    check_product(from_function(f2, device)(av, bw), av.T[:, ::-1], bw, "float64")


def test_mismatched_inner_dims_fail_as_on_the_cpu(device):
    a, b = T.matrix("a"), T.matrix("b")
    f = theon.function([a, b], T.nnet.relu(T.dot(a, b) + 1.0))
    g = from_function(f, device)
    with pytest.raises(ValueError) as cpu_err:
        f(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError) as gpu_err:
        g(np.ones((3, 4)), np.ones((5, 2)))
    assert str(gpu_err.value) == str(cpu_err.value)


# --- TF32 --------------------------------------------------------------------------------------------------
def test_tf32_is_opt_in(monkeypatch):
    x, w = T.fmatrix("x"), T.fmatrix("w")
    f = theon.function([x, w], T.dot(x, w))
    assert not theon.config.gpu_allow_tf32
    assert not any(isinstance(s, GemmStep) and s.tf32 for s in Plan(f.ir).steps)
    monkeypatch.setattr(theon.config, "gpu_allow_tf32", True)
    steps = [s for s in Plan(f.ir).steps if isinstance(s, GemmStep)]
    assert steps and all(s.tf32 for s in steps)
    assert any("_tf32" in name for name in Plan(f.ir).kernels)
    assert Plan(f.ir, allow_tf32=False).kernels.keys().isdisjoint({n for n in Plan(f.ir).kernels if "tf32" in n})
    y = T.matrix("y")      # float64 products never use TF32
    f64 = theon.function([y], T.dot(y, y))
    assert not any(getattr(s, "tf32", False) for s in Plan(f64.ir).steps)


def test_tf32_products(device, monkeypatch):
    monkeypatch.setattr(theon.config, "gpu_allow_tf32", True)
    x, w, b = T.fmatrix("x"), T.fmatrix("w"), T.fvector("b")
    f = theon.function([x, w, b], [T.dot(x, w), T.nnet.sigmoid(T.dot(x, w) + b)])
    g = from_function(f, device)
    for m, k, n in [(16, 8, 16), (37, 29, 41), (70, 19, 33), (5, 40, 50)]:
        xv, wv, bv = rand((m, k), "float32"), rand((k, n), "float32"), rand((n,), "float32")
        got, act = g(xv, wv, bv)
        exact = xv.astype(np.float64) @ wv
        scale = np.abs(xv).astype(np.float64) @ np.abs(wv)
        if min(m, n) >= 16:
            # TF32 inputs (10-bit mantissa): products of rounded inputs, f32 sums
            ref = tf32_round(xv).astype(np.float64) @ tf32_round(wv)
            assert np.all(np.abs(got - ref) <= 2e-6 * (k + 4) * scale)
            err = np.abs(got - exact).max() / scale.max()
            assert 1e-7 < err <= 2 * 2.0 ** -11, err       # really TF32, and within its bound
        else:
            check_product(got, xv, wv, "float32")          # skinny: CUDA cores
        want = 1 / (1 + np.exp(-(exact + bv)))
        np.testing.assert_allclose(act, want, atol=4 * 2.0 ** -11 * scale.max())


# --- epilogue fusion ------------------------------------------------------------------------------------
def _plan_kinds(f):
    return [s.kind for s in Plan(f.ir).steps if s.kernels()]


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_bias_and_activation_fused_into_the_product(device, act):
    x, w, b = T.matrix("x"), T.matrix("w"), T.vector("b")
    fn = {"relu": T.nnet.relu, "tanh": T.tanh, "sigmoid": T.nnet.sigmoid}[act]
    npf = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[act]
    f = theon.function([x, w, b], fn(T.dot(x, w) + b))
    assert _plan_kinds(f) == ["matmul+epilogue"]
    desc = [s.describe(__import__("theon.ir.printer", fromlist=["_Namer"])._Namer(f.ir)) for s in Plan(f.ir).steps]
    assert desc[-1]["kind"] == "matmul+epilogue" and "add" in desc[-1]["epilogue"]
    g = from_function(f, device)
    for m, k, n in [(1, 3, 5), (17, 33, 9), (40, 7, 70)]:
        xv, wv, bv = rand((m, k), "float64"), rand((k, n), "float64"), rand((n,), "float64")
        before = launches(device)
        got = g(xv, wv, bv)
        if before is not None:
            assert launches(device) - before == 1          # dot + bias + activation: one launch
        np.testing.assert_allclose(got, npf(xv @ wv + bv), rtol=1e-12, atol=1e-12)


def test_epilogue_with_batches_strided_extras_and_casts(device):
    a3, w, b2 = T.tensor3("a3"), T.matrix("w"), T.matrix("b2")
    out = T.tanh(T.matmul(a3, w) * 2.0 + b2.T) - b2.T[0]
    f = theon.function([a3, w, b2], [out, T.cast(T.dot(w.T, w) + 1.0, "float32")])
    assert _plan_kinds(f).count("matmul+epilogue") == 2
    g = from_function(f, device)
    A, W, B = rand((3, 9, 5), "float64"), rand((5, 11), "float64"), rand((11, 9), "float64")
    got, casted = g(A, W, B)
    np.testing.assert_allclose(got, np.tanh((A @ W) * 2.0 + B.T) - B.T[0], rtol=1e-12, atol=1e-12)
    assert casted.dtype == np.float32
    np.testing.assert_allclose(casted, (W.T @ W + 1.0).astype(np.float32), rtol=1e-6)


def test_epilogue_not_used_when_the_product_is_used_twice_or_broadcast_up(device):
    x, w, b = T.matrix("x"), T.matrix("w"), T.matrix("b")
    y = T.dot(x, w)
    f = theon.function([x, w], [T.nnet.relu(y + 1.0), y])
    assert "matmul+epilogue" not in _plan_kinds(f)
    g = from_function(f, device)
    xv, wv = rand((4, 6), "float64"), rand((6, 5), "float64")
    got = g(xv, wv)
    np.testing.assert_allclose(got[0], np.maximum(xv @ wv + 1, 0), rtol=1e-12)
    # a 1-row product broadcast to 5 rows by its bias: the fallback (plain product, then the group)
    f2 = theon.function([x, w, b], T.nnet.relu(T.dot(x, w) + b))
    g2 = from_function(f2, device)
    xv, bv = rand((1, 6), "float64"), rand((3, 5), "float64")
    before = launches(device)
    got = g2(xv, wv, bv)
    if before is not None:
        assert launches(device) - before == 2
    np.testing.assert_allclose(got, np.maximum(xv @ wv + bv, 0), rtol=1e-12)
    with pytest.raises(ValueError) as cpu_err:
        f2(xv, wv, np.ones((3, 4)))
    with pytest.raises(ValueError) as gpu_err:
        g2(xv, wv, np.ones((3, 4)))
    assert str(gpu_err.value) == str(cpu_err.value)


# --- kernel level: tensor-core kernels and fragments ---------------------------------------------------------
def _run_kernel(spec, grid, block, arrays, scalars, out, schedule=EMU_SCHEDULE):
    dev = EmulatedDevice(schedule)
    plan = types.SimpleNamespace(kernels={spec.name: spec}, func=types.SimpleNamespace(name="gemm_test"))
    prog = EmuProgram(plan, dev.schedule)
    bufs = [dev.upload(np.ascontiguousarray(x)) for x in arrays]
    ob = dev.alloc(out.nbytes)
    dev.launch(prog.handles[spec.name], grid, block, [bufs[0].ptr, bufs[1].ptr, ob.ptr] + list(scalars))
    dev.download(ob.ptr, out)
    return out


def _as_half(x, kind):
    """(uint16 patterns, their float64 values)."""
    if kind == "f16":
        h = x.astype(np.float16)
        return h.view(np.uint16), h.astype(np.float64)
    bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)      # truncated bf16
    return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


@pytest.mark.parametrize("kind", ["tf32", "f16", "bf16"])
@pytest.mark.parametrize("m,k,n,transposed", [(32, 16, 32, False), (37, 29, 41, False), (20, 35, 70, True),
                                              (1, 5, 3, False)])
def test_tensor_core_kernels_on_the_emulator(kind, m, k, n, transposed):
    a, b = rand((m, k), "float32"), rand((k, n), "float32")
    if transposed:
        a = np.ascontiguousarray(rand((k, m), "float32").T)
    if kind == "tf32":
        ia, ib, ra, rb = a, b, tf32_round(a).astype(np.float64), tf32_round(b).astype(np.float64)
    else:
        (ia, ra), (ib, rb) = _as_half(a, kind), _as_half(b, kind)
    ia_T = np.ascontiguousarray(ia.T) if transposed else ia
    sam, sak = (1, m) if transposed else (k, 1)
    spec = gemm.mma_kernel("g", kind, 0)
    tile = gemm.mma_tile(EMU_SCHEDULE, kind)
    out = np.full((m, n), np.nan, np.float32)
    _run_kernel(spec, (2, 2, 1), (tile.threads, 1, 1), [ia_T, ib], [m, n, k, sam, sak, n, 1, 1, 1, k], out)
    ref = ra @ rb
    scale = np.abs(ra) @ np.abs(rb)
    assert np.all(np.abs(out - ref) <= 2e-6 * (k + 4) * scale + 1e-30)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["float32", "float64", "tf32", "f16"])
def test_gpu_schedule_tiles_on_the_emulator(kind):
    """The GPU's own tiles (128x128; 256 threads, 8 warps) run on the
    emulator: one block walks 2 x 2 tiles with grid strides."""
    m, k, n = 130, 19, 150
    a, b = rand((m, k), "float32"), rand((k, n), "float32")
    if kind in ("float32", "float64"):
        a, b = a.astype(kind), b.astype(kind)
        for variant, tile in gemm.simt_tiles(GPU_SCHEDULE, kind).items():
            spec = gemm.simt_kernel("g", kind, 0, variant)
            out = np.full((m, n), np.nan, kind)
            _run_kernel(spec, (1, 1, 1), (tile.threads, 1, 1), [a, b], [m, n, k, k, 1, n, 1, 1, 1, k], out,
                        schedule=GPU_SCHEDULE)
            check_product(out, a, b, kind)
        return
    if kind == "tf32":
        ia, ib, ra, rb = a, b, tf32_round(a).astype(np.float64), tf32_round(b).astype(np.float64)
    else:
        (ia, ra), (ib, rb) = _as_half(a, kind), _as_half(b, kind)
    tile = gemm.mma_tile(GPU_SCHEDULE, kind)
    assert (tile.bm, tile.bn, tile.threads) == (128, 128, 256)
    out = np.full((m, n), np.nan, np.float32)
    _run_kernel(gemm.mma_kernel("g", kind, 0), (1, 1, 1), (tile.threads, 1, 1), [ia, ib],
                [m, n, k, k, 1, n, 1, 1, 1, k], out, schedule=GPU_SCHEDULE)
    assert np.all(np.abs(out - ra @ rb) <= 2e-6 * (k + 4) * (np.abs(ra) @ np.abs(rb)))


def test_fragment_layouts_follow_the_ptx_isa():
    # PTX ISA, "Matrix Fragments for mma.m16n8k8" (.tf32) and ".m16n8k16" (.f16/.bf16):
    # groupID = laneid >> 2, threadID_in_group = laneid % 4
    lane = 13
    g, t = lane >> 2, lane % 4          # 3, 1
    assert [gemm_mma.a_coords("tf32", i, g, t) for i in range(4)] == [(3, 1), (11, 1), (3, 5), (11, 5)]
    assert [gemm_mma.b_coords("tf32", i, g, t) for i in range(2)] == [(1, 3), (5, 3)]
    assert [gemm_mma.a_coords("f16", i, g, t) for i in range(4)] == [(3, 2), (11, 2), (3, 10), (11, 10)]
    assert [gemm_mma.b_coords("f16", i, g, t) for i in range(2)] == [(2, 3), (10, 3)]
    assert [gemm_mma.c_coords(i, g, t) for i in range(4)] == [(3, 2), (3, 3), (11, 2), (11, 3)]
    # every element of A, B, C is held by exactly one (lane, register)
    for kind, (mm, nn, kk) in [("tf32", (16, 8, 8)), ("f16", (16, 8, 16))]:
        half = 2 if kind == "f16" else 1
        a = {(r, c + h) for l in range(32) for i in range(4) for h in range(half)
             for r, c in [gemm_mma.a_coords(kind, i, l >> 2, l % 4)]}
        b = {(r + h, c) for l in range(32) for i in range(2) for h in range(half)
             for r, c in [gemm_mma.b_coords(kind, i, l >> 2, l % 4)]}
        assert a == {(r, c) for r in range(mm) for c in range(kk)}
        assert b == {(r, c) for r in range(kk) for c in range(nn)}
    assert {gemm_mma.c_coords(i, l >> 2, l % 4) for l in range(32) for i in range(4)} == \
        {(r, c) for r in range(16) for c in range(8)}


def test_tf32_rounding_on_the_emulator():
    """The host lowering of cvt.rna.tf32.f32 rounds like the hardware."""
    x = np.concatenate([rand((200,), "float32"),
                        np.array([1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, -(1 + 2.0 ** -11), 1 + 2.0 ** -12,
                                  np.inf, -np.inf, 3.4e38, 1e-40], np.float32)])
    one = np.eye(1, dtype=np.float32)
    spec = gemm.mma_kernel("g", "tf32", 0)
    tile = gemm.mma_tile(EMU_SCHEDULE, "tf32")
    finite = x[np.isfinite(x) & (np.abs(x) < 1e38)]
    a = finite.reshape(-1, 1)
    out = np.zeros((a.shape[0], 1), np.float32)
    _run_kernel(spec, (1, 1, 1), (tile.threads, 1, 1), [a, one], [a.shape[0], 1, 1, 1, 1, 1, 1, 1, 1, 1], out)
    np.testing.assert_array_equal(out[:, 0], tf32_round(finite))
    assert tf32_round(np.float32(1 + 2.0 ** -11)) == np.float32(1 + 2.0 ** -10)      # tie: away from zero


# --- PTX ---------------------------------------------------------------------------------------------------------
def _all_variants():
    specs = []
    for dtype in ("float32", "float64", "int32"):
        for variant in ("full", "rows", "cols"):
            specs.append(gemm.simt_kernel(f"simt_{variant}_{dtype}", dtype, 1, variant))
    for kind in ("tf32", "f16", "bf16"):
        specs.append(gemm.mma_kernel(f"mma_{kind}", kind, 1))
    x, w, b = T.fmatrix("x"), T.fmatrix("w"), T.fvector("b")
    f = theon.function([x, w, b], T.nnet.relu(T.dot(x, w) + b))
    step = [s for s in Plan(f.ir, allow_tf32=True).steps if isinstance(s, GemmStep)][0]
    specs += [s for s in step.kernels() if "_matmul_ep_" in s.name and "wgmma" not in s.name]
    return specs + [gemm.splitk_reduce_kernel("splitk_float64", "float64")]


@pytest.mark.slow
@pytest.mark.parametrize("sm", ["sm_80", "sm_90"])
def test_ptxas_assembles_every_variant(sm, tmp_path):
    if not nvptx_available():
        pytest.skip("llvmlite without the NVPTX back end")
    if shutil.which("ptxas") is None:
        pytest.skip("ptxas not on PATH")
    target = PtxTarget(sm)
    module = target.new_module("gemm")
    specs = _all_variants()
    for spec in specs:
        spec.build(module, target, GPU_SCHEDULE)
    _, ptx = target.compile(module)
    assert "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32" in ptx
    assert "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in ptx
    assert "cvt.rna.tf32.f32" in ptx
    assert "ldmatrix.sync.aligned.m8n8.x4.shared.b16" in ptx and "ldmatrix.sync.aligned.m8n8.x2" in ptx
    assert re.search(r"ld\.shared\.v4\.[bf]32", ptx)       # 128-bit fragment reads
    path = tmp_path / "gemm.ptx"
    path.write_text(ptx)
    r = subprocess.run(["ptxas", "-v", f"-arch={sm}", str(path), "-o", str(tmp_path / "gemm.cubin")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = ptxas_report(r.stderr)
    assert set(info) == {s.name for s in specs}
    assert all(info[s.name]["smem"] > 0 for s in specs if "splitk" not in s.name)    # every product stages tiles
    assert all(info[s.name]["spill"] == 0 for s in specs if s.name.startswith("simt"))
    # launch bounds (.maxntid 256, .minnctapersm 2): two blocks of 256 threads per SM
    capped = [s.name for s in specs if (s.name.startswith("simt") or "tf32" in s.name)
              and s.name != "simt_rows_float64"]          # (gemm.SIMT_MIN_BLOCKS: 1 block, 146-154)
    assert all(info[name]["regs"] <= 128 and info[name]["spill"] == 0 for name in capped), info
    assert ".minnctapersm 2" in ptx


def ptxas_report(text):
    """{kernel: {"regs", "spill" (bytes stored), "smem"}} of ``ptxas -v`` output."""
    out = {}
    for chunk in text.split("Compiling entry function ")[1:]:
        name = re.match(r"'(\w+)'", chunk).group(1)
        num = lambda pat: int((re.search(pat, chunk) or [0, 0])[1])      # noqa: E731
        out[name] = {"regs": num(r"Used (\d+) registers"), "spill": num(r"(\d+) bytes spill stores"),
                     "smem": num(r"(\d+) bytes smem")}
    return out
