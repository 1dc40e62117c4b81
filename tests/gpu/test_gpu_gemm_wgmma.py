"""Hopper warpgroup kernels (codegen/ptx/gemm_wgmma.py).

The emulator computes ``wgmma`` by decoding the matrix descriptors like the
hardware, so these tests check the kernel's staging layout, descriptors,
K steps, warpgroup rows and accumulator fragments against NumPy float64
(TF32: inputs rounded as ``cvt.rna``; f16/bf16: uint16 patterns); the
layout helpers are checked against the PTX ISA's canonical layout and
fragment tables; ptxas assembles the kernels for sm_90a (and the plan's
sm_80/sm_90 builds hold no wgmma).
"""
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx import gemm_wgmma as W
from theon.codegen.ptx.emulator import EMU_SCHEDULE, EmulatedDevice
from theon.codegen.ptx.gemm_step import GemmStep
from theon.codegen.ptx.plan import Plan
from theon.codegen.ptx.state import RunState
from theon.codegen.ptx.target import GPU_SCHEDULE, PtxTarget, nvptx_available
from theon.runtime.gpu_function import from_function

from .test_gpu_gemm import _as_half, _run_kernel, ptxas_report, rand, tf32_round


def _inputs(kind, a, b):
    if kind == "tf32":
        return a, b, tf32_round(a).astype(np.float64), tf32_round(b).astype(np.float64)
    (ia, ra), (ib, rb) = _as_half(a, kind), _as_half(b, kind)
    return ia, ib, ra, rb


@pytest.mark.parametrize("kind", ["tf32", "f16", "bf16"])
@pytest.mark.parametrize("m,k,n,transposed", [(64, 16, 32, False), (37, 29, 41, False), (70, 35, 20, True)])
def test_wgmma_kernels_on_the_emulator(kind, m, k, n, transposed):
    """Odd sizes (edge tiles in M, N and K), a transposed A, 2 x 2 blocks
    over 2 x 2 (or more) tiles: grid strides."""
    a, b = rand((m, k), "float32"), rand((k, n), "float32")
    if transposed:
        a = np.ascontiguousarray(rand((k, m), "float32").T)
    ia, ib, ra, rb = _inputs(kind, a, b)
    sam, sak = (1, m) if transposed else (k, 1)
    ia = np.ascontiguousarray(ia.T) if transposed else ia
    tile = W.wgmma_tile(EMU_SCHEDULE, kind)
    out = np.full((m, n), np.nan, np.float32)
    _run_kernel(W.wgmma_kernel("g", kind, 0), (2, 2, 1), (tile.threads, 1, 1), [ia, ib],
                [m, n, k, sam, sak, n, 1, 1, 1, k], out)
    ref = ra @ rb
    assert np.all(np.abs(out - ref) <= 2e-6 * (k + 4) * (np.abs(ra) @ np.abs(rb)) + 1e-30)


