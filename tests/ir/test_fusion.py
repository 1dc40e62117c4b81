"""fuse-elementwise and the fused op: IR text in and out (round trips
included), the verifier's rules, the NumPy reference, and native fused code
against the unfused graph's reference on many graphs."""
import re
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.parser import ParseError, parse_function
from theon.ir.ops.fused import summary
from theon.ir.printer import print_function
from theon.passes import PASSES, PassManager, parse_pipeline
from theon.passes.fusion import FuseElementwise, SplitFusedStages
from ..pass_helpers import fn, run_pass

REGISTRY = {**PASSES, "fuse-elementwise": FuseElementwise}
PIPELINE = "canonicalize,cse,simplify-shapes,stabilize,canonicalize,cse,fuse-elementwise,dce"
V = "tensor<?xf32>"
M = "tensor<?x?xf64>"


def fuse(text, options=""):
    return run_pass(f"fuse-elementwise{options},dce", text, registry=REGISTRY)


def top_ops(text):
    """Names of the function body's ops (not those inside regions)."""
    return re.findall(r"^  (?:%[\w.]+(?:, %[\w.]+)* = )?(\w+)\(", text, re.M)


# --- the pass, IR text in and out ---------------------------------------------------------------
def test_a_chain_becomes_one_loop():
    text = fn(f"%a: {V}, %b: {V}, %c: {V}",
              f"%0 = exp(%a) : {V}", f"%1 = mul(%0, %b) : {V}", f"%2 = mul(%c, %c) : {V}",
              f"%3 = log1p(%2) : {V}", f"%y = add(%1, %3) : {V}", "return(%y)")
    assert fuse(text) == (
        "func @f(%a: tensor<?xf32>, %b: tensor<?xf32>, %c: tensor<?xf32>) {\n"
        "  %y = fused(%a, %b, %c) ({\n"
        "    ^bb(%0: tensor<f32>, %1: tensor<f32>, %2: tensor<f32>):\n"
        "      %3 = exp(%0) : tensor<f32>\n"
        "      %4 = mul(%3, %1) : tensor<f32>\n"
        "      %5 = mul(%2, %2) : tensor<f32>\n"
        "      %6 = log1p(%5) : tensor<f32>\n"
        "      %7 = add(%4, %6) : tensor<f32>\n"
        "      yield(%7)\n"
        "  }) {parallel = 56988} : tensor<?xf32>\n"
        "  return(%y)\n"
        "}\n")


def test_siblings_reading_one_input_write_all_results_in_one_loop():
    text = fn(f"%a: {M}", f"%0 = exp(%a) : {M}", f"%1 = log(%a) : {M}", f"%2 = mul(%a, %a) : {M}",
              "return(%0, %1, %2)")
    out = fuse(text, "{parallel=0}")
    assert top_ops(out) == ["fused", "return"]
    assert "yield(%4, %5, %6)" in out and "parallel" not in out
    assert f") : {M}, {M}, {M}\n" in out


def test_a_reduction_takes_its_producers_without_a_temporary():
    text = fn(f"%a: {V}, %b: {V}", f"%0 = mul(%a, %b) : {V}",
              "%s = sum(%0) {axes = [0], keepdims = false} : tensor<f32>", "return(%s)")
    assert fuse(text, "{parallel=1000, threads=4}") == (
        "func @f(%a: tensor<?xf32>, %b: tensor<?xf32>) {\n"
        "  %s = fused(%a, %b) ({\n"
        "    ^bb(%0: tensor<f32>, %1: tensor<f32>):\n"
        "      %2 = mul(%0, %1) : tensor<f32>\n"
        "      yield(%2)\n"
        '  }) {axes = [0], keepdims = false, parallel = 1000, reduce = ["sum"], threads = 4} : tensor<f32>\n'
        "  return(%s)\n"
        "}\n")


