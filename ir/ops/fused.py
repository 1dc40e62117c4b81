"""Fused loops: ``fused`` applies regions of scalar elementwise ops to every
element of its operands' broadcast, in one pass over memory, and may reduce
some of its results on the way; ``yield`` ends each region.

    %e, %s = fused(%x, %m) ({
      ^bb(%a: tensor<f32>, %b: tensor<f32>):
        %0 = sub(%a, %b) : tensor<f32>
        %1 = exp(%0) : tensor<f32>
        yield(%1, %1)
    }) {axes = [1], keepdims = true, parallel = 65536, reduce = [none, "sum"]}
      : tensor<?x?xf32>, tensor<?x1xf32>

Semantics. The *iteration space* is the NumPy broadcast of the operands'
shapes. Block argument ``i`` is a 0-d tensor of operand ``i``'s dtype
standing for one element of operand ``i`` (broadcast); a region holds
elementwise ops and 0-d ``constant`` ops on 0-d values only, uses nothing
defined outside it, and ends with ``yield``. The op's results are the
yielded values of its regions, in order: result ``i`` is its yielded value
at every point of the iteration space (``reduce[i]`` none), or its
``sum``/``prod``/``max``/``min`` over ``axes`` of the iteration space (with
``keepdims``), exactly as the op of that name applied to the unreduced
values.

*Stages.* With several regions, region ``k`` also takes, after the operand
elements, one argument per reduced result of the regions before it: that
result broadcast back over the reduced axes. So a row softmax is one op
whose stages are the row max, the row sum of ``exp(x - max)``, and
``exp(x - max) / sum``; code runs the stages one after the other on each
row while the row is in cache. Several stages need a reduction over the
last axis that keeps at least one axis (rows).

Attributes (all optional):
  reduce    per result: none or "sum"/"prod"/"max"/"min"; absent: all none
  axes      sorted distinct axes of the iteration space (with reduce)
  keepdims  bool (with reduce)
  parallel  schedule: an iteration space of at least this many elements runs
            on several threads; absent or 0: one thread
  threads   schedule: how many threads; absent or 0: every core available

Made by the ``fuse-elementwise`` pass (``passes/fusion.py``); lowered to one
loop nest by ``codegen/cpu/lower/fused.py``.
"""
from collections.abc import Mapping

import numpy as np

from ..core import Operation
from ..opdef import OpDef
from ..types import TensorType, broadcast_shapes
from .reduction import normalize_axes, reduced_shape


class _Reducers(Mapping):
    """kind -> the reduction op of that name: every registered op whose
    ``reduces`` fact is set (``sum prod max min``)."""

    @staticmethod
    def _ops():
        from ..dialect import OPS
        return {name: d for name, d in OPS.items() if d.reduces}

    def __getitem__(self, kind):        # one lookup (``in`` and every fused op's infer use it)
        from ..dialect import OPS
        d = OPS.get(kind)
        if d is None or not d.reduces:
            raise KeyError(kind)
        return d

    def __iter__(self):
        return iter(self._ops())

    def __len__(self):
        return len(self._ops())


REDUCERS = _Reducers()
SCHEDULE_ATTRS = ("parallel", "threads")


def _regions(op):
    if not op.regions:
        raise ValueError("fused: needs at least one region")
    for k, block in enumerate(op.regions):
        if not block.ops or block.ops[-1].name != "yield":
            raise ValueError(f"fused: region {k} must end with yield")
    return op.regions


def yielded(op):
    """Every region's yielded values, in result order."""
    return [v for block in op.regions for v in block.ops[-1].operands]


def stage_results(op):
    """Per region, the indices of the results it yields."""
    out, start = [], 0
    for block in op.regions:
        n = len(block.ops[-1].operands)
        out.append(list(range(start, start + n)))
        start += n
    return out


def reduce_kinds(op):
    """Per result: None (elementwise) or the reduction's name."""
    kinds = op.attrs.get("reduce")
    if kinds is None:
        return (None,) * len(yielded(op))
    return tuple(kinds)


def summary(op):
    """A one-line description for reports (profiles, DEBUG messages, debugprint):
    ``fused[sub, exp -> sum | div]``: each stage's ops, then its reductions."""
    parts = []
    kinds = reduce_kinds(op)
    for block, indices in zip(op.regions, stage_results(op)):
        names = ", ".join(inner.name for inner in block.ops[:-1] if inner.name != "constant") or "copy"
        reduced = [kinds[i] for i in indices if kinds[i] is not None]
        parts.append(names + (" -> " + ", ".join(reduced) if reduced else ""))
    return "fused[" + " | ".join(parts) + "]"


def iteration_shape(op):
    """The static broadcast of the operands' shapes."""
    return broadcast_shapes(*[v.type.shape for v in op.operands], what="fused's operands")


