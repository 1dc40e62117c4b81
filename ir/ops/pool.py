"""Pooling over the last ``len(ws)`` (2 or 3) dims: Theano 1.0's ``Pool``,
``MaxPoolGrad`` and ``AveragePoolGrad`` (theano/tensor/signal/pool.py).

    %z = pool(%x) {ws = [2, 2], stride = [2, 2], pad = [0, 0], ignore_border = true,
                   mode = "max"} : tensor<?x?x14x14xf32>
    %gx = pool_grad(%x, %z, %gz) {same attributes} : tensor<?x?x28x28xf32>

Leading dims are independent images. Along a pooled dim of size ``n``
with padding ``p`` the padded size is ``R = n + 2p``; output ``j``'s window
starts at ``s = j * stride`` in padded coordinates. The output count is
``(R - ws) // stride + 1`` with ``ignore_border`` (``R // stride`` when
``ws == stride``), else ``(R - 1) // stride + 1`` when ``stride >= ws`` and
``max(0, (R - 1 - ws + stride) // stride) + 1`` otherwise: the last window
may run past the image (a partial window). Modes: ``max`` and ``sum`` see
only the image's elements; ``average_exc_pad`` divides the sum by that
element count, ``average_inc_pad`` by ``prod(min(s + ws, R) - s)`` (the
window clipped to the padded image: ``prod(ws)`` with ``ignore_border``).
Padding needs ``ignore_border`` and ``pad < ws``; ``ignore_border`` needs
``ws <= R`` (theon refuses an empty result that Theano would give); an
empty image dim (n = 0) has no windows.

``pool_grad(x, z, gz)`` is the gradient with respect to ``x`` of ``z =
pool(x)`` given ``gz``: ``max`` gives ``gz`` to every element of a window
equal to the window's maximum ``z`` (Theano's rule: ties all receive it),
the others spread ``gz`` (divided by the window's count) over the window.
``gz`` may carry extra leading dims (jacobians): then the result does too.
Its own gradient with respect to ``gz`` is its adjoint (it is linear in
``gz``): ``pool`` in the same mode for the sum/average modes,
``pool_grad_grad(x, z, ggx)`` for max (per window, the sum of ``ggx`` over
the elements equal to its maximum), whose gradient is ``pool_grad`` again.
"""
import itertools

import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..opdef import OpDef, result
from ..types import is_float

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _ints(name, v, nd, opname):
    if not isinstance(v, tuple) or len(v) != nd or not all(
            isinstance(k, int) and not isinstance(k, bool) for k in v):
        raise TypeError(f"{opname}: {name} must be a tuple of {nd} ints, got {v!r}")
    return v


def pool_params(attrs, opname="pool"):
    """(ws, stride, pad, ignore_border, mode), checked."""
    ws = attrs["ws"]
    if not isinstance(ws, tuple) or len(ws) not in (2, 3):
        raise TypeError(f"{opname}: ws must be a tuple of 2 or 3 ints, got {ws!r}")
    nd = len(ws)
    ws = _ints("ws", ws, nd, opname)
    stride = _ints("stride", attrs["stride"], nd, opname)
    pad = _ints("pad", attrs["pad"], nd, opname)
    ignore_border, mode = attrs["ignore_border"], attrs["mode"]
    if not isinstance(ignore_border, bool):
        raise TypeError(f"{opname}: ignore_border must be a bool, got {ignore_border!r}")
    if mode not in MODES:
        raise ValueError(f"{opname}: mode must be one of {', '.join(MODES)}; got {mode!r}")
    if min(ws) < 1:
        raise ValueError(f"{opname}: ws must be positive, got {ws}")
    if min(stride) < 1:
        raise ValueError(f"{opname}: stride must be positive, got {stride}")
    if min(pad) < 0:
        raise ValueError(f"{opname}: pad must be non-negative, got {pad}")
    if any(p >= w for p, w in zip(pad, ws)):
        raise ValueError(f"{opname}: pad {pad} must be smaller than ws {ws} in every dim")
    if max(pad) > 0 and not ignore_border:
        raise ValueError(f"{opname}: padding {pad} works only with ignore_border=True")
    return ws, stride, pad, ignore_border, mode


