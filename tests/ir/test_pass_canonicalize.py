"""canonicalize: IR text in, IR text out, one rule per case."""
import pytest

import theon
import theon.tensor as T
from ..pass_helpers import count_ops, fn, optimized, rule_tests, run_pass

V = "tensor<?xf64>"
S = "tensor<f64>"


def c(name, value, type_=S):
    return f"%{name} = constant() {{value = dense<{value}>}} : {type_}"


CASES = {
    # identities
    "mul-one": ("%a: tensor<?xf64>", [c("one", "1.0"), f"%y = mul(%a, %one) : {V}", "return(%y)"],
                ["return(%a)"]),
    "add-zero-left": ("%a: tensor<?xf64>", [c("z", "0.0"), f"%y = add(%z, %a) : {V}", "return(%y)"],
                      ["return(%a)"]),
    "sub-zero": ("%a: tensor<?xf64>", [c("z", "0.0"), f"%y = sub(%a, %z) : {V}", "return(%y)"],
                 ["return(%a)"]),
    "div-one": ("%a: tensor<?xf64>", [c("one", "1.0"), f"%y = div(%a, %one) : {V}", "return(%y)"],
                ["return(%a)"]),
    "pow-one": ("%a: tensor<?xf64>", [c("one", "1.0"), f"%y = pow(%a, %one) : {V}", "return(%y)"],
                ["return(%a)"]),
    "zero-sub": ("%a: tensor<?xf64>", [c("z", "0.0"), f"%y = sub(%z, %a) : {V}", "return(%y)"],
                 [f"%y = neg(%a) : {V}", "return(%y)"]),
    "mul-minus-one": ("%a: tensor<?xf64>", [c("m", "-1.0"), f"%y = mul(%m, %a) : {V}", "return(%y)"],
                      [f"%y = neg(%a) : {V}", "return(%y)"]),
    "neg-neg": ("%a: tensor<?xf64>", [f"%0 = neg(%a) : {V}", f"%1 = neg(%0) : {V}", "return(%1)"],
                ["return(%a)"]),
    "sub-neg": ("%a: tensor<?xf64>, %b: tensor<?xf64>",
                [f"%0 = neg(%b) : {V}", f"%y = sub(%a, %0) : {V}", "return(%y)"],
                [f"%y = add(%a, %b) : {V}", "return(%y)"]),
    "abs-neg": ("%a: tensor<?xf64>", [f"%0 = neg(%a) : {V}", f"%y = abs(%0) : {V}", "return(%y)"],
                [f"%y = abs(%a) : {V}", "return(%y)"]),
    # powers
    "pow-two": ("%a: tensor<?xf64>", [c("two", "2.0"), f"%y = pow(%a, %two) : {V}", "return(%y)"],
                [f"%y = mul(%a, %a) : {V}", "return(%y)"]),
    "pow-half": ("%a: tensor<?xf64>", [c("h", "0.5"), f"%y = pow(%a, %h) : {V}", "return(%y)"],
                 [f"%y = sqrt(%a) : {V}", "return(%y)"]),
    "pow-minus-one": ("%a: tensor<?xf64>", [c("m", "-1.0"), f"%y = pow(%a, %m) : {V}", "return(%y)"],
                      [c("0", "1.0"), f"%y = div(%0, %a) : {V}", "return(%y)"]),
    "pow-zero": ("%a: tensor<3xf64>", [c("z", "0.0"), "%y = pow(%a, %z) : tensor<3xf64>", "return(%y)"],
                 [c("y", "[1.0, 1.0, 1.0]", "tensor<3xf64>"), "return(%y)"]),
    "pow-two-int": ("%i: tensor<?xi32>", [c("two", "2", "tensor<i32>"), "%y = pow(%i, %two) : tensor<?xi32>",
                                          "return(%y)"],
                    ["%y = mul(%i, %i) : tensor<?xi32>", "return(%y)"]),
    # exp and log
    "log-exp": ("%a: tensor<?xf64>", [f"%0 = exp(%a) : {V}", f"%y = log(%0) : {V}", "return(%y)"],
                ["return(%a)"]),
    "exp-log-of-nonneg": ("%a: tensor<?xf64>",
                          [f"%0 = abs(%a) : {V}", f"%1 = log(%0) : {V}", f"%y = exp(%1) : {V}", "return(%y)"],
                          [f"%y = abs(%a) : {V}", "return(%y)"]),
    # integers: x - x and x * 0 are exact
    "sub-self-int": ("%i: tensor<?xi64>", ["%y = sub(%i, %i) : tensor<?xi64>", "return(%y)"],
                     ["%0 = shape(%i) : tensor<1xi64>",
                      "%1 = subtensor(%0) {idx = [0]} : tensor<i64>",
                      "%2 = constant() {value = dense<0>} : tensor<i64>",
                      "%y = alloc(%2, %1) {shape = [?]} : tensor<?xi64>", "return(%y)"]),
    "mul-zero-int-0d": ("%i: tensor<i32>", [c("z", "0", "tensor<i32>"), "%y = mul(%i, %z) : tensor<i32>",
                                            "return(%y)"],
                        [c("y", "0", "tensor<i32>"), "return(%y)"]),
    # normal forms
    "commute-constant-last": ("%a: tensor<?xf64>", [c("k", "3.0"), f"%y = add(%k, %a) : {V}", "return(%y)"],
                              [c("k", "3.0"), f"%y = add(%a, %k) : {V}", "return(%y)"]),
    "commute-definition-order": ("%a: tensor<?xf64>, %b: tensor<?xf64>",
                                 [f"%y = mul(%b, %a) : {V}", "return(%y)"],
                                 [f"%y = mul(%a, %b) : {V}", "return(%y)"]),
    "cast-same": ("%a: tensor<?xf64>", [f'%y = cast(%a) {{dtype = "float64"}} : {V}', "return(%y)"],
                  ["return(%a)"]),
    "cast-cast-lossless": ("%i: tensor<?xi32>",
                           ['%0 = cast(%i) {dtype = "int64"} : tensor<?xi64>',
                            f'%y = cast(%0) {{dtype = "float64"}} : {V}', "return(%y)"],
                           [f'%y = cast(%i) {{dtype = "float64"}} : {V}', "return(%y)"]),
    "cast-roundtrip": ("%i: tensor<?xi32>",
                       ['%0 = cast(%i) {dtype = "float64"} : tensor<?xf64>',
                        '%y = cast(%0) {dtype = "int32"} : tensor<?xi32>', "return(%y)"],
                       ["return(%i)"]),
    "double-transpose": ("%m: tensor<?x3xf64>",
                         ["%0 = dimshuffle(%m) {pattern = [1, 0]} : tensor<3x?xf64>",
                          "%y = dimshuffle(%0) {pattern = [1, 0]} : tensor<?x3xf64>", "return(%y)"],
                         ["return(%m)"]),
    "dimshuffle-compose": ("%m: tensor<?x3xf64>",
                           ["%0 = dimshuffle(%m) {pattern = [1, \"x\", 0]} : tensor<3x1x?xf64>",
                            "%y = dimshuffle(%0) {pattern = [2, 0]} : tensor<?x3xf64>", "return(%y)"],
                           ["return(%m)"]),
    "reshape-reshape": ("%m: tensor<4x3xf64>",
                        ["%0 = reshape(%m) {shape = [12]} : tensor<12xf64>",
                         "%y = reshape(%0) {shape = [2, -1]} : tensor<2x6xf64>", "return(%y)"],
                        ["%y = reshape(%m) {shape = [2, -1]} : tensor<2x6xf64>", "return(%y)"]),
    "div-by-power-of-two": ("%a: tensor<?xf64>", [c("k", "4.0"), f"%y = div(%a, %k) : {V}", "return(%y)"],
                            [c("0", "0.25"), f"%y = mul(%a, %0) : {V}", "return(%y)"]),
    "sum-of-broadcast-scalar": ("%s: tensor<f64>, %n: tensor<i64>",
                                ["%0 = alloc(%s, %n) {shape = [?, 4]} : tensor<?x4xf64>",
                                 "%y = sum(%0) {axes = [0, 1], keepdims = false} : tensor<f64>", "return(%y)"],
                                [c("0", "4.0"), '%1 = cast(%n) {dtype = "float64"} : tensor<f64>',
                                 "%2 = mul(%1, %0) : tensor<f64>",
                                 "%y = mul(%s, %2) : tensor<f64>", "return(%y)"]),
    "sum-over-no-axes": ("%a: tensor<?xf64>", [f"%y = sum(%a) {{axes = [], keepdims = false}} : {V}",
                                               "return(%y)"],
                         ["return(%a)"]),
    "stop-gradient": ("%a: tensor<?xf64>", [f'%y = stop_gradient(%a) {{kind = "zero"}} : {V}', "return(%y)"],
                      ["return(%a)"]),
    "fold-then-identity": ("%a: tensor<?xf64>",
                           [c("two", "2.0"), c("one", "1.0"), "%e = sub(%two, %one) : tensor<f64>",
                            f"%y = pow(%a, %e) : {V}", "return(%y)"],
                           ["return(%a)"]),
}


