"""Fused loops: ``fused`` applies a region of scalar elementwise ops to every
element of its operands' broadcast, in one pass over memory, and may reduce
some of its results on the way; ``yield`` ends the region.

    %e, %s = fused(%x, %m) ({
      ^bb(%a: tensor<f32>, %b: tensor<f32>):
        %0 = sub(%a, %b) : tensor<f32>
        %1 = exp(%0) : tensor<f32>
        yield(%1, %1)
    }) {axes = [1], keepdims = true, parallel = 65536, reduce = [none, "sum"]}
      : tensor<?x?xf32>, tensor<?x1xf32>

Semantics. The *iteration space* is the NumPy broadcast of the operands'
shapes. Block argument ``i`` is a 0-d tensor of operand ``i``'s dtype
standing for one element of operand ``i`` (broadcast); the region holds
elementwise ops and 0-d ``constant`` ops on 0-d values only, uses nothing
defined outside it, and ends with ``yield``, one operand per result.
Result ``i`` is yielded value ``i`` at every point of the iteration space
(``reduce[i]`` none), or its ``sum``/``prod``/``max``/``min`` over ``axes``
of the iteration space (with ``keepdims``), exactly as the op of that name
applied to the unreduced values.

Attributes (all optional):
  reduce    per result: none or "sum"/"prod"/"max"/"min"; absent: all none
  axes      sorted distinct axes of the iteration space (with reduce)
  keepdims  bool (with reduce)
  parallel  schedule: an iteration space of at least this many elements runs
            on several threads; absent or 0: one thread
  threads   schedule: how many threads; absent or 0: every core available

Made by the ``fuse-elementwise`` pass (``passes/fusion.py``); lowered to one
loop nest by ``codegen/cpu/fused.py``.
"""
import numpy as np

from ..core import Operation
from ..opdef import OpDef
from ..types import TensorType, broadcast_shapes
from .reduction import Max, Min, Prod, Sum, normalize_axes, reduced_shape

REDUCERS = {"sum": Sum, "prod": Prod, "max": Max, "min": Min}
SCHEDULE_ATTRS = ("parallel", "threads")


def _region(op):
    if len(op.regions) != 1:
        raise ValueError(f"fused: needs exactly one region, got {len(op.regions)}")
    block = op.regions[0]
    if not block.ops or block.ops[-1].name != "yield":
        raise ValueError("fused: the region must end with yield")
    return block


def reduce_kinds(op):
    """Per result: None (elementwise) or the reduction's name."""
    kinds = op.attrs.get("reduce")
    if kinds is None:
        return (None,) * len(op.regions[0].ops[-1].operands)
    return tuple(kinds)


def iteration_shape(op):
    """The static broadcast of the operands' shapes."""
    return broadcast_shapes(*[v.type.shape for v in op.operands], what="fused's operands")


