"""A region op compiled to native code and checked by DEBUG mode.

``test.call`` (tests/region_helpers.py, registered only here) gets a CPU
lowering from codegen/cpu's reusable ``entry.lower_block``: the body's ops
lowered inline, its block arguments bound to the operands' buffers, its
``yield`` operands the results. DEBUG mode checks the op's native result
against its reference, which runs the body with the interpreter. A real
``theon-opt`` process takes the op from a ``--plugin`` module.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.cpu.lower.entry import lower_block
from theon.codegen.cpu.lower.lowering import LOWERINGS
from theon.frontend.build import build_function
from theon.frontend.variable import TensorVariable
from theon.ir.builder import make_op
from theon.runtime.debug import DebugModeError
from ..ir.test_regions import TEXT
from ..region_helpers import CALL, body_of, call_op  # noqa: F401 (fixture)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def lowered_call(call_op, monkeypatch):
    monkeypatch.setitem(LOWERINGS, CALL, lambda ctx, op, bufs: lower_block(ctx, op.regions[0], bufs))


def call(inputs, body_inputs, body_outputs):
    """The results of a ``test.call`` of ``inputs`` (DSL variables) whose
    body computes ``body_outputs`` from ``body_inputs``."""
    sub, _ = build_function(body_inputs, body_outputs, name="body")
    op = make_op(CALL, inputs, regions=[body_of(sub)], value_cls=TensorVariable)
    return op.results


def graph():
    x, w = T.dmatrix("x"), T.dvector("w")
    a, b = T.dmatrix("a"), T.dvector("b")
    e = T.exp(a)
    r, s = call([x, w], [a, b], [e * b + T.log(1.0 + e), (e * e).sum(axis=1)])
    return [x, w], [r * 2.0, s, s.sum()]


def want(x, w):
    e = np.exp(x)
    s = (e * e).sum(axis=1)
    return [2.0 * (e * w + np.log1p(e)), s, s.sum()]


@pytest.mark.parametrize("mode", ["DEBUG", "FAST_RUN", "FAST_COMPILE"])
def test_region_op_runs_natively(lowered_call, mode):
    inputs, outputs = graph()
    f = theon.function(inputs, outputs, mode=mode)
    assert CALL in [op.name for op in f.ir.walk()]
    rng = np.random.default_rng(0)
    for rows in (1, 5, 300):
        x, w = rng.standard_normal((rows, 3)), rng.standard_normal(3)
        for got, expected in zip(f(x, w), want(x, w)):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_debug_mode_checks_the_body_with_the_interpreter(lowered_call, monkeypatch):
    from theon.ir.dialect import get_op
    inputs, outputs = graph()
    f = theon.function(inputs, outputs, mode="DEBUG")
    x, w = np.ones((2, 3)), np.arange(3.0)
    f(x, w)
    exp = type(get_op("exp"))      # a wrong reference inside the body is caught at the region op
    monkeypatch.setattr(exp, "np_fn", staticmethod(lambda a: np.exp(a) * (1 + 1e-3)))
    g = theon.function(inputs, outputs, mode="DEBUG")
    with pytest.raises(DebugModeError, match=CALL.replace(".", r"\.")):
        g(x, w)


def test_theon_opt_process_loads_a_region_op_from_a_plugin(tmp_path):
    plugin = tmp_path / "call_plugin.py"
    plugin.write_text("from theon.ir.dialect import register_op\n"
                      "from tests.region_helpers import Call\n"
                      "register_op(Call)\n")
    path = tmp_path / "call.ir"
    path.write_text(TEXT)
    cmd = [sys.executable, "-m", "theon.runtime.opt_cli", str(path), "--plugin", str(plugin),
           "-p", "canonicalize,cse,fuse-elementwise,dce", "--print-ir-after-all", "--verify-each"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("// -----// IR Dump After") == 4 and f"{CALL}(%x, %w) (" in proc.stdout
    proc = subprocess.run(cmd[:4] + ["--plugin", str(tmp_path / "missing.py")], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 1 and "--plugin" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(cmd[:4], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1 and f"unknown op {CALL!r}" in proc.stderr
