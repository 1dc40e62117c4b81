"""Tier-up helper processes (codegen/cpu/driver/tierup.py) end with their
parent, keep to their time and memory limits, and leave no files behind."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.cpu.driver import tierup

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PARENT = """
import json, os, sys, time
import theon, theon.tensor as T
from theon.codegen.cpu.driver import tierup, compile as cc
cc.BIG_MODULE_INSTRUCTIONS = 10                 # every module is tiered
tierup.RUN = "import time\\ntime.sleep(300)\\n"   # the helper only waits (its guard runs first)
if NO_PDEATHSIG:
    tierup.GUARD = tierup.GUARD.replace("if sys.platform.startswith('linux'):", "if False:")
x = T.matrix('x')
f = theon.function([x], T.tanh(x * 2 + 1).sum(axis=1))
assert f.native.tier == 0                       # loads tier 0 and starts the helper

def children():
    out = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/stat') as fh:
                    fields = fh.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                out.append(int(pid))
    return out

deadline = time.time() + 60
while not children() and time.time() < deadline:
    time.sleep(0.05)
print(json.dumps({'helpers': children()}), flush=True)
time.sleep(300)
"""


def _alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mechanism", ["pdeathsig", "watchdog"])
def test_an_orphaned_helper_exits_within_seconds(mechanism):
    code = PARENT.replace("NO_PDEATHSIG", str(mechanism == "watchdog"))
    env = dict(os.environ, THEON_FLAGS="cache_dir=")
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read()
        helpers = json.loads(line)["helpers"]
        assert len(helpers) == 1 and _alive(helpers[0])
    finally:
        parent.kill()
        parent.wait(30)
    start = time.monotonic()
    while _alive(helpers[0]) and time.monotonic() - start < 10:
        time.sleep(0.05)
    assert not _alive(helpers[0]), f"helper {helpers[0]} still runs {time.monotonic() - start:.1f} s after its parent died"


@pytest.fixture
def tier_everything(monkeypatch, tmp_path):
    from theon.codegen.cpu.driver import compile as cc
    # tier-up jobs that earlier tests in this process queued must not fill the queue
    # (MAX_QUEUED): a refused job is compiled at tier 1 at once, and these tests need tier 0
    assert tierup.wait(300)
    monkeypatch.setattr(cc, "BIG_MODULE_INSTRUCTIONS", 10)
    saved = theon.config.cache_dir
    theon.config.cache_dir = ""
    yield
    theon.config.cache_dir = saved


@pytest.fixture
def helper_errors(monkeypatch):
    errors = []
    real = tierup._run_helper

    def spy(job):
        try:
            return real(job)
        except Exception as e:
            errors.append(e)
            raise
    monkeypatch.setattr(tierup, "_run_helper", spy)
    return errors


def compile_big(salt):
    x = T.matrix("x")
    f = theon.function([x], T.tanh(x * salt + 1).sum(axis=1))
    assert f.native.tier == 0
    return f


def test_a_helper_keeps_to_its_time_limit(tier_everything, helper_errors, monkeypatch):
    monkeypatch.setattr(tierup, "TIME_LIMIT", 1.5)
    monkeypatch.setattr(tierup, "RUN", "import time\ntime.sleep(120)\n")
    start = time.monotonic()
    f = compile_big(1.25)
    assert tierup.wait(60)
    assert time.monotonic() - start < 30
    assert helper_errors and "(70)" in str(helper_errors[0])          # the watchdog's exit code
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_allclose(f(a), np.tanh(a * 1.25 + 1).sum(axis=1), rtol=1e-12)
    assert f.native.tier == 0                                           # tier 0 stays


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX resource limits")
def test_a_helper_keeps_to_its_memory_limit(tier_everything, helper_errors, monkeypatch):
    monkeypatch.setattr(tierup, "MEMORY_LIMIT", 1 << 30)
    monkeypatch.setattr(tierup, "RUN", "block = bytearray(3 << 30)\n")
    f = compile_big(1.5)
    assert tierup.wait(60)
    assert helper_errors and "MemoryError" in str(helper_errors[0])
    assert f.native.tier == 0 and f.native.pending is None
    assert tierup.memory_limit(10) == 1 << 30 and tierup.memory_limit(1 << 30) == 64 << 30


def test_a_helper_writes_no_files_and_its_output_is_checked(tier_everything, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    f = compile_big(1.75)
    assert tierup.wait(300)
    assert f.native.pending is not None
    f(np.ones((2, 2)))
    assert f.native.tier == 1
    assert os.listdir(tmp_path) == []
    obj = b"\x7fELF-not-really"
    assert tierup.unframe(tierup.frame(obj)) == obj
    for bad in (b"", tierup.frame(obj)[:-1], tierup.frame(obj) + b"x", b"garbage" * 4):
        with pytest.raises(ValueError):
            tierup.unframe(bad)


def test_stale_helper_folders_of_older_versions_are_removed(tmp_path):
    old = tmp_path / "theon-tierup-abc123"
    old.mkdir()
    (old / "module.ll").write_text("; ir")
    mine = tmp_path / "theon-tierup-keepme"
    mine.mkdir()
    (mine / "notes.txt").write_text("not the helper's")
    fresh = tmp_path / "theon-tierup-fresh1"
    fresh.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    for p in (old, mine, other):
        os.utime(p, (0, 0))
    tierup.remove_stale_folders(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["theon-tierup-fresh1", "theon-tierup-keepme", "unrelated"]


def test_cancel_drops_queued_jobs_and_ends_the_running_helper(tier_everything, helper_errors, monkeypatch):
    """``tierup.cancel`` (run by the suite after every test): the queued
    jobs are dropped, the running helper is killed at once (its RUN would
    sleep two minutes), and every function keeps working on tier 0."""
    monkeypatch.setattr(tierup, "RUN", "import time\ntime.sleep(120)\n")
    fs = [compile_big(2.0 + k / 8) for k in range(3)]
    start = time.monotonic()
    assert tierup.cancel(30)
    assert time.monotonic() - start < 20
    assert helper_errors and "cancelled" in str(helper_errors[0])
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    for k, f in enumerate(fs):
        np.testing.assert_allclose(f(a), np.tanh(a * (2.0 + k / 8) + 1).sum(axis=1), rtol=1e-12)
        assert f.native.tier == 0 and f.native.pending is None
    assert tierup.cancel(1)                 # idle: nothing to do