SOFTMAX = fn(f"%x: {M}",
             "%0 = max(%x) {axes = [1], keepdims = true} : tensor<?x1xf64>",
             f"%1 = sub(%x, %0) : {M}", f"%2 = exp(%1) : {M}",
             "%3 = sum(%2) {axes = [1], keepdims = true} : tensor<?x1xf64>",
             f"%4 = div(%2, %3) : {M}", "return(%4)")


def test_softmax_is_one_op_whose_stages_run_row_by_row():
    out = fuse(SOFTMAX, "{parallel=0}")
    assert out == (
        "func @f(%x: tensor<?x?xf64>) {\n"
        "  %0, %1, %2 = fused(%x) ({\n"
        "    ^bb(%3: tensor<f64>):\n"
        "      yield(%3)\n"
        "  }, {\n"
        "    ^bb(%4: tensor<f64>, %5: tensor<f64>):\n"
        "      %6 = sub(%4, %5) : tensor<f64>\n"
        "      %7 = exp(%6) : tensor<f64>\n"
        "      yield(%7)\n"
        "  }, {\n"
        "    ^bb(%8: tensor<f64>, %9: tensor<f64>, %10: tensor<f64>):\n"
        "      %11 = sub(%8, %9) : tensor<f64>\n"
        "      %12 = exp(%11) : tensor<f64>\n"
        "      %13 = div(%12, %10) : tensor<f64>\n"
        "      yield(%13)\n"
        '  }) {axes = [1], keepdims = true, reduce = ["max", "sum", none]} '
        ": tensor<?x1xf64>, tensor<?x1xf64>, tensor<?x?xf64>\n"
        "  return(%2)\n"
        "}\n")


def test_softmax_recomputes_exp_instead_of_writing_it():
    out = fuse(SOFTMAX, "{stages=false}")
    assert top_ops(out) == ["fused", "fused", "fused", "return"]
    assert out.count("exp(") == 2 and 'reduce = ["max"]' in out and 'reduce = ["sum"]' in out
    assert len(re.findall(r"\) \{[^}]*\} : tensor<\?x\?xf64>\n", out)) == 1     # only the result is full size


def test_without_recompute_the_shared_value_is_a_second_result():
    out = fuse(SOFTMAX, "{recompute=0, stages=false}")
    assert top_ops(out) == ["fused", "fused", "fused", "return"]
    assert out.count("exp(") == 1
    assert 'reduce = [none, "sum"]} : tensor<?x?xf64>, tensor<?x1xf64>' in out


def test_a_value_other_ops_need_is_written_too():
    text = fn(f"%a: {M}, %w: {M}", f"%0 = tanh(%a) : {M}", f"%1 = matmul(%0, %w) : {M}",
              f"%2 = mul(%0, %0) : {M}", "return(%1, %2)")
    out = fuse(text)
    assert top_ops(out) == ["fused", "matmul", "return"]
    assert f"yield(%3, %4)\n  }}) {{parallel = 109227}} : {M}, {M}" in out


def test_no_group_spans_a_path_through_an_outside_op():
    text = fn(f"%a: {M}, %w: {M}", f"%0 = exp(%a) : {M}", f"%1 = matmul(%0, %w) : {M}",
              f"%2 = add(%0, %1) : {M}", "return(%2)")
    assert top_ops(fuse(text)) == ["fused", "matmul", "fused", "return"]


def test_a_statically_broadcast_producer_is_not_recomputed_per_element():
    text = fn(f"%x: {M}, %r: tensor<?x1xf64>", "%0 = exp(%r) : tensor<?x1xf64>",
              f"%1 = add(%x, %0) : {M}", "return(%1)")
    out = fuse(text)
    assert top_ops(out) == ["fused", "fused", "return"]
    assert "exp(%" in out.split("fused(")[1] and "add(%" in out.split("fused(")[2]


