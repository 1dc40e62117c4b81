"""The CPU convolution's vector paths (codegen/cpu/lower/conv.py) against
the NumPy reference (theon.ir.ops.conv, checked against direct loops in
tests/ir/test_conv_ops.py): conv_grad_weight's position-major columns
(``_columns_t``: 2 spatial dims, unit-stride rows, at most a vector of taps
per kernel row) and their fallback, im2col/col2im rows as vectors with a
scalar tail, with padding (windows leaving the input), strides, dilation,
groups, both flips, strided and reversed input views, rows narrower than a
vector (a vector read must stay inside the channel), and the batch in
several slices per thread."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor.nnet import conv2d

from theon.ir.ops.conv import conv_forward, conv_grad_input, conv_grad_weight

# (x shape, w shape, border, subsample, dilation, groups, flip, view of x)
CASES = {
    "float32": [
        ((3, 2, 9, 11), (4, 2, 3, 5), "valid", (1, 1), (1, 1), 1, True, None),       # vectors, flipped taps
        ((2, 2, 7, 10), (3, 2, 4, 3), (1, 2), (2, 1), (1, 1), 1, False, None),      # windows leave the row
        ((2, 1, 6, 9), (2, 1, 3, 4), "full", (1, 2), (2, 1), 1, True, None),        # rows outside, dilated rows
        ((2, 2, 8, 12), (2, 1, 3, 3), "half", (1, 1), (1, 2), 2, True, None),       # dilated columns: fallback
        ((2, 1, 7, 14), (3, 1, 3, 9), "half", (1, 1), (1, 1), 1, True, None),       # 9 taps > 8 lanes: fallback
        ((2, 1, 6, 5), (2, 1, 3, 3), "valid", (1, 1), (1, 1), 1, False, None),      # rows narrower than a vector
        ((2, 2, 6, 16), (2, 2, 3, 3), "valid", (1, 1), (1, 1), 1, True, "cols2"),   # x[..., ::2]: fallback
        ((2, 2, 7, 8), (2, 2, 3, 3), 1, (1, 1), (1, 1), 1, True, "rows-1"),         # x[:, :, ::-1]: fallback
        ((16, 4, 20, 20), (8, 4, 5, 5), "valid", (1, 1), (1, 1), 1, True, None),    # threads, slices
    ],
    "float64": [
        ((3, 2, 9, 11), (4, 2, 3, 3), (0, 1), (1, 1), (1, 1), 1, True, None),       # 3 taps <= 4 lanes
        ((3, 2, 9, 11), (4, 1, 3, 5), "valid", (2, 1), (1, 1), 2, False, None),     # 5 taps > 4: fallback
    ],
}


def _pad(border):
    if border == "valid":
        return (0, 0)
    return (border, border) if isinstance(border, (str, int)) else tuple(border)


def _view(x, view):
    if view == "cols2":
        return x[:, :, :, ::2]
    if view == "rows-1":
        return x[:, :, ::-1, :]
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_vector_paths_match_the_reference(dtype):
    cases = CASES[dtype]
    rng = np.random.default_rng(17 if dtype == "float32" else 18)
    inputs, outs, values, refs = [], [], [], []
    for k, (xs, ws, border, s, d, g, flip, view) in enumerate(cases):
        x = T.tensor(dtype, shape=(None,) * 4, name=f"x{k}")
        w = T.tensor(dtype, shape=(None,) * 4, name=f"w{k}")
        gy = T.tensor(dtype, shape=(None,) * 4, name=f"gy{k}")
        xv = _view(x, view)
        y = conv2d(xv, w, border_mode=border, subsample=s, filter_dilation=d, num_groups=g, filter_flip=flip)
        outs += [y] + theon.grad((y * gy).sum(), [x, w])
        inputs += [x, w, gy]
        X = rng.standard_normal(xs)
        W = rng.standard_normal(ws)
        a = dict(pad=_pad(border), stride=s, dilation=d, groups=g, flip=flip)
        Xv = _view(X, view)
        Y = conv_forward(Xv, W, a)
        GY = rng.standard_normal(Y.shape)
        gxv = conv_grad_input(GY, W, Xv.shape, a)
        GX = np.zeros_like(X)
        _view(GX, view)[...] = gxv          # the view's gradient lands where the view reads
        refs += [Y, GX, conv_grad_weight(Xv, GY, W.shape, a)]
        values += [X.astype(dtype), W.astype(dtype), GY.astype(dtype)]
    f = theon.function(inputs, outs, name=f"conv_fast_{dtype}")
    got = f(*values)
    tol = 2e-4 if dtype == "float32" else 1e-10
    for k, (g_, r) in enumerate(zip(got, refs)):
        scale = max(1.0, float(np.abs(r).max()))
        np.testing.assert_allclose(g_, r, rtol=tol, atol=tol * scale,
                                   err_msg=f"case {cases[k // 3]}: {('y', 'gx', 'gw')[k % 3]}")
