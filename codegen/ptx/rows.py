"""Row kernels: a multi-stage ``fused`` op (``ir/ops/fused.py``) reducing
over the last axis only -- softmax, the max/sum normalizer of log-softmax
and of softmax cross-entropy -- with the fused ops after it that work on
its rows (a *row group*: log(sum), x - max - log(sum), the picked
log-probability of cross-entropy, its negation) in ONE kernel, a block
per row.

    NAME(in0.. (every input of the group), res0.. (every result),
         M (rows), C (columns), kd0..kd{nd-2} (kept dims),
         per input k: ks{k}_0..ks{k}_{nd-2} (kept strides), cs{k} (column stride))

The block of a row runs the stages one after the other; each stage is one
sweep of the block's threads over the row's columns (thread t takes
columns t, t + ntid, ..), evaluating the stage's region on the input
elements and the row values computed so far; its reduced results are
combined over the block with warp shuffles (``KernelBuilder.block_reduce``)
and every thread gets them for the next stage; its elementwise results are
stored. A member whose operands are row values only (log of a row sum) is
scalar code, no sweep. Row values are stored by thread 0.

Members (``row_groups``): later single-stage fused ops whose operands are
the group's row values (keepdims form) and outside tensors, over the
group's iteration space (checked at run time: else the members run as
their own steps), reducing over the last axis if at all; or
ops on row values only. A group's step stands at its last member; no
other op before it may use the group's results.

Online softmax: a stage that only takes the max of a term t, followed by a
stage that only sums exp(t - max) (t recomputed the same way), run as ONE
sweep keeping a running max m and a running sum rescaled by exp(m_old -
m_new) whenever the max grows. So softmax reads its row twice and writes
it once (the first sweep the normalizer, the second the result); a row of
-inf only (the max -inf) sums to NaN, as exp(-inf - -inf) does.

The host launches min(M, max_grid) blocks of ``Schedule.block`` threads
(blocks stride over rows); results are deterministic (fixed combination
order, no atomics).
"""
import llvmlite.ir as lir

from ...ir.core import Block, Operation
from ...ir.dialect import OPS
from ...ir.ops.fused import REDUCERS, iteration_shape, reduce_kinds, stage_results
from ..llvm_util import LLTYPE
from ..scalar import SCALAR, ScalarCtx
from . import shapes as sh
from .kernel import KernelSpec, i64
from .maps import MapProgram
from .reduce import _Acc, reduce_spec
from .steps import FusedStep, Step, ViewStep


def accepts(op):
    """True for a multi-stage fused op whose reductions are over its last
    axis only, keeping the others (rows), with a static rank >= 1."""
    if op.name != "fused" or len(op.regions) < 2:
        return False
    nd = len(iteration_shape(op))
    axes = tuple(op.attrs.get("axes", ()))
    return nd >= 1 and axes == (nd - 1,) and any(k is not None for k in reduce_kinds(op))


def _arg_index(block, v):
    for k, a in enumerate(block.args):
        if a is v:
            return k
    return None


def _arg_key(block, v, memo):
    """Like ``_key`` with block arguments named by index (regions compare)."""
    if v in memo:
        return memo[v]
    k = _arg_index(block, v)
    if k is not None:
        memo[v] = ("arg", k)
        return memo[v]
    op = v.owner
    if op.name == "constant":
        key = ("const", str(op.results[0].type), op.attrs["value"].tobytes())
    else:
        key = (op.name, str(v.type), tuple(sorted((a, repr(x)) for a, x in op.attrs.items())),
               tuple(_arg_key(block, o, memo) for o in op.operands))
    memo[v] = key
    return key


class OnlinePair:
    """Stages s (max of t) and s+1 (sum of exp(t - max)) fused in one sweep."""

    def __init__(self, exp_op, sub_op):
        self.exp_op, self.sub_op = exp_op, sub_op