def test_heavier_loops_split_across_threads_sooner():
    text = fn(f"%a: {V}, %b: {V}", f"%0 = mul(%a, %b) : {V}", f"%1 = exp(%a) : {V}", f"%2 = tanh(%1) : {V}",
              "return(%0, %2)")
    out = fuse(text, "{parallel=1000}")
    cheap, heavy = re.findall(r"parallel = (\d+)", out)
    assert int(cheap) == 1000 * 5 // 4 and int(heavy) == -(-1000 * 5 // 18)     # costs 4 and 8+8+2
    assert "parallel" not in fuse(text, "{parallel=0}")


def test_options_limit_groups():
    text = fn(f"%a: {V}", f"%0 = exp(%a) : {V}", f"%1 = neg(%0) : {V}", f"%2 = abs(%1) : {V}",
              "%3 = sum(%2) {axes = [0], keepdims = false} : tensor<f32>", "return(%3)")
    assert top_ops(fuse(text, "{max-ops=2}")) == ["fused", "fused", "return"]
    out = fuse(text, "{reductions=false}")
    assert top_ops(out) == ["fused", "sum", "return"]


def test_scalar_work_is_left_alone_but_scalar_chains_fuse():
    one = fn("%s: tensor<f64>", "%0 = mul(%s, %s) : tensor<f64>", "return(%0)")
    assert fuse(one) == one
    two = fn("%s: tensor<f64>", "%0 = mul(%s, %s) : tensor<f64>", "%1 = exp(%0) : tensor<f64>", "return(%1)")
    assert top_ops(fuse(two)) == ["fused", "return"]


def test_scalar_constants_move_into_the_region():
    text = fn(f"%a: {M}", "%c = constant() {value = dense<2.0>} : tensor<f64>", f"%0 = mul(%a, %c) : {M}",
              "%1 = sum(%0) {axes = [0], keepdims = true} : tensor<1x?xf64>", "return(%0, %1)")
    out = fuse(text)
    assert top_ops(out) == ["fused", "return"]
    assert "constant() {value = dense<2.0>} : tensor<f64>" in out.split("^bb")[1]
    assert 'reduce = [none, "sum"]' in out


def test_reductions_over_other_axes_and_argmax_stay_apart():
    text = fn(f"%a: {M}", f"%0 = exp(%a) : {M}",
              "%1 = sum(%0) {axes = [0], keepdims = false} : tensor<?xf64>",
              "%2 = max(%0) {axes = [1], keepdims = false} : tensor<?xf64>",
              "%3 = argmax(%0) {axis = 1, keepdims = false} : tensor<?xi64>", "return(%1, %2, %3)")
    out = fuse(text)
    assert top_ops(out).count("fused") >= 2 and "argmax" in top_ops(out)


def test_fused_ir_round_trips_through_text():
    func, _ = build_function(*_mlp_like())
    PassManager(parse_pipeline(PIPELINE, REGISTRY), verify_each=True).run(func)
    text = print_function(func)
    assert "fused(" in text and "yield(" in text
    assert print_function(parse_function(text)) == text


def _mlp_like():
    x, w, y = T.dmatrix("x"), T.dmatrix("w"), T.dmatrix("y")
    h = T.tanh(T.dot(x, w) + 1.0)
    cost = ((nnet_softmax(h) - y) ** 2).sum()
    return [x, w, y], [cost] + theon.grad(cost, [w]), []


def nnet_softmax(h):
    return T.nnet.softmax(h)


