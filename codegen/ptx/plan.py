"""The launch plan of an IR Function on the GPU, top to bottom:

    host values   which small values the host needs as sizes or indices
                  (dynamic operands of reshape/alloc/subtensor/...), and
                  which of those it can compute itself from input values,
                  shapes and constants (shape arithmetic; the rest is read
                  back from the device when needed)
    fusion        elementwise ops whose result is used only by other
                  elementwise ops of one group join that group: one kernel
                  per group, intermediates never stored
    steps         one step per remaining op, in IR order (``LOWERINGS``:
                  op name -> step class); each lists its kernels. scan and
                  ifelse steps hold plans of their bodies (``Plan.of_block``,
                  ``control_step.py``), whose kernels join the function's

``Plan.kernels`` is every kernel the steps launch (names unique per
function), ``Plan.describe()`` the launch description of ``aot-compile
--target cuda``. Running a plan is ``run_plan`` on a RunState.
"""
from ...ir.dialect import ops_where
from ...ir.printer import _Namer
from ..scalar import LoweringTable
from .maps import copy_kernels
from .control_step import HostRegionStep, region_step
from .print_step import PrintStep
from .random_step import RandomStep
from . import conv_step, pool_step, rows, unsupported_step
from .gemm_step import GemmStep, gemm_epilogues
from .indexing_step import AdvIndexStep, GatherStep
from .steps import (AllocStep, ArangeStep, ConcatenateStep, ConstantStep, HostStep, MapStep, ReduceStep, SetSubtensorStep, ViewStep, checks_exponent)

HOST_MAX_ELEMENTS = 64          # host-evaluated values have at most this many elements
MAX_GROUP_OPS = 48              # elementwise ops per fused kernel at most


LOWERINGS = LoweringTable(MapStep)     # every elementwise op with a scalar emitter (SCALAR)
LOWERINGS.update({
    "dimshuffle": ViewStep, "reshape": ViewStep, "subtensor": ViewStep, "stop_gradient": ViewStep,
    "grad_override": ViewStep,
    "shape": HostStep, "constant": ConstantStep, "alloc": AllocStep,
    "set_subtensor": SetSubtensorStep, "inc_subtensor": SetSubtensorStep,
    "concatenate": ConcatenateStep, "arange": ArangeStep,
    "sum": ReduceStep, "prod": ReduceStep, "max": ReduceStep, "min": ReduceStep,
    "argmax": ReduceStep, "argmin": ReduceStep, "sum_to": ReduceStep,
    "matmul": GemmStep, "fused": rows.fused_step,       # row stages: one kernel (rows.py)
    "print": PrintStep,
    "ifelse": region_step, "scan": region_step,       # sub-plans of their bodies (HostRegionStep if not)
    "random_uniform": RandomStep, "random_normal": RandomStep, "random_permutation": RandomStep,
    "check_probabilities": HostRegionStep, "random_choice": HostRegionStep,   # on the host (their references)
    "adv_subtensor": GatherStep, "adv_set_subtensor": AdvIndexStep, "adv_inc_subtensor": AdvIndexStep,
    "nonzero": AdvIndexStep,
})
LOWERINGS.update(pool_step.LOWERINGS)          # pool pool_grad
LOWERINGS.update(conv_step.LOWERINGS)          # conv conv_grad_input conv_grad_weight
LOWERINGS.update(unsupported_step.LOWERINGS)   # sorting, extra_ops: a compile-time error for now
NOT_LOWERED = ops_where(lambda d: d.num_results == 0)   # return, yield: the plan's end / part of fused


# --- host values ---------------------------------------------------------------------------------
def host_needed(block):
    """Values whose value (not only shape) the host needs: the operands
    result shapes depend on (``OpDef.value_operands``: sizes, indices)."""
    needed = []
    for op in block.ops:
        needed.extend(v for v in op.opdef.value_operands(op) if v not in needed)
    return needed


def _small(v):
    shape = v.type.shape
    if None in shape:
        return False
    n = 1
    for d in shape:
        n *= d
    return n <= HOST_MAX_ELEMENTS


