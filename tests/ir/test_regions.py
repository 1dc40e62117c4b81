"""Regions: ops that own a body (one block, isolated from above, ended by
the terminator their class declares), through the whole IR toolchain.

The region op is ``test.call`` (tests/region_helpers.py), defined and
registered only here: the verifier (structure and isolation), clone and
walk, the interpreter, print/parse and MLIR round trips, every pass (each
must rewrite inside the body, never move a value across its boundary), and
``theon-opt --print-ir-after-all``. ``fuse-elementwise,cse`` must give valid
IR on every fused graph of the fusion tests.
"""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir import dialect
from theon.ir.builder import make_op
from theon.ir.core import Block, Function
from theon.ir.interpreter import evaluate
from theon.ir.mlir import module_to_mlir
from theon.ir.parser import ParseError, parse_function, parse_module
from theon.ir.printer import print_function
from theon.ir.verifier import VerifyError, verify_function
from theon.passes import PASSES, PassManager, parse_pipeline
from theon.runtime import opt_cli
from . import test_fusion as fusion_tests
from ..region_helpers import CALL, Effect, call_op, wrapped  # noqa: F401 (fixture)

F64 = "tensor<?x3xf64>"

# A body where every pass has something to do: mul by one (canonicalize),
# constant arithmetic (constant-fold), shape(x)[1] of a static dim
# (simplify-shapes), log(1 + e) (stabilize), a repeated exp (cse), a dead
# neg (dce), an elementwise chain (fuse-elementwise).
TEXT = f"""\
func @f(%x: {F64}, %w: tensor<3xf64>) {{
  %one = constant() {{value = dense<1.0>}} : tensor<f64>
  %r, %n = {CALL}(%x, %w) ({{
    ^bb(%a: {F64}, %b: tensor<3xf64>):
      %c1 = constant() {{value = dense<1.0>}} : tensor<f64>
      %c2 = constant() {{value = dense<2.0>}} : tensor<f64>
      %c3 = add(%c2, %c1) : tensor<f64>
      %m = mul(%a, %c1) : {F64}
      %e1 = exp(%m) : {F64}
      %e2 = exp(%m) : {F64}
      %s = mul(%e1, %b) : {F64}
      %p = add(%c1, %e2) : {F64}
      %l = log(%p) : {F64}
      %q = mul(%s, %c3) : {F64}
      %t = add(%q, %l) : {F64}
      %dead = neg(%t) : {F64}
      %sh = shape(%a) : tensor<2xi64>
      %d1 = subtensor(%sh) {{idx = [1]}} : tensor<i64>
      yield(%t, %d1)
  }}) : {F64}, tensor<i64>
  %u = mul(%r, %one) : {F64}
  return(%u, %n)
}}
"""


def want(x, w):
    e = np.exp(x)
    return [e * w * 3.0 + np.log1p(e), np.array(3, np.int64)]


def args(seed=0, rows=4):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((rows, 3)), rng.standard_normal(3)]


def call_of(func):
    ops = [op for op in func.walk() if op.name == CALL]
    assert len(ops) == 1
    return ops[0]


def body_ops(func):
    return [op.name for op in call_of(func).regions[0].ops]


def run(pipeline, func):
    PassManager(parse_pipeline(pipeline), verify_each=True).run(func)
    text = print_function(func)
    assert print_function(parse_function(text)) == text      # round trip after the pass
    return func


def check_values(func, seed=0):
    got = evaluate(func, args(seed))[0]
    for g, w in zip(got, want(*args(seed))):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


# --- text, clone, walk ----------------------------------------------------------------------------
def test_region_op_round_trips_through_text_and_mlir(call_op):
    func = parse_function(TEXT)
    assert print_function(func) == TEXT
    assert print_function(parse_function(print_function(func))) == print_function(func)
    mlir = module_to_mlir(parse_module(TEXT))
    assert f'"theon.{CALL}"(%arg0, %arg1) (' in mlir and "^bb0(%r2: tensor<?x3xf64>, %r3: tensor<3xf64>):" in mlir
    assert '"theon.yield"' in mlir and mlir.count("{") == mlir.count("}")


def test_clone_is_equal_and_independent(call_op):
    func = parse_function(TEXT)
    copy = func.clone()
    assert print_function(copy) == print_function(func)
    verify_function(copy)
    old_ids = {id(op) for op in func.walk()} | {id(v) for op in func.walk() for v in op.results}
    for op in copy.walk():
        assert id(op) not in old_ids and all(id(r) not in old_ids for r in op.results)
        for region in op.regions:
            assert region.parent is op and all(inner.parent is region for inner in region.ops)
    run("canonicalize,cse,dce", copy)
    assert print_function(func) == TEXT           # the original is untouched
    assert func.clone("g").name == "g"


