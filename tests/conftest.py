"""Shared test helpers: the tier markers, and running Python snippets in a
fresh interpreter.

Tests live in one folder per tier (ir, native, gpu); each test gets its
folder's marker, so `-m "not gpu"` and the like select by tier too.

A snippet that feeds native code bad input runs in a subprocess, so a
crash shows as a signal exit instead of killing the test run.

Tier-up compiles (codegen/cpu/driver/tierup.py: the full LLVM pipeline of
a big module in a helper process) that a test leaves behind are dropped
when it ends: a test that needs tier-1 code waits for it (``tierup.wait``)
and gets it; left running, the helpers (each several times the CPU of the
test's own compile) competed with the next tests for the cores, filled the
queue (a refused job is compiled at -O3 at once, in the test) and made
``tierup.wait`` in later tests wait for all of them.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIERS = ("ir", "native", "gpu")
# gpu_check.sh's paths from before the tiers: re-exports of tests/gpu files, collected only when named
collect_ignore = ["test_gpu_exec.py", "test_ptx.py"]


def pytest_collection_modifyitems(config, items):
    """Mark each test with the tier its folder (tests/<tier>/) names."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        rel = os.path.relpath(str(item.path), here).split(os.sep)
        if len(rel) > 1 and rel[0] in TIERS:
            item.add_marker(rel[0])


@pytest.fixture(autouse=True)
def _drop_tier_up_jobs_left_behind():
    """After each test: the tier-up jobs it queued and did not wait for are
    dropped and a running helper is ended (``tierup.cancel``; the module
    docstring says why); the functions keep their tier-0 code, as when a
    helper fails."""
    yield
    tierup = sys.modules.get("theon.codegen.cpu.driver.tierup")
    if tierup is not None:
        tierup.cancel(30)


def _run_python(code, timeout=120, env=None, cwd=None):
    """Run ``code`` in a new interpreter; returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.pop("THEON_FLAGS", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd or REPO)


def _run_json(code, timeout=120, env=None):
    """Run ``code``, which prints one JSON line last; returns it parsed.
    Fails the test when the interpreter died (a signal) or printed no JSON."""
    proc = _run_python(code, timeout=timeout, env=env)
    assert proc.returncode == 0, (f"subprocess exited with {proc.returncode} "
                                  f"(negative: killed by signal {-proc.returncode})\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, f"subprocess printed nothing\nstderr:\n{proc.stderr}"
    return json.loads(lines[-1])


@pytest.fixture
def run_python():
    """``run_python(code, timeout=120, env=None, cwd=None)`` -> CompletedProcess."""
    return _run_python


@pytest.fixture
def run_json():
    """``run_json(code)`` -> the JSON its last output line holds."""
    return _run_json


@pytest.fixture
def floatx():
    """Set theon.config.floatX for one test, restoring it after."""
    import theon
    saved = theon.config.floatX

    def set_floatx(value):
        theon.config.floatX = value
    yield set_floatx
    theon.config.floatX = saved
