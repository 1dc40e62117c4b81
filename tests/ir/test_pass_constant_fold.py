"""constant-fold: IR text in, IR text out."""
import numpy as np

import theon.tensor as T
from theon.ir.dialect import OPS

from ..op_helpers import Identity, SameType
from ..pass_helpers import count_ops, fn, optimized, run_pass


def test_constant_subgraph_becomes_one_constant():
    text = fn("%a: tensor<3xf64>",
              "%c = constant() {value = dense<[1.0, 2.0, 4.0]>} : tensor<3xf64>",
              "%two = constant() {value = dense<2.0>} : tensor<f64>",
              "%0 = mul(%c, %two) : tensor<3xf64>",
              "%1 = log(%0) : tensor<3xf64>",
              "%2 = sum(%1) {axes = [0], keepdims = true} : tensor<1xf64>",
              "%y = add(%a, %2) : tensor<3xf64>",
              "return(%y)")
    assert run_pass("constant-fold", text) == fn(
        "%a: tensor<3xf64>",
        "%0 = constant() {value = dense<[4.1588830833596715]>} : tensor<1xf64>",
        "%y = add(%a, %0) : tensor<3xf64>",
        "return(%y)")


def test_folding_keeps_dtype_and_numpy_semantics():
    text = fn("",
              "%a = constant() {value = dense<[1.0, -1.0]>} : tensor<2xf32>",
              "%z = constant() {value = dense<0.0>} : tensor<f32>",
              "%q = div(%a, %z) : tensor<2xf32>",
              "%i = constant() {value = dense<[7, -7]>} : tensor<2xi32>",
              "%k = constant() {value = dense<0>} : tensor<i32>",
              "%r = floordiv(%i, %k) : tensor<2xi32>",
              "return(%q, %r)")
    assert run_pass("constant-fold", text) == fn(
        "",
        "%q = constant() {value = dense<[inf, -inf]>} : tensor<2xf32>",
        "%r = constant() {value = dense<[0, 0]>} : tensor<2xi32>",
        "return(%q, %r)")


def test_size_limit_keeps_large_results_symbolic():
    text = fn("",
              "%z = constant() {value = dense<0.0>} : tensor<f64>",
              "%y = alloc(%z) {shape = [2, 3]} : tensor<2x3xf64>",
              "return(%y)")
    assert run_pass("constant-fold{max-elements=4}", text) == text
    assert run_pass("constant-fold", text) == fn(
        "", "%y = constant() {value = dense<[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]>} : tensor<2x3xf64>",
        "return(%y)")


def test_results_as_large_as_an_operand_are_folded_despite_the_limit():
    text = fn("",
              "%c = constant() {value = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>} : tensor<6xf64>",
              "%y = neg(%c) : tensor<6xf64>",
              "return(%y)")
    assert run_pass("constant-fold{max-elements=2}", text) == fn(
        "", "%y = constant() {value = dense<[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]>} : tensor<6xf64>",
        "return(%y)")


def test_non_constant_operands_and_dynamic_sizes_stay():
    text = fn("%a: tensor<?xf64>, %n: tensor<i64>",
              "%c = constant() {value = dense<2.0>} : tensor<f64>",
              "%0 = mul(%a, %c) : tensor<?xf64>",
              "%1 = alloc(%c, %n) {shape = [?]} : tensor<?xf64>",
              "return(%0, %1)")
    assert run_pass("constant-fold", text) == text


class Fails(SameType):
    """Test-only: an op whose reference always raises (a run-time error)."""
    name = "test.fails"

    def reference(self, op, x):
        raise ValueError("fails at run time")


class Effect(Identity):
    name = "test.effect"
    pure = False


def test_ops_that_fail_or_have_effects_are_not_folded():
    ops = {**OPS, "test.fails": Fails(), "test.effect": Effect()}
    text = fn("",
              "%c = constant() {value = dense<2.0>} : tensor<f64>",
              "%0 = test.fails(%c) : tensor<f64>",
              "%1 = test.effect(%c) : tensor<f64>",
              "return(%0, %1)")
    assert run_pass("constant-fold", text, ops=ops) == text


def test_dsl_constant_expression_compiles_to_one_constant():
    x = T.vector("x")
    c = (T.constant(np.arange(4.0)) * 2 + T.exp(T.constant(0.0))).sum() / 4
    f = optimized([x], [x + c, c], "constant-fold,dce")
    assert count_ops(f) == 2
    assert [op.name for op in f.body.ops] == ["constant", "add", "return"]
    assert float(f.body.ops[0].attrs["value"]) == 4.0
