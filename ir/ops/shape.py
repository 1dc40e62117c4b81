"""Shape, view and data-movement ops.

Integer parameters that may be symbolic use the MLIR ``static/dynamic``
convention: an attribute list holds ints, and ``?`` (``DYN``) for "the next
dynamic operand", a 0-d integer value that follows the data operands.
"""
import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..core import DYN, Value, stored_elements, substitute_dyn
from ..opdef import OpDef, const_int, const_value, normalize_axis, result, value_nonneg
from ..types import TensorType, broadcast_shapes, canonical_dtype, is_int


def _dyn_operands(op, first):
    """The dynamic 0-d int operands starting at ``first``, checked."""
    dyn = op.operands[first:]
    for v in dyn:
        if v.type.ndim != 0 or not (is_int(v.type.dtype)):
            raise TypeError(f"{op.name}: dynamic index/size operands must be 0-d ints, got {v.type}")
    return dyn


def _count_dyn(entries):
    n = 0
    for e in entries:
        if isinstance(e, tuple):
            n += _count_dyn(e)
        elif e is DYN:
            n += 1
    return n


def _size_entries(op, unknown=None):
    """``op``'s size/index attribute (``size_attr``) with each ``?`` replaced
    by the constant value of its dynamic operand, ``unknown`` where not constant."""
    d = op.opdef
    spec = op.attrs[d.size_attr]
    dyn = _dyn_operands(op, d.first_dyn)
    if _count_dyn(spec) != len(dyn):
        raise ValueError(f"{op.name}: {d.size_attr} {spec} needs {_count_dyn(spec)} dynamic operands, "
                         f"got {len(dyn)}")
    return substitute_dyn(spec, [unknown if c is None else c for c in map(const_int, dyn)])


class Sized(OpDef):
    """An op whose result shape is its ``shape`` attribute, each ``?`` the
    value of the next dynamic operand after the data operand (-1: reshape's
    inferred size)."""
    required_attrs = ("shape",)
    first_dyn = 1
    size_attr = "shape"
    nonneg = "all"
    has_grad = True

    def dims(self, op, shapes):
        dyn = iter(op.operands[self.first_dyn:])
        spec = [shapes.size(next(dyn)) if d is DYN else d for d in op.attrs["shape"]]
        return [tuple(shapes.fresh(k) if isinstance(d, int) and d == -1 else d for k, d in enumerate(spec))]


# --- shape -------------------------------------------------------------------
class Shape(OpDef):
    """The shape of x as a 1-d int64 tensor of length ndim."""
    name = "shape"
    f16_storage = True
    num_operands = 1
    value_from_shapes = True

    def infer(self, op):
        self.check_arity(op)
        return result("int64", (op.operands[0].type.ndim,))

    def dims(self, op, shapes):
        return [(op.operands[0].type.ndim,)]

    def reference(self, op, x):
        return [np.array(x.shape, dtype=np.int64)]


# --- dimshuffle ---------------------------------------------------------------
class Dimshuffle(OpDef):
    """Theano's dimshuffle: ``pattern`` lists input dims in output order and
    ``"x"`` for a new broadcastable dim; input dims left out must be 1."""
    name = "dimshuffle"
    f16_storage = True
    moves_elements = True
    num_operands = 1
    required_attrs = ("pattern",)
    nonneg = "all"
    has_grad = True

    def infer(self, op):
        self.check_arity(op)
        t = op.operands[0].type
        pattern = op.attrs["pattern"]
        dims = [p for p in pattern if p != "x"]
        if any(not isinstance(p, int) or not 0 <= p < t.ndim for p in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"dimshuffle: bad pattern {pattern} for a {t.ndim}-d input")
        for i in range(t.ndim):
            if i not in dims and t.shape[i] not in (1, None):
                raise ValueError(f"dimshuffle: pattern {pattern} drops dim {i} of size {t.shape[i]} (must be 1)")
        return result(t.dtype, tuple(1 if p == "x" else t.shape[p] for p in pattern))

    def dims(self, op, shapes):
        x = shapes.of(op.operands[0])
        return [tuple(1 if p == "x" else x[p] for p in op.attrs["pattern"])]

    def reference(self, op, x):
        pattern = op.attrs["pattern"]
        dims = [p for p in pattern if p != "x"]
        dropped = tuple(i for i in range(x.ndim) if i not in dims)
        if any(x.shape[i] != 1 for i in dropped):
            raise ValueError(f"dimshuffle: dropped dims {dropped} of shape {x.shape} are not 1")
        order = sorted(dims)
        y = x.reshape([x.shape[i] for i in order]).transpose([order.index(p) for p in dims])
        return [y.reshape([1 if p == "x" else x.shape[p] for p in pattern])]

    def grad(self, op, grads):
        """The inverse dimshuffle: output dims return to their input positions,
        the new "x" dims are dropped and the dropped size-1 dims come back."""
        (x,), g, e = op.operands, grads[0], emitter(op)
        nb = batch_ndim(op, g)
        pattern = list(op.attrs["pattern"])
        back = [nb + pattern.index(i) if i in pattern else "x" for i in range(x.ndim)]
        return [e.dimshuffle(g, list(range(nb)) + back)]


