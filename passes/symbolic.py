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
        dims = op.opdef.dims(op, _Algebra(self, v))
        if dims is None:
            return tuple(_fresh(v, k) for k in range(v.type.ndim))
        return tuple(dims[v.index])


class _Algebra:
    """The dim algebra an op's output-shape rule (``OpDef.dims``) builds
    symbolic dims with, for result ``v``."""

    def __init__(self, shapes, v):
        self.shapes, self.v = shapes, v

    def of(self, w):
        return self.shapes.dims(w)

    broadcast = staticmethod(broadcast_dims)

    def size(self, n):
        return self.shapes.int_dim(n)

    def fresh(self, k):
        return _fresh(self.v, k)


def alive(v, scope):
    """``v`` is an argument of ``scope`` (a Function or a Block: the body or
    a region's block) or a result of an op in it -- usable there (regions are
    isolated from above, so values of other blocks are not)."""
    block = getattr(scope, "body", scope)
    if v.owner is None:
        return v.index < len(block.args) and block.args[v.index] is v
    return v.owner.parent is block
