"""Modes, config and debugging as in Theano 1.0: Mode.including/excluding/
requiring, config.optimizer*, compute_test_value, run-time errors naming
the user's line, exception_verbosity, NanGuardMode, printing.Print, pp,
debugprint options, pydotprint(var_with_name_simple)."""
import json
import warnings

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.compile.nanguardmode import NanGuardMode
from theon.printing import Print, debugprint, pp, pydotprint
from theon.runtime.mode import Mode, get_mode
from theon.runtime.pipeline import PIPELINES

OPTIONS = ("mode", "optimizer", "optimizer_including", "optimizer_excluding", "optimizer_requiring",
           "compute_test_value", "exception_verbosity")


@pytest.fixture(autouse=True)
def restore_config():
    saved = {k: getattr(theon.config, k) for k in OPTIONS}
    yield
    for k, v in saved.items():
        setattr(theon.config, k, v)


def _line_of(marker):
    """The line number of this file that contains ``marker``."""
    with open(__file__) as fh:
        for k, line in enumerate(fh, 1):
            if marker in line and "_line_of" not in line:
                return k
    raise AssertionError(marker)


# --- modes -------------------------------------------------------------------------------
def test_including_excluding_requiring_by_theano_tags():
    fast = Mode(optimizer="fast_run")
    assert "fuse-elementwise" in fast.pipeline
    assert "fuse-elementwise" not in fast.excluding("fusion").pipeline
    assert "fuse-elementwise" not in fast.excluding("local_elemwise_fusion").pipeline
    assert "cse" not in fast.excluding("merge").pipeline
    assert fast.excluding("no_such_tag").pipeline == fast.pipeline       # unknown tags select nothing
    compile_ = Mode(optimizer="fast_compile")
    inc = compile_.including("fusion")        # already there (with options): not added twice
    assert [p.split("{")[0] for p in inc.pipeline].count("fuse-elementwise") == 1 and inc.pipeline[-1] == "dce"
    assert "fuse-elementwise" not in [p.split("{")[0] for p in compile_.excluding("fusion").pipeline]
    base = lambda pipeline: {p.split("{")[0] for p in pipeline}      # noqa: E731 - pass names, options aside
    assert base(fast.requiring("fast_compile").pipeline) <= base(PIPELINES["fast_compile"])
    assert fast.requiring("fast_run").pipeline == fast.pipeline
    assert fast.excluding("fast_run").pipeline == ()


def test_optimizer_names_and_linkers():
    assert Mode(optimizer=None).pipeline == () and Mode(optimizer="None").pipeline == ()
    assert Mode(optimizer="merge").pipeline == ("cse",)
    assert Mode(optimizer="o1").pipeline == PIPELINES["fast_compile"]
    m = Mode(linker="cvm", optimizer="fast_compile")
    assert m.linker == "cvm" and m.pipeline == PIPELINES["fast_compile"]
    assert Mode("c|py").linker == "c|py"             # Theano's Mode(linker, optimizer) order
    theon.config.optimizer = "fast_compile"
    assert Mode().pipeline == PIPELINES["fast_compile"]           # 'default' is config.optimizer
    with pytest.raises(ValueError):
        theon.config.optimizer = "fastest"


def test_config_optimizer_applies_to_the_default_mode():
    x = T.vector("x")
    y = T.exp(x) * 2 + 1
    theon.config.optimizer = "None"
    f = theon.function([x], y)
    assert [op.name for op in f.ir.body.ops if op.name != "return"].count("fused") == 0
    theon.config.optimizer = "fast_run"
    theon.config.optimizer_excluding = "fusion"
    g = theon.function([x], y)
    assert not any(op.name == "fused" for op in g.ir.body.ops)
    theon.config.optimizer_excluding = ""
    h = theon.function([x], y)
    assert any(op.name == "fused" for op in h.ir.body.ops)
    a = np.array([0.0, 1.0])
    for fn in (f, g, h):
        np.testing.assert_allclose(fn(a), np.exp(a) * 2 + 1)


def test_get_mode_names():
    assert get_mode("FAST_RUN").pipeline == PIPELINES["fast_run"]
    assert isinstance(get_mode("NanGuardMode"), NanGuardMode)
    assert get_mode("DebugMode").debug
    theon.config.mode = "FAST_COMPILE"
    assert get_mode(None).pipeline == PIPELINES["fast_compile"]
    from theon.compile.mode import get_default_mode
    assert get_default_mode().excluding("merge").pipeline == tuple(
        n for n in PIPELINES["fast_compile"] if n != "cse")


