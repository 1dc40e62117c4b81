"""Direct-loop NumPy references for pooling (Theano 1.0's ``Pool.perform``
and ``MaxPoolGrad``/``AveragePoolGrad``, written window by window), shared by
tests/ir/test_pool_ir.py and tests/native/test_pool_native.py."""
import itertools

import numpy as np
from hypothesis import strategies as st


def out_count(n, ws, stride, pad, ignore_border):
    r = n + 2 * pad
    if n == 0:
        return 0            # theon: an empty image has no windows
    if ignore_border:
        return (r - ws) // stride + 1
    if stride >= ws:
        return (r - 1) // stride + 1
    return max(0, (r - 1 - ws + stride) // stride) + 1


def windows(shape, ws, stride, pad, ignore_border, mode):
    """Per output index J of the pooled dims: (the image positions of its
    window, the count an average divides by)."""
    nd = len(ws)
    img = shape[-nd:]
    out = tuple(out_count(n, w, s, p, ignore_border) for n, w, s, p in zip(img, ws, stride, pad))
    result = {}
    for J in np.ndindex(*out):
        ranges, inc = [], 1
        for d in range(nd):
            s = J[d] * stride[d]
            r = img[d] + 2 * pad[d]
            e = min(s + ws[d], r)
            inc *= e - s
            ranges.append(range(max(s, pad[d]) - pad[d], min(e, r - pad[d]) - pad[d]))
        cells = list(itertools.product(*ranges))
        result[J] = cells, (inc if mode == "average_inc_pad" else len(cells))
    return out, result


def loop_pool(x, ws, stride, pad, ignore_border, mode):
    nd = len(ws)
    lead = x.shape[:-nd]
    out, wins = windows(x.shape, ws, stride, pad, ignore_border, mode)
    z = np.zeros(lead + out, dtype=np.float64 if x.dtype.kind == "f" else x.dtype)
    for L in np.ndindex(*lead):
        for J, (cells, count) in wins.items():
            vals = np.array([x[L + c] for c in cells])
            if mode == "max":
                z[L + J] = vals.max()
            elif mode == "sum":
                z[L + J] = np.sum(vals, dtype=z.dtype)
            else:
                z[L + J] = vals.astype(np.float64).sum() / count
    return z


def loop_pool_grad(x, gz, ws, stride, pad, ignore_border, mode):
    """d/dx of sum(pool(x) * gz): max gives gz to every element equal to its
    window's maximum (ties all receive it)."""
    nd = len(ws)
    lead = x.shape[:-nd]
    out, wins = windows(x.shape, ws, stride, pad, ignore_border, mode)
    z = loop_pool(x, ws, stride, pad, ignore_border, "max") if mode == "max" else None
    gx = np.zeros(x.shape, dtype=np.float64)
    for L in np.ndindex(*lead):
        for J, (cells, count) in wins.items():
            for c in cells:
                if mode == "max":
                    if x[L + c] == z[L + J]:
                        gx[L + c] += gz[L + J]
                elif mode == "sum":
                    gx[L + c] += gz[L + J]
                else:
                    gx[L + c] += gz[L + J] / count
    return gx


# (nd, input shape, ws, stride, pad, ignore_border): every combination the tables run per mode
CASES = [
    (2, (2, 3, 7, 8), (2, 2), None, (0, 0), True),
    (2, (2, 3, 7, 8), (2, 2), None, (0, 0), False),
    (2, (2, 3, 7, 8), (3, 2), None, (0, 0), False),
    (2, (2, 3, 7, 8), (3, 2), (1, 2), (0, 0), True),
    (2, (2, 3, 7, 8), (3, 2), (1, 2), (0, 0), False),
    (2, (2, 3, 7, 8), (3, 3), (2, 1), (1, 2), True),
    (2, (2, 3, 7, 8), (3, 2), (1, 2), (1, 1), True),
    (2, (1, 5, 6), (2, 3), (3, 4), (0, 0), False),     # stride > ws: skipped elements
    (2, (1, 5, 6), (2, 3), (3, 4), (1, 2), True),
    (2, (4, 4), (5, 2), None, (0, 0), False),           # a window larger than the input: one partial window
    (2, (2, 1, 2, 3, 9, 5), (4, 1), (2, 1), (3, 0), True),    # 4 leading dims
    (3, (2, 2, 5, 6, 7), (2, 3, 2), (1, 2, 3), (0, 0, 0), False),
    (3, (2, 5, 6, 7), (2, 2, 3), None, (1, 1, 2), True),
    (3, (4, 5, 3), (3, 2, 3), (2, 2, 1), (0, 0, 0), True),
]
MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


@st.composite
def pool_cases(draw):
    """(nd, shape, ws, stride, pad, ignore_border, mode): random valid pooling arguments."""
    nd = draw(st.sampled_from([2, 3]))
    ws = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    ib = draw(st.booleans())
    pad = tuple(draw(st.integers(0, w - 1)) for w in ws) if ib else (0,) * nd
    lead = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    img = tuple(draw(st.integers(max(w - 2 * p, 0) if ib else 0, 7)) for w, p in zip(ws, pad))
    mode = draw(st.sampled_from(MODES))
    return nd, lead + img, ws, stride, pad, ib, mode
