"""simplify-shapes: IR text in, IR text out."""
import theon
import theon.tensor as T

from ..pass_helpers import optimized, rule_tests

CASES = {
    "shape-of-static": ("%a: tensor<2x3xf64>", ["%s = shape(%a) : tensor<2xi64>", "return(%s)"],
                        ["%s = constant() {value = dense<[2, 3]>} : tensor<2xi64>", "return(%s)"]),
    "known-dim": ("%a: tensor<?x3xf64>",
                  ["%s = shape(%a) : tensor<2xi64>", "%d = subtensor(%s) {idx = [1]} : tensor<i64>", "return(%d)"],
                  ["%d = constant() {value = dense<3>} : tensor<i64>", "return(%d)"]),
    "dim-of-elementwise-is-dim-of-operand": (
        "%a: tensor<?xf64>",
        ["%e = exp(%a) : tensor<?xf64>", "%s = shape(%e) : tensor<1xi64>",
         "%d = subtensor(%s) {idx = [0]} : tensor<i64>", "return(%d)"],
        ["%0 = shape(%a) : tensor<1xi64>", "%d = subtensor(%0) {idx = [0]} : tensor<i64>", "return(%d)"]),
    "dim-of-reduction-keepdims": (
        "%a: tensor<?x?xf64>",
        ["%m = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>", "%x = sub(%a, %m) : tensor<?x?xf64>",
         "%s = shape(%x) : tensor<2xi64>", "%d = subtensor(%s) {idx = [1]} : tensor<i64>", "return(%d)"],
        ["%0 = shape(%a) : tensor<2xi64>", "%d = subtensor(%0) {idx = [1]} : tensor<i64>", "return(%d)"]),
    "dim-of-alloc-is-its-size-operand": (
        "%v: tensor<f64>, %n: tensor<i64>",
        ["%z = alloc(%v, %n) {shape = [?]} : tensor<?xf64>", "%s = shape(%z) : tensor<1xi64>",
         "%d = subtensor(%s) {idx = [0]} : tensor<i64>", "return(%d)"],
        ["return(%n)"]),
    "constant-size-operand-becomes-static": (
        "%v: tensor<f64>, %w: tensor<?xf64>",
        ["%n = constant() {value = dense<4>} : tensor<i64>", "%z = alloc(%v, %n) {shape = [?]} : tensor<?xf64>",
         "%e = add(%z, %w) : tensor<?xf64>", "return(%e)"],
        ["%z = alloc(%v) {shape = [4]} : tensor<4xf64>", "%e = add(%z, %w) : tensor<4xf64>", "return(%e)"]),
    "alloc-to-own-shape": (
        "%a: tensor<?x?xf64>",
        ["%e = exp(%a) : tensor<?x?xf64>", "%s = shape(%a) : tensor<2xi64>",
         "%0 = subtensor(%s) {idx = [0]} : tensor<i64>", "%1 = subtensor(%s) {idx = [1]} : tensor<i64>",
         "%y = alloc(%e, %0, %1) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"],
        ["%e = exp(%a) : tensor<?x?xf64>", "return(%e)"]),
    "sum-to-own-shape": (
        "%a: tensor<?x?xf64>",
        ["%b = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>", "%g = div(%a, %b) : tensor<?x?xf64>",
         "%s = shape(%a) : tensor<2xi64>",
         "%0 = subtensor(%s) {idx = [0]} : tensor<i64>", "%1 = subtensor(%s) {idx = [1]} : tensor<i64>",
         "%y = sum_to(%g, %0, %1) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"],
        ["%b = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>", "%g = div(%a, %b) : tensor<?x?xf64>",
         "return(%g)"]),
    "reshape-to-own-shape": (
        "%a: tensor<?x3xf64>",
        ["%s = shape(%a) : tensor<2xi64>", "%0 = subtensor(%s) {idx = [0]} : tensor<i64>",
         "%y = reshape(%a, %0) {shape = [?, 3]} : tensor<?x3xf64>", "return(%y)"],
        ["return(%a)"]),
    "broadcast-operand": (
        "%a: tensor<?x?xf64>, %c: tensor<?x1xf64>",
        ["%s = shape(%a) : tensor<2xi64>", "%0 = subtensor(%s) {idx = [0]} : tensor<i64>",
         "%1 = subtensor(%s) {idx = [1]} : tensor<i64>",
         "%b = alloc(%c, %0, %1) {shape = [?, ?]} : tensor<?x?xf64>",
         "%y = add(%a, %b) : tensor<?x?xf64>", "return(%y)"],
        ["%y = add(%a, %c) : tensor<?x?xf64>", "return(%y)"]),
    "alloc-sinks-below-elementwise": (
        "%v: tensor<f64>, %n: tensor<i64>",
        ["%z = alloc(%v, %n) {shape = [?]} : tensor<?xf64>", "%y = neg(%z) : tensor<?xf64>", "return(%y)"],
        ["%0 = neg(%v) : tensor<f64>", "%y = alloc(%0, %n) {shape = [?]} : tensor<?xf64>", "return(%y)"]),
    "alloc-sinks-below-dimshuffle": (
        "%v: tensor<f64>, %n: tensor<i64>",
        ["%z = alloc(%v, %n) {shape = [?]} : tensor<?xf64>",
         "%y = dimshuffle(%z) {pattern = [\"x\", 0]} : tensor<1x?xf64>", "return(%y)"],
        ["%y = alloc(%v, %n) {shape = [1, ?]} : tensor<1x?xf64>", "return(%y)"]),
    "alloc-of-alloc": (
        "%v: tensor<f64>, %n: tensor<i64>, %k: tensor<i64>",
        ["%z = alloc(%v, %n) {shape = [?]} : tensor<?xf64>",
         "%y = alloc(%z, %k, %n) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"],
        ["%y = alloc(%v, %k, %n) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"]),
}


KEPT = {
    # b may be larger than a in either dim at run time: the sum is needed
    "sum-to-of-a-broadcast": (
        "%a: tensor<?x?xf64>, %b: tensor<?x?xf64>",
        ["%g = add(%a, %b) : tensor<?x?xf64>", "%s = shape(%a) : tensor<2xi64>",
         "%0 = subtensor(%s) {idx = [0]} : tensor<i64>", "%1 = subtensor(%s) {idx = [1]} : tensor<i64>",
         "%y = sum_to(%g, %0, %1) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"]),
    # the alloc makes the result larger than a
    "widening-alloc": (
        "%a: tensor<?xf64>, %n: tensor<i64>, %k: tensor<i64>",
        ["%y = alloc(%a, %k, %n) {shape = [?, ?]} : tensor<?x?xf64>", "return(%y)"]),
    # dim 0 of a+b is a's or b's, whichever is not 1: no single value holds it
    "dim-of-a-broadcast": (
        "%a: tensor<?xf64>, %b: tensor<?xf64>",
        ["%e = add(%a, %b) : tensor<?xf64>", "%s = shape(%e) : tensor<1xi64>",
         "%d = subtensor(%s) {idx = [0]} : tensor<i64>", "return(%d)"]),
}


test_rule, test_not_rewritten = rule_tests("simplify-shapes", CASES, KEPT)


def test_gradient_sums_disappear_where_nothing_broadcast():
    x = T.matrix("x")
    p = T.exp(x - x.max(axis=1, keepdims=True))
    cost = (p / p.sum(axis=1, keepdims=True)).sum()
    func = optimized([x], [theon.grad(cost, x)], "simplify-shapes,dce")
    names = [op.name for op in func.body.ops]
    assert "sum_to" not in names and "alloc" not in names
