"""Convolution: ``conv`` and its two gradient ops, for 1, 2 or 3 spatial dims.

Layouts are Theano's: input ``(batch, channels, *spatial)``, filters
``(out_channels, channels / groups, *kernel)``, result
``(batch, out_channels, *out)``. Attributes, one entry per spatial dim:

- ``pad``: an int >= 0 (zeros added on both sides), ``"full"`` (dilated
  kernel size - 1) or ``"half"`` (dilated kernel size // 2), resolved with
  the kernel's size (which may be known only at run time);
- ``stride``, ``dilation``: ints >= 1;
- ``groups``: int >= 1 (channels and out_channels split into that many
  independent convolutions);
- ``flip``: bool; true = convolution (the kernel is flipped, Theano's
  ``filter_flip=True``), false = cross-correlation.

Per spatial dim ``out = (in + 2*pad - dilation*(k-1) - 1) // stride + 1``;
result element ``y[n, o, p] = sum_{c, t} w[o, c, t] * x[n, g*Cg + c,
p*stride - pad + tap(t)*dilation]`` with ``tap(t) = k-1-t`` when ``flip``,
else ``t``, zeros outside the input.

``conv_grad_input{..., shape}(gy, w, dyn...)`` is the transpose of ``conv``
with respect to its input (``shape`` the input's shape, ``?`` entries read
from the trailing 0-d int operands, as ``alloc``); ``conv_grad_weight{...,
shape}(x, gy, dyn...)`` the gradient with respect to the filters (``shape``
the filters' shape). Both are linear in each operand, so their gradients
are convolutions again.
"""
import itertools

import numpy as np

from ..autodiff import batch_ndim, emitter
from ..core import DYN
from ..opdef import OpDef, result
from .shape import _size_entries

CONV_ATTRS = ("pad", "stride", "dilation", "groups", "flip")


def resolve_pad(pad, k, dilation):
    """The int padding of one spatial dim: ``pad`` an int, "full" or "half"
    (``k`` the kernel's size, an int)."""
    if pad == "full":
        return dilation * (k - 1)
    if pad == "half":
        return (dilation * (k - 1) + 1) // 2
    return pad


def out_size(n, k, pad, stride, dilation):
    """Output size of one spatial dim (None where a size is unknown; may be
    < 1 when the filter is larger than the padded input)."""
    if n is None or k is None:
        return None
    return (n + 2 * resolve_pad(pad, k, dilation) - dilation * (k - 1) - 1) // stride + 1


def check_attrs(name, attrs, nd):
    """ValueError naming the attribute if the convolution attributes are malformed."""
    for a in CONV_ATTRS:
        if a not in attrs:
            raise ValueError(f"{name} requires attribute {a!r}")
    for a in ("pad", "stride", "dilation"):
        v = attrs[a]
        if not isinstance(v, tuple) or len(v) != nd:
            raise ValueError(f"{name}: {a} must have one entry per spatial dim ({nd}), got {v!r}")
    for p in attrs["pad"]:
        if not (p in ("full", "half") or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)):
            raise ValueError(f"{name}: pad entries must be ints >= 0, 'full' or 'half', got {p!r}")
    for a, what in (("stride", "subsample"), ("dilation", "filter_dilation")):
        for s in attrs[a]:
            if not isinstance(s, int) or isinstance(s, bool) or s < 1:
                raise ValueError(f"{name}: {a} ({what}) entries must be ints >= 1, got {attrs[a]!r}")
    g = attrs["groups"]
    if not isinstance(g, int) or isinstance(g, bool) or g < 1:
        raise ValueError(f"{name}: groups (num_groups) must be an int >= 1, got {g!r}")
    if not isinstance(attrs["flip"], bool):
        raise ValueError(f"{name}: flip must be a bool, got {attrs['flip']!r}")


def conv_shapes(name, attrs, xshape, wshape, yshape=None):
    """Check the input/filter/output shapes (entries None where unknown)
    against each other; the output shape they give."""
    nd = len(xshape) - 2
    g = attrs["groups"]
    n, c = xshape[:2]
    oc, cg = wshape[:2]
    if c is not None and cg is not None and c != cg * g:
        raise ValueError(f"{name}: channel mismatch: the input has {c} channels, but the filters expect "
                         f"{cg * g} (filters.shape[1] = {cg} x num_groups = {g})")
    if oc is not None and oc % g:
        raise ValueError(f"{name}: the filters' {oc} output channels are not a multiple of num_groups = {g}")
    out = [n, oc]
    for i in range(nd):
        k, d = wshape[2 + i], attrs["dilation"][i]
        if k is not None and k < 1:
            raise ValueError(f"{name}: filter size {k} in spatial dim {i} must be >= 1")
        o = out_size(xshape[2 + i], k, attrs["pad"][i], attrs["stride"][i], d)
        if o is not None and o < 1:
            padded = xshape[2 + i] + 2 * resolve_pad(attrs["pad"][i], k, d)
            raise ValueError(f"{name}: the filter (size {k}, dilated {d * (k - 1) + 1}) is larger than the "
                             f"padded input ({padded}) in spatial dim {i}")
        out.append(o)
    if yshape is not None:
        for a, (o, y) in enumerate(zip(out, yshape)):
            if o is not None and y is not None and o != y:
                raise ValueError(f"{name}: the output gradient has size {y} in dim {a}, but the input and "
                                 f"filter shapes give {o}")
    return tuple(out)