# --- compute_test_value -------------------------------------------------------------------
def test_test_values_propagate_and_catch_shape_errors_at_build_time():
    theon.config.compute_test_value = "raise"
    x = T.matrix("x")
    x.tag.test_value = np.ones((3, 4))
    w = theon.shared(np.ones((4, 2)), name="w")
    h = T.dot(x, w) + 1
    np.testing.assert_array_equal(h.tag.test_value, np.full((3, 2), 5.0))
    v = T.matrix("v")
    v.tag.test_value = np.ones((5, 2))
    with pytest.raises(ValueError) as info:
        T.dot(x, v)                                           # BUILD-DOT-MISMATCH
    assert "test value" in str(info.value) and f"line {_line_of('BUILD-DOT-MISMATCH')}" in str(info.value)
    a, b = T.vectors("a", "b")
    a.tag.test_value = np.ones(3)
    b.tag.test_value = np.ones(4)
    with pytest.raises(ValueError, match="test value"):
        a + b


def test_test_values_reach_gradient_graphs():
    theon.config.compute_test_value = "raise"
    x = T.vector("x")
    x.tag.test_value = np.array([1.0, 2.0])
    w = theon.shared(np.array([0.5, -1.0]), name="w")
    cost = T.sum((x * w) ** 2)
    g = theon.grad(cost, w)                     # grad's ops are built without test values
    step = w - 0.1 * g                          # their operands' values are computed on demand
    np.testing.assert_allclose(step.tag.test_value, [0.5, -1.0] - 0.1 * 2 * np.array([0.5, -4.0]))


def test_missing_test_values_raise_warn_or_pass():
    x = T.vector("x")
    theon.config.compute_test_value = "raise"
    with pytest.raises(ValueError, match="no test value"):
        x * 2
    theon.config.compute_test_value = "warn"
    with pytest.warns(UserWarning, match="no test value"):
        x * 2
    theon.config.compute_test_value = "ignore"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x * 2
    assert getattr(y.tag, "test_value", None) is None
    theon.config.compute_test_value = "off"
    x.tag.test_value = np.ones((2, 2))                  # wrong ndim, but nothing is computed
    x * 2
    theon.config.compute_test_value = "raise"
    with pytest.raises(TypeError, match="2-d"):
        x * 2


# --- run-time errors name the user's line --------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_runtime_error_names_the_line_that_built_the_op(mode):
    a, b = T.vectors("a", "b")
    c = T.exp(a) * b                                   # THE-FAILING-LINE
    f = theon.function([a, b], c.sum(), mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    text = str(info.value)
    assert f"line {_line_of('THE-FAILING-LINE')}" in text and "test_modes_debug.py" in text
    assert "exception_verbosity" in text


def test_exception_verbosity_high_adds_a_debugprint():
    theon.config.exception_verbosity = "high"
    a, b = T.matrices("a", "b")
    f = theon.function([a, b], T.dot(a, b), mode="FAST_COMPILE")
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 2)))
    assert "Debugprint of the failing op" in str(info.value) and "matmul" in str(info.value)


