"""The steps of a launch plan: what the host does for each op.

A step knows its kernels (``kernels()``: KernelSpecs), runs on a RunState
(``run``: shapes and checks on the host, allocation, launches) and
describes itself for the launch description (``describe``). One class per
kind of op; ``plan.py`` maps op names to them (``LOWERINGS``).
"""
import numpy as np

from ...ir.ops.fused import REDUCERS, iteration_shape, reduce_kinds
from .. import errors as codes
from . import shapes as sh
from .maps import MapProgram, arange_kernel, copy_kernel_name, copy_kernels, map_kernels
from .reduce import final_dtype, is_arg, reduce_kernels, reduce_spec, splits as reduce_splits

THREAD_REDUCE_MAX_TERMS = 16       # reductions this short: a thread per output
THREAD_REDUCE_MIN_OUTPUTS = 2048   # ... and with this many outputs, up to BLOCK_REDUCE_MIN_TERMS terms
BLOCK_REDUCE_MIN_TERMS = 512


class Step:
    kind = "step"

    def __init__(self, index, op, prefix):
        self.index = index          # of the op in func.body.ops (errors, profiles)
        self.op = op
        self.prefix = prefix        # kernel name prefix of this step

    def kernels(self):
        return []

    def run(self, state):
        raise NotImplementedError

    def describe(self, names):
        return {"op": self.index, "name": self.op.name, "kind": self.kind,
                "operands": [names[v] for v in self.op.operands],
                "results": [names[v] for v in self.op.results]}


def _map_launch(kernel, what):
    return {"kernel": kernel + "_c | " + kernel + "_s", "block": "[block, 1, 1]",
            "grid": "[min(ceil(numel(out) / block), max_grid), 1, 1]",
            "variant": "_c when out is C-contiguous and every input is C-contiguous with out's shape "
                       "or one broadcast element (s_k = 1 or 0); else _s with out's dims and each "
                       "operand's strides (0 along broadcast dims)",
            "what": what}


# --- host-only steps ----------------------------------------------------------------------------
class HostStep(Step):
    """A small value needed on the host as a size or index (shape
    arithmetic): shapes come from the host's records, constants from the
    IR, anything else from the op's NumPy reference on host values."""
    kind = "host"

    def run(self, state):
        op, r = self.op, self.op.results[0]
        if op.name == "shape":
            state.host[r] = np.array(state.shape(op.operands[0]), dtype=np.int64)
        elif op.name == "constant":
            state.host[r] = op.attrs["value"]
        else:
            outs = op.opdef.reference(op, *[state.host_value(v) for v in op.operands])
            for res, a in zip(op.results, outs):
                state.host[res] = np.asarray(a, dtype=res.type.np_dtype)


class ConstantStep(Step):
    """Uploaded once per loaded program, then shared by every call."""
    kind = "constant"

    def run(self, state):
        r = self.op.results[0]
        state.host[r] = self.op.attrs["value"]
        state.env[r] = state.loaded.constant(self.op, lambda: state.upload(self.op.attrs["value"]))


class ViewStep(Step):
    """dimshuffle, subtensor, stop_gradient, and reshape of a C-contiguous
    tensor: a new shape/strides over the same memory, no kernel."""
    kind = "view"

    def kernels(self):
        if self.op.name == "reshape":
            x = self.op.operands[0]
            return copy_kernels(x.type.dtype, x.type.ndim)
        return []

    def run(self, state):
        op = self.op
        x = state.tensor(op.operands[0])
        if op.name == "dimshuffle":
            shape, strides = sh.dimshuffle(x.shape, x.strides, op.attrs["pattern"])
            out = x.view(0, shape, strides)
        elif op.name == "subtensor":
            off, shape, strides = sh.index_view(x.shape, x.strides, op.attrs["idx"],
                                                state.dyn_ints(op.operands[1:]))
            out = x.view(off, shape, strides)
        elif op.name == "reshape":
            dims = sh.reshape(x.shape, sh.resolve(op.attrs["shape"], state.dyn_ints(op.operands[1:])))
            out = state.contiguous(x).view(0, dims, sh.c_strides(dims))
        else:                       # stop_gradient, grad_override: operand 0
            out = x
        state.env[op.results[0]] = out

    def describe(self, names):
        d = super().describe(names)
        if self.op.name == "reshape":
            d["launches"] = [_map_launch(copy_kernel_name(self.op.operands[0].type.dtype,
                                                          self.op.operands[0].type.ndim),
                                         "only when the operand is not C-contiguous: copy it first")]
        return d


