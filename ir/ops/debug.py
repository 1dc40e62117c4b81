"""Debugging ops: ``print``, Theano's ``theano.printing.Print``.

    %1 = print(%0) {message = "x", attrs = ["__str__"]} : tensor<?xf64>

The value of its operand, and a side effect: when it runs, it prints
``message attr = value`` for each attribute name in ``attrs`` (an
attribute of the NumPy array, called when callable: ``"__str__"``,
``"shape"``, ``"sum"``...), as Theano's Print does. It is not pure, so
constant folding, CSE and DCE leave it in place (it runs once per call,
where it stands); its gradient passes through.

The printing itself is ``theon.printing.print_value`` (NumPy's formatting):
the interpreter calls it from ``reference``; native CPU code calls it back
through a hook (``codegen/cpu/lower/debug.py``); the GPU plan downloads the
value and calls it (``codegen/ptx/print_step.py``).
"""
import numpy as np

from ..opdef import OpDef


class Print(OpDef):
    """print(x) {message, attrs}: x, printed when it runs."""
    name = "print"
    num_operands = 1
    required_attrs = ("message", "attrs")
    pure = False              # a side effect: never folded, merged or removed
    has_grad = True
    cost = 1

    def infer(self, op):
        self.check_arity(op)
        message, attrs = op.attrs["message"], op.attrs["attrs"]
        if not isinstance(message, str):
            raise TypeError(f"print: message must be a str, got {message!r}")
        if not isinstance(attrs, tuple) or not all(isinstance(a, str) and a for a in attrs):
            raise TypeError(f"print: attrs must be a list of attribute names (str), got {attrs!r}")
        return [op.operands[0].type]

    def dims(self, op, shapes):
        return [shapes.of(op.operands[0])]

    def reference(self, op, x):
        from ...printing import print_value
        print_value(op.attrs["message"], op.attrs["attrs"], np.asarray(x))
        return [np.array(x)]

    def grad(self, op, grads):
        return [grads[0]]


OPS = [Print]
