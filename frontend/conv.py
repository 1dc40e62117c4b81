"""Convolution in the DSL: Theano's ``conv2d``/``conv3d`` (abstract conv),
their gradient functions and ``conv2d_transpose``, built on the IR's
``conv``, ``conv_grad_input`` and ``conv_grad_weight`` ops (ir/ops/conv.py).

``border_mode`` is ``'valid'``, ``'full'``, ``'half'``, an int or a tuple of
ints (symmetric padding per spatial dim); ``subsample`` the strides,
``filter_dilation`` the dilation, ``num_groups`` grouped convolution,
``filter_flip=True`` a true convolution (Theano's default), False a
cross-correlation. ``input_shape``/``filter_shape`` are hints: entries that
are not None are checked against the operands' static shapes.
"""
from ..ir.types import is_float
from .basic import apply_op, as_tensor_variable, cast, result_dtype, static_int
from .variable import TensorVariable

__all__ = ["conv2d", "conv3d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights", "conv3d_grad_wrt_inputs",
           "conv3d_grad_wrt_weights", "conv2d_transpose", "conv3d_transpose", "get_conv_output_shape",
           "AbstractConv2d", "AbstractConv2d_gradInputs", "AbstractConv2d_gradWeights", "AbstractConv3d",
           "AbstractConv3d_gradInputs", "AbstractConv3d_gradWeights"]


def _tuple(v, nd, what, fname):
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v,) * nd
    try:
        v = tuple(v)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be an int or a tuple of {nd} ints, got {v!r}") from None
    if len(v) != nd or not all(isinstance(s, int) and not isinstance(s, bool) for s in v):
        raise ValueError(f"{fname}: {what} must be a tuple of {nd} ints, got {v!r}")
    if any(s < 1 for s in v):
        raise ValueError(f"{fname}: {what} entries must be >= 1 (positive), got {v!r}")
    return v


def border_pads(border_mode, nd, fname="conv"):
    """The ``pad`` attribute (one entry per spatial dim) of a ``border_mode``."""
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return (0,) * nd
        if border_mode in ("full", "half"):
            return (border_mode,) * nd
        if border_mode == "same":
            return ("half",) * nd
        raise ValueError(f"{fname}: border_mode must be 'valid', 'full', 'half', an int or a tuple of {nd} "
                         f"ints, got {border_mode!r}")
    if isinstance(border_mode, int) and not isinstance(border_mode, bool):
        border_mode = (border_mode,) * nd
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == nd:
        pads = []
        for p in border_mode:
            if isinstance(p, (tuple, list)) and len(p) == 2 and p[0] == p[1]:
                p = p[0]
            if isinstance(p, (tuple, list)):
                raise NotImplementedError(f"{fname}: asymmetric padding {border_mode!r} is not supported")
            if not isinstance(p, int) or isinstance(p, bool) or p < 0:
                raise ValueError(f"{fname}: border_mode entries must be ints >= 0, got {border_mode!r}")
            pads.append(int(p))
        return tuple(pads)
    raise ValueError(f"{fname}: border_mode must be 'valid', 'full', 'half', an int or a tuple of {nd} "
                     f"ints, got {border_mode!r}")


def _attrs(nd, border_mode, subsample, filter_flip, filter_dilation, num_groups, fname):
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1:
        raise ValueError(f"{fname}: num_groups must be an int >= 1, got {num_groups!r}")
    return dict(pad=border_pads(border_mode, nd, fname), stride=_tuple(subsample, nd, "subsample", fname),
                dilation=_tuple(filter_dilation, nd, "filter_dilation", fname), groups=int(num_groups),
                flip=bool(filter_flip))


def _operands(a, b, names, ndim, fname):
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v, n in zip((a, b), names):
        if v.ndim != ndim:
            raise ValueError(f"{fname}: {n} must be a {ndim}-d tensor, got {v.type}")
    dtype = result_dtype([a, b], fname)
    if not is_float(dtype):
        from ..config import config
        dtype = config.floatX
    return cast(a, dtype), cast(b, dtype)


def _check_hint(v, hint, what, fname):
    if hint is None:
        return
    hint = tuple(hint)
    if len(hint) != v.ndim:
        raise ValueError(f"{fname}: {what} must have {v.ndim} entries, got {hint!r}")
    for k, (h, s) in enumerate(zip(hint, v.type.shape)):
        h = static_int(h) if isinstance(h, TensorVariable) else h
        if h is not None and s is not None and int(h) != s:
            raise ValueError(f"{fname}: {what} {hint!r} disagrees with the operand's shape {v.type.shape} in dim {k}")