def _check_types(name, a, b):
    if a.dtype != b.dtype:
        raise TypeError(f"{name}: operands must have one dtype, got {a.dtype} and {b.dtype}")
    if a.dtype not in ("float32", "float64"):
        raise TypeError(f"{name}: operands must be float32 or float64, got {a.dtype}")
    if a.ndim != b.ndim or a.ndim not in (3, 4, 5):
        raise ValueError(f"{name}: operands must both be 3-d, 4-d or 5-d ((batch, channels, *spatial) and "
                         f"(out_channels, channels/groups, *kernel)), got {a.ndim}-d and {b.ndim}-d")


class _ConvBase(OpDef):
    accumulates = True
    has_grad = True

    def conv_attrs(self, op):
        return {a: op.attrs[a] for a in CONV_ATTRS}


class Conv(_ConvBase):
    """conv{pad, stride, dilation, groups, flip}(x, w)."""
    name = "conv"
    num_operands = 2
    required_attrs = CONV_ATTRS

    def infer(self, op):
        self.check_arity(op)
        x, w = (v.type for v in op.operands)
        _check_types("conv", x, w)
        check_attrs("conv", op.attrs, x.ndim - 2)
        return result(x.dtype, conv_shapes("conv", op.attrs, x.shape, w.shape))

    def dims(self, op, shapes):
        x, w = (shapes.of(v) for v in op.operands)
        rest = tuple(s if s is not None else shapes.fresh(2 + i) for i, s in enumerate(op.results[0].type.shape[2:]))
        return [(x[0], w[0]) + rest]

    def reference(self, op, x, w):
        conv_shapes(self.name, op.attrs, x.shape, w.shape)
        return [conv_forward(x, w, self.conv_attrs(op))]

    def grad(self, op, grads):
        (x, w), g, e = op.operands, grads[0], emitter(op)
        _no_batch(op, g)
        a = self.conv_attrs(op)
        gx = _with_shape(e, "conv_grad_input", [g, w], e.dims(x), a)
        gw = _with_shape(e, "conv_grad_weight", [x, g], e.dims(w), a)
        return [gx, gw]


class _ConvGrad(_ConvBase):
    first_dyn = 2
    size_attr = "shape"
    required_attrs = CONV_ATTRS + ("shape",)

    def _shape(self, op):
        return _size_entries(op)

    def _check(self, op):
        if len(op.operands) < 2:
            raise ValueError(f"{self.name} takes at least 2 operands, got {len(op.operands)}")
        for a in self.required_attrs:
            if a not in op.attrs:
                raise ValueError(f"{self.name} requires attribute {a!r}")
        a, b = op.operands[0].type, op.operands[1].type
        _check_types(self.name, a, b)
        check_attrs(self.name, op.attrs, a.ndim - 2)
        for v in op.operands[2:]:
            if v.type.ndim != 0 or not v.type.dtype.startswith(("int", "uint")):
                raise TypeError(f"{self.name}: size operands must be 0-d integers, got {v.type}")
        shape = self._shape(op)
        if len(shape) != a.ndim:
            raise ValueError(f"{self.name}: shape {shape} must have {a.ndim} entries")
        return a, b, shape

    def dims(self, op, shapes):
        dyn = iter(op.operands[self.first_dyn:])
        return [tuple(shapes.size(next(dyn)) if d is DYN else d for d in op.attrs["shape"])]


class ConvGradInput(_ConvGrad):
    """conv_grad_input{..., shape}(gy, w, dyn...): the input's gradient."""
    name = "conv_grad_input"

    def infer(self, op):
        gy, w, shape = self._check(op)
        conv_shapes(self.name, op.attrs, shape, w.shape, gy.shape)
        return result(gy.dtype, shape)

    def reference(self, op, gy, w, *dyn):
        shape = _resolved(op, dyn)
        conv_shapes(self.name, op.attrs, shape, w.shape, gy.shape)
        return [conv_grad_input(gy, w, shape, self.conv_attrs(op))]

    def grad(self, op, grads):
        (gy, w), G, e = op.operands[:2], grads[0], emitter(op)
        _no_batch(op, G)
        a = self.conv_attrs(op)
        return [e("conv", G, w, **a), _with_shape(e, "conv_grad_weight", [G, gy], e.dims(w), a)] + \
            [None] * (len(op.operands) - 2)