# --- what canonicalize must not do -------------------------------------------------------
KEPT = {
    # IEEE: x*0 is NaN for NaN and inf, x - x too, x/x is NaN for 0 and inf
    "mul-zero-float": ("%a: tensor<?xf64>", [c("z", "0.0"), f"%y = mul(%a, %z) : {V}", "return(%y)"]),
    "sub-self-float": ("%a: tensor<?xf64>", [f"%y = sub(%a, %a) : {V}", "return(%y)"]),
    "div-self-float": ("%a: tensor<?xf64>", [f"%y = div(%a, %a) : {V}", "return(%y)"]),
    # 1/3 is not exact
    "div-by-three": ("%a: tensor<?xf64>", [c("k", "3.0"), f"%y = div(%a, %k) : {V}", "return(%y)"]),
    # exp(log x) is NaN for negative x
    "exp-log": ("%a: tensor<?xf64>", [f"%0 = log(%a) : {V}", f"%y = exp(%0) : {V}", "return(%y)"]),
    # the ones broadcast a to 2x3: the result is not a
    "mul-one-broadcasting": ("%a: tensor<3xf64>",
                             [c("one", "[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]", "tensor<2x3xf64>"),
                              "%y = mul(%a, %one) : tensor<2x3xf64>", "return(%y)"]),
    # a of unknown size might be 1 and broadcast against the 3 ones
    "mul-one-unknown-size": ("%a: tensor<?xf64>",
                             [c("one", "[1.0, 1.0, 1.0]", "tensor<3xf64>"),
                              "%y = mul(%a, %one) : tensor<3xf64>", "return(%y)"]),
    # f64 -> i32 loses information
    "cast-lossy": ("%a: tensor<?xf64>", ['%0 = cast(%a) {dtype = "int32"} : tensor<?xi32>',
                                         f'%y = cast(%0) {{dtype = "float64"}} : {V}', "return(%y)"]),
}