def test_walk_pre_and_post_order(call_op):
    func = parse_function(TEXT)
    pre = [op.name for op in func.walk()]
    post = [op.name for op in func.walk("post")]
    assert pre[:3] == ["constant", CALL, "constant"] and pre[-3:] == ["yield", "mul", "return"]
    assert post.index(CALL) == post.index("yield") + 1
    assert sorted(pre) == sorted(post) and len(pre) == 2 + 15 + 2
    call = call_of(func)
    assert [op.name for op in call.walk()][0] == CALL and [op.name for op in call.walk("post")][-1] == CALL
    with pytest.raises(ValueError, match="walk order"):
        list(func.walk("sideways"))


# --- the verifier -------------------------------------------------------------------------------------
def test_good_region_op_verifies(call_op):
    verify_function(parse_function(TEXT))


def test_a_body_using_an_outer_value_is_rejected(call_op):
    bad = TEXT.replace("%m = mul(%a, %c1)", "%m = mul(%a, %one)")
    with pytest.raises(ParseError) as e:
        parse_function(bad, "bad.ir")
    msg = str(e.value)
    assert msg.startswith("bad.ir:8:12: ")
    assert (f"@f op 1 ({CALL}) region 0 op 3 (mul): operand 1 (%one: tensor<f64>) is defined outside the "
            f"region of {CALL}: region bodies are isolated from above (pass the value as an operand of "
            f"{CALL} and use its block argument)") in msg


def test_a_body_yielding_an_outer_value_is_rejected_when_built_in_python(call_op):
    func = parse_function(TEXT)
    call = call_of(func)
    call.regions[0].terminator.set_operand(1, func.args[0])
    with pytest.raises(VerifyError, match="defined outside the region"):
        verify_function(func)


@pytest.mark.parametrize("old,new,message", [
    ("      yield(%t, %d1)\n", "      yield(%t, %d1)\n      %z = neg(%t) : tensor<?x3xf64>\n",
     f"region 0 of {CALL} must end with yield, but its last op is neg"),
    ("      %dead = neg(%t)", "      yield(%t, %t)\n      %dead = neg(%t)",
     f"region 0 of {CALL}: yield must be its last op, but op 11 of 16 is a yield"),
    ("^bb(%a: tensor<?x3xf64>, %b: tensor<3xf64>)", "^bb(%a: tensor<?x3xf64>, %b: tensor<3xf32>)",
     f"region 0 of {CALL}: block argument 1 is tensor<3xf32>, expected tensor<3xf64>"),
    ("^bb(%a: tensor<?x3xf64>, %b: tensor<3xf64>)", "^bb(%a: tensor<?x3xf64>, %b: tensor<3xf64>, %c: tensor<f64>)",
     f"region 0 of {CALL} has 3 block arguments, expected 2"),
    ("  }) : tensor<?x3xf64>, tensor<i64>", "  }, {\n    ^bb():\n      yield()\n  }) : tensor<?x3xf64>, tensor<i64>",
     f"{CALL} takes 1 region, got 2"),
    ("  return(%u, %n)", "  yield(%u)\n  return(%u, %n)", "yield is only allowed at the end of a region"),
    ("      yield(%t, %d1)", "      return(%t, %d1)", "must end with yield, but its last op is return"),
])
def test_malformed_region_ops_are_rejected(call_op, old, new, message):
    assert old in TEXT
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_function(TEXT.replace(old, new))


def test_a_region_op_without_its_region_is_rejected(call_op):
    func = parse_function(TEXT)
    call = call_of(func)
    call.regions = []
    with pytest.raises(VerifyError, match=f"{re.escape(CALL)} takes 1 region, got 0"):
        verify_function(func)


def test_a_block_argument_may_be_less_precise_than_its_operand(call_op):
    static = TEXT.replace("%x: tensor<?x3xf64>", "%x: tensor<4x3xf64>")
    verify_function(parse_function(static))
    wrong = TEXT.replace("^bb(%a: tensor<?x3xf64>", "^bb(%a: tensor<4x3xf64>")
    with pytest.raises(ParseError, match=re.escape("block argument 0 is tensor<4x3xf64>, expected tensor<?x3xf64>")):
        parse_function(wrong)


# --- the interpreter and every pass ------------------------------------------------------------------
def test_interpreter_runs_the_body(call_op):
    check_values(parse_function(TEXT))


def test_canonicalize_rewrites_inside_the_body(call_op):
    func = run("canonicalize", parse_function(TEXT))
    assert "add" not in [op.name for op in call_of(func).regions[0].ops if op.results and
                         op.results[0].type.ndim == 0]          # 2 + 1 folded
    assert "mul(%a, %" not in print_function(func)               # mul(a, 1) -> a
    assert "neg" not in body_ops(func)                           # dead ops go
    check_values(func)


