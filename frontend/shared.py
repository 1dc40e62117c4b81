"""Shared variables: named state that compiled functions read and update.

A SharedVariable is a graph input whose value lives with the runtime, not
in the call's arguments. Every function that uses it reads the current
storage at call time, so ``set_value`` between calls is seen, and a call's
updates replace the storage (all at once, after the call succeeded).

Its static type fixes the dtype and ndim; each dim is unknown, since
``set_value`` may change the shape, as in Theano, except the dims made
broadcastable (``shared(v, broadcastable=(True, False))``), which stay 1.
"""
import numpy as np

from ..config import config
from ..ir.types import TensorType, canonical_dtype
from ..runtime.convert import owned_copy, to_dtype
from .variable import TensorVariable


class SharedVariable(TensorVariable):
    __slots__ = ("_storage", "strict", "allow_downcast", "_gpu")
    is_shared = True

    def __init__(self, storage, name=None, strict=False, allow_downcast=None, shape=None):
        shape = (None,) * storage.ndim if shape is None else tuple(shape)
        super().__init__(TensorType(canonical_dtype(storage.dtype), shape), name=name)
        self._storage = storage         # C-contiguous, aligned, owned by the runtime
        self.strict = strict
        self.allow_downcast = allow_downcast
        self._gpu = None                # its value on a GPU (runtime/gpu_function.py)

    def __getattr__(self, name):
        # reached only when ``_storage`` is empty: a GPU function's update
        # left the newest value on the device; bring it back (lazily)
        if name == "_storage":
            from ..runtime.gpu_function import sync_to_host
            return sync_to_host(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __reduce_ex__(self, protocol):
        fn, args, (d, slots) = super().__reduce_ex__(protocol)      # reads _storage: a device value comes home
        slots["_gpu"] = None            # a device copy does not travel
        return fn, args, (d, slots)

    @property
    def _what(self):
        return f"shared variable {self.name!r}" if self.name else f"shared variable ({self.type})"

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value: a copy, or the runtime's own array if ``borrow``
        (which a later update replaces rather than changes). With both
        ``borrow`` and ``return_internal_type``, a value a GPU holds is
        returned as that device's ``theon.gpuarray.GpuArray`` (no copy)."""
        if borrow and return_internal_type and self._gpu is not None:
            from ..runtime.gpu_function import device_value
            value = device_value(self)
            if value is not None:
                return value
        return self._storage if borrow else self._storage.copy()

    def set_value(self, value, borrow=False):
        """Replace the value. Its dtype must convert safely (any cast if the
        variable was made with ``allow_downcast=True``; none if ``strict``)
        and its ndim must match; the shape may change. A GpuArray (of
        the variable's dtype) becomes the device value without a host copy."""
        if not isinstance(value, np.ndarray):
            from ..runtime.gpuarray import GpuArray
            if isinstance(value, GpuArray):
                from ..runtime.gpu_function import set_device_value
                set_device_value(self, value)
                return
        dtype = self.type.np_dtype
        if self.strict and not (isinstance(value, np.ndarray) and value.dtype == dtype):
            got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise TypeError(f"{self._what} is strict: set_value needs a {dtype} ndarray, got {got}")
        arr = to_dtype(value, dtype, self._what, self.allow_downcast, config.floatX,
                       hint="make the variable with theon.shared(..., allow_downcast=True)")
        self.type.check_shape(arr.shape, f"the value given to set_value of {self._what}")
        self._storage = owned_copy(arr, borrow=borrow and arr is value)
        self._gpu = None                # a device copy is stale now

    def copy_variable(self):
        """A new shared variable like this one (type, name, strictness)
        holding a copy of the current value (``copy.deepcopy`` uses it)."""
        return type(self)(self._storage.copy(), name=self.name, strict=self.strict,
                          allow_downcast=self.allow_downcast, shape=self.type.shape)

    def __repr__(self):
        return f"<SharedVariable {self.name or ''}: {self.type}>"


def _initial_array(value, name):
    what = f"shared variable {name!r}" if name else "shared variable"
    if isinstance(value, bool):
        return np.asarray(value, dtype=np.bool_)
    if isinstance(value, float):
        return np.asarray(value, dtype=config.floatX)
    if isinstance(value, int):
        return to_dtype(value, np.dtype(np.int64), what)
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"theon.shared: value must be a number or a numeric array, got "
                        f"{type(value).__name__} {value!r}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"theon.shared: value must be a number or a numeric array, got dtype {arr.dtype}")
    canonical_dtype(arr.dtype)   # raises TypeError for dtypes theon lacks (complex, ...)
    return arr


def _static_shape(broadcastable, arr):
    if broadcastable is None:
        return None
    if not isinstance(broadcastable, (tuple, list)) or len(broadcastable) != arr.ndim or not all(
            isinstance(b, (bool, np.bool_)) for b in broadcastable):
        raise TypeError(f"theon.shared: broadcastable must be a tuple of {arr.ndim} bools (one "
                        f"per dim of the value), got {broadcastable!r}")
    shape = tuple(1 if b else None for b in broadcastable)
    for i, b in enumerate(broadcastable):
        if b and arr.shape[i] != 1:
            raise ValueError(f"theon.shared: dim {i} is broadcastable but the value has size "
                             f"{arr.shape[i]} there (shape {arr.shape})")
    return shape


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, broadcastable=None):
    """A new shared variable holding ``value``.

    Python floats become floatX 0-d tensors, ints int64, bools bool; NumPy
    arrays and scalars keep their dtype. With ``borrow=True`` a C-contiguous
    array is used as is instead of copied. ``strict``/``allow_downcast``
    govern ``set_value`` (see there); ``broadcastable`` (one bool per dim)
    makes the True dims statically 1, for the life of the variable.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"theon.shared: name must be a str or None, got {type(name).__name__}")
    arr = _initial_array(value, name)
    shape = _static_shape(broadcastable, arr)
    storage = owned_copy(arr, borrow=borrow and arr is value)
    return SharedVariable(storage, name=name, strict=strict, allow_downcast=allow_downcast,
                          shape=shape)


TensorSharedVariable = SharedVariable   # Theano's name for a shared tensor