# --- reshape --------------------------------------------------------------------
class Reshape(Sized):
    """reshape(x, dyn...) {shape = [2, ?, -1]}: at most one -1."""
    name = "reshape"
    f16_storage = True
    moves_elements = True

    def infer(self, op):
        x = op.operands[0].type
        spec = op.attrs["shape"]
        dims = list(_size_entries(op))
        if sum(1 for d in dims if d == -1) > 1:
            raise ValueError(f"reshape: more than one -1 in {spec}")
        if any(d is not None and d < -1 for d in dims):
            raise ValueError(f"reshape: negative size in {spec}")
        known_in = None if None in x.shape else int(np.prod(x.shape, dtype=np.int64))
        if -1 in dims:
            rest = [d for d in dims if d != -1]
            k = dims.index(-1)
            if known_in is not None and None not in rest:
                p = int(np.prod(rest, dtype=np.int64))
                if p == 0 or known_in % p:
                    raise ValueError(f"reshape: cannot reshape {x.shape} into {tuple(dims)}")
                dims[k] = known_in // p
            else:
                dims[k] = None
        elif known_in is not None and None not in dims and int(np.prod(dims, dtype=np.int64)) != known_in:
            raise ValueError(f"reshape: cannot reshape {x.shape} ({known_in} elements) into {tuple(dims)}")
        return result(x.dtype, dims)

    def reference(self, op, x, *dyn):
        shape = substitute_dyn(op.attrs["shape"], [int(d) for d in dyn])
        return [np.reshape(x, shape)]

    def grad(self, op, grads):
        x, g, e = op.operands[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        return [e.reshape(g, e.batch_dims(g, nb) + e.dims(x))] + [None] * (len(op.operands) - 1)


# --- indexing -------------------------------------------------------------------
_UNKNOWN = object()


def _index_static(entries, shape, opname):
    """Static result shape of basic indexing; also checks constant indices.
    ``entries``: the index with the known values of dynamic operands,
    ``_UNKNOWN`` for the others."""
    if len(entries) > len(shape):
        raise IndexError(f"{opname}: too many indices ({len(entries)}) for a {len(shape)}-d tensor")
    out = []
    for axis, (e, n) in enumerate(zip(entries, shape)):
        if isinstance(e, tuple):
            if e[2] == 0:
                raise ValueError(f"{opname}: slice step cannot be zero (axis {axis})")
            if n is None or _UNKNOWN in e:
                out.append(None)
            else:
                out.append(len(range(*slice(*e).indices(n))))
        elif e is not _UNKNOWN and n is not None and not -n <= e < n:
            raise IndexError(f"{opname}: index {e} is out of bounds for axis {axis} with size {n}")
    return tuple(out) + tuple(shape[len(entries):])


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_idx(idx):
    for e in idx:
        if isinstance(e, tuple):
            if len(e) != 3 or any(not (v is None or v is DYN or _is_int(v)) for v in e):
                raise ValueError(f"subtensor: slice entry must be [start, stop, step], got {e}")
        elif not (e is DYN or _is_int(e)):
            raise ValueError(f"subtensor: index entry must be an int or ?, got {e!r}")


def _np_index(idx, dyn):
    entries = substitute_dyn(idx, [int(d) for d in dyn])
    return tuple(slice(*e) if isinstance(e, tuple) else e for e in entries)


class Subtensor(OpDef):
    """Basic indexing x[idx]. ``idx`` lists, for leading dims, an integer
    index (int or ?) or a slice [start, stop, step] (each int, none or ?)."""
    name = "subtensor"
    f16_storage = True
    moves_elements = True
    required_attrs = ("idx",)
    first_dyn = 1
    size_attr = "idx"
    has_grad = True

    def _infer_shape(self, op):
        _check_idx(op.attrs["idx"])
        entries = _size_entries(op, _UNKNOWN)
        return _index_static(entries, op.operands[0].type.shape, self.name)

    def infer(self, op):
        return result(op.operands[0].type.dtype, self._infer_shape(op))

    def dims(self, op, shapes):
        """A whole slice keeps the dim; any other slice gives a new one."""
        x, idx = shapes.of(op.operands[0]), op.attrs["idx"]
        out = []
        for k, e in enumerate(idx):
            if isinstance(e, tuple):
                whole = e[0] in (None, 0) and e[1] is None and e[2] in (None, 1)
                out.append(x[k] if whole else shapes.fresh(len(out)))
        return [tuple(out) + tuple(x[len(idx):])]

    def reference(self, op, x, *dyn):
        return [np.array(x[_np_index(op.attrs["idx"], dyn)])]

    def grad(self, op, grads):
        """g added into zeros of x's shape at the same index."""
        x, dyn, g, e = op.operands[0], op.operands[1:], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        zeros = e.zeros(e.batch_dims(g, nb) + e.dims(x), x.dtype)
        gx = e("inc_subtensor", zeros, g, *dyn, idx=_batch_idx(op.attrs["idx"], nb))
        return [gx] + [None] * len(dyn)


class SetSubtensor(Subtensor):
    """A copy of x with x[idx] = v (v broadcasts to the indexed shape)."""
    name = "set_subtensor"
    f16_storage = True
    first_dyn = 2
    moves_elements = False      # its value operand's elements too

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]

    def infer(self, op):
        return [check_value_fits(self.name, op.operands[0].type, op.operands[1].type, self._infer_shape(op))]

    def reference(self, op, x, v, *dyn):
        y = np.array(x)
        self.apply(y, _np_index(op.attrs["idx"], dyn), v)
        return [y]

    @staticmethod
    def apply(y, index, v):
        y[index] = v

    def grad(self, op, grads):
        """x gets g with the overwritten region zeroed; v gets the region of g
        summed over the dims that v broadcast along."""
        (x, v), dyn, g, e = op.operands[:2], op.operands[2:], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        idx = _batch_idx(op.attrs["idx"], nb)
        gx = e("set_subtensor", g, e.const(0, x.dtype), *dyn, idx=idx)
        return [gx, self._value_grad(op, g, nb)] + [None] * len(dyn)

    def _value_grad(self, op, g, nb):
        e, dyn = emitter(op), op.operands[2:]
        region = e("subtensor", g, *dyn, idx=_batch_idx(op.attrs["idx"], nb))
        return e.unbroadcast(region, op.operands[1], [self._infer_shape(op)], nb)


