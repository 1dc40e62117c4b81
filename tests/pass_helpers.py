"""Helpers of the pass tests: IR text in, IR text out, verified after every
pass, and the output read back to check the print/parse round trip."""
import numpy as np
import pytest

from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.passes import PassManager, parse_pipeline


def fn(args, *body):
    """IR text of ``func @f(args)`` with one op per line."""
    lines = [line for chunk in body for line in chunk.strip().splitlines()]
    return f"func @f({args}) {{\n" + "".join(f"  {line.strip()}\n" for line in lines) + "}\n"


def run_pass(pipeline, text, ops=None, registry=None):
    """The text of ``text`` after ``pipeline``, verified after every pass;
    the result must print the same after a parse (round trip)."""
    func = parse_function(text, ops=ops)
    PassManager(parse_pipeline(pipeline, registry), verify_each=True).run(func)
    out = print_function(func)
    assert print_function(parse_function(out, ops=ops)) == out
    return out


def rule_tests(pipeline, cases, kept):
    """The two table tests of a rewriting pass, for a test module to bind as
    ``test_rule, test_not_rewritten = rule_tests(...)``: ``cases`` maps a
    name to ``(args, before, after)`` (``before`` must become ``after``),
    ``kept`` a name to ``(args, body)`` (``body`` must stay as it is)."""
    @pytest.mark.parametrize("name", sorted(cases))
    def test_rule(name):
        args, before, after = cases[name]
        assert run_pass(pipeline, fn(args, *before)) == fn(args, *after)

    @pytest.mark.parametrize("name", sorted(kept))
    def test_not_rewritten(name):
        args, body = kept[name]
        text = fn(args, *body)
        assert run_pass(pipeline, text) == text
    return test_rule, test_not_rewritten


def count_ops(func, constants=True):
    """Ops of a function's body, ``return`` not counted (nor ``constant``
    with ``constants=False``)."""
    skip = ("return",) if constants else ("return", "constant")
    return sum(1 for op in func.body.ops if op.name not in skip)


def optimized(inputs, outputs, pipeline, updates=()):
    """The IR Function of a DSL graph after ``pipeline`` (verified after each pass)."""
    func, _ = build_function(inputs, outputs, updates)
    PassManager(parse_pipeline(pipeline), verify_each=True).run(func)
    return func


def evaluate_outputs(func, args):
    return evaluate(func, [np.asarray(a) for a in args])[0]
