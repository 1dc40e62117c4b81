"""Convolution in a GPU function (``codegen/ptx/conv_step.py``): a kernel
per ``conv`` (a thread per output), ``conv_grad_input`` (a thread per input
element, gathering) and ``conv_grad_weight`` (a thread per filter element);
results and both gradients agree with the NumPy reference (``ir/ops/conv.py``)
and the CPU function for every border mode, stride, dilation, group count and
flip; the kernels assemble with ptxas; bad shapes give the CPU's error
message. Emulated device everywhere, a real GPU where there is one."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import theon
import theon.tensor as T
from theon.frontend.conv import _conv, border_pads
from theon.ir.ops.conv import conv_forward, conv_grad_input, conv_grad_weight
from theon.runtime.gpu_function import from_function
from theon.tensor.nnet import abstract_conv, conv2d, conv3d

# (x shape, w shape, border_mode, subsample, filter_dilation, num_groups, filter_flip)
CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 2), "valid", (1, 1), (1, 1), 1, True),
    ((1, 2, 5, 6), (3, 2, 2, 3), "full", (2, 1), (1, 1), 1, False),
    ((2, 4, 7, 6), (4, 2, 3, 3), "half", (1, 2), (2, 1), 2, True),
    ((1, 3, 6, 7), (3, 1, 3, 2), (2, 1), (3, 2), (1, 2), 3, False),
    ((1, 2, 5, 6, 4), (2, 2, 2, 3, 2), (1, 0, 2), (2, 1, 2), (1, 2, 1), 1, True),
    ((2, 2, 9), (4, 1, 3), "half", (2,), (2,), 2, True),
]


def _attrs(case):
    _, ws, border, sub, dil, groups, flip = case
    nd = len(ws) - 2
    return {"pad": tuple(border_pads(border, nd)), "stride": tuple(sub), "dilation": tuple(dil), "groups": groups, "flip": flip}


def _conv_nd(x, w, case):
    _, ws, border, sub, dil, groups, flip = case
    nd = len(ws) - 2
    if nd == 2:
        return conv2d(x, w, border_mode=border, subsample=sub, filter_flip=flip, filter_dilation=dil,
                      num_groups=groups)
    if nd == 3:
        return conv3d(x, w, border_mode=border, subsample=sub, filter_flip=flip, filter_dilation=dil,
                      num_groups=groups)
    return _conv(1, x, w, None, None, border, sub, flip, dil, groups, "conv1d")


@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_and_gradients_match_reference_and_cpu(device, case):
    xs, ws = CASES[case][:2]
    typ = T.TensorType("float64", (None,) * len(xs))
    x, w, v = typ("x"), typ("w"), typ("v")
    y = _conv_nd(x, w, CASES[case])
    gx, gw = theon.grad((y * v).sum(), [x, w])
    f = theon.function([x, w, v], [y, gx, gw])
    gf = from_function(f, device)
    kernels = list(gf.plan.kernels)
    for kind in ("conv", "conv_grad_input", "conv_grad_weight"):
        assert any(k.startswith(f"theon_{kind}_float64") for k in kernels), (kind, kernels)
    rng = np.random.default_rng(case)
    attrs = _attrs(CASES[case])
    xv, wv = rng.normal(size=xs), rng.normal(size=ws)
    want_y = conv_forward(xv, wv, attrs)
    vv = rng.normal(size=want_y.shape)
    got = [np.asarray(r) for r in gf(xv, wv, vv)]
    want = [want_y, conv_grad_input(vv, wv, xs, attrs), conv_grad_weight(xv, vv, ws, attrs)]
    for g, r, c, what in zip(got, want, f(xv, wv, vv), ("y", "gx", "gw")):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=what)
        np.testing.assert_allclose(g, c, rtol=1e-12, atol=1e-12, err_msg=what)


@st.composite
def _random_case(draw):
    nd = draw(st.integers(1, 3))
    groups, flip = draw(st.integers(1, 2)), draw(st.booleans())
    ks = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    pad = draw(st.sampled_from(["full", "half", "valid", tuple(draw(st.integers(0, 2)) for _ in range(nd))]))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    sizes = tuple(draw(st.integers(1, 7 if nd < 3 else 4)) for _ in range(nd))
    xs = (draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))) + sizes
    ws = (groups * draw(st.integers(1, 2)), xs[1] // groups) + ks
    return xs, ws, pad, stride, dil, groups, flip


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_random_case(), seed=st.integers(0, 2 ** 16))
def test_random_convolutions_match_the_reference(case, seed):
    """Random geometry (1-3 dims, int/full/half padding, stride, dilation,
    groups, flip), emulated: forward and both gradients against NumPy."""
    from theon.codegen.ptx.emulator import EmulatedDevice
    from theon.ir.ops.conv import out_size
    xs, ws, pad, stride, dil, groups, flip = case
    attrs = {"pad": tuple(border_pads(pad, len(xs) - 2)), "stride": stride, "dilation": dil, "groups": groups,
             "flip": flip}
    assume(all(out_size(xs[2 + i], ws[2 + i], attrs["pad"][i], stride[i], dil[i]) >= 1 for i in range(len(xs) - 2)))
    typ = T.TensorType("float64", (None,) * len(xs))
    x, w, v = typ("x"), typ("w"), typ("v")
    y = _conv_nd(x, w, (xs, ws, pad, stride, dil, groups, flip))
    f = theon.function([x, w, v], [y] + theon.grad((y * v).sum(), [x, w]))
    rng = np.random.default_rng(seed)
    xv, wv = rng.normal(size=xs), rng.normal(size=ws)
    want_y = conv_forward(xv, wv, attrs)
    vv = rng.normal(size=want_y.shape)
    got = from_function(f, EmulatedDevice())(xv, wv, vv)
    want = [want_y, conv_grad_input(vv, wv, xs, attrs), conv_grad_weight(xv, vv, ws, attrs)]
    for g, r in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-12, atol=1e-12)


def test_float32_gradient_ops_with_run_time_shapes(device):
    x, w, gy = T.ftensor4("x"), T.ftensor4("w"), T.ftensor4("gy")
    kw = dict(border_mode=(1, 2), subsample=(2, 1), filter_dilation=(1, 2))
    outs = [abstract_conv.conv2d_grad_wrt_inputs(gy, w, x.shape, **kw),
            abstract_conv.conv2d_grad_wrt_weights(x, gy, w.shape, **kw)]
    f = theon.function([x, w, gy], outs, on_unused_input="ignore")
    gf = from_function(f, device)
    rng = np.random.default_rng(3)
    xv, wv = rng.normal(size=(2, 3, 7, 5)).astype("float32"), rng.normal(size=(2, 3, 3, 2)).astype("float32")
    attrs = {"pad": (1, 2), "stride": (2, 1), "dilation": (1, 2), "groups": 1, "flip": True}
    gyv = rng.normal(size=conv_forward(xv, wv, attrs).shape).astype("float32")
    got = gf(xv, wv, gyv)
    for g, c in zip(got, f(xv, wv, gyv)):
        assert np.asarray(g).dtype == np.float32
        np.testing.assert_allclose(np.asarray(g), c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got[0]), conv_grad_input(gyv.astype("f8"), wv.astype("f8"), xv.shape, attrs),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(__import__("shutil").which("ptxas") is None, reason="ptxas (CUDA toolkit) is not on PATH")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_kernels_assemble_with_ptxas(tmp_path, dtype):
    from .test_ptx import emit_and_assemble
    from theon.frontend.build import build_function
    outs, ins = [], []
    for case in (CASES[2], CASES[4], CASES[5]):
        typ = T.TensorType(dtype, (None,) * len(case[0]))
        x, w, v = typ("x"), typ("w"), typ("v")
        y = _conv_nd(x, w, case)
        outs += [y] + theon.grad((y * v).sum(), [x, w])
        ins += [x, w, v]
    func, _ = build_function(ins, outs)
    compiled = emit_and_assemble(func, tmp_path)
    for kind in ("conv", "conv_grad_input", "conv_grad_weight"):
        assert sum(n.startswith(f"theon_{kind}_{dtype}") for n in compiled.kernel_names) == 3, kind


def _error(fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    return info.type, str(info.value)


def test_bad_shapes_give_the_cpu_error(device):
    x, w, gy = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("gy")
    f = theon.function([x, w], conv2d(x, w, border_mode="half", num_groups=2))
    gf = from_function(f, device)
    g = theon.function([x, w, gy], abstract_conv.conv2d_grad_wrt_weights(x, gy, w.shape),
                       on_unused_input="ignore")
    gg = from_function(g, device)
    rng = np.random.default_rng(5)
    xv, wv = rng.normal(size=(1, 4, 5, 5)), rng.normal(size=(4, 2, 3, 3))
    np.testing.assert_allclose(np.asarray(gf(xv, wv)), f(xv, wv), rtol=1e-12, atol=1e-12)
    bad = [(f, gf, (xv[:, :3], wv), "channel mismatch"),            # 3 channels, filters expect 4
           (f, gf, (xv, wv[:3]), "not a multiple of num_groups"),     # 3 output channels, 2 groups
           (g, gg, (xv[:, :2, :2], wv[:, :2], rng.normal(size=(1, 4, 1, 1))), "larger than the padded input"),
           (g, gg, (xv[:, :2], wv[:, :2], rng.normal(size=(1, 4, 3, 2))), "output gradient")]
    for cpu, gpu, args, what in bad:
        want = _error(cpu, *args)
        assert what in want[1], want
        assert _error(gpu, *args) == want


def test_aot_cuda_target_lowers_conv_and_its_gradients(tmp_path):
    import json
    import shutil
    import subprocess
    from theon.runtime.aot_cli import main
    src = tmp_path / "m.py"
    src.write_text("import theon, theon.tensor as T\n"
                   "from theon.tensor.nnet import conv2d\n"
                   "x = T.ftensor4('x'); w = T.ftensor4('w')\n"
                   "y = T.tanh(conv2d(x, w, border_mode='half', subsample=(2, 2)))\n"
                   "f = theon.function([x, w], [y, theon.grad(y.sum(), w), theon.grad(y.sum(), x)])\n")
    assert main([str(src), "-o", str(tmp_path), "--target", "cuda", "--sm", "sm_80"]) == 0
    steps = json.loads((tmp_path / "f.launch.json").read_text())["steps"]
    conv = {s["name"]: s["launches"][0]["kernel"] for s in steps if s["kind"] == "conv"}
    assert set(conv) == {"conv", "conv_grad_input", "conv_grad_weight"}
    ptx = (tmp_path / "f.ptx").read_text()
    for name, kernel in conv.items():
        assert kernel.startswith(f"theon_{name}_float32_2d_2x2_1x1_g1_f")
        assert f".entry {kernel}(" in ptx
    if shutil.which("ptxas"):
        proc = subprocess.run(["ptxas", "--gpu-name", "sm_80", "-o", "/dev/null", str(tmp_path / "f.ptx")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr



def test_conv_bias_epilogue_on_the_device(device):
    """conv -> bias -> tanh/relu as conv_bias kernels (bias added and the
    activation applied before the store) against the CPU and NumPy; a bias
    of one entry broadcast; a wrong bias length refused on the host."""
    from theon.tensor import nnet
    typ = T.TensorType("float64", (None,) * 4)
    x, w, v, b = typ("x"), typ("w"), typ("v"), T.dvector("b")
    bias = b.dimshuffle("x", 0, "x", "x")
    f = theon.function([x, w, v, b], [T.tanh(conv2d(x, w, border_mode="half") + bias),
                                      nnet.relu(conv2d(x, v, subsample=(2, 1), num_groups=2) + bias)])
    gf = from_function(f, device)
    kernels = list(gf.plan.kernels)
    for act in ("tanh", "relu"):
        assert any(k.startswith("theon_conv_bias_float64") and k.endswith(act) for k in kernels), kernels
    rng = np.random.default_rng(9)
    xv, wv, vv = rng.normal(size=(2, 4, 6, 5)), rng.normal(size=(6, 4, 3, 3)), rng.normal(size=(6, 2, 3, 3))
    a = dict(dilation=(1, 1), flip=True)
    for bv in (rng.normal(size=6), rng.normal(size=1)):
        got, cpu = [np.asarray(r) for r in gf(xv, wv, vv, bv)], f(xv, wv, vv, bv)
        want = [np.tanh(conv_forward(xv, wv, dict(a, pad=(1, 1), stride=(1, 1), groups=1)) + bv[None, :, None, None]),
                np.maximum(conv_forward(xv, vv, dict(a, pad=(0, 0), stride=(2, 1), groups=2))
                           + bv[None, :, None, None], 0)]
        for g, c, r in zip(got, cpu, want):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g, c, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="has size 4 in dim 1"):
        gf(xv, wv, vv, np.zeros(4))
