"""Advanced (integer-array) indexing: ``adv_subtensor`` (a gather),
``adv_set_subtensor`` and ``adv_inc_subtensor`` (scatters); ``nonzero``
(the indices a boolean mask selects).

NumPy's advanced-indexing rules, on an ``idx`` attribute that lists, for
the leading dims of x, one entry per index position:

    "a"   the next index operand: an integer array (any int dtype, any
          ndim; 0-d for a scalar index that takes part in the advanced
          index); all index operands broadcast against each other to B
    ":"   the whole dim of x
    "x"   a new axis of size 1 (``None`` / ``np.newaxis``)

Slices other than whole dims are applied first, by a basic ``subtensor``
(``x[1:5, idx] == x[1:5][:, idx]``), so this op needs no dynamic sizes.

Result layout (NumPy): when the "a" entries are adjacent (no ":" or "x"
between them) the dims of B take their place: the dims of the entries
before, B, the dims of the entries after, x's remaining dims; otherwise
B comes first, then every ":"/"x" dim in order, then the remaining dims.
Negative indices wrap once; any index outside [-n, n) is an IndexError
(checked at run time by every backend, naming the index operand).

``adv_inc_subtensor`` accumulates over repeated indices (``np.add.at``);
``adv_set_subtensor`` with repeated indices keeps the last write (what
NumPy does on the CPU; the order is the C order of the indexed region).

Gradients: a gather's is a scatter-add of g into zeros of x's shape; a
set's is g with the overwritten places zeroed, and for the value the
gather of g (summed over what the value broadcast along); index operands
get none.
"""
import numpy as np

from ..autodiff import batch_ndim, emitter
from ..core import DYN, substitute_dyn
from ..opdef import OpDef, result
from .shape import _count_dyn, _dyn_operands, _is_int, check_value_fits
from ..types import broadcast_shapes, is_int

ARRAY, WHOLE, NEWAXIS = "a", ":", "x"
ENTRIES = (ARRAY, WHOLE, NEWAXIS)


def check_idx(idx, n_index, x_ndim, opname):
    """Raise for a malformed ``idx`` with ``n_index`` index operands on an
    ``x_ndim``-d tensor."""
    if not isinstance(idx, tuple) or any(not isinstance(e, str) or e not in ENTRIES for e in idx):
        raise ValueError(f"{opname}: idx must list entries \"a\" (index array), \":\" (whole dim) "
                         f"or \"x\" (new axis), got {idx!r}")
    n_arrays = sum(1 for e in idx if e == ARRAY)
    if n_arrays == 0:
        raise ValueError(f"{opname}: idx has no index array (\"a\"); use subtensor for basic indexing")
    if n_arrays != n_index:
        raise ValueError(f"{opname}: idx {list(idx)} takes {n_arrays} index operands, got {n_index}")
    consumed = sum(1 for e in idx if e != NEWAXIS)
    if consumed > x_ndim:
        raise IndexError(f"{opname}: too many indices ({consumed}) for a {x_ndim}-d tensor")


def adjacent(idx):
    """Whether the index arrays sit next to each other (B replaces them in place)."""
    pos = [k for k, e in enumerate(idx) if e == ARRAY]
    return pos[-1] - pos[0] + 1 == len(pos)


def layout(idx, x_ndim):
    """The result's dims as a list of ("x", axis of x) / ("new", None) /
    ("B", None) (the broadcast index shape, as one item), and per index
    operand the axis of x it indexes."""
    items, axes, axis = [], [], 0
    before = []                 # non-array items before the first array (adjacent case)
    after = []
    seen = False
    for e in idx:
        if e == ARRAY:
            axes.append(axis)
            seen = True
            axis += 1
            continue
        item = ("x", axis) if e == WHOLE else ("new", None)
        (after if seen else before).append(item)
        if e == WHOLE:
            axis += 1
    rest = [("x", a) for a in range(axis, x_ndim)]
    if adjacent(idx):
        items = before + [("B", None)] + after + rest
    else:
        items = [("B", None)] + before + after + rest
    return items, axes


def np_index(idx, indices):
    """The NumPy index tuple of ``idx`` with the index arrays ``indices``."""
    it = iter(indices)
    out = []
    for e in idx:
        out.append(next(it) if e == ARRAY else slice(None) if e == WHOLE else None)
    return tuple(out)


def check_bounds(x_shape, idx, indices, opname):
    """IndexError naming the index operand and the bad index (the
    interpreter's version of the native check)."""
    _, axes = layout(idx, len(x_shape))
    for k, (a, ind) in enumerate(zip(axes, indices)):
        ind = np.asarray(ind)
        n = x_shape[a]
        bad = (ind < -n) | (ind >= n)
        if np.any(bad):
            raise IndexError(f"{opname}: index {ind[bad].flat[0]} in index operand {k} is out of bounds "
                             f"for axis {a} with size {n}")