def out_size(n, ws, stride, pad, ignore_border):
    """Outputs along a pooled dim of ``n`` elements (Theano 1.0's
    ``Pool.out_shape``); ignore_border with a window larger than the padded
    dim gives a negative count (callers report it)."""
    r = n + 2 * pad
    if n == 0:
        return 0                # an empty image has no windows (even when padded)
    if ignore_border:
        if r < ws:
            return -1
        return (r - ws) // stride + 1
    if stride >= ws:
        return (r - 1) // stride + 1
    return max(0, (r - 1 - ws + stride) // stride) + 1


def window_bounds(n, m, ws, stride, pad, mode):
    """Per output j < m of a pooled dim of ``n`` elements: (lo, hi, count)
    arrays: the window's elements in image coordinates ``[lo, hi)`` and the
    count the average divides by."""
    r = n + 2 * pad
    s = np.arange(m, dtype=np.int64) * stride
    end = np.minimum(s + ws, r)
    lo, hi = np.maximum(s, pad) - pad, np.minimum(end, r - pad) - pad
    count = (end - s) if mode == "average_inc_pad" else (hi - lo)
    return lo, hi, count


def pooled_sizes(opname, dims, params, attr, what, first_axis):
    """The pooled sizes of the pooled ``dims`` (None where unknown) under
    ``params`` = (ws, stride, pad, ignore_border); a window larger than its
    padded dim with ``ignore_border`` is a ValueError naming ``attr`` and
    ``what`` (the dim's name) at axis ``first_axis + k``."""
    ws, stride, pad, ignore_border = params[:4]
    out = []
    for k, n in enumerate(dims):
        if n is None:
            out.append(None)
            continue
        m = out_size(n, ws[k], stride[k], pad[k], ignore_border)
        if m < 0:
            raise ValueError(f"{opname}: {attr}[{k}] = {ws[k]} is larger than the {what} {first_axis + k} "
                             f"({n}, padded {n + 2 * pad[k]}) with ignore_border=True")
        out.append(m)
    return tuple(out)


class _PoolBase(OpDef):
    required_attrs = ("ws", "stride", "pad", "ignore_border", "mode")
    accumulates = True
    has_grad = True

    def params(self, op):
        return pool_params(op.attrs, self.name)

    def _check_x(self, op, x):
        ws, stride, pad, ignore_border, mode = self.params(op)
        nd = len(ws)
        if x.ndim < nd:
            raise ValueError(f"{self.name}: the input must have at least {nd} dims (pooling over "
                             f"the last {nd}), got {x}")
        if x.dtype == "bool":
            raise TypeError(f"{self.name}: bool input is not supported, got {x}")
        if mode.startswith("average") and not is_float(x.dtype):
            raise TypeError(f"{self.name}: mode {mode!r} needs a float input, got {x}")
        return pooled_sizes(self.name, x.shape[-nd:], (ws, stride, pad, ignore_border), "ws",
                            "input's dim", x.ndim - nd)


class Pool(_PoolBase):
    """pool(x) {ws, stride, pad, ignore_border, mode}."""
    name = "pool"
    num_operands = 1
    cost = 4

    def infer(self, op):
        self.check_arity(op)
        x = op.operands[0].type
        out = self._check_x(op, x)
        return result(x.dtype, x.shape[:x.ndim - len(out)] + out)

    def dims(self, op, shapes):
        x = op.operands[0]
        nd = len(op.attrs["ws"])
        xd = shapes.of(x)
        out = op.results[0].type.shape
        return [tuple(xd[:-nd]) + tuple(out[k] if out[k] is not None else shapes.fresh(k)
                                        for k in range(x.type.ndim - nd, x.type.ndim))]

    def reference(self, op, x):
        return [pool_reference(np.asarray(x), *self.params(op)).astype(x.dtype, copy=False)]

    def grad(self, op, grads):
        x, z, g, e = op.operands[0], op.results[0], grads[0], emitter(op)
        return [e("pool_grad", x, z, g, **op.attrs)]


class PoolGrad(_PoolBase):
    """pool_grad(x, z, gz) {the pool's attributes}: d pool(x) / dx applied to gz."""
    name = "pool_grad"
    num_operands = 3
    cost = 4

    def infer(self, op):
        self.check_arity(op)
        x, z, g = (v.type for v in op.operands)
        out = self._check_x(op, x)
        nd = len(out)
        if not (x.dtype == z.dtype == g.dtype):
            raise TypeError(f"pool_grad: x, z and gz must have one dtype, got {x}, {z}, {g}")
        if z.ndim != x.ndim or g.ndim < x.ndim:
            raise ValueError(f"pool_grad: z must have x's ndim and gz at least as many, got "
                             f"{x}, {z}, {g}")
        lead = g.ndim - x.ndim
        for k in range(x.ndim):
            want = out[k - (x.ndim - nd)] if k >= x.ndim - nd else x.shape[k]
            for what, t, at in (("z", z, k), ("gz", g, lead + k)):
                have = t.shape[at]
                if want is not None and have is not None and have != want:
                    raise ValueError(f"pool_grad: {what} {t} does not fit the pooling of x {x}: "
                                     f"dim {at} is {have}, expected {want}")
        return result(x.dtype, g.shape[:lead] + x.shape)

    def dims(self, op, shapes):
        x, _, g = op.operands
        lead = g.type.ndim - x.type.ndim
        return [tuple(shapes.of(g)[:lead]) + tuple(shapes.of(x))]

    def reference(self, op, x, z, gz):
        x, z, gz = np.asarray(x), np.asarray(z), np.asarray(gz)
        lead = gz.ndim - x.ndim
        if lead:
            x = np.broadcast_to(x, gz.shape[:lead] + x.shape)
            z = np.broadcast_to(z, gz.shape[:lead] + z.shape)
        return [pool_grad_reference(x, z, gz, *self.params(op)).astype(x.dtype, copy=False)]

    def grad(self, op, grads):
        """Linear in gz: its adjoint, pool (sum/average modes) or
        pool_grad_grad (max); x and z only choose the windows' elements."""
        x, z, _ = op.operands
        e = emitter(op)
        if op.attrs["mode"] == "max":
            return [ZERO, ZERO, e("pool_grad_grad", x, z, grads[0], **op.attrs)]
        return [ZERO, ZERO, e("pool", grads[0], **op.attrs)]


class PoolGradGrad(_PoolBase):
    """pool_grad_grad(x, z, ggx) {max pooling's attributes}: per window, the
    sum of ``ggx`` over the elements equal to the window's maximum ``z``
    (Theano's DownsampleFactorMaxGradGrad): the adjoint of ``pool_grad``
    in ``gz``, so the second derivative of max pooling. ``ggx`` may carry
    extra leading dims; the result has them too."""
    name = "pool_grad_grad"
    num_operands = 3
    cost = 4

    def infer(self, op):
        self.check_arity(op)
        x, z, g = (v.type for v in op.operands)
        out = self._check_x(op, x)
        if op.attrs["mode"] != "max":
            raise ValueError(f"pool_grad_grad: mode must be 'max', got {op.attrs['mode']!r}")
        if not (x.dtype == z.dtype == g.dtype):
            raise TypeError(f"pool_grad_grad: x, z and ggx must have one dtype, got {x}, {z}, {g}")
        if z.ndim != x.ndim or g.ndim < x.ndim:
            raise ValueError(f"pool_grad_grad: z must have x's ndim and ggx at least as many, got "
                             f"{x}, {z}, {g}")
        lead = g.ndim - x.ndim
        zshape = x.shape[:x.ndim - len(out)] + out
        for k in range(x.ndim):
            for what, t, at, want in (("z", z, k, zshape[k]), ("ggx", g, lead + k, x.shape[k])):
                have = t.shape[at]
                if want is not None and have is not None and have != want:
                    raise ValueError(f"pool_grad_grad: {what} {t} does not fit x {x}: dim {at} is "
                                     f"{have}, expected {want}")
        return result(x.dtype, g.shape[:lead] + tuple(a if a is not None else b
                                                      for a, b in zip(zshape, z.shape)))

    def dims(self, op, shapes):
        x, z, g = op.operands
        lead = g.type.ndim - x.type.ndim
        return [tuple(shapes.of(g)[:lead]) + tuple(shapes.of(z))]

    def reference(self, op, x, z, ggx):
        x, z, ggx = np.asarray(x), np.asarray(z), np.asarray(ggx)
        lead = ggx.ndim - x.ndim
        if lead:
            x = np.broadcast_to(x, ggx.shape[:lead] + x.shape)
            z = np.broadcast_to(z, ggx.shape[:lead] + z.shape)
        return [pool_grad_grad_reference(x, z, ggx, *self.params(op)).astype(x.dtype, copy=False)]

    def grad(self, op, grads):
        x, z, _ = op.operands
        return [ZERO, ZERO, emitter(op)("pool_grad", x, z, grads[0], **op.attrs)]


# --- NumPy references ------------------------------------------------------------------------------
def _layout(shape, ws, stride, pad, ignore_border, mode):
    """(out dims, extended dims E, per-dim (lo, hi, count)) for the pooled dims of ``shape``."""
    nd = len(ws)
    img = shape[-nd:]
    out = tuple(out_size(n, w, s, p, ignore_border) for n, w, s, p in zip(img, ws, stride, pad))
    if min(out) < 0:
        raise ValueError(f"pool: ws {ws} is larger than the padded input {shape} with "
                         f"ignore_border=True")
    ext = tuple(max(n + 2 * p, (m - 1) * s + w) if m else n + 2 * p
                for n, m, w, s, p in zip(img, out, ws, stride, pad))
    bounds = [window_bounds(n, m, w, s, p, mode) for n, m, w, s, p in zip(img, out, ws, stride, pad)]
    return out, ext, bounds


def _offset_views(lead, out, stride, k):
    """The index of the elements at window offset ``k`` of every output window."""
    return (slice(None),) * lead + tuple(slice(kk, kk + (m - 1) * s + 1, s) if m else slice(0, 0)
                                         for kk, m, s in zip(k, out, stride))


def _inside(ext, pad, shape, nd):
    """Boolean array over the extended pooled dims: the image's elements."""
    masks = []
    for i, (e, p, n) in enumerate(zip(ext, pad, shape[-nd:])):
        m = np.zeros(e, dtype=bool)
        m[p:p + n] = True
        masks.append(m.reshape((-1,) + (1,) * (nd - 1 - i)))
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


def _counts(bounds):
    c = bounds[0][2].astype(np.float64)
    for b in bounds[1:]:
        c = c[..., None] * b[2]
    return c


def pool_reference(x, ws, stride, pad, ignore_border, mode):
    lead = x.ndim - len(ws)
    out, ext, bounds = _layout(x.shape, ws, stride, pad, ignore_border, mode)
    if mode == "max":
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    else:
        fill = 0
    big = np.full(x.shape[:lead] + ext, fill, dtype=x.dtype)
    big[(slice(None),) * lead + tuple(slice(p, p + n) for p, n in zip(pad, x.shape[lead:]))] = x
    acc = None
    for k in itertools.product(*[range(w) for w in ws]):
        v = big[_offset_views(lead, out, stride, k)]
        if acc is None:
            acc = v.astype(np.float64 if x.dtype.kind == "f" and mode != "max" else x.dtype)
        elif mode == "max":
            acc = np.maximum(acc, v)
        else:
            acc = acc + v
    if acc is None or 0 in out:
        return np.zeros(x.shape[:lead] + out, dtype=x.dtype)
    if mode.startswith("average"):
        acc = acc / _counts(bounds)
    return acc


def pool_grad_reference(x, z, gz, ws, stride, pad, ignore_border, mode):
    nd, lead = len(ws), x.ndim - len(ws)
    out, ext, bounds = _layout(x.shape, ws, stride, pad, ignore_border, mode)
    gbig = np.zeros(x.shape[:lead] + ext, dtype=np.float64 if x.dtype.kind == "f" else x.dtype)
    crop = (slice(None),) * lead + tuple(slice(p, p + n) for p, n in zip(pad, x.shape[lead:]))
    if 0 in out:
        return gbig[crop]
    if mode == "max":
        big = np.zeros(x.shape[:lead] + ext, dtype=x.dtype)
        big[crop] = x
        inside = _inside(ext, pad, x.shape, nd)
        for k in itertools.product(*[range(w) for w in ws]):
            view = _offset_views(lead, out, stride, k)
            hit = (big[view] == z) & inside[view[lead:]]
            gbig[view] += np.where(hit, gz, 0)
    else:
        g = gz / _counts(bounds) if mode.startswith("average") else gz
        for k in itertools.product(*[range(w) for w in ws]):
            gbig[_offset_views(lead, out, stride, k)] += g
    return gbig[crop]


def pool_grad_grad_reference(x, z, ggx, ws, stride, pad, ignore_border, mode):
    nd, lead = len(ws), x.ndim - len(ws)
    out, ext, _ = _layout(x.shape, ws, stride, pad, ignore_border, mode)
    acc = np.zeros(x.shape[:lead] + out, dtype=np.float64 if x.dtype.kind == "f" else x.dtype)
    if 0 in out:
        return acc
    crop = (slice(None),) * lead + tuple(slice(p, p + n) for p, n in zip(pad, x.shape[lead:]))
    big = np.zeros(x.shape[:lead] + ext, dtype=x.dtype)
    big[crop] = x
    gbig = np.zeros(x.shape[:lead] + ext, dtype=ggx.dtype)
    gbig[crop] = ggx
    inside = _inside(ext, pad, x.shape, nd)
    for k in itertools.product(*[range(w) for w in ws]):
        view = _offset_views(lead, out, stride, k)
        acc = acc + np.where((big[view] == z) & inside[view[lead:]], gbig[view], 0)
    return acc


def neibs_uncovered(shape, neib_shape, neib_step):
    """The first (axis, size, patch size, step) of the last two dims of
    ``shape`` that ``neib_shape`` patches every ``neib_step`` do not cover
    exactly (images2neibs' mode 'valid'), or None."""
    for k in range(2):
        n, h, s = shape[len(shape) - 2 + k], neib_shape[k], neib_step[k]
        if n < h or (n - h) % s:
            return len(shape) - 2 + k, n, h, s
    return None


class NeibsCheck(OpDef):
    """neibs_check(x) {neib_shape, neib_step}: the 4-d ``x`` itself, once
    its last two dims are covered exactly by ``neib_shape`` patches taken
    every ``neib_step`` (``images2neibs`` mode 'valid' on shapes known only
    at run time; else NEIBS_COVER naming ``ten4``)."""
    name = "neibs_check"
    num_operands = 1
    required_attrs = ("neib_shape", "neib_step")
    has_grad = True
    moves_elements = True
    cost = 1

    def infer(self, op):
        self.check_arity(op)
        x = op.operands[0].type
        for what in self.required_attrs:
            v = op.attrs[what]
            if not (isinstance(v, tuple) and len(v) == 2
                    and all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in v)):
                raise TypeError(f"neibs_check: {what} must be two positive ints, got {v!r}")
        if x.ndim != 4:
            raise ValueError(f"neibs_check: ten4 must be a 4-d tensor, got {x}")
        if None not in x.shape[2:]:
            bad = neibs_uncovered(x.shape, op.attrs["neib_shape"], op.attrs["neib_step"])
            if bad:
                raise ValueError(neibs_message(*bad))
        return [x]

    def dims(self, op, shapes):
        return [tuple(shapes.of(op.operands[0]))]

    def reference(self, op, x):
        bad = neibs_uncovered(np.shape(x), op.attrs["neib_shape"], op.attrs["neib_step"])
        if bad:
            raise ValueError(neibs_message(*bad))
        return [x]

    def grad(self, op, grads):
        return [grads[0]]


