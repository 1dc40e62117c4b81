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
are convolutions again; a cotangent's extra leading dims (jacobian, hessian)
are folded into the batch or into each group's channels.
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
    if a.dtype not in ("float16", "float32", "float64"):     # float16: legalize-f16 computes in float32
        raise TypeError(f"{name}: operands must be float16, float32 or float64, got {a.dtype}")
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
    roles = ("x", "w", "y")     # names of its two operands and its result (kernels, messages)
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
        return _conv_grads(e, x, w, g, self.conv_attrs(op), batch_ndim(op, g))


def _conv_grads(e, x, w, g, a, nb):
    """[gx, gw] of conv(x, w) given the output gradient g (``nb`` leading
    cotangent dims)."""
    if not nb:
        gx = _with_shape(e, "conv_grad_input", [g, w], e.dims(x), a)
        gw = _with_shape(e, "conv_grad_weight", [x, g], e.dims(w), a)
        return [gx, gw]
    B, bt = _batch(e, g, nb)
    gx = _with_shape(e, "conv_grad_input", [_fold_batch(e, g, nb, bt), w],
                     [_prod(e, [bt, e.dim(x, 0)])] + e.dims(x, 1), a)
    gx = e.reshape(gx, B + e.dims(x))
    # the cotangents' B folded into each group's output channels
    gw = _with_shape(e, "conv_grad_weight", [x, _fold_channels(e, g, nb, bt, a["groups"])],
                     [_prod(e, [bt, e.dim(w, 0)])] + e.dims(w, 1), a)
    return [gx, _unfold_channels(e, gw, B, bt, a["groups"], e.dims(w))]


ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")
# the elementwise op each activation is, with its extra operand (relu: maximum(z, 0))
ACTIVATION_OPS = {"tanh": ("tanh", ()), "sigmoid": ("sigmoid", ()), "relu": ("maximum", (0,))}


def activate(z, activation):
    """NumPy value of a conv_bias activation (the elementwise ops' formulas)."""
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return (1 / (1 + np.exp(-z))).astype(z.dtype)
    if activation == "relu":
        return np.maximum(z, 0)
    return z


# the ops the conv-epilogue pass folds into conv_bias (its rule roots): a channel bias, then an activation
EPILOGUE_ROOTS = frozenset(("add", "tanh", "sigmoid", "maximum"))


def activation_grad(e, activation, y, g):
    """``g`` times the derivative of ``activation`` (ACTIVATIONS) taken from
    its result ``y``: tanh 1 - y*y, sigmoid y*(1 - y), relu y > 0."""
    one, zero = e.const(1, y.dtype), e.const(0, y.dtype)
    if activation == "tanh":
        return e("mul", g, e("sub", one, e("mul", y, y)))
    if activation == "sigmoid":
        return e("mul", g, e("mul", y, e("sub", one, y)))
    if activation == "relu":
        return e("where", e("gt", y, zero), g, zero)
    return g


def channel_bias(op):
    """(conv result, 1-d bias) when ``op`` is ``add(conv(x, w), dimshuffle(b,
    'x', 0, 'x', ...))`` (either order) with the sum shaped as the conv
    result, else None."""
    if op.name != "add" or len(op.operands) != 2:
        return None
    for y, t in (op.operands, op.operands[::-1]):
        conv, ds = y.owner, t.owner
        if conv is None or conv.name != "conv" or ds is None or ds.name != "dimshuffle":
            continue
        b = ds.operands[0]
        if b.type.ndim == 1 and ds.attrs["pattern"] == ("x", 0) + ("x",) * (y.type.ndim - 2) \
                and op.results[0].type == y.type:
            return y, b
    return None


def activation_of(op, is_zero):
    """(activation name, its operand) when ``op`` is one of ACTIVATIONS
    applied to a value (relu: ``maximum(z, 0)``, ``is_zero(v)`` telling the
    zero), else None."""
    if op.name in ("tanh", "sigmoid"):
        return op.name, op.operands[0]
    if op.name == "maximum" and len(op.operands) == 2:
        for z, c in (op.operands, op.operands[::-1]):
            if is_zero(c) and op.results[0].type == z.type:
                return "relu", z
    return None