def _shape_entries(shape, ndim, what, fname):
    """(attribute, dynamic operands) for a shape given as ints, 0-d int
    variables, or a 1-d int variable."""
    if isinstance(shape, TensorVariable):
        if shape.ndim != 1 or shape.type.shape[0] not in (None, ndim):
            raise ValueError(f"{fname}: {what} must have {ndim} entries, got {shape.type}")
        shape = [apply_op("subtensor", shape, idx=(k,)) for k in range(ndim)]
    shape = list(shape)
    if len(shape) != ndim:
        raise ValueError(f"{fname}: {what} must have {ndim} entries, got {shape!r}")
    spec, dyn = [], []
    for s in shape:
        if isinstance(s, TensorVariable) and static_int(s) is not None:
            s = static_int(s)
        if isinstance(s, TensorVariable):
            if s.ndim != 0 or not s.dtype.startswith(("int", "uint")):
                raise TypeError(f"{fname}: {what} entries must be ints or 0-d int variables, got {s.type}")
            from ..ir.core import DYN
            spec.append(DYN)
            dyn.append(cast(s, "int64"))
        elif s is None:
            raise ValueError(f"{fname}: {what} must be fully given (no None entries), got {shape!r}")
        else:
            if int(s) < 0:
                raise ValueError(f"{fname}: {what} entries must be >= 0, got {shape!r}")
            spec.append(int(s))
    return tuple(spec), dyn


# --- forward ------------------------------------------------------------------------------
def _conv(nd, input, filters, input_shape, filter_shape, border_mode, subsample, filter_flip, filter_dilation,
          num_groups, fname):
    x, w = _operands(input, filters, ("input", "filters"), nd + 2, fname)
    _check_hint(x, input_shape, "input_shape", fname)
    _check_hint(w, filter_shape, "filter_shape", fname)
    attrs = _attrs(nd, border_mode, subsample, filter_flip, filter_dilation, num_groups, fname)
    return apply_op("conv", x, w, **attrs)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           filter_flip=True, image_shape=None, filter_dilation=(1, 1), num_groups=1, unshared=False, **kwargs):
    """Theano's ``theano.tensor.nnet.conv2d``: input (batch, channels, rows,
    cols), filters (out_channels, channels/num_groups, rows, cols)."""
    if unshared:
        raise NotImplementedError("conv2d: unshared (locally connected) convolution is not supported")
    if kwargs:
        raise TypeError(f"conv2d: unexpected keyword arguments {sorted(kwargs)}")
    if image_shape is not None:
        input_shape = image_shape if input_shape is None else input_shape
    return _conv(2, input, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                 filter_dilation, num_groups, "conv2d")


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1, 1),
           filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """Theano's ``theano.tensor.nnet.conv3d``: input (batch, channels, depth,
    rows, cols), filters (out_channels, channels/num_groups, depth, rows, cols)."""
    return _conv(3, input, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                 filter_dilation, num_groups, "conv3d")


# --- gradients and transposed convolution ----------------------------------------------------
def _grad_inputs(nd, output_grad, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                 filter_dilation, num_groups, fname):
    gy, w = _operands(output_grad, filters, ("output_grad", "filters"), nd + 2, fname)
    _check_hint(w, filter_shape, "filter_shape", fname)
    attrs = _attrs(nd, border_mode, subsample, filter_flip, filter_dilation, num_groups, fname)
    spec, dyn = _shape_entries(input_shape, nd + 2, "input_shape", fname)
    return apply_op("conv_grad_input", gy, w, *dyn, shape=spec, **attrs)


def _grad_weights(nd, input, output_grad, filter_shape, input_shape, border_mode, subsample, filter_flip,
                  filter_dilation, num_groups, fname):
    x, gy = _operands(input, output_grad, ("input", "output_grad"), nd + 2, fname)
    _check_hint(x, input_shape, "input_shape", fname)
    attrs = _attrs(nd, border_mode, subsample, filter_flip, filter_dilation, num_groups, fname)
    spec, dyn = _shape_entries(filter_shape, nd + 2, "filter_shape", fname)
    return apply_op("conv_grad_weight", x, gy, *dyn, shape=spec, **attrs)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None, border_mode="valid",
                           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """The gradient of ``conv2d`` with respect to its input (Theano's
    ``AbstractConv2d_gradInputs``); ``input_shape`` is needed in full (ints
    or symbolic scalars), since strides make it ambiguous."""
    return _grad_inputs(2, output_grad, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                        filter_dilation, num_groups, "conv2d_grad_wrt_inputs")


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None, border_mode="valid",
                            subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """The gradient of ``conv2d`` with respect to its filters (Theano's
    ``AbstractConv2d_gradWeights``); ``filter_shape`` is needed in full."""
    return _grad_weights(2, input, output_grad, filter_shape, input_shape, border_mode, subsample, filter_flip,
                         filter_dilation, num_groups, "conv2d_grad_wrt_weights")


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None, border_mode="valid",
                           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    return _grad_inputs(3, output_grad, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                        filter_dilation, num_groups, "conv3d_grad_wrt_inputs")


def conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None, border_mode="valid",
                            subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    return _grad_weights(3, input, output_grad, filter_shape, input_shape, border_mode, subsample, filter_flip,
                         filter_dilation, num_groups, "conv3d_grad_wrt_weights")


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid", input_dilation=(1, 1),
                     filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """Transposed convolution ("deconvolution"): the gradient of a conv2d
    with respect to its input, ``output_shape`` being that input's shape and
    ``input_dilation`` its ``subsample``."""
    return _grad_inputs(2, input, filters, output_shape, filter_shape, border_mode, input_dilation, filter_flip,
                        filter_dilation, num_groups, "conv2d_transpose")


def conv3d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    return _grad_inputs(3, input, filters, output_shape, filter_shape, border_mode, input_dilation, filter_flip,
                        filter_dilation, num_groups, "conv3d_transpose")


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample, filter_dilation=None):
    """Theano's ``abstract_conv.get_conv_output_shape`` (None stays None)."""
    from ..ir.ops.conv import out_size
    nd = len(image_shape) - 2
    pads = border_pads(border_mode, nd, "get_conv_output_shape")
    subsample = _tuple(subsample, nd, "subsample", "get_conv_output_shape")
    dil = _tuple(filter_dilation if filter_dilation is not None else 1, nd, "filter_dilation",
                 "get_conv_output_shape")
    return (image_shape[0], kernel_shape[0]) + tuple(
        out_size(image_shape[2 + i], kernel_shape[2 + i], pads[i], subsample[i], dil[i]) for i in range(nd))


# --- Theano's op classes, as callables ------------------------------------------------------
class _AbstractConv:
    nd = 2

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=None, filter_flip=True,
                 filter_dilation=None, num_groups=1, unshared=False):
        if unshared:
            raise NotImplementedError(f"{type(self).__name__}: unshared convolution is not supported")
        self.imshp, self.kshp = imshp, kshp
        self.border_mode, self.filter_flip, self.num_groups = border_mode, filter_flip, num_groups
        self.subsample = subsample if subsample is not None else (1,) * self.nd
        self.filter_dilation = filter_dilation if filter_dilation is not None else (1,) * self.nd

    def _kw(self):
        return dict(border_mode=self.border_mode, subsample=self.subsample, filter_flip=self.filter_flip,
                    filter_dilation=self.filter_dilation, num_groups=self.num_groups)


class AbstractConv2d(_AbstractConv):
    """``AbstractConv2d(...)(img, kern)``: conv2d."""

    def __call__(self, img, kern):
        return _conv(self.nd, img, kern, self.imshp, self.kshp, fname=type(self).__name__, **self._kw())


class AbstractConv2d_gradInputs(_AbstractConv):
    """``AbstractConv2d_gradInputs(...)(kern, topgrad, shape)``: ``shape`` the
    input's spatial shape."""

    def __call__(self, kern, topgrad, shape):
        kern, topgrad = as_tensor_variable(kern), as_tensor_variable(topgrad)
        cg = kern.type.shape[1]
        channels = cg * self.num_groups if cg is not None else kern.shape[1] * self.num_groups
        full = [_dim(topgrad, 0), channels] + list(_spatial(shape, self.nd))
        return _grad_inputs(self.nd, topgrad, kern, full, self.kshp, fname=type(self).__name__, **self._kw())


class AbstractConv2d_gradWeights(_AbstractConv):
    """``AbstractConv2d_gradWeights(...)(img, topgrad, shape)``: ``shape`` the
    filters' spatial shape."""

    def __call__(self, img, topgrad, shape):
        img, topgrad = as_tensor_variable(img), as_tensor_variable(topgrad)
        c = img.type.shape[1]
        if c is not None or self.num_groups == 1:
            channels = _dim(img, 1) if c is None else c // self.num_groups
        else:
            from .elemwise import floor_div
            channels = floor_div(img.shape[1], self.num_groups)
        full = [_dim(topgrad, 1), channels] + list(_spatial(shape, self.nd))
        return _grad_weights(self.nd, img, topgrad, full, self.imshp, fname=type(self).__name__, **self._kw())


class AbstractConv3d(AbstractConv2d):
    nd = 3


class AbstractConv3d_gradInputs(AbstractConv2d_gradInputs):
    nd = 3


class AbstractConv3d_gradWeights(AbstractConv2d_gradWeights):
    nd = 3


def _dim(v, k):
    return v.type.shape[k] if v.type.shape[k] is not None else v.shape[k]


def _spatial(shape, nd):
    if isinstance(shape, TensorVariable):
        return [apply_op("subtensor", shape, idx=(k,)) for k in range(nd)]
    shape = tuple(shape)
    if len(shape) != nd:
        raise ValueError(f"shape must give the {nd} spatial dims, got {shape!r}")
    return shape
