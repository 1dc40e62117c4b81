"""Reverse-mode differentiation of the floating IR graph, IR to IR.

Each op class states its own gradient rule next to its inference and its
reference, as a method::

    def grad(self, op, output_grads) -> [one entry per operand]

``output_grads`` holds one Value per result of ``op`` (the gradient of the
cost with respect to that result). A rule returns, per operand, a Value (the
gradient with respect to that operand: same dtype as the operand, same
run-time shape), ``ZERO`` (connected, but the gradient is zero: floor,
comparisons...), or ``None`` (the operand does not influence the result's
value at all: index and size operands). Rules build ordinary ops with an
``Emitter`` (``emitter(op)``), so that gradients are TensorVariables of the
user's graph, which ``theon.function`` compiles and the passes simplify like
any other.

Batch dims. Every rule is written for an output gradient that may carry
extra *leading* dims (``nb = g.ndim - op.results[0].ndim``): the gradient
returned for an operand then carries the same leading dims. ``jacobian``
(and ``hessian``) use this to run one backward pass for all rows at once,
seeded with an identity matrix, so their graphs do not grow with the length
of the expression and work for lengths known only at run time.

Ops whose results are all non-float (comparisons, argmax, shape...) need no
rule: the driver gives their connected operands ``ZERO``. A float op on the
path from ``wrt`` to the cost without a rule raises ``NullTypeGradError``.

The driver is ``backprop``; the public API (``theon.grad``, jacobian,
hessian, verify_grad) is in ``gradient.py``.
"""
import weakref

import numpy as np

from .core import DYN, Operation, Singleton, Value, ancestors
from .types import is_float


class _Zero(Singleton):
    """Gradient that is known to be zero, while the operand stays connected."""
    text = "ZERO"


ZERO = _Zero()


class NullTypeGradError(TypeError):
    """A gradient is needed through an op that has no gradient rule."""


def _opdef(name):
    from .dialect import get_op
    return get_op(name)


# --- building gradient graphs -------------------------------------------------------------
class Emitter:
    """Builds floating ops whose results are ``value_cls`` (TensorVariable in
    the user's graph), with the few shape helpers gradient rules share."""

    def __init__(self, value_cls=Value):
        self.value_cls = value_cls

    def __call__(self, name, *operands, **attrs):
        """The single result of a new floating ``name`` op."""
        return Operation(_opdef(name), operands, attrs, value_cls=self.value_cls).result

    def const(self, value, dtype):
        """A 0-d constant."""
        return self("constant", value=np.array(value, dtype=dtype))

    def cast(self, x, dtype):
        return x if x.dtype == dtype else self("cast", x, dtype=dtype)

    def dim(self, v, axis):
        """Dim ``axis`` of ``v``: its static size, else a 0-d int64 Value
        (read from ``v``'s shape root, so that no value is computed only
        for its shape)."""
        d = v.type.shape[axis]
        if d is not None:
            return d
        return self("subtensor", self("shape", shape_root(v)), idx=(axis,))

    def dims(self, v, start=0, stop=None):
        return [self.dim(v, i) for i in range(start, v.ndim if stop is None else stop)]

    @staticmethod
    def shape_spec(dims):
        """``(attribute, dynamic operands)`` for a list of ints and Values."""
        spec = tuple(DYN if isinstance(d, Value) else int(d) for d in dims)
        return spec, [d for d in dims if isinstance(d, Value)]

    def alloc(self, value, dims):
        spec, dyn = self.shape_spec(dims)
        return self("alloc", value, *dyn, shape=spec)

    def zeros(self, dims, dtype):
        if not dims:
            return self.const(0, dtype)
        return self.alloc(self.const(0, dtype), dims)

    def reshape(self, x, dims):
        spec, dyn = self.shape_spec(dims)
        if all(isinstance(d, int) for d in dims) and x.type.shape == spec:
            return x
        return self("reshape", x, *dyn, shape=spec)

    def dimshuffle(self, x, pattern):
        pattern = tuple(pattern)
        if pattern == tuple(range(x.ndim)):
            return x
        return self("dimshuffle", x, pattern=pattern)

    def sum(self, x, axes, keepdims):
        axes = tuple(sorted(axes))
        if not axes:
            return x
        return self("sum", x, axes=axes, keepdims=keepdims)

    def batch_dims(self, g, nb):
        """The ``nb`` leading (batch) dims of a gradient."""
        return self.dims(g, 0, nb)

    def unbroadcast(self, g, x, others, nb):
        """Sum ``g`` down to the shape of ``x`` (after ``nb`` batch dims).

        ``g`` has the shape that ``x`` broadcast with ``others`` (static
        shapes of the other contributors, right-aligned) has. Axes that ``x``
        lacks, or where ``x`` is statically 1, are summed with ``sum``; an
        axis where ``x``'s size is unknown and another contributor's is not
        statically 1 might have broadcast at run time: ``sum_to`` decides
        there, at run time, from ``x``'s actual size.
        """
        full = g.ndim - nb
        lead = full - x.ndim
        if lead < 0:
            raise ValueError(f"unbroadcast: gradient {g.type} has fewer dims than {x.type}")
        ones, runtime = [], False
        for i, d in enumerate(x.type.shape):
            axis = lead + i
            other = [o[len(o) - full + axis] for o in others if len(o) - full + axis >= 0]
            if all(od == 1 for od in other):
                continue          # only x sets this dim: nothing broadcast
            if d == 1:
                ones.append(nb + axis)
            elif d is None:
                runtime = True
        lead_axes = list(range(nb, nb + lead))
        if ones:
            g = self.sum(g, lead_axes + ones, keepdims=True)
            g = self.dimshuffle(g, list(range(nb)) + list(range(nb + lead, g.ndim)))
        else:
            g = self.sum(g, lead_axes, keepdims=False)
        if runtime:
            spec, dyn = self.shape_spec(self.batch_dims(g, nb) + self.dims(x))
            g = self("sum_to", g, *dyn, shape=spec)
        return g

    def unbroadcast_operand(self, g, op, i, nb):
        """Unbroadcast for operand ``i`` of an elementwise op. Operands with
        the same shape root as ``x`` cannot have broadcast it."""
        x = op.operands[i]
        root = shape_root(x)
        others = [o.type.shape for j, o in enumerate(op.operands)
                  if j != i and not (o.ndim == x.ndim and shape_root(o) is root)]
        return self.unbroadcast(g, x, others, nb)