test_rule, test_not_rewritten = rule_tests("canonicalize", CASES, KEPT)


FAST = {
    "mul-zero": ("%a: tensor<f64>", [c("z", "0.0"), "%y = mul(%a, %z) : tensor<f64>", "return(%y)"],
                 [c("y", "0.0"), "return(%y)"]),
    "sub-self": ("%a: tensor<3xf64>", ["%y = sub(%a, %a) : tensor<3xf64>", "return(%y)"],
                 [c("y", "[0.0, 0.0, 0.0]", "tensor<3xf64>"), "return(%y)"]),
    "div-self": ("%a: tensor<f64>", ["%y = div(%a, %a) : tensor<f64>", "return(%y)"],
                 [c("y", "1.0"), "return(%y)"]),
    "div-by-three": ("%a: tensor<?xf64>", [c("k", "3.0"), f"%y = div(%a, %k) : {V}", "return(%y)"],
                     [c("0", "0.3333333333333333"), f"%y = mul(%a, %0) : {V}", "return(%y)"]),
    "exp-log": ("%a: tensor<?xf64>", [f"%0 = log(%a) : {V}", f"%y = exp(%0) : {V}", "return(%y)"],
                ["return(%a)"]),
}


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_math_option(name):
    args, before, after = FAST[name]
    assert run_pass("canonicalize{fast-math=true}", fn(args, *before)) == fn(args, *after)


def test_fold_option_off_keeps_constant_ops():
    text = fn("", c("a", "2.0"), c("b", "3.0"), "%y = mul(%a, %b) : tensor<f64>", "return(%y)")
    assert run_pass("canonicalize{fold=false}", text) == text
    assert run_pass("canonicalize", text) == fn("", c("y", "6.0"), "return(%y)")


# --- on graphs from the DSL ----------------------------------------------------------------
def test_grad_of_square_is_as_small_as_two_times_a():
    a = T.scalar("a")
    grad = optimized([a], [theon.grad(a ** 2, a)], "canonicalize,cse,dce")
    plain = optimized([a], [2 * a], "canonicalize,cse,dce")
    assert count_ops(grad) == count_ops(plain) == 2
    m = T.matrix("m")
    grad = optimized([m], [theon.grad((m ** 2).sum(), m)], "canonicalize,cse,dce")
    assert count_ops(grad) == 2
    assert [op.name for op in grad.body.ops] == ["constant", "mul", "return"]


def test_chain_of_identities_is_as_small_as_the_plain_expression():
    x = T.matrix("x")
    chained = -(-((T.exp(T.log(T.exp(x * 1 + 0))) ** 1) / 1 - 0)) * 1.0
    f = optimized([x], [chained], "canonicalize,cse,dce")
    assert count_ops(f) == count_ops(optimized([x], [T.exp(x)], "canonicalize")) == 1


def test_commuted_operands_meet_in_cse():
    x, y = T.vector("x"), T.vector("y")
    f = optimized([x, y], [x * y + y * x, (x + 1) - (1 + x)], "canonicalize,cse,dce")
    assert [op.name for op in f.body.ops].count("mul") == 1
    assert [op.name for op in f.body.ops].count("add") == 2
