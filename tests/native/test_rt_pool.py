"""The runtime library's thread pool (codegen/cpu/rtlib/pool.py).

``theon_rt_parallel(worker, data, n, parts)`` is called through a small JIT
module whose workers record, per part, how often they ran, their slice and
their thread; it must run every part exactly once with its slice of
``[0, n)``, on several threads when there are cores for them, and stay
correct when it cannot use the pool: nested calls, many OS threads calling
at once, forked children (with the parent's pool idle or busy), and AOT
objects linked into a C program that calls it from several pthreads and
forks."""
import ctypes
import os
import shutil
import subprocess
import threading
import time

import llvmlite.ir as lir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theon.codegen.cpu.driver import jit, rtload
from theon.codegen.cpu.rtlib import pool as rt_pool
from theon.codegen.cpu import rtlib
from theon.runtime.aot_cli import main as aot_main

from ..native_helpers import run_in_threads

I32 = lir.IntType(32)
I64 = lir.IntType(64)
I8P = lir.IntType(8).as_pointer()
MAXP = 128                      # parts a record block has room for
BLOCK = 4 + 4 * MAXP            # i64s: delay_us, inner n, inner parts, -, counts, begins, ends, threads


def _emit_probe():
    """A JIT module: ``record`` (a worker that records its call), ``nested``
    (a worker whose parts call theon_rt_parallel themselves) and
    ``go(data, n, parts, nested)``."""
    m = lir.Module(name="pool_probe")
    parallel = rtlib.declare(m, "theon_rt_parallel", rt_pool.PARALLEL_TYPE)
    self_id = lir.Function(m, lir.FunctionType(I64, []), "pthread_self")
    usleep = lir.Function(m, lir.FunctionType(I32, [I32]), "usleep")

    def c(v):
        return lir.Constant(I64, v)

    record = lir.Function(m, rt_pool.WORKER_TYPE, "record")
    b = lir.IRBuilder(record.append_basic_block("entry"))
    data, begin, end, part = record.args
    d = b.bitcast(data, I64.as_pointer())
    b.atomic_rmw("add", b.gep(d, [b.add(c(4), part)]), c(1), "seq_cst")
    b.store(begin, b.gep(d, [b.add(c(4 + MAXP), part)]))
    b.store(end, b.gep(d, [b.add(c(4 + 2 * MAXP), part)]))
    b.store(b.call(self_id, []), b.gep(d, [b.add(c(4 + 3 * MAXP), part)]))
    delay = b.load(d)
    with b.if_then(b.icmp_signed(">", delay, c(0))):
        b.call(usleep, [b.trunc(delay, I32)])
    b.ret_void()

    nested = lir.Function(m, rt_pool.WORKER_TYPE, "nested")
    b = lir.IRBuilder(nested.append_basic_block("entry"))
    data, begin, end, part = nested.args
    d = b.bitcast(data, I64.as_pointer())
    b.call(record, nested.args)
    inner = b.gep(d, [b.mul(b.add(part, c(1)), c(BLOCK))])
    b.call(parallel, [record, b.bitcast(inner, I8P), b.load(b.gep(d, [c(1)])), b.load(b.gep(d, [c(2)]))])
    b.ret_void()

    go = lir.Function(m, lir.FunctionType(lir.VoidType(), [I8P, I64, I64, I64]), "go")
    b = lir.IRBuilder(go.append_basic_block("entry"))
    which = b.select(b.icmp_signed("!=", go.args[3], c(0)), nested, record)
    b.call(parallel, [which, go.args[0], go.args[1], go.args[2]])
    b.ret_void()
    return m


@pytest.fixture(scope="module")
def probe():
    module = jit.JitModule(str(_emit_probe()))
    go = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(
        module.address("go"))
    num_threads = ctypes.CFUNCTYPE(ctypes.c_int64)(rtload.address("theon_rt_num_threads"))
    return Probe(module, go, num_threads)


