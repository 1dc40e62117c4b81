"""Theano's ``extra_ops`` that need kernels of their own: ``cumsum{axis}``,
``cumprod{axis}``, ``searchsorted{side}``, ``bincount{minlength}``,
``repeat{axis}``. (``diff``, ``compress``, ``unique``, ``fill_diagonal``,
``to_one_hot``, ``ravel_multi_index``, ``unravel_index`` are built from
these and the other ops by the DSL: ``frontend/extra_ops.py``.)

- ``cumsum``/``cumprod``: running sum/product along ``axis`` in x's dtype,
  in order (NumPy's sequential loop, so results match bit for bit; the DSL
  casts to NumPy's accumulator dtype first). Gradients as Theano's: cumsum
  of the reversed g, reversed; cumprod's ``cumsum((g * out)[::-1])[::-1] / x``.
- ``searchsorted(a, v)``: for each element of v, the insertion index into the
  1-d sorted ``a`` (``side`` "left": first place with ``a[i] >= v``,
  "right": first with ``a[i] > v``), in NumPy's order (NaN after every
  number). Operands of one dtype; result int64 of v's shape.
- ``bincount(x[, weights])``: counts (int64) or summed weights (weights'
  dtype, as Theano; NumPy gives float64) of each value of the 1-d int x; the
  length ``max(max(x) + 1, minlength)`` depends on x's values. A negative
  value is an error (NEGATIVE_VALUE at run time; ValueError here).
- ``repeat(x, repeats)``: each element along ``axis`` repeated ``repeats``
  times (a 0-d count for all, or a 1-d count per element, NumPy's
  ``np.repeat``); negative counts are an error (NEGATIVE_SIZE), a count
  vector of another length a SHAPE_MISMATCH.
"""
import numpy as np

from ..autodiff import batch_ndim, emitter
from ..opdef import OpDef, const_value, normalize_axis, result
from ..types import is_int


def _flip(e, x, axis):
    """x reversed along ``axis``."""
    return e("subtensor", x, idx=((None, None, None),) * axis + ((None, None, -1),))


class Cumulative(OpDef):
    """Running reduction along ``axis`` (``np.cumsum`` / ``np.cumprod``)."""
    num_operands = 1
    required_attrs = ("axis",)
    has_grad = True
    np_fn = None

    def axis(self, op):
        return normalize_axis(op.attrs["axis"], op.operands[0].ndim, self.name)

    def infer(self, op):
        x = op.operands[0].type
        if x.ndim == 0:
            raise ValueError(f"{self.name}: x must have at least one dim (the DSL flattens for axis=None)")
        self.axis(op)
        if x.dtype == "bool":
            raise TypeError(f"{self.name}: bool x (the DSL casts it to int64 first)")
        return [x]

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]

    def reference(self, op, x):
        with np.errstate(all="ignore"):
            return [type(self).np_fn(x, axis=self.axis(op), dtype=x.dtype)]


class Cumsum(Cumulative):
    name = "cumsum"
    np_fn = staticmethod(np.cumsum)

    def grad(self, op, grads):
        g, e = grads[0], emitter(op)
        a = batch_ndim(op, g) + self.axis(op)
        return [_flip(e, e("cumsum", _flip(e, g, a), axis=a), a)]


class Cumprod(Cumulative):
    name = "cumprod"
    np_fn = staticmethod(np.cumprod)

    def grad(self, op, grads):
        x, out, g, e = op.operands[0], op.results[0], grads[0], emitter(op)
        a = batch_ndim(op, g) + self.axis(op)
        s = _flip(e, e("cumsum", _flip(e, e("mul", g, out), a), axis=a), a)
        return [e("div", s, x)]


class Searchsorted(OpDef):
    """Insertion indices of v into the sorted 1-d a."""
    name = "searchsorted"
    num_operands = 2
    required_attrs = ("side",)

    def infer(self, op):
        a, v = (o.type for o in op.operands)
        if a.ndim != 1:
            raise ValueError(f"searchsorted: a must be 1-d, got {a}")
        if a.dtype != v.dtype:
            raise TypeError(f"searchsorted: a and v must have one dtype, got {a.dtype} and {v.dtype}")
        if op.attrs["side"] not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {op.attrs['side']!r}")
        return result("int64", v.shape)

    def dims(self, op, shapes):
        return [shapes.of(op.operands[1])]

    def reference(self, op, a, v):
        return [np.asarray(np.searchsorted(a, v, side=op.attrs["side"]), dtype=np.int64)]


def negative_value(opname, what, value):
    return ValueError(f"{opname}: {what} must be non-negative, got {value}")


