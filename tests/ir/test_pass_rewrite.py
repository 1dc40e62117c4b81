"""The rewrite driver: rule text, matching, the worklist, the rewriter."""
from dataclasses import dataclass

import pytest

from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.verifier import verify_function
from theon.passes import PASSES, Pass
from theon.passes.rewrite import (PyRule, RewriteError, Rule, apply_rules, match, rules,
                                  splat_value)
from ..pass_helpers import fn, run_pass

V = "tensor<?xf64>"


def rewrite(rule_list, text, **options):
    """Apply ``rule_list`` with a pass that has ``options`` as fields."""
    @dataclass
    class Only(Pass):
        name = "only"
        fast_math: bool = options.get("fast_math", False)

        def run(self, func):
            apply_rules(func, rule_list, self)
    return run_pass("only", text, registry={**PASSES, "only": Only})


# --- rule text ---------------------------------------------------------------------------
def test_rule_text_parses_to_patterns():
    (r,) = rules("pow-two:  pow(x, 2) -> mul(x, x)   # a comment")
    assert isinstance(r, Rule) and r.name == "pow-two" and r.roots == ("pow",)
    (r,) = rules("sub-self: sub(x, x) -> 0  if int(x), fast-math")
    assert r.guards == (("int", "x"),) and r.options == ("fast_math",)


@pytest.mark.parametrize("text, message", [
    ("mul(x, 1) -> x", "expected 'name: pattern -> template'"),
    ("r: mul(x, 1)", "expected '->'"),
    ("r: frob(x) -> x", "unknown op 'frob'"),
    ("r: x -> x", "a pattern must start with an op"),
    ("r: neg(x) -> y", "template uses unbound ['y']"),
    ("r: neg(x) -> x if odd(x)", "unknown guard 'odd(x)'"),
    ("r: neg(x) -> x if int(y)", "unknown guard 'int(y)'"),
    ("r: neg(x) -> x $", "bad character '$'"),
])
def test_rule_text_errors_name_the_line(text, message):
    with pytest.raises(ValueError, match="rule line 1") as e:
        rules(text)
    assert message in str(e.value)


# --- matching ------------------------------------------------------------------------------
def test_commutative_ops_match_either_order_and_variables_must_agree():
    func = parse_function(fn("%a: tensor<?xf64>, %b: tensor<?xf64>",
                             f"%0 = neg(%b) : {V}", f"%1 = add(%0, %a) : {V}",
                             f"%2 = sub(%a, %b) : {V}", f"%3 = sub(%a, %a) : {V}", "return(%1, %2, %3)"))
    add, sub_ab, sub_aa = (op.results[0] for op in func.body.ops[1:4])
    (pattern,) = rules("r: add(x, neg(y)) -> x")
    (env,) = list(match(pattern.pattern, add, {}))
    assert env["x"] is func.args[0] and env["y"] is func.args[1]
    (same,) = rules("r: sub(x, x) -> x")
    assert list(match(same.pattern, sub_ab, {})) == []
    assert len(list(match(same.pattern, sub_aa, {}))) == 1


def test_numbers_match_constants_broadcasts_and_casts_of_them():
    func = parse_function(fn("%n: tensor<i64>",
                             "%c = constant() {value = dense<[2.0, 2.0]>} : tensor<2xf64>",
                             "%d = constant() {value = dense<[2.0, 3.0]>} : tensor<2xf64>",
                             "%s = constant() {value = dense<2>} : tensor<i32>",
                             '%f = cast(%s) {dtype = "float64"} : tensor<f64>',
                             "%b = alloc(%f, %n) {shape = [?]} : tensor<?xf64>",
                             "return(%c, %d, %b)"))
    c, d, _, _, b = (op.results[0] for op in func.body.ops[:5])
    assert splat_value(c) == 2.0 and splat_value(d) is None and splat_value(b) == 2


# --- the driver ----------------------------------------------------------------------------
def test_worklist_reaches_a_fixed_point_in_one_run():
    neg4 = fn("%a: tensor<?xf64>", f"%0 = neg(%a) : {V}", f"%1 = neg(%0) : {V}", f"%2 = neg(%1) : {V}",
              f"%3 = neg(%2) : {V}", "%one = constant() {value = dense<1.0>} : tensor<f64>",
              f"%y = mul(%3, %one) : {V}", "return(%y)")
    assert rewrite(rules("neg-neg: neg(neg(x)) -> x\nmul-one: mul(x, 1) -> x"), neg4) == \
        fn("%a: tensor<?xf64>", "return(%a)")


def test_users_are_revisited_after_a_rewrite():
    # mul(x, 1) only appears once the pow is gone
    text = fn("%a: tensor<?xf64>", "%one = constant() {value = dense<1.0>} : tensor<f64>",
              f"%0 = pow(%a, %one) : {V}", f"%1 = exp(%0) : {V}", f"%2 = log(%1) : {V}", "return(%2)")
    assert rewrite(rules("pow-one: pow(x, 1) -> x\nlog-exp: log(exp(x)) -> x"), text) == \
        fn("%a: tensor<?xf64>", "return(%a)")


def test_dead_ops_are_erased_and_use_lists_stay_right():
    text = fn("%a: tensor<?xf64>", f"%0 = exp(%a) : {V}", f"%1 = neg(%0) : {V}", f"%2 = neg(%1) : {V}",
              "return(%2)")
    func = parse_function(text)
    apply_rules(func, rules("neg-neg: neg(neg(x)) -> x"))
    verify_function(func)
    assert print_function(func) == fn("%a: tensor<?xf64>", f"%0 = exp(%a) : {V}", "return(%0)")
    assert func.args[0].uses == [(func.body.ops[0], 0)]


def test_option_guards_need_the_option():
    rule_list = rules("sub-self: sub(x, x) -> 0 if fast-math")
    text = fn("%a: tensor<f64>", "%y = sub(%a, %a) : tensor<f64>", "return(%y)")
    assert rewrite(rule_list, text) == text
    assert rewrite(rule_list, text, fast_math=True) == fn(
        "%a: tensor<f64>", "%y = constant() {value = dense<0.0>} : tensor<f64>", "return(%y)")


def test_python_rules_change_the_ir_through_the_rewriter():
    def exp_to_sigmoid(rw, op):
        rw.replace(op, rw.create("sigmoid", op.operands[0]))
        return True
    text = fn("%a: tensor<?xf64>", f"%y = exp(%a) : {V}", f"%z = exp(%y) : {V}", "return(%z)")
    assert rewrite([PyRule("exp-to-sigmoid", ("exp",), exp_to_sigmoid)], text) == fn(
        "%a: tensor<?xf64>", f"%y = sigmoid(%a) : {V}", f"%z = sigmoid(%y) : {V}", "return(%z)")


def test_rules_that_undo_each_other_are_reported():
    cycle = [PyRule("swap", ("add",), lambda rw, op: rw.replace(
        op, rw.create("add", op.operands[1], op.operands[0])) or True)]
    func = parse_function(fn("%a: tensor<?xf64>, %b: tensor<?xf64>", f"%y = add(%a, %b) : {V}", "return(%y)"))
    with pytest.raises(RewriteError, match="no fixed point after .* rewrites .last rule: swap."):
        apply_rules(func, cycle)