def test_descriptor_layout_is_the_canonical_no_swizzle_layout():
    """PTX ISA, K-major, no swizzle: core matrices of 8 rows x 16 bytes;
    LBO between core matrices along K, SBO along M/N. A 64 x 16 f16
    operand with LBO 128, SBO 256 (as in NVIDIA's m64n8k16 example) puts
    element (r, k) at half index (r // 8)*128 + (k // 8)*64 + (r % 8)*8 + k % 8."""
    for r in range(64):
        for k in range(16):
            assert W.element_byte(r, k, 2, 128, 256) == 2 * ((r // 8) * 128 + (k // 8) * 64 + (r % 8) * 8 + k % 8)
    # the kernels' own staging: position p of the buffer is element p (contiguous core matrices)
    for kind, bk in (("tf32", 16), ("f16", 32)):
        size, kc = W.ELEM_BYTES[kind], 16 // W.ELEM_BYTES[kind]
        sbo = W.CORE_BYTES * bk * size // 16
        seen = set()
        for p in range(128 * bk):
            cm, w = divmod(p, 8 * kc)
            rg, kg = divmod(cm, bk // kc)
            r, k = rg * 8 + w // kc, kg * kc + w % kc
            assert W.element_byte(r, k, size, W.CORE_BYTES, sbo) == p * size
            seen.add((r, k))
        assert len(seen) == 128 * bk
    # descriptor bits: start >> 4 in 0-13, LBO >> 4 in 16-29, SBO >> 4 in 32-45, swizzle 0
    desc = (0x1230 >> 4) | ((128 >> 4) << 16) | ((512 >> 4) << 32)
    assert W.descriptor_fields(desc) == {"start": 0x1230, "lbo": 128, "sbo": 512, "base_offset": 0, "swizzle": 0}


def test_accumulator_fragment_layout():
    # PTX ISA, "wgmma .m64nNk*: D": row = 16*warp + groupID (+8 for d2, d3 of each 8 columns),
    # col = 8*(i // 4) + 2*threadID_in_group + (i % 2)
    assert [W.d_coords(i, 2, 3, 1) for i in range(8)] == \
        [(35, 2), (35, 3), (43, 2), (43, 3), (35, 10), (35, 11), (43, 10), (43, 11)]
    for n in (8, 32, 128):
        cells = {W.d_coords(i, w, lane >> 2, lane & 3) for w in range(4) for lane in range(32) for i in range(n // 2)}
        assert cells == {(r, c) for r in range(64) for c in range(n)}


@pytest.fixture
def hopper_emulator():
    dev = EmulatedDevice()
    dev.sm = "sm_90a"          # the plan picks wgmma as on an H100 loaded with sm_90a PTX
    return dev


def _launched(monkeypatch):
    names = []
    launch = RunState.launch

    def record(self, name, grid, block, args):
        names.append(name)
        return launch(self, name, grid, block, args)
    monkeypatch.setattr(RunState, "launch", record)
    return names


def test_plan_picks_wgmma_on_sm90a(hopper_emulator, monkeypatch):
    monkeypatch.setattr(theon.config, "gpu_allow_tf32", True)
    names = _launched(monkeypatch)
    x, w, b = T.fmatrix("x"), T.fmatrix("w"), T.fvector("b")
    f = theon.function([x, w, b], [T.nnet.relu(T.dot(x, w) + b), T.dot(w.T, x.T)])
    g = from_function(f, hopper_emulator)
    xv, wv, bv = rand((37, 29), "float32"), rand((29, 41), "float32"), rand((41,), "float32")
    act, tr = g(xv, wv, bv)
    assert sum("wgmma_tf32" in n for n in names) == 2, names
    ref = tf32_round(xv).astype(np.float64) @ tf32_round(wv)
    scale = np.abs(xv).astype(np.float64) @ np.abs(wv)
    assert np.all(np.abs(act - np.maximum(ref + bv, 0)) <= 2e-6 * 33 * scale + 1e-6)
    assert np.all(np.abs(tr - ref.T) <= 2e-6 * 33 * scale.T)
    names.clear()
    g(xv[:5], wv, bv)                   # M < 16: CUDA cores
    assert not any("wgmma" in n for n in names)


def test_batched_float16_products_on_wgmma(hopper_emulator, monkeypatch):
    """float16 always runs on tensor cores: wgmma_f16 on sm_90a, batches in
    grid.z, the f32 accumulator rounded to float16 in the store."""
    names = _launched(monkeypatch)
    a3, b3 = (T.tensor("float16", shape=(None, None, None), name=n) for n in ("a3", "b3"))
    g = from_function(theon.function([a3, b3], T.matmul(a3, b3.dimshuffle(0, 2, 1))), hopper_emulator)
    A, B = rand((3, 19, 21), "float32").astype(np.float16), rand((3, 35, 21), "float32").astype(np.float16)
    got = g(A, B)
    assert [n for n in names if "matmul" in n] == ["theon_matmul_float16_1b_wgmma_f16"], names
    ref = A.astype(np.float64) @ B.astype(np.float64).transpose(0, 2, 1)
    scale = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64).transpose(0, 2, 1)
    assert got.dtype == np.float16
    assert np.all(np.abs(got - ref) <= 2.0 ** -11 * np.abs(ref) + 2e-6 * 25 * scale + 1e-7)


def test_wgmma_kernels_are_in_the_plan_only_for_tensor_core_products(monkeypatch):
    x = T.fmatrix("x")
    f = theon.function([x], T.dot(x, x))
    assert not any("wgmma" in n for n in Plan(f.ir).kernels)
    assert any("wgmma_tf32" in n for n in Plan(f.ir, allow_tf32=True).kernels)


@pytest.mark.slow
def test_ptxas_assembles_wgmma_for_sm90a(tmp_path):
    if not nvptx_available():
        pytest.skip("llvmlite without the NVPTX back end")
    if shutil.which("ptxas") is None:
        pytest.skip("ptxas not on PATH")
    x, w = T.fmatrix("x"), T.fmatrix("w")
    f = theon.function([x, w], T.tanh(T.dot(x, w)))
    step = [s for s in Plan(f.ir, allow_tf32=True).steps if isinstance(s, GemmStep)][0]
    specs = [W.wgmma_kernel(f"wg_{kind}", kind, 1) for kind in ("tf32", "f16", "bf16")]
    specs += [s for s in step.kernels() if "wgmma" in s.name]
    for sm in ("sm_90a", "sm_90"):
        target = PtxTarget(sm)
        module = target.new_module("wg")
        for spec in specs:
            spec.build(module, target, GPU_SCHEDULE)
        _, ptx = target.compile(module)
        if sm != "sm_90a":      # no wgmma there: the kernels are empty and never launched
            assert "wgmma." not in ptx and "fence.proxy" not in ptx
            continue
        for text in ("wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32",
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16", "wgmma.fence.sync.aligned",
                     "wgmma.commit_group.sync.aligned", "wgmma.wait_group.sync.aligned 0",
                     "fence.proxy.async.shared::cta", "cvt.rna.tf32.f32"):
            assert text in ptx, text
        path = tmp_path / "wg.ptx"
        path.write_text(ptx)
        r = subprocess.run(["ptxas", "-v", "-arch=sm_90a", str(path), "-o", str(tmp_path / "wg.cubin")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "serialized" not in r.stderr            # ptxas found no register use of an in-flight wgmma
        info = ptxas_report(r.stderr)
        assert set(info) == {s.name for s in specs}
        for name, v in info.items():
            assert v["spill"] == 0 and v["smem"] == 32768, (name, v)
