"""Bases for the test-only ops that tests define (``test.*`` names): only
the name and what a test is about differ from one to the next."""
from theon.ir.opdef import OpDef


class SameType(OpDef):
    """One operand; one result of the operand's type; no reference."""
    num_operands = 1

    def infer(self, op):
        return [op.operands[0].type]


class Identity(SameType):
    """``SameType`` whose reference returns the operand."""

    def reference(self, op, x):
        return [x]
