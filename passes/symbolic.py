"""Symbolic shapes: which dims of two values are equal at run time.

A value's static type says ``?`` for every size not known when compiling;
``SymbolicShapes.dims(v)`` says more. Each dim is

* an ``int`` -- known statically, or
* a ``frozenset`` of atoms -- the NumPy broadcast of those run-time sizes.
  An atom is ``("dim", w, k)`` (dim ``k`` of value ``w``) or ``("int", n)``
  (the run-time value of the 0-d int ``n``, a dynamic size operand).

Broadcasting is exact on this form: ``1`` is neutral, an int ``n > 1``
absorbs (the program fails unless the others are 1 or ``n``), and sets
unite. So ``exp(x)`` has the dims of ``x``; ``sub(x, max(x, axes=[1],
keepdims=true))`` has them too; a size operand ``shape(x)[0]`` is dim 0 of
``x``. Two values with equal dims have the same run-time shape; a rewrite
may replace one by the other only then.

Atoms name values that existed when they were computed; values replaced
later still name the same run-time size, so a stale atom is never wrong,
only less useful. ``alive`` tells whether its value can still be used.
"""
from ..ir.core import DYN
from ..ir.opdef import const_value


def _fresh(v, k):
    return frozenset({("dim", v, k)})


def broadcast_dims(*dim_lists):
    """The broadcast of several dim tuples (right-aligned)."""
    ndim = max((len(d) for d in dim_lists), default=0)
    out = []
    for axis in range(ndim):
        ints, atoms = set(), set()
        for dims in dim_lists:
            i = axis - (ndim - len(dims))
            if i < 0:
                continue
            d = dims[i]
            if isinstance(d, int):
                if d != 1:
                    ints.add(d)
            else:
                atoms |= d
        if ints:
            out.append(max(ints))     # one size, unless the program is invalid
        elif atoms:
            out.append(frozenset(atoms))
        else:
            out.append(1)
    return tuple(out)