def online_pair(op, s, n_in):
    """An OnlinePair if stages s and s+1 of ``op`` are max(t), sum(exp(t - max))."""
    kinds = reduce_kinds(op)
    stages = stage_results(op)
    if s + 1 >= len(op.regions) or len(stages[s]) != 1 or len(stages[s + 1]) != 1:
        return None
    if kinds[stages[s][0]] != "max" or kinds[stages[s + 1][0]] != "sum":
        return None
    r0, r1 = op.regions[s], op.regions[s + 1]
    (t0,) = r0.ops[-1].operands
    (y,) = r1.ops[-1].operands
    e = y.owner
    if e is None or e.name != "exp":
        return None
    d = e.operands[0].owner
    if d is None or d.name != "sub":
        return None
    a, m = d.operands
    # the max's row value is stage s+1's argument after the operands and the earlier reductions
    n_red_before = sum(1 for j in range(stages[s][0]) if kinds[j] is not None)
    if _arg_index(r1, m) != n_in + n_red_before:
        return None
    if _arg_key(r0, t0, {}) != _arg_key(r1, a, {}):
        return None
    if str(t0.type) != str(y.type):
        return None
    return OnlinePair(e, d)


MAX_SCAN = 24           # ops after a row op looked at for members
LONG_ROW_BLOCKS = 64    # rows longer than this many blocks of threads ...
NARROW_ROW = 256        # rows this short: a warp per row (NAME_w)
WARP = 32               # the device's warp, for the grid of NAME_w (any grid is correct)


class Member:
    """One op of a row group: ``kind`` "stages" (the row op itself),
    "sweep" (a single-stage fused op over the space) or "scalar" (a fused
    op on row values only)."""

    def __init__(self, op, kind):
        self.op, self.kind = op, kind


class RowGroup:
    def __init__(self, op):
        self.head = op
        self.nd = len(iteration_shape(op))
        self.members = [Member(op, "stages")]
        self.row_values = {r for j, r in enumerate(op.results) if reduce_kinds(op)[j] is not None}
        self.elem_values = {r for j, r in enumerate(op.results) if reduce_kinds(op)[j] is None}

    @property
    def ops(self):
        return [m.op for m in self.members]

    def results(self):
        return [r for m in self.members for r in m.op.results]

    def inputs(self):
        """Outside values read per element (in order of first use)."""
        made = set(self.results())
        out = []
        for m in self.members:
            if m.kind == "scalar":
                continue
            for v in m.op.operands:
                if v not in made and v not in out:
                    out.append(v)
        return out

    def uses_results(self, op):
        made = set(self.results())
        return any(v in made for v in op.operands)

    def absorb(self, op):
        """Add ``op`` if it can be a member (module docstring); True if added."""
        if op.name != "fused" or len(op.regions) != 1:
            return False
        kinds = reduce_kinds(op)
        nd = len(iteration_shape(op))
        if any(v in self.elem_values for v in op.operands):
            return False
        if all(v in self.row_values for v in op.operands):
            if any(k is not None for k in kinds) or len({v.type.ndim for v in op.operands}) != 1:
                return False
            self.members.append(Member(op, "scalar"))
            self.row_values.update(op.results)
            return True
        if nd != self.nd or any(v.type.ndim > nd for v in op.operands):
            return False
        for v in op.operands:
            if v in self.row_values and (v.type.ndim != nd or v.type.shape[-1] != 1):
                return False
        if any(k is not None for k in kinds) and tuple(op.attrs.get("axes", ())) != (nd - 1,):
            return False
        self.members.append(Member(op, "sweep"))
        for j, r in enumerate(op.results):
            (self.elem_values if kinds[j] is None else self.row_values).add(r)
        return True


def row_groups(ops, host_ops=()):
    """{op: RowGroup} for every op of a row group (a row op alone too)."""
    member_of = {}
    for pos, op in enumerate(ops):
        if op in member_of or op in host_ops or not accepts(op):
            continue
        group = RowGroup(op)
        for later in ops[pos + 1: pos + 1 + MAX_SCAN]:
            if later in member_of or later in host_ops or not group.uses_results(later):
                if later in host_ops and group.uses_results(later):
                    break
                continue
            if not group.absorb(later):
                break           # a user before the group's end: the group stops here
        for o in group.ops:
            member_of[o] = group
    return member_of