class AdvSubtensor(OpDef):
    """x[idx] with integer index arrays (NumPy advanced indexing): a gather."""
    name = "adv_subtensor"
    f16_storage = True
    num_operands = None
    required_attrs = ("idx",)
    moves_elements = True
    has_grad = True
    n_data = 1                      # operands before the index arrays

    def indices(self, op):
        return op.operands[self.n_data:]

    def _check(self, op):
        x = op.operands[0].type
        inds = self.indices(op)
        check_idx(op.attrs["idx"], len(inds), x.ndim, self.name)
        for k, v in enumerate(inds):
            if not is_int(v.type.dtype):
                raise TypeError(f"{self.name}: index operand {k} must have an integer dtype, got {v.type}")
        return x

    def region_shape(self, op):
        """Static shape of x[idx] (None where unknown)."""
        x = self._check(op)
        b = broadcast_shapes(*[v.type.shape for v in self.indices(op)], what=f"{self.name}'s index arrays")
        items, _ = layout(op.attrs["idx"], x.ndim)
        out = []
        for kind, a in items:
            out.extend(b if kind == "B" else (x.shape[a],) if kind == "x" else (1,))
        return tuple(out)

    def region_dims(self, op, shapes):
        x = shapes.of(op.operands[0])
        b = shapes.broadcast(*[shapes.of(v) for v in self.indices(op)])
        items, _ = layout(op.attrs["idx"], len(x))
        out = []
        for kind, a in items:
            out.extend(b if kind == "B" else (x[a],) if kind == "x" else (1,))
        return tuple(out)

    def infer(self, op):
        return result(op.operands[0].type.dtype, self.region_shape(op))

    def dims(self, op, shapes):
        return [self.region_dims(op, shapes)]

    def reference(self, op, x, *indices):
        check_bounds(x.shape, op.attrs["idx"], indices, self.name)
        return [np.array(x[np_index(op.attrs["idx"], indices)])]

    def grad(self, op, grads):
        """A scatter-add of g into zeros of x's shape."""
        x, inds, g, e = op.operands[0], op.operands[1:], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        idx = batch_idx(op.attrs["idx"], nb)
        zeros = e.zeros(e.batch_dims(g, nb) + e.dims(x), x.dtype)
        gx = e("adv_inc_subtensor", zeros, to_region_order(e, g, op, nb), *inds, idx=idx)
        return [gx] + [None] * len(inds)


def batch_idx(idx, nb):
    """``idx`` for a gradient with ``nb`` leading batch dims."""
    return (WHOLE,) * nb + tuple(idx)


def _b_ndim(op):
    return len(broadcast_shapes(*[v.type.shape for v in op.opdef.indices(op)]))


def to_region_order(e, g, op, nb):
    """g (batch dims, then x[idx]'s dims) in the order of the batched
    region x[batch_idx(idx, nb)]: the same unless the index arrays are not
    adjacent, where B comes before the batch dims."""
    if nb == 0 or adjacent(op.attrs["idx"]):
        return g
    nB = _b_ndim(op)
    return e.dimshuffle(g, list(range(nb, nb + nB)) + list(range(nb)) + list(range(nb + nB, g.ndim)))


def from_region_order(e, r, op, nb):
    """The inverse of ``to_region_order``."""
    if nb == 0 or adjacent(op.attrs["idx"]):
        return r
    nB = _b_ndim(op)
    return e.dimshuffle(r, list(range(nB, nB + nb)) + list(range(nB)) + list(range(nB + nb, r.ndim)))


class AdvSetSubtensor(AdvSubtensor):
    """A copy of x with x[idx] = v (v broadcasts to x[idx]'s shape)."""
    name = "adv_set_subtensor"
    f16_storage = True
    moves_elements = False
    n_data = 2

    def infer(self, op):
        return [check_value_fits(self.name, op.operands[0].type, op.operands[1].type, self.region_shape(op))]

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]

    def reference(self, op, x, v, *indices):
        check_bounds(x.shape, op.attrs["idx"], indices, self.name)
        y = np.array(x)
        index = np_index(op.attrs["idx"], indices)
        region = y[index].shape
        self.apply(y, index, np.broadcast_to(v, region))
        return [y]

    @staticmethod
    def apply(y, index, v):
        y[index] = v

    def grad(self, op, grads):
        """x: g with the overwritten places zero; v: g's region where its
        element was the last write to its place (repeated indices: the
        earlier writes do not reach the result), unbroadcast."""
        x, inds, g, e = op.operands[0], op.operands[2:], grads[0], emitter(op)
        nb = batch_ndim(op, g)
        gx = e("adv_set_subtensor", g, e.const(0, x.dtype), *inds, idx=batch_idx(op.attrs["idx"], nb))
        return [gx, self._value_grad(op, g, nb, last_writes=True)] + [None] * len(inds)

    def _value_grad(self, op, g, nb, last_writes=False):
        e, inds = emitter(op), op.operands[2:]
        region = e("adv_subtensor", g, *inds, idx=batch_idx(op.attrs["idx"], nb))
        region = from_region_order(e, region, op, nb)
        if last_writes and not _unique_indices(op):
            region = e("where", _last_writes(e, op), region, e.const(0, region.dtype))
        return e.unbroadcast(region, op.operands[1], [self.region_shape(op)], nb)