class Fused(OpDef):
    name = "fused"
    num_operands = None
    num_results = None

    def infer(self, op):
        block = _region(op)
        yielded = block.ops[-1].operands
        shape = iteration_shape(op)
        kinds = self._kinds(op, len(yielded))
        axes, keep = self._axes(op, kinds, len(shape))
        out = []
        for v, kind in zip(yielded, kinds):
            if v.type.ndim != 0:
                raise TypeError(f"fused: yielded values must be 0-d, got {v.type}")
            if kind is None:
                out.append(TensorType(v.type.dtype, shape))
                continue
            if REDUCERS[kind].identity is None:
                for a in axes:
                    if shape[a] == 0:
                        raise ValueError(f"fused: {kind} over an empty axis {a} has no identity")
            out.append(TensorType(v.type.dtype, reduced_shape(shape, axes, keep)))
        return out

    def _kinds(self, op, n):
        kinds = op.attrs.get("reduce")
        if kinds is None:
            return (None,) * n
        if not isinstance(kinds, tuple) or len(kinds) != n:
            raise ValueError(f"fused: reduce must list one entry per yielded value ({n}), got {kinds!r}")
        for k in kinds:
            if k is not None and k not in REDUCERS:
                raise ValueError(f"fused: reduce entries must be none or one of {sorted(REDUCERS)}, got {k!r}")
        return kinds

    def _axes(self, op, kinds, ndim):
        reducing = any(k is not None for k in kinds)
        has = [a for a in ("axes", "keepdims") if a in op.attrs]
        if not reducing:
            if has:
                raise ValueError(f"fused: {has[0]} is only allowed with a reduce entry")
            return (), False
        if len(has) != 2:
            raise ValueError("fused: a reduction needs the attributes axes and keepdims")
        axes, keep = op.attrs["axes"], op.attrs["keepdims"]
        if not isinstance(axes, tuple) or tuple(axes) != normalize_axes(axes, ndim, "fused"):
            raise ValueError(f"fused: axes {axes!r} must be sorted, distinct, in [0, {ndim})")
        if not isinstance(keep, bool):
            raise TypeError(f"fused: keepdims must be a bool, got {keep!r}")
        return tuple(axes), keep

    def verify(self, op):
        block = _region(op)
        if len(block.args) != len(op.operands):
            raise ValueError(f"fused: the region takes {len(block.args)} arguments for "
                             f"{len(op.operands)} operands")
        for i, (arg, v) in enumerate(zip(block.args, op.operands)):
            if arg.type != TensorType(v.type.dtype, ()):
                raise TypeError(f"fused: region argument {i} must be tensor of {v.type.dtype} "
                                f"with no dims (an element of operand {i}), got {arg.type}")
        defined = {id(a) for a in block.args}
        for inner in block.ops:
            if inner.name == "yield" and inner is not block.ops[-1]:
                raise ValueError("fused: yield must be the last op of the region")
            if inner.name not in ("yield", "constant") and not inner.opdef.elementwise:
                raise ValueError(f"fused: the region may hold only elementwise ops and constants, "
                                 f"not {inner.name}")
            for v in inner.operands:
                if id(v) not in defined:
                    raise ValueError(f"fused: {inner.name} in the region uses a value defined outside "
                                     "it (pass it as an operand)")
            for r in inner.results:
                if r.type.ndim != 0:
                    raise TypeError(f"fused: {inner.name} in the region must give a 0-d value, "
                                    f"got {r.type}")
                defined.add(id(r))
        for key in SCHEDULE_ATTRS:
            value = op.attrs.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"fused: {key} must be a non-negative int, got {value!r}")

    def reference(self, op, *args):
        """Every region op's NumPy reference on whole (broadcast) arrays."""
        axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
        results = []
        for value, kind, r in zip(yielded_values(op, args), reduce_kinds(op), op.results):
            if kind is not None:
                with np.errstate(all="ignore"):
                    value = REDUCERS[kind].np_fn(value, axis=axes, keepdims=keep)
            results.append(np.array(value, dtype=r.type.np_dtype))
        return results

    def magnitude(self, op, *args):
        """Per result, the size its rounding errors scale with (for DEBUG
        mode's tolerances): the sum of |terms| for float sums, else |result|."""
        axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
        out = []
        for value, kind, r in zip(yielded_values(op, args), reduce_kinds(op), self.reference(op, *args)):
            if kind == "sum" and r.dtype.kind == "f":
                out.append(np.sum(np.abs(value), axis=axes, keepdims=keep, dtype=np.float64))
            else:
                out.append(np.abs(r) if r.dtype.kind == "f" else r)
        return out


def yielded_values(op, args):
    """The yielded values of a fused op at every point of its iteration
    space (read-only broadcast views), from the region ops' references."""
    block = op.regions[0]
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    env = {id(a): np.asarray(x) for a, x in zip(block.args, args)}
    for inner in block.ops[:-1]:
        outs = inner.opdef.reference(inner, *[env[id(v)] for v in inner.operands])
        env[id(inner.results[0])] = np.asarray(outs[0])
    return [np.broadcast_to(env[id(v)], shape) for v in block.ops[-1].operands]


class Yield(OpDef):
    """The results of a ``fused`` region: one operand per result."""
    name = "yield"
    num_operands = None
    num_results = 0
    pure = False        # no results, but never dead

    def infer(self, op):
        return []

    def verify(self, op):
        owner = getattr(op.parent, "parent", None)
        if not isinstance(owner, Operation) or owner.name != "fused":
            raise ValueError("yield is only allowed at the end of a fused region")


OPS = [Fused, Yield]