def _random_graph(rng, x, v):
    """A random DAG over a matrix and a vector: elementwise ops, reductions
    with and without keepdims, values used several times, several outputs."""
    pool = [x, v, x * 2.0]
    for _ in range(rng.integers(4, 14)):
        a = pool[rng.integers(len(pool))]
        b = pool[rng.integers(len(pool))]
        kind = rng.integers(7)
        if kind == 0:
            new = T.exp(-abs(a)) + b
        elif kind == 1:
            new = a * b - 1.5
        elif kind == 2:
            new = T.tanh(a) / (1.0 + b * b)
        elif kind in (3, 4) and a.ndim == 2:
            axis = int(rng.integers(2))
            reduce = [T.sum, T.max, T.min][rng.integers(3)]
            new = reduce(a, axis=axis, keepdims=bool(rng.integers(2))) + 0.5
        elif kind == 5 and a.ndim == 2:
            new = T.nnet.softmax(a, axis=int(rng.integers(2)))
        else:
            new = T.maximum(a, b) if a.ndim == b.ndim else a + 1.0
        pool.append(new)
    picks = rng.choice(np.arange(2, len(pool)), size=min(3, len(pool) - 2), replace=False)
    return [pool[k] for k in picks]


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_keep_their_values(seed):
    rng = np.random.default_rng(seed)
    x, v = T.dmatrix("x"), T.dvector("v")
    outputs = _random_graph(rng, x, v)
    values = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    try:
        plain, _ = build_function([x, v], outputs, [])
        want = evaluate(plain, values)[0]
    except ValueError:           # a reduced axis broadcast against a kept one: an invalid program
        return
    for options in ("", "{recompute=0}", "{stages=false}", "{max-ops=3}"):
        func, _ = build_function([x, v], outputs, [])
        PassManager(parse_pipeline(f"canonicalize,cse,fuse-elementwise{options},dce", REGISTRY),
                    verify_each=True).run(func)
        text = print_function(func)
        assert print_function(parse_function(text)) == text
        with np.errstate(all="ignore"):
            got = evaluate(func, values)[0]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


# --- the verifier ---------------------------------------------------------------------------------
GOOD = """\
func @f(%x: tensor<?x?xf32>, %m: tensor<?x1xf32>) {
  %e, %s = fused(%x, %m) ({
    ^bb(%a: tensor<f32>, %b: tensor<f32>):
      %0 = sub(%a, %b) : tensor<f32>
      %c = constant() {value = dense<2.0>} : tensor<f32>
      %1 = exp(%0) : tensor<f32>
      %2 = mul(%1, %c) : tensor<f32>
      yield(%2, %1)
  }) {axes = [1], keepdims = true, parallel = 65536, reduce = [none, "sum"]} : tensor<?x?xf32>, tensor<?x1xf32>
  return(%e, %s)
}
"""


def test_good_fused_text_round_trips():
    assert print_function(parse_function(GOOD)) == GOOD


@pytest.mark.parametrize("old,new,message", [
    ("      yield(%2, %1)\n", "      yield(%2, %1)\n      %9 = neg(%2) : tensor<f32>\n", "must end with yield"),
    ("%0 = sub(%a, %b)", "%0 = sub(%a, %a)", None),
    ('reduce = [none, "sum"]', 'reduce = [none, "mean"]', "reduce entries"),
    ('reduce = [none, "sum"]', 'reduce = ["sum"]', "one entry per yielded value"),
    ("axes = [1], keepdims = true, ", "", "needs the attributes axes and keepdims"),
    ("axes = [1]", "axes = [2]", "axis 2 is out of range"),
    ("parallel = 65536", "parallel = -1", "parallel must be a non-negative int"),
    ("%1 = exp(%0) : tensor<f32>", "%1 = sum(%0) {axes = [], keepdims = false} : tensor<f32>",
     "only elementwise ops"),
])
def test_verifier_rejects_malformed_fused_ops(old, new, message):
    assert old in GOOD
    bad = GOOD.replace(old, new)
    if message is None:      # a legal variant
        parse_function(bad)
        return
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_function(bad, "bad.ir")


@pytest.mark.parametrize("region,message", [
    ("^bb(%a: tensor<f64>):\n      yield(%a)", "argument 0 must be tensor of float32"),
    ("^bb(%a: tensor<f32>):\n      %1 = mul(%a, %s) : tensor<f32>\n      yield(%1)", "defined outside"),
    ("^bb(%a: tensor<f32>, %b: tensor<f32>):\n      yield(%a)", "takes 2 arguments for 1 operands"),
    ("^bb(%a: tensor<f32>):\n      yield(%s)", "defined outside"),
])
def test_regions_see_only_their_arguments(region, message):
    result = "tensor<?xf64>" if "f64" in region else "tensor<?xf32>"
    text = (f"func @f(%x: tensor<?xf32>, %s: tensor<f32>) {{\n  %0 = fused(%x) ({{\n    {region}\n  }})"
            f" : {result}\n  return(%0)\n}}\n")
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_function(text)


