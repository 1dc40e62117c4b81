"""The CPU convolution's spans (codegen/cpu/lower/conv.py): the positions
of a chunk go through the GEMM in spans of about SPAN_BYTES of columns, so
a large image is split inside an item (and a span may cross from one item
to the next; small items go in spans of whole items). Forward (im2col per
span), conv_grad_input (col2im per span) and conv_grad_weight
(position-major or im2col columns per span) against the NumPy reference (theon.ir.ops.conv, checked against
direct loops in tests/ir/test_conv_ops.py) and directional finite
differences, for strides, dilation, padding modes, groups, flips and both
dtypes: a wrong boundary between two spans (a column written twice or not
at all, a row split between spans, an item's first row) changes the result."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.cpu.lower import conv as cpu_conv
from theon.tensor.nnet import conv2d

from theon.ir.ops.conv import conv_forward, conv_grad_input, conv_grad_weight

# (x shape, w shape, border, subsample, dilation, groups, flip)
CASES = [
    ((1, 16, 70, 70), (4, 16, 3, 3), "valid", (1, 1), (1, 1), 1, True),      # spans split the item
    ((1, 16, 70, 70), (6, 8, 3, 3), "half", (2, 2), (1, 1), 2, False),       # stride 2, groups
    ((1, 16, 70, 69), (4, 16, 3, 3), "full", (1, 1), (2, 2), 1, True),       # dilation, windows leave the input
    ((1, 8, 70, 70), (2, 4, 3, 3), (2, 0), (1, 2), (1, 1), 2, True),         # one filter per group: the GEMM's loops
    ((2, 3, 70, 70), (5, 3, 3, 3), "half", (1, 1), (1, 2), 1, False),        # a span crosses items, dilated
    ((8, 20, 10, 10), (6, 20, 3, 3), "valid", (1, 1), (1, 1), 1, True),      # spans of whole small items
    ((5, 12, 11, 9), (6, 6, 3, 2), 1, (2, 1), (1, 1), 2, False),             # ... with padding and stride
]


def _pad(border):
    if border == "valid":
        return (0, 0)
    return (border, border) if isinstance(border, (str, int)) else tuple(border)


def _spans(xs, ws, border, s, d, g, dtype):
    """How many spans the forward and the gradients take per chunk (at least
    one case must split an item in several)."""
    a = dict(pad=_pad(border), stride=s, dilation=d, groups=g, flip=True)
    y = conv_forward(np.zeros((1,) + xs[1:]), np.zeros(ws), a)
    p = y.shape[2] * y.shape[3]
    kd = ws[1] * ws[2] * ws[3]
    item = np.dtype(dtype).itemsize
    width = min(xs[0], max(cpu_conv.CHUNK_COLUMNS // p, 1)) * p
    return max(1, -(-width // max(16, cpu_conv.SPAN_BYTES["fwd"] // item // kd)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spans_split_items_and_match_the_reference(dtype):
    assert max(_spans(*c[:6], dtype) for c in CASES) >= 8
    rng = np.random.default_rng(70 if dtype == "float32" else 71)
    inputs, outs, values, refs = [], [], [], []
    for k, (xs, ws, border, s, d, g, flip) in enumerate(CASES):
        x = T.tensor(dtype, shape=(None,) * 4, name=f"x{k}")
        w = T.tensor(dtype, shape=(None,) * 4, name=f"w{k}")
        gy = T.tensor(dtype, shape=(None,) * 4, name=f"gy{k}")
        y = conv2d(x, w, border_mode=border, subsample=s, filter_dilation=d, num_groups=g, filter_flip=flip)
        outs += [y] + theon.grad((y * gy).sum(), [x, w])
        inputs += [x, w, gy]
        X, W = rng.standard_normal(xs), rng.standard_normal(ws)
        a = dict(pad=_pad(border), stride=s, dilation=d, groups=g, flip=flip)
        Y = conv_forward(X, W, a)
        GY = rng.standard_normal(Y.shape)
        refs += [Y, conv_grad_input(GY, W, X.shape, a), conv_grad_weight(X, GY, W.shape, a)]
        values += [X.astype(dtype), W.astype(dtype), GY.astype(dtype)]
    got = theon.function(inputs, outs, name=f"conv_spans_{dtype}")(*values)
    tol = 3e-4 if dtype == "float32" else 1e-10
    for k, (g_, r) in enumerate(zip(got, refs)):
        assert g_.shape == r.shape
        scale = max(1.0, float(np.abs(r).max()))
        np.testing.assert_allclose(g_, r, rtol=tol, atol=tol * scale,
                                   err_msg=f"case {CASES[k // 3]}: {('y', 'gx', 'gw')[k % 3]}")


def test_span_gradients_against_finite_differences():
    """Directional derivatives of a nonlinear cost of a convolution whose
    spans split the image: (f(x + h v) - f(x - h v)) / 2h = <grad, v>."""
    rng = np.random.default_rng(72)
    x, w = T.dtensor4("x"), T.dtensor4("w")
    cases = [("half", (1, 1), (1, 1), 2), ((1, 2), (2, 1), (2, 1), 1)]
    costs, grads = [], []
    for border, s, d, g in cases:
        y = conv2d(x, w[:, :16 // g], border_mode=border, subsample=s, filter_dilation=d, num_groups=g)
        cost = T.tanh(y / 4).sum()
        costs.append(cost)
        grads += theon.grad(cost, [x, w])
    f = theon.function([x, w], costs + grads)
    X = rng.standard_normal((1, 16, 64, 66))
    Wf = rng.standard_normal((6, 16, 3, 3))
    got = f(X, Wf)
    eps = 1e-5
    for k in range(len(cases)):
        for i, base in ((0, X), (1, Wf)):
            v = rng.standard_normal(base.shape)
            args_hi, args_lo = [X, Wf], [X, Wf]
            args_hi[i], args_lo[i] = base + eps * v, base - eps * v
            fd = (f(*args_hi)[k] - f(*args_lo)[k]) / (2 * eps)
            analytic = float((got[len(cases) + 2 * k + i] * v).sum())
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-6, err_msg=f"case {cases[k]} operand {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_item_chunks_in_place_and_through_the_buffer(dtype):
    """A chunk of one item: the GEMM writes y's planes (reads gy's) in
    place, conv_bias's epilogue runs in place; 32x32 outputs (rows 4 KiB
    apart in float32) go through the chunk buffer instead; batches of one
    and of several items, against the reference."""
    from theon.tensor import nnet
    from ..ir.test_conv_ops import ACTS
    typ = T.TensorType(dtype, (None,) * 4)
    x, w, gy, bias = typ("x"), typ("w"), typ("gy"), T.TensorType(dtype, (None,))("b")
    y = conv2d(x, w, border_mode="half", num_groups=2)
    z = nnet.relu(conv2d(x, w, subsample=(2, 1), num_groups=2) + bias.dimshuffle("x", 0, "x", "x"))
    f = theon.function([x, w, bias, gy], [y, z] + theon.grad((y * gy).sum(), [x, w]))
    assert "conv_bias(" in theon.printing.dump(f, "optimized")
    rng = np.random.default_rng(73)
    for xs in ((1, 8, 40, 36), (3, 8, 32, 32), (1, 8, 34, 34)):
        X, W = rng.standard_normal(xs), rng.standard_normal((6, 4, 3, 3))
        B = rng.standard_normal(6)
        a = dict(pad=("half", "half"), stride=(1, 1), dilation=(1, 1), groups=2, flip=True)
        Y = conv_forward(X, W, a)
        GY = rng.standard_normal(Y.shape)
        Z = ACTS["relu"](conv_forward(X, W, dict(a, pad=(0, 0), stride=(2, 1))) + B[None, :, None, None])
        got = f(*(v.astype(dtype) for v in (X, W, B, GY)))
        refs = [Y, Z, conv_grad_input(GY, W, X.shape, a), conv_grad_weight(X, GY, W.shape, a)]
        tol = 3e-4 if dtype == "float32" else 1e-10
        for k, (g_, r) in enumerate(zip(got, refs)):
            scale = max(1.0, float(np.abs(r).max()))
            np.testing.assert_allclose(g_, r, rtol=tol, atol=tol * scale, err_msg=f"{xs}: result {k}")