_SHAPE_ROOTS = weakref.WeakKeyDictionary()
_SAME_SHAPE_OPS = ("stop_gradient",)


def _passive(o, v):
    """An operand that cannot change the shape of elementwise result ``v``."""
    return o.ndim <= v.ndim and all(d == 1 for d in o.type.shape)


def shape_root(v):
    """A value whose run-time shape ``v``'s shape is known to equal:
    elementwise ops whose operands, but for static size-1 ones, all share a
    root (with the result's ndim) inherit it; any other value is its own."""
    stack = [v]
    while stack:
        u = stack[-1]
        if u in _SHAPE_ROOTS:
            stack.pop()
            continue
        op = u.owner
        if op is None or not (op.opdef.elementwise or op.name in _SAME_SHAPE_OPS):
            _SHAPE_ROOTS[u] = u
            stack.pop()
            continue
        active = [o for o in op.operands if not _passive(o, u)]
        pending = [o for o in active if o not in _SHAPE_ROOTS]
        if pending:
            stack.extend(pending)
            continue
        roots = {id(_SHAPE_ROOTS[o]): _SHAPE_ROOTS[o] for o in active}
        root = next(iter(roots.values())) if len(roots) == 1 else None
        _SHAPE_ROOTS[u] = root if root is not None and root.ndim == u.ndim else u
        stack.pop()
    return _SHAPE_ROOTS[v]


def emitter(op):
    """The Emitter for the gradient rule of ``op``: results of its class."""
    return Emitter(type(op.results[0]) if op.results else Value)


def batch_ndim(op, g):
    """Number of leading batch dims a rule's output gradient carries."""
    nb = g.ndim - op.results[0].ndim
    if nb < 0:
        raise ValueError(f"{op.name}: gradient {g.type} has fewer dims than the result {op.results[0].type}")
    return nb


def expand_reduced(e, g, axes, keepdims, nb):
    """A reduction's output gradient with its reduced axes back, as size 1."""
    if keepdims:
        return g
    out, it = [], iter(range(nb, g.ndim))
    for p in range(g.ndim + len(axes)):
        if p >= nb and p - nb in axes:
            out.append("x")
        else:
            out.append(p if p < nb else next(it))
    return e.dimshuffle(g, out)


