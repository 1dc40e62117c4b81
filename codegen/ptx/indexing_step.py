"""The GPU plan's step for advanced indexing (``ir/ops/indexing.py``):
``adv_subtensor``, ``adv_set_subtensor``, ``adv_inc_subtensor``, ``nonzero``.

For now the operands are read back and the op's NumPy reference computes
the result on the host, which is uploaded; the bounds are checked first
and reported as ADV_INDEX_ERROR like the CPU code does. Gather/scatter
kernels on the device are future work (issue 16)."""
import numpy as np

from ...ir.core import substitute_dyn
from ...ir.ops.indexing import layout
from .. import errors as codes
from .shapes import PlanError
from .steps import Step


class AdvIndexStep(Step):
    kind = "adv-index-host"

    def run(self, state):
        op = self.op
        args = [state.host_value(v) for v in op.operands]
        if "idx" in op.attrs:
            self._check_bounds(args)
        if "match" in op.attrs:
            for k, m in enumerate(substitute_dyn(op.attrs["match"], [int(d) for d in args[1:]])):
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

    def _check_bounds(self, args):
        op, x = self.op, args[0]
        n_data = len(op.operands) - len(op.opdef.indices(op))
        _, axes = layout(op.attrs["idx"], x.ndim)
        for k, (axis, ind) in enumerate(zip(axes, args[n_data:])):
            n = x.shape[axis]
            bad = (ind < -n) | (ind >= n)
            if np.any(bad):
                raise PlanError(codes.ADV_INDEX_ERROR, [axis, int(ind[bad].flat[0]), n, n_data + k])