def host_evaluated(block, shared=frozenset()):
    """Ops of ``block`` the host evaluates itself: those computing a needed
    value from argument values (not ``shared`` ones), shapes and constants
    through small values only."""
    memo = {}

    def computable(v):
        if v in memo:
            return memo[v]
        op = v.owner
        if op is None:
            ok = v not in shared
        elif op.opdef.value_from_shapes or not op.operands:     # shape, constant
            ok = True
        else:
            fused_small = op.name == "fused" and all(_small(o) for o in op.operands)    # shape arithmetic
            ok = op.name != "return" and (not op.regions or fused_small) and \
                all(_small(r) for r in op.results) and \
                all(computable(o) for o in op.operands)
        memo[v] = ok
        return ok

    ops = set()

    def mark(v):
        op = v.owner
        if op is None or op in ops or op.name == "constant":     # constants give both anyway
            return
        ops.add(op)
        if not op.opdef.value_from_shapes:
            for o in op.operands:
                mark(o)

    for v in host_needed(block):
        if computable(v):
            mark(v)
    return ops


# --- fusion -------------------------------------------------------------------------------------------
def group_elementwise(ops, excluded):
    """{root op: [ops of its group, in order]}: an elementwise op joins the
    group of its users when all of them are in one group (and it is not
    the exponent of a checked integer pow, which the host checks first)."""
    group_of, size = {}, {}
    for op in reversed(ops):
        if op in excluded or LOWERINGS.get(op.name) is not MapStep:
            continue
        uses = [(u, k) for r in op.results for u, k in r.uses]
        roots = {group_of.get(u) for u, _ in uses}
        exponent = any(k == 1 and checks_exponent(u) for u, k in uses)
        if len(roots) == 1 and None not in roots and not exponent and size[next(iter(roots))] < MAX_GROUP_OPS:
            root = roots.pop()
        else:
            root = op
        group_of[op] = root
        size[root] = size.get(root, 0) + 1
    groups = {}
    for op in ops:
        root = group_of.get(op)
        if root is not None:
            groups.setdefault(root, []).append(op)
    return groups, group_of


# --- the plan ------------------------------------------------------------------------------------------
def single_stage(func):
    """``func`` itself, or, when it holds multi-stage fused ops (one region
    per stage), a copy where ``split-fused-stages`` made them single-stage:
    a GPU fused kernel runs one region."""
    def split(op):      # row stages run in one kernel (rows.py); others one kernel per stage
        return op.name == "fused" and len(op.regions) > 1 and not rows.accepts(op)
    if not any(split(op) for op in func.walk()):     # bodies too
        return func
    from ...passes.fusion import split_stages
    copy = func.clone()
    for op in [op for op in copy.walk() if split(op)]:
        split_stages(op.parent, op)
    return copy


def _tf32_allowed(allow_tf32):
    """``allow_tf32``, or theon.config.gpu_allow_tf32 when None (read when
    the plan is built: the GPU function's compile time)."""
    if allow_tf32 is None:
        from ...config import config
        allow_tf32 = config.gpu_allow_tf32
    return bool(allow_tf32)