class ConvBias(_ConvBase):
    """conv_bias{pad, stride, dilation, groups, flip, activation}(x, w, b):
    ``activation(conv(x, w) + b)`` with the 1-d ``b`` (out_channels entries,
    or one) broadcast over the batch and the spatial dims; ``activation``
    one of ACTIVATIONS (relu = maximum(z, 0)). The ``conv-epilogue`` pass
    (passes/conv_epilogue.py) builds it from conv -> add(bias) -> tanh /
    sigmoid / relu, so the CPU adds the bias and applies the activation
    while it copies each GEMM chunk out (the result is written once)."""
    name = "conv_bias"
    roles = ("x", "w", "y")
    num_operands = 3
    required_attrs = CONV_ATTRS + ("activation",)

    def infer(self, op):
        self.check_arity(op)
        x, w, b = (v.type for v in op.operands)
        _check_types("conv_bias", x, w)
        check_attrs("conv_bias", op.attrs, x.ndim - 2)
        if op.attrs["activation"] not in ACTIVATIONS:
            raise ValueError(f"conv_bias: activation must be one of {ACTIVATIONS}, got {op.attrs['activation']!r}")
        if b.dtype != x.dtype or b.ndim != 1:
            raise TypeError(f"conv_bias: the bias must be a 1-d {x.dtype} tensor, got {b}")
        shape = conv_shapes("conv_bias", op.attrs, x.shape, w.shape)
        if None not in (b.shape[0], shape[1]) and b.shape[0] not in (1, shape[1]):
            raise ValueError(f"conv_bias: the bias has {b.shape[0]} entries for {shape[1]} output channels")
        return result(x.dtype, shape)

    def dims(self, op, shapes):
        x, w = (shapes.of(v) for v in op.operands[:2])
        rest = tuple(s if s is not None else shapes.fresh(2 + i) for i, s in enumerate(op.results[0].type.shape[2:]))
        return [(x[0], w[0]) + rest]

    def reference(self, op, x, w, b):
        conv_shapes(self.name, op.attrs, x.shape, w.shape)
        z = conv_forward(x, w, self.conv_attrs(op))
        if b.shape[0] not in (1, z.shape[1]):
            raise ValueError(f"conv_bias: the bias has {b.shape[0]} entries for {z.shape[1]} output channels")
        z = z + b.reshape((1, -1) + (1,) * (z.ndim - 2))
        return [activate(z, op.attrs["activation"]).astype(x.dtype, copy=False)]

    def grad(self, op, grads):
        """The activation's derivative from the result y (tanh: 1 - y*y,
        sigmoid: y*(1 - y), relu: y > 0), then conv's gradients and the
        bias's (gz summed over the batch and spatial dims)."""
        (x, w, b), y, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        g = activation_grad(e, op.attrs["activation"], y, g)
        gx, gw = _conv_grads(e, x, w, g, self.conv_attrs(op), nb)
        gb = e.sum(g, [nb] + list(range(nb + 2, g.ndim)), False)      # (B..., out_channels)
        if b.type.shape[0] != y.type.shape[1] or b.type.shape[0] is None:   # a bias of one entry broadcast
            spec, dyn = e.shape_spec(e.batch_dims(g, nb) + e.dims(b))
            gb = e("sum_to", gb, *dyn, shape=spec)
        return [gx, gw, gb]


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
    roles = ("gy", "w", "gx")     # names of its two operands and its result (kernels, messages)

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
        a, nb = self.conv_attrs(op), batch_ndim(op, G)
        rest = [None] * (len(op.operands) - 2)
        if not nb:
            return [e("conv", G, w, **a), _with_shape(e, "conv_grad_weight", [G, gy], e.dims(w), a)] + rest
        B, bt = _batch(e, G, nb)
        ggy = e.reshape(e("conv", _fold_batch(e, G, nb, bt), w, **a), B + e.dims(gy))
        # B folded into each group's input channels: filters (Co, B*Ci/G, k...)
        gw = _with_shape(e, "conv_grad_weight", [_fold_channels(e, G, nb, bt, a["groups"]), gy],
                         [e.dim(w, 0), _prod(e, [bt, e.dim(w, 1)])] + e.dims(w, 2), a)
        gw = e.reshape(gw, [e.dim(w, 0), bt, e.dim(w, 1)] + e.dims(w, 2))
        gw = e.dimshuffle(gw, [1, 0] + list(range(2, gw.ndim)))
        return [ggy, e.reshape(gw, B + e.dims(w))] + rest


