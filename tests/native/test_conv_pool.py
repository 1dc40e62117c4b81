"""conv_pool / pool_grad_mask on the CPU (codegen/cpu/lower/conv_pool.py):
the fused training step (fast_run, the conv-pool pass) against the unfused
one (Mode excluding the pass), forward and every gradient, ties forced by
inputs of few values; LeNet-like and odd shapes (ignore_border both ways,
stride != ws, padding, groups), float32/float64; finite differences;
run-time shape errors; an aot-compile'd shared library."""
import os
import shutil
import textwrap

import numpy as np
import pytest

import theon
from theon.compile.mode import Mode

from ..conv_pool_helpers import conv_pool_graph

UNFUSED = Mode(optimizer="fast_run").excluding("conv-pool")
CC = shutil.which(os.environ.get("CC", "cc"))
_graph = conv_pool_graph


def _pair(kind, act, pool, conv, dtype, grads=True, xshape=(None,) * 4):
    inputs, h = _graph(kind, act, pool, conv, dtype, xshape)
    cost = (h * h).sum() + h.mean()
    outs = [h, cost] + (theon.grad(cost, inputs) if grads else [])
    fused = theon.function(inputs, outs)
    plain = theon.function(inputs, outs, mode=UNFUSED)
    text = str(fused.ir)
    assert "conv_pool(" in text and ("pool_grad_mask(" in text or not grads), text
    assert "conv_pool" not in str(plain.ir)
    return fused, plain, len(inputs)


def _vals(seed, xs, ws, dtype, levels):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    if levels:                       # few values: ties in most windows
        x, w = np.round(x * levels) / levels, np.round(w * levels) / levels
    return [x.astype(dtype), w.astype(dtype), rng.normal(size=ws[0]).astype(dtype)]


