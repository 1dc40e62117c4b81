"""The GPU plan's step for the control-flow ops ``ifelse`` and ``scan``
(``ir/ops/control.py``), for now on the host: the operands are read back,
the op runs through its NumPy reference (the interpreter runs the chosen
region, or the loop body once per step), and the results are uploaded.
Correct, and as slow as that sounds: kernel launches per step (a loop of
kernels for each body) are future work (issue 14)."""
import numpy as np

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