def neibs_message(axis, size, h, s):
    return (f"images2neibs: mode 'valid' needs the patches to cover ten4's dim {axis} exactly: size {size}, "
            f"neib_shape {h}, neib_step {s} (use mode='ignore_borders')")


# --- max pooling fused into the forward convolution (passes/conv_pool.py) ---------------------------
CONV_POOL_ATTRS = ("pool_ws", "pool_stride", "pool_pad", "ignore_border")
MASK_BITS = 8           # a tie mask is one uint8 per window: windows of at most 8 elements


def conv_pool_params(attrs, opname):
    """(ws, stride, pad, ignore_border) of a conv_pool/pool_grad_mask's
    pooling, checked: 2 pooled dims, windows of at most MASK_BITS elements."""
    ws, stride, pad, ignore_border, _ = pool_params(
        {"ws": attrs["pool_ws"], "stride": attrs["pool_stride"], "pad": attrs["pool_pad"],
         "ignore_border": attrs["ignore_border"], "mode": "max"}, opname)
    if len(ws) != 2:
        raise ValueError(f"{opname}: pool_ws must have 2 entries (2 spatial dims), got {ws!r}")
    if ws[0] * ws[1] > MASK_BITS:
        raise ValueError(f"{opname}: a window of {ws[0]}x{ws[1]} elements does not fit a {MASK_BITS}-bit mask")
    return ws, stride, pad, ignore_border