CASES = {  # kind, act, pool, conv, x shape, w shape
    "lenet1": ("after", "tanh", dict(ws=(2, 2), ignore_border=True), {}, (9, 1, 28, 28), (20, 1, 5, 5)),
    "lenet2": ("after", "tanh", dict(ws=(2, 2), ignore_border=True), {}, (5, 20, 12, 12), (50, 20, 5, 5)),
    "partial": ("none", "relu", dict(ws=(3, 2), stride=(1, 2), ignore_border=False), dict(subsample=(1, 2)),
                (3, 2, 9, 11), (3, 2, 3, 2)),
    "padded": ("after", "sigmoid", dict(ws=(2, 3), stride=(2, 1), pad=(1, 1), ignore_border=True),
               dict(border_mode="half"), (2, 3, 7, 8), (4, 3, 3, 3)),
    "overlap": ("after", "identity", dict(ws=(2, 4), stride=(1, 3), ignore_border=False), dict(filter_dilation=(2, 1)),
                (2, 2, 10, 13), (3, 2, 2, 3)),
    "before": ("before", "tanh", dict(ws=(2, 2), ignore_border=False), dict(border_mode=1), (3, 2, 7, 6),
               (3, 2, 2, 3)),
    "groups": ("after", "tanh", dict(ws=(2, 2), stride=(3, 1), ignore_border=True), dict(num_groups=2),
               (4, 4, 8, 9), (6, 2, 3, 3)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_step_equals_unfused(name, dtype):
    kind, act, pool, conv, xs, ws = CASES[name]
    fused, plain, n = _pair(kind, act, pool, conv, dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for seed, levels in ((0, None), (1, 2), (2, 1)):
        vals = _vals(seed, xs, ws, dtype, levels)[:n]
        got, want = fused(*vals), plain(*vals)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype and g.shape == w.shape, k
            np.testing.assert_allclose(g, w, err_msg=f"output {k}", **tol)


def test_lenet_ties_bit_exact():
    """Ties everywhere (inputs of a few values): the fused step's values and
    gradients are the unfused step's bit for bit (same GEMM, same maxima,
    the same elements receive the gradient)."""
    kind, act, pool, conv, xs, ws = CASES["lenet1"]
    fused, plain, n = _pair(kind, act, pool, conv, "float32")
    vals = _vals(3, xs, ws, "float32", 1)
    for g, w in zip(fused(*vals), plain(*vals)):
        np.testing.assert_array_equal(g, w)
    vals[0][:] = 0                              # every window ties: all its elements get the gradient
    for g, w in zip(fused(*vals), plain(*vals)):
        np.testing.assert_array_equal(g, w)


def test_finite_differences():
    rng = np.random.default_rng(5)
    inputs, h = _graph("after", "tanh", dict(ws=(2, 2), stride=(1, 2), ignore_border=False), {}, "float64")
    r = theon.shared(rng.uniform(0.5, 1.5, (2, 3, 4, 3)), name="r")
    cost = (h * r).sum()
    f = theon.function(inputs, [cost] + theon.grad(cost, inputs))
    assert "pool_grad_mask" in str(f.ir)
    vals = [rng.normal(size=(2, 2, 6, 7)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)]
    _, *grads = f(*vals)
    eps = 1e-6
    for k, v in enumerate(vals):
        num = np.zeros_like(v)
        for i in range(v.size):
            hi, lo = [a.copy() for a in vals], [a.copy() for a in vals]
            hi[k].flat[i] += eps
            lo[k].flat[i] -= eps
            num.flat[i] = (f(*hi)[0] - f(*lo)[0]) / (2 * eps)
        np.testing.assert_allclose(grads[k], num, rtol=1e-5, atol=1e-6, err_msg=f"input {k}")


def test_run_time_shape_errors():
    """Shapes known only at run time are checked in native code."""
    inputs, h = _graph("after", "tanh", dict(ws=(2, 4), ignore_border=True), {}, "float32")
    f = theon.function(inputs, h)
    assert "conv_pool" in str(f.ir)
    x = np.zeros((2, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match="channel"):
        f(x, np.zeros((4, 2, 3, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="pool"):          # a 4x3 convolution output: no room for ws (2, 4)
        f(x, np.zeros((4, 3, 3, 4), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="shape mismatch"):
        f(x, np.zeros((4, 3, 3, 3), np.float32), np.zeros(3, np.float32))
    assert f(x, np.zeros((4, 3, 3, 3), np.float32), np.zeros(1, np.float32)).shape == (2, 4, 2, 1)


def test_pool_grad_mask_checks_mask_and_gz():
    """pool_grad_mask with mask/gz not fitting the pooled convolution:
    SHAPE_MISMATCH naming the operand, never a wrong read."""
    from theon.codegen.cpu import compile_function
    from theon.ir.parser import parse_function
    text = """func @f(%m: tensor<?x?x?x?xu8>, %g: tensor<?x?x?x?xf32>, %x: tensor<?x?x?x?xf32>, %w: tensor<?x?x?x?xf32>) {
  %0 = pool_grad_mask(%m, %g, %x, %w) {dilation = [1, 1], flip = true, groups = 1, ignore_border = true, pad = [0, 0], pool_pad = [0, 0], pool_stride = [2, 2], pool_ws = [2, 2], stride = [1, 1]} : tensor<?x?x?x?xf32>
  return(%0) {updates = []}
}"""
    func = parse_function(text)
    compiled = compile_function(func)
    from ..native_helpers import run_native
    x, w = np.zeros((2, 1, 9, 9), np.float32), np.zeros((3, 1, 2, 2), np.float32)
    mask = np.full((2, 3, 4, 4), 0b1001, np.uint8)
    g = np.arange(96, dtype=np.float32).reshape(2, 3, 4, 4)
    [gx] = run_native(func, [mask, g, x, w], compiled=compiled)
    want = np.zeros((2, 3, 8, 8), np.float32)
    want[:, :, 0::2, 0::2] = g
    want[:, :, 1::2, 1::2] = g
    np.testing.assert_array_equal(gx, want)
    from theon.codegen.errors import SHAPE_MISMATCH
    from ..native_helpers import NativeError
    # err: code, axis, size, size expected, operand (0: mask, 1: gz)
    with pytest.raises(NativeError) as e:
        run_native(func, [mask[:, :, :3], g[:, :, :3], x, w], compiled=compiled)
    assert e.value.code == SHAPE_MISMATCH and e.value.err[1:] == [2, 3, 4, 0]
    with pytest.raises(NativeError) as e:
        run_native(func, [mask, g[:1], x, w], compiled=compiled)
    assert e.value.code == SHAPE_MISMATCH and e.value.err[1:] == [0, 1, 2, 1]


MODULE = '''
import numpy as np
import theon
import theon.tensor as T
from theon.tensor.nnet import conv2d
from theon.tensor.signal.pool import pool_2d

rng = np.random.default_rng(0)
W = theon.shared(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), name="W")
b = theon.shared(rng.normal(size=4).astype(np.float32), name="b")
x = T.TensorType("float32", (None, 1, 10, 10))("x")
h = T.tanh(pool_2d(conv2d(x, W), ws=(2, 2), ignore_border=True) + b.dimshuffle("x", 0, "x", "x"))
cost = (h * h).sum()
gW, gb = theon.grad(cost, [W, b])
step = theon.function([x], [cost, gW, gb])
'''


@pytest.mark.skipif(CC is None, reason="no C compiler to link the shared library")
def test_aot_compiles_the_fused_step(tmp_path):
    from theon.runtime.aot_cli import main as aot_compile
    src = tmp_path / "cp_model.py"
    src.write_text(textwrap.dedent(MODULE))
    out = tmp_path / "aot"
    assert aot_compile([str(src), "-o", str(out), "--entry", "step", "--emit", "ir,shared", "-O1"]) == 0
    ir = (out / "step.theon").read_text()
    assert "conv_pool(" in ir and "pool_grad_mask(" in ir, ir
    import runpy
    model = runpy.run_path(str(src), run_name="cp_reference")
    lib = theon.runtime.load_library(out / "libstep.so")
    lib.set_state("W", model["W"].get_value())
    lib.set_state("b", model["b"].get_value())
    xv = np.round(np.random.default_rng(1).normal(size=(3, 1, 10, 10)) * 2).astype(np.float32) / 2
    for g, w in zip(lib(xv), model["step"](xv)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_empty_batch():
    inputs, h = _graph("after", "tanh", dict(ws=(2, 2), ignore_border=True), {}, "float32")
    cost = (h * h).sum()
    f = theon.function(inputs, [h] + theon.grad(cost, inputs))
    assert "pool_grad_mask" in str(f.ir)
    got = f(np.zeros((0, 1, 8, 8), np.float32), np.ones((3, 1, 3, 3), np.float32), np.zeros(3, np.float32))
    assert [a.shape for a in got] == [(0, 3, 3, 3), (0, 1, 8, 8), (3, 1, 3, 3), (3,)]
    assert all(not a.any() for a in got)
