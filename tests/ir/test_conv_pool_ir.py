"""conv_pool / pool_grad_mask (ir/ops/pool.py) and the conv-pool pass
(passes/conv_pool.py) at the IR level: the rewritten graph gives the
unfused graph's values (forward and gradients, ties forced by rounding the
inputs to a few values) in the interpreter; the pass leaves graphs where
the convolution's result has another reader; text round trip, inference
errors."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor.nnet import conv2d
from theon.tensor.signal.pool import pool_2d

from ..conv_pool_helpers import conv_pool_graph

FAST = "canonicalize,cse,conv-epilogue,conv-pool,dce"


def _build(outputs, inputs):
    from theon.frontend.build import build_function
    return build_function(inputs, outputs)[0]


def _text(func):
    from theon.ir.printer import print_function
    return print_function(func)


def _run(func, vals):
    from theon.ir.interpreter import evaluate
    return evaluate(func, vals)[0]


def _opt(func, pipeline=FAST):
    from theon.passes import run_pipeline
    return run_pipeline(func, pipeline) or func




def _model(kind, act, pool, conv, dtype="float64"):
    """(inputs, cost, outputs) of ``conv_pool_graph`` (tests/conv_pool_helpers.py)."""
    inputs, h = conv_pool_graph(kind, act, pool, conv, dtype)
    cost = (h * h).sum() + h.sum()
    return inputs, cost, h


def _vals(rng, xs, ws, levels=None, dtype="float64"):
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    if levels:                               # few values: many ties in every window
        x, w = np.round(x * levels) / levels, np.round(w * levels) / levels
    return [x.astype(dtype), w.astype(dtype), rng.normal(size=ws[0]).astype(dtype)]


CASES = [  # (kind, act, pool attrs, conv attrs, x shape, w shape)
    ("after", "tanh", dict(ws=(2, 2), ignore_border=True), {}, (3, 2, 12, 12), (4, 2, 5, 5)),
    ("before", "identity", dict(ws=(2, 2), ignore_border=True), {}, (2, 1, 9, 10), (3, 1, 3, 3)),
    ("none", "relu", dict(ws=(3, 2), stride=(1, 2), ignore_border=False), dict(subsample=(1, 2)), (2, 2, 9, 11),
     (3, 2, 3, 2)),
    ("after", "sigmoid", dict(ws=(2, 3), stride=(2, 1), pad=(1, 1), ignore_border=True), dict(border_mode="half"),
     (2, 3, 7, 8), (4, 3, 3, 3)),
    ("before", "tanh", dict(ws=(2, 2), ignore_border=False), dict(border_mode=1), (2, 2, 6, 7), (2, 2, 4, 4)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("levels", [None, 2])
def test_rewrite_gives_the_unfused_values_and_gradients(case, levels):
    kind, act, pool, conv, xs, ws = CASES[case]
    inputs, cost, h = _model(kind, act, pool, conv)
    # a bias added before the pooling: its gradient reads the conv result's dims (sum_to), which
    # the pass computes from x's and w's
    grads = theon.grad(cost, inputs)
    func = _build([h, cost] + grads, inputs)
    rng = np.random.default_rng(case)
    vals = _vals(rng, xs, ws, levels)[:len(inputs)]
    before = _run(func, vals)
    _opt(func)
    text = _text(func)
    assert "conv_pool(" in text and "pool_grad_mask(" in text, text
    assert " pool(" not in text and "pool_grad(" not in text and " conv(" not in text, text
    # relu's gradient reads its operand (x > 0): the pooled value has a second reader, so relu stays
    act = "identity" if act == "relu" and grads else act
    assert f'bias = "{kind}"' in text and f'activation = "{act}"' in text, text
    after = _run(func, vals)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_ties_route_the_gradient_to_every_maximum():
    """An input of zeros: every window ties; pool_grad_mask gives gz to all
    its elements, as pool_grad does (Theano's rule), and the mask is all ones."""
    inputs, cost, h = _model("none", "identity", dict(ws=(2, 2), ignore_border=True), {})
    func = _build([h] + theon.grad(h.sum(), inputs[:1]), inputs)
    _opt(func)
    vals = [np.zeros((1, 1, 5, 5)), np.ones((1, 1, 2, 2))]
    z, gx = _run(func, vals)
    from theon.ir.interpreter import evaluate
    assert "pool_grad_mask" in _text(func)
    # conv of zeros: 4x4 zeros, every element of every window ties -> its gradient is 1
    want_gy = np.ones((1, 1, 4, 4))
    from theon.ir.ops.conv import conv_grad_input
    np.testing.assert_allclose(gx, conv_grad_input(want_gy, vals[1], (1, 1, 5, 5), dict(
        pad=(0, 0), stride=(1, 1), dilation=(1, 1), groups=1, flip=True)))
    del evaluate


def test_mask_and_routing_reference():
    from theon.ir.ops.pool import mask_grad, pool_grad_reference, pool_reference, tie_mask
    rng = np.random.default_rng(5)
    for ws, st, pad, ib in [((2, 2), (2, 2), (0, 0), True), ((3, 2), (1, 1), (0, 0), False),
                            ((2, 3), (2, 1), (1, 1), True), ((2, 4), (3, 3), (0, 0), False)]:
        y = np.round(rng.normal(size=(2, 3, 9, 10)))
        z = pool_reference(y, ws, st, pad, ib, "max")
        m = tie_mask(y, z, ws, st, pad, ib)
        assert m.dtype == np.uint8 and m.shape == z.shape and (m != 0).all()
        gz = rng.normal(size=z.shape)
        np.testing.assert_array_equal(mask_grad(m, gz, y.shape, ws, st, pad, ib),
                                      pool_grad_reference(y, z, gz, ws, st, pad, ib, "max"))


def _count(func, name):
    return _text(func).count(f" {name}(")


def test_other_uses_of_the_conv_result_block_the_rewrite():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w)
    p = pool_2d(y, ws=(2, 2), ignore_border=True)
    for outs in ([p, y * 2], [p, y.shape], [p.sum(), theon.grad(p.sum() + (y * y).sum(), x)]):
        func = _opt(_build(outs, [x, w]))
        assert "conv_pool" not in _text(func), _text(func)
    # a jacobian's pool_grad carries extra leading dims: no rewrite
    func = _opt(_build([theon.gradient.jacobian(p.flatten(), x)], [x, w]))
    assert "conv_pool" not in _text(func)
    # windows over 8 elements, sum pooling, an activation before the pooling: no rewrite
    for outs in ([pool_2d(y, ws=(3, 3), ignore_border=True)], [pool_2d(y, ws=(2, 2), mode="sum", ignore_border=True)],
                 [pool_2d(T.tanh(y), ws=(2, 2), ignore_border=True)]):
        func = _opt(_build(outs, [x, w]))
        assert "conv_pool" not in _text(func), _text(func)


