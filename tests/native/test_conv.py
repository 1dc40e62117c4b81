"""Convolution in native code (codegen/cpu/lower/conv.py): compiled conv2d,
its gradients, conv3d and conv1d-shaped ops against direct loops
(tests/ir/test_conv_ops.loops) for every border mode, stride, dilation,
group count and flip in float32 and float64; gradients against finite
differences; the batch split over threads; shape errors known only at run
time (a ValueError naming the problem, never a crash); aot-compile of an
entry using conv2d."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor.nnet import abstract_conv, conv2d, conv3d

from ..ir.test_conv_ops import loops

from theon.ir.ops.conv import conv_forward, conv_grad_input, conv_grad_weight

BORDERS = ["valid", "full", "half", 1, (2, 0)]
# (subsample, filter_dilation, num_groups, filter_flip): each value of each appears
VARIANTS = [((1, 1), (1, 1), 1, True), ((2, 2), (2, 1), 2, False), ((2, 1), (1, 1), 2, True),
            ((1, 1), (2, 1), 1, False)]


def _pad(border, nd):
    if border == "valid":
        return (0,) * nd
    if isinstance(border, str):
        return (border,) * nd
    return (border,) * nd if isinstance(border, int) else border


def _reference(X, W, GY, border, s, d, g, flip):
    """(y, gx, gw) in float64 from the NumPy reference (ir/ops/conv.py, which
    tests/ir/test_conv_ops.py checks against direct loops)."""
    a = dict(pad=_pad(border, X.ndim - 2), stride=tuple(s), dilation=tuple(d), groups=g, flip=flip)
    X, W = X.astype(np.float64), W.astype(np.float64)
    y = conv_forward(X, W, a)
    if GY is None:
        return y
    GY = GY.astype(np.float64)
    return y, conv_grad_input(GY, W, X.shape, a), conv_grad_weight(X, GY, W.shape, a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("border", BORDERS, ids=str)
def test_conv2d_and_gradients_match_the_reference(dtype, border):
    """One compiled function per (dtype, border mode) holding the stride x
    dilation x groups x flip variants, with both gradients of sum(y * gy)."""
    rng = np.random.default_rng(abs(hash((dtype, str(border)))) % 2 ** 32)
    variants = VARIANTS if dtype == "float64" else VARIANTS[1:3]
    x = T.tensor(dtype, shape=(None,) * 4, name="x")
    outs, ws, gys = [], [], []
    for k, (s, d, g, flip) in enumerate(variants):
        w = T.tensor(dtype, shape=(None,) * 4, name=f"w{k}")
        gy = T.tensor(dtype, shape=(None,) * 4, name=f"gy{k}")
        y = conv2d(x, w, border_mode=border, subsample=s, filter_dilation=d, num_groups=g, filter_flip=flip)
        outs += [y] + theon.grad((y * gy).sum(), [x, w])
        ws.append(w)
        gys.append(gy)
    f = theon.function([x] + ws + gys, outs)
    X = rng.standard_normal((2, 4, 8, 7)).astype(dtype)
    W, GY, expected = [], [], []
    for s, d, g, flip in variants:
        Wk = rng.standard_normal((6, 4 // g, 3, 2)).astype(dtype)
        GYk = rng.standard_normal(_reference(X, Wk, None, border, s, d, g, flip).shape).astype(dtype)
        expected += list(_reference(X, Wk, GYk, border, s, d, g, flip))
        W.append(Wk)
        GY.append(GYk)
    got = f(X, *W, *GY)
    tol = 1e-4 if dtype == "float32" else 1e-11
    for k, (a, e) in enumerate(zip(got, expected)):
        assert a.dtype == dtype and a.shape == e.shape, (k, a.shape, e.shape)
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=f"{variants[k // 3]} result {k % 3}")


def test_one_case_against_direct_loops():
    """The compiled code against the loops themselves (not only the reference)."""
    rng = np.random.default_rng(3)
    x, w, gy = T.ftensor4("x"), T.ftensor4("w"), T.ftensor4("gy")
    y = conv2d(x, w, border_mode="half", subsample=(2, 1), filter_dilation=(1, 2), num_groups=2)
    f = theon.function([x, w, gy], [y] + theon.grad((y * gy).sum(), [x, w]))
    X = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    W = rng.standard_normal((4, 2, 3, 2)).astype(np.float32)
    GY = rng.standard_normal((2, 4, 4, 6)).astype(np.float32)
    for got, want in zip(f(X, W, GY), loops(X, W, ("half", "half"), (2, 1), (1, 2), 2, True, GY)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nd", [1, 3])
def test_conv1d_and_conv3d(nd):
    """The ops' other spatial ranks: conv3d from the DSL, 1-d via the op."""
    rng = np.random.default_rng(nd)
    spatial, kern = ((11,), (3,)) if nd == 1 else ((6, 5, 7), (3, 2, 3))
    x = T.tensor("float64", shape=(None,) * (nd + 2), name="x")
    w = T.tensor("float64", shape=(None,) * (nd + 2), name="w")
    cases = [("valid", 1, 1, 1, True), ("half", 2, 1, 2, False), ("full", 1, 2, 1, True), (1, 2, 2, 2, True)]
    outs = []
    for border, s, d, g, flip in cases:
        if nd == 3:
            y = conv3d(x, w[:, :4 // g], border_mode=border, subsample=(s,) * 3, filter_dilation=(d,) * 3,
                       num_groups=g, filter_flip=flip)
        else:
            from theon.frontend.basic import apply_op
            y = apply_op("conv", x, w[:, :4 // g], pad=_pad(border, 1), stride=(s,), dilation=(d,), groups=g,
                         flip=flip)
        outs += [y] + theon.grad((y ** 2).sum() / 2, [x, w])
    f = theon.function([x, w], outs)
    X = rng.standard_normal((2, 4) + spatial)
    Wf = rng.standard_normal((4, 4) + kern)
    got = f(X, Wf)
    for k, (border, s, d, g, flip) in enumerate(cases):
        Wk = Wf[:, :4 // g]
        y = _reference(X, Wk, None, border, (s,) * nd, (d,) * nd, g, flip)
        _, gx, gw = _reference(X, Wk, y, border, (s,) * nd, (d,) * nd, g, flip)
        np.testing.assert_allclose(got[3 * k], y, atol=1e-11)
        np.testing.assert_allclose(got[3 * k + 1], gx, atol=1e-11)
        gw_full = np.zeros_like(Wf)
        gw_full[:, :4 // g] = gw
        np.testing.assert_allclose(got[3 * k + 2], gw_full, atol=1e-11)


def _fd(f, args, i, eps=1e-6):
    args = [a.copy() for a in args]
    g = np.zeros_like(args[i])
    for idx in np.ndindex(*g.shape):
        old = args[i][idx]
        args[i][idx] = old + eps
        hi = f(*args)
        args[i][idx] = old - eps
        lo = f(*args)
        args[i][idx] = old
        g[idx] = (hi - lo) / (2 * eps)
    return g


@pytest.mark.parametrize("border, s, d, g", [("valid", 2, 1, 1), ("half", 1, 2, 2), ("full", 2, 1, 2)])
def test_gradients_against_finite_differences(border, s, d, g):
    """Through a nonlinear cost, second order included (the gradient ops'
    own gradients)."""
    rng = np.random.default_rng(5)
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, border_mode=border, subsample=(s, s), filter_dilation=(d, d), num_groups=g)
    cost = T.tanh(y).sum()
    gx, gw = theon.grad(cost, [x, w])
    cost2 = (gx ** 2).sum() + (gw ** 2).sum()
    # one compiled function (its compile is what this test costs): both costs for the differences too
    f = theon.function([x, w], [cost, cost2, gx, gw] + theon.grad(cost2, [x, w]))
    fc, fc2 = (lambda *a: f(*a)[0]), (lambda *a: f(*a)[1])
    X = rng.standard_normal((1, 2, 5, 4))
    W = rng.standard_normal((4, 2 // g, 3, 2))
    GX, GW, GGX, GGW = f(X, W)[2:]
    for got, fn, i in ((GX, fc, 0), (GW, fc, 1), (GGX, fc2, 0), (GGW, fc2, 1)):
        np.testing.assert_allclose(got, _fd(fn, [X, W], i), rtol=1e-5, atol=1e-6)


def test_transpose_and_explicit_gradient_functions():
    rng = np.random.default_rng(6)
    gy, w, x = T.dtensor4("gy"), T.dtensor4("w"), T.dtensor4("x")
    n = T.lscalar("n")
    t = abstract_conv.conv2d_transpose(gy, w, (n, 3, 9, 9), border_mode="half", input_dilation=(2, 2))
    gw = abstract_conv.conv2d_grad_wrt_weights(x, gy, (4, 3, 3, 3), border_mode="half", subsample=(2, 2))
    gi = abstract_conv.conv2d_grad_wrt_inputs(gy, w, x.shape, border_mode="half", subsample=(2, 2))
    f = theon.function([gy, w, x, n], [t, gw, gi])
    X = rng.standard_normal((2, 3, 9, 9))
    W = rng.standard_normal((4, 3, 3, 3))
    GY = rng.standard_normal((2, 4, 5, 5))
    T_, GW, GI = f(GY, W, X, 2)
    _, gx, gw_ = _reference(X, W, GY, "half", (2, 2), (1, 1), 1, True)
    np.testing.assert_allclose(T_, gx, atol=1e-11)
    np.testing.assert_allclose(GI, gx, atol=1e-11)
    np.testing.assert_allclose(GW, gw_, atol=1e-11)
    # output_shape 10x10 also gives 5x5 outputs with stride 2: the transpose is wider
    t10 = theon.function([gy, w], abstract_conv.conv2d_transpose(gy, w, (2, 3, 10, 10), border_mode="half",
                                                                   input_dilation=(2, 2)))(GY, W)
    assert t10.shape == (2, 3, 10, 10)
    np.testing.assert_allclose(t10[:, :, :9, :9], gx, atol=1e-11)
    # Theano's op classes: the spatial shape given, batch and channels from the operands
    gi = abstract_conv.AbstractConv2d_gradInputs(border_mode="half", subsample=(2, 2))(w, gy, (9, 9))
    gw2 = abstract_conv.AbstractConv2d_gradWeights(border_mode="half", subsample=(2, 2))(x, gy, (3, 3))
    GI2, GW2 = theon.function([gy, w, x], [gi, gw2])(GY, W, X)
    np.testing.assert_allclose(GI2, gx, atol=1e-11)
    np.testing.assert_allclose(GW2, gw_, atol=1e-11)


def test_threads_over_the_batch_and_strided_inputs():
    """A convolution big enough to split the batch over the pool; inputs
    that are views (transposed, sliced) give the same numbers."""
    rng = np.random.default_rng(7)
    x, w = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(x.dimshuffle(0, 1, 3, 2), w, border_mode="half")
    gx, gw = theon.grad((y ** 2).sum() / 2, [x, w])
    f = theon.function([x, w], [y, gx, gw])
    X = rng.standard_normal((32, 3, 20, 18)).astype(np.float32)
    W = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    Y, GX, GW = f(X, W)
    a = dict(pad=("half", "half"), stride=(1, 1), dilation=(1, 1), groups=1, flip=True)
    Xt = X.transpose(0, 1, 3, 2).astype(np.float64)
    ry = conv_forward(Xt, W.astype(np.float64), a)
    np.testing.assert_allclose(Y, ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(GX, conv_grad_input(ry, W.astype(np.float64), Xt.shape, a).transpose(0, 1, 3, 2),
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(GW, conv_grad_weight(Xt, ry, W.shape, a), rtol=1e-4, atol=1e-2)
    g = theon.function([x, w], conv2d(x[:, ::2], w[:, :, ::-1], subsample=(2, 2)))
    X2 = rng.standard_normal((3, 6, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(g(X2, W), conv_forward(X2[:, ::2].astype(np.float64), W[:, :, ::-1].astype(
        np.float64), dict(a, pad=(0, 0), stride=(2, 2))), rtol=1e-4, atol=1e-4)


def test_run_time_shape_errors():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = theon.function([x, w], conv2d(x, w, num_groups=2))
    with pytest.raises(ValueError, match="channel mismatch: the input has 3 channels, but the filters expect 4 "
                                         r"\(filters.shape\[1\] = 2 x num_groups = 2\)"):
        f(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="output channels are not a multiple of num_groups = 2"):
        f(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"the filter \(size 6, dilated 6\) is larger than the padded input \(5\) "
                                         "in spatial dim 0"):
        f(np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 6, 3)))
    h = theon.function([x, w], conv2d(x, w, border_mode=1, filter_dilation=(1, 3)))
    with pytest.raises(ValueError, match=r"dilated 10\) is larger than the padded input \(7\) in spatial dim 1"):
        h(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 4)))
    assert h(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3))).shape == (1, 4, 5, 1)
    gy = T.dtensor4("gy")
    gi = theon.function([gy, w], abstract_conv.conv2d_grad_wrt_inputs(gy, w, (2, 3, 9, 9), subsample=(2, 2)))
    with pytest.raises(ValueError, match="the output gradient has size 5 in dim 3, but the input and filter "
                                         "shapes give 4"):
        gi(np.zeros((2, 4, 4, 5)), np.zeros((4, 3, 3, 3)))
    assert gi(np.zeros((2, 4, 4, 4)), np.zeros((4, 3, 3, 3))).shape == (2, 3, 9, 9)


AOT_MODULE = '''
import numpy as np, theon, theon.tensor as T
from theon.tensor.nnet import conv2d
x = T.TensorType("float32", (None, 1, 12, 12))("x")
W = theon.shared(np.random.default_rng(0).standard_normal((5, 1, 3, 3)).astype(np.float32), name="W")
b = theon.shared(np.linspace(-1, 1, 5).astype(np.float32), name="b")
features = theon.function([x], T.tanh(conv2d(x, W, border_mode="half", subsample=(2, 2))
                                      + b.dimshuffle("x", 0, "x", "x")))      # one conv_bias op
'''


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
def test_aot_compiled_conv2d(tmp_path):
    from theon.runtime.aot_cli import main
    src = tmp_path / "m.py"
    src.write_text(AOT_MODULE)
    assert main([str(src), "-o", str(tmp_path), "--emit", "header,shared,ir"]) == 0
    assert 'conv_bias(%x, %W, %b) {activation = "tanh"' in (tmp_path / "features.theon").read_text()
    lib = theon.runtime.load_library(tmp_path / "libfeatures.so")
    X = np.random.default_rng(1).standard_normal((3, 1, 12, 12)).astype(np.float32)
    W = np.random.default_rng(0).standard_normal((5, 1, 3, 3)).astype(np.float32)
    a = dict(pad=("half", "half"), stride=(2, 2), dilation=(1, 1), groups=1, flip=True)
    got = lib(X)
    assert got.shape == (3, 5, 6, 6)
    bias = np.linspace(-1, 1, 5)[None, :, None, None]
    np.testing.assert_allclose(got, np.tanh(conv_forward(X.astype(np.float64), W.astype(np.float64), a) + bias),
                               rtol=1e-5, atol=1e-5)
    header = (tmp_path / "features.h").read_text()
    assert "features" in header


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bias_and_activation_fused_as_the_conv_epilogue(dtype):
    """conv -> + channel bias -> tanh / sigmoid / relu compiles to conv_bias
    ops (the optimized IR shows them, no separate add or activation) whose
    values match the NumPy reference, with groups, stride, padding, a
    bias of one entry and a batch large enough to thread; a bias of the
    wrong length is refused as the add would be."""
    from theon.tensor import nnet
    from ..ir.test_conv_ops import ACTS
    typ = T.TensorType(dtype, (None,) * 4)
    x, w, b = typ("x"), typ("w"), T.TensorType(dtype, (None,))("b")
    bias = b.dimshuffle("x", 0, "x", "x")
    outs = [T.tanh(conv2d(x, w, num_groups=2) + bias),
            nnet.sigmoid(bias + conv2d(x, w, border_mode="half", subsample=(2, 1), num_groups=2)),
            nnet.relu(conv2d(x, w, border_mode=1, num_groups=2) + bias),
            conv2d(x, w, filter_dilation=(2, 1), num_groups=2) + bias]
    f = theon.function([x, w, b], outs)
    text = theon.printing.dump(f, "optimized")
    for act in ("tanh", "sigmoid", "relu", "identity"):
        assert f'activation = "{act}"' in text, text
    assert text.count("conv_bias(") == 4 and "fused" not in text and " conv(" not in text, text
    rng = np.random.default_rng(5)
    tol = 2e-5 if dtype == "float32" else 1e-12
    attrs = [dict(pad=(0, 0), stride=(1, 1), dilation=(1, 1)), dict(pad=("half", "half"), stride=(2, 1),
             dilation=(1, 1)), dict(pad=(1, 1), stride=(1, 1), dilation=(1, 1)),
             dict(pad=(0, 0), stride=(1, 1), dilation=(2, 1))]
    for n, nb in ((3, 6), (40, 1)):
        X, W = rng.standard_normal((n, 4, 9, 8)).astype(dtype), rng.standard_normal((6, 2, 3, 3)).astype(dtype)
        B = rng.standard_normal(nb).astype(dtype)
        got = f(X, W, B)
        for k, act in enumerate(("tanh", "sigmoid", "relu", "identity")):
            z = conv_forward(X.astype(np.float64), W.astype(np.float64), dict(attrs[k], groups=2, flip=True))
            assert got[k].dtype == np.dtype(dtype)
            np.testing.assert_allclose(got[k], ACTS[act](z + B.astype(np.float64)[None, :, None, None]),
                                       rtol=tol, atol=tol, err_msg=f"{act} batch {n} bias {nb}")
    with pytest.raises(ValueError, match="input 'b' with shape \\(4,\\) has size 4 in dim 1 of the result"):
        f(X, W, np.zeros(4, dtype))


def test_lenet_layer_training_step_uses_the_fused_forward():
    """A conv -> bias -> tanh layer trained with theon.grad: the forward
    conv_bias keeps its gradient graph (the activation's derivative from the
    result), and the step's values match the unfused FAST_COMPILE build."""
    x, y = T.ftensor4("x"), T.ftensor4("y")
    rng = np.random.default_rng(6)
    W = theon.shared(rng.standard_normal((4, 2, 3, 3)).astype("float32") * 0.3, name="W")
    b = theon.shared(rng.standard_normal(4).astype("float32"), name="b")
    h = T.tanh(conv2d(x, W) + b.dimshuffle("x", 0, "x", "x"))
    cost = ((h - y) ** 2).sum()
    gw, gb = theon.grad(cost, [W, b])
    fast = theon.function([x, y], [cost, gw, gb])
    assert "conv_bias(" in theon.printing.dump(fast, "optimized")
    slow = theon.function([x, y], [cost, gw, gb], mode="FAST_COMPILE")
    X, Y = rng.standard_normal((5, 2, 7, 7)).astype("float32"), rng.standard_normal((5, 4, 5, 5)).astype("float32")
    for a, c in zip(fast(X, Y), slow(X, Y)):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4)
