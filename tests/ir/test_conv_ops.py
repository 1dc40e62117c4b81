"""Convolution ops without native code (ir/ops/conv.py, frontend/conv.py):
the NumPy reference against direct loops (every border mode, stride,
dilation, group count, flip, 1-3 spatial dims), shape inference, the graph
``theon.grad`` builds, and bad input refused with the argument named.

``loops`` (direct Python loops, float64) is the oracle the native tests
(tests/native/test_conv.py) use too."""
import itertools

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.ir.ops import conv as C
from theon.tensor.nnet import abstract_conv, conv2d, conv3d


def _pads(pad, ks, dil):
    return [dil[i] * (ks[i] - 1) if p == "full" else (dil[i] * (ks[i] - 1) + 1) // 2 if p == "half" else p
            for i, p in enumerate(pad)]


def loops(x, w, pad, stride, dil, groups, flip, gy=None):
    """Direct loops: y = conv(x, w); with ``gy`` also (gx, gw), the
    gradients of sum(y * gy)."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    oc, cg = w.shape[:2]
    ks = w.shape[2:]
    pads = _pads(pad, ks, dil)
    outs = [(x.shape[2 + i] + 2 * pads[i] - dil[i] * (ks[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((n, oc) + tuple(outs))
    gx, gw = np.zeros(x.shape), np.zeros(w.shape)
    ocg = oc // groups
    for b, o in itertools.product(range(n), range(oc)):
        g = o // ocg
        for pos in np.ndindex(*outs):
            acc = 0.0
            for ci in range(cg):
                for t in np.ndindex(*ks):
                    q = [pos[i] * stride[i] - pads[i] + (ks[i] - 1 - t[i] if flip else t[i]) * dil[i]
                         for i in range(nd)]
                    if all(0 <= q[i] < x.shape[2 + i] for i in range(nd)):
                        xi = (b, g * cg + ci) + tuple(q)
                        acc += w[(o, ci) + t] * x[xi]
                        if gy is not None:
                            gx[xi] += w[(o, ci) + t] * gy[(b, o) + pos]
                            gw[(o, ci) + t] += x[xi] * gy[(b, o) + pos]
            y[(b, o) + pos] = acc
    return y if gy is None else (y, gx, gw)


def _attrs(nd, pad, stride, dil, groups, flip):
    return dict(pad=(pad,) * nd if not isinstance(pad, tuple) else pad, stride=(stride,) * nd,
                dilation=(dil,) * nd, groups=groups, flip=flip)


CASES = [(pad, stride, dil, groups, flip)
         for pad in (0, "full", "half", 2) for stride in (1, 2) for dil in (1, 2) for groups in (1, 2)
         for flip in (True, False)]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_numpy_reference_matches_direct_loops(nd):
    rng = np.random.default_rng(nd)
    spatial = {1: (9,), 2: (7, 6), 3: (5, 4, 3)}[nd]
    kern = {1: (3,), 2: (3, 2), 3: (2, 3, 1)}[nd]
    n, c = {1: (2, 4), 2: (1, 4), 3: (1, 2)}[nd]
    x = rng.standard_normal((n, c) + spatial)
    for pad, stride, dil, groups, flip in CASES:
        a = _attrs(nd, pad, stride, dil, groups, flip)
        w = rng.standard_normal((c, c // groups) + kern)
        if any(C.out_size(x.shape[2 + i], kern[i], a["pad"][i], stride, dil) < 1 for i in range(nd)):
            with pytest.raises(ValueError, match="larger than the padded input"):
                C.conv_shapes("conv", a, x.shape, w.shape)
            continue
        y = C.conv_forward(x, w, a)
        gy = rng.standard_normal(y.shape)
        ry, rgx, rgw = loops(x, w, a["pad"], a["stride"], a["dilation"], groups, flip, gy)
        np.testing.assert_allclose(y, ry, atol=1e-12, err_msg=str(a))
        np.testing.assert_allclose(C.conv_grad_input(gy, w, x.shape, a), rgx, atol=1e-12, err_msg=str(a))
        np.testing.assert_allclose(C.conv_grad_weight(x, gy, w.shape, a), rgw, atol=1e-12, err_msg=str(a))


def test_shapes_inferred_and_output_shape():
    x = T.TensorType("float32", (None, 3, 28, 28))("x")
    w = T.TensorType("float32", (20, 3, 5, 5))("w")
    assert conv2d(x, w).type.shape == (None, 20, 24, 24)
    assert conv2d(x, w, border_mode="full").type.shape == (None, 20, 32, 32)
    assert conv2d(x, w, border_mode="half", subsample=(2, 2)).type.shape == (None, 20, 14, 14)
    assert conv2d(x, w, border_mode=(1, 2), filter_dilation=(2, 1)).type.shape == (None, 20, 22, 28)
    assert abstract_conv.get_conv_output_shape((None, 3, 28, 28), (20, 3, 5, 5), "valid", (2, 2)) == \
        (None, 20, 12, 12)
    v = T.TensorType("float64", (2, 2, 5, 6, 7))("v")
    k = T.TensorType("float64", (4, 1, 3, 3, 3))("k")
    assert conv3d(v, k, num_groups=2).type.shape == (2, 4, 3, 4, 5)
    assert conv2d(T.tensor4("a"), T.tensor4("b")).dtype == "float64"
    assert conv2d(T.ftensor4("a"), T.ftensor4("b")).dtype == "float32"


def test_grad_builds_the_gradient_ops():
    x, w = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(x, w, border_mode="half", subsample=(2, 2), num_groups=1)
    gx, gw = theon.grad(y.sum(), [x, w])
    assert gx.owner.name == "conv_grad_input" and gw.owner.name == "conv_grad_weight"
    assert gx.owner.attrs["stride"] == (2, 2) and gx.owner.attrs["pad"] == ("half", "half")
    assert gx.dtype == gw.dtype == "float32"
    # second order: the gradient ops differentiate into convolutions again
    ggx = theon.grad((gx ** 2).sum(), w)
    assert ggx.ndim == 4


def test_transpose_and_grad_functions_build():
    gy, w = T.dtensor4("gy"), T.dtensor4("w")
    n = T.lscalar("n")
    t = abstract_conv.conv2d_transpose(gy, w, (n, 3, 10, 10), border_mode="half", input_dilation=(2, 2))
    assert t.owner.name == "conv_grad_input" and t.type.shape == (None, 3, 10, 10)
    x = T.dtensor4("x")
    gw = abstract_conv.conv2d_grad_wrt_weights(x, gy, (5, 3, 3, 3))
    assert gw.type.shape == (5, 3, 3, 3)
    gx = abstract_conv.conv2d_grad_wrt_inputs(gy, w, x.shape, filter_shape=(None, 3, 3, 3))
    assert gx.owner.name == "conv_grad_input" and gx.ndim == 4


def test_theano_op_classes():
    x, w = T.TensorType("float64", (None, 4, 9, 9))("x"), T.TensorType("float64", (6, 2, 3, 3))("w")
    gy = T.dtensor4("gy")
    kw = dict(border_mode="half", subsample=(2, 2), num_groups=2)
    y = abstract_conv.AbstractConv2d(**kw)(x, w)
    assert y.owner.name == "conv" and y.type.shape == (None, 6, 5, 5)
    gi = abstract_conv.AbstractConv2d_gradInputs(**kw)(w, gy, (9, 9))
    assert gi.owner.name == "conv_grad_input" and gi.type.shape == (None, 4, 9, 9)
    gw = abstract_conv.AbstractConv2d_gradWeights(**kw)(x, gy, (3, 3))
    assert gw.owner.name == "conv_grad_weight" and gw.type.shape == (None, 2, 3, 3)
    v = T.TensorType("float64", (None,) * 5)("v")
    assert abstract_conv.AbstractConv3d()(v, v).owner.attrs["stride"] == (1, 1, 1)
    with pytest.raises(ValueError, match="spatial dims"):
        abstract_conv.AbstractConv2d_gradInputs()(w, gy, (9, 9, 9))


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, w: conv2d(x, w, subsample=(0, 1)), ValueError, "subsample"),
    (lambda x, w: conv2d(x, w, subsample=(-1, 1)), ValueError, "subsample"),
    (lambda x, w: conv2d(x, w, filter_dilation=(1, 0)), ValueError, "filter_dilation"),
    (lambda x, w: conv2d(x, w, border_mode="same-ish"), ValueError, "border_mode"),
    (lambda x, w: conv2d(x, w, border_mode=-1), ValueError, "border_mode"),
    (lambda x, w: conv2d(x, w, border_mode=(1, 2, 3)), ValueError, "border_mode"),
    (lambda x, w: conv2d(x, w, num_groups=0), ValueError, "num_groups"),
    (lambda x, w: conv2d(x, w, num_groups=2), ValueError, "channel mismatch"),
    (lambda x, w: conv2d(x[0], w), ValueError, "input must be a 4-d tensor"),
    (lambda x, w: conv2d(x, w[0]), ValueError, "filters must be a 4-d tensor"),
    (lambda x, w: conv2d(x, w, input_shape=(8, 3, 9, 9)), ValueError, "input_shape"),
    (lambda x, w: conv2d(x, w, filter_shape=(4, 3, 5, 5)), ValueError, "filter_shape"),
    (lambda x, w: conv2d(x, w, border_mode=((1, 2), 0)), NotImplementedError, "asymmetric"),
])
def test_bad_arguments_are_named(call, exc, match):
    x = T.TensorType("float64", (8, 3, 10, 10))("x")
    w = T.TensorType("float64", (4, 3, 3, 3))("w")
    with pytest.raises(exc, match=match):
        call(x, w)


def test_static_shape_errors():
    x = T.TensorType("float64", (2, 3, 4, 4))("x")
    with pytest.raises(ValueError, match="channel mismatch: the input has 3 channels, but the filters expect 2"):
        conv2d(x, T.TensorType("float64", (4, 2, 3, 3))("w"))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, T.TensorType("float64", (4, 3, 5, 3))("w"))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, T.TensorType("float64", (4, 3, 3, 3))("w"), filter_dilation=(3, 1))
    conv2d(x, T.TensorType("float64", (4, 3, 5, 3))("w"), border_mode=1)      # fits once padded
    with pytest.raises(ValueError, match="not a multiple of num_groups"):
        conv2d(T.TensorType("float64", (2, 4, 4, 4))("x"), T.TensorType("float64", (3, 2, 3, 3))("w"),
               num_groups=2)
    with pytest.raises(ValueError, match="output gradient has size 5 in dim 2"):
        abstract_conv.conv2d_grad_wrt_inputs(T.TensorType("float64", (2, 4, 5, 2))("gy"),
                                             T.TensorType("float64", (4, 3, 3, 3))("w"), (2, 3, 4, 4))
    with pytest.raises(TypeError, match="float32 or float64"):
        from theon.frontend.basic import apply_op
        apply_op("conv", T.ltensor4("a"), T.ltensor4("b"), pad=(0, 0), stride=(1, 1), dilation=(1, 1),
                 groups=1, flip=True)
    with pytest.raises(ValueError, match="stride"):
        from theon.frontend.basic import apply_op
        apply_op("conv", T.dtensor4("a"), T.dtensor4("b"), pad=(0, 0), stride=(0, 1), dilation=(1, 1),
                 groups=1, flip=True)


def test_ir_text_round_trip():
    from theon.ir.parser import parse_function
    from theon.ir.printer import print_function
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, border_mode="half", subsample=(2, 1), filter_dilation=(1, 2), num_groups=1)
    gx, gw = theon.grad(y.sum(), [x, w])
    from theon.frontend.build import build_function
    func = build_function([x, w], [y, gx, gw])[0]
    text = print_function(func)
    assert "conv_grad_input" in text and 'pad = ["half", "half"]' in text
    assert print_function(parse_function(text)) == text


# (nd, pad, stride, dilation, groups, flip) for the batched gradient rules
BATCHED = [(1, "half", 1, 2, 3, False), (2, 1, 2, 1, 2, True), (3, 0, 1, 1, 2, True)]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("case", BATCHED, ids=lambda c: f"{c[0]}d-g{c[4]}")
def test_batched_gradients_match_each_entry(case, dynamic):
    """Each op's gradient rule given a cotangent with two extra leading dims
    (as jacobian/hessian pass) folds them into the batch or into each group's
    channels; every entry must equal the unbatched gradient (the NumPy
    references of the transposed ops) of that cotangent slice."""
    from ..grad_helpers import op, run, var
    nd, pad, stride, dil, groups, flip = case
    a = _attrs(nd, pad, stride, dil, groups, flip)
    rng = np.random.default_rng(nd)
    x = rng.normal(size=(2, 2 * groups) + (5,) * nd)
    w = rng.normal(size=(3 * groups, 2) + (2,) * nd)
    y = C.conv_forward(x, w, a)
    B = (2, 3)
    shape = (lambda s: (None,) * len(s)) if dynamic else (lambda s: s)

    def check(name, operands, attrs, out, refs):
        vs = [var(shape(o.shape)) for o in operands]
        res = op(name, *vs, **attrs)
        cot = rng.normal(size=B + out.shape)
        g = var(shape(cot.shape))
        grads = res.owner.opdef.grad(res.owner, [g])[:2]
        got = run(vs + [g], grads, operands + [cot])
        for k, (value, ref) in enumerate(zip(got, refs)):
            want = np.stack([ref(cot[b]) for b in np.ndindex(*B)]).reshape(B + operands[k].shape)
            np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-10, err_msg=f"{name} wrt operand {k}")

    check("conv", [x, w], a, y, [lambda c: C.conv_grad_input(c, w, x.shape, a),
                              lambda c: C.conv_grad_weight(x, c, w.shape, a)])
    check("conv_grad_input", [y, w], dict(a, shape=x.shape), x,
          [lambda c: C.conv_forward(c, w, a), lambda c: C.conv_grad_weight(c, y, w.shape, a)])
    check("conv_grad_weight", [x, y], dict(a, shape=w.shape), w,
          [lambda c: C.conv_grad_input(y, c, x.shape, a), lambda c: C.conv_forward(x, c, a)])


# --- conv_bias and the conv-epilogue pass ------------------------------------------------------------
ACTS = {"identity": lambda z: z, "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "relu": lambda z: np.maximum(z, 0)}


def _epilogue_graph(act, x, w, b, **conv):
    from theon.tensor import nnet
    z = conv2d(x, w, **conv) + b.dimshuffle("x", 0, "x", "x")
    return {"identity": lambda: z, "tanh": lambda: T.tanh(z), "sigmoid": lambda: nnet.sigmoid(z),
            "relu": lambda: nnet.relu(z)}[act]()


@pytest.mark.parametrize("act", sorted(ACTS))
def test_conv_epilogue_pass_fuses_bias_and_activation(act):
    """conv -> add(channel bias) -> activation becomes one conv_bias op
    (visible in the printed IR); the interpreter gives the unfused graph's
    values, which are the NumPy formula's."""
    from theon.frontend.build import build_function
    from theon.ir.interpreter import evaluate
    from theon.ir.printer import print_function
    from theon.passes import run_pipeline
    x, w, b = T.dtensor4("x"), T.dtensor4("w"), T.dvector("b")
    y = _epilogue_graph(act, x, w, b, subsample=(2, 1), border_mode="half")
    func = build_function([x, w, b], [y])[0]
    rng = np.random.default_rng(3)
    vals = [rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)]
    before = evaluate(func, vals)[0][0]
    run_pipeline(func, "canonicalize,cse,conv-epilogue,dce")
    text = print_function(func)
    assert "conv_bias(%x, %w, %b)" in text and f'activation = "{act}"' in text, text
    assert " conv(" not in text and "add(" not in text and "tanh(" not in text, text
    after = evaluate(func, vals)[0][0]
    want = ACTS[act](C.conv_forward(vals[0], vals[1], dict(pad=("half", "half"), stride=(2, 1), dilation=(1, 1),
                                                                 groups=1, flip=True))
                     + vals[2][None, :, None, None])
    np.testing.assert_allclose(before, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(after, want, rtol=1e-12, atol=1e-12)


def test_conv_epilogue_leaves_shared_and_unlike_patterns():
    """Nothing is fused when the conv result has another use, or the added
    tensor is not a channel bias (a per-column one here)."""
    from theon.frontend.build import build_function
    from theon.ir.printer import print_function
    from theon.passes import run_pipeline
    x, w, b = T.dtensor4("x"), T.dtensor4("w"), T.dvector("b")
    y = conv2d(x, w)
    kept = [T.tanh(y + b.dimshuffle("x", 0, "x", "x")), y * 2, T.tanh(conv2d(x, w, subsample=(2, 2)) + b)]
    func = build_function([x, w, b], kept)[0]
    run_pipeline(func, "conv-epilogue,dce")
    assert "conv_bias" not in print_function(func)
    # a conv_bias whose result has two users keeps its identity activation
    z = conv2d(x, w) + b.dimshuffle("x", 0, "x", "x")
    func = build_function([x, w, b], [T.tanh(z), z])[0]
    run_pipeline(func, "conv-epilogue,dce")
    text = print_function(func)
    assert 'activation = "identity"' in text and "tanh(" in text


@pytest.mark.parametrize("act", sorted(ACTS))
def test_conv_bias_gradient_matches_the_unfused_graph(act):
    """conv_bias's gradient rule (activation derivative from the result,
    conv's gradients, the bias summed) against theon.grad of the unfused
    graph, with groups and a bias of one entry broadcast."""
    from ..grad_helpers import op, run, var
    rng = np.random.default_rng(4)
    a = dict(pad=(1, 1), stride=(1, 2), dilation=(1, 1), groups=2, flip=False)
    xv, wv = rng.normal(size=(2, 4, 5, 6)), rng.normal(size=(6, 2, 2, 3))
    for bv in (rng.normal(size=6), rng.normal(size=1)):
        x, w, b = var((None,) * 4), var((None,) * 4), var((None,))
        y = op("conv_bias", x, w, b, activation=act, **a)
        gy = rng.normal(size=C.conv_forward(xv, wv, a).shape)
        grads = theon.grad((y * gy).sum(), [x, w, b])
        ref = _epilogue_graph(act, x, w, b, border_mode=1, subsample=(1, 2), num_groups=2, filter_flip=False)
        want = theon.grad((ref * gy).sum(), [x, w, b])
        got, exp = run([x, w, b], grads + [y], [xv, wv, bv]), run([x, w, b], want + [ref], [xv, wv, bv])
        for g, e, what in zip(got, exp, ("gx", "gw", "gb", "y")):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"{act} {what} bias {bv.shape}")


def test_conv_bias_refuses_bad_operands():
    from ..grad_helpers import op, var
    a = _attrs(2, 0, 1, 1, 1, True)
    x, w = var((2, 3, 5, 5)), var((4, 3, 3, 3))
    with pytest.raises(ValueError, match="activation must be one of"):
        op("conv_bias", x, w, var((4,)), activation="softplus", **a)
    with pytest.raises(ValueError, match="the bias has 3 entries for 4 output channels"):
        op("conv_bias", x, w, var((3,)), activation="tanh", **a)
    with pytest.raises(TypeError, match="the bias must be a 1-d float64 tensor"):
        op("conv_bias", x, w, var((4, 1)), activation="tanh", **a)
