"""region-reuse: a region body uses the value its enclosing block already
computed instead of computing it again.

``theon.ifelse.ifelse`` moves into its branches every op only they need,
so that only the taken branch runs; when the program also uses such a value
outside (a loss's branch reads a scan whose rows are an output too), the
branch computes it a second time. Regions are isolated from above, so CSE
cannot see this. This pass can: for an op with regions that declares how
values reach its regions (``region_operands(op, k)``: the operand each
block argument receives unchanged, or None; ``with_region_operands(op, k,
values)``: a copy that passes more values in -- ``ifelse``, ``scan``), an
op of region ``k`` equal to an op of the enclosing block before the region
op (the same op, attributes and result types, on operands that are the same
outer values; an op with regions also needs equal regions) is replaced by
a new block argument receiving the outer result. The region's ops that only
fed it are removed. Constants stay in the region (codegen wants them there).
"""
from .cse import mergeable, op_key
from .dce import sweep_block
from .manager import BlockPass


def same_block(a, b):
    """Blocks ``a`` and ``b`` compute the same: argument types, then op by
    op the same op, attributes, result types and operands (matched by
    position), regions recursively."""
    if [x.type for x in a.args] != [y.type for y in b.args] or len(a.ops) != len(b.ops):
        return False
    env = {id(x): y for x, y in zip(a.args, b.args)}
    for p, q in zip(a.ops, b.ops):
        if len(p.operands) != len(q.operands) or len(p.regions) != len(q.regions):
            return False
        if any(env.get(id(u)) is not v for u, v in zip(p.operands, q.operands)):
            return False
        if op_key(p, ()) != op_key(q, ()):
            return False
        if not all(same_block(r, s) for r, s in zip(p.regions, q.regions)):
            return False
        env.update((id(u), v) for u, v in zip(p.results, q.results))
    return True


def reuse_block(block):
    """Apply the pass to the region ops of ``block``, then inside them."""
    if not any(op.regions for op in block.ops):
        return              # no region to reuse values in (the usual body: no keys to build)
    known = {}              # key -> outer op (no regions), for ops seen so far
    with_regions = []       # outer ops with regions seen so far
    for op in list(block.ops):
        if op.regions and hasattr(op.opdef, "with_region_operands"):
            op = _reuse_in(op, block, known, with_regions)
        for region in op.regions:
            reuse_block(region)
        if not mergeable(op):
            continue
        if op.regions:
            with_regions.append(op)
        else:
            known.setdefault(op_key(op), op)


def _outer_match(inner, outer_operands, known, with_regions):
    """The outer op equal to ``inner`` (its operands mapped to the outer
    values ``outer_operands``), or None."""
    if not inner.regions:
        return known.get(op_key(inner, outer_operands))
    for cand in with_regions:
        if cand.opdef is inner.opdef and len(cand.operands) == len(outer_operands) and \
                all(c is o for c, o in zip(cand.operands, outer_operands)) and \
                op_key(cand, ()) == op_key(inner, ()) and len(cand.regions) == len(inner.regions) and \
                all(same_block(r, s) for r, s in zip(inner.regions, cand.regions)):
            return cand
    return None


def _reuse_in(op, block, known, with_regions):
    """``op``, or its replacement passing reused outer values into its regions."""
    for k in range(len(op.regions)):
        region = op.regions[k]
        outer = {id(a): v for a, v in zip(region.args, op.opdef.region_operands(op, k)) if v is not None}
        matched = {}            # inner op -> outer op
        for inner in region.ops[:-1]:
            if not mergeable(inner):
                continue
            mapped = [outer.get(id(v)) for v in inner.operands]
            if any(m is None for m in mapped):
                continue
            found = _outer_match(inner, mapped, known, with_regions)
            if found is None:
                continue
            if inner.name != "constant":     # an equal constant only lets its users match
                matched[inner] = found
            outer.update((id(r), s) for r, s in zip(inner.results, found.results))
        # pass in the results of matched ops that an unmatched op (or the terminator) uses
        take = []
        for inner, found in matched.items():
            for r, s in zip(inner.results, found.results):
                if any(user not in matched for user, _ in r.uses):
                    take.append((r, s))
        if not take:
            continue
        new, args = op.opdef.with_region_operands(op, k, [s for _, s in take])
        block.insert_before(op, new)
        for old, res in zip(op.results, new.results):
            old.replace_all_uses_with(res)
        block.remove(op)
        for (r, _), a in zip(take, args):
            r.replace_all_uses_with(a)
        sweep_block(new.regions[k])
        op = new
    return op


class RegionReuse(BlockPass):
    name = "region-reuse"
    rewrite = staticmethod(reuse_block)