class ConvGradWeight(_ConvGrad):
    """conv_grad_weight{..., shape}(x, gy, dyn...): the filters' gradient."""
    name = "conv_grad_weight"

    def infer(self, op):
        x, gy, shape = self._check(op)
        conv_shapes(self.name, op.attrs, x.shape, shape, gy.shape)
        return result(x.dtype, shape)

    def reference(self, op, x, gy, *dyn):
        shape = _resolved(op, dyn)
        conv_shapes(self.name, op.attrs, x.shape, shape, gy.shape)
        return [conv_grad_weight(x, gy, shape, self.conv_attrs(op))]

    def grad(self, op, grads):
        (x, gy), G, e = op.operands[:2], grads[0], emitter(op)
        _no_batch(op, G)
        a = self.conv_attrs(op)
        return [_with_shape(e, "conv_grad_input", [gy, G], e.dims(x), a), e("conv", x, G, **a)] + \
            [None] * (len(op.operands) - 2)


def _no_batch(op, g):
    if batch_ndim(op, g):
        raise NotImplementedError(f"{op.name}: gradients with extra leading dims (jacobian/hessian through a "
                                  "convolution) are not supported")


def _with_shape(e, name, operands, dims, attrs):
    spec, dyn = e.shape_spec(dims)
    return e(name, *operands, *dyn, shape=spec, **attrs)


def _resolved(op, dyn):
    from ..core import substitute_dyn
    return tuple(substitute_dyn(op.attrs["shape"], [int(d) for d in dyn]))


# --- NumPy reference (vectorized over batch and output positions) ---------------------
def _geometry(xshape, wshape, attrs):
    nd = len(xshape) - 2
    ks = wshape[2:]
    pads = [resolve_pad(attrs["pad"][i], ks[i], attrs["dilation"][i]) for i in range(nd)]
    outs = [out_size(xshape[2 + i], ks[i], attrs["pad"][i], attrs["stride"][i], attrs["dilation"][i])
            for i in range(nd)]
    return nd, ks, pads, outs


def _taps(ks, attrs):
    """(kernel index, slices into the padded input) per kernel position."""
    nd = len(ks)
    for t in itertools.product(*(range(k) for k in ks)):
        tap = [ks[i] - 1 - t[i] if attrs["flip"] else t[i] for i in range(nd)]
        yield t, tap


def _window(tap, outs, attrs):
    s, d = attrs["stride"], attrs["dilation"]
    return tuple(slice(tap[i] * d[i], tap[i] * d[i] + s[i] * (outs[i] - 1) + 1, s[i]) for i in range(len(outs)))


def conv_forward(x, w, attrs):
    nd, ks, pads, outs = _geometry(x.shape, w.shape, attrs)
    g = attrs["groups"]
    n, c = x.shape[:2]
    oc, cg = w.shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads]).reshape((n, g, cg) + tuple(p + 2 * q for p, q in
                                                                                         zip(x.shape[2:], pads)))
    wg = w.reshape((g, oc // g, cg) + tuple(ks))
    y = np.zeros((n, g, oc // g) + tuple(outs), dtype=np.float64)
    for t, tap in _taps(ks, attrs):
        patch = xp[(slice(None),) * 3 + _window(tap, outs, attrs)]
        y += np.einsum("ngc...,goc->ngo...", patch, wg[(slice(None),) * 3 + t])
    return y.reshape((n, oc) + tuple(outs)).astype(x.dtype)


def conv_grad_input(gy, w, shape, attrs):
    nd, ks, pads, outs = _geometry(shape, w.shape, attrs)
    g = attrs["groups"]
    n, c = shape[:2]
    oc, cg = w.shape[:2]
    gx = np.zeros((n, g, cg) + tuple(p + 2 * q for p, q in zip(shape[2:], pads)), dtype=np.float64)
    gyg = gy.reshape((n, g, oc // g) + tuple(outs))
    wg = w.reshape((g, oc // g, cg) + tuple(ks))
    for t, tap in _taps(ks, attrs):
        gx[(slice(None),) * 3 + _window(tap, outs, attrs)] += np.einsum("ngo...,goc->ngc...", gyg,
                                                                        wg[(slice(None),) * 3 + t])
    crop = tuple(slice(p, p + s) for p, s in zip(pads, shape[2:]))
    return gx[(slice(None),) * 3 + crop].reshape(shape).astype(gy.dtype)


def conv_grad_weight(x, gy, shape, attrs):
    nd, ks, pads, outs = _geometry(x.shape, shape, attrs)
    g = attrs["groups"]
    n, c = x.shape[:2]
    oc, cg = shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads]).reshape((n, g, cg) + tuple(p + 2 * q for p, q in
                                                                                         zip(x.shape[2:], pads)))
    gyg = gy.reshape((n, g, oc // g) + tuple(outs))
    gw = np.zeros((g, oc // g, cg) + tuple(ks), dtype=np.float64)
    for t, tap in _taps(ks, attrs):
        patch = xp[(slice(None),) * 3 + _window(tap, outs, attrs)]
        gw[(slice(None),) * 3 + t] = np.einsum("ngcp,ngop->goc", patch.reshape(patch.shape[:3] + (-1,)),
                                               gyg.reshape(gyg.shape[:3] + (-1,)))
    return gw.reshape(shape).astype(x.dtype)


OPS = [Conv, ConvGradInput, ConvGradWeight]
