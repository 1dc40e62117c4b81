"""Pipelines, the pass manager, and DCE/CSE as IR text in, IR text out."""
import io
from dataclasses import dataclass

import pytest

from theon.ir.core import Block, Operation
from theon.ir.dialect import OPS
from theon.ir.parser import parse_function, parse_module
from theon.ir.printer import print_function, print_module
from theon.ir.verifier import VerifyError, verify_function
from theon.passes import CSE, DCE, PASSES, Pass, PassManager, format_pipeline, parse_pipeline, run_pipeline

from ..op_helpers import SameType
from ..region_helpers import Effect, LooseFused


@dataclass
class Knobs(Pass):
    """Test-only pass with one option of each type; records its runs."""
    name = "knobs"
    max_ops: int = 4
    scale: float = 1.0
    enabled: bool = True
    mode: str = "fast"

    def run(self, func):
        func.knobs_seen = getattr(func, "knobs_seen", 0) + 1


@dataclass
class DropReturn(Pass):
    """Test-only pass that breaks the IR."""
    name = "drop-return"

    def run(self, func):
        func.body.remove(func.body.ops[-1])


REGISTRY = {**PASSES, "knobs": Knobs, "drop-return": DropReturn}


def apply(pipeline, text, ops=None):
    func = parse_function(text, ops=ops)
    PassManager(parse_pipeline(pipeline, REGISTRY), verify_each=True).run(func)
    return print_function(func)


def fn(args, *body):
    return f"func @f({args}) {{\n" + "".join(f"  {line}\n" for line in body) + "}\n"


# --- pipelines ------------------------------------------------------------------------
def test_registry_is_explicit_and_kebab_case():
    assert PASSES["dce"] is DCE and PASSES["cse"] is CSE
    for name, cls in PASSES.items():
        assert cls.name == name and name == name.lower() and "_" not in name


def test_parse_pipeline_with_options():
    passes = parse_pipeline(" cse, knobs{max-ops=16, scale=0.5 enabled=false, mode=\"a b\"},dce", REGISTRY)
    assert [type(p) for p in passes] == [CSE, Knobs, DCE]
    assert passes[1] == Knobs(max_ops=16, scale=0.5, enabled=False, mode="a b")
    assert parse_pipeline("knobs{max_ops=0x10}", REGISTRY)[0].max_ops == 16
    assert parse_pipeline("", REGISTRY) == []
    assert format_pipeline(passes) == 'cse,knobs{max-ops=16, scale=0.5, enabled=false, mode=a b},dce'
    assert format_pipeline(parse_pipeline("knobs{max-ops=3},knobs", REGISTRY)) == "knobs{max-ops=3},knobs"


@pytest.mark.parametrize("text, message", [
    ("cse,frob", "unknown pass 'frob'; known passes: canonicalize, constant-fold, conv-epilogue, conv-pool, cse, dce, "
                 "drop-return, fuse-elementwise, gemm-epilogue, knobs, legalize-f16, region-reuse, scan-batch, scan-hoist, scan-merge, scan-prune, "
                 "scan-ring, simplify-shapes, split-fused-stages, "
                 "stabilize"),
    ("dce{opt=1}", "pass 'dce' has no option 'opt'; its options: (none)"),
    ("knobs{speed=1}", "pass 'knobs' has no option 'speed'; its options: max-ops, scale, enabled, mode"),
    ("knobs{max-ops=many}", "pass 'knobs': option 'max-ops' expects int, got 'many'"),
    ("knobs{enabled=maybe}", "pass 'knobs': option 'enabled' expects bool, got 'maybe'"),
    ("knobs{max-ops=1", "bad options for pass 'knobs'"),
    ("cse,", "it ends with ','"),
    ("cse dce", "expected ',' at column 5"),
])
def test_parse_pipeline_errors(text, message):
    with pytest.raises(ValueError) as e:
        parse_pipeline(text, REGISTRY)
    assert message in str(e.value)


