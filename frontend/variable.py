"""The user's graph: TensorVariable is an IR Value with Python operators.

Graph inputs (``T.matrix('a')``) are TensorVariables with no owner; every
DSL function creates a floating IR Operation (see ``ir.builder.make_op``)
whose results are TensorVariables. ``theon.function`` later clones the
reachable part of this graph into an IR Function (``frontend/build.py``).
"""
from ..ir.core import Value


class TensorVariable(Value):
    __slots__ = ()
    is_shared = False     # SharedVariable (frontend/shared.py) sets True
