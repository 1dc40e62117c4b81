"""A test-only region op, ``test.call``: it runs its one region once.

    %r0, %r1 = test.call(%a, %b) ({
      ^bb(%x: tensor<?xf64>, %y: tensor<f64>):
        %0 = mul(%x, %y) : tensor<?xf64>
        yield(%0, %x)
    }) : tensor<?xf64>, tensor<?xf64>

The operands become the block arguments (same types), the operands of the
``yield`` that ends the body become the results. It exists only in the
tests (registered for a test by the ``call_op`` fixture of
tests/ir/test_regions.py and tests/native/test_regions_native.py), so it
shows that a new region op plugs into theon through its class alone: the
declaration (``num_regions``, ``terminator``, ``region_arg_types``), type
inference, and a reference that runs the body with the interpreter.
"""
import pytest

from theon.ir import dialect
from theon.ir.builder import make_op
from theon.ir.core import Block, Function
from theon.ir.interpreter import run_region
from theon.ir.opdef import OpDef
from theon.ir.types import TensorType

CALL = "test.call"


class Call(OpDef):
    name = CALL
    num_operands = None
    num_results = None
    num_regions = 1
    terminator = "yield"

    def region_arg_types(self, op, k):
        return [v.type for v in op.operands]

    def infer(self, op):
        body = op.regions[0] if len(op.regions) == 1 else None
        if body is None or not body.ops or body.ops[-1].name != "yield":
            raise ValueError(f"{CALL}: needs one region ending with yield")
        return [v.type for v in body.ops[-1].operands]

    def reference(self, op, *args):
        return run_region(op.regions[0], args)


class LooseFused(OpDef):
    """Test-only stand-in for ``fused`` without its checks (IR text, verifier
    and pass tests): regions ended by yield, applied elementwise; the result
    has the first operand's shape and the first yielded value's dtype."""
    name = "fused"
    num_regions = None
    terminator = "yield"

    def infer(self, op):
        yielded = op.regions[0].ops[-1].operands[0].type
        return [TensorType(yielded.dtype, op.operands[0].type.shape)]


class Effect(OpDef):
    """Test-only: an op with a side effect (never dead, never merged)."""
    name = "test.effect"
    num_results = 0
    pure = False

    def infer(self, op):
        return []


@pytest.fixture
def call_op(monkeypatch):
    """Registers ``test.call`` in the dialect for one test."""
    monkeypatch.setitem(dialect.OPS, CALL, Call())
    return dialect.OPS[CALL]


def body_of(func):
    """A region block equal to ``func``'s body, its ``return`` a ``yield``
    (the block arguments are new values of the argument types)."""
    block = Block([a.type for a in func.args], [a.name for a in func.args])
    mapping = dict(zip(func.args, block.args))
    for op in func.body.ops[:-1]:
        block.append(op.clone(mapping))
    block.append(make_op("yield", [mapping.get(v, v) for v in func.return_op.operands]))
    return block


def wrapped(func):
    """A function with ``func``'s arguments whose body is one ``test.call``
    of them running ``func``'s body, returning its results."""
    out = Function(func.name, [a.type for a in func.args], [a.name for a in func.args], func.arg_attrs)
    call = out.body.append(make_op(CALL, list(out.args), regions=[body_of(func)]))
    out.body.append(make_op("return", call.results, {"updates": ()}))
    return out