def row_params(group):
    nd = group.nd
    ins = group.inputs()
    params = [(f"in{k}", v.type.dtype) for k, v in enumerate(ins)]
    params += [(f"res{j}", r.type.dtype) for j, r in enumerate(group.results())]
    params += [("M", "i64"), ("C", "i64")] + [(f"kd{d}", "i64") for d in range(nd - 1)]
    for k in range(len(ins)):
        params += [(f"ks{k}_{d}", "i64") for d in range(nd - 1)] + [(f"cs{k}", "i64")]
    return params


class _Row:
    """Per-row state of the kernel: input bases, row values, result slots,
    and who works on the row: the whole block (``per_warp`` False) or one
    warp (``valid``: the warp's row exists; a warp past the last row
    computes row M-1 again and stores nothing, so every thread of the block
    runs the same shuffles)."""

    def __init__(self, kb, group, row, width, per_warp=False, valid=None):
        self.kb, self.group, self.row = kb, group, row
        nd = group.nd
        p = kb.p
        self.width, self.per_warp, self.valid = width, per_warp, valid
        if per_warp:
            self.lane = kb.lane()[0]
            self.first, self.step = self.lane, i64(kb.warp)
        else:
            self.lane = kb.sreg("tid")
            self.first, self.step = self.lane, kb.sreg("ntid")
        self.ins = {v: k for k, v in enumerate(group.inputs())}
        self.res = {r: j for j, r in enumerate(group.results())}
        idx = kb.decompose(row, [p[f"kd{d}"] for d in range(nd - 1)])
        self.bases = [kb.offset(idx, [p[f"ks{k}_{d}"] for d in range(nd - 1)]) for k in range(len(self.ins))]
        self.vals = {}          # row value (IR) -> LLVM value

    def columns(self):
        """The loop over this thread's columns of the row."""
        return self.kb.loop(self.first, self.kb.p["C"], self.step, "col")

    def reduce(self, values, combine, identity):
        """``combine`` of the row's threads' values (every thread gets it)."""
        if self.per_warp:
            return self.kb.warp_reduce(values, combine)
        return self.kb.block_reduce(values, combine, identity, self.width)

    def element(self, v, col):
        """Operand ``v`` at column ``col`` of this row."""
        if v in self.vals:
            return self.vals[v]
        b, p = self.kb.b, self.kb.p
        k = self.ins[v]
        return b.load(b.gep(p[f"in{k}"], [b.add(self.bases[k], b.mul(col, p[f"cs{k}"]))]), name=f"v{k}")

    def _guard(self, cond):
        return cond if self.valid is None else self.kb.b.and_(cond, self.valid)

    def store_element(self, r, col, value):
        b, p = self.kb.b, self.kb.p
        at = b.gep(p[f"res{self.res[r]}"], [b.add(b.mul(self.row, p["C"]), col)])
        if self.valid is None:
            b.store(value, at)
            return
        with self.kb.if_(self.valid):
            b.store(value, at)

    def set_row_value(self, r, value):
        self.vals[r] = value
        b = self.kb.b
        with self.kb.if_(self._guard(b.icmp_unsigned("==", self.lane, i64(0)))):
            b.store(value, b.gep(self.kb.p[f"res{self.res[r]}"], [self.row]))


