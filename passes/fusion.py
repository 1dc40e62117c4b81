"""``fuse-elementwise``: elementwise ops and the reductions they feed become
``fused`` ops (``ir/ops/fused.py``), one loop nest each, with no temporaries.

Groups are grown greedily, consumers first (a union-find over the body's
ops), then siblings are merged:

1. *producer into consumer*: an elementwise op joins the group of an op
   that uses it. A ``sum``/``prod``/``max``/``min`` joins as the group's
   sink: its operand is reduced while the loop runs (never materialized).
2. *recompute*: a value a group writes only for other groups is computed
   again inside them when its ops are few (``recompute``): softmax's
   ``exp(x - max)`` feeds both the row sum and the division without a
   temporary.
3. *siblings*: groups that read a common value and have the same
   iteration space merge, so ``[exp(a), log(a), a*a]`` reads ``a`` once and
   writes its three results in one pass over memory.
4. *stages*: a group that uses only the row reductions (last axis reduced,
   one axis kept) of a chain of groups over the same rows becomes the
   chain's next stage: one fused op with a region per stage, whose code
   runs the stages one after the other on each row while it is in cache
   (row softmax: max, sum of exp, division). ``split-fused-stages`` undoes
   this for backends that want one region per op.

A merge is legal when (``_Merger.legal``):

* the group has at most ``max-ops`` ops, and its reductions share one
  ``axes``/``keepdims``;
* no op of the group uses a reduction of the group (that is complete only
  after the loop);
* every value the group exposes (used outside it, or returned) and every
  reduced value has the group's iteration space as its symbolic shape
  (``passes/symbolic.py``), so it is written at that shape; an internal
  value may be smaller only where the types do not show it (a value
  statically broadcast inside the group would be recomputed per element);
* no op outside the group lies on a path between two of its ops (else the
  fused op could not be placed).

Lone elementwise ops with a 0-d result are left alone (no loop to save).
``constant`` ops of 0-d values are copied into regions. The body is then
reordered topologically (stable), since a group's results are defined
where its last op was.

Options: ``max-ops`` (ops per group), ``reductions`` (fuse reductions),
``recompute`` (the most ops copied into a consumer instead of writing a
temporary; 0: never), ``stages`` (chain row stages), and the schedule the
pass writes on each fused op:
``parallel`` (how many elements of ``a*b+1`` are worth several threads;
each fused op gets this scaled by its ``element_cost``, so a loop of
transcendental functions splits sooner; 0: one thread) and ``threads``
(0: every available core). ``min-ops``: a block with fewer candidate ops
is left as it is (FAST_COMPILE fuses only very large bodies, where one
loop per op would make lowering and LLVM cost most of the compile).
"""
import heapq
from dataclasses import dataclass

from ..ir.core import Block, Operation, Value
from ..ir.dialect import OPS
from ..ir.types import TensorType
from .manager import Pass
from .symbolic import SymbolicShapes, broadcast_dims