class Plan:
    def __init__(self, func, allow_tf32=None):
        """``allow_tf32``: float32 matrix products may use TF32 tensor cores
        (None: ``theon.config.gpu_allow_tf32``)."""
        from ...passes.legalize_f16 import legalized     # float16 arithmetic -> float32
        self.allow_tf32 = _tf32_allowed(allow_tf32)
        func = single_stage(legalized(func, "gpu"))
        self.func = func
        body = func.body.ops
        if not body or body[-1].name != "return":
            raise ValueError(f"GPU plan: function @{func.name} has no return")
        shared = {a for a, attrs in zip(func.args, func.arg_attrs) if "shared" in attrs}
        self.build(func.body, host_evaluated(func.body, shared), f"theon_{func.name}", f"@{func.name}")

    @classmethod
    def of_block(cls, block, prefix, where, allow_tf32=None):
        """The plan of a region body (``control_step.py``): ``func`` is None;
        whoever runs it binds the block arguments first."""
        plan = cls.__new__(cls)
        plan.func = None
        plan.allow_tf32 = _tf32_allowed(allow_tf32)
        plan.build(block, host_evaluated(block), prefix, where)
        return plan

    def build(self, block, host_ops, prefix, where):
        """``steps`` and ``kernels`` of ``block``'s ops (all but its
        terminator); kernel names start with ``prefix``; ``where`` names
        the block in errors. Also builds the sub-plans of loop bodies
        (``loop_step.py``)."""
        body = block.ops
        ops = body[:-1]
        index = {op: k for k, op in enumerate(body)}
        self.host_ops = host_ops
        groups, group_of = group_elementwise(ops, self.host_ops)
        # a matmul feeding one elementwise group: the group is its epilogue,
        # one step where the group's root stands (gemm_step.py)
        epilogues = gemm_epilogues([o for o in ops if o not in self.host_ops], group_of, groups)
        at_root = {root: mm for mm, (root, _) in epilogues.items() if root not in self.host_ops}
        self.steps = []
        row_of = rows.row_groups(ops, self.host_ops)      # softmax & co: one kernel per group
        for op in ops:
            k = index[op]
            prefix_k = f"{prefix}_{k}"
            if op in row_of:
                step = rows.group_step(op, row_of[op], index, prefix)
                if step is not None:
                    self.steps.append(step)
                continue
            if op in self.host_ops:
                self.steps.append(HostStep(k, op, prefix_k))
            elif op in at_root:
                mm = at_root[op]
                self.steps.append(GemmStep(index[mm], mm, f"{prefix}_{index[mm]}", tf32=self.allow_tf32,
                                           epilogue=epilogues[mm], op_indices=index))
            elif op.name == "matmul":
                if at_root.get(epilogues.get(op, (None,))[0]) is not op:      # else: at its epilogue
                    self.steps.append(GemmStep(k, op, prefix_k, tf32=self.allow_tf32))
            elif op in group_of:
                if group_of[op] is op:
                    step = MapStep(k, groups[op], prefix_k)
                    step.op_indices = {o: index[o] for o in groups[op]}
                    self.steps.append(step)
            else:
                cls = LOWERINGS.get(op.name)
                if cls is None:
                    raise NotImplementedError(f"PTX codegen: no lowering for op {op.name!r} "
                                              f"(op #{k} of {where})")
                self.steps.append(cls(k, op, prefix_k))
        named = {}
        for step in self.steps:
            if isinstance(step, MapStep):
                step.name = named.setdefault(step.signature(), step.name)
        self.kernels = {}
        for step in self.steps:
            for spec in step.kernels():
                self.kernels.setdefault(spec.name, spec)
        # results and read-back sizes may be views: copies make them C-contiguous
        for v in list(body[-1].operands) + host_needed(block):
            for spec in copy_kernels(v.type.dtype, v.type.ndim):
                self.kernels.setdefault(spec.name, spec)

    def describe(self, schedule, sm=None, ptx_file=None):
        """The launch description: JSON-ready (see docs in ``aot.py``)."""
        func = self.func
        names = _Namer(func)
        shared = [attrs.get("shared") for attrs in func.arg_attrs]
        ret = func.return_op
        n_out = func.num_outputs
        return {
            "format": "theon-launch/1",
            "function": func.name,
            "sm": sm,
            "ptx": ptx_file,
            "schedule": {k: getattr(schedule, k) for k in schedule.__dataclass_fields__},
            "notes": [
                "Every kernel parameter is 64 bits: a device address or an int64, in the listed order.",
                "Strides are in elements. Shapes, strides and checks are computed on the host before "
                "each launch, following the step's op (NumPy semantics).",
                "Every kernel loops with grid strides: any grid size >= 1 computes the whole result; "
                "the block size must be the one given.",
                "Device buffers are never written after their step, so views may share them.",
            ],
            "arguments": [{"name": names[a], "type": str(a.type), "shared": s}
                          for a, s in zip(func.args, shared)],
            "results": [{"value": names[v], "type": str(v.type),
                         "role": "output" if j < n_out else f"update of {shared[ret.attrs['updates'][j - n_out]]}"}
                        for j, v in enumerate(ret.operands)],
            "kernels": {name: {"params": [[p, "ptr " + kind if kind != "i64" else "i64"] for p, kind in spec.params],
                               "what": spec.doc}
                        for name, spec in self.kernels.items()},
            "steps": [step.describe(names) for step in self.steps],
        }


def run_plan(plan, state, on_step=None):
    """Run every step of ``plan`` on ``state``; a PlanError gets the index
    of its op. ``on_step(step)`` is called after each step (profiling)."""
    from .shapes import PlanError
    for step in plan.steps:
        try:
            step.run(state)
        except PlanError as e:
            if e.op_index is None:
                e.op_index = step.index
            raise
        if on_step is not None:
            on_step(step)