def test_yield_only_ends_a_fused_region():
    with pytest.raises(ParseError, match="yield is only allowed"):
        parse_function("func @f(%x: tensor<f32>) {\n  yield(%x)\n  return(%x)\n}\n")


STAGES = """\
func @f(%x: tensor<?x?xf64>) {
  %m, %s, %y = fused(%x) ({
    ^bb(%a: tensor<f64>):
      yield(%a)
  }, {
    ^bb(%b: tensor<f64>, %c: tensor<f64>):
      %0 = sub(%b, %c) : tensor<f64>
      %1 = exp(%0) : tensor<f64>
      yield(%1)
  }, {
    ^bb(%d: tensor<f64>, %e: tensor<f64>, %f: tensor<f64>):
      %2 = sub(%d, %e) : tensor<f64>
      %3 = exp(%2) : tensor<f64>
      %4 = div(%3, %f) : tensor<f64>
      yield(%4)
  }) {axes = [1], keepdims = false, reduce = ["max", "sum", none]} : tensor<?xf64>, tensor<?xf64>, tensor<?x?xf64>
  return(%y)
}
"""


@pytest.mark.parametrize("old,new,message", [
    ("^bb(%b: tensor<f64>, %c: tensor<f64>)", "^bb(%b: tensor<f64>, %c: tensor<f64>, %z: tensor<f64>)",
     "region 1 takes 3 arguments for 2 operands and earlier reduced results"),
    ("axes = [1]", "axes = [0]", "several stages (regions) need a reduction over the last axis"),
])
def test_stages_take_the_reductions_of_the_stages_before(old, new, message):
    assert print_function(parse_function(STAGES)) == STAGES
    assert old in STAGES
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_function(STAGES.replace(old, new))


def test_summary_names_each_stage():
    op = parse_function(STAGES).body.ops[0]
    assert summary(op) == "fused[copy -> max | sub, exp -> sum | sub, exp, div]"


def test_reference_of_stages_broadcasts_earlier_reductions_back():
    x = np.random.default_rng(1).standard_normal((4, 6))
    (y,), _ = evaluate(parse_function(STAGES), [x])
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-14)


def test_split_fused_stages_gives_one_op_per_stage():
    registry = {"split-fused-stages": SplitFusedStages}
    out = run_pass("split-fused-stages", STAGES, registry=registry)
    assert top_ops(out) == ["fused", "dimshuffle", "fused", "dimshuffle", "fused", "return"]
    assert '%0 = dimshuffle(%m) {pattern = [0, "x"]} : tensor<?x1xf64>' in out
    x = np.random.default_rng(2).standard_normal((3, 5))
    np.testing.assert_allclose(evaluate(parse_function(out), [x])[0][0],
                               evaluate(parse_function(STAGES), [x])[0][0], rtol=1e-15)
    assert run_pass("split-fused-stages", GOOD, registry=registry) == GOOD


# --- the reference ----------------------------------------------------------------------------------
def test_reference_of_fused_ops_equals_the_unfused_graph():
    rng = np.random.default_rng(0)
    fused = parse_function(fuse(SOFTMAX, "{recompute=0, stages=false}"))
    plain = parse_function(SOFTMAX)
    x = rng.standard_normal((5, 7))
    np.testing.assert_allclose(evaluate(fused, [x])[0][0], evaluate(plain, [x])[0][0], rtol=1e-12)
    op = fused.body.ops[1]
    mags = op.opdef.magnitude(op, x, x.max(axis=1, keepdims=True))
    assert mags[1].shape == (5, 1) and np.all(mags[1] > 0)
