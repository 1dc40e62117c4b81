"""The GPU plan's step for the random sampling ops (``ir/ops/random.py``).

For now the samples are computed on the host by the op's NumPy reference
(the definition of the numbers, so the GPU path gives exactly the
interpreter's numbers) and uploaded; the state is read back (two int64).
A Philox kernel on the device is future work (issue 15)."""
import numpy as np

from .steps import Step


class RandomStep(Step):
    kind = "random-host"

    def run(self, state):
        op = self.op
        (out,) = op.opdef.reference(op, *[state.host_value(v) for v in op.operands])
        r = op.results[0]
        out = np.asarray(out, dtype=r.type.np_dtype)
        state.host[r] = out
        state.env[r] = state.upload(out)
