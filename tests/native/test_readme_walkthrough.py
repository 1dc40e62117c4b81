"""README.md's walk-throughs, run as written: the AOT walk-through's C
program and ``python examples/aot_model.py`` print exactly the lines the
README shows, and the IR that ``theon.printing.dump(f, 'input')`` writes for
a function with shared variables (the theon-opt walk-through's train.ir)
is an ``aot-compile`` source whose state has the variables' shapes.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.aot_cli import main as aot_compile
from theon.tensor import nnet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
CC = shutil.which(os.environ.get("CC", "cc"))


def _readme_demo_lines():
    """The ```text block right after the README's ``./demo`` command."""
    text = open(README, encoding="utf-8").read()
    m = re.search(r"\n\./demo\n```\n+```text\n(.*?)```", text, re.S)
    assert m, "README: no ```text block after the ./demo command"
    return m.group(1).splitlines()


@pytest.mark.skipif(not os.path.exists(README), reason="README.md is not installed with the tests")
def test_python_model_prints_the_readme_lines():
    run = subprocess.run([sys.executable, os.path.join(REPO, "examples", "aot_model.py")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == _readme_demo_lines()


@pytest.mark.skipif(CC is None, reason="no C compiler (cc)")
@pytest.mark.skipif(not os.path.exists(README), reason="README.md is not installed with the tests")
def test_c_program_prints_the_readme_lines(tmp_path):
    out = tmp_path / "build" / "aot"
    assert aot_compile([os.path.join(REPO, "examples", "aot_model.py"), "-o", str(out)]) == 0
    demo = tmp_path / "demo"
    cmd = [CC, "-O2", "-I", str(out), os.path.join(REPO, "examples", "aot_main.c"),
           str(out / "train_step.o"), str(out / "predict.o"), "-lm", "-o", str(demo)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(demo)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == _readme_demo_lines()


@pytest.mark.skipif(CC is None, reason="no C compiler (cc) for --emit shared")
def test_dumped_ir_with_shared_variables_is_an_aot_source(tmp_path):
    x, y = T.matrix("x"), T.lvector("y")
    w = theon.shared(np.zeros((4, 3)), name="w")
    cost = nnet.categorical_crossentropy(nnet.softmax(T.dot(x, w)), y).mean()
    train = theon.function([x, y], cost, updates=[(w, w - 0.1 * theon.grad(cost, w))])
    text = theon.printing.dump(train, "input")
    assert '{shape = [4, 3], shared = "w"}' in text or '{shared = "w", shape = [4, 3]}' in text
    (tmp_path / "train.ir").write_text(text)
    out = tmp_path / "out"
    assert aot_compile([str(tmp_path / "train.ir"), "-o", str(out), "--emit", "obj,header,shared"]) == 0
    assert "double w[4][3];" in (out / "f.h").read_text()

    step = theon.runtime.load_library(str(out / "libf.so"))
    rng = np.random.RandomState(0)
    X, labels = rng.randn(5, 4), np.array([0, 2, 1, 1, 0])
    for _ in range(3):               # the state starts at zero, as w does
        np.testing.assert_allclose(step(X, labels), train(X, labels), rtol=1e-12)
    np.testing.assert_allclose(step.get_state("w"), w.get_value(), rtol=1e-12)


def test_dump_records_the_current_shape_of_each_shared_variable():
    v = T.vector("v")
    s = theon.shared(np.ones(7, dtype="float32"), name="s")
    f = theon.function([v], v.sum(), updates=[(s, s * 2)])
    for stage in ("input", "optimized"):
        head = theon.printing.dump(f, stage).splitlines()[0]
        assert "shape = [7]" in head and 'shared = "s"' in head, head
    s.set_value(np.ones(3, dtype="float32"))
    assert "shape = [3]" in theon.printing.dump(f, "input").splitlines()[0]
    # the compiled function's own IR is left as it was
    assert all("shape" not in a for a in theon.printing._compiled(f).ir.arg_attrs)