# --- elementwise ------------------------------------------------------------------------------------
def checks_exponent(op):
    """A signed integer ``pow``: its exponents are checked before its group
    runs (INT_NEGATIVE_POWER, as the CPU lowering and NumPy). The plan keeps
    the exponent out of the pow's group, so it is a stored device tensor."""
    return op.name == "pow" and op.operands[1].type.np_dtype.kind == "i"


def _min_kernel_name(t):
    return f"theon_min_{t.dtype}_{t.ndim}d"      # ReduceStep's name: equal reductions share kernels


class MapStep(Step):
    """A group of elementwise ops fused into one kernel: ``ops`` in order,
    the last is the root whose result is written; the others' results are
    used only inside the group and never stored. A signed integer pow's
    exponent (an input of the group) is reduced to its minimum on the device
    first; the host reads that one element back and fails with
    INT_NEGATIVE_POWER when it is negative."""
    kind = "elementwise"

    def __init__(self, index, ops, prefix):
        super().__init__(index, ops[-1], prefix)
        self.ops = list(ops)
        inside = {r for o in self.ops for r in o.results}
        self.inputs = []
        for o in self.ops:
            for v in o.operands:
                if v not in inside and v not in self.inputs:
                    self.inputs.append(v)
        self.program = MapProgram.of_ops(self.inputs, self.ops, [self.op.results[0]])
        self.name = f"{prefix}_{self.op.name}"      # the plan may share an equal group's kernels
        self.op_indices = {}        # op -> index, set by the plan
        self.exponents = [(o, o.operands[1]) for o in self.ops if checks_exponent(o)]

    def signature(self):
        """What the kernels compute: equal signatures, equal kernels."""
        return (self.program.key(), self.op.results[0].type.ndim)

    def kernels(self):
        specs = map_kernels(self.name, self.program, self.op.results[0].type.ndim)
        for _, v in self.exponents:
            if v.type.ndim:
                specs += reduce_kernels(_min_kernel_name(v.type), "min", MapProgram.copy(v.type.dtype), v.type.ndim)
        return specs

    def _check_exponents(self, state):
        for o, v in self.exponents:
            if v in state.host or v.type.ndim == 0:
                low = state.host_value(v)
            else:
                t = state.tensor(v)
                if t.numel == 0:
                    continue
                low = state.alloc(t.dtype, ())
                run_reduction(state, _min_kernel_name(v.type), reduce_spec("min", t.dtype), t.ndim, t.shape,
                              [(t, t.strides)], tuple(range(t.ndim)), low)
                low = state.download(low)
            if low.size and low.min() < 0:
                raise sh.PlanError(codes.INT_NEGATIVE_POWER, op_index=self.op_indices.get(o, self.index))

    def run(self, state):
        shapes = {}
        for o in self.ops:
            ins = [shapes[v] if v in shapes else state.shape(v) for v in o.operands]
            try:
                shapes[o.results[0]] = sh.broadcast(ins)
            except sh.PlanError as e:
                e.op_index = self.op_indices.get(o, self.index)
                raise
        self._check_exponents(state)
        root = self.op.results[0]
        out = state.alloc(root.type.dtype, shapes[root])
        state.env[root] = out
        if out.numel == 0:
            return
        inputs = []
        for v in self.inputs:
            t = state.tensor(v)
            inputs.append((t, sh.broadcast_strides(t.shape, t.strides, out.shape)))
        state.launch_map(self.name, out, inputs)

    def describe(self, names):
        d = super().describe(names)
        d["fused_ops"] = [self.op_indices.get(o, self.index) for o in self.ops]
        d["inputs"] = [names[v] for v in self.inputs]
        d["computes"] = self.program.describe()
        d["launches"] = [_map_launch(self.name, "out = computes(in0, in1, ...) per element; out is new, "
                                                "C-contiguous, of the broadcast shape of the group")]
        if self.exponents:
            d["checks"] = [{"op": self.op_indices.get(o, self.index), "exponent": names[v],
                            "what": f"first: {_min_kernel_name(v.type)} reduces the exponent to its minimum "
                                    "(reduction launches as a min step's); the host reads it back and fails "
                                    "with INT_NEGATIVE_POWER when it is below 0"} for o, v in self.exponents]
        return d