class Probe:
    def __init__(self, module, go, num_threads):
        self.module = module            # keeps the code alive
        self._go = go
        self.num_threads = num_threads

    def run(self, n, parts, delay_us=0, inner=None):
        """The record blocks after ``theon_rt_parallel`` over [0, n) in ``parts``
        (``inner`` = (n, parts): each part also runs a nested call)."""
        blocks = 1 + (max(parts, 1) if inner else 0)
        data = np.zeros((blocks, BLOCK), np.int64)
        data[:, 0] = delay_us
        if inner:
            data[0, 1:3] = inner
        self._go(data.ctypes.data, n, parts, int(bool(inner)))
        return data


def counts(block):
    return block[4:4 + MAXP]


def slices(block):
    return block[4 + MAXP:4 + 2 * MAXP], block[4 + 2 * MAXP:4 + 3 * MAXP]


def threads_of(block, parts):
    return set(block[4 + 3 * MAXP:4 + 3 * MAXP + parts].tolist())


def expected_slices(n, parts):
    """parallel.run_parts' contract: part t gets [t*chunk, (t+1)*chunk) & [0, n)."""
    if parts <= 1:
        return [(0, n)]
    n0 = max(n, 0)
    chunk = -(-n0 // parts)
    return [(min(t * chunk, n0), min(min(t * chunk, n0) + chunk, n0)) for t in range(parts)]


def check_block(block, n, parts):
    want = expected_slices(n, parts)
    got_counts = counts(block)
    assert got_counts[:len(want)].tolist() == [1] * len(want), got_counts[:len(want)]
    assert not got_counts[len(want):].any()
    begins, ends = slices(block)
    assert list(zip(begins[:len(want)].tolist(), ends[:len(want)].tolist())) == want


# --- the contract ---------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(n=st.integers(-3, 600), parts=st.integers(-2, MAXP))
def test_every_part_runs_once_with_its_slice(probe, n, parts):
    check_block(probe.run(n, parts)[0], n, parts)


def test_slices_cover_the_range_exactly():
    for n in range(0, 40):
        for parts in range(1, 12):
            covered = [i for lo, hi in expected_slices(n, parts) for i in range(lo, hi)]
            assert covered == list(range(n))


def test_num_threads_is_the_affinity_count(probe):
    assert probe.num_threads() == min(len(os.sched_getaffinity(0)), rt_pool.MAX_THREADS)
    assert probe.num_threads() == probe.num_threads()       # cached


def test_parts_run_on_several_threads(probe):
    if probe.num_threads() < 2:
        pytest.skip("one core: the pool has no threads")
    seen = set()
    for _ in range(100):            # slow parts: a pool thread claims one unless the machine is saturated
        block = probe.run(8, 4, delay_us=2000)[0]
        check_block(block, 8, 4)
        seen |= threads_of(block, 4)
        if len(seen) > 1:
            break
    assert len(seen) > 1, "every part ran on one thread"


def test_more_parts_than_threads_and_repeated_jobs(probe):
    for k in range(300):
        n, parts = 1000 + k, 2 + k % 70
        check_block(probe.run(n, parts)[0], n, parts)


def test_nested_calls_run_inside_the_part(probe):
    data = probe.run(10, 3, inner=(17, 5))
    check_block(data[0], 10, 3)
    for p in range(3):
        check_block(data[1 + p], 17, 5)


# --- the busy path: several callers at once ---------------------------------------------------------
def test_many_os_threads_call_at_once(probe):

    def work(k):
        for r in range(150):
            n, parts = 50 + 7 * k + r, 2 + (k + r) % 9
            delay = 50 if r % 10 == 0 else 0
            check_block(probe.run(n, parts, delay_us=delay)[0], n, parts)

    errors = run_in_threads(work, [(k,) for k in range(8)])
    assert not errors, errors[:3]


# --- fork -------------------------------------------------------------------------------------------
def _in_child(body, timeout=60.0):
    """Run ``body()`` in a forked child; its exit status is 0 when it returned
    True. Fails on a crash, a wrong result or a hang (killed after ``timeout``)."""
    pid = os.fork()
    if pid == 0:                                    # the child: never return into pytest
        ok = False
        try:
            ok = bool(body())
        finally:
            os._exit(0 if ok else 3)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.WIFEXITED(status), f"child died: status {status}"
    assert os.WEXITSTATUS(status) == 0, "wrong result in the child"


def _check_many(probe, rounds=50):
    for r in range(rounds):
        n, parts = 100 + r, 2 + r % 6
        check_block(probe.run(n, parts, delay_us=100 if r % 5 == 0 else 0)[0], n, parts)
    return True


def test_forked_child_rebuilds_the_pool(probe):
    _check_many(probe, 5)                           # the parent's pool is running
    cores = probe.num_threads()

    def child():
        _check_many(probe)
        if cores > 1:                               # the child has pool threads of its own
            for _ in range(100):
                if len(threads_of(probe.run(8, 4, delay_us=2000)[0], 4)) > 1:
                    break
            else:
                return False
        _in_child(lambda: _check_many(probe))       # and its child too
        return True

    _in_child(child)
    _check_many(probe, 5)                           # the parent's pool still works


def test_fork_while_another_thread_is_inside_a_parallel_region(probe):
    stop = threading.Event()
    errors = []

    def busy():
        try:
            while not stop.is_set():
                check_block(probe.run(4, 4, delay_us=3000)[0], 4, 4)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(5):
            time.sleep(0.004)
            _in_child(lambda: _check_many(probe, 20))
    finally:
        stop.set()
        t.join()
    assert not errors, errors


# --- AOT: the pool compiled into the object --------------------------------------------------------
AOT_MODEL = """
import theon, theon.tensor as T
x = T.fvector("x")
y = T.fvector("y")
big = theon.function([x, y], T.exp(x) * y + T.log1p(x * x))         # threaded above 256k elements
"""

AOT_DRIVER = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>
#include "big.h"
#define N 600000
static float x[N], y[N];

static int check(void) {
    float *out = malloc(sizeof(float) * N);
    if (!out || big(x, N, y, N, out) != THEON_OK) return 1;
    for (long i = 0; i < N; i += 997) {
        float want = expf(x[i]) * y[i] + log1pf(x[i] * x[i]);
        if (fabsf(out[i] - want) > 1e-5f * (1.0f + fabsf(want))) return 1;
    }
    free(out);
    return 0;
}

static void *caller(void *arg) {
    long bad = 0;
    for (int r = 0; r < 20; r++) bad += check();
    return (void *)bad;
}

int main(void) {
    for (long i = 0; i < N; i++) { x[i] = (float)((i % 1000) * 0.001); y[i] = (float)(i % 7); }
    if (check()) return 1;
    pthread_t t[4];
    for (int k = 0; k < 4; k++) pthread_create(&t[k], NULL, caller, NULL);
    long bad = 0;
    for (int k = 0; k < 4; k++) { void *r; pthread_join(t[k], &r); bad += (long)r; }
    if (bad) return 2;
    pid_t pid = fork();
    if (pid == 0) _exit(check() || check() ? 1 : 0);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    printf("ok\n");
    return 0;
}
"""


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_aot_object_has_the_pool_and_runs_it_from_threads_and_forks(tmp_path):
    src = tmp_path / "model.py"
    src.write_text(AOT_MODEL)
    assert aot_main([str(src), "-o", str(tmp_path), "--emit", "obj,header,llvm"]) == 0
    ir = (tmp_path / "big.ll").read_text()
    assert "theon_rt_parallel" in ir and "pthread_create" in ir
    (tmp_path / "driver.c").write_text(AOT_DRIVER)
    exe = tmp_path / "driver"
    cc = shutil.which(os.environ.get("CC", "cc"))
    cmd = [cc, "-std=gnu99", "-O1", "-I", str(tmp_path), str(tmp_path / "driver.c"), str(tmp_path / "big.o"),
           "-lm", "-lpthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "ok\n", (run.returncode, run.stdout, run.stderr)
    nm = shutil.which("nm")
    if nm:
        syms = subprocess.run([nm, str(tmp_path / "big.o")], capture_output=True, text=True).stdout
        exported = [ln.split()[-1] for ln in syms.splitlines() if " T " in ln]
        assert not [s for s in exported if s.startswith("theon_rt_")], exported
