"""The non-GEMM GPU kernels of issue 18 on the emulated device (and a real
GPU where there is one): warp-shuffle reductions with several accumulators
and vector loads, softmax in one row kernel (online max/sum), elementwise
maps with 128-bit vector paths and no per-element division. Results are
compared with NumPy (float64 references); launch counts come from the
device; every kernel assembles with ptxas for sm_80 and sm_90."""
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
import theon.tensor.nnet as NN
from theon.codegen.ptx import compile_ptx
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.reduce import splits
from theon.codegen.ptx.target import GPU_SCHEDULE
from theon.runtime.gpu_function import from_function

RNG = np.random.default_rng(18)


def gpu(device, inputs, outputs):
    f = theon.function(inputs, outputs, on_unused_input="ignore")
    return f, from_function(f, device)


_SHARED = {}


def shared_gpu(device, key, build):
    """``gpu(device, *build())`` compiled once per device and ``key``: the
    parametrized cases that vary only the data (sizes, offsets, values) run
    on one compile instead of one each (the emulator's kernel compile is
    most of such a case's time)."""
    if (device, key) not in _SHARED:
        _SHARED[device, key] = gpu(device, *build())
    return _SHARED[device, key]


def rtol(dtype):
    return 2e-5 if np.dtype(dtype) == np.float32 else 1e-11


def close(got, want, dtype):
    got = np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol(dtype), atol=rtol(dtype), equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def launches(device, g, *args):
    before = device.launches if isinstance(device, EmulatedDevice) else None
    out = g(*args)
    return out, (device.launches - before if before is not None else None)


# --- reductions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_reductions_every_axis_and_keepdims(device, dtype):
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    axes = [None, 0, 1, 2, (0, 1), (1, 2), (0, 2)]
    outs = [x.sum(axis=a) for a in axes] + [x.max(axis=a, keepdims=True) for a in axes[:4]]
    outs += [x.min(axis=2), T.argmax(x, axis=1), T.argmin(x)]
    a = (RNG.integers(-50, 50, (5, 37, 9)) if dtype.startswith("int")
         else RNG.standard_normal((5, 37, 9)) * 10).astype(dtype)
    f, g = gpu(device, [x], outs)
    for view in (a, a.transpose(2, 0, 1)[:, ::-1], a[:, 1:, :]):
        got = g(view)
        v64 = view.astype(np.float64) if dtype.startswith("float") else view
        want = [v64.sum(axis=ax).astype(dtype) for ax in axes] + \
               [view.max(axis=ax, keepdims=True) for ax in axes[:4]] + \
               [view.min(axis=2), np.argmax(view, axis=1), np.argmin(view)]
        for k, (gv, w) in enumerate(zip(got, want)):
            close(gv, w, np.asarray(w).dtype)