def test_constant_fold_inside_the_body(call_op):
    func = run("constant-fold", parse_function(TEXT))
    assert "dense<3.0>" in print_function(func)
    check_values(func)


def test_simplify_shapes_inside_the_body(call_op):
    func = run("simplify-shapes", parse_function(TEXT))
    assert "shape" not in body_ops(func) and "subtensor" not in body_ops(func)
    assert "dense<3> : tensor<i64>" in print_function(func) or "value = dense<3>" in print_function(func)
    check_values(func)


def test_stabilize_inside_the_body(call_op):
    func = run("stabilize", parse_function(TEXT))
    assert "softplus" in body_ops(func) and "log" not in body_ops(func)      # log(1 + exp(m))
    check_values(func)


def test_cse_inside_the_body_and_never_across_it(call_op):
    func = run("cse", parse_function(TEXT))
    assert body_ops(func).count("exp") == 1
    outer = [op for op in func.body.ops if op.name == "constant"]
    inner = [op for op in call_of(func).regions[0].ops if op.name == "constant"]
    assert len(outer) == 1 and len(inner) == 2        # the equal constants 1.0 stay on their sides
    check_values(func)


def test_dce_inside_the_body_and_of_unused_region_ops(call_op):
    func = run("dce", parse_function(TEXT))
    assert "neg" not in body_ops(func)
    check_values(func)
    unused = TEXT.replace("  return(%u, %n)", "  return(%x)")
    func = run("dce", parse_function(unused))
    assert [op.name for op in func.walk()] == ["return"]


def test_dce_keeps_a_region_op_whose_body_has_side_effects(call_op, monkeypatch):
    monkeypatch.setitem(dialect.OPS, "test.effect", Effect())
    text = TEXT.replace("      yield(%t, %d1)", "      test.effect(%t)\n      yield(%t, %d1)")
    func = run("dce,cse", parse_function(text.replace("  return(%u, %n)", "  return(%x)")))
    assert body_ops(func)[-2:] == ["test.effect", "yield"] and "neg" not in body_ops(func)
    func = run("dce", parse_function(TEXT.replace("  return(%u, %n)", "  return(%x)")))
    assert CALL not in [op.name for op in func.walk()]


def test_fusion_fuses_inside_the_body(call_op):
    func = run("fuse-elementwise,dce", parse_function(TEXT))
    names = body_ops(func)
    assert "fused" in names and "exp" not in names
    body = call_of(func).regions[0]
    assert [op.parent for op in func.walk() if op.name == "fused"] == [body, func.body]   # outer: mul
    for op in func.walk():
        if op.name == "fused":        # every operand comes from the fused op's own block
            assert all(v in op.parent.args or v.owner.parent is op.parent for v in op.operands)
    check_values(func)


def test_split_fused_stages_inside_the_body(call_op):
    x = T.dmatrix("x")
    plain, _ = build_function([x], [T.nnet.softmax(x)])
    func = wrapped(plain)
    run("fuse-elementwise", func)
    staged = [op for op in func.walk() if op.name == "fused"]
    assert len(staged) == 1 and len(staged[0].regions) == 3 and staged[0].parent is not func.body
    run("split-fused-stages", func)
    assert [len(op.regions) for op in func.walk() if op.name == "fused"] == [1, 1, 1]
    v = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_allclose(evaluate(func, [v])[0][0], evaluate(plain, [v])[0][0], rtol=1e-14)


def test_every_pass_keeps_the_body_valid_and_its_values(call_op):
    for name in PASSES:
        func = run(name, parse_function(TEXT))
        assert CALL in [op.name for op in func.walk()]
        check_values(func, seed=2)
    func = run("canonicalize,cse,simplify-shapes,stabilize,canonicalize,cse,fuse-elementwise,dce",
               parse_function(TEXT))
    assert [op.name for op in func.body.ops] == [CALL, "return"]
    check_values(func, seed=3)


# --- theon-opt --------------------------------------------------------------------------------------
def test_theon_opt_prints_the_region_op_after_every_pass(call_op, tmp_path, capsys):
    path = tmp_path / "call.ir"
    path.write_text(TEXT)
    pipeline = "canonicalize,constant-fold,simplify-shapes,stabilize,cse,fuse-elementwise,dce"
    status = opt_cli.main([str(path), "-p", pipeline, "--print-ir-after-all", "--verify-each"])
    out, err = capsys.readouterr()
    assert status == 0, err
    dumps = re.findall(r"// -----// IR Dump After ([\w-]+) //----- //\n(.*?)(?=// -----//|\Z)", err, re.S)
    assert [name for name, _ in dumps] == pipeline.split(",")
    for name, text in dumps:
        assert f"{CALL}(%x, %w) (" in text, name
        parse_module(text)
    assert "fused(" in dumps[-2][1] and "softplus" in out
    func = parse_function(out)
    check_values(func)


