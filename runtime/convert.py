"""Turning Python values into arrays native code may read.

Every check happens here, before native code runs: the value is numeric,
its dtype converts to the expected one under the casting rule (see
``to_dtype``), its ndim is right, its shape agrees with the static shape,
and its memory layout is one the native ABI accepts (aligned, native byte
order, strides a multiple of the item size). Views that satisfy the ABI --
transposed, Fortran-order, sliced or negative-stride arrays -- pass through
without a copy.
"""
import numpy as np

from ..ir.types import canonical_dtype

NUMERIC_KINDS = "biuf"
KIND_NAMES = {0: "scalar", 1: "vector", 2: "matrix", 3: "tensor3", 4: "tensor4"}


def describe(dtype, static_shape):
    """'float64 matrix of shape (?, 3)': the type a value must have."""
    ndim = len(static_shape)
    return f"{dtype} {KIND_NAMES.get(ndim, f'{ndim}-d tensor')} of shape {shape_text(static_shape)}"


def shape_text(shape):
    """A static shape as text, '?' for unknown dims: (?, 3)."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _lossless(raw, converted):
    """True if ``converted`` holds exactly the values of ``raw``."""
    with np.errstate(all="ignore"):
        if raw.dtype.kind == "f":
            return bool(np.array_equal(raw, converted, equal_nan=True))
        return bool(np.array_equal(raw, converted))


DOWNCAST_HINT = "pass allow_input_downcast=True to theon.function"


def _python_float_data(value):
    """A Python float, or lists/tuples holding Python floats."""
    if type(value) is float:
        return True
    if isinstance(value, (list, tuple)):
        return any(_python_float_data(v) for v in value)
    return False


def to_dtype(value, dtype, what, allow_downcast=None, floatx="float64", hint=DOWNCAST_HINT):
    """``value`` as an ndarray of exactly ``dtype`` (a np.dtype).

    NumPy arrays convert when NumPy's safe casting allows (any cast with
    ``allow_downcast=True``). Python scalars and lists convert when no value
    changes; with ``allow_downcast=None`` Python floats (and lists of them)
    also convert to floatX. ``what`` names the value in errors ("input 'x'").
    """
    if isinstance(value, np.ndarray):
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if arr.dtype == dtype:
            return arr
        if arr.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"{what} expects a {dtype.name} array, got an array of dtype {arr.dtype}")
        if allow_downcast or np.can_cast(arr.dtype, dtype, "safe"):
            return arr.astype(dtype)
        raise TypeError(
            f"{what} has dtype {dtype.name} and cannot take an array of dtype {arr.dtype} "
            f"without risking loss of precision; cast it first (x.astype('{dtype.name}')) or {hint}")
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{what} expects a numeric value or array of dtype {dtype.name}, "
                        f"got {type(value).__name__} {_short_repr(value)}")
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{what} expects a numeric value or array of dtype {dtype.name}, "
                        f"got {type(value).__name__} {_short_repr(value)} ({e})") from None
    if raw.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"{what} expects a numeric value or array of dtype {dtype.name}, "
                        f"got {type(value).__name__} {_short_repr(value)} (NumPy dtype {raw.dtype})")
    if raw.dtype == dtype:
        return raw
    if allow_downcast or np.can_cast(raw.dtype, dtype, "safe"):
        return raw.astype(dtype)
    if allow_downcast is None and dtype.name == floatx and _python_float_data(value):
        return raw.astype(dtype)
    with np.errstate(all="ignore"):
        converted = raw.astype(dtype)
    if _lossless(raw, converted):
        return converted
    raise TypeError(
        f"{what} has dtype {dtype.name}, and the value {_short_repr(value)} cannot be stored in it "
        f"without loss of precision; cast it first or {hint}")


def abi_layout(arr):
    """``arr`` itself if native code can read it in place, else a C copy."""
    if arr.flags.aligned and arr.dtype.isnative:
        itemsize = arr.itemsize
        for s in arr.strides:
            if s % itemsize:
                break
        else:
            return arr
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))


class InputSpec:
    """What one function input accepts; everything is decided at compile time."""

    __slots__ = ("position", "name", "label", "what", "dtype", "ndim", "static_shape", "known_dims",
                 "allow_downcast", "floatx")

    def __init__(self, position, variable, allow_downcast, floatx):
        self.position = position
        self.name = variable.name
        self.label = repr(variable.name) if variable.name else f"#{position}"
        self.what = f"input {self.label} (argument {position})"
        self.dtype = np.dtype(canonical_dtype(variable.type.dtype))
        self.ndim = variable.type.ndim
        self.static_shape = variable.type.shape
        self.known_dims = tuple((d, n) for d, n in enumerate(self.static_shape) if n is not None)
        self.allow_downcast = allow_downcast
        self.floatx = floatx

    def convert(self, value):
        """The array passed to native code for ``value``, or a clear error."""
        arr = value
        if type(arr) is not np.ndarray or arr.dtype != self.dtype:
            arr = to_dtype(value, self.dtype, self.what, self.allow_downcast, self.floatx)
        if arr.ndim != self.ndim:
            raise TypeError(f"{self.what} must be a {describe(self.dtype.name, self.static_shape)}; "
                            f"got a {arr.ndim}-d value of shape {arr.shape}")
        for d, n in self.known_dims:
            if arr.shape[d] != n:
                raise ValueError(
                    f"{self.what} has static shape {shape_text(self.static_shape)} but got shape "
                    f"{arr.shape}: dim {d} is {arr.shape[d]}, expected {n}")
        return abi_layout(arr)


def owned_copy(arr, borrow=False):
    """A C-contiguous, aligned, writeable array with ``arr``'s values:
    ``arr`` itself when ``borrow`` and it already is one, else a copy."""
    if (borrow and arr.flags.c_contiguous and arr.flags.aligned and arr.flags.writeable
            and arr.dtype.isnative):
        return arr
    return np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)