class ConvGradWeight(_ConvGrad):
    """conv_grad_weight{..., shape}(x, gy, dyn...): the filters' gradient."""
    name = "conv_grad_weight"
    roles = ("x", "gy", "gw")     # names of its two operands and its result (kernels, messages)

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
        a, nb = self.conv_attrs(op), batch_ndim(op, G)
        rest = [None] * (len(op.operands) - 2)
        if not nb:
            return [_with_shape(e, "conv_grad_input", [gy, G], e.dims(x), a), e("conv", x, G, **a)] + rest
        B, bt = _batch(e, G, nb)
        co, cg, ks = e.dim(G, nb), e.dim(G, nb + 1), e.dims(G, nb + 2)
        # wrt x: the filters' B folded into each group's input channels, (Co, B*Ci/G, k...)
        wi = e.dimshuffle(e.reshape(G, [bt, co, cg] + ks), [1, 0] + list(range(2, 3 + len(ks))))
        wi = e.reshape(wi, [co, _prod(e, [bt, cg])] + ks)
        gx = _with_shape(e, "conv_grad_input", [gy, wi],
                         [e.dim(x, 0), _prod(e, [bt, e.dim(x, 1)])] + e.dims(x, 2), a)
        gx = _unfold_channels(e, gx, B, bt, a["groups"], e.dims(x), batch_axis=1)
        # wrt gy: the filters' B folded into each group's output channels, (G*B*Co/G, Ci/G, k...)
        g_ = a["groups"]
        wo = e.dimshuffle(e.reshape(G, [bt, g_, -1, cg] + ks), [1, 0] + list(range(2, 4 + len(ks))))
        wo = e.reshape(wo, [_prod(e, [bt, co]), cg] + ks)
        ggy = _unfold_channels(e, e("conv", x, wo, **a), B, bt, g_, e.dims(gy), batch_axis=1)
        return [gx, ggy] + rest


# --- batched (jacobian/hessian) gradients: the extra leading dims B of a
# cotangent are folded into the batch or into each group's channels, so
# that one conv op serves every b in B ---------------------------------------
def _prod(e, dims):
    """The product of ints and 0-d int64 Values (an int when all are ints)."""
    n, vals = 1, []
    for d in dims:
        if isinstance(d, int):
            n *= d
        else:
            vals.append(d)
    out = None if n == 1 and vals else n
    for v in vals:
        out = v if out is None else e("mul", e.const(out, "int64") if isinstance(out, int) else out, v)
    return out


def _batch(e, g, nb):
    """The ``nb`` batch dims of ``g`` and their product."""
    B = e.batch_dims(g, nb)
    return B, _prod(e, B)


def _fold_batch(e, g, nb, bt):
    """(B..., N, C, ...) -> (prod(B) * N, C, ...)."""
    return e.reshape(g, [_prod(e, [bt, e.dim(g, nb)])] + e.dims(g, nb + 1))


def _fold_channels(e, g, nb, bt, groups):
    """(B..., N, C, ...) -> (N, G * prod(B) * C/G, ...): b placed inside each
    group's channel block, ahead of the channel within the group."""
    n, sp = e.dim(g, nb), e.dims(g, nb + 2)
    t = e.reshape(g, [bt, n, groups, -1] + sp)                          # (B, N, G, C/G, ...)
    t = e.dimshuffle(t, [1, 2, 0] + list(range(3, t.ndim)))             # (N, G, B, C/G, ...)
    return e.reshape(t, [n, _prod(e, [bt, e.dim(g, nb + 1)])] + sp)


def _unfold_channels(e, y, B, bt, groups, dims, batch_axis=0):
    """Inverse of a group-wise channel fold: ``y``'s axis ``batch_axis`` of
    size G * prod(B) * C/G (b inside each group) -> (B..., *dims), where
    ``dims[batch_axis]`` is C."""
    k = batch_axis
    lead, tail = [e.dim(y, i) for i in range(k)], e.dims(y, k + 1)
    t = e.reshape(y, lead + [groups, bt, -1] + tail)                    # (..., G, B, C/G, ...)
    perm = [k + 1] + list(range(k)) + [k, k + 2] + list(range(k + 3, t.ndim))
    return e.reshape(e.dimshuffle(t, perm), B + list(dims))             # (B, ..., G, C/G, ...)


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


OPS = [Conv, ConvBias, ConvGradInput, ConvGradWeight]