def test_theon_opt_reports_a_body_using_an_outer_value(call_op, tmp_path, capsys):
    path = tmp_path / "bad.ir"
    path.write_text(TEXT.replace("%m = mul(%a, %c1)", "%m = mul(%a, %one)"))
    assert opt_cli.main([str(path), "-p", "cse"]) == 1
    assert "isolated from above" in capsys.readouterr().err


# --- fuse-elementwise,cse: never across a region boundary --------------------------------------------
FUSED_TEXTS = {"good": fusion_tests.GOOD, "stages": fusion_tests.STAGES, "softmax": fusion_tests.SOFTMAX}


def _cse_after_fusion(func):
    PassManager(parse_pipeline("fuse-elementwise,cse"), verify_each=True).run(func)
    verify_function(func)
    text = print_function(func)
    assert print_function(parse_function(text)) == text
    copy = func.clone()                        # clone copies fused regions exactly
    verify_function(copy)
    assert print_function(copy) == text
    return func


@pytest.mark.parametrize("name", sorted(FUSED_TEXTS))
def test_fuse_then_cse_gives_valid_ir_on_fused_texts(name, tmp_path, capsys):
    func = parse_function(FUSED_TEXTS[name])
    _cse_after_fusion(func)
    path = tmp_path / f"{name}.ir"             # the command of the issue, in-process
    path.write_text(FUSED_TEXTS[name])
    assert opt_cli.main([str(path), "-p", "fuse-elementwise,cse", "--verify-each"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert print_function(parse_function(out)) == out


def test_fuse_then_cse_does_not_pull_an_outer_constant_into_a_region():
    # the outer constant 2.0 equals the one fusion copies into the region
    x = T.dvector("x")
    two = T.constant(2.0)
    plain, _ = build_function([x], [T.exp(x) * two + 1.0, two * 1.0])
    func = _cse_after_fusion(plain.clone())
    fused = [op for op in func.walk() if op.name == "fused"]
    assert fused
    for op in fused:
        for inner in op.regions[0].walk():
            assert all(v.owner is None or v.owner.parent.parent is op or v.owner.parent is inner.parent
                       for v in inner.operands)
    v = np.linspace(-2, 2, 7)
    for g, w in zip(evaluate(func, [v])[0], evaluate(plain, [v])[0]):
        np.testing.assert_allclose(g, w, rtol=1e-15)


def test_fuse_then_cse_on_the_mlp_graph():
    func, _ = build_function(*fusion_tests._mlp_like())
    PassManager(parse_pipeline("canonicalize,cse,simplify-shapes,stabilize")).run(func)
    _cse_after_fusion(func)


def random_case(seed):
    """(a random graph of the fusion tests as a Function, argument values,
    its reference outputs), or None for an invalid program (see test_fusion)."""
    rng = np.random.default_rng(seed)
    x, v = T.dmatrix("x"), T.dvector("v")
    plain, _ = build_function([x, v], fusion_tests._random_graph(rng, x, v), [])
    values = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    try:
        return plain, values, evaluate(plain, values)[0]
    except ValueError:
        return None


def check_outputs(func, values, expected):
    with np.errstate(all="ignore"):
        got = evaluate(func, values)[0]
    for g, w in zip(got, expected):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_fuse_then_cse_on_random_fused_graphs(seed):
    case = random_case(seed)
    if case is None:
        return
    plain, values, expected = case
    for options in ("", "{recompute=0}", "{stages=false}"):
        func = plain.clone()
        PassManager(parse_pipeline(f"canonicalize,fuse-elementwise{options},cse,dce"), verify_each=True).run(func)
        check_outputs(func, values, expected)


# --- random bodies: every pass inside a region equals the same passes outside ---------------------------
PIPELINE = "canonicalize,cse,simplify-shapes,stabilize,canonicalize,cse,fuse-elementwise,dce"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_passes_inside_a_region_keep_the_meaning_of_random_graphs(call_op, seed):
    case = random_case(seed)
    if case is None:
        return
    plain, values, expected = case
    func = wrapped(plain)
    verify_function(func)
    run(PIPELINE, func)
    assert [op.name for op in func.body.ops] == [CALL, "return"]
    check_outputs(func, values, expected)


def test_wrapped_function_builds_a_valid_region(call_op):
    x = T.dvector("x")
    plain, _ = build_function([x], [T.exp(x) + 1.0])
    func = wrapped(plain)
    assert isinstance(call_of(func).regions[0], Block) and isinstance(func, Function)
    verify_function(func)
    call = make_op(CALL, [func.args[0]], regions=[call_of(func).regions[0].clone()])
    assert [r.type for r in call.results] == [r.type for r in call_of(func).results]