class Fused(OpDef):
    name = "fused"
    num_operands = None
    num_results = None
    num_regions = None          # one per stage
    terminator = "yield"

    def infer(self, op):
        _regions(op)
        values = yielded(op)
        shape = iteration_shape(op)
        kinds = self._kinds(op, len(values))
        axes, keep = self._axes(op, kinds, len(shape))
        out = []
        for v, kind in zip(values, kinds):
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

    def dims(self, op, shapes):
        space = shapes.broadcast(*[shapes.of(v) for v in op.operands])
        axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
        return [space if kind is None else reduced_shape(space, axes, keep) for kind in reduce_kinds(op)]

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
        regions = _regions(op)
        kinds = reduce_kinds(op)
        ndim = len(iteration_shape(op))
        if len(regions) > 1:
            axes = op.attrs.get("axes", ())
            if ndim - 1 not in axes or len(axes) == ndim:
                raise ValueError("fused: several stages (regions) need a reduction over the last axis "
                                 "that keeps at least one axis")
        earlier = []          # reduced results of the stages so far
        for k, (block, indices) in enumerate(zip(regions, stage_results(op))):
            if not indices:
                raise ValueError(f"fused: region {k} yields nothing")
            expected = [v.type.dtype for v in op.operands] + [op.results[i].type.dtype for i in earlier]
            self._verify_region(k, block, expected)
            earlier += [i for i in indices if kinds[i] is not None]
        for key in SCHEDULE_ATTRS:
            value = op.attrs.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"fused: {key} must be a non-negative int, got {value!r}")

    def _verify_region(self, k, block, dtypes):
        where = f"fused: region {k}" if k else "fused: the region"
        if len(block.args) != len(dtypes):
            raise ValueError(f"{where} takes {len(block.args)} arguments for {len(dtypes)} operands"
                             + (" and earlier reduced results" if k else ""))
        for i, (arg, dtype) in enumerate(zip(block.args, dtypes)):
            if arg.type != TensorType(dtype, ()):
                raise TypeError(f"{where}: argument {i} must be tensor of {dtype} with no dims "
                                f"(one element), got {arg.type}")
        defined = {id(a) for a in block.args}
        for inner in block.ops:
            if inner.name == "yield" and inner is not block.ops[-1]:
                raise ValueError(f"{where}: yield must be its last op")
            if inner.name not in ("yield", "constant") and not inner.opdef.elementwise:
                raise ValueError(f"{where} may hold only elementwise ops and constants, not {inner.name}")
            for v in inner.operands:
                if id(v) not in defined:
                    raise ValueError(f"{where}: {inner.name} uses a value defined outside the region "
                                     "(pass it as an operand)")
            for r in inner.results:
                if r.type.ndim != 0:
                    raise TypeError(f"{where}: {inner.name} must give a 0-d value, got {r.type}")
                defined.add(id(r))

    def reference(self, op, *args):
        """Every region op's NumPy reference on whole (broadcast) arrays."""
        return [r for r, _ in _evaluate(op, args)]

    def magnitude(self, op, *args):
        """Per result, the size its rounding errors scale with (for DEBUG
        mode's tolerances): the sum of |terms| for float sums, else |result|."""
        axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
        out = []
        for (r, value), kind in zip(_evaluate(op, args), reduce_kinds(op)):
            if kind == "sum" and r.dtype.kind == "f":
                out.append(np.sum(np.abs(value), axis=axes, keepdims=keep, dtype=np.float64))
            else:
                out.append(np.abs(r) if r.dtype.kind == "f" else r)
        return out


def _evaluate(op, args):
    """[(result, its unreduced values)] of a fused op, stage by stage."""
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
    kinds = reduce_kinds(op)
    out, earlier = [], []
    for block, indices in zip(op.regions, stage_results(op)):
        values = _region_values(block, list(args) + earlier, shape)
        for i, value in zip(indices, values):
            kind = kinds[i]
            result = value
            if kind is not None:
                with np.errstate(all="ignore"):
                    result = REDUCERS[kind].np_fn(value, axis=axes, keepdims=keep)
            result = np.array(result, dtype=op.results[i].type.np_dtype)
            out.append((result, value))
            if kind is not None:
                earlier.append(result if keep else np.expand_dims(result, axes))
    return out


def _region_values(block, args, shape):
    env = {id(a): np.asarray(x) for a, x in zip(block.args, args)}
    for inner in block.ops[:-1]:
        outs = inner.opdef.reference(inner, *[env[id(v)] for v in inner.operands])
        env[id(inner.results[0])] = np.asarray(outs[0])
    return [np.broadcast_to(env[id(v)], shape) for v in block.ops[-1].operands]


class Yield(OpDef):
    """The terminator of ``fused`` regions (and of any region op that
    declares ``terminator = "yield"``): its operands are the region's results."""
    name = "yield"
    f16_storage = True
    num_operands = None
    num_results = 0
    pure = False        # no results, but never dead

    def infer(self, op):
        return []

    def verify(self, op):
        owner = getattr(op.parent, "parent", None)
        if not isinstance(owner, Operation) or owner.opdef.terminator != "yield":
            raise ValueError("yield is only allowed at the end of a region of an op whose "
                             "terminator is yield (such as fused)")


OPS = [Fused, Yield]