# --- the driver -----------------------------------------------------------------------------
class _Grads:
    """Gradient contributions per value, summed when first read."""

    def __init__(self, emit):
        self.emit = emit
        self.parts = {}

    def add(self, v, g):
        self.parts.setdefault(v, []).append(g)

    def total(self, v):
        """The summed gradient of ``v``: a Value, ZERO, or None (disconnected)."""
        parts = self.parts.get(v)
        if not parts:
            return None
        values = [p for p in parts if p is not ZERO]
        if not values:
            return ZERO
        total = values[0]
        for p in values[1:]:
            total = self.emit("add", total, p)
        self.parts[v] = [total]
        return total


def _check_contribution(op, j, operand, g, nb):
    if g is ZERO or g is None:
        return
    if not isinstance(g, Value):
        raise TypeError(f"gradient rule of {op.name} returned {g!r} for operand {j}")
    if not is_float(operand.dtype):
        raise RuntimeError(f"gradient rule of {op.name} returned a gradient for its non-float "
                           f"operand {j} ({operand.type}); it must return ZERO or None")
    bad = g.dtype != operand.dtype or g.ndim != operand.ndim + nb or any(
        a is not None and b is not None and a != b
        for a, b in zip(g.type.shape[nb:], operand.type.shape))
    if bad:
        raise RuntimeError(f"gradient rule of {op.name} returned {g.type} for operand {j} of type "
                           f"{operand.type} (with {nb} batch dims): a bug in the rule")


def backprop(seeds, wrt, consider_constant=(), value_cls=Value):
    """Reverse-mode accumulation from ``seeds`` to ``wrt``.

    seeds: [(value, its gradient)]; every gradient carries the same number
           ``nb`` of leading batch dims beyond its value's dims.
    wrt:   values to differentiate with respect to.
    consider_constant: values whose operands get no gradient through them.
    Returns, per ``wrt`` entry, a Value, ``ZERO`` or ``None`` (disconnected).
    """
    emit = Emitter(value_cls)
    nbs = {g.ndim - v.ndim for v, g in seeds}
    if len(nbs) > 1:
        raise ValueError("backprop: seeds carry different numbers of batch dims")
    nb = nbs.pop() if nbs else 0
    wrt_set = set(wrt)
    blocked = set(consider_constant)
    order = ancestors([v for v, _ in seeds])

    depends = {}
    for v in order:
        if v in wrt_set:
            depends[v] = True
        elif v in blocked or v.owner is None:
            depends[v] = False
        else:
            depends[v] = any(depends[o] for o in v.owner.operands)

    grads = _Grads(emit)
    for v, g in seeds:
        if depends.get(v):
            grads.add(v, g)

    ops, seen_ops = [], set()
    for v in order:
        if v.owner is not None and v.owner not in seen_ops:
            seen_ops.add(v.owner)
            ops.append(v.owner)

    for op in reversed(ops):
        if any(r in blocked for r in op.results):
            continue
        needed = [j for j, o in enumerate(op.operands) if depends[o]]
        if not needed:
            continue
        outs = [grads.total(r) for r in op.results]
        if all(g is None for g in outs):
            continue
        if all(g is None or g is ZERO for g in outs) or not any(is_float(r.dtype) for r in op.results):
            for j in needed:
                grads.add(op.operands[j], ZERO)
            continue
        rule = getattr(op.opdef, "grad", None)
        if rule is None:
            raise NullTypeGradError(f"theon.grad: op {op.name!r} has no gradient rule, but the cost "
                                    f"depends on the variables differentiated through its result {op.results[0]!r}")
        if len(op.results) > 1:
            outs = [g if isinstance(g, Value) else
                    emit.zeros(emit.batch_dims(seeds[0][1], nb) + emit.dims(r), r.dtype)
                    for g, r in zip(outs, op.results)]
        in_grads = rule(op, outs)
        if len(in_grads) != len(op.operands):
            raise RuntimeError(f"gradient rule of {op.name} returned {len(in_grads)} gradients "
                               f"for {len(op.operands)} operands")
        for j in needed:
            g = in_grads[j]
            _check_contribution(op, j, op.operands[j], g, nb)
            if g is not None:
                grads.add(op.operands[j], g)

    return [grads.total(w) for w in wrt]
