"""examples/mlp.py runs as a user runs it (python examples/mlp.py): the loss
decreases over the epochs and the test accuracy is far above chance."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("flags", [""])   # floatX=float32 works too (slower to test)
def test_mlp_example_learns(flags):
    env = dict(os.environ)
    env.pop("THEON_FLAGS", None)
    if flags:
        env["THEON_FLAGS"] = flags
    proc = subprocess.run([sys.executable, os.path.join("examples", "mlp.py")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, f"exited with {proc.returncode}\n{out}\n{proc.stderr}"
    assert f"floatX={'float32' if flags else 'float64'}" in out, out
    losses = [float(v) for v in re.findall(r"^epoch \d+: loss ([0-9.]+)$", out, re.M)]
    assert len(losses) == 15, out
    assert losses[-1] < 0.5 * losses[0], losses
    # SGD on shuffled minibatches: the epoch mean may wobble, but not by much
    assert all(b < a * 1.05 for a, b in zip(losses, losses[1:])), losses
    accuracy = float(re.search(r"^test accuracy ([0-9.]+)$", out, re.M).group(1))
    assert accuracy > 0.6, out      # chance is 0.1 (10 classes)