def test_default_registry_is_used():
    assert [p.name for p in parse_pipeline("dce,cse")] == ["dce", "cse"]
    with pytest.raises(ValueError, match="unknown pass 'knobs'"):
        parse_pipeline("knobs")


# --- the manager -------------------------------------------------------------------------
TEXT = fn("%a: tensor<?xf64>",
          "%0 = exp(%a) : tensor<?xf64>", "%1 = exp(%a) : tensor<?xf64>",
          "%2 = add(%0, %1) : tensor<?xf64>", "%3 = neg(%2) : tensor<?xf64>", "return(%2)")
AFTER_CSE = fn("%a: tensor<?xf64>",
               "%0 = exp(%a) : tensor<?xf64>", "%1 = add(%0, %0) : tensor<?xf64>",
               "%2 = neg(%1) : tensor<?xf64>", "return(%1)")
AFTER_DCE = fn("%a: tensor<?xf64>",
               "%0 = exp(%a) : tensor<?xf64>", "%1 = add(%0, %0) : tensor<?xf64>", "return(%1)")


def test_print_ir_after_all():
    out = io.StringIO()
    module = parse_module(TEXT)
    PassManager(parse_pipeline("cse,dce"), print_ir_after_all=True, out=out).run(module)
    assert out.getvalue() == ("// -----// IR Dump After cse //----- //\n" + AFTER_CSE + "\n"
                              "// -----// IR Dump After dce //----- //\n" + AFTER_DCE + "\n")
    assert print_module(module) == AFTER_DCE
    # the dump is valid IR text again (the headers are comments)
    assert print_module(parse_module(out.getvalue().split("\n\n")[1])) == AFTER_DCE


def test_print_ir_after_named_pass_only():
    out = io.StringIO()
    PassManager("cse,dce", print_ir_after=["dce"], out=out).run(parse_function(TEXT))
    assert out.getvalue() == "// -----// IR Dump After dce //----- //\n" + AFTER_DCE + "\n"


def test_verify_each_names_the_pass_that_broke_the_ir():
    pm = PassManager(parse_pipeline("cse,drop-return", REGISTRY), verify_each=True)
    with pytest.raises(VerifyError, match=r"@f: the body must end with return.*\(after pass 'drop-return'\)"):
        pm.run(parse_function(TEXT))
    PassManager(parse_pipeline("drop-return", REGISTRY)).run(parse_function(TEXT))   # unchecked


def test_verify_each_checks_the_input():
    func = parse_function(TEXT)
    func.body.remove(func.body.ops[-1])
    with pytest.raises(VerifyError, match=r"\(after the input\)"):
        PassManager([], verify_each=True).run(func)


def test_time_passes_table():
    out = io.StringIO()
    pm = PassManager("cse,dce", time_passes=True, out=out)
    pm.run(parse_function(TEXT))
    text = out.getvalue()
    assert "Pass execution timing report" in text and "Total Execution Time:" in text
    rows = [line.split() for line in text.splitlines() if line.endswith((" cse", " dce", " Total"))]
    assert [r[-1] for r in rows] == ["cse", "dce", "Total"]
    assert [name for name, _ in pm.timings] == ["cse", "dce"]


def test_module_runs_every_function_and_bad_units_are_rejected():
    module = parse_module(TEXT + "\n" + TEXT.replace("@f", "@g"))
    run_pipeline(module, parse_pipeline("knobs", REGISTRY))
    assert [f.knobs_seen for f in module.functions] == [1, 1]
    with pytest.raises(TypeError, match="takes a Module or a Function"):
        PassManager([]).run("func @f")
    with pytest.raises(TypeError, match="is not a Pass"):
        PassManager([DCE, CSE()])


# --- DCE ---------------------------------------------------------------------------------
def test_dce_removes_dead_chains_keeps_return_and_args():
    text = fn("%a: tensor<f64>, %unused: tensor<f64>",
              "%0 = exp(%a) : tensor<f64>", "%1 = log(%0) : tensor<f64>", "%2 = neg(%1) : tensor<f64>",
              "%c = constant() {value = dense<1.0>} : tensor<f64>", "%3 = sqrt(%a) : tensor<f64>",
              "return(%3)")
    assert apply("dce", text) == fn("%a: tensor<f64>, %unused: tensor<f64>",
                                    "%3 = sqrt(%a) : tensor<f64>", "return(%3)").replace("%3", "%0")


