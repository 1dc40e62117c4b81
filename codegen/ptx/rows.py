"""Row kernels: a multi-stage ``fused`` op (``ir/ops/fused.py``) reducing
over the last axis only -- softmax, the max/sum normalizer of log-softmax
and of softmax cross-entropy -- in ONE kernel, a block per row.

    NAME(in0.., out_j.. (elementwise results), red_j.. (reduced results),
         M (rows), C (columns), kd0..kd{nd-2} (kept dims),
         per input k: ks{k}_0..ks{k}_{nd-2} (kept strides), cs{k} (column stride))

The block of a row runs the op's stages one after the other; each stage is
one sweep of the block's threads over the row's columns (thread t takes
columns t, t + ntid, ..), evaluating the stage's region on the operand
elements and the earlier stages' row values; its reduced results are
combined over the block with warp shuffles (``KernelBuilder.block_reduce``)
and every thread gets them for the next stage; its elementwise results are
stored. Reduced results are stored by thread 0.

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

from ...ir.ops.fused import iteration_shape, reduce_kinds, stage_results
from ..llvm_util import LLTYPE
from ..scalar import SCALAR, ScalarCtx
from . import shapes as sh
from .kernel import KernelSpec, i64
from .maps import MapProgram
from .reduce import _Acc, reduce_spec
from .steps import FusedStep, Step


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


def row_params(op, nd):
    n_in = len(op.operands)
    kinds = reduce_kinds(op)
    params = [(f"in{k}", v.type.dtype) for k, v in enumerate(op.operands)]
    params += [(f"out{j}", r.type.dtype) for j, r in enumerate(op.results) if kinds[j] is None]
    params += [(f"red{j}", r.type.dtype) for j, r in enumerate(op.results) if kinds[j] is not None]
    params += [("M", "i64"), ("C", "i64")] + [(f"kd{d}", "i64") for d in range(nd - 1)]
    for k in range(n_in):
        params += [(f"ks{k}_{d}", "i64") for d in range(nd - 1)] + [(f"cs{k}", "i64")]
    return params


def _emit(op, nd):
    n_in = len(op.operands)
    kinds = reduce_kinds(op)
    stages = stage_results(op)
    progs = [MapProgram.of_ops(r.args, r.ops[:-1], r.ops[-1].operands) for r in op.regions]
    pairs = {s: online_pair(op, s, n_in) for s in range(len(op.regions))}

    def emit(kb, schedule):
        p = kb.p
        width = schedule.block
        with kb.block_stride(p["M"], "row") as row:
            idx = kb.decompose(row, [p[f"kd{d}"] for d in range(nd - 1)])
            bases = [kb.offset(idx, [p[f"ks{k}_{d}"] for d in range(nd - 1)]) for k in range(n_in)]
            row_vals = []           # the reduced results so far (result dtype), in result order
            s = 0
            while s < len(op.regions):
                pair = pairs.get(s)
                if pair is not None:
                    row_vals += _online_sweep(kb, op, progs[s], pair, bases, row_vals, stages[s][0],
                                              stages[s + 1][0], row, width)
                    s += 2
                    continue
                row_vals += _sweep(kb, op, kinds, progs[s], stages[s], bases, row_vals, row, width)
                s += 1
    return emit


def _load_operands(kb, bases, col, n_in):
    b, p = kb.b, kb.p
    return [b.load(b.gep(p[f"in{k}"], [b.add(bases[k], b.mul(col, p[f"cs{k}"]))]), name=f"v{k}")
            for k in range(n_in)]


def _store_row_value(kb, name, row, value):
    b = kb.b
    with kb.if_(b.icmp_unsigned("==", kb.sreg("tid"), i64(0))):
        b.store(value, b.gep(kb.p[name], [row]))


def _sweep(kb, op, kinds, prog, results, bases, row_vals, row, width):
    """One stage: its elementwise results stored, its reductions combined
    over the block; returns the reductions' row values (result dtype)."""
    b, p = kb.b, kb.p
    n_in = len(op.operands)
    specs = {j: reduce_spec(kinds[j], op.results[j].type.dtype) for j in results if kinds[j] is not None}
    accs = {j: _Acc(kb, spec, f"acc{j}") for j, spec in specs.items()}
    for acc in accs.values():
        acc.reset()
    with kb.loop(kb.sreg("tid"), p["C"], kb.sreg("ntid"), "col") as col:
        vals = prog.evaluate(kb, _load_operands(kb, bases, col, n_in) + list(row_vals))
        for j, v in zip(results, vals):
            if kinds[j] is None:
                out = b.gep(p[f"out{j}"], [b.add(b.mul(row, p["C"]), col)])
                b.store(v, out)
            else:
                spec = specs[j]
                accs[j].add(b.fpext(v, spec.acc_type) if spec.acc_dtype != spec.dtype else v)
    got = []
    for j, spec in specs.items():
        (v,) = kb.block_reduce((accs[j].load()[0],), lambda a, c, spec=spec: (spec.combine(kb, a[0], c[0]),),
                               (spec.identity(),), width)
        v = spec.finish(kb, v)
        _store_row_value(kb, f"red{j}", row, v)
        got.append(v)
    return got


