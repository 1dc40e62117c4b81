"""The GPU plan's steps for the control-flow ops ``ifelse`` and ``scan``
(``ir/ops/control.py``): their bodies are planned once, with the same plan
builder as a function (``Plan.of_block``: kernels for fused elementwise
work, reductions, matrix products...; host steps for the rest), and run
on a child RunState whose block arguments are bound to device tensors.

    ScanStep      a loop of kernel launches. Before it, on the host:
                  ``n_steps`` (read back) and every sequence's and initial
                  state's rows are checked with the CPU's error codes
                  (SCAN_NEGATIVE_STEPS, SCAN_SHORT_INPUT), and each
                  output's device buffer for all the steps is allocated
                  once (an output without taps whose row shape is not
                  static: at step 0, when its row shape is known). Per step
                  the block arguments are views -- rows of the sequences at
                  ``t + tap - lo`` (reversed with ``go_backwards``), rows of
                  earlier outputs or of the initial states, the
                  non-sequences as they are: pointer offsets, no copies --
                  the body's sub-plan runs (its kernels launched), and each
                  yielded row is checked (SCAN_STEP_SHAPE) and copied into
                  row ``t`` of its output by a copy kernel. ``until`` reads
                  the condition back after each step; the results are then
                  the first rows of the buffers.
    IfElseStep    the condition read back, then only the chosen region's
                  sub-plan runs; its yielded tensors are the results.
    HostRegionStep  the fallback, only where a body cannot be planned
                  (an op with no GPU lowering, e.g. a sort: the plan
                  builder refuses it): the operands are read back, the
                  op's NumPy reference (the interpreter) runs, the results
                  are uploaded.

Errors inside a body are reported with the index of the region op, as
on the CPU.
"""
import numpy as np

from .. import errors as codes
from ...ir.ops.control import RowDims, ScanLayout, body_dims, seq_window
from .maps import copy_kernels
from .shapes import PlanError
from .state import RunState
from .steps import Step


class HostRegionStep(Step):
    kind = "host-region"

    def run(self, state):
        op = self.op
        outs = op.opdef.reference(op, *[state.host_value(v) for v in op.operands])
        for r, a in zip(op.results, outs):
            a = np.asarray(a, dtype=r.type.np_dtype)
            state.host[r] = a
            state.env[r] = state.upload(a)


def region_step(index, op, prefix):
    """The step of a scan or ifelse: kernels per body, or, where a body
    cannot be planned (NotImplementedError from the builder), the host."""
    cls = ScanStep if op.name == "scan" else IfElseStep
    try:
        return cls(index, op, prefix)
    except NotImplementedError:
        return HostRegionStep(index, op, prefix)


def _bind(sub, arg, state, v, upload=False):
    """Block argument ``arg`` of a body (on ``sub``) gets outer value ``v``:
    its device tensor (uploaded once on ``state`` when ``upload``) and host value."""
    if upload or v in state.env:
        sub.env[arg] = state.tensor(v)
    if v in state.host:
        sub.host[arg] = state.host[v]


def _row(t, i):
    """Row ``i`` of device tensor ``t``: a view."""
    return t.view(i * t.strides[0], t.shape[1:], t.strides[1:])


def _run_body(step, plan, sub):
    from .plan import run_plan
    try:
        run_plan(plan, sub)
    except PlanError as e:
        e.op_index = step.index         # errors inside a body: the region op's index
        raise


class _RegionStep(Step):
    def kernels(self):
        specs = [spec for plan in self.bodies for spec in plan.kernels.values()]
        for region in self.op.regions:      # a block argument read back may be a strided view
            for a in region.args:
                specs += copy_kernels(a.type.dtype, a.type.ndim)
        return specs

    def describe(self, names):
        d = super().describe(names)
        d["bodies"] = [[s.describe(names) for s in plan.steps] for plan in self.bodies]
        return d