def _emit(group):
    head = group.head
    n_head = len(head.operands)
    kinds = reduce_kinds(head)
    stages = stage_results(head)
    progs = [MapProgram.of_ops(r.args, r.ops[:-1], r.ops[-1].operands) for r in head.regions]
    pairs = {s: online_pair(head, s, n_head) for s in range(len(head.regions))}

    def emit_per_warp(kb, schedule):
        b, p = kb.b, kb.p
        warp = kb.lane()[1]
        per_block = b.lshr(kb.sreg("ntid"), i64(kb.warp.bit_length() - 1), name="warps")
        blocks = b.udiv(b.add(p["M"], b.sub(per_block, i64(1))), per_block)
        with kb.block_stride(blocks, "rows") as rb:
            row = b.add(b.mul(rb, per_block), warp)
            valid = b.icmp_signed("<", row, p["M"])
            row = b.select(valid, row, b.sub(p["M"], i64(1)))
            body(kb, _Row(kb, group, row, schedule.block, True, valid))

    def emit(kb, schedule):
        with kb.block_stride(kb.p["M"], "row") as row:
            body(kb, _Row(kb, group, row, schedule.block))

    def body(kb, st):
        reduced = []        # the head's reduced results so far, in result order
        s = 0
        while s < len(head.regions):
            pair = pairs.get(s)
            args = lambda col: [st.element(v, col) for v in head.operands] + [st.vals[r] for r in reduced]  # noqa: E731
            if pair is not None:
                jm, js = stages[s][0], stages[s + 1][0]
                m, total = _online_sweep(kb, st, progs[s], pair, args, head.results[jm].type.dtype)
                st.set_row_value(head.results[jm], m)
                st.set_row_value(head.results[js], total)
                reduced += [head.results[jm], head.results[js]]
                s += 2
                continue
            res = [head.results[j] for j in stages[s]]
            _sweep(kb, st, progs[s], res, [kinds[j] for j in stages[s]], args)
            reduced += [r for j, r in zip(stages[s], res) if kinds[j] is not None]
            s += 1
        for m in group.members[1:]:
            op = m.op
            block = op.regions[0]
            prog = MapProgram.of_ops(block.args, block.ops[:-1], block.ops[-1].operands)
            if m.kind == "scalar":
                for r, v in zip(op.results, prog.evaluate(kb, [st.vals[v] for v in op.operands])):
                    st.set_row_value(r, v)
            else:
                _sweep(kb, st, prog, list(op.results), list(reduce_kinds(op)),
                       lambda col, op=op: [st.element(v, col) for v in op.operands])
    return emit, emit_per_warp


def _sweep(kb, st, prog, results, kinds, args):
    """One sweep over the row: elementwise results stored, reductions
    combined over the block (row values of ``st``)."""
    b = kb.b
    specs = {r: reduce_spec(k, r.type.dtype) for r, k in zip(results, kinds) if k is not None}
    accs = {r: _Acc(kb, spec, "acc") for r, spec in specs.items()}
    for acc in accs.values():
        acc.reset()
    with st.columns() as col:
        vals = prog.evaluate(kb, args(col))
        for r, v in zip(results, vals):
            if r not in specs:
                st.store_element(r, col, v)
            else:
                spec = specs[r]
                accs[r].add(b.fpext(v, spec.acc_type) if spec.acc_dtype != spec.dtype else v)
    for r, spec in specs.items():
        (v,) = st.reduce((accs[r].load()[0],), lambda a, c, spec=spec: (spec.combine(kb, a[0], c[0]),),
                         (spec.identity(),))
        st.set_row_value(r, spec.finish(kb, v))


def _online_sweep(kb, st, prog, pair, args, dtype):
    """Stages max(t) and sum(exp(t - max)) in one sweep (module docstring):
    (max, sum) row values."""
    b, p = kb.b, kb.p
    mspec, sspec = reduce_spec("max", dtype), reduce_spec("sum", dtype)
    ty, aty = LLTYPE[dtype], sspec.acc_type
    exp_ctx = ScalarCtx(kb, pair.exp_op, dtype, dtype)
    sub_ctx = ScalarCtx(kb, pair.sub_op, dtype, dtype)
    ninf = mspec.identity()

    def expm(x, m):         # exp(x - m) with the region's own emitters
        return SCALAR["exp"](exp_ctx, [SCALAR["sub"](sub_ctx, [x, m])])

    def ext(v):
        return b.fpext(v, aty) if aty != ty else v

    def rescale(s, m_old, m_new):
        """s * exp(m_old - m_new), s itself when the max did not move (also at -inf)."""
        return b.select(b.fcmp_ordered("==", m_old, m_new), s, b.fmul(s, ext(expm(m_old, m_new))))

    def step(m, s, m2, s2):
        """(max, rescaled sum) of two partial (max, sum) pairs; a sum at a
        max of -inf is 0 (its terms wait for a finite max)."""
        mn = mspec.combine(kb, m, m2)
        return mn, b.fadd(rescale(s, m, mn), rescale(s2, m2, mn))

    m_slot, s_slot = kb.slot(ty, "om"), kb.slot(aty, "os")
    b.store(ninf, m_slot)
    b.store(lir.Constant(aty, 0.0), s_slot)
    with st.columns() as col:
        (t,) = prog.evaluate(kb, args(col))
        m = b.load(m_slot)
        mn = mspec.combine(kb, m, t)
        term = b.select(b.fcmp_ordered("==", mn, ninf), lir.Constant(ty, 0.0), expm(t, mn))
        b.store(b.fadd(rescale(b.load(s_slot), m, mn), ext(term)), s_slot)
        b.store(mn, m_slot)
    m, s = st.reduce((b.load(m_slot), b.load(s_slot)), lambda a, c: step(a[0], a[1], c[0], c[1]),
                     (ninf, lir.Constant(aty, 0.0)))
    # every term of a row whose max is -inf is exp(-inf - -inf) = NaN
    all_ninf = b.and_(b.fcmp_ordered("==", m, ninf), b.icmp_signed(">", p["C"], i64(0)))
    s = b.select(all_ninf, lir.Constant(aty, float("nan")), s)
    return m, sspec.finish(kb, s)