def _online_sweep(kb, op, prog, pair, bases, row_vals, jmax, jsum, row, width):
    """Stages max(t) and sum(exp(t - max)) in one sweep (module docstring)."""
    b, p = kb.b, kb.p
    n_in = len(op.operands)
    dtype = op.results[jmax].type.dtype
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
        total = b.fadd(rescale(s, m, mn), rescale(s2, m2, mn))
        return mn, total

    m_slot, s_slot = kb.slot(ty, "om"), kb.slot(aty, "os")
    b.store(ninf, m_slot)
    b.store(lir.Constant(aty, 0.0), s_slot)
    with kb.loop(kb.sreg("tid"), p["C"], kb.sreg("ntid"), "col") as col:
        (t,) = prog.evaluate(kb, _load_operands(kb, bases, col, n_in) + list(row_vals))
        m = b.load(m_slot)
        mn = mspec.combine(kb, m, t)
        term = expm(t, mn)
        term = b.select(b.fcmp_ordered("==", mn, ninf), lir.Constant(ty, 0.0), term)
        b.store(b.fadd(rescale(b.load(s_slot), m, mn), ext(term)), s_slot)
        b.store(mn, m_slot)
    m, s = kb.block_reduce((b.load(m_slot), b.load(s_slot)), lambda a, c: step(a[0], a[1], c[0], c[1]),
                           (ninf, lir.Constant(aty, 0.0)), width)
    # every term of a row whose max is -inf is exp(-inf - -inf) = NaN
    all_ninf = b.and_(b.fcmp_ordered("==", m, ninf), b.icmp_signed(">", p["C"], i64(0)))
    s = b.select(all_ninf, lir.Constant(aty, float("nan")), s)
    s = sspec.finish(kb, s)
    _store_row_value(kb, f"red{jmax}", row, m)
    _store_row_value(kb, f"red{jsum}", row, s)
    return [m, s]


def row_kernel(name, op):
    nd = len(iteration_shape(op))
    return KernelSpec(name, row_params(op, nd), _emit(op, nd), f"row stages of fused {op.attrs.get('reduce')}",
                      barriers=True)


class RowFusedStep(Step):
    """A multi-stage fused op over rows (``accepts``): one row kernel."""
    kind = "fused-rows"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        self.name = f"{prefix}_rows"
        self.kinds = reduce_kinds(op)

    def kernels(self):
        return [row_kernel(self.name, self.op)]

    def run(self, state):
        op = self.op
        ins = [state.tensor(v) for v in op.operands]
        space = sh.broadcast([t.shape for t in ins])
        axes, keep = tuple(op.attrs["axes"]), op.attrs["keepdims"]
        outs, reds = [], []
        for j, r in enumerate(op.results):
            if self.kinds[j] is None:
                t = state.alloc(r.type.dtype, space)
                outs.append(t)
            else:
                if self.kinds[j] in ("max", "min"):
                    sh.check_nonempty(space, axes)
                t = state.alloc(r.type.dtype, sh.reduced_shape(space, axes, keep))
                reds.append(t)
            state.env[r] = t
        M = sh.numel(space[:-1])
        C = space[-1]
        if M == 0:
            return
        strides = [sh.broadcast_strides(t.shape, t.strides, space, k) for k, t in enumerate(ins)]
        args = [t.ptr for t in ins] + [t.ptr for t in outs] + [t.ptr for t in reds] + [M, C, *space[:-1]]
        for st in strides:
            args += [*st[:-1], st[-1]]
        block = state.schedule.block
        state.launch(self.name, (M, 1, 1), (block, 1, 1), args)

    def describe(self, names):
        d = super().describe(names)
        d["reduce"] = list(self.kinds)
        d["launches"] = [{"kernel": self.name, "block": "[block, 1, 1]", "grid": "[min(rows, max_grid), 1, 1]",
                          "what": "a block per row runs every stage (max then sum of exp(x - max) in one "
                                  "online sweep); results C-contiguous",
                          "args": "inputs, elementwise results, reduced results, rows, columns, kept dims, "
                                  "per input its kept strides and column stride"}]
        return d


def fused_step(index, op, prefix):
    """The step of a fused op: a row kernel when ``accepts`` it, else one
    kernel per result kind (``steps.FusedStep``, single-stage)."""
    return RowFusedStep(index, op, prefix) if accepts(op) else FusedStep(index, op, prefix)