def _unique_indices(op):
    """Statically: a single constant index array without repeated values
    (after wrapping negative ones) -- every write reaches the result."""
    from ..opdef import const_value
    inds = op.opdef.indices(op)
    if len(inds) != 1:
        return False
    c = const_value(inds[0])
    if c is None:
        return False
    _, axes = layout(op.attrs["idx"], op.operands[0].ndim)
    n = op.operands[0].type.shape[axes[0]]
    if n is None:
        return c.size <= 1 or (np.all(c >= 0) and len(np.unique(c)) == c.size)
    return len(np.unique(np.asarray(c) % max(n, 1))) == c.size


def _last_writes(e, op):
    """A bool mask of x[idx]'s shape: the element whose write to its place
    of x comes last in C order (the one an ``adv_set_subtensor`` keeps)."""
    x, inds, idx = op.operands[0], op.operands[2:], op.attrs["idx"]
    shape_of = e("adv_subtensor", x, *inds, idx=idx)
    dims = e.dims(shape_of)
    n = e.const(1, "int64")
    for d in dims:
        n = e("mul", n, d if not isinstance(d, int) else e.const(d, "int64"))
    ids = e.reshape(e("arange", e.const(0, "int64"), n, e.const(1, "int64")), dims)
    owner = e("adv_set_subtensor", e.zeros(e.dims(x), "int64"), ids, *inds, idx=idx)
    return e("eq", e("adv_subtensor", owner, *inds, idx=idx), ids)


class AdvIncSubtensor(AdvSetSubtensor):
    """A copy of x with v added at x[idx], accumulating over repeated
    indices (``np.add.at``)."""
    name = "adv_inc_subtensor"
    f16_storage = False     # adds: computes

    @staticmethod
    def apply(y, index, v):
        np.add.at(y, index, v)

    def grad(self, op, grads):
        g = grads[0]
        nb = batch_ndim(op, g)
        return [g, self._value_grad(op, g, nb)] + [None] * (len(op.operands) - 2)


def mask_mismatch(axis, size, mask_size):
    """NumPy's IndexError for a boolean mask of the wrong shape."""
    return IndexError(f"boolean index did not match indexed array along axis {axis}; size of axis is "
                      f"{size} but size of corresponding boolean axis is {mask_size}")


class Nonzero(OpDef):
    """The indices of x's nonzero elements (NaN counts as nonzero), in C
    order, as an int64 matrix of shape (x.ndim, count): ``np.nonzero(x)``
    stacked. Its second dim depends on x's values.

    ``match`` lists, per dim of x, the size x must have there: an int, ``?``
    (the next dynamic operand) or none (any size). Boolean-mask indexing
    ``x[mask]`` is a gather at ``nonzero(mask)``'s rows whose ``match``
    holds the indexed dims, so a mask of another shape is NumPy's
    IndexError, checked at run time (MASK_MISMATCH) where not statically;
    the optional ``axis`` (the first dim of the indexed tensor the mask
    covers) only numbers the dims in that message."""
    name = "nonzero"
    num_operands = None
    required_attrs = ("match",)
    first_dyn = 1
    size_attr = "match"
    shape_from_values = True

    def infer(self, op):
        x = op.operands[0].type
        if x.ndim == 0:
            raise ValueError("nonzero: x must have at least one dim (NumPy refuses 0-d input)")
        match = op.attrs["match"]
        if (not isinstance(match, tuple) or len(match) != x.ndim
                or any(not (e is None or e is DYN or (_is_int(e) and e >= 0))
                       for e in match)):
            raise ValueError(f"nonzero: match must list, per dim of x ({x.ndim}), a size >= 0, ? or none; "
                             f"got {match!r}")
        _dyn_operands(op, self.first_dyn)
        if _count_dyn(match) != len(op.operands) - 1:
            raise ValueError(f"nonzero: match {list(match)} needs {_count_dyn(match)} "
                             f"dynamic operands, got {len(op.operands) - 1}")
        for k, (m, n) in enumerate(zip(match, x.shape)):
            if isinstance(m, int) and n is not None and m != n:
                raise mask_mismatch(k + op.attrs.get("axis", 0), m, n)
        return result("int64", (x.ndim, 0 if 0 in x.shape else None))

    def dims(self, op, shapes):
        return [(op.operands[0].ndim, shapes.fresh(1))]

    def reference(self, op, x, *dyn):
        for k, (m, n) in enumerate(zip(substitute_dyn(op.attrs["match"], [int(d) for d in dyn]), x.shape)):
            if m is not None and m != n:
                raise mask_mismatch(k + op.attrs.get("axis", 0), m, n)
        return [np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)]


OPS = [AdvSubtensor, AdvSetSubtensor, AdvIncSubtensor, Nonzero]