def test_readers_of_the_pooled_value_keep_it():
    """A second reader of the pooled value: conv_pool without bias or
    activation; the add and tanh stay."""
    x, w, b = T.dtensor4("x"), T.dtensor4("w"), T.dvector("b")
    p = pool_2d(conv2d(x, w), ws=(2, 2), ignore_border=True)
    h = T.tanh(p + b.dimshuffle("x", 0, "x", "x"))
    func = _build([h, p * 3], [x, w, b])
    rng = np.random.default_rng(1)
    vals = _vals(rng, (2, 1, 8, 8), (3, 1, 3, 3))
    before = _run(func, vals)
    _opt(func)
    text = _text(func)
    assert 'bias = "none"' in text and 'activation = "identity"' in text and "tanh(" in text, text
    for a, c in zip(before, _run(func, vals)):
        np.testing.assert_array_equal(a, c)


def test_gpu_target_and_mode_excluding_keep_the_ops():
    from theon.runtime.mode import Mode, pass_tags
    from theon.runtime.pipeline import PIPELINES, for_target
    inputs, cost, h = _model("after", "tanh", dict(ws=(2, 2), ignore_border=True), {})
    func = _opt(_build([h], inputs), "conv-pool{target=gpu},dce")
    assert "conv_pool" not in _text(func)
    assert "conv-pool{target=gpu}" in for_target(PIPELINES["fast_run"], "gpu")
    assert "conv-pool" in PIPELINES["fast_run"]
    assert PIPELINES["fast_run"].index("conv-pool") > PIPELINES["fast_run"].index("conv-epilogue")
    assert {"conv_pool", "conv_fusion"} <= pass_tags("conv-pool")
    base = [p.split("{")[0] for p in Mode(optimizer="fast_run").pipeline]
    assert "conv-pool" in base
    for tag in ("conv-pool", "conv_pool", "conv_pool_fusion", "local_conv_pool"):
        rest = [p.split("{")[0] for p in Mode(optimizer="fast_run").excluding(tag).pipeline]
        assert "conv-pool" not in rest and "conv-epilogue" in rest, tag
        assert len(rest) == len(base) - 1