def row_kernels(name, group):
    """NAME (a block per row) and NAME_w (a warp per row: narrow rows)."""
    what = " ; ".join(f"{m.kind} {m.op.attrs.get('reduce')}" for m in group.members)
    per_block, per_warp = _emit(group)
    return [KernelSpec(name, row_params(group), per_block, f"row group: {what}", barriers=True),
            KernelSpec(name + "_w", row_params(group), per_warp, f"row group, a warp per row: {what}",
                       barriers=True)]


class SplitHead:
    """The row op split into one fused op per stage (``split_stages``) in a
    block of its own, whose arguments stand for the op's operands: the
    steps of the one-kernel-per-stage path, for few very long rows (a
    block per row would leave most of the device idle)."""

    def __init__(self, op, index, prefix):
        self.op = op
        self.block = Block([v.type for v in op.operands])
        mapping = dict(zip(op.operands, self.block.args))
        copy = self.block.append(op.clone(mapping))
        end = self.block.append(Operation(OPS["yield"], list(copy.results)))
        from ...passes.fusion import split_stages
        split_stages(self.block, copy)
        self.finals = list(end.operands)
        self.steps = []
        for j, o in enumerate(self.block.ops[:-1]):
            cls = FusedStep if o.name == "fused" else ViewStep
            self.steps.append(cls(index, o, f"{prefix}_s{j}"))

    def kernels(self):
        return [spec for step in self.steps for spec in step.kernels()]

    def run(self, state):
        for a, v in zip(self.block.args, self.op.operands):
            state.env[a] = state.tensor(v)
        for step in self.steps:
            step.run(state)
        for r, v in zip(self.op.results, self.finals):
            state.env[r] = state.env[v]


def _needs_terms(kinds):
    """Some reduction of ``kinds`` has no identity (an empty row is an error)."""
    return any(k is not None and REDUCERS[k].identity is None for k in kinds)


def long_rows(schedule, M, C):
    """Few rows, each longer than LONG_ROW_BLOCKS blocks: split stages."""
    return M < schedule.sm_count and C > LONG_ROW_BLOCKS * schedule.block