def _conv_out(opname, attrs, x, w):
    """The conv output's shape (entries None where unknown), checked."""
    from .conv import _check_types, check_attrs, conv_shapes
    _check_types(opname, x, w)
    if x.ndim != 4:
        raise ValueError(f"{opname}: the input must be 4-d (2 spatial dims), got {x}")
    check_attrs(opname, attrs, 2)
    return conv_shapes(opname, attrs, x.shape, w.shape)


def _pooled(opname, attrs, shape):
    """The pooled shape of a conv output ``shape`` (entries None where unknown)."""
    params = conv_pool_params(attrs, opname)
    return tuple(shape[:2]) + pooled_sizes(opname, shape[2:4], params, "pool_ws", "convolution's output dim", 2)


def _window_hits(y, z, ws, stride, pad, ignore_border):
    """Per window offset k (row-major over ws, bit k of a mask): the boolean
    array over the pooled outputs ``y``'s element at offset k equals the
    window's maximum ``z`` (and lies inside the image)."""
    out, ext, _ = _layout(y.shape, ws, stride, pad, ignore_border, "max")
    big = np.zeros(y.shape[:2] + ext, dtype=y.dtype)
    crop = (slice(None),) * 2 + tuple(slice(p, p + n) for p, n in zip(pad, y.shape[2:]))
    big[crop] = y
    inside = _inside(ext, pad, y.shape, 2)
    for k in itertools.product(*[range(w_) for w_ in ws]):
        view = _offset_views(2, out, stride, k)
        yield k, view, crop, ext, (big[view] == z) & inside[view[2:]]