class FusedStep(Step):
    """A ``fused`` op (``ir/ops/fused.py``): its region is one scalar
    program. Its elementwise results are written together by one map
    kernel over the iteration space; each reduced result by the reduction
    kernels, with the region computing the terms (nothing is stored in
    between)."""
    kind = "fused"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        block = op.regions[0]
        self.kinds = reduce_kinds(op)
        self.program = MapProgram.of_ops(block.args, block.ops[:-1], block.ops[-1].operands)
        self.mapped = [j for j, k in enumerate(self.kinds) if k is None]
        self.reduced = [j for j, k in enumerate(self.kinds) if k is not None]
        self.nd = len(iteration_shape(op))
        self.name = f"{prefix}_fused"

    def _map_program(self):
        p = self.program
        return MapProgram(p.in_dtypes, [p.out_dtypes[j] for j in self.mapped], p.steps,
                          [p.results[j] for j in self.mapped])

    def kernels(self):
        specs = map_kernels(self.name, self._map_program(), self.nd) if self.mapped else []
        for j in self.reduced:
            specs += reduce_kernels(f"{self.name}_r{j}", self.kinds[j], self.program.single(j), self.nd)
        return specs

    def run(self, state):
        op = self.op
        ins = [state.tensor(v) for v in op.operands]
        space = sh.broadcast([t.shape for t in ins])
        pairs = [(t, sh.broadcast_strides(t.shape, t.strides, space, k)) for k, t in enumerate(ins)]
        if self.mapped:
            outs = [state.alloc(op.results[j].type.dtype, space) for j in self.mapped]
            state.launch_map(self.name, outs, pairs)
            for j, out in zip(self.mapped, outs):
                state.env[op.results[j]] = out
        if not self.reduced:
            return
        axes, keep = tuple(op.attrs["axes"]), op.attrs["keepdims"]
        for j in self.reduced:
            kind, dtype = self.kinds[j], op.results[j].type.dtype
            if REDUCERS[kind].identity is None:
                sh.check_nonempty(space, axes)
            out = state.alloc(dtype, sh.reduced_shape(space, axes, keep))
            run_reduction(state, f"{self.name}_r{j}", reduce_spec(kind, dtype), self.nd, space, pairs, axes, out)
            state.env[op.results[j]] = out

    def describe(self, names):
        d = super().describe(names)
        d["computes"] = self.program.describe()
        d["reduce"] = list(self.kinds)
        if self.mapped:
            d["launches"] = [_map_launch(self.name, f"results {self.mapped} at every point of the "
                                                    "iteration space (the operands' broadcast)")]
        for j in self.reduced:
            d.setdefault("reductions", {})[str(j)] = reduction_launches(f"{self.name}_r{j}")
        return d


class AllocStep(Step):
    """alloc(value, dims...): the value broadcast into a new tensor."""
    kind = "alloc"

    def kernels(self):
        return copy_kernels(self.op.results[0].type.dtype, self.op.results[0].type.ndim)

    def run(self, state):
        op = self.op
        v = state.tensor(op.operands[0])
        dims = sh.alloc_dims(sh.resolve(op.attrs["shape"], state.dyn_ints(op.operands[1:])))
        strides = sh.broadcast_strides(v.shape, v.strides, dims, 0)
        out = state.alloc(v.dtype, dims)
        state.copy(v, out, strides)
        state.env[op.results[0]] = out

    def describe(self, names):
        d = super().describe(names)
        t = self.op.results[0].type
        d["launches"] = [_map_launch(copy_kernel_name(t.dtype, t.ndim), "the value broadcast to the dims")]
        return d


class SetSubtensorStep(Step):
    """set_subtensor/inc_subtensor: copy x, then write (or add) v into the
    region of the copy."""
    kind = "set_subtensor"

    def _region_ndim(self):
        return len(self.op.opdef._infer_shape(self.op))

    def kernels(self):
        t = self.op.results[0].type
        nd = self._region_ndim()
        specs = copy_kernels(t.dtype, t.ndim) + copy_kernels(t.dtype, nd)
        if self.op.name == "inc_subtensor":
            specs += map_kernels(self._inc_name(), MapProgram.add(t.dtype), nd)
        return specs

    def _inc_name(self):
        return f"theon_inc_{self.op.results[0].type.dtype}_{self._region_ndim()}d"

    def run(self, state):
        op = self.op
        x, v = state.tensor(op.operands[0]), state.tensor(op.operands[1])
        out = state.alloc(x.dtype, x.shape)
        off, shape, strides = sh.index_view(out.shape, out.strides, op.attrs["idx"],
                                            state.dyn_ints(op.operands[2:]))
        region = out.view(off, shape, strides)
        v_strides = sh.broadcast_strides(v.shape, v.strides, region.shape, 1)
        state.copy(x, out)
        if op.name == "set_subtensor":
            state.copy(v, region, v_strides)
        else:
            state.launch_map(self._inc_name(), region, [(region, region.strides), (v, v_strides)])
        state.env[op.results[0]] = out

    def describe(self, names):
        d = super().describe(names)
        t = self.op.results[0].type
        d["launches"] = [_map_launch(copy_kernel_name(t.dtype, t.ndim), "out = copy of x"),
                         _map_launch(self._inc_name() if self.op.name == "inc_subtensor"
                                     else copy_kernel_name(t.dtype, self._region_ndim()),
                                     "region of out (basic indexing, a strided view) = or += v")]
        return d