def test_needs_gpu_ir_sees_the_fused_ops():
    from theon.runtime.pipeline import needs_gpu_ir
    inputs, cost, h = _model("after", "tanh", dict(ws=(2, 2), ignore_border=True), {})
    func = _build([h], inputs)
    assert not needs_gpu_ir(func)
    assert needs_gpu_ir(_opt(func))


def test_text_round_trip_and_inference():
    from theon.ir.parser import parse_function
    text = """func @f(%x: tensor<?x2x9x9xf32>, %w: tensor<3x2x2x2xf32>, %b: tensor<3xf32>, %g: tensor<?x3x4x4xf32>) {
  %0, %1 = conv_pool(%x, %w, %b) {activation = "tanh", bias = "after", dilation = [1, 1], flip = true, groups = 1, ignore_border = true, pad = [0, 0], pool_pad = [0, 0], pool_stride = [2, 2], pool_ws = [2, 2], stride = [1, 1]} : tensor<?x3x4x4xf32>, tensor<?x3x4x4xu8>
  %2 = pool_grad_mask(%1, %g, %x, %w) {dilation = [1, 1], flip = true, groups = 1, ignore_border = true, pad = [0, 0], pool_pad = [0, 0], pool_stride = [2, 2], pool_ws = [2, 2], stride = [1, 1]} : tensor<?x3x8x8xf32>
  return(%0, %2) {updates = []}
}"""
    func = parse_function(text)
    assert _text(func).strip() == text.strip()
    from theon.ir.verifier import verify_function
    verify_function(func)


@pytest.mark.parametrize("attrs, message", [
    (dict(pool_ws=(3, 3)), "does not fit a 8-bit mask"),
    (dict(pool_ws=(2, 2, 2), pool_stride=(2, 2, 2), pool_pad=(0, 0, 0)), "pool_ws must have 2 entries"),
    (dict(bias="middle"), "bias must be"),
    (dict(activation="gelu"), "activation must be"),
    (dict(pool_ws=(4, 2), pool_stride=(1, 1), pool_pad=(0, 0)), None),
])
def test_bad_attributes_are_refused(attrs, message):
    from theon.ir.builder import make_op
    from theon.ir.core import Function
    from theon.ir.types import TensorType
    f = Function("f", [TensorType("float32", (None, 2, 9, 9)), TensorType("float32", (3, 2, 2, 2)),
                       TensorType("float32", (3,))], ["x", "w", "b"])
    base = dict(pad=(0, 0), stride=(1, 1), dilation=(1, 1), groups=1, flip=True, pool_ws=(2, 2),
                pool_stride=(2, 2), pool_pad=(0, 0), ignore_border=True, bias="after", activation="tanh")
    if message is None:                   # 4x2 = 8 elements fit
        make_op("conv_pool", list(f.args), dict(base, **attrs))
        f = Function("f", [TensorType("float32", (None, 2, 4, 9)), TensorType("float32", (3, 2, 2, 2))], ["x", "w"])
        with pytest.raises(ValueError, match="larger than the convolution's output dim 2"):
            make_op("conv_pool", list(f.args), dict(base, bias="none", **attrs))
        return
    with pytest.raises((ValueError, TypeError), match=message):
        make_op("conv_pool", list(f.args), dict(base, **attrs))