class IncSubtensor(SetSubtensor):
    """A copy of x with x[idx] += v."""
    name = "inc_subtensor"
    f16_storage = False     # adds: computes

    @staticmethod
    def apply(y, index, v):
        y[index] += v

    def grad(self, op, grads):
        g = grads[0]
        nb = batch_ndim(op, g)
        return [g, self._value_grad(op, g, nb)] + [None] * (len(op.operands) - 2)


def check_value_fits(opname, x, v, sub):
    """x's type, after checking that value type ``v`` fits the indexed
    region of static shape ``sub`` (same dtype, broadcasts to it; unknown
    dims are checked at run time)."""
    if v.dtype != x.dtype:
        raise TypeError(f"{opname}: value dtype {v.dtype} must equal {x.dtype} (insert a cast)")
    if v.ndim > len(sub):
        raise ValueError(f"{opname}: value of shape {v.shape} has more dims than the indexed region {sub}")
    merged = broadcast_shapes(sub, v.shape, what=f"{opname}'s value and indexed region")
    for m, s in zip(merged, sub):
        if s is not None and m is not None and m != s:
            raise ValueError(f"{opname}: value of shape {v.shape} does not fit region {sub}")
    return x


def _batch_idx(idx, nb):
    """An index for a gradient with ``nb`` leading batch dims."""
    return ((None, None, None),) * nb + tuple(idx)


