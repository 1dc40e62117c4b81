"""The GPU plan's steps for advanced indexing (``ir/ops/indexing.py``).

``adv_subtensor`` (GatherStep) runs on the device: the host reads only the
index operands back to check them (ADV_INDEX_ERROR, as the CPU code), then
a grid-stride kernel gathers. ``adv_set_subtensor``, ``adv_inc_subtensor``
and ``nonzero`` (AdvIndexStep) are, for now, computed on the host by the
op's NumPy reference from operands read back, the result uploaded;
scatter kernels (atomics for repeated indices) are future work (issue 16)."""
import numpy as np

from ...ir.ops.indexing import layout
from ...ir.types import is_unsigned
from .. import errors as codes
from ..llvm_util import I64, i64
from .kernel import KernelSpec
from .shapes import PlanError, resolve
from .steps import Step


class AdvIndexStep(Step):
    kind = "adv-index-host"

    def run(self, state):
        op = self.op
        args = [state.host_value(v) for v in op.operands]
        if "idx" in op.attrs:
            n_data = len(op.operands) - len(op.opdef.indices(op))
            check_index_values(op, args[0].shape, args[n_data:], n_data)
        if "match" in op.attrs:
            for k, m in enumerate(resolve(op.attrs["match"], args[1:])):
                if m is not None and m != args[0].shape[k]:
                    raise PlanError(codes.MASK_MISMATCH, [k + op.attrs.get("axis", 0), args[0].shape[k], m])
        (out,) = op.opdef.reference(op, *args)
        r = op.results[0]
        out = np.ascontiguousarray(out, dtype=r.type.np_dtype)
        state.host[r] = out
        state.env[r] = state.upload(out)

    def describe(self, names):
        d = super().describe(names)
        d["what"] = (f"on the host, no kernel: read the operands back, compute {self.op.name} "
                     f"{dict(self.op.attrs)} with NumPy's advanced-indexing rules (ir/ops/indexing.py; "
                     "indices outside [-n, n) fail with status ADV_INDEX_ERROR, a mask of another shape "
                     "with MASK_MISMATCH), upload the result")
        return d

def check_index_values(op, x_shape, indices, first_operand):
    """PlanError(ADV_INDEX_ERROR) for the first index of ``indices`` (host
    arrays, operands ``first_operand``...) outside [-n, n) of its axis."""
    _, axes = layout(op.attrs["idx"], len(x_shape))
    for k, (axis, ind) in enumerate(zip(axes, indices)):
        n = x_shape[axis]
        bad = (ind < -n) | (ind >= n)
        if np.any(bad):
            raise PlanError(codes.ADV_INDEX_ERROR, [axis, int(ind[bad].flat[0]), n, first_operand + k])


# --- the gather on the device -------------------------------------------------------------------
def _gather_kernel(name, dtype, nd, index_dtypes):
    """NAME(n, d_0.., out, x, xs_0.., then per index operand j: ind_j,
    is_j_0.., ax_j, n_j): for every C-order position of out (dims d),
    out[i] = x[sum(pos * xs) + sum_j wrap(ind_j[sum(pos * is_j)]) * ax_j]
    where xs / is_j are x's / index operand j's strides per out dim (0
    where they do not vary) and wrap adds n_j to a negative index. The host
    checked every index before the launch."""
    params = [("n", "i64")] + [(f"d{d}", "i64") for d in range(nd)] + [("out", dtype), ("x", dtype)]
    params += [(f"xs{d}", "i64") for d in range(nd)]
    for j, idt in enumerate(index_dtypes):
        params += [(f"ind{j}", idt)] + [(f"is{j}_{d}", "i64") for d in range(nd)] + [(f"ax{j}", "i64"), (f"n{j}", "i64")]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        dims = [p[f"d{d}"] for d in range(nd)]
        with kb.grid_stride(p["n"]) as i:
            pos = kb.decompose(i, dims)
            off = kb.offset(pos, [p[f"xs{d}"] for d in range(nd)])
            for j, idt in enumerate(index_dtypes):
                k = b.load(b.gep(p[f"ind{j}"], [kb.offset(pos, [p[f"is{j}_{d}"] for d in range(nd)])]))
                if k.type.width != 64:
                    k = (b.zext if is_unsigned(idt) else b.sext)(k, I64)
                k = b.select(b.icmp_signed("<", k, i64(0)), b.add(k, p[f"n{j}"]), k)
                off = b.add(off, b.mul(k, p[f"ax{j}"]))
            b.store(b.load(b.gep(p["x"], [off])), b.gep(p["out"], [i]))
    return KernelSpec(name, params, emit, f"gather {dtype} {nd}-d, index dtypes {list(index_dtypes)}")


class GatherStep(Step):
    """``adv_subtensor`` on the device: the host reads the index operands
    back to check them (ADV_INDEX_ERROR), then one grid-stride kernel
    gathers x's elements into the C-contiguous result."""
    kind = "gather"

    def _kernel(self):
        op = self.op
        return _gather_kernel(f"{self.prefix}_gather", op.results[0].type.dtype, op.results[0].type.ndim,
                              [v.type.dtype for v in op.opdef.indices(op)])

    def kernels(self):
        return [self._kernel()]

    def run(self, state):
        op = self.op
        x = state.tensor(op.operands[0])
        inds = [state.tensor(v) for v in op.opdef.indices(op)]
        hosts = [state.host_value(v) for v in op.opdef.indices(op)]
        check_index_values(op, x.shape, hosts, 1)
        items, axes = layout(op.attrs["idx"], x.ndim)
        bshape = np.broadcast_shapes(*[t.shape for t in inds])
        dims, xs, bpos = [], [], None
        for kind, a in items:
            if kind == "B":
                bpos = len(dims)
                dims += list(bshape)
                xs += [0] * len(bshape)
            else:
                dims.append(x.shape[a] if kind == "x" else 1)
                xs.append(x.strides[a] if kind == "x" else 0)
        out = state.alloc(x.dtype, tuple(dims))
        state.env[op.results[0]] = out
        n = out.numel
        if n == 0:
            return
        args = [n, *dims, out.ptr, x.ptr, *xs]
        for t, axis in zip(inds, axes):
            lead = len(bshape) - t.ndim
            st = [0] * len(dims)
            for d in range(t.ndim):
                if t.shape[d] != 1:
                    st[bpos + lead + d] = t.strides[d]
            args += [t.ptr, *st, x.strides[axis], x.shape[axis]]
        block = state.schedule.block
        state.launch(self._kernel().name, state.grid_1d(n, block), (block, 1, 1), args)

    def describe(self, names):
        d = super().describe(names)
        d["launches"] = [{"kernel": self._kernel().name, "block": "[block, 1, 1]",
                          "grid": "[min(ceil(numel(out) / block), max_grid), 1, 1]",
                          "args": "n, out dims, out, x, x's stride per out dim (0 along the index dims), "
                                  "per index operand: its pointer, its strides per out dim (0 where it "
                                  "broadcasts or does not vary), x's stride along its axis, that axis' size",
                          "what": "the host first reads the index operands back and checks them "
                                  "(ADV_INDEX_ERROR); the kernel wraps negative indices"}]
        return d