class SymbolicShapes:
    """Memoized symbolic dims of values (one instance per pass run)."""

    def __init__(self):
        self.memo = {}

    def dims(self, v):
        known = self.memo.get(v)
        if known is not None:
            return known
        stack = [v]             # operands first, without recursion: graphs can be deep
        while stack:
            w = stack[-1]
            if w in self.memo:
                stack.pop()
                continue
            pending = [o for o in (w.owner.operands if w.owner is not None else ()) if o not in self.memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.memo[w] = self._merge_static(w, self._compute(w))
        return self.memo[v]

    def same(self, a, b):
        """Same dtype and the same run-time shape."""
        return a.type.dtype == b.type.dtype and self.dims(a) == self.dims(b)

    def fits(self, v, dims):
        """Broadcasting ``v`` against shape ``dims`` leaves ``dims`` unchanged."""
        mine = self.dims(v)
        if len(mine) > len(dims):
            return False
        lead = len(dims) - len(mine)
        return all(d == 1 or d == dims[lead + i] for i, d in enumerate(mine))

    def int_dim(self, n):
        """The dim a 0-d int value ``n`` stands for as a size operand."""
        c = const_value(n)
        if c is not None and c.ndim == 0:
            return int(c)
        owner = n.owner
        if owner is not None and owner.name == "subtensor" and len(owner.operands) == 1:
            src = owner.operands[0].owner
            idx = owner.attrs["idx"]
            if (src is not None and src.name == "shape" and len(idx) == 1
                    and isinstance(idx[0], int) and not isinstance(idx[0], bool)):
                dims = self.dims(src.operands[0])
                if -len(dims) <= idx[0] < len(dims):
                    return dims[idx[0]]
        if owner is not None and owner.name == "cast" and owner.operands[0].dtype in ("int32", "int64"):
            return self.int_dim(owner.operands[0])
        return frozenset({("int", n)})

    def spec_dims(self, op, key, first_dyn):
        """Dims of a size list attribute (``shape`` of alloc/reshape/sum_to)."""
        dyn = iter(op.operands[first_dyn:])
        return tuple(self.int_dim(next(dyn)) if d is DYN else d for d in op.attrs[key])

    # --- per op ---------------------------------------------------------------------
    def _merge_static(self, v, dims):
        """Static sizes of the value's type win; unknown ones stay symbolic."""
        static = v.type.shape
        if len(dims) != len(static):
            dims = tuple(_fresh(v, k) for k in range(len(static)))
        return tuple(d if s is None else s for s, d in zip(static, dims))

    def _compute(self, v):
        op = v.owner
        if op is None or len(op.results) != 1:
            return tuple(_fresh(v, k) for k in range(v.type.ndim))
        rule = _RULES.get(op.name)
        if rule is None and op.opdef.elementwise:
            rule = _elementwise
        if rule is None:
            return tuple(_fresh(v, k) for k in range(v.type.ndim))
        return rule(self, op, v)


def _elementwise(s, op, v):
    return broadcast_dims(*[s.dims(o) for o in op.operands])


def _same_as_first(s, op, v):
    return s.dims(op.operands[0])


def _reduce(s, op, v):
    dims = s.dims(op.operands[0])
    axes = op.attrs["axes"]
    if op.attrs["keepdims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(dims))
    return tuple(d for i, d in enumerate(dims) if i not in axes)


def _arg_reduce(s, op, v):
    dims = s.dims(op.operands[0])
    axis, keep = op.attrs["axis"], op.attrs["keepdims"]
    if axis is None:
        return (1,) * len(dims) if keep else ()
    if keep:
        return tuple(1 if i == axis else d for i, d in enumerate(dims))
    return tuple(d for i, d in enumerate(dims) if i != axis)


def _dimshuffle(s, op, v):
    dims = s.dims(op.operands[0])
    return tuple(1 if p == "x" else dims[p] for p in op.attrs["pattern"])


def _sized(s, op, v):
    dims = s.spec_dims(op, "shape", 1)
    return tuple(_fresh(v, k) if d == -1 else d for k, d in enumerate(dims))


def _subtensor(s, op, v):
    dims = s.dims(op.operands[0])
    out = []
    for k, e in enumerate(op.attrs["idx"]):
        if isinstance(e, tuple):
            whole = e[0] in (None, 0) and e[1] is None and e[2] in (None, 1)
            out.append(dims[k] if whole else _fresh(v, len(out)))
    return tuple(out) + tuple(dims[len(op.attrs["idx"]):])


def _matmul(s, op, v):
    a, b = (s.dims(o) for o in op.operands)
    ash = a if len(a) > 1 else (1,) + a
    bsh = b if len(b) > 1 else b + (1,)
    batch = broadcast_dims(ash[:-2], bsh[:-2])
    return batch + ((ash[-2],) if len(a) > 1 else ()) + ((bsh[-1],) if len(b) > 1 else ())


def _arange(s, op, v):
    start, stop, step = (const_value(o) for o in op.operands)
    if start is not None and step is not None and start == 0 and step == 1 and op.operands[1].dtype == "int64":
        return (s.int_dim(op.operands[1]),)
    return (_fresh(v, 0),)


def _concatenate(s, op, v):
    first = s.dims(op.operands[0])
    axis = op.attrs["axis"]
    return tuple(_fresh(v, k) if k == axis else d for k, d in enumerate(first))


_RULES = {
    "cast": _same_as_first,
    "stop_gradient": _same_as_first,
    "set_subtensor": _same_as_first,
    "inc_subtensor": _same_as_first,
    "sum": _reduce, "prod": _reduce, "max": _reduce, "min": _reduce,
    "argmax": _arg_reduce, "argmin": _arg_reduce,
    "dimshuffle": _dimshuffle,
    "alloc": _sized, "reshape": _sized, "sum_to": _sized,
    "subtensor": _subtensor,
    "matmul": _matmul,
    "concatenate": _concatenate,
    "arange": _arange,
}


def alive(v, func):
    """``v`` is an argument of ``func`` or a result of an op in its body."""
    if v.owner is None:
        return v.index < len(func.args) and func.args[v.index] is v
    return v.owner.parent is func.body