def test_pool_grad_mask_checks_its_operands():
    from theon.ir.builder import make_op
    from theon.ir.core import Function
    from theon.ir.types import TensorType
    A = dict(pad=(0, 0), stride=(1, 1), dilation=(1, 1), groups=1, flip=True, pool_ws=(2, 2),
             pool_stride=(2, 2), pool_pad=(0, 0), ignore_border=True)
    f = Function("f", [TensorType("uint8", (None, 3, 4, 4)), TensorType("float32", (None, 3, 5, 4)),
                       TensorType("float32", (None, 2, 9, 9)), TensorType("float32", (3, 2, 2, 2)),
                       TensorType("float32", (None, 3, 4, 4))], ["m", "g", "x", "w", "m2"])
    m, g, x, w, m2 = f.args
    with pytest.raises(ValueError, match="gz .* dim 2 is 5, expected 4"):
        make_op("pool_grad_mask", [m, g, x, w], A)
    with pytest.raises(TypeError, match="mask must be a 4-d uint8"):
        make_op("pool_grad_mask", [m2, m2, x, w], A)
    op = make_op("pool_grad_mask", [m, m2, x, w], A)
    assert op.results[0].type.shape == (None, 3, 8, 8)
    with pytest.raises(ValueError, match="mask has shape"):
        op.opdef.reference(op, np.zeros((1, 3, 4, 3), np.uint8), np.zeros((1, 3, 4, 4), np.float32),
                           np.zeros((1, 2, 9, 9), np.float32), np.zeros((3, 2, 2, 2), np.float32))


def test_conv_pool_gradient_rule_matches_the_unfused_graph():
    """theon.grad through a conv_pool op itself (its gradient rule: the
    activation's derivative, pool_grad_mask, the bias's sum, conv's
    gradients) gives the unfused graph's gradients."""
    from theon.frontend.variable import TensorVariable
    from theon.ir.core import Operation
    from theon.ir.dialect import OPS
    rng = np.random.default_rng(7)
    vals = _vals(rng, (2, 2, 8, 8), (3, 2, 3, 3), levels=2)
    A = dict(pad=(0, 0), stride=(1, 1), dilation=(1, 1), groups=1, flip=True, pool_ws=(2, 2),
             pool_stride=(2, 2), pool_pad=(0, 0), ignore_border=True)
    for where, act in (("before", "tanh"), ("after", "sigmoid"), ("none", "relu")):
        inputs, _, h = _model(where, act, dict(ws=(2, 2), ignore_border=True), {})
        want = _run(_build([h] + theon.grad((h * h).sum(), inputs), inputs), vals[:len(inputs)])
        fused = Operation(OPS["conv_pool"], inputs, dict(A, bias=where, activation=act),
                          value_cls=TensorVariable).results[0]
        got = _run(_build([fused] + theon.grad((fused * fused).sum(), inputs), inputs), vals[:len(inputs)])
        for a, c in zip(want, got):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_dims_of_the_conv_result_come_from_x_and_w():
    """A reader of the convolution's dims (subtensor(shape(y))) reads them
    computed from x's and w's dims ('full'/'half' padding, strides) once
    the convolution is gone."""
    x, w = T.dtensor4("x"), T.dtensor4("w")
    rng = np.random.default_rng(2)
    vals = [rng.normal(size=(2, 3, 11, 10)), rng.normal(size=(4, 3, 3, 4))]
    for conv in (dict(border_mode="full", subsample=(2, 3)), dict(border_mode="half", filter_dilation=(2, 1)),
                 dict(border_mode=(1, 2), subsample=(1, 2))):
        y = conv2d(x, w, **conv)
        p = pool_2d(y, ws=(2, 2), ignore_border=False)
        dims = [y.shape[k] for k in range(4)] + [y.shape[-1]]
        func = _build([p] + dims, [x, w])
        want = _run(func, vals)
        _opt(func)
        text = _text(func)
        assert "conv_pool(" in text and " conv(" not in text, text
        for a, b in zip(want, _run(func, vals)):
            np.testing.assert_array_equal(a, b)
