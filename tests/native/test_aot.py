"""aot-compile: object files and C headers that run without Python.

examples/aot_model.py is compiled once (module fixture); C drivers link its
objects with ``cc`` and must print the numbers the Python calls give, shared
state updates included. The same entries built as shared libraries are
called back from Python through ``theon.runtime.load_library``.
"""
import json
import os
import re
import runpy
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import theon
from theon.runtime.aot_cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(REPO, "examples", "aot_model.py")
MAIN_C = os.path.join(REPO, "examples", "aot_main.c")
CC = shutil.which(os.environ.get("CC", "cc"))
CXX = shutil.which("c++")

needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc) to link the objects with")


def _aot(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """examples/aot_model.py compiled for the host: objects, headers, .so."""
    out = tmp_path_factory.mktemp("aot")
    emit = "obj,header,ir" + (",shared" if CC else "")
    assert _aot(MODEL, "-o", out, "--emit", emit) == 0
    return out


def _model():
    """A fresh instance of the example model (its own shared variables)."""
    return runpy.run_path(MODEL, run_name="aot_model_reference")


def _c_array(values):
    return "{" + ", ".join(repr(float(v)) for v in np.ravel(values)) + "}"


def _build_and_run(tmp_path, source, objects, name="driver"):
    c_file = tmp_path / f"{name}.c"
    c_file.write_text(source)
    exe = tmp_path / name
    cmd = [CC, "-std=c99", "-Wall", "-Werror", "-I", str(objects[0].parent), str(c_file)]
    cmd += [str(o) for o in objects] + ["-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return {line.split()[0]: [float(v) for v in line.split()[1:]] for line in run.stdout.splitlines()}


# --- the files ---------------------------------------------------------------------------------
def test_writes_object_header_and_ir_per_entry(built):
    for name in ("activate", "train_step", "predict"):
        assert (built / f"{name}.o").read_bytes()[:4] == b"\x7fELF"
        header = (built / f"{name}.h").read_text()
        assert f"int {name}(" in header and f"int {name}_output_shapes(" in header
        theon.ir.parser.parse_function((built / f"{name}.theon").read_text())
    header = (built / "train_step.h").read_text()
    assert "typedef struct train_step_state {" in header
    assert "double w[4];" in header and "double b;" in header
    assert "void train_step_state_init(train_step_state *state);" in header
    assert "#define THEON_ERR_SHAPE_MISMATCH" in header


@needs_cc
@pytest.mark.parametrize("compiler,flags", [("cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-x", "c"]),
                                            ("c++", ["-Wall", "-Wextra", "-Werror", "-x", "c++"])])
def test_header_compiles_cleanly_as_c99_and_cxx(built, tmp_path, compiler, flags):
    exe = CC if compiler == "cc" else CXX
    if exe is None:
        pytest.skip(f"no {compiler}")
    for name in ("activate", "train_step", "predict"):
        proc = subprocess.run([exe, *flags, "-c", str(built / f"{name}.h"), "-o", str(tmp_path / "h.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    # all headers in one translation unit (shared status codes defined once)
    both = tmp_path / "both.c"
    both.write_text('#include "activate.h"\n#include "train_step.h"\n#include "predict.h"\n'
                    "int main(void) { return THEON_OK; }\n")
    proc = subprocess.run([exe, *flags[:-2], "-I", str(built), "-c", str(both), "-o", str(tmp_path / "b.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --- C programs give the Python numbers ----------------------------------------------------------
@needs_cc
def test_elementwise_entry_in_c_matches_python(built, tmp_path):
    x = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 7.5])
    source = f"""
    #include <stdio.h>
    #include <stdlib.h>
    #include "activate.h"
    int main(void) {{
        double x[7] = {_c_array(x)};
        int64_t shape[1];
        if (activate_output_shapes(7, shape) != THEON_OK || shape[0] != 7) return 2;
        double *out = malloc(sizeof(double) * shape[0]);
        int rc = activate(x, 7, 1.5, out);
        printf("rc %d\\nnegative_dim %d\\nout", rc, activate_output_shapes(-1, shape));
        for (int i = 0; i < shape[0]; i++) printf(" %.17g", out[i]);
        printf("\\n");
        free(out);
        return 0;
    }}
    """
    got = _build_and_run(tmp_path, source, [built / "activate.o"])
    assert got["rc"] == [0]
    assert got["negative_dim"] == [7]                       # THEON_ERR_NEGATIVE_SIZE
    np.testing.assert_allclose(got["out"], _model()["activate"](x, 1.5), rtol=1e-14, atol=0)


@needs_cc
def test_training_step_in_c_matches_python_with_state(built, tmp_path):
    model = _model()
    data, labels = model["example_batch"]()
    steps, lr = 4, 0.3
    source = f"""
    #include <stdio.h>
    #include "train_step.h"
    static void show(const char *tag, const train_step_state *s) {{
        printf("%s_w", tag);
        for (int j = 0; j < 4; j++) printf(" %.17g", s->w[j]);
        printf("\\n%s_b %.17g\\n", tag, s->b);
    }}
    int main(void) {{
        double X[32] = {_c_array(data)};
        double y[8] = {_c_array(labels)};
        train_step_state s;
        train_step_state_init(&s);
        show("init", &s);
        printf("shapes_ok %d\\nshapes_bad %d\\n", train_step_output_shapes(8, 8), train_step_output_shapes(8, 7));
        printf("loss");
        for (int k = 0; k < {steps}; k++) {{
            double loss = -1.0;
            if (train_step(&s, X, 8, y, 8, {lr!r}, &loss) != THEON_OK) return 2;
            printf(" %.17g", loss);
        }}
        printf("\\n");
        show("final", &s);
        double untouched = 12345.0;   /* y has 7 rows: a shape error changes nothing */
        int rc = train_step(&s, X, 8, y, 7, {lr!r}, &untouched);
        printf("bad_rc %d\\nbad_loss %.17g\\n", rc, untouched);
        show("after_error", &s);
        return 0;
    }}
    """
    got = _build_and_run(tmp_path, source, [built / "train_step.o"])
    np.testing.assert_array_equal(got["init_w"], model["w"].get_value())
    assert got["init_b"] == [float(model["b"].get_value())]
    expected = [float(model["train_step"](data, labels, lr)) for _ in range(steps)]
    np.testing.assert_allclose(got["loss"], expected, rtol=1e-12)
    np.testing.assert_allclose(got["final_w"], model["w"].get_value(), rtol=1e-12)
    np.testing.assert_allclose(got["final_b"], [float(model["b"].get_value())], rtol=1e-12)
    assert got["shapes_ok"] == [0] and got["shapes_bad"] == [1]
    assert got["bad_rc"] == [1]                             # THEON_ERR_SHAPE_MISMATCH
    assert got["bad_loss"] == [12345.0]
    assert got["after_error_w"] == got["final_w"]
    assert got["after_error_b"] == got["final_b"]


@needs_cc
def test_readme_walkthrough_links_two_entries_into_one_program(built, tmp_path):
    exe = tmp_path / "demo"
    cmd = [CC, "-std=c99", "-Wall", "-Werror", "-I", str(built), MAIN_C,
           str(built / "train_step.o"), str(built / "predict.o"), "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    c_lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    py = subprocess.run([sys.executable, MODEL], capture_output=True, text=True, check=True).stdout
    py_steps = [ln for ln in py.splitlines() if ln.startswith("step ")]
    assert [ln for ln in c_lines if ln.startswith("step ")] == py_steps
    assert c_lines[-1].startswith("predict (2 rows): [")


# --- the same artifact from Python ----------------------------------------------------------------
@needs_cc
def test_shared_library_called_from_python_matches(built):
    model = _model()
    data, labels = model["example_batch"]()
    step = theon.runtime.load_library(built / "libtrain_step.so")
    np.testing.assert_array_equal(step.get_state("w"), model["w"].get_value())
    for _ in range(3):
        np.testing.assert_allclose(step(data, labels, 0.5), model["train_step"](data, labels, 0.5), rtol=1e-12)
    np.testing.assert_allclose(step.get_state("w"), model["w"].get_value(), rtol=1e-12)
    np.testing.assert_allclose(step.state["b"], model["b"].get_value(), rtol=1e-12)
    before = step.state
    with pytest.raises(ValueError, match="shape mismatch"):
        step(data, labels[:5], 0.5)
    assert all(np.array_equal(before[k], v) for k, v in step.state.items())

    predict = theon.runtime.load_library(built / "libpredict.so")
    predict.set_state("w", model["w"].get_value())
    predict.set_state("b", model["b"].get_value())
    np.testing.assert_allclose(predict(data[:3]), model["predict"](data[:3]), rtol=1e-12)
    activate = theon.runtime.load_library(built / "libactivate.so")
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(activate(x, 0.5), model["activate"](x, 0.5), rtol=1e-14)


# --- other targets -------------------------------------------------------------------------------
def _elf_machine(path):
    data = path.read_bytes()[:20]
    assert data[:4] == b"\x7fELF", "not an ELF file"
    endian = "<" if data[5] == 1 else ">"
    e_type, e_machine = struct.unpack(endian + "HH", data[16:20])
    return e_type, e_machine


def test_cross_compiles_an_aarch64_object(tmp_path):
    assert _aot(MODEL, "-o", tmp_path, "--entry", "train_step", "--target", "aarch64-unknown-linux-gnu",
                "--emit", "obj,header,asm") == 0
    obj = tmp_path / "train_step.o"
    assert _elf_machine(obj) == (1, 183)              # ET_REL, EM_AARCH64
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-h", str(obj)], capture_output=True, text=True).stdout
        assert "AArch64" in out
    assert "aarch64" in (tmp_path / "train_step.h").read_text()
    assert "fmul" in (tmp_path / "train_step.s").read_text()


def test_cuda_target_writes_ptx_and_launch_description(tmp_path):
    assert _aot(MODEL, "-o", tmp_path, "--target", "cuda", "--sm", "sm_86") == 0
    ptx = tmp_path / "train_step.ptx"
    launch = json.loads((tmp_path / "train_step.launch.json").read_text())
    assert ".entry " in ptx.read_text() and launch
    if shutil.which("ptxas"):
        proc = subprocess.run(["ptxas", "--gpu-name", "sm_86", "-o", os.devnull, str(ptx)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


# --- IR sources, data-dependent shapes, state shape errors ------------------------------------------
IR_SOURCE = """\
func @accumulate(%x: tensor<?x3xf32>, %acc: tensor<3xf32> {shared = "acc"}) {
  %0 = sum(%x) {axes = [0], keepdims = false} : tensor<3xf32>
  %1 = add(%acc, %0) : tensor<3xf32>
  %2 = mul(%x, %x) : tensor<?x3xf32>
  return(%2, %1) {updates = [1]}
}
"""


@needs_cc
def test_ir_source_state_starts_at_zero(tmp_path):
    src = tmp_path / "acc.theon"
    src.write_text(IR_SOURCE)
    assert _aot(src, "-o", tmp_path, "--emit", "header,shared") == 0
    assert "zeros (the IR source has no values)" in (tmp_path / "accumulate.h").read_text()
    f = theon.runtime.load_library(tmp_path / "libaccumulate.so")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(f(x), x * x)
    f(x)
    np.testing.assert_array_equal(f.get_state("acc"), 2 * x.sum(axis=0))


def test_ir_source_with_passes_and_every_text_output(tmp_path, capsys):
    src = tmp_path / "acc.theon"
    src.write_text(IR_SOURCE)
    assert _aot(src, "-o", tmp_path / "out", "-p", "cse,dce", "--print-ir-after-all", "-O1",
                "--emit", "obj,ir,llvm,asm") == 0
    err = capsys.readouterr().err
    assert "IR Dump After cse" in err and "IR Dump After dce" in err
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["accumulate.ll", "accumulate.o", "accumulate.s",
                                                     "accumulate.theon"]
    assert re.search(r"define .*i32 @accumulate\(", (out / "accumulate.ll").read_text())
    assert (out / "accumulate.theon").read_text().startswith("func @accumulate(")


MORE_ENTRIES = """
import numpy as np, theon, theon.tensor as T
x = T.dvector("x")
i = T.lscalar("i")
window = theon.function([x, i], x[i:i + 2] * 2)           # output shape depends on i's value
w = theon.shared(np.zeros(3), name="w")
grow = theon.function([x], w.sum(), updates=[(w, T.concatenate([w, x]))])
"""


@needs_cc
def test_data_dependent_shapes_and_fixed_state_shapes(tmp_path):
    src = tmp_path / "more.py"
    src.write_text(MORE_ENTRIES)
    assert _aot(src, "-o", tmp_path, "--emit", "header,shared") == 0
    header = (tmp_path / "window.h").read_text()
    assert "int window_output_shapes(const double *x, int64_t x_dim0, int64_t i," in header
    window = theon.runtime.load_library(tmp_path / "libwindow.so")
    np.testing.assert_array_equal(window(np.arange(5.0), 1), [2.0, 4.0])
    np.testing.assert_array_equal(window(np.arange(5.0), 4), [8.0])
    grow = theon.runtime.load_library(tmp_path / "libgrow.so")
    assert grow(np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="fixed shape"):
        grow(np.ones(2))
    np.testing.assert_array_equal(grow.get_state("w"), np.zeros(3))


# --- errors: one message, exit status 1, no theon traceback -------------------------------------------
def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "theon.runtime.aot_cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_error_in_source_shows_only_the_users_traceback(tmp_path):
    src = tmp_path / "broken.py"
    src.write_text("import theon.tensor as T\n\ndef helper(v):\n    return 1 / v\n\nx = helper(0)\n")
    proc = _cli(src, "-o", tmp_path / "out")
    assert proc.returncode == 1
    err = proc.stderr
    assert f"error in {src}" in err and "ZeroDivisionError: division by zero" in err
    assert 'line 4, in helper' in err and 'line 6, in <module>' in err
    assert "runpy" not in err and "aot_cli" not in err and "theon/runtime" not in err


@pytest.mark.parametrize("args,message", [
    (["missing.py"], "no such file"),
    ([MODEL, "--entry", "nope"], "no entry named 'nope'; its entries are: activate, predict, train_step"),
    ([MODEL, "--target", "nosuch-cpu-triple"], "unknown target"),
    ([MODEL, "--emit", "obj,exe"], "unknown kind exe"),
    ([MODEL, "--cpu", "skylakx"], "unknown CPU 'skylakx'"),
    ([MODEL, "--emit", "ptx"], "--emit ptx needs --target cuda"),
])
def test_bad_invocations_are_one_clear_message(tmp_path, capsys, args, message):
    argv = [tmp_path / a if a == "missing.py" else a for a in args]
    assert _aot(*argv, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_source_without_entries(tmp_path, capsys):
    src = tmp_path / "empty.py"
    src.write_text("import numpy as np\n")
    assert _aot(src, "-o", tmp_path) == 1
    assert "no entries" in capsys.readouterr().err


def test_cli_exit_status_as_a_process(tmp_path):
    proc = _cli(tmp_path / "missing.py", "-o", tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"aot-compile: {tmp_path / 'missing.py'}: no such file"