@pytest.mark.parametrize("n", [1, 3, 31, 1000, 40003])
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_long_sums_vector_path_and_misaligned_views(device, n, offset):
    """Contiguous runs take 128-bit loads when aligned; a view starting one
    or three elements in is not aligned (the strided path); both agree
    with NumPy, split over many blocks or not."""
    def build():
        x = T.tensor("float32", shape=(None,), name="x")
        return [x], [x.sum(), x.max(), T.argmax(x), (x * x).sum()]
    f, g = shared_gpu(device, "long_sums", build)
    base = RNG.standard_normal(n + offset).astype("float32")
    base[(n + offset) // 2] = 7.5
    a = base[offset:]
    got = g(a)
    close(got[0], a.astype(np.float64).sum().astype("float32"), "float32")
    close(got[1], a.max(), "float32")
    assert int(got[2]) == int(np.argmax(a))
    close(got[3], (a.astype(np.float64) ** 2).sum().astype("float32"), "float32")


def test_reduction_splits_fill_the_device_and_are_deterministic(device):
    S, chunk = splits(GPU_SCHEDULE, 1, 16 << 20)
    assert S * 1 >= GPU_SCHEDULE.sm_count and chunk % 8 == 0 and S * chunk >= 16 << 20
    assert splits(GPU_SCHEDULE, 1, 100) == (1, 100)
    x = T.tensor("float32", shape=(None,), name="x")
    f, g = gpu(device, [x], x.sum())
    a = RNG.standard_normal(30011).astype("float32")
    first = g(a)
    assert all(np.array_equal(first, g(a)) for _ in range(2))


def test_empty_and_bool_reductions(device):
    x = T.tensor("float64", shape=(None, None), name="x")
    f, g = gpu(device, [x], [x.sum(axis=0), x.sum(axis=1), x.prod(), T.gt(x, 0).sum(axis=1)])
    for a in (np.zeros((0, 4)), np.zeros((3, 0)), RNG.standard_normal((3, 70))):
        got = g(a)
        close(got[0], a.sum(axis=0), "float64")
        close(got[1], a.sum(axis=1), "float64")
        close(got[2], a.prod(), "float64")
        close(got[3], (a > 0).sum(axis=1), "int64")


# --- softmax family ------------------------------------------------------------------------------------
def _softmax(a):
    a = a.astype(np.float64)
    with np.errstate(all="ignore"):
        m = a.max(axis=-1, keepdims=True)
        e = np.exp(a - m)
        return e / e.sum(axis=-1, keepdims=True)


def _rows(dtype, shape):
    a = RNG.standard_normal(shape) * 4
    if shape[0] >= 6 and shape[-1] >= 4:
        a[1, :] = -np.inf                # every term NaN, as NumPy
        a[2, 1] = np.inf
        a[3, 2] = np.nan
        a[4, : shape[-1] // 2] = -np.inf  # -inf before any finite value (online rescaling)
        a[5, :] = 1e4                    # huge but equal
        a[5, -1] = -1e4
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7, 1), (9, 5), (6, 33), (7, 300), (3, 4, 70)])
def test_softmax_one_kernel(device, dtype, shape):
    def build():
        x = T.tensor(dtype, shape=(None,) * len(shape), name="x")
        return [x], NN.softmax(x)
    f, g = shared_gpu(device, ("softmax", dtype, len(shape)), build)
    assert [s.kind for s in g.plan.steps if s.kernels()] == ["fused-rows"]
    a = _rows(dtype, shape)
    with np.errstate(all="ignore"):
        got, n = launches(device, g, a)
        want = f(a)
    assert n in (None, 1)
    close(got, _softmax(a).astype(dtype), dtype)
    close(got, want, dtype)
    a_t = np.ascontiguousarray(a.swapaxes(0, -1)).swapaxes(0, -1)      # a non-contiguous view, same values
    close(g(a_t), got, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 3), (8, 129)])
def test_log_softmax_and_crossentropy(device, dtype, shape):
    def build():
        x = T.tensor(dtype, shape=(None, None), name="x")
        y = T.ivector("y")
        nll, sm = NN.crossentropy_softmax_1hot(x, y)
        return [x, y], [NN.log_softmax(x), nll, sm]
    f, g = shared_gpu(device, ("xent", dtype), build)
    assert any(s.kind == "fused-rows" for s in g.plan.steps)
    for k in (0, 1):            # log_softmax, nll alone: one kernel each (cross-entropy: + its arange)
        def alone(k=k):
            ins, outs = build()
            return ins, outs[k]
        fo, go = shared_gpu(device, ("xent", dtype, k), alone)
        rows = [s for s in go.plan.steps if s.kind == "fused-rows"]
        assert len(rows) == 1 and len(rows[0].group.members) >= 3
        assert [s.kind for s in go.plan.steps if s.kernels() and s.kind != "arange"] == ["fused-rows"]
    a = _rows(dtype, shape)
    labels = RNG.integers(0, shape[1], shape[0]).astype("int32")
    with np.errstate(all="ignore"):
        got = g(a, labels)
        want = f(a, labels)
        a64 = a.astype(np.float64)
        m = a64.max(axis=1, keepdims=True)
        lsm = a64 - m - np.log(np.exp(a64 - m).sum(axis=1, keepdims=True))
    close(got[0], lsm.astype(dtype), dtype)
    close(got[1], (-lsm[np.arange(shape[0]), labels]).astype(dtype), dtype)
    close(got[2], _softmax(a).astype(dtype), dtype)
    for gv, w in zip(got, want):
        close(gv, w, dtype)


# --- elementwise maps ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8"])
def test_broadcasting_maps_odd_sizes_and_views(device, dtype):
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    r = T.tensor(dtype, shape=(None, None), name="r")
    s = T.tensor(dtype, shape=(), name="s")
    f, g = gpu(device, [x, r, s], [x * r + s, x - s, (x + x) * r])
    mk = (lambda sh: RNG.integers(-9, 9, sh).astype(dtype)) if dtype.startswith("int") else \
        (lambda sh: RNG.standard_normal(sh).astype(dtype))
    for shape in [(1, 1, 1), (3, 5, 7), (2, 13, 33), (4, 1, 9)]:
        big = mk((shape[0], shape[1], shape[2] + 3))
        for xv in (big[..., :shape[2]], big[..., 1: shape[2] + 1], big[..., 3:]):
            rv = mk((shape[1] + 1, shape[2]))[1:]          # misaligned, broadcast along dim 0
            sv = np.asarray(mk(()))
            got = g(xv, rv, sv)
            with np.errstate(all="ignore"):
                want = [xv * rv + sv, xv - sv, (xv + xv) * rv]
            for gv, w in zip(got, want):
                close(gv, w.astype(dtype), dtype)


