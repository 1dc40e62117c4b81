"""``theon.scalar``: the dtype helpers of Theano's ``theano.scalar``."""
import numpy as np

from ..frontend.basic import canonical_dtype

__all__ = ["upcast", "upgrade_to_float"]


def upcast(dtype, *dtypes):
    """The dtype (a str) values of ``dtype`` and ``dtypes`` combine to, by
    NumPy's promotion of arrays (``upcast('int8', 'float32') == 'float32'``,
    ``upcast('int32', 'float32') == 'float64'``); ``'floatX'`` is allowed."""
    names = [canonical_dtype(d) for d in (dtype,) + dtypes]
    return np.result_type(*[np.dtype(n) for n in names]).name


def upgrade_to_float(*dtypes):
    """Theano's output-type rule of float math: the upcast of ``dtypes``,
    made float (ints of up to 16 bits and bools become float32, wider ints
    float64)."""
    out = upcast(*dtypes)
    if np.dtype(out).kind == "f":
        return out
    return np.result_type(np.dtype(out), np.float32 if np.dtype(out).itemsize <= 2 else np.float64).name