def _as_index(e, d):
    return d if isinstance(d, Value) else e.const(d, "int64")


# --- concatenate -------------------------------------------------------------------
class Concatenate(OpDef):
    name = "concatenate"
    f16_storage = True
    required_attrs = ("axis",)
    has_grad = True

    def infer(self, op):
        if not op.operands:
            raise ValueError("concatenate needs at least one operand")
        types = [v.type for v in op.operands]
        t0 = types[0]
        axis = op.attrs["axis"]
        if t0.ndim == 0 or normalize_axis(axis, t0.ndim, self.name) != axis:
            raise ValueError(f"concatenate: axis {axis} must be in [0, {t0.ndim})")
        for t in types:
            if t.dtype != t0.dtype or t.ndim != t0.ndim:
                raise TypeError(f"concatenate: operands must share dtype and ndim, got {types}")
        out = []
        for d in range(t0.ndim):
            dims = [t.shape[d] for t in types]
            if d == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = {x for x in dims if x is not None}
            if len(known) > 1:
                raise ValueError(f"concatenate: operand shapes {[t.shape for t in types]} differ in dim {d}")
            out.append(known.pop() if known else None)
        return result(t0.dtype, out)

    def dims(self, op, shapes):
        first, axis = shapes.of(op.operands[0]), op.attrs["axis"]
        return [tuple(shapes.fresh(k) if k == axis else d for k, d in enumerate(first))]

    def reference(self, op, *xs):
        return [np.concatenate(xs, axis=op.attrs["axis"])]

    def grad(self, op, grads):
        """Each operand gets its slice of g along the axis."""
        g, e = grads[0], emitter(op)
        nb = batch_ndim(op, g)
        axis = op.attrs["axis"]
        out, start = [], 0
        for x in op.operands:
            size = e.dim(x, axis)
            stop = start + size if isinstance(start, int) and isinstance(size, int) else \
                e("add", _as_index(e, start), _as_index(e, size))
            bounds = [start, stop]
            spec = tuple(DYN if isinstance(b, Value) else b for b in bounds)
            dyn = [b for b in bounds if isinstance(b, Value)]
            idx = ((None, None, None),) * (nb + axis) + ((spec[0], spec[1], 1),)
            out.append(e("subtensor", g, *dyn, idx=idx))
            start = stop
        return out