def tie_mask(y, z, ws, stride, pad, ignore_border):
    """uint8 mask per pooled output of ``y``: bit i set when window element i
    (row-major) equals the window's maximum ``z`` (Theano's tie rule)."""
    mask = np.zeros(z.shape, dtype=np.uint8)
    if 0 in z.shape:
        return mask
    for i, (_, _, _, _, hit) in enumerate(_window_hits(y, z, ws, stride, pad, ignore_border)):
        mask |= hit.astype(np.uint8) << np.uint8(i)
    return mask


def mask_grad(mask, gz, shape, ws, stride, pad, ignore_border):
    """pool_grad's max rule from a tie mask: gz to every element whose bit is
    set, summed where windows overlap (as pool_grad_reference, in float64)."""
    out, ext, _ = _layout(shape, ws, stride, pad, ignore_border, "max")
    gbig = np.zeros(tuple(shape[:2]) + ext, dtype=np.float64)
    crop = (slice(None),) * 2 + tuple(slice(p, p + n) for p, n in zip(pad, shape[2:]))
    if 0 in out or 0 in shape:
        return gbig[crop]
    for i, k in enumerate(itertools.product(*[range(w_) for w_ in ws])):
        view = _offset_views(2, out, stride, k)
        gbig[view] += np.where((mask >> np.uint8(i)) & 1, gz, 0)
    return gbig[crop]