@pytest.mark.parametrize("n", [1, 4, 5, 63, 1001])
@pytest.mark.parametrize("offset", [0, 1])
def test_contiguous_maps_vector_path_and_tail(device, n, offset):
    def build():
        x, y = T.vectors("x", "y")
        return [x, y], [T.exp(x) * y, x + 1.0]
    f, g = shared_gpu(device, "maps", build)
    xs = RNG.standard_normal(n + offset)[offset:]
    ys = RNG.standard_normal(n + 1)[1:]
    got = g(xs, ys)
    close(got[0], np.exp(xs) * ys, "float64")
    close(got[1], xs + 1.0, "float64")


# --- PTX ----------------------------------------------------------------------------------------------------
def _functions():
    x = T.tensor("float32", shape=(None,), name="x")
    m = T.tensor("float32", shape=(None, None), name="m")
    d = T.tensor("float64", shape=(None, None), name="d")
    i = T.tensor("int64", shape=(None, None), name="i")
    y = T.ivector("y")
    return {
        "sum": ([x], [x.sum(), T.argmax(x)]),
        "reduce2d": ([d, i], [d.sum(axis=0), d.max(axis=1), i.sum(axis=1), T.argmin(i, axis=0)]),
        "softmax": ([m], [NN.softmax(m)]),
        "logsoftmax_xent": ([d, y], [NN.log_softmax(d), NN.crossentropy_softmax_1hot(d, y)[0]]),
        "maps": ([m, x], [T.exp(m) * x + 1, m.T * 2]),
    }


@pytest.mark.skipif(shutil.which("ptxas") is None, reason="ptxas is not on the PATH")
@pytest.mark.parametrize("name", sorted(_functions()))
def test_ptxas_assembles_for_sm80_and_sm90(name, tmp_path):
    ins, outs = _functions()[name]
    f = theon.function(ins, outs)
    for sm in ("sm_80", "sm_90"):
        mod = compile_ptx(f.ir, sm=sm)
        path = tmp_path / f"{name}_{sm}.ptx"
        path.write_text(mod.ptx)
        r = subprocess.run(["ptxas", "-v", f"-arch={sm}", str(path), "-o", str(tmp_path / "out.cubin")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        assert " 0 bytes spill stores" in r.stderr or "spill" not in r.stderr
        if name in ("sum", "reduce2d", "softmax"):
            assert "shfl.sync.bfly" in mod.ptx
        if name == "sum":
            assert "ld.global.v4" in mod.ptx


def test_row_group_falls_back_when_a_member_broadcasts_wider(device):
    """A member whose iteration space is bigger than the row op's at run
    time (x is 1 x C, z is R x C): the members run as their own steps."""
    x, z = T.matrix("x"), T.matrix("z")
    m = x.max(axis=1, keepdims=True)
    out = (x - m - T.log(T.exp(x - m).sum(axis=1, keepdims=True))) + z
    f, g = gpu(device, [x, z], out)
    a = RNG.standard_normal((4, 7))
    zs = RNG.standard_normal((4, 7))
    ref = a - a.max(1, keepdims=True) - np.log(np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True))
    close(g(a, zs), ref + zs, "float64")
    close(g(a[:1], zs), ref[:1] + zs, "float64")
    close(g(a[:1], zs), f(a[:1], zs), "float64")
    with pytest.raises(ValueError) as gpu_err:
        g(a, zs[:3])
    with pytest.raises(ValueError) as cpu_err:
        f(a, zs[:3])
    assert str(gpu_err.value) == str(cpu_err.value)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_few_very_long_rows_take_the_split_path(device, which):
    """Rows longer than LONG_ROW_BLOCKS blocks, fewer than the SMs: the
    stages run as their own kernels (many blocks per row), same results."""
    from theon.codegen.ptx.rows import long_rows
    x = T.matrix("x")
    f, g = gpu(device, [x], getattr(NN, which)(x))
    sch = getattr(device, "schedule", GPU_SCHEDULE)
    C = 64 * sch.block + 7
    assert long_rows(sch, 2, C) and not long_rows(sch, 2, 100)
    a = RNG.standard_normal((2, C))
    a[0, :50] = -np.inf
    got, n = launches(device, g, a)
    assert n is None or n > 1
    close(got, f(a), "float64")
    a64 = a - a.max(axis=1, keepdims=True)
    ls = a64 - np.log(np.exp(a64).sum(axis=1, keepdims=True))
    close(got, ls if which == "log_softmax" else np.exp(ls), "float64")
