"""theon-opt, the mlir-opt-style command: in-process through main(argv), and
as a real process for exit codes and the absence of tracebacks."""
import importlib
import subprocess
import sys

import pytest

from theon.runtime.opt_cli import main

TEXT = """\
func @f(%a: tensor<?x3xf64>, %w: tensor<3xf64> {shared = "w"}) {
  %0 = add(%a, %w) : tensor<?x3xf64>
  %1 = add(%a, %w) : tensor<?x3xf64>
  %2 = mul(%0, %1) : tensor<?x3xf64>
  %3 = exp(%2) : tensor<?x3xf64>
  %4 = sum(%2) {axes = [1], keepdims = false} : tensor<?xf64>
  %5 = mul(%w, %w) : tensor<3xf64>
  return(%4, %5) {updates = [1]}
}

func @g(%x: tensor<f32>) {
  %c = constant() {value = dense<[0.1, -0.0, nan]>} : tensor<3xf32>
  return(%x, %c)
}
"""

OPTIMIZED_F = """\
func @f(%a: tensor<?x3xf64>, %w: tensor<3xf64> {shared = "w"}) {
  %0 = add(%a, %w) : tensor<?x3xf64>
  %1 = mul(%0, %0) : tensor<?x3xf64>
  %2 = sum(%1) {axes = [1], keepdims = false} : tensor<?xf64>
  %3 = mul(%w, %w) : tensor<3xf64>
  return(%2, %3) {updates = [1]}
}
"""

DAMAGED = TEXT.replace("%2 = mul(%0, %1)", "%2 = mul(%0, %9)")


@pytest.fixture
def ir_file(tmp_path):
    def write(text, name="in.ir"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


def run_process(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "theon.runtime.opt_cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


# --- as a process ----------------------------------------------------------------------
def test_process_prints_a_module_back_unchanged(ir_file):
    r = run_process(ir_file(TEXT))
    assert (r.returncode, r.stdout, r.stderr) == (0, TEXT, "")


def test_process_damaged_ir_exits_1_with_position(ir_file):
    path = ir_file(DAMAGED)
    r = run_process(path, "-p", "cse,dce")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"{path}:4:16: undefined value %9\n"
    assert "Traceback" not in r.stderr


def test_process_stdin_and_pipeline():
    r = run_process("-", "--pass-pipeline=cse,dce", stdin=TEXT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n\n")[0] + "\n" == OPTIMIZED_F


# --- in process -------------------------------------------------------------------------
def test_pipeline_output_and_print_ir_after_all(ir_file, capsys):
    assert main([ir_file(TEXT), "-p", "cse,dce", "--print-ir-after-all", "--verify-each"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(OPTIMIZED_F)
    assert err.count("// -----// IR Dump After") == 2
    assert err.index("IR Dump After cse") < err.index("IR Dump After dce")


def test_print_ir_after_named_and_time_passes(ir_file, capsys):
    assert main([ir_file(TEXT), "-p", "cse,dce", "--print-ir-after=cse", "--time-passes"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After cse" in err and "IR Dump After dce" not in err
    assert "Pass execution timing report" in err


@pytest.mark.parametrize("args, message", [
    (["-p", "cse,frob"], "theon-opt: --pass-pipeline: unknown pass 'frob'; known passes: "),
    (["-p", "dce{x=1}"], "theon-opt: --pass-pipeline: pass 'dce' has no option 'x'"),
    (["--print-ir-after=frob"], "theon-opt: --print-ir-after=frob: unknown pass"),
])
def test_bad_pipeline_options_exit_1(ir_file, capsys, args, message):
    assert main([ir_file(TEXT), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_unreadable_file_exits_1(tmp_path, capsys):
    missing = str(tmp_path / "missing.ir")
    assert main([missing]) == 1
    assert capsys.readouterr().err == f"theon-opt: cannot read {missing}: No such file or directory\n"
    assert main([str(tmp_path)]) == 1
    assert "theon-opt: cannot read" in capsys.readouterr().err


def test_verifier_error_in_text_is_positioned(ir_file, capsys):
    path = ir_file(TEXT.replace("%5 = mul(%w, %w) : tensor<3xf64>", "%5 = mul(%w, %w) : tensor<4xf64>"))
    assert main([path]) == 1
    assert capsys.readouterr().err == (f"{path}:7:8: @f op 5 (mul): result 0 is declared tensor<4xf64> "
                                       "but inference gives tensor<3xf64>\n")


def test_output_file_and_dot(ir_file, tmp_path, capsys):
    out = tmp_path / "out.ir"
    assert main([ir_file(TEXT), "-o", str(out)]) == 0
    assert out.read_text() == TEXT and capsys.readouterr().out == ""
    assert main([ir_file(TEXT), "--emit=dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "module" {') and dot.rstrip().endswith("}")
    assert 'label="@f"' in dot and 'label="@g"' in dot and "update w" in dot and "output 0" in dot
    assert main([ir_file(TEXT), "-o", str(tmp_path / "no" / "dir.ir")]) == 1
    assert "theon-opt: cannot write" in capsys.readouterr().err


def _has_cpu_backend():
    try:
        return hasattr(importlib.import_module("theon.codegen.cpu"), "compile_function")
    except ImportError:
        return False


@pytest.mark.skipif(not _has_cpu_backend(), reason="theon.codegen.cpu.compile_function does not exist yet")
@pytest.mark.parametrize("emit, marker", [("llvm", "define"), ("asm", "theon_f")])
def test_emit_llvm_and_asm(ir_file, capsys, emit, marker):
    text = "func @f(%a: tensor<?xf64>, %b: tensor<?xf64>) {\n  %0 = add(%a, %b) : tensor<?xf64>\n  return(%0)\n}\n"
    assert main([ir_file(text), f"--emit={emit}"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert marker in out and "theon_f" in out


def test_emit_llvm_reports_backend_failures_in_one_line(ir_file, capsys, monkeypatch):
    import theon.runtime.opt_cli as cli

    def broken(emit):
        def compile_function(func):
            raise NotImplementedError(f"no lowering for @{func.name}")
        return compile_function
    monkeypatch.setattr(cli, "_backend", broken)
    assert main([ir_file(TEXT), "--emit=llvm"]) == 1
    assert capsys.readouterr().err == "theon-opt: cannot compile @f: NotImplementedError: no lowering for @f\n"


def test_internal_errors_are_one_line_unless_traceback(ir_file, capsys, monkeypatch):
    import theon.runtime.opt_cli as cli

    def boom(module, args):
        raise RuntimeError("pass exploded")
    monkeypatch.setattr(cli, "_run_passes", boom)
    assert main([ir_file(TEXT)]) == 1
    assert capsys.readouterr().err.startswith("theon-opt: internal error: RuntimeError: pass exploded")
    with pytest.raises(RuntimeError):
        main([ir_file(TEXT), "--traceback"])
