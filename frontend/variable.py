"""The user's graph: TensorVariable is an IR Value with Python operators.

Graph inputs (``T.matrix('a')``) are TensorVariables with no owner; every
DSL function creates a floating IR Operation (see ``ir.builder.make_op``)
whose results are TensorVariables. ``theon.function`` later clones the
reachable part of this graph into an IR Function (``frontend/build.py``).

Operators follow NumPy (``/`` is true division, comparisons give bool
tensors), except ``==`` and ``!=``, which stay identity so variables can be
dict keys, as in Theano: use ``T.eq``/``T.neq``. A variable has no truth
value and no ``len``.
"""
import weakref

import numpy as np

from ..ir.core import Value
from ..ir.types import TensorType

# variable -> {tuple of input variables: compiled function} for .eval()
_EVAL_CACHE = weakref.WeakKeyDictionary()


def _operand(other):
    """True if a Python operator should treat ``other`` as tensor data."""
    return isinstance(other, (Value, int, float, bool, list, tuple, np.ndarray, np.generic))


class Tag:
    """``x.tag``: a free namespace for user data (``x.tag.test_value``)."""

    def __repr__(self):
        return f"Tag({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class TensorVariable(Value):
    # No __slots__: variables take user attributes (``x._keras_shape = ...``).
    is_shared = False     # SharedVariable (frontend/shared.py) sets True
    __array_priority__ = 1000
    __array_ufunc__ = None   # NumPy defers: np.ones(3) + x calls x.__radd__

    # --- operators --------------------------------------------------------------------
    def __add__(self, other):
        return E.add(self, other) if _operand(other) else NotImplemented

    def __radd__(self, other):
        return E.add(other, self) if _operand(other) else NotImplemented

    def __sub__(self, other):
        return E.sub(self, other) if _operand(other) else NotImplemented

    def __rsub__(self, other):
        return E.sub(other, self) if _operand(other) else NotImplemented

    def __mul__(self, other):
        return E.mul(self, other) if _operand(other) else NotImplemented

    def __rmul__(self, other):
        return E.mul(other, self) if _operand(other) else NotImplemented

    def __truediv__(self, other):
        return E.true_div(self, other) if _operand(other) else NotImplemented

    def __rtruediv__(self, other):
        return E.true_div(other, self) if _operand(other) else NotImplemented

    def __floordiv__(self, other):
        return E.floor_div(self, other) if _operand(other) else NotImplemented

    def __rfloordiv__(self, other):
        return E.floor_div(other, self) if _operand(other) else NotImplemented

    def __mod__(self, other):
        return E.mod(self, other) if _operand(other) else NotImplemented

    def __rmod__(self, other):
        return E.mod(other, self) if _operand(other) else NotImplemented

    def __divmod__(self, other):
        return self.__floordiv__(other), self.__mod__(other)

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            raise NotImplementedError("pow: the three-argument form is not supported")
        return E.pow(self, other) if _operand(other) else NotImplemented

    def __rpow__(self, other):
        return E.pow(other, self) if _operand(other) else NotImplemented

    def __matmul__(self, other):
        return L.matmul(self, other) if _operand(other) else NotImplemented

    def __rmatmul__(self, other):
        return L.matmul(other, self) if _operand(other) else NotImplemented

    def __and__(self, other):
        return E.and_(self, other) if _operand(other) else NotImplemented

    def __rand__(self, other):
        return E.and_(other, self) if _operand(other) else NotImplemented

    def __or__(self, other):
        return E.or_(self, other) if _operand(other) else NotImplemented

    def __ror__(self, other):
        return E.or_(other, self) if _operand(other) else NotImplemented

    def __xor__(self, other):
        return E.xor(self, other) if _operand(other) else NotImplemented

    def __rxor__(self, other):
        return E.xor(other, self) if _operand(other) else NotImplemented

    def __lt__(self, other):
        return E.lt(self, other) if _operand(other) else NotImplemented

    def __le__(self, other):
        return E.le(self, other) if _operand(other) else NotImplemented

    def __gt__(self, other):
        return E.gt(self, other) if _operand(other) else NotImplemented

    def __ge__(self, other):
        return E.ge(self, other) if _operand(other) else NotImplemented

    def __neg__(self):
        return E.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return E.abs(self)

    def __invert__(self):
        return E.invert(self)

    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise NotImplementedError("round: ndigits is not supported")
        return E.round(self)

    def __bool__(self):
        raise TypeError("a symbolic TensorVariable has no truth value (it is known only when "
                        "the function runs); use T.where/T.switch, or compare with T.eq")

    def __len__(self):
        raise TypeError("len() of a symbolic TensorVariable is not defined; use x.shape[0]")

    def __iter__(self):
        if self.ndim == 0 or self.type.shape[0] is None:
            raise TypeError(f"cannot iterate over {self!r}: its first dim is not statically known")
        return iter([self[i] for i in range(self.type.shape[0])])

    # --- indexing ----------------------------------------------------------------------
    def __getitem__(self, key):
        return I.getitem(self, key)

    def take(self, indices, axis=None, mode="raise"):
        return I.take(self, indices, axis, mode)

    def nonzero(self, return_matrix=False):
        return I.nonzero(self, return_matrix)

    def nonzero_values(self):
        return I.nonzero_values(self)

    def __setitem__(self, key, value):
        raise TypeError("TensorVariables are immutable; use T.set_subtensor(x[key], value) "
                        "or T.inc_subtensor(x[key], value), which return new tensors")

    # --- properties --------------------------------------------------------------------
    @property
    def shape(self):
        """The run-time shape: a 1-d int64 tensor (``x.shape[0]`` is 0-d)."""
        return S.shape(self)

    @property
    def broadcastable(self):
        """Theano's view of the static shape: True where the dim is statically 1."""
        return self.type.broadcastable

    @property
    def tag(self):
        tag = self.__dict__.get("tag")
        if tag is None:
            tag = self.__dict__["tag"] = Tag()
        return tag

    @tag.setter
    def tag(self, value):
        self.__dict__["tag"] = value

    @property
    def size(self):
        """The number of elements: an int64 tensor (a constant when static)."""
        n = S.prod_dims(self, range(self.ndim))
        return B.constant(n, dtype="int64") if isinstance(n, int) else n

    @property
    def T(self):
        return S.transpose(self)

    # --- methods -----------------------------------------------------------------------
    def astype(self, dtype):
        return B.cast(self, dtype)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1:
            shape = shape[0]
        return S.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return S.flatten(self, ndim)

    def ravel(self):
        return S.flatten(self, 1)

    def dimshuffle(self, *pattern):
        return S.dimshuffle(self, *pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (list, tuple))):
            axes = axes[0]
        return S.transpose(self, axes or None)

    def squeeze(self, axis=None):
        return S.squeeze(self, axis)

    # sorting and extra_ops (frontend/extra_ops.py)
    def sort(self, axis=-1, kind="quicksort", order=None):
        return X.sort(self, axis, kind, order)

    def argsort(self, axis=-1, kind="quicksort", order=None):
        return X.argsort(self, axis, kind, order)

    def cumsum(self, axis=None):
        return X.cumsum(self, axis)

    def cumprod(self, axis=None):
        return X.cumprod(self, axis)

    def repeat(self, repeats, axis=None):
        return X.repeat(self, repeats, axis)

    def searchsorted(self, v, side="left", sorter=None):
        return X.searchsorted(self, v, side, sorter)

    def compress(self, a, axis=None):
        return X.compress(a, self, axis)

    # shape builders (frontend/builders.py)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return BL.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None):
        return BL.trace(self, offset, axis1, axis2, dtype)

    def norm(self, L=None, axis=None, keepdims=False):
        return BL.norm(self, L, axis, keepdims)

    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return R.sum(self, axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
        return R.prod(self, axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return R.mean(self, axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def var(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return R.var(self, axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def std(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return R.std(self, axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def clip(self, a_min, a_max):
        return E.clip(self, a_min, a_max)

    def round(self):
        return E.round(self)

    def dot(self, other):
        return L.dot(self, other)

    def copy(self, name=None):
        """A new variable with the same value (an identity ``subtensor``)."""
        out = B.apply_op("subtensor", self, idx=())
        out.name = name
        return out

    def __deepcopy__(self, memo):
        """A copy of the whole graph of this variable, inputs and shared
        variables (their values copied) included; ``memo`` keeps the copies
        of one ``copy.deepcopy`` call shared."""
        from ..graph.basic import deepcopy_graph
        return deepcopy_graph([self], memo)[0]

    def eval(self, inputs_to_values=None):
        """Compile (once per set of inputs) and run: ``x.eval({a: 1.0})``."""
        inputs_to_values = dict(inputs_to_values or {})
        for k in inputs_to_values:
            if not isinstance(k, Value):
                raise TypeError(f"eval: keys must be input variables, got {k!r}")
        inputs = tuple(inputs_to_values)
        per_var = _EVAL_CACHE.setdefault(self, {})
        if inputs not in per_var:
            per_var[inputs] = _compile(list(inputs), self)
        return per_var[inputs](*[inputs_to_values[k] for k in inputs])


TensorType.variable_class = TensorVariable     # x.type() makes a TensorVariable


def _axis_method(name):
    def method(self, axis=None, keepdims=False):
        return getattr(R, name)(self, axis, keepdims=keepdims)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``T.{name}(self, axis, keepdims)``."
    return method


for _name in ("max", "min", "any", "all", "argmax", "argmin"):
    setattr(TensorVariable, _name, _axis_method(_name))


def _math_method(name):
    def method(self):
        return getattr(E, name)(self)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``T.{name}(self)``."
    return method


# elementwise math as methods (PyTensor's set): x.exp(), x.arcsinh(), ...
for _name in ("arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "ceil", "cos", "cosh",
              "deg2rad", "exp", "exp2", "expm1", "floor", "log", "log10", "log1p", "log2", "rad2deg",
              "sin", "sinh", "sqrt", "tan", "tanh", "trunc"):
    setattr(TensorVariable, _name, _math_method(_name))


class _ConstantMeta(type):
    def __instancecheck__(cls, obj):
        """Every result of a ``constant`` op counts, whoever built it."""
        return type.__instancecheck__(cls, obj) or (
            isinstance(obj, TensorVariable) and obj.owner is not None and obj.owner.name == "constant")


class TensorConstant(TensorVariable, metaclass=_ConstantMeta):
    """A variable whose value is known when the graph is built (``T.constant``)."""

    @property
    def data(self):
        """The value: a read-only NumPy array."""
        return self.owner.attrs["value"]

    value = data

    def signature(self):
        return (self.type, self.data.tobytes())


def _compile(inputs, output):
    from .function import function  # built by the runtime work; imported on first use
    return function(inputs, output, on_unused_input="ignore")


# The DSL modules import TensorVariable from here, so they come last.
from . import basic as B          # noqa: E402
from . import elemwise as E       # noqa: E402
from . import indexing as I       # noqa: E402
from . import linalg as L         # noqa: E402
from . import reduce as R         # noqa: E402
from . import shape_ops as S      # noqa: E402
from . import extra_ops as X      # noqa: E402
from . import builders as BL       # noqa: E402