# --- creation ----------------------------------------------------------------------
class Alloc(Sized):
    """alloc(value, dyn...) {shape}: value broadcast to shape (a new array)."""
    name = "alloc"
    f16_storage = True
    moves_elements = True

    def infer(self, op):
        v = op.operands[0].type
        dims = _size_entries(op)
        if any(d is not None and d < 0 for d in dims):
            raise ValueError(f"alloc: negative dimension in {dims}")
        if v.ndim > len(dims):
            raise ValueError(f"alloc: value of shape {v.shape} has more dims than {dims}")
        merged = broadcast_shapes(dims, v.shape, what="alloc's value and shape")
        for m, s in zip(merged, dims):
            if s is not None and m != s:
                raise ValueError(f"alloc: value of shape {v.shape} cannot broadcast to {dims}")
        return result(v.dtype, dims)

    def reference(self, op, v, *dyn):
        shape = substitute_dyn(op.attrs["shape"], [int(d) for d in dyn])
        if any(d < 0 for d in shape):
            raise ValueError(f"alloc: negative dimension in {shape}")
        return [np.array(np.broadcast_to(v, shape))]

    def grad(self, op, grads):
        """The value gets g summed over the dims it was broadcast along."""
        v, g, e = op.operands[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        gv = e.unbroadcast(g, v, [op.results[0].type.shape], nb)
        return [gv] + [None] * (len(op.operands) - 1)


class Arange(OpDef):
    """arange(start, stop, step): 0-d operands of the result dtype."""
    name = "arange"
    num_operands = 3
    shape_from_values = True
    has_grad = True

    def dims(self, op, shapes):
        """arange(0, n, 1) of int64 is n long when n is never negative (a
        negative n gives an empty range, not a negative size)."""
        start, stop, step = (const_value(o) for o in op.operands)
        n = op.operands[1]
        if (start is not None and step is not None and start == 0 and step == 1 and n.dtype == "int64"
                and (const_value(n) is not None and const_value(n) >= 0 or value_nonneg(n))):
            return [(shapes.size(op.operands[1]),)]
        return [(shapes.fresh(0),)]

    def infer(self, op):
        self.check_arity(op)
        types = [v.type for v in op.operands]
        if any(t.ndim != 0 for t in types) or len({t.dtype for t in types}) != 1:
            raise TypeError(f"arange: start, stop, step must be 0-d of one dtype, got {types}")
        if types[0].dtype == "bool":
            raise TypeError("arange: bool is not supported")
        consts = [const_value(v) for v in op.operands]
        n = None
        if all(c is not None for c in consts):
            start, stop, step = (c.item() for c in consts)
            if step == 0:
                raise ValueError("arange: step cannot be zero")
            n = len(np.arange(start, stop, step, dtype=types[0].dtype))
        return result(types[0].dtype, (n,))

    def reference(self, op, start, stop, step):
        if step == 0:
            raise ValueError("arange: step cannot be zero")
        return [np.arange(start, stop, step, dtype=op.results[0].dtype)]

    def grad(self, op, grads):
        """Element i is start + i*step: start gets sum(g), step sum(g*i);
        stop only sets the length (zero gradient)."""
        (start, stop, step), z, g, e = op.operands, op.results[0], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        dt = z.dtype
        n = e.dim(z, 0)
        n = e.const(n, dt) if isinstance(n, int) else e.cast(n, dt)
        steps = e("arange", e.const(0, dt), n, e.const(1, dt))
        return [e("sum", g, axes=(nb,), keepdims=False), ZERO,
                e("sum", e("mul", g, steps), axes=(nb,), keepdims=False)]


class Constant(OpDef):
    """A compile-time array (``value``, a read-only ndarray)."""
    name = "constant"
    f16_storage = True
    num_operands = 0
    required_attrs = ("value",)
    cost = 0

    def dims(self, op, shapes):
        return [op.attrs["value"].shape]

    def nonnegative(self, op, operand_nonneg):
        c = stored_elements(op.attrs["value"])
        return bool(np.all(np.isnan(c) | (c >= 0))) if c.dtype.kind == "f" else bool(np.all(c >= 0))

    def infer(self, op):
        self.check_arity(op)
        v = op.attrs["value"]
        if not isinstance(v, np.ndarray):
            raise TypeError(f"constant: value must be an ndarray, got {type(v).__name__}")
        return [TensorType(canonical_dtype(v.dtype), v.shape)]

    def reference(self, op):
        return [np.array(op.attrs["value"])]


class Return(OpDef):
    """Terminator: operands are the outputs then the update values;
    ``updates`` holds, per update value, the index of the shared argument."""
    name = "return"
    f16_storage = True
    num_results = 0
    pure = False

    def infer(self, op):
        return []

    def verify(self, op):
        updates = op.attrs.get("updates", ())
        if len(updates) > len(op.operands):
            raise ValueError("return: more update targets than operands")
        func = op.parent.parent if op.parent is not None else None
        if func is None or not hasattr(func, "arg_attrs"):
            return
        n_out = len(op.operands) - len(updates)
        for t, v in zip(updates, op.operands[n_out:]):
            if not 0 <= t < len(func.args) or "shared" not in func.arg_attrs[t]:
                raise ValueError(f"return: update target {t} is not a shared argument")
            if func.args[t].type.dtype != v.type.dtype or func.args[t].type.ndim != v.type.ndim:
                raise TypeError(f"return: update of {func.args[t].type} with {v.type}")
        if len(set(updates)) != len(updates):
            raise ValueError("return: a shared argument is updated twice")

    def reference(self, op, *args):
        return []


OPS = [Shape, Dimshuffle, Reshape, Subtensor, SetSubtensor, IncSubtensor,
       Concatenate, Alloc, Arange, Constant, Return]
