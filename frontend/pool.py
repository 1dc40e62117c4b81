"""Pooling (``theon.tensor.signal.pool``): Theano 1.0's ``pool_2d``,
``pool_3d`` and ``max_pool_2d_same_size`` over the IR's ``pool`` and
``pool_grad`` ops (``ir/ops/pool.py`` states the semantics)."""
import warnings

import numpy as np

from ..ir.ops.pool import MODES, pool_params
from .basic import apply_op, as_tensor_variable

__all__ = ["pool_2d", "pool_3d", "max_pool_2d_same_size", "max_pool_2d", "Pool", "MaxPoolGrad",
           "AveragePoolGrad", "DownsampleFactorMaxGradGrad"]


def _int_tuple(v, nd, what, fname):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * nd
    if hasattr(v, "owner") or hasattr(v, "type"):
        raise TypeError(f"{fname}: {what} must be a tuple of {nd} Python ints (symbolic {what} "
                        f"is not supported), got {v!r}")
    try:
        t = tuple(v)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be a tuple of {nd} ints, got {v!r}") from None
    if len(t) != nd or not all(isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))
                               for k in t):
        raise TypeError(f"{fname}: {what} must be a tuple of {nd} ints, got {v!r}")
    return tuple(int(k) for k in t)


def _renamed(new, old, new_name, old_name, fname, default=None):
    if old is None:
        return new
    if new is not None and new != default:
        raise ValueError(f"{fname}: give {new_name!r} only (its old name {old_name!r} too was given)")
    warnings.warn(f"{fname}: {old_name!r} is deprecated, use {new_name!r}", DeprecationWarning, stacklevel=3)
    return old


def pool(input, ws, ignore_border, stride, pad, mode, nd, fname):
    """The ``pool`` op over the last ``nd`` dims of ``input``, arguments checked."""
    x = as_tensor_variable(input)
    if x.ndim < nd:
        raise ValueError(f"{fname}: input must have at least {nd} dims (pooling over the last {nd}), "
                         f"got {x.type}")
    if ws is None:
        raise ValueError(f"{fname}: ws (the window size) is required")
    ws = _int_tuple(ws, nd, "ws", fname)
    stride = ws if stride is None else _int_tuple(stride, nd, "stride", fname)
    pad = (0,) * nd if pad is None else _int_tuple(pad, nd, "pad", fname)
    if ignore_border is None:
        warnings.warn(f"{fname}: ignore_border was not given; it is False as in Theano (give "
                      "ignore_border=True or False explicitly)", stacklevel=3)
        ignore_border = False
    if mode not in MODES:
        raise ValueError(f"{fname}: mode must be one of {', '.join(MODES)}; got {mode!r}")
    attrs = dict(ws=ws, stride=stride, pad=pad, ignore_border=bool(ignore_border), mode=mode)
    pool_params(attrs, fname)
    return apply_op("pool", x, **attrs)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last 2 dims of ``input`` with windows ``ws`` (rows, cols)
    every ``stride`` (default ``ws``), zero ``pad`` on both sides (needs
    ignore_border=True), ``mode`` one of 'max', 'sum', 'average_inc_pad',
    'average_exc_pad'. ``ds``/``st``/``padding`` are the old names."""
    ws = _renamed(ws, ds, "ws", "ds", "pool_2d")
    stride = _renamed(stride, st, "stride", "st", "pool_2d")
    pad = _renamed(pad, padding, "pad", "padding", "pool_2d", default=(0, 0))
    return pool(input, ws, ignore_border, stride, pad, mode, 2, "pool_2d")


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max",
            ds=None, st=None, padding=None):
    """``pool_2d`` over the last 3 dims."""
    ws = _renamed(ws, ds, "ws", "ds", "pool_3d")
    stride = _renamed(stride, st, "stride", "st", "pool_3d")
    pad = _renamed(pad, padding, "pad", "padding", "pool_3d", default=(0, 0, 0))
    return pool(input, ws, ignore_border, stride, pad, mode, 3, "pool_3d")


def max_pool_2d_same_size(input, patch_size):
    """``input`` with every element that is not the maximum of its
    (non-overlapping, ``patch_size``) window set to zero (the windows' maxima
    stay where they are; elements past the last whole window become 0)."""
    x = as_tensor_variable(input)
    z = pool(x, patch_size, True, None, (0, 0), "max", 2, "max_pool_2d_same_size")
    return apply_op("pool_grad", x, z, z, **z.owner.attrs)


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """Theano 0.x's ``theano.tensor.signal.downsample.max_pool_2d``: ``pool_2d``."""
    return pool(input, ds, ignore_border, st, padding, mode, 2, "max_pool_2d")