class RowFusedStep(Step):
    """A row group (``row_groups``): one row kernel, at its last member.
    The members run as their own steps when a member's iteration space is
    not the group's at run time; the head as one kernel per stage
    (``SplitHead``) for few very long rows (``long_rows``)."""
    kind = "fused-rows"

    def __init__(self, index, group, prefix, op_indices=None):
        super().__init__(index, group.members[-1].op, prefix)
        self.group = group
        self.name = f"{prefix}_rows"
        self.head_kinds = reduce_kinds(group.head)
        idx = op_indices or {}
        self.split_head = SplitHead(group.head, idx.get(group.head, index), f"{prefix}_long")
        self.members = [FusedStep(idx.get(m.op, index), m.op, f"{prefix}_m{j}")
                        for j, m in enumerate(group.members[1:])]
        self.head_rows = RowFusedStep(idx.get(group.head, index), RowGroup(group.head), f"{prefix}_h", idx) \
            if self.members else None

    def kernels(self):
        specs = row_kernels(self.name, self.group) + self.split_head.kernels()
        for step in self.members + ([self.head_rows] if self.head_rows else []):
            specs += step.kernels()
        return specs

    def _fallback(self, state, split):
        """The members as their own steps; the head split into stages or
        as a row kernel alone."""
        head = self.split_head if split or self.head_rows is None else self.head_rows
        for step in [head] + self.members:
            step.run(state)

    def _space(self, state, op, shapes):
        return sh.broadcast([shapes[v] if v in shapes else state.shape(v) for v in op.operands])

    def run(self, state):
        group = self.group
        shapes = {}
        head = group.head
        try:
            space = self._space(state, head, shapes)
            axes, keep = (len(space) - 1,), head.attrs.get("keepdims", False)
            if _needs_terms(self.head_kinds):
                sh.check_nonempty(space, axes)
            for j, r in enumerate(head.results):
                shapes[r] = space if self.head_kinds[j] is None else sh.reduced_shape(space, axes, keep)
            for m in group.members[1:]:
                op = m.op
                here = self._space(state, op, shapes)
                if m.kind == "sweep" and here != space:
                    raise sh.PlanError(0)       # not the group's space: the members' own steps
                kinds = reduce_kinds(op)
                if _needs_terms(kinds):
                    sh.check_nonempty(here, axes)
                for j, r in enumerate(op.results):
                    shapes[r] = here if kinds[j] is None else \
                        sh.reduced_shape(here, axes, op.attrs.get("keepdims", False))
        except sh.PlanError:
            if not self.members:
                raise
            self._fallback(state, False)
            return
        M, C = sh.numel(space[:-1]), space[-1]
        if long_rows(state.schedule, M, C):
            self._fallback(state, True)
            return
        results = group.results()
        outs = [state.alloc(r.type.dtype, shapes[r]) for r in results]
        for r, t in zip(results, outs):
            state.env[r] = t
        if M == 0:
            return
        ins = [state.tensor(v) for v in group.inputs()]
        args = [t.ptr for t in ins] + [t.ptr for t in outs] + [M, C, *space[:-1]]
        for t in ins:
            st = sh.broadcast_strides(t.shape, t.strides, space)
            args += [*st[:-1], st[-1]]
        block = state.schedule.block
        if C <= NARROW_ROW:
            state.launch(self.name + "_w", (-(-M // (block // WARP)), 1, 1), (block, 1, 1), args)
        else:
            state.launch(self.name, (M, 1, 1), (block, 1, 1), args)

    def describe(self, names):
        d = super().describe(names)
        d["members"] = [{"kind": m.kind, "results": [names[r] for r in m.op.results],
                         "reduce": list(reduce_kinds(m.op))} for m in self.group.members]
        d["launches"] = [{"kernel": self.name, "block": "[block, 1, 1]", "grid": "[min(rows, max_grid), 1, 1]",
                          "what": "a block per row runs every member (max then sum of exp(x - max) in one "
                                  "online sweep); results C-contiguous; when a member's iteration space is "
                                  "not the group's, the members' own kernels instead",
                          "args": "inputs, results, rows, columns, kept dims, per input its kept strides "
                                  "and column stride"}]
        return d


def fused_step(index, op, prefix):
    """The step of a fused op outside row groups: a row kernel when
    ``accepts`` it, else one kernel per result kind (``steps.FusedStep``)."""
    return RowFusedStep(index, RowGroup(op), prefix) if accepts(op) else FusedStep(index, op, prefix)


def group_step(op, group, index, prefix):
    """The plan's step for ``op`` of row group ``group``: the group's step
    at its last member, None at the others (``index``: op -> position)."""
    if op is not group.members[-1].op:
        return None
    k = index[op]
    return RowFusedStep(k, group, f"{prefix}_{k}", index)