class ConcatenateStep(Step):
    kind = "concatenate"

    def kernels(self):
        t = self.op.results[0].type
        return copy_kernels(t.dtype, t.ndim)

    def run(self, state):
        op = self.op
        axis = op.attrs["axis"]
        parts = [state.tensor(v) for v in op.operands]
        out = state.alloc(parts[0].dtype, sh.concatenate([p.shape for p in parts], axis))
        start = 0
        for p in parts:
            state.copy(p, out.view(start * out.strides[axis], p.shape, out.strides))
            start += p.shape[axis]
        state.env[op.results[0]] = out

    def describe(self, names):
        d = super().describe(names)
        t = self.op.results[0].type
        d["launches"] = [_map_launch(copy_kernel_name(t.dtype, t.ndim),
                                     "one launch per operand, into its slice of out along the axis")]
        return d


class ArangeStep(Step):
    kind = "arange"

    def kernels(self):
        return [arange_kernel(f"{self.prefix}_arange", self.op.results[0].type.dtype)]

    def run(self, state):
        op = self.op
        start, stop, step = (state.host_value(v) for v in op.operands)
        n = sh.arange_length(start, stop, step)
        out = state.alloc(op.results[0].type.dtype, (n,))
        state.env[op.results[0]] = out
        if n:
            block = state.schedule.block
            state.launch(f"{self.prefix}_arange", state.grid_1d(n, block), (block, 1, 1),
                         [out.ptr, n, state.tensor(op.operands[0]).ptr, state.tensor(op.operands[2]).ptr])

    def describe(self, names):
        d = super().describe(names)
        d["launches"] = [{"kernel": f"{self.prefix}_arange", "block": "[block, 1, 1]",
                          "grid": "[min(ceil(n / block), max_grid), 1, 1]",
                          "args": "out, n (NumPy's arange length, on the host), &start, &step"}]
        return d


# --- reductions ------------------------------------------------------------------------------------
class ReduceStep(Step):
    """sum/prod/max/min over axes, argmax/argmin over an axis or all, and
    sum_to (axes decided at run time)."""
    kind = "reduction"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        self.x_type = op.operands[0].type
        self.spec = reduce_spec(op.name, self.x_type.dtype)
        # named by what they compute, so equal reductions share kernels
        kind = "sum" if op.name == "sum_to" else op.name
        self.name = f"theon_{kind}_{self.x_type.dtype}_{self.x_type.ndim}d"

    def kernels(self):
        dtype, nd = self.x_type.dtype, self.x_type.ndim
        specs = reduce_kernels(self.name, self.op.name, MapProgram.copy(dtype), nd)
        if not is_arg(self.spec):
            specs += copy_kernels(dtype, nd)
        return specs

    def _plan(self, state, x):
        """(reduced axes, result shape) of this op for ``x``."""
        op = self.op
        if op.name == "sum_to":
            dims, axes = sh.sum_to(x.shape, sh.resolve(op.attrs["shape"], state.dyn_ints(op.operands[1:])))
            return axes, dims
        if op.opdef.arg_reduces:
            axis, keep = op.attrs["axis"], op.attrs["keepdims"]
            axes = tuple(range(x.ndim)) if axis is None else (axis,)
            sh.check_nonempty(x.shape, axes)
            if axis is None:
                return axes, (1,) * x.ndim if keep else ()
            return axes, sh.reduced_shape(x.shape, axes, keep)
        axes = tuple(op.attrs["axes"])
        if op.opdef.identity is None:
            sh.check_nonempty(x.shape, axes)
        return axes, sh.reduced_shape(x.shape, axes, op.attrs["keepdims"])

    def run(self, state):
        x = state.tensor(self.op.operands[0])
        axes, out_shape = self._plan(state, x)
        out = state.alloc(final_dtype(self.spec), out_shape)
        state.env[self.op.results[0]] = out
        if not axes and not is_arg(self.spec):
            state.copy(x, out.view(0, x.shape, sh.c_strides(x.shape)))
            return
        run_reduction(state, self.name, self.spec, self.x_type.ndim, x.shape, [(x, x.strides)], axes, out)

    def describe(self, names):
        d = super().describe(names)
        d.update(reduction_launches(self.name))
        return d