class ConvPool(OpDef):
    """conv_pool{conv attrs, pool_ws, pool_stride, pool_pad, ignore_border,
    bias, activation}(x, w[, b]) -> (z, mask): a 2-d convolution and the max
    pooling of its result in one op, the convolution's result never stored
    (passes/conv_pool.py builds it; the CPU pools each chunk of the GEMM).

    ``bias`` says where the 1-d ``b`` (out_channels entries or one) is added:
    ``"before"`` the pooling (``pool(conv(x, w) + b)``: conv_bias's), ``"after"``
    it (``pool(conv(x, w)) + b``), or ``"none"`` (no ``b`` operand). Then
    ``z = activation(...)``, the activation (conv's ACTIVATIONS) applied to the
    pooled value. ``mask`` (uint8, z's shape) has bit i set when element i of
    the window (row-major over pool_ws, inside the image) equals the window's
    maximum, exactly what max ``pool_grad`` compares (ties all set; NaN
    never); ``pool_grad_mask`` routes a gradient with it."""
    name = "conv_pool"
    num_operands = None
    num_results = 2
    required_attrs = ("pad", "stride", "dilation", "groups", "flip") + CONV_POOL_ATTRS + ("bias", "activation")
    accumulates = True
    has_grad = True

    def _bias(self, op):
        where = op.attrs["bias"]
        if where not in ("none", "before", "after"):
            raise ValueError(f"conv_pool: bias must be 'none', 'before' or 'after', got {where!r}")
        if len(op.operands) != (2 if where == "none" else 3):
            raise ValueError(f"conv_pool takes {2 if where == 'none' else 3} operands with bias = {where!r}, got "
                             f"{len(op.operands)}")
        return where

    def infer(self, op):
        from .conv import ACTIVATIONS
        for a in self.required_attrs:
            if a not in op.attrs:
                raise ValueError(f"conv_pool requires attribute {a!r}")
        where = self._bias(op)
        x, w = (v.type for v in op.operands[:2])
        shape = _conv_out("conv_pool", op.attrs, x, w)
        if op.attrs["activation"] not in ACTIVATIONS:
            raise ValueError(f"conv_pool: activation must be one of {ACTIVATIONS}, got {op.attrs['activation']!r}")
        if where != "none":
            b = op.operands[2].type
            if b.dtype != x.dtype or b.ndim != 1:
                raise TypeError(f"conv_pool: the bias must be a 1-d {x.dtype} tensor, got {b}")
            if None not in (b.shape[0], shape[1]) and b.shape[0] not in (1, shape[1]):
                raise ValueError(f"conv_pool: the bias has {b.shape[0]} entries for {shape[1]} output channels")
        out = _pooled("conv_pool", op.attrs, shape)
        return result(x.dtype, out) + result("uint8", out)

    def dims(self, op, shapes):
        x, w = (shapes.of(v) for v in op.operands[:2])
        rest = tuple(s if s is not None else shapes.fresh(2 + i) for i, s in enumerate(op.results[0].type.shape[2:]))
        return [(x[0], w[0]) + rest] * 2

    def conv_attrs(self, op):
        from .conv import CONV_ATTRS
        return {a: op.attrs[a] for a in CONV_ATTRS}

    def reference(self, op, x, w, b=None):
        from .conv import activate, conv_forward, conv_shapes
        where = self._bias(op)
        conv_shapes(self.name, op.attrs, x.shape, w.shape)
        y = conv_forward(x, w, self.conv_attrs(op))
        if b is not None and b.shape[0] not in (1, y.shape[1]):
            raise ValueError(f"conv_pool: the bias has {b.shape[0]} entries for {y.shape[1]} output channels")
        bb = None if b is None else b.reshape((1, -1, 1, 1))
        if where == "before":
            y = y + bb
        params = conv_pool_params(op.attrs, self.name)
        _pooled(self.name, op.attrs, y.shape)
        z = pool_reference(y, *params, "max").astype(x.dtype, copy=False)
        mask = tie_mask(y, z, *params)
        if where == "after":
            z = z + bb
        return [activate(z, op.attrs["activation"]).astype(x.dtype, copy=False), mask]

    def grad(self, op, grads):
        """The activation's derivative from z, ``pool_grad_mask`` (the bias's
        gradient summed before or after it), then conv's gradients."""
        from .conv import _conv_grads, activation_grad
        x, w = op.operands[:2]
        z, g, e = op.results[0], grads[0], emitter(op)
        where, act = op.attrs["bias"], op.attrs["activation"]
        if g is None or g is ZERO:
            return [ZERO] * len(op.operands)
        if batch_ndim(op, g):
            raise NotImplementedError("conv_pool: gradients with extra leading dims (jacobian, hessian) are not "
                                      "supported; differentiate the graph before the conv-pool pass")
        g = activation_grad(e, act, z, g)
        gy = e("pool_grad_mask", op.results[1], g, x, w, **{a: op.attrs[a] for a in PoolGradMask.required_attrs})
        if where == "none":
            return _conv_grads(e, x, w, gy, self.conv_attrs(op), 0)
        gb = e.sum(g if where == "after" else gy, [0, 2, 3], False)
        b = op.operands[2]
        if b.type.shape[0] != z.type.shape[1] or b.type.shape[0] is None:     # a bias of one entry broadcast
            spec, dyn = e.shape_spec(e.dims(b))
            gb = e("sum_to", gb, *dyn, shape=spec)
        return _conv_grads(e, x, w, gy, self.conv_attrs(op), 0) + [gb]