def test_dce_keeps_impure_ops_and_empty_return():
    assert apply("dce", fn("", "return()")) == fn("", "return()")
    text = fn("%a: tensor<f64>", "%0 = exp(%a) : tensor<f64>", "test.effect(%0)", "return()")
    assert apply("dce", text, ops=TEST_OPS) == text


# --- CSE ---------------------------------------------------------------------------------
def test_cse_merges_identical_ops_and_keeps_first_names():
    text = fn("%a: tensor<3xf64>",
              "%x = mul(%a, %a) : tensor<3xf64>", "%y = mul(%a, %a) : tensor<3xf64>",
              "%s1 = sum(%x) {axes = [0], keepdims = false} : tensor<f64>",
              "%s2 = sum(%y) {axes = [0], keepdims = false} : tensor<f64>",
              "return(%s1, %s2)")
    assert apply("cse", text) == fn("%a: tensor<3xf64>",
                                    "%x = mul(%a, %a) : tensor<3xf64>",
                                    "%s1 = sum(%x) {axes = [0], keepdims = false} : tensor<f64>",
                                    "return(%s1, %s1)")


def test_cse_distinguishes_operands_order_attrs_and_types():
    text = fn("%a: tensor<3xf64>, %b: tensor<3xf64>",
              "%0 = sub(%a, %b) : tensor<3xf64>", "%1 = sub(%b, %a) : tensor<3xf64>",
              "%2 = sum(%a) {axes = [0], keepdims = false} : tensor<f64>",
              "%3 = sum(%a) {axes = [0], keepdims = true} : tensor<1xf64>",
              "%4 = exp(%a) : tensor<3xf64>", "%5 = exp(%a) : tensor<?xf64>",
              "return(%0, %1, %2, %3, %4, %5)")
    assert apply("cse", text) == text


def test_cse_compares_constants_exactly():
    text = fn("",
              "%0 = constant() {value = dense<[1.0, 2.0]>} : tensor<2xf64>",
              "%1 = constant() {value = dense<[1.0, 2.0]>} : tensor<2xf64>",
              "%2 = constant() {value = dense<[1, 2]>} : tensor<2xi64>",
              "%3 = constant() {value = dense<0.0>} : tensor<f64>",
              "%4 = constant() {value = dense<-0.0>} : tensor<f64>",
              "%5 = constant() {value = dense<[[1.0, 2.0]]>} : tensor<1x2xf64>",
              "%6 = constant() {value = dense<nan>} : tensor<f64>",
              "%7 = constant() {value = dense<nan>} : tensor<f64>",
              "return(%0, %1, %2, %3, %4, %5, %6, %7)")
    assert apply("cse", text) == fn("",
                                    "%0 = constant() {value = dense<[1.0, 2.0]>} : tensor<2xf64>",
                                    "%1 = constant() {value = dense<[1, 2]>} : tensor<2xi64>",
                                    "%2 = constant() {value = dense<0.0>} : tensor<f64>",
                                    "%3 = constant() {value = dense<-0.0>} : tensor<f64>",
                                    "%4 = constant() {value = dense<[[1.0, 2.0]]>} : tensor<1x2xf64>",
                                    "%5 = constant() {value = dense<nan>} : tensor<f64>",
                                    "return(%0, %0, %1, %2, %3, %4, %5, %5)")