class ScanStep(_RegionStep):
    kind = "loop"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        from .plan import Plan
        self.lay = ScanLayout(op)
        self.bodies = [Plan.of_block(op.regions[0], f"{prefix}_body", f"the body of scan op #{index}")]

    def _check(self, state, n, seqs, inits):
        lay = self.lay
        if n < 0:
            raise PlanError(codes.SCAN_NEGATIVE_STEPS, [n], op_index=self.index)
        for i, (x, taps) in enumerate(zip(seqs, lay.seq_taps)):
            lo, hi = seq_window(taps)
            if x.shape[0] < n + hi - lo:
                raise PlanError(codes.SCAN_SHORT_INPUT, [1 + i, x.shape[0], n + hi - lo], op_index=self.index)
        for j, s in inits.items():
            if s.shape[0] < lay.depth(j):
                raise PlanError(codes.SCAN_SHORT_INPUT, [lay.first_init + lay.recurrent.index(j), s.shape[0],
                                                         lay.depth(j)], op_index=self.index)

    def _zero_step_row(self, state, j):
        """Row dims of output ``j`` when no step ran: the body's shape rules
        (unknown dims 0), as the reference and the CPU."""
        lay = self.lay
        args = [state.shape(x)[1:] for x, taps in zip(lay.seqs, lay.seq_taps) for _ in taps]
        args += [state.shape(lay.inits[i])[1:] for i in lay.recurrent for _ in lay.out_taps[i]]
        guess = body_dims(self.op.regions[0], args + [state.shape(w) for w in lay.nonseqs], RowDims({}))
        return tuple(d if d is not None else 0 for d in guess[j])

    def run(self, state):
        op, lay, plan = self.op, self.lay, self.bodies[0]
        block = op.regions[0]
        n = int(state.host_value(lay.n_steps))
        seqs = [state.tensor(x) for x in lay.seqs]
        inits = {j: state.tensor(s) for j, s in lay.inits.items()}
        self._check(state, n, seqs, inits)
        backwards = op.attrs.get("go_backwards", False)
        host_seqs = [state.host.get(x) for x in lay.seqs]
        outs = []
        for j, r in enumerate(op.results):
            row = inits[j].shape[1:] if j in inits else r.type.shape[1:]
            # an until loop's rows grow geometrically (n may be INT64_MAX: a while loop)
            outs.append(state.alloc(r.type.dtype, (min(n, 16) if lay.until else n,) + tuple(row))
                        if None not in row else None)
        n_tap_args = len(block.args) - len(lay.nonseqs)
        ys = block.ops[-1].operands
        steps = n
        for t in range(n):
            sub = RunState(state.loaded, state.device)
            args = iter(block.args)
            for x, hx, taps in zip(seqs, host_seqs, lay.seq_taps):
                lo, _ = seq_window(taps)
                for k in taps:
                    i = t + k - lo
                    if backwards:
                        i = x.shape[0] - 1 - i
                    arg = next(args)
                    sub.env[arg] = _row(x, i)
                    if hx is not None:
                        sub.host[arg] = hx[i]
            for j in lay.recurrent:
                d = lay.depth(j)
                for k in lay.out_taps[j]:
                    sub.env[next(args)] = _row(outs[j], t + k) if t + k >= 0 else _row(inits[j], d + t + k)
            for arg, w in zip(block.args[n_tap_args:], lay.nonseqs):
                _bind(sub, arg, state, w, upload=True)
            _run_body(self, plan, sub)
            for j in range(lay.n_outs):
                y = sub.tensor(ys[j])
                if outs[j] is None:
                    outs[j] = state.alloc(op.results[j].type.dtype, (min(n, 16) if lay.until else n,) + y.shape)
                if t == outs[j].shape[0]:
                    outs[j] = _grown(state, outs[j], t, n)
                want = outs[j].shape[1:]
                for axis, (got, size) in enumerate(zip(y.shape, want)):
                    if got != size:
                        raise PlanError(codes.SCAN_STEP_SHAPE, [j, axis, got, size], op_index=self.index)
                state.copy(y, _row(outs[j], t))
            if lay.until and bool(sub.host_value(ys[-1])):
                steps = t + 1
                break
        for j, r in enumerate(op.results):
            full = outs[j]
            if full is None:
                full = state.alloc(r.type.dtype, (0,) + self._zero_step_row(state, j))
            keep = min(lay.last_rows[j], steps) if lay.last_rows[j] else steps     # last_rows: the last rows
            if keep == full.shape[0] == steps:
                state.env[r] = full
            else:
                state.env[r] = full.view((steps - keep) * full.strides[0], (keep,) + full.shape[1:])


def _grown(state, full, t, n):
    """``full`` (``t`` rows written) moved to a buffer twice as long (at
    most ``n`` rows)."""
    new = state.alloc(full.dtype, (min(max(2 * full.shape[0], 16), n),) + full.shape[1:])
    if t:
        rows = (t,) + full.shape[1:]
        state.copy(full.view(0, rows), new.view(0, rows))
    return new


class IfElseStep(_RegionStep):
    kind = "branch"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        from .plan import Plan
        self.bodies = [Plan.of_block(op.regions[k], f"{prefix}_{('then', 'else')[k]}",
                                     f"the {('then', 'else')[k]} branch of ifelse op #{index}") for k in (0, 1)]

    def run(self, state):
        op = self.op
        k = 0 if bool(state.host_value(op.operands[0])) else 1
        block = op.regions[k]
        sub = RunState(state.loaded, state.device)
        for arg, v in zip(block.args, op.opdef.region_operands(op, k)):
            _bind(sub, arg, state, v)
        _run_body(self, self.bodies[k], sub)
        for r, y in zip(op.results, block.ops[-1].operands):
            if y in sub.env:
                state.env[r] = sub.env[y]
            if y in sub.host:
                state.host[r] = np.asarray(sub.host[y], dtype=r.type.np_dtype)
            if r not in state.env and r not in state.host:
                state.env[r] = sub.tensor(y)