def reduction_launches(name):
    return {"launches": [
        {"kernel": f"{name}_t", "when": f"R <= {THREAD_REDUCE_MAX_TERMS}, or M >= "
         f"{THREAD_REDUCE_MIN_OUTPUTS} and R < {BLOCK_REDUCE_MIN_TERMS}",
         "block": "[block, 1, 1]", "grid": "[min(ceil(M / block), max_grid), 1, 1]", "S": 1},
        {"kernel": f"{name}_bf", "when": "otherwise, with S == 1",
         "block": "[block, 1, 1]", "grid": "[min(M, max_grid), 1, 1]", "S": 1, "chunk": "R"},
        {"kernel": f"{name}_bp then {name}_b2",
         "when": "otherwise, S = min(ceil(sm_count * threads_per_sm / block / M), "
         "ceil(R / (8 block)), 1024) > 1",
         "block": "[block, 1, 1]", "grid": "[min(M, max_grid), min(S, max_grid), 1], then "
         "[min(M, max_grid), 1, 1] over the M x S partials (kd0=M, rd0=S, ks0=S, rs0=1)",
         "chunk": "ceil(R / S) rounded up to a multiple of 8, then S = ceil(R / chunk)"}],
        "args": "inputs, dst, [dst_i], M, R, S, chunk, kd (kept dims), rd (reduced dims), then per "
                "input its kept and reduced strides; dims collapsed where every input allows, padded "
                "with size-1 dims at the front to the kernel's ndim"}


def run_reduction(state, name, spec, nd, space, inputs, axes, out):
    """Launch the reduction kernels ``name`` over the iteration space
    ``space`` (dims), reducing ``axes``; ``inputs`` are (tensor, strides
    broadcast to space) pairs; writes ``out`` (C-contiguous)."""
    n_in = len(inputs)
    dims = [(size, tuple(s[d] for _, s in inputs)) for d, size in enumerate(space)]
    kept = _pad([dims[d] for d in range(len(space)) if d not in axes], nd, n_in)
    red = _pad([dims[d] for d in axes], nd, n_in)
    M = sh.numel([s for s, _ in kept])
    R = sh.numel([s for s, _ in red])
    if M == 0:
        return
    block = state.schedule.block
    tail = [s for s, _ in kept] + [s for s, _ in red]
    for k in range(n_in):
        tail += [st[k] for _, st in kept] + [st[k] for _, st in red]
    ptrs = [t.ptr for t, _ in inputs]
    if R <= THREAD_REDUCE_MAX_TERMS or (M >= THREAD_REDUCE_MIN_OUTPUTS and R < BLOCK_REDUCE_MIN_TERMS):
        state.launch(f"{name}_t", state.grid_1d(M, block), (block, 1, 1), ptrs + [out.ptr, M, R, 1, R] + tail)
        return
    S, chunk = reduce_splits(state.schedule, M, R)
    if S == 1:
        state.launch(f"{name}_bf", (M, 1, 1), (block, 1, 1), ptrs + [out.ptr, M, R, 1, R] + tail)
        return
    part = state.alloc(spec.acc_dtype, (M, S))
    part_i = state.alloc("int64", (M, S)) if is_arg(spec) else None
    partials = [part.ptr] + ([part_i.ptr] if part_i is not None else [])
    state.launch(f"{name}_bp", (M, S, 1), (block, 1, 1), ptrs + partials + [M, R, S, chunk] + tail)
    state.launch(f"{name}_b2", (M, 1, 1), (block, 1, 1), partials + [out.ptr, M, S, 1, S, M, S, S, 1])


def _pad(dims, nd, n_in):
    dims = sh.collapse(dims)
    if len(dims) > nd:
        raise RuntimeError(f"reduction: {len(dims)} dims do not fit a {nd}-d kernel")
    return [(1, (0,) * n_in)] * (nd - len(dims)) + dims

