"""Tensor types: a dtype plus a static shape whose dims are int or None.

Text form (MLIR-like): ``tensor<?x3xf32>``; a 0-d tensor is ``tensor<f64>``.
"""
from dataclasses import dataclass

import numpy as np

# dtype name (NumPy's) -> short IR name, in promotion-friendly order.
DTYPES = {
    "bool": "i1",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
}
SHORT_TO_DTYPE = {v: k for k, v in DTYPES.items()}
# float16 is a storage and interchange dtype: its values follow NumPy (each
# op computes in float32 and rounds its result to float16); the
# ``legalize-f16`` pass (passes/legalize_f16.py) rewrites its arithmetic
# into float32 before codegen, which then needs only 16-bit loads, stores
# and casts.
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
SIGNED_INT_DTYPES = ("int8", "int16", "int32", "int64")
UNSIGNED_INT_DTYPES = ("uint8", "uint16", "uint32", "uint64")


_DTYPE_NAMES = {}       # NumPy dtype -> its name, for the dtypes theon supports


def canonical_dtype(dtype):
    """Normalize anything NumPy understands as a dtype to theon's dtype name."""
    if isinstance(dtype, str):
        if dtype in DTYPES:
            return dtype
        if dtype in SHORT_TO_DTYPE:
            return SHORT_TO_DTYPE[dtype]
    elif isinstance(dtype, np.dtype):
        # ``np.dtype.name`` is computed in Python on every access: remembered
        # per dtype (every constant's type is inferred from its value's dtype)
        name = _DTYPE_NAMES.get(dtype)
        if name is not None:
            return name
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None
    if name not in DTYPES:
        raise TypeError(f"dtype {name!r} is not supported by theon; supported: {sorted(DTYPES)}")
    if isinstance(dtype, np.dtype) and len(_DTYPE_NAMES) < 256:
        _DTYPE_NAMES[dtype] = name
    return name


def is_float(dtype):
    return dtype in FLOAT_DTYPES


def is_int(dtype):
    return dtype in INT_DTYPES


def is_bool(dtype):
    return dtype == "bool"


def is_unsigned(dtype):
    """The dtype's values are unsigned (uint8..uint64, and bool: 0 or 1):
    they compare, divide and widen as unsigned (LLVM udiv/icmp u*/zext/uitofp)."""
    return dtype == "bool" or dtype in UNSIGNED_INT_DTYPES


def int_bits(dtype):
    """Bits of an integer or bool dtype's storage (bool: 8)."""
    return 8 * np.dtype(dtype).itemsize


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple  # of int (>= 0) or None

    def __post_init__(self):
        object.__setattr__(self, "dtype", canonical_dtype(self.dtype))
        # a Theano broadcastable pattern: True is a static 1, False unknown
        shape = tuple((1 if d else None) if isinstance(d, (bool, np.bool_)) else d
                      for d in self.shape)
        for d in shape:
            if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
                raise ValueError(f"tensor dims must be non-negative ints or None, got {shape}")
        object.__setattr__(self, "shape", tuple(None if d is None else int(d) for d in shape))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def broadcastable(self):
        """Theano's view: True where the dim is statically 1."""
        return tuple(d == 1 for d in self.shape)

    @property
    def np_dtype(self):
        return np.dtype(self.dtype)

    # the class __call__ makes: the DSL (frontend/variable.py) sets TensorVariable
    variable_class = None

    def __call__(self, name=None):
        """A new free variable of this type (Theano's ``TensorType(...)('x')``,
        ``x.type()``)."""
        cls = TensorType.variable_class
        if cls is None:
            from .core import Value as cls
        return cls(self, name=name)

    make_variable = __call__

    def with_shape(self, shape):
        return TensorType(self.dtype, shape)

    def with_dtype(self, dtype):
        return TensorType(dtype, self.shape)

    def accepts_shape(self, shape):
        """True if a concrete shape is compatible with this static shape."""
        return len(shape) == self.ndim and all(
            s is None or s == d for s, d in zip(self.shape, shape))

    def check_shape(self, shape, what):
        """Raise TypeError if a value of concrete ``shape`` (``what`` names it)
        has another ndim, ValueError if it contradicts the static shape."""
        shape = tuple(shape)
        if len(shape) != self.ndim:
            raise TypeError(f"{what}: the variable is {self.ndim}-d ({self}), the value "
                            f"{len(shape)}-d (shape {shape})")
        if not self.accepts_shape(shape):
            raise ValueError(f"{what} has shape {shape}, which contradicts the static shape "
                             f"{self.shape} (1: a broadcastable dim)")

    def __str__(self):
        dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        return f"tensor<{dims}{DTYPES[self.dtype]}>"

    __repr__ = __str__


def broadcast_shapes(*shapes, what="operands"):
    """Static NumPy broadcasting of shapes with unknown (None) dims.

    A None dim may turn out to be 1 at run time, so None with n gives n
    (checked at run time) and None with None gives None.
    Raises ValueError on a static mismatch.
    """
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        dims = [s[axis] for s in padded]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {[tuple(s) for s in shapes]} of {what} cannot be "
                             f"broadcast: dim {axis} is {sorted(known)}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def promote_dtypes(*dtypes):
    """NumPy's result type of several tensor dtypes."""
    return canonical_dtype(np.result_type(*[np.dtype(d) for d in dtypes]))
