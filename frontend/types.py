"""Symbolic inputs: ``T.scalar``, ``T.matrix``, ``T.fvector``, ``T.tensor`` ...

Each constructor returns a free ``TensorVariable`` (no owner) of a
``TensorType``. Unprefixed ones use ``config.floatX`` unless ``dtype=`` is
given; the prefixes are f/d (float32/float64), i/l (int32/int64), b/w
(int8/int16), as in Theano. ``row`` is shape (1, None), ``col`` (None, 1).
Plural forms (``T.matrices('a', 'b')`` or ``T.matrices('a,b')``) return a list.
"""
import numpy as np

from ..config import config
from ..ir import types as ir_types
from .basic import canonical_dtype
from .variable import TensorVariable

PREFIX_DTYPES = {"f": "float32", "d": "float64", "i": "int32", "l": "int64",
                 "b": "int8", "w": "int16"}

SHAPES = {"scalar": (), "vector": (None,), "row": (1, None), "col": (None, 1),
          "matrix": (None, None), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
          "tensor5": (None,) * 5, "tensor6": (None,) * 6, "tensor7": (None,) * 7}


def _check_name(name, fname):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{fname}: name must be a str or None, got {name!r}")


def _input(kind, name, dtype, fname):
    _check_name(name, fname)
    dtype = canonical_dtype(dtype if dtype is not None else config.floatX)
    return TensorVariable(ir_types.TensorType(dtype, SHAPES[kind]), name=name)


def _split_names(names, fname):
    if len(names) == 1 and isinstance(names[0], str) and "," in names[0]:
        names = [n.strip() for n in names[0].split(",")]
    if len(names) == 1 and isinstance(names[0], int) and not isinstance(names[0], bool):
        names = [None] * names[0]
    for n in names:
        _check_name(n, fname)
    return names


def _maker(kind, prefix=""):
    fixed_dtype = PREFIX_DTYPES.get(prefix)
    fname = prefix + kind
    if fixed_dtype is None:
        def make(name=None, dtype=None):
            return _input(kind, name, dtype, fname)
        make.__doc__ = f"A free input of shape {SHAPES[kind]}, dtype floatX or ``dtype``."
    else:
        def make(name=None):
            return _input(kind, name, fixed_dtype, fname)
        make.__doc__ = f"A free {fixed_dtype} input of shape {SHAPES[kind]}."
    make.__name__ = make.__qualname__ = fname
    return make


def _plural(single, fname):
    def make(*names, dtype=None):
        """Several inputs at once: names as arguments, one comma-separated
        string, or a count."""
        names = _split_names(names, fname)
        if "dtype" in single.__code__.co_varnames:
            return [single(n, dtype=dtype) for n in names]
        return [single(n) for n in names]
    make.__name__ = make.__qualname__ = fname
    return make


def tensor(dtype=None, shape=None, name=None, broadcastable=None):
    """A free input of ``dtype`` (floatX by default) and static ``shape`` (ints
    or None). Theano's ``broadcastable`` (True means a dim of size 1) works
    instead of ``shape``; ``tensor(dtype, name)`` (PyTensor's order) too."""
    if isinstance(shape, str) and name is None:
        shape, name = None, shape
    if shape is not None and broadcastable is not None:
        raise ValueError("tensor: give shape or broadcastable, not both")
    if shape is not None and not isinstance(shape, (tuple, list)):
        raise TypeError(f"tensor: shape must be a tuple of ints or None, got {shape!r}")
    if shape is not None and len(shape) and all(isinstance(d, bool) for d in shape):
        shape, broadcastable = None, shape
    if broadcastable is not None:
        shape = tuple(1 if b else None for b in broadcastable)
    if shape is None:
        raise TypeError("tensor: a shape (or broadcastable) is needed, e.g. "
                        "T.tensor('float32', shape=(None, 3))")
    _check_name(name, "tensor")
    dtype = canonical_dtype(dtype if dtype is not None else config.floatX)
    return TensorVariable(ir_types.TensorType(dtype, tuple(shape)), name=name)


class _TensorTypeMeta(type):
    """Makes ``TensorType`` a factory of the IR's TensorType that
    ``isinstance`` also recognizes."""

    def __call__(cls, dtype, broadcastable=None, name=None, shape=None, sparse_grad=False):
        if (broadcastable is None) == (shape is None):
            raise TypeError("TensorType: give broadcastable (a tuple of bools) or shape "
                            "(ints or None), one of them")
        if broadcastable is not None:
            if not isinstance(broadcastable, (tuple, list)):
                raise TypeError(f"TensorType: broadcastable must be a tuple of bools, got "
                                f"{broadcastable!r}")
            if all(isinstance(b, (bool, np.bool_)) for b in broadcastable):
                shape = tuple(1 if b else None for b in broadcastable)
            elif all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool))
                     for d in broadcastable):
                shape = broadcastable      # PyTensor's TensorType(dtype, shape)
            else:
                raise TypeError(f"TensorType: expected a tuple of bools (broadcastable) or of "
                                f"ints and None (shape), got {broadcastable!r}")
        elif not isinstance(shape, (tuple, list)):
            raise TypeError(f"TensorType: shape must be a tuple of ints or None, got {shape!r}")
        return ir_types.TensorType(canonical_dtype(dtype), tuple(shape))

    def __instancecheck__(cls, obj):
        return isinstance(obj, ir_types.TensorType)

    def __subclasscheck__(cls, sub):
        return isinstance(sub, type) and issubclass(sub, ir_types.TensorType)


class TensorType(metaclass=_TensorTypeMeta):
    """Theano's ``TensorType(dtype, broadcastable)``: the type of a tensor
    variable, a dtype (``'floatX'`` allowed) and one bool per dim (True: the
    dim is statically 1). Calling a type makes a free variable:
    ``T.TensorType('float64', (False,) * 3)('t')``. Instances are the IR's
    ``TensorType`` (``x.type``); a shape (ints or None: PyTensor's second
    argument, or ``shape=``) works instead of ``broadcastable``."""


KINDS = ("scalar", "vector", "row", "col", "matrix", "tensor3", "tensor4", "tensor5", "tensor6",
         "tensor7")
PLURAL = {"matrix": "matrices"}      # else kind + "s"
PLURAL_PREFIXES = ("", "f", "d", "i", "l")    # Theano has no bscalars / wmatrices

# every constructor, as module globals: scalar, fscalar, ... wtensor7, and
# the plurals scalars, fscalars, ..., ltensor7s, matrices, fmatrices, ...
for _kind in KINDS:
    for _prefix in ("",) + tuple(PREFIX_DTYPES):
        _single = globals()[_prefix + _kind] = _maker(_kind, _prefix)
        if _prefix in PLURAL_PREFIXES:
            _name = _prefix + PLURAL.get(_kind, _kind + "s")
            globals()[_name] = _plural(_single, _name)
del _name
del _kind, _prefix, _single

__all__ = ["TensorType", "tensor"] + [p + k for k in KINDS for p in ("",) + tuple(PREFIX_DTYPES)] + [
    p + PLURAL.get(k, k + "s") for k in KINDS for p in PLURAL_PREFIXES]
