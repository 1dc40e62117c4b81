"""The examples run as a user runs them: python examples/NAME.py."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, flags=""):
    env = dict(os.environ)
    env.pop("THEON_FLAGS", None)
    if flags:
        env["THEON_FLAGS"] = flags
    proc = subprocess.run([sys.executable, os.path.join("examples", name)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_basic_example():
    out = run_example("basic.py")
    assert "mul(4) -> [] ; w.get_value() -> array(4.)" in out
    assert "skip_shared(1, 3) with givens state := foo -> 7" in out
    assert "accumulator returned [0, 1] ; state is now 301" in out


@pytest.mark.parametrize("flags", ["", "floatX=float32"])
def test_logistic_regression_learns(flags):
    out = run_example("logistic_regression.py", flags)
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([0-9.]+)", out)]
    assert len(losses) == 10, out
    assert losses[-1] < losses[0] * 0.7, losses
    assert all(b <= a + 1e-3 for a, b in zip(losses, losses[1:])), losses
    accuracy = float(re.search(r"accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.9, out
