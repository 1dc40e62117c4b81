"""The GPU plan's step for ``print`` (ir/ops/debug.py): the operand's value
is read back to the host and printed (``theon.printing.print_value``) when
the step runs, in plan order; the result is the operand's device tensor."""
from ...printing import print_value
from .steps import Step


class PrintStep(Step):
    kind = "print"

    def run(self, state):
        op = self.op
        v, r = op.operands[0], op.results[0]
        value = state.host_value(v)
        print_value(op.attrs["message"], op.attrs["attrs"], value)
        if v in state.env:
            state.env[r] = state.env[v]
        state.host[r] = value