@dataclass
class FuseElementwise(Pass):
    name = "fuse-elementwise"
    max_ops: int = 32
    reductions: bool = True
    recompute: int = 8
    stages: bool = True
    parallel: int = 262144
    threads: int = 0
    min_ops: int = 0

    def run(self, func):
        if self.max_ops < 1:
            raise ValueError(f"fuse-elementwise: max-ops must be at least 1, got {self.max_ops}")
        for block in _blocks(func.body):
            merger = _Merger(block, self.max_ops, self.reductions, self.recompute)
            if len(merger.leader) < self.min_ops:
                continue
            chains = merger.chains(self.stages)
            position = {op: i for i, op in enumerate(block.ops)}
            replaced = []
            for stages in chains:
                if len(stages) > 1 or _worth_fusing(stages[0]):
                    _emit(block, stages, self._schedule, position.get, replaced)
            block.remove_all(replaced)
            _reorder(block)

    def _schedule(self, fused):
        """The schedule attributes of a new fused op: ``parallel`` scaled
        down from the option by how much heavier than ``a*b+1`` one element
        of its body is (``element_cost``)."""
        if self.parallel <= 0:
            return {}
        attrs = {"parallel": max(1, -(-self.parallel * CHEAP_ELEMENT // element_cost(fused)))}
        if self.threads > 0:
            attrs["threads"] = self.threads
        return attrs


def _blocks(block):
    """``block`` and every region's block inside it, except the bodies of
    fused ops (already one loop). Each is fused on its own: regions are
    isolated from above, so no value crosses a region boundary."""
    out = [block]
    for op in block.ops:
        if op.name != "fused":
            for region in op.regions:
                out += _blocks(region)
    return out


# Relative cost of each operand read and result written (a region op costs
# its ``OpDef.cost``: plain arithmetic 1); a*b+1 costs CHEAP_ELEMENT.
STREAM_COST = 1
CHEAP_ELEMENT = 5


def element_cost(fused):
    """The work of one point of a fused op's iteration space, in units of
    one arithmetic op (``OpDef.cost``)."""
    body = [op for region in fused.regions for op in region.ops[:-1]]
    streams = len(fused.operands) + len(fused.results)
    reductions = sum(k is not None for k in fused.attrs.get("reduce", ()))
    return STREAM_COST * streams + reductions + sum(op.opdef.cost for op in body)


@dataclass
class SplitFusedStages(Pass):
    """``split-fused-stages``: every fused op with several stages becomes one
    fused op per stage (each later one takes the earlier reductions as
    operands, broadcast back over the reduced axes): for backends that run
    one region per loop nest."""
    name = "split-fused-stages"

    def run(self, func):
        for op in [op for op in func.walk() if op.name == "fused" and len(op.regions) > 1]:
            split_stages(op.parent, op)


def split_stages(block, op):
    """Replace the staged fused ``op`` of ``block`` by single-stage ones."""
    from ..ir.ops.fused import reduce_kinds, stage_results
    kinds = reduce_kinds(op)
    axes, keep = op.attrs.get("axes", ()), op.attrs.get("keepdims", False)
    schedule = {k: v for k, v in op.attrs.items() if k in ("parallel", "threads")}
    ndim = max((v.type.ndim for v in op.operands), default=0)
    earlier, new_results = [], []
    for region, indices in zip(list(op.regions), stage_results(op)):
        stage_kinds = tuple(kinds[i] for i in indices)
        attrs = dict(schedule)
        if any(k is not None for k in stage_kinds):
            attrs.update(axes=axes, keepdims=keep, reduce=stage_kinds)
        region.parent = None
        stage = Operation(OPS["fused"], list(op.operands) + earlier, attrs,
                          result_types=[op.results[i].type for i in indices], regions=[region],
                          result_names=[op.results[i].name for i in indices])
        block.insert_before(op, stage)
        new_results += stage.results
        for i, r in zip(indices, stage.results):
            if kinds[i] is not None:
                earlier.append(r if keep else _expand(block, op, r, axes, ndim))
    op.regions = []
    for old, new in zip(op.results, new_results):
        old.replace_all_uses_with(new)
    block.remove(op)


def _expand(block, anchor, v, axes, ndim):
    """``v`` (reduced over ``axes``, keepdims false) with those axes back as 1s."""
    kept = iter(range(v.type.ndim))
    pattern = tuple("x" if d in axes else next(kept) for d in range(ndim))
    op = Operation(OPS["dimshuffle"], [v], {"pattern": pattern})
    block.insert_before(anchor, op)
    return op.results[0]


def is_fusable(op):
    """An elementwise op of the top-level body (not a region op), drawing no
    random numbers (fusion may compute a value again in another group); not
    an integer ``pow``, whose lowering checks its exponents (NumPy refuses
    integers to negative integer powers, and a fused loop cannot fail)."""
    if op.name == "pow" and op.operands and op.operands[-1].type.np_dtype.kind in "iu":
        return False
    return op.opdef.elementwise and not op.opdef.random and not op.regions


def _is_reduction(op):
    return op.opdef.reduces and len(op.attrs["axes"]) > 0


def _worth_fusing(members):
    if len(members) > 1:
        return True
    (op,) = members
    return _is_reduction(op) or op.results[0].type.ndim > 0


# --- grouping ---------------------------------------------------------------------------
class _Merger:
    """Union-find over the candidate ops of one block."""

    def __init__(self, block, max_ops, reductions, recompute):
        self.block = block
        self.max_ops = max_ops
        self.recompute = recompute
        self.ops = [op for op in block.ops if op.name != "return"]
        self.pos = {op: i for i, op in enumerate(block.ops)}
        self.sym = SymbolicShapes()
        self.members = {}       # leader -> list of ops
        self.leader = {}        # op -> leader
        # A topological order of the graph whose nodes are the groups (keyed
        # by leader) and the other ops: each merge keeps it one (``_contract``),
        # so ``convex`` searches only the ops ranked between a group's nodes.
        self.rank = {op: i for i, op in enumerate(self.ops)}
        self._spaces = {}       # leader -> (group size, iteration space, no reductions)
        for op in self.ops:
            if is_fusable(op) or (reductions and _is_reduction(op)):
                self.leader[op] = op
                self.members[op] = [op]

    def find(self, op):
        return self.leader.get(op)

    def groups(self):
        for op in reversed(self.ops):
            if op in self.leader:
                self._absorb_producers(op)
        if self.recompute:
            for leader in list(self.members):
                if leader in self.members:
                    self._recompute_outputs(leader)
            self._drop_dead()
        self._merge_siblings()
        return [sorted(m, key=self.pos.get) for m in self.members.values()]

    def _absorb_producers(self, root):
        work = [root]
        while work:
            op = work.pop()
            for v in op.operands:
                p = v.owner
                if p is None or not is_fusable(p) or self.find(p) is None:
                    continue
                a, b = self.find(op), self.find(p)
                if a is not b and self.merge(a, b):
                    work.append(p)

    def _merge_siblings(self):
        values = list(self.block.args) + [r for op in self.ops for r in op.results]
        for v in values:
            users = {}
            for user, _ in v.uses:
                g = self.find(user)
                if g is not None:
                    users[g] = None
            if len(users) < 2:
                continue
            users = sorted(users, key=self.pos.get)
            smallest = min(len(self.members[g]) for g in users)
            for i, g in enumerate(users):
                if len(self.members[self.find(g)]) + smallest > self.max_ops:
                    continue        # full: no sibling fits (sizes only grow)
                for h in users[i + 1:]:
                    a, b = self.find(g), self.find(h)
                    if a is not b:
                        self.merge(a, b)

    # stages
    def chains(self, stages=True):
        """The groups as chains of stages, [[group, ...], ...]: a group that
        uses row reductions of a chain over the same rows joins it as its
        next stage (see ``_can_stage``)."""
        groups = self._topological(self.groups())
        if not stages:
            return [[g] for g in groups]
        chains, chain_of, index = [], {}, {}
        for g in groups:
            used = {chain_of[id(v.owner)] for op in g for v in op.operands
                    if v.owner is not None and id(v.owner) in chain_of and _is_reduction(v.owner)
                    and v.owner not in g}
            target = chains[used.pop()] if len(used) == 1 else None
            if target is None or not self._can_stage(target, g):
                target = []
                index[id(target)] = len(chains)
                chains.append(target)
            target.append(g)
            for op in g:
                chain_of[id(op)] = index[id(target)]
        return chains

    def _can_stage(self, chain, g):
        """``g`` may run after ``chain``'s stages, row by row: every reduction
        of both has one ``axes``/``keepdims`` that reduces the last axis and
        keeps one, the iteration spaces are equal, ``g`` uses no elementwise
        result of the chain, and no outside op lies between them."""
        ops = [op for stage in chain for op in stage]
        inside = set(ops)
        if len(ops) + len(g) > self.max_ops:
            return False
        rows = {(op.attrs["axes"], op.attrs["keepdims"]) for op in ops + g if _is_reduction(op)}
        if len(rows) != 1:
            return False
        (axes, _), = rows
        space = broadcast_dims(*[self.space(op) for op in ops])
        if len(space) - 1 not in axes or len(axes) == len(space):
            return False
        if broadcast_dims(*[self.space(op) for op in g]) != space:
            return False
        if any(v.owner in inside and not _is_reduction(v.owner) for op in g for v in op.operands):
            return False
        return self.convex(inside | set(g))

    def _topological(self, groups):
        """Groups ordered so that each comes after the groups it uses: by
        rank (a topological order of groups and other ops)."""
        return sorted(groups, key=lambda g: self.rank[self.find(g[0])])

    # recomputation
    def _recompute_outputs(self, leader):
        """Each value the group writes only for other groups is computed
        again inside them instead, when that is cheap: no temporary."""
        group = self.members[leader]
        inside = set(group)
        for op in list(group):
            if _is_reduction(op):
                continue
            v = op.results[0]
            users = [u for u, _ in v.uses if u not in inside]
            if not users or any(self.find(u) is None for u in users):
                continue
            cone = self._cone(op, inside)
            if len(cone) > self.recompute:
                continue
            consumers = []
            for u in users:
                if self.find(u) not in consumers:
                    consumers.append(self.find(u))
            if all(self._can_take(h, cone, v) for h in consumers):
                for h in consumers:
                    self._copy_into(h, cone, v)

    def _cone(self, op, inside):
        """The ops of the group ``op``'s value is computed from, in order."""
        cone, stack = set(), [op]
        while stack:
            o = stack.pop()
            if o in cone:
                continue
            cone.add(o)
            stack.extend(v.owner for v in o.operands if v.owner in inside)
        return sorted(cone, key=self.pos.get)

    def _can_take(self, h, cone, v):
        group = self.members[h]
        if len(group) + len(cone) > self.max_ops:
            return False
        space = broadcast_dims(*[self.space(op) for op in group])
        if any(_statically_smaller(self.sym.dims(op.results[0]), space) for op in cone):
            return False
        read = {id(x) for op in group for x in op.operands}
        cone_set = set(cone)
        new_inputs = {id(x): x for op in cone for x in op.operands
                      if x.owner not in cone_set and id(x) not in read}
        big = [x for x in new_inputs.values() if not _statically_smaller(self.sym.dims(x), space)]
        return len(big) <= 1

    def _copy_into(self, h, cone, v):
        """Clone ``cone`` before the first op of group ``h`` that uses ``v``
        and make ``h`` use the clone of ``v``."""
        group = self.members[h]
        first = min((u for u, _ in v.uses if u in group), key=self.pos.get)
        mapping = {}
        clones = []
        for op in cone:
            clone = op.clone(mapping)
            self.block.insert_before(first, clone)
            clones.append(clone)
        base = self.pos[first]
        for k, clone in enumerate(clones):
            self.pos[clone] = base - 1 + (k + 1) / (len(clones) + 1)
            self.leader[clone] = h
        group.extend(clones)
        for user, i in list(v.uses):
            if user in group and user not in clones:
                user.set_operand(i, mapping[v])

    def _drop_dead(self):
        """Erase group ops that nothing uses any more (recomputed elsewhere)."""
        for leader in list(self.members):
            group = self.members[leader]
            for op in sorted(group, key=self.pos.get, reverse=True):
                if all(not r.uses for r in op.results):
                    group.remove(op)
                    del self.leader[op]
                    self.block.remove(op)
            if not group:
                del self.members[leader]
                del self.rank[leader]
            elif leader not in group:
                self.members[group[0]] = self.members.pop(leader)
                self.rank[group[0]] = self.rank.pop(leader)
                for op in group:
                    self.leader[op] = group[0]

    def merge(self, a, b):
        if len(self.members[a]) + len(self.members[b]) > self.max_ops:
            return False
        group = self.members[a] + self.members[b]
        merged_space = producer_of = None
        space_a, simple_a = self._space_info(a)
        space_b, simple_b = self._space_info(b)
        if simple_a and simple_b and space_a == space_b:
            merged_space = space_a                  # the merged group keeps it (no reduction)
            # Two legal groups of one iteration space without reductions: every
            # per-op condition of ``legal`` still holds (an exposed op stays at
            # the space, an internal one is not smaller), only convexity is new.
            producer_of = self._lone_producer(a, b)
            if producer_of is None and not self.convex(set(group)):
                return False
        elif not self.legal(group):
            return False
        keep, gone = (a, b) if len(self.members[a]) >= len(self.members[b]) else (b, a)
        for op in self.members[gone]:
            self.leader[op] = keep
        self.members[keep] = group
        del self.members[gone]
        if merged_space is not None:
            self._spaces[keep] = (len(group), merged_space, True)
        if producer_of is not None:
            # every use of the lone producer is in the consumer group: the
            # consumer's rank stays a topological place for both (edges into
            # the producer come from below it, out of it only into the group)
            place = self.rank[producer_of]
            del self.rank[a], self.rank[b]
            self.rank[keep] = place
        else:
            self._contract((a, b), keep)
        return True

    def _lone_producer(self, a, b):
        """The group of ``a``/``b`` that the other is a lone op feeding only
        it (every use of that op is in the group), else None. Absorbing such
        an op keeps a convex group convex: a path leaving the union and
        coming back would leave the group and come back into it (through
        the op, whose uses are all in the group)."""
        for lone, group in ((b, a), (a, b)):
            ops = self.members[lone]
            if len(ops) == 1:
                uses = [u for r in ops[0].results for u, _ in r.uses]
                if uses and all(self.leader.get(u) is group for u in uses):
                    return group
        return None

    def _space_info(self, leader):
        """(the iteration space of a group, whether it has no reduction),
        cached while its size is unchanged (groups change only by growing
        or shrinking)."""
        members = self.members[leader]
        cached = self._spaces.get(leader)
        if cached is None or cached[0] != len(members):
            if len(members) == 1:       # most groups start as one op: its space as it is
                op = members[0]
                cached = (1, tuple(self.space(op)), not _is_reduction(op))
            else:
                space = broadcast_dims(*[self.space(op) for op in members])
                cached = (len(members), space, not any(_is_reduction(op) for op in members))
            self._spaces[leader] = cached
        return cached[1], cached[2]

    def _node(self, op):
        """The node of the contracted graph ``op`` belongs to."""
        return self.leader.get(op, op)

    def _node_ops(self, node):
        return self.members.get(node) or [node]

    def _contract(self, nodes, new):
        """Rank the group ``new``, just merged from ``nodes``, keeping ranks a
        topological order (Pearce and Kelly's reordering, for a contraction):
        between the lowest and the highest of the merged ranks, the nodes
        that reach the group move down, below it, the nodes it reaches move
        up, above it; they share the ranks they had with the merged ones.
        The two sets are disjoint because the merge was convex."""
        ranks = [self.rank.pop(n) for n in nodes]
        lo, hi = min(ranks), max(ranks)
        group = self.members[new]
        after = self._reach(group, True, lambda r: r < hi)
        before = self._reach(group, False, lambda r: r > lo)
        pool = sorted(ranks + [self.rank[n] for n in after] + [self.rank[n] for n in before])
        order = sorted(before, key=self.rank.get) + [new] + sorted(after, key=self.rank.get)
        for node, r in zip(order, pool):
            self.rank[node] = r

    def _reach(self, group, forward, within):
        """The nodes (other than ``group``'s) reachable from ``group`` along
        uses (``forward``) or operands, through nodes whose rank satisfies
        ``within``."""
        inside = set(group)
        found = {}
        stack = list(group)
        while stack:
            op = stack.pop()
            if forward:
                nexts = [u for r in op.results for u, _ in r.uses]
            else:
                nexts = [v.owner for v in op.operands if v.owner is not None]
            for n in nexts:
                if n in inside:
                    continue
                node = self._node(n)
                r = self.rank.get(node)
                if node in found or r is None or not within(r):
                    continue
                found[node] = None
                stack.extend(self._node_ops(node))
        return list(found)

    # legality
    def legal(self, group):
        """(``merge`` has checked the size against ``max_ops``.)"""
        inside = set(group)
        if len({(op.attrs["axes"], op.attrs["keepdims"]) for op in group if _is_reduction(op)}) > 1:
            return False
        for op in group:
            for v in op.operands:
                if v.owner in inside and _is_reduction(v.owner):
                    return False
        space = broadcast_dims(*[self.space(op) for op in group])
        for op in group:
            if _is_reduction(op):
                if self.sym.dims(op.operands[0]) != space:
                    return False
                continue
            dims = self.sym.dims(op.results[0])
            exposed = any(user not in inside for r in op.results for user, _ in r.uses)
            if exposed and dims != space:
                return False
            if not exposed and _statically_smaller(dims, space):
                return False
        return self.convex(inside)

    def space(self, op):
        return self.sym.dims(op.operands[0] if _is_reduction(op) else op.results[0])

    def convex(self, inside):
        """No path leaves the group and comes back into it, counting every
        other group as one node (so merges never make groups depend on each
        other in a cycle). ``inside`` is a union of whole groups; a path
        back into it only passes nodes ranked below its highest node, so
        the search stops at that rank: a merge costs the ops between its
        groups, not the rest of the graph."""
        hi = max(self.rank[self._node(op)] for op in inside)
        stack = [user for op in inside for r in op.results for user, _ in r.uses if user not in inside]
        seen = set()
        while stack:
            op = stack.pop()
            if op in inside:
                return False
            node = self._node(op)
            if node in seen:
                continue
            seen.add(node)
            r = self.rank.get(node)
            if r is None or r >= hi:
                continue
            stack.extend(user for n in self._node_ops(node) for res in n.results for user, _ in res.uses)
        return True


def _statically_smaller(dims, space):
    """``dims`` broadcasts to ``space`` along an axis the types show."""
    if len(dims) < len(space):
        return True
    return any(d == 1 and s != 1 for d, s in zip(dims, space))


# --- rewriting ----------------------------------------------------------------------------
def _is_scalar_constant(v):
    return v.owner is not None and v.owner.name == "constant" and v.type.ndim == 0


def _emit(block, stages, schedule, position, replaced):
    """Replace the ops of ``stages`` (groups, each in block order) by one
    fused op with a region per stage, placed where the last of them was
    (``position``: op -> its index in the block, for ordering). The
    replaced ops are added to the list ``replaced`` for the caller to
    remove all at once (``Block.remove_all``)."""
    members = sorted((op for g in stages for op in g), key=position)
    inside = set(members)
    operands = []
    for op in members:
        for v in op.operands:
            if v.owner not in inside and not _is_scalar_constant(v) and v not in operands:
                operands.append(v)
    regions, results, kinds, reduce_attrs = [], [], [], {}
    earlier = []            # reduced values of the stages so far
    for group in stages:
        region = Block()
        mapping = {v: _add_arg(region, _scalar_type(v.type.dtype)) for v in operands + earlier}
        yielded = []
        for op in group:
            if _is_reduction(op):
                yielded.append(op.operands[0])
                results.append(op.results[0])
                kinds.append(op.name)
                reduce_attrs = {"axes": op.attrs["axes"], "keepdims": op.attrs["keepdims"]}
                continue
            ins = [_region_value(region, mapping, v) for v in op.operands]
            clone = Operation(op.opdef, ins, op.attrs,
                              result_types=[_scalar_type(r.type.dtype) for r in op.results])
            clone.loc = op.loc          # the user's line, for error messages (ir/location.py)
            region.append(clone)
            for r, c in zip(op.results, clone.results):
                mapping[r] = c
                if any(user not in inside for user, _ in r.uses):
                    yielded.append(r)
                    results.append(r)
                    kinds.append(None)
        region.append(Operation(OPS["yield"], [_region_value(region, mapping, v) for v in yielded]))
        regions.append(region)
        earlier += [op.results[0] for op in group if _is_reduction(op)]
    attrs = dict(reduce_attrs, reduce=tuple(kinds)) if reduce_attrs else {}
    fused = Operation(OPS["fused"], operands, attrs, result_types=[r.type for r in results],
                      regions=regions, result_names=[r.name for r in results])
    fused.attrs.update(schedule(fused))
    block.insert_before(members[-1], fused)
    for old, new in zip(results, fused.results):
        old.replace_all_uses_with(new)
    replaced.extend(members)
    return fused


_SCALAR_TYPES = {}      # dtype -> its 0-d TensorType (immutable: one per dtype)


def _scalar_type(dtype):
    t = _SCALAR_TYPES.get(dtype)
    if t is None:
        t = _SCALAR_TYPES[dtype] = TensorType(dtype, ())
    return t


def _region_value(region, mapping, v):
    """``v`` inside ``region``: mapped, or a copy of a 0-d constant."""
    if v not in mapping:
        clone = v.owner.clone()
        region.append(clone)
        mapping[v] = clone.results[0]
    return mapping[v]


def _add_arg(block, ttype):
    arg = Value(ttype, None, len(block.args))
    block.args.append(arg)
    return arg


def _reorder(block):
    """Topological order of the body, stable: an op moves only when a value
    it uses is now defined after it."""
    ops = list(block.ops)
    index = {op: i for i, op in enumerate(ops)}
    waiting = {op: 0 for op in ops}
    users = {op: [] for op in ops}
    for op in ops:
        for v in set(op.operands):
            if v.owner in index:
                waiting[op] += 1
                users[v.owner].append(op)
    ready = [index[op] for op in ops if waiting[op] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        op = ops[heapq.heappop(ready)]
        order.append(op)
        for user in users[op]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, index[user])
    if len(order) != len(ops):
        raise RuntimeError("fuse-elementwise: the fused body has a cycle")
    block.ops[:] = order