class Bincount(OpDef):
    """Counts (or summed weights) of each value of the 1-d int x."""
    name = "bincount"
    num_operands = None
    required_attrs = ("minlength",)
    shape_from_values = True
    has_grad = True

    def infer(self, op):
        if len(op.operands) not in (1, 2):
            raise ValueError(f"bincount takes x and optional weights, got {len(op.operands)} operands")
        x = op.operands[0].type
        if x.ndim != 1 or not is_int(x.dtype):
            raise TypeError(f"bincount: x must be a 1-d integer tensor, got {x}")
        m = op.attrs["minlength"]
        if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 0:
            raise ValueError(f"bincount: minlength must be an int >= 0, got {m!r}")
        dtype = "int64"
        if len(op.operands) == 2:
            w = op.operands[1].type
            if w.ndim != 1:
                raise ValueError(f"bincount: weights must be 1-d like x, got {w}")
            dtype = w.dtype
        n = None
        c = const_value(op.operands[0])
        if c is not None and (c.size == 0 or c.min() >= 0):
            n = max(int(c.max()) + 1 if c.size else 0, int(m))
        return result(dtype, (n,))

    def dims(self, op, shapes):
        return [(shapes.fresh(0),)]

    def reference(self, op, x, *weights):
        if x.size and x.min() < 0:
            raise negative_value("bincount", "x's values", int(x.min()))
        if weights and weights[0].shape != x.shape:
            raise ValueError(f"bincount: weights ({weights[0].shape[0]}) and x ({x.shape[0]}) differ in length")
        out = np.bincount(x.astype(np.int64), *weights, minlength=op.attrs["minlength"])
        return [out.astype(op.results[0].dtype)]

    def grad(self, op, grads):
        if len(op.operands) == 1:
            return [None]
        g, e = grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [None, e("adv_subtensor", g, op.operands[0], idx=(":",) * nb + ("a",))]


class Repeat(OpDef):
    """x with each element along ``axis`` repeated (``np.repeat``)."""
    name = "repeat"
    num_operands = 2
    required_attrs = ("axis",)
    shape_from_values = True
    has_grad = True
    moves_elements = True

    def axis(self, op):
        return normalize_axis(op.attrs["axis"], op.operands[0].ndim, self.name)

    def infer(self, op):
        x, r = (o.type for o in op.operands)
        if x.ndim == 0:
            raise ValueError("repeat: x must have at least one dim (the DSL flattens for axis=None)")
        if r.ndim > 1 or not is_int(r.dtype):
            raise TypeError(f"repeat: repeats must be a 0-d or 1-d integer tensor, got {r}")
        a = self.axis(op)
        n = x.shape[a]
        if r.ndim == 1 and None not in (n, r.shape[0]) and r.shape[0] != n:
            raise ValueError(f"repeat: repeats has {r.shape[0]} counts for an axis of size {n}")
        total = None
        c = const_value(op.operands[1])
        if c is not None and (c.size == 0 or c.min() >= 0):
            if c.ndim == 0 and n is not None:
                total = n * int(c)
            elif c.ndim == 1:
                total = int(c.sum())
        return result(x.dtype, x.shape[:a] + (total,) + x.shape[a + 1:])

    def dims(self, op, shapes):
        x, a = shapes.of(op.operands[0]), self.axis(op)
        return [tuple(x[:a]) + (shapes.fresh(a),) + tuple(x[a + 1:])]

    def reference(self, op, x, r):
        if r.size and r.min() < 0:
            raise negative_value("repeat", "repeats", int(r.min()))
        a = self.axis(op)
        if r.ndim == 1 and r.shape[0] != x.shape[a]:
            raise ValueError(f"repeat: repeats has {r.shape[0]} counts for an axis of size {x.shape[a]}")
        return [np.repeat(x, r.astype(np.int64), axis=a)]

    def grad(self, op, grads):
        """Each element of x gets the sum of g over its copies: a scatter-add
        of g at ``repeat(arange(n), repeats)`` along ``axis``."""
        x, r, g, e = op.operands[0], op.operands[1], grads[0], emitter(op)
        nb, a = batch_ndim(op, g), self.axis(op)
        n = e.dim(x, a)
        stop = e.const(n, "int64") if isinstance(n, int) else n
        owners = e("repeat", e("arange", e.const(0, "int64"), stop, e.const(1, "int64")), r, axis=0)
        zeros = e.zeros(e.batch_dims(g, nb) + e.dims(x), g.dtype)
        return [e("adv_inc_subtensor", zeros, g, owners, idx=(":",) * (nb + a) + ("a",)), None]


class CheckIndex(OpDef):
    """The int array i, checked to lie in [0, n) (n a 0-d int): an index
    outside is an IndexError (INDEX_RANGE at run time), negative ones
    included (``ravel_multi_index``/``unravel_index`` in 'raise' mode)."""
    name = "check_index"
    num_operands = 2

    def infer(self, op):
        i, n = (o.type for o in op.operands)
        if not is_int(i.dtype) or not is_int(n.dtype) or n.ndim != 0:
            raise TypeError(f"check_index: an integer array and a 0-d integer size, got {i} and {n}")
        return [i]

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]

    def reference(self, op, i, n):
        bad = (i < 0) | (i >= n)
        if np.any(bad):
            raise IndexError(f"check_index: index {i[bad].flat[0]} is out of range [0, {int(n)})")
        return [np.array(i)]


OPS = [Cumsum, Cumprod, Searchsorted, Bincount, Repeat, CheckIndex]