def test_error_location_survives_the_compile_cache(run_python, tmp_path):
    script = tmp_path / "model.py"
    script.write_text(
        "import numpy as np, theon, theon.tensor as T\n"
        "a, b = T.vectors('a', 'b')\n"
        "y = (a * 2 + b).sum()\n"
        "f = theon.function([a, b], y)\n"
        "try:\n"
        "    f(np.ones(3), np.ones(5))\n"
        "except ValueError as e:\n"
        "    print('LINE3' if 'model.py\", line 3' in str(e) else str(e))\n")
    env = {"THEON_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):                      # the second run reads the optimized IR from the cache
        proc = run_python(f"import runpy; runpy.run_path({str(script)!r})", env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "LINE3", proc.stdout


# --- NanGuardMode ----------------------------------------------------------------------------
def test_nanguardmode_as_in_theano():
    x = T.matrix()
    w = theon.shared(np.random.default_rng(0).normal(size=(5, 7)))
    y = T.dot(x, w)
    fun = theon.function([x], y, mode=NanGuardMode(nan_is_error=True, inf_is_error=True))
    a = np.random.default_rng(1).normal(size=(3, 5))
    np.testing.assert_allclose(fun(a), a @ w.get_value())
    for bad in (np.full((3, 5), np.inf), np.full((3, 5), np.nan), np.full((3, 5), 1e20)):
        with pytest.raises(AssertionError):
            fun(bad)
    lenient = theon.function([x], y, mode=NanGuardMode(nan_is_error=False, inf_is_error=False,
                                                       big_is_error=False))
    assert np.isnan(lenient(np.full((3, 5), np.nan))).all()


def test_nanguardmode_names_the_op_that_made_the_nan():
    x = T.vector("x")
    y = T.log(x)                                   # NAN-MAKER
    z = (y * 0.0).sum()
    f = theon.function([x], z, mode=NanGuardMode(big_is_error=False))
    assert f(np.array([1.0, 2.0])) == 0.0
    with pytest.raises(AssertionError) as info:
        f(np.array([1.0, -2.0]))
    text = str(info.value)
    assert "NaN detected" in text and "log" in text
    assert f"line {_line_of('NAN-MAKER')}" in text


# --- Print -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE", "DEBUG"])
def test_print_prints_at_run_time(capfd, mode):
    x = T.vector("x")
    p = Print("hidden", attrs=("__str__", "shape", "sum"))(x[::-1] * 2)
    f = theon.function([x], (p + 1).sum(), mode=mode)
    capfd.readouterr()
    r = f(np.array([1.0, 2.0, 3.0]))
    out = capfd.readouterr().out
    assert r == 15.0
    assert "hidden __str__ = [6. 4. 2.]" in out
    assert "hidden shape = (3,)" in out and "hidden sum = 12.0" in out
    if mode != "DEBUG":                            # DEBUG also evaluates the references
        assert out.count("hidden __str__") == 1
    f(np.array([0.0]))
    assert "hidden __str__ = [0.]" in capfd.readouterr().out


def test_print_is_not_merged_folded_or_dropped(capfd):
    x = T.scalar("x")
    c = Print("constant")(T.constant(3.0))
    y = Print("a")(x) + Print("a")(x) + c * 0.0
    f = theon.function([x], y)
    assert [op.name for op in f.ir.body.ops].count("print") == 3
    capfd.readouterr()
    assert f(2.0) == 4.0
    out = capfd.readouterr().out
    assert out.count("a __str__ = 2.0") == 2 and "constant __str__ = 3.0" in out


def test_print_gradient_passes_through():
    x = T.vector("x")
    y = (Print("p")(x) ** 2).sum()
    g = theon.grad(y, x)
    f = theon.function([x], g, mode="FAST_COMPILE")
    np.testing.assert_allclose(f(np.array([1.0, -2.0])), [2.0, -4.0])


def test_print_in_the_gpu_plan(capfd):
    from theon.codegen.ptx.emulator import EmulatedDevice
    from theon.runtime.gpu_function import from_function
    x = T.vector("x")
    f = theon.function([x], Print("gpu")(x * 3) + 1)
    g = from_function(f, device=EmulatedDevice())
    capfd.readouterr()
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [4.0, 7.0])
    assert "gpu __str__ = [3. 6.]" in capfd.readouterr().out


def test_print_arguments():
    with pytest.raises(TypeError):
        Print(3)
    with pytest.raises(TypeError):
        Print("m", attrs=())
    x = T.vector("x")
    assert Print("m", attrs="shape")(x).owner.attrs["attrs"] == ("shape",)


# --- printing -----------------------------------------------------------------------------------
def test_pp_writes_expressions():
    x, y = T.vectors("x", "y")
    assert pp((x + y) * 2) == "((x + y) * TensorConstant{2.0})"
    z = x * y
    z.name = "z"
    assert pp(z - 1) == "(z - TensorConstant{1.0})"
    assert pp(-x) == "-x"
    assert theon.pp is pp


def test_debugprint_options_and_no_internal_attributes():
    x = T.vector("x")
    y = (T.exp(x) * 2 + 1).sum()
    f = theon.function([x], y)
    text = debugprint(f, file="str")
    assert "parallel" not in text and "threads" not in text
    assert "[id A]" in text and "tensor<" not in text
    typed = debugprint(y, file="str", print_type=True, ids="int")
    assert "[id 0]" in typed and "<tensor<f64>>" in typed
    bare = debugprint(y, file="str", ids="")
    assert "[id" not in bare
    shallow = debugprint(y, file="str", depth=2)
    assert len(shallow.splitlines()) == 2
    assert debugprint(f.maker.fgraph, file="str") == text            # Theano prints fgraphs too


def test_pydotprint_var_with_name_simple(tmp_path):
    x = T.vector("x")
    h = T.exp(x)
    h.name = "hidden"
    y = (h * 2).sum()
    simple = open(pydotprint(y, outfile=str(tmp_path / "s.dot"), var_with_name_simple=True)).read()
    full = open(pydotprint(y, outfile=str(tmp_path / "f.dot"))).read()
    assert 'label="0: hidden"' in simple
    assert 'label="0: hidden tensor<?xf64>"' in full


def test_theano_import_paths():
    import theon.compile.nanguardmode as ngm
    assert ngm.NanGuardMode is theon.compile.NanGuardMode
    assert theon.printing.pprint is pp
    assert json.loads(json.dumps(theon.config.exception_verbosity)) in ("low", "high")


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler to link with")
def test_print_in_aot_code_uses_printf(tmp_path):
    import subprocess
    from theon.runtime.aot_cli import main
    model = tmp_path / "model.py"
    model.write_text("import theon, theon.tensor as T\nfrom theon.printing import Print\n"
                     "x = T.dvector('x')\nshow = theon.function([x], (Print('doubled')(x * 2) + 1).sum())\n")
    out = tmp_path / "out"
    assert main([str(model), "-o", str(out), "--emit", "obj,header"]) == 0
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "show.h"\n'
        "int main(void) { double x[3] = {1.0, 2.5, -3.0}; double r;\n"
        '  int rc = show(x, 3, &r); printf("rc %d out %.17g\\n", rc, r); return 0; }\n')
    exe = tmp_path / "main"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(out), str(tmp_path / "main.c"),
                    str(out / "show.o"), "-lm", "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["doubled [ 2 5 -6 ]", "rc 0 out 4"]
