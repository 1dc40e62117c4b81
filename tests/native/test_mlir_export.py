"""MLIR generic-form export (``theon-opt --emit=mlir``), checked against
LLVM's own parser when ``mlir-opt`` is installed (Debian: mlir-16-tools)."""
import glob
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.core import Module
from theon.ir.mlir import attr, module_to_mlir
from theon.ir.parser import parse_module
from theon.runtime.opt_cli import main as theon_opt
from theon.tensor import nnet

TEXT = """\
func @f(%a: tensor<?x3xf32>, %w: tensor<3xf32> {shared = "w"}) {
  %0 = add(%a, %w) : tensor<?x3xf32>
  %1 = sum(%0) {axes = [1], keepdims = false} : tensor<?xf32>
  %2 = constant() {value = dense<[1.0, inf, -2.5]>} : tensor<3xf32>
  %3 = mul(%w, %2) : tensor<3xf32>
  return(%1, %3) {updates = [1]}
}
"""

EXPECTED = """\
"builtin.module"() ({
  "func.func"() ({
  ^bb0(%arg0: tensor<?x3xf32>, %arg1: tensor<3xf32>):
    %0 = "theon.add"(%arg0, %arg1) : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
    %1 = "theon.sum"(%0) {axes = [1], keepdims = false} : (tensor<?x3xf32>) -> tensor<?xf32>
    %2 = "theon.constant"() {value = dense<[1.0, 0x7F800000, -2.5]> : tensor<3xf32>} : () -> tensor<3xf32>
    %3 = "theon.mul"(%arg1, %2) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%1, %3) {theon.updates = [1]} : (tensor<?xf32>, tensor<3xf32>) -> ()
  }) {arg_attrs = [{}, {theon.shared = "w"}], function_type = (tensor<?x3xf32>, tensor<3xf32>) -> \
(tensor<?xf32>, tensor<3xf32>), sym_name = "f"} : () -> ()
}) : () -> ()
"""


def mlir_opt():
    found = shutil.which("mlir-opt") or sorted(glob.glob("/usr/lib/llvm-*/bin/mlir-opt"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def check_with_mlir_opt(text):
    """mlir-opt parses the text, verifies it, and prints it back."""
    tool = mlir_opt()
    if tool is None:
        pytest.skip("mlir-opt is not installed (apt-get install mlir-16-tools)")
    proc = subprocess.run([tool, "--allow-unregistered-dialect", "--mlir-print-op-generic"],
                          input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_generic_form_golden():
    assert module_to_mlir(parse_module(TEXT)) == EXPECTED


def test_mlir_opt_parses_the_export():
    out = check_with_mlir_opt(EXPECTED)
    assert '"theon.sum"' in out and "theon.shared" in out and '"func.return"' in out


def test_attribute_forms():
    assert attr((1, None, 2.5e-5, True, "a\"b")) == '[1, unit, 2.5e-05, true, "a\\22b"]'
    assert attr(1e16) == "1.0e+16" and attr(float("-inf")) == "0xFFF0000000000000"
    assert attr(np.array([[True], [False]])) == "dense<[[true], [false]]> : tensor<2x1xi1>"
    assert attr(np.zeros((0, 2))) == "dense<> : tensor<0x2xf64>"
    assert attr(np.array(7, np.uint8)) == "dense<7> : tensor<ui8>"


def test_an_mlp_training_step_exports_and_parses():
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.lvector("y")
    w = theon.shared(rng.normal(size=(4, 3)), name="w")
    b = theon.shared(np.zeros(3), name="b")
    cost = nnet.categorical_crossentropy(nnet.softmax(T.dot(x, w) + b), y).mean()
    gw, gb = theon.grad(cost, [w, b])
    func, _ = build_function([x, y], [cost, x[:, 0], T.alloc(np.float32(np.nan), 2)],
                             [(w, w - 0.1 * gw), (b, b - 0.1 * gb)], name="train")
    text = module_to_mlir(Module([func]))
    assert text.count('"theon.') == sum(1 for op in func.body.ops if op.name != "return")
    check_with_mlir_opt(text)


def test_theon_opt_emit_mlir(tmp_path, capsys):
    source = tmp_path / "f.ir"
    source.write_text(TEXT)
    assert theon_opt([str(source), "--emit=mlir", "-p", "canonicalize"]) == 0
    assert capsys.readouterr().out == EXPECTED