class PoolGradMask(OpDef):
    """pool_grad_mask{conv attrs, pool_ws, pool_stride, pool_pad,
    ignore_border}(mask, gz, x, w): max ``pool_grad`` of the convolution
    ``conv(x, w)`` from conv_pool's tie mask: every element of a window whose
    bit is set receives the window's ``gz`` (sums where windows overlap).
    The result has conv(x, w)'s shape, which ``x`` and ``w`` give through
    their dims alone (their elements are never read)."""
    name = "pool_grad_mask"
    num_operands = 4
    required_attrs = ("pad", "stride", "dilation", "groups", "flip") + CONV_POOL_ATTRS
    accumulates = True
    cost = 4

    def infer(self, op):
        self.check_arity(op)
        mask, gz, x, w = (v.type for v in op.operands)
        shape = _conv_out("pool_grad_mask", op.attrs, x, w)
        out = _pooled("pool_grad_mask", op.attrs, shape)
        if mask.dtype != "uint8" or mask.ndim != 4:
            raise TypeError(f"pool_grad_mask: mask must be a 4-d uint8 tensor, got {mask}")
        if gz.dtype != x.dtype or gz.ndim != 4:
            raise TypeError(f"pool_grad_mask: gz must be a 4-d {x.dtype} tensor, got {gz}")
        for what, t in (("mask", mask), ("gz", gz)):
            for k, (have, want) in enumerate(zip(t.shape, out)):
                if None not in (have, want) and have != want:
                    raise ValueError(f"pool_grad_mask: {what} {t} does not fit the pooled convolution: dim {k} is "
                                     f"{have}, expected {want}")
        return result(x.dtype, tuple(s if s is not None else m for s, m in zip(shape[:2], gz.shape[:2]))
                      + tuple(shape[2:]))

    def dims(self, op, shapes):
        x, w = (shapes.of(v) for v in op.operands[2:])
        rest = tuple(s if s is not None else shapes.fresh(2 + i) for i, s in enumerate(op.results[0].type.shape[2:]))
        return [(x[0], w[0]) + rest]

    def reference(self, op, mask, gz, x, w):
        from .conv import conv_shapes
        mask, gz = np.asarray(mask), np.asarray(gz)
        shape = conv_shapes(self.name, op.attrs, x.shape, w.shape)
        out = _pooled(self.name, op.attrs, shape)
        for what, t in (("mask", mask), ("gz", gz)):
            if t.shape != out:
                raise ValueError(f"pool_grad_mask: {what} has shape {t.shape}, the pooled convolution {out}")
        params = conv_pool_params(op.attrs, self.name)
        return [mask_grad(mask, gz, shape, *params).astype(gz.dtype, copy=False)]


OPS = [Pool, PoolGrad, PoolGradGrad, NeibsCheck, ConvPool, PoolGradMask]