# --- Theano's op classes, as callables building the same ops -------------------------------------------
class _PoolOp:
    """What Theano's pooling op instances are used for: built with the
    flags, called with the tensors and ``ws``/``stride``/``pad``."""
    op_name, min_args = None, 1

    def __init__(self, ignore_border=False, mode="max", ndim=2):
        if ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: ndim must be 2 or 3, got {ndim!r}")
        self.ignore_border, self.mode, self.ndim = bool(ignore_border), mode, ndim

    def _attrs(self, ws, stride, pad):
        fname = type(self).__name__
        nd = self.ndim
        ws = _int_tuple(ws, nd, "ws", fname)
        stride = ws if stride is None else _int_tuple(stride, nd, "stride", fname)
        pad = (0,) * nd if pad is None else _int_tuple(pad, nd, "pad", fname)
        attrs = dict(ws=ws, stride=stride, pad=pad, ignore_border=self.ignore_border, mode=self.mode)
        pool_params(attrs, fname)
        return attrs

    def __repr__(self):
        return f"{type(self).__name__}(ignore_border={self.ignore_border}, mode={self.mode!r}, ndim={self.ndim})"


class Pool(_PoolOp):
    """``Pool(ignore_border, mode, ndim)(x, ws, stride=None, pad=None)``."""

    def __call__(self, x, ws, stride=None, pad=None):
        return pool(x, ws, self.ignore_border, stride, pad, self.mode, self.ndim, "Pool")


class MaxPoolGrad(_PoolOp):
    """``MaxPoolGrad(ignore_border, ndim)(x, maxout, gz, ws, stride=None, pad=None)``."""

    def __init__(self, ignore_border=False, ndim=2):
        super().__init__(ignore_border, "max", ndim)

    def __call__(self, x, maxout, gz, ws, stride=None, pad=None):
        return apply_op("pool_grad", as_tensor_variable(x), as_tensor_variable(maxout), as_tensor_variable(gz),
                        **self._attrs(ws, stride, pad))


class AveragePoolGrad(_PoolOp):
    """``AveragePoolGrad(ignore_border, mode, ndim)(x, gz, ws, stride=None, pad=None)``."""

    def __init__(self, ignore_border=False, mode="average_inc_pad", ndim=2):
        if mode not in ("sum", "average_inc_pad", "average_exc_pad"):
            raise ValueError(f"AveragePoolGrad: mode must be 'sum', 'average_inc_pad' or 'average_exc_pad', "
                             f"got {mode!r}")
        super().__init__(ignore_border, mode, ndim)

    def __call__(self, x, gz, ws, stride=None, pad=None):
        attrs = self._attrs(ws, stride, pad)
        x = as_tensor_variable(x)
        return apply_op("pool_grad", x, apply_op("pool", x, **attrs), as_tensor_variable(gz), **attrs)


class DownsampleFactorMaxGradGrad(_PoolOp):
    """``DownsampleFactorMaxGradGrad(ignore_border, mode='max', ndim)(x, maxout, ggx, ws, stride, pad)``:
    per window, the sum of ggx over the elements equal to its maximum."""

    def __call__(self, x, maxout, ggx, ws, stride=None, pad=None):
        if self.mode != "max":
            raise ValueError(f"DownsampleFactorMaxGradGrad: mode must be 'max', got {self.mode!r}")
        return apply_op("pool_grad_grad", as_tensor_variable(x), as_tensor_variable(maxout),
                        as_tensor_variable(ggx), **self._attrs(ws, stride, pad))