def test_cse_compares_scalar_attributes_exactly():
    text = fn("%a: tensor<f64>",
              "%0 = test.pure(%a) {v = 0.0} : tensor<f64>", "%1 = test.pure(%a) {v = -0.0} : tensor<f64>",
              "%2 = test.pure(%a) {v = nan} : tensor<f64>", "%3 = test.pure(%a) {v = nan} : tensor<f64>",
              "%4 = test.pure(%a) {v = true} : tensor<f64>", "%5 = test.pure(%a) {v = 1} : tensor<f64>",
              "%6 = test.pure(%a) {v = [1, ?]} : tensor<f64>", "%7 = test.pure(%a) {v = [1, ?]} : tensor<f64>",
              "%8 = test.pure(%a) {v = [1, none]} : tensor<f64>",
              "return(%0, %1, %2, %3, %4, %5, %6, %7, %8)")
    assert apply("cse", text, ops=TEST_OPS) == fn(
        "%a: tensor<f64>",
        "%0 = test.pure(%a) {v = 0.0} : tensor<f64>", "%1 = test.pure(%a) {v = -0.0} : tensor<f64>",
        "%2 = test.pure(%a) {v = nan} : tensor<f64>",
        "%3 = test.pure(%a) {v = true} : tensor<f64>", "%4 = test.pure(%a) {v = 1} : tensor<f64>",
        "%5 = test.pure(%a) {v = [1, ?]} : tensor<f64>",
        "%6 = test.pure(%a) {v = [1, none]} : tensor<f64>",
        "return(%0, %1, %2, %2, %3, %4, %5, %5, %6)")


def test_cse_never_merges_impure_ops_or_returns():
    text = fn("%a: tensor<f64>", "test.effect(%a)", "test.effect(%a)", "return()")
    assert apply("cse", text, ops=TEST_OPS) == text


def test_cse_then_dce_chain():
    assert apply("cse,dce", TEXT) == AFTER_DCE


# --- regions -----------------------------------------------------------------------------
class PureAttrs(SameType):
    """Test-only: the identity, with any attributes."""
    name = "test.pure"


TEST_OPS = {**OPS, "test.effect": Effect(), "test.pure": PureAttrs(), "fused": LooseFused()}


def region_text(result_used):
    ret = "return(%r)" if result_used else "return(%0)"
    return fn("%a: tensor<?xf64>, %s: tensor<f64>",
              "%0 = exp(%s) : tensor<f64>",
              "%r = fused(%a, %s) ({",
              "  ^bb(%x: tensor<f64>, %t: tensor<f64>):",
              "    %1 = exp(%t) : tensor<f64>",
              "    %4 = exp(%t) : tensor<f64>",
              "    %2 = mul(%x, %4) : tensor<f64>",
              "    %3 = neg(%2) : tensor<f64>",
              "    yield(%2)",
              "}) : tensor<?xf64>",
              ret)


def test_cse_merges_inside_a_region_but_never_across_its_boundary():
    out = apply("cse", region_text(True), ops=TEST_OPS)
    assert out.count("= exp(%s)") == 1 and out.count("= exp(%t)") == 1 and "mul(%x, %1)" in out


def test_dce_inside_regions_and_of_whole_region_ops():
    assert apply("dce", region_text(True), ops=TEST_OPS) == fn(
        "%a: tensor<?xf64>, %s: tensor<f64>",
        "%r = fused(%a, %s) ({",
        "  ^bb(%x: tensor<f64>, %t: tensor<f64>):",
        "    %0 = exp(%t) : tensor<f64>",
        "    %1 = mul(%x, %0) : tensor<f64>",
        "    yield(%1)",
        "}) : tensor<?xf64>",
        "return(%r)")
    out = apply("dce", region_text(False), ops=TEST_OPS)
    assert out == fn("%a: tensor<?xf64>, %s: tensor<f64>", "%0 = exp(%s) : tensor<f64>", "return(%0)")
    func = parse_function(region_text(False), ops=TEST_OPS)
    PassManager([DCE()]).run(func)
    assert func.args[1].uses == [(func.body.ops[0], 0)]     # no stale use from the erased region op
    verify_function(func)


def test_region_blocks_keep_their_parent_after_cse():
    func = parse_function(region_text(True), ops=TEST_OPS)
    PassManager([CSE(), DCE()], verify_each=True).run(func)
    fused = next(op for op in func.body.ops if op.name == "fused")
    assert isinstance(fused.regions[0], Block) and fused.regions[0].parent is fused
    assert isinstance(fused, Operation)
