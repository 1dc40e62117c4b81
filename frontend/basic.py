"""The DSL's foundations: turning Python data into graph values, constants,
casts, and NumPy 2 dtype promotion with weak Python scalars.

NumPy 2 (NEP 50) promotion: tensors and NumPy arrays/scalars are *strong*;
a Python ``int``/``float`` is *weak* and takes the tensor's kind when it can
(``fvector * 0.5`` stays float32, ``ivector + 1`` stays int32, while
``ivector * 1.5`` is float64). The IR never promotes, so every DSL function
decides the operand dtype here and inserts ``cast`` ops.
"""
import numpy as np

from ..config import config
from ..ir.builder import make_op
from ..ir.core import Value
from ..ir.opdef import const_value
from ..ir.types import canonical_dtype as _ir_dtype
from .debug import built
from .variable import TensorConstant, TensorVariable

# NumPy computes some float math on small ints (and bools) in float16; theon
# uses float32 there, as Theano did. With a float16 operand float16 stays.
_SUBSTITUTE = {"float16": "float32"}


def canonical_dtype(dtype):
    """theon's name of a user's dtype (anything NumPy understands);
    ``'floatX'`` means ``config.floatX``, as in Theano."""
    if isinstance(dtype, str) and dtype == "floatX":
        dtype = config.floatX
    return _ir_dtype(dtype)


def apply_op(name, *operands, **attrs):
    """The single TensorVariable result of a new floating ``name`` op."""
    op = make_op(name, operands, attrs,
                 value_cls=TensorConstant if name == "constant" else TensorVariable)
    built(op)           # source location, test values (frontend/debug.py)
    return op.result


def is_weak(x):
    """A Python int or float (not bool, not a NumPy scalar): a weak scalar."""
    return isinstance(x, (int, float)) and not isinstance(x, (bool, np.generic))


def is_variable(x):
    return isinstance(x, TensorVariable)


def _python_float_data(value):
    """True if ``value`` is Python float data (a float or nested lists holding
    one), which becomes floatX as in Theano."""
    if isinstance(value, np.generic):
        return False
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return any(_python_float_data(v) for v in value)
    return False


def constant(value, name=None, dtype=None):
    """A ``constant`` op holding ``value``.

    Python floats (and lists of them) become ``config.floatX``, Python ints
    int64, bools bool; NumPy arrays and scalars keep their dtype; ``dtype``
    forces one (out-of-range Python ints raise OverflowError).
    """
    if isinstance(value, Value):
        raise TypeError(f"constant: value is already a graph variable ({value!r}); "
                        "constants hold Python or NumPy data")
    if dtype is not None:
        dtype = canonical_dtype(dtype)
    elif _python_float_data(value):
        dtype = config.floatX
    try:
        with np.errstate(all="ignore"):
            array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise type(e)(f"constant: cannot make a {dtype or 'tensor'} constant of {value!r}: {e}") from None
    if array.dtype == object or array.dtype.kind in "SUVMmc":
        raise TypeError(f"constant: value {value!r} is not numeric data (NumPy dtype {array.dtype})")
    canonical_dtype(array.dtype)  # TypeError for unsupported dtypes (complex, float128, ...)
    out = apply_op("constant", value=array)
    out.name = name
    return out


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """``x`` itself if it is a TensorVariable, else a constant of it.
    ``ndim`` checks the number of dims; ``dtype`` casts."""
    if isinstance(x, TensorVariable):
        out = x
    elif isinstance(x, Value):
        raise TypeError(f"as_tensor_variable: {x!r} is an IR value of a compiled function, "
                        "not a DSL variable")
    else:
        out = constant(x, name=name)
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"as_tensor_variable: expected a {ndim}-d tensor, got {out.type}")
    if dtype is not None:
        out = cast(out, dtype)
    return out


def cast(x, dtype):
    """``x`` converted to ``dtype`` (``x`` itself when it already has it).
    Float to int truncates toward zero; anything to bool is ``!= 0``."""
    dtype = canonical_dtype(dtype)
    x = as_tensor_variable(x)
    if x.dtype == dtype:
        return x
    return apply_op("cast", x, dtype=dtype)


def dtype_key(x):
    """What NumPy's promotion sees: a dtype for tensors, ``int``/``float``
    for weak Python scalars."""
    if isinstance(x, TensorVariable):
        return np.dtype(x.dtype)
    if is_weak(x):
        return float if isinstance(x, float) else int
    raise TypeError(f"dtype_key: {x!r} is neither a tensor nor a Python scalar")


def _theon_dtype(np_dtype, fname, keys=()):
    """``np_dtype`` as a theon dtype; float16 that NumPy chose for
    operands none of which is float16 (``exp(int8)``) becomes float32."""
    name = np.dtype(np_dtype).name
    if name in _SUBSTITUTE and not any(isinstance(k, np.dtype) and k.name == name for k in keys):
        name = _SUBSTITUTE[name]
    try:
        return canonical_dtype(name)
    except TypeError:
        raise TypeError(f"{fname}: NumPy computes it in {name}, which theon does not support") from None


def strengthen(args):
    """Operands as tensors or weak scalars; when no operand is a tensor,
    all become constants (so ``T.add(1, 2.5)`` follows ``T.constant``)."""
    args = [a if is_weak(a) else as_tensor_variable(a) for a in args]
    if all(is_weak(a) for a in args):
        args = [constant(a) for a in args]
    return args


def result_dtype(args, fname):
    """NumPy 2's ``result_type`` of tensors and weak scalars, as a theon dtype."""
    keys = [np.dtype(a.dtype) if is_variable(a) else a for a in args]
    try:
        return _theon_dtype(np.result_type(*keys), fname, keys)
    except TypeError as e:
        raise TypeError(f"{fname}: cannot promote {[_describe(a) for a in args]}: {e}") from None


def loop_dtype(ufunc, args, fname):
    """The dtype NumPy's ``ufunc`` computes in for these operands (its inner
    loop's input dtype), as a theon dtype; float16 becomes float32 unless
    an operand is float16."""
    keys = tuple(dtype_key(a) for a in args) + (None,) * ufunc.nout
    try:
        resolved = ufunc.resolve_dtypes(keys)
    except TypeError as e:
        raise TypeError(f"{fname}: not defined for {[_describe(a) for a in args]} ({e})") from None
    return _theon_dtype(resolved[0], fname, keys)


def to_dtype(x, dtype, fname):
    """A tensor operand of ``dtype``: weak scalars become constants of it
    (OverflowError if they do not fit, as in NumPy 2), tensors are cast."""
    if is_weak(x):
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(x, dtype=dtype)
        except (OverflowError, ValueError) as e:
            raise OverflowError(f"{fname}: Python scalar {x!r} does not fit the {dtype} "
                                f"operand ({e})") from None
        return apply_op("constant", value=value)
    return cast(x, dtype)


def _describe(a):
    if is_variable(a):
        return str(a.type)
    return f"{type(a).__name__} {a!r}"


def static_int(v):
    """The compile-time int a 0-d int variable is known to hold, else None.
    Knows constants and ``shape(x)[k]`` where dim k of x is static."""
    c = const_value(v)
    if c is not None:
        if c.ndim == 0 and c.dtype.kind in "iu":
            return int(c)
        return None
    op = v.owner
    if op is None or op.name != "subtensor" or len(op.operands) != 1:
        return None
    src = op.operands[0].owner
    idx = op.attrs["idx"]
    if src is None or src.name != "shape" or len(idx) != 1 or not isinstance(idx[0], int):
        return None
    return src.operands[0].type.shape[idx[0]]
