"""``aot-compile --target cuda``'s C host (runtime/aot/cuda_host.py), built
with gcc against a stub libcuda written in C: the stub records every
driver call (module loads, kernel names and parameter counts from the
PTX, grids, blocks, parameters, allocations, copies; its memory is host
memory, its kernels do nothing), and the test asserts that the C
program's launches and copies are the Python plan's for the same entry.
"""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from theon.codegen.ptx import GPU_SCHEDULE
from theon.codegen.ptx.plan import run_plan
from theon.codegen.ptx.specialize import AddressDevice
from theon.codegen.ptx.state import RunState
from theon.runtime.aot_cli import main

CC = shutil.which("gcc") or shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler")

STUB = r"""
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char name[256]; int nparams; } Fn;
static FILE *out;
static char *module_text;
static struct { uintptr_t base; size_t size; } allocs[4096];
static int n_allocs;

static void say(const char *fmt, ...) {
    if (!out) { const char *p = getenv("STUB_LOG"); out = fopen(p ? p : "stub.log", "w"); }
    va_list ap; va_start(ap, fmt); vfprintf(out, fmt, ap); va_end(ap); fflush(out);
}
static void value(uint64_t v) {
    for (int k = 0; k < n_allocs; k++)
        if (v >= allocs[k].base && v <= allocs[k].base + allocs[k].size) {
            say(" P%d+%llu", k, (unsigned long long)(v - allocs[k].base)); return;
        }
    say(" %lld", (long long)v);
}
int cuInit(unsigned f) { say("init %u\n", f); return 0; }
int cuDeviceGet(int *d, int o) { *d = o; say("device %d\n", o); return 0; }
int cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1000; say("primary %d\n", d); return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { say("release %d\n", d); return 0; }
int cuCtxSetCurrent(void *c) { (void)c; return 0; }
int cuModuleLoadData(void **m, const void *image) {
    module_text = strdup((const char *)image); *m = module_text;
    say("module %zu\n", strlen(module_text)); return 0;
}
int cuModuleUnload(void *m) { (void)m; return 0; }
int cuModuleGetFunction(void **f, void *m, const char *name) {
    char key[300]; snprintf(key, sizeof key, ".entry %s(", name);
    char *at = strstr((char *)m, key);
    if (!at) return 500;
    char *end = strchr(at, ')');
    Fn *fn = calloc(1, sizeof *fn); strncpy(fn->name, name, 255);
    for (char *p = strstr(at, ".param"); p && p < end; p = strstr(p + 1, ".param")) fn->nparams++;
    *f = fn; say("function %s %d\n", name, fn->nparams); return 0;
}
int cuMemAlloc_v2(uint64_t *p, size_t n) {
    void *m = calloc(n, 1); *p = (uintptr_t)m;
    allocs[n_allocs].base = (uintptr_t)m; allocs[n_allocs].size = n; n_allocs++;
    say("alloc %zu\n", n); return 0;
}
int cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); say("free\n"); return 0; }
int cuMemcpyHtoD_v2(uint64_t d, const void *s, size_t n) {
    memcpy((void *)(uintptr_t)d, s, n); say("htod %zu", n); value(d); say("\n"); return 0;
}
int cuMemcpyDtoH_v2(void *d, uint64_t s, size_t n) {
    memcpy(d, (void *)(uintptr_t)s, n); say("dtoh %zu", n); value(s); say("\n"); return 0;
}
int cuLaunchKernel(Fn *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shmem, void *stream, void **params, void **extra) {
    (void)stream; (void)extra;
    say("launch %s %u %u %u %u %u %u %u |", f->name, gx, gy, gz, bx, by, bz, shmem);
    for (int k = 0; k < f->nparams; k++) value(*(uint64_t *)params[k]);
    say("\n"); return 0;
}
"""

SOURCE = '''
import numpy as np
import theon
import theon.tensor as T
import theon.tensor.nnet as NN

RNG = np.random.default_rng(6)
x = T.tensor("float64", shape=(1000,), name="x")
y = T.tensor("float64", shape=(1000,), name="y")
w1 = theon.function([x, y], 2.0 * x + y)                  # W1: elementwise

xs = T.tensor("float64", shape=(16, 12), name="xs")
ys = T.tensor("int64", shape=(16,), name="ys")
params = [theon.shared(RNG.standard_normal((12, 10)) * 0.3, name="W1"), theon.shared(np.zeros(10), name="b1"),
          theon.shared(RNG.standard_normal((10, 4)) * 0.3, name="W2"), theon.shared(np.zeros(4), name="b2")]
W1, b1, W2, b2 = params
p = NN.softmax(T.dot(NN.relu(T.dot(xs, W1) + b1), W2) + b2)
loss = NN.categorical_crossentropy(p, ys).mean()
grads = theon.grad(loss, params)
mlp_step = theon.function([xs, ys], loss, updates=[(v, v - 0.5 * g) for v, g in zip(params, grads)])

wl = theon.shared(np.linspace(-1, 1, 12), name="w")
bl = theon.shared(np.array(0.25), name="b")
logreg_predict = theon.function([xs], T.nnet.sigmoid(T.dot(xs, wl) + bl) > 0.5)

from theon.tensor.nnet import conv2d
from theon.tensor.signal.pool import pool_2d
xi = T.tensor("float32", shape=(4, 1, 12, 12), name="xi")
k1 = theon.shared((RNG.standard_normal((4, 1, 3, 3)) * 0.3).astype("float32"), name="k1")
wf = theon.shared((RNG.standard_normal((4 * 5 * 5, 10)) * 0.1).astype("float32"), name="wf")
h = pool_2d(T.nnet.relu(conv2d(xi, k1)), (2, 2), ignore_border=True)
lenet_predict = theon.function([xi], T.argmax(T.dot(h.flatten(2), wf), axis=1))   # LeNet-like inference

xd = T.dvector("xd")
dynamic = theon.function([xd], xd * 2)
cnt = T.cast(T.sum(T.gt(x, 0)), "int64")
data_dependent = theon.function([x], T.alloc(x.max(), cnt, 2))
'''

MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "%(name)s.h"
#include "%(name)s_cuda.h"
int main(void) {
%(decls)s
    for (int call = 0; call < 2; call++) {
        int rc = %(name)s(%(args)s);
        if (rc) { printf("error %%d %%s\n", rc, %(name)s_cuda_error()); return 1; }
    }
%(after)s
    %(name)s_cuda_release();
    printf("ok\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """SOURCE compiled for --target cuda, and the stub libcuda."""
    tmp = tmp_path_factory.mktemp("cuda_host")
    src = tmp / "models.py"
    src.write_text(SOURCE)
    out = tmp / "out"
    rc = main([str(src), "-o", str(out), "--target", "cuda", "--entry", "w1,mlp_step,logreg_predict,lenet_predict"])
    assert rc == 0
    if CC:
        stub = tmp / "stub.c"
        stub.write_text(STUB)
        subprocess.run([CC, "-shared", "-fPIC", "-O1", "-o", str(tmp / "libcuda.so"), str(stub)], check=True)
    return tmp, out, src


def _entry(src, name):
    from theon.runtime.aot.source import load_entries
    (e,) = [e for e in load_entries(str(src)) if e.name == name]
    return e


def _python_launches(src, name):
    """The interpreted plan's launches for the entry (GPU schedule, an
    address-only device): [(kernel, grid, block, args, param kinds)]."""
    from theon.codegen.ptx.plan import Plan
    from theon.runtime.aot.build import Options, run_passes
    entry = _entry(src, name)
    func = entry.func if entry.gpu_func is None else entry.gpu_func     # as runtime/aot/ptx.py picks
    func.name = name
    func = run_passes(entry, func, Options(outdir=".", target="cuda", source=str(src)))
    plan = Plan(func)
    func = plan.func            # (a copy when fused stages were split)

    def zeros(state, inputs):
        for v in inputs:
            state.host[v] = np.zeros(v.type.shape, v.type.np_dtype)
    return _logged_launches(plan, entry, zeros), entry, func


def _logged_launches(plan, entry, put_inputs):
    """Run ``plan`` on an address-only device (GPU schedule) with the
    entry's shared values, ``put_inputs(state, input values)`` setting the
    inputs: [(kernel, grid, block, args, param kinds)] of its launches."""
    func = plan.func
    log = []

    class Logged(AddressDevice):
        def launch(self, kernel, grid, block, args):
            log.append((kernel, tuple(grid), tuple(block), list(args)))
    dev = Logged(GPU_SCHEDULE)
    state = RunState(dev.load(plan), dev)
    n_in = len(entry.input_labels)
    put_inputs(state, func.args[:n_in])
    for v, val in zip(func.args[n_in:], entry.shared_values):
        state.env[v] = state.upload(np.asarray(val, v.type.np_dtype))
    run_plan(plan, state)
    for v in func.return_op.operands:
        if v in state.env:
            state.contiguous(state.env[v])
    return [(k, g, b, a, [kind for _, kind in plan.kernels[k].params]) for k, g, b, a in log]


def _build_and_run(tmp, out, name, decls, args, after=""):
    main_c = tmp / f"main_{name}.c"
    main_c.write_text(MAIN % {"name": name, "decls": decls, "args": args, "after": after})
    exe = tmp / f"run_{name}"
    proc = subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(out), "-o", str(exe),
                           str(main_c), str(out / f"{name}_cuda.c"), "-L", str(tmp), "-lcuda"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    log = tmp / f"{name}.log"
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp), STUB_LOG=str(log))
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
    return run.stdout, log.read_text().splitlines()


def _stub_launches(lines):
    out = []
    for line in lines:
        if line.startswith("launch "):
            head, vals = line.split("|")
            _, name, *dims = head.split()
            dims = [int(d) for d in dims]
            out.append((name, tuple(dims[:3]), tuple(dims[3:6]), vals.split()))
    return out


def _calls(lines):
    """The log split at the first launch of each call: (init lines, [per call lines])."""
    starts = [k for k, line in enumerate(lines) if line.startswith("htod") or line.startswith("launch")]
    first_launch = next(k for k, line in enumerate(lines) if line.startswith("launch"))
    init = [line for line in lines[:first_launch] if not line.startswith("htod") or "P" not in line]
    return init, starts


def _same_launch(want, got):
    """A C host launch (from the stub's log) is the Python plan's: the same
    kernel, grid, block and integer arguments, device buffers for pointers."""
    k, g, b, args, kinds = want
    name, sg, sb, vals = got
    assert (name, sg, sb) == (k, g, b)
    assert len(vals) == len(kinds)
    for a, kind, v in zip(args, kinds, vals):
        if kind == "i64":
            assert v == str(a), (name, args, vals)
        else:
            assert v.startswith("P"), (name, vals)       # a device buffer of the C host


def _check_launches(py, stub, calls=2):
    assert len(stub) == calls * len(py)
    for c in range(calls):
        for want, got in zip(py, stub[c * len(py):(c + 1) * len(py)]):
            _same_launch(want, got)


@needs_cc
def test_w1_elementwise_launches_and_copies_match_the_plan(built):
    tmp, out, src = built
    py, entry, func = _python_launches(src, "w1")
    stdout, lines = _build_and_run(
        tmp, out, "w1",
        "    static double x[1000], y[1000], out[1000];\n    for (int i = 0; i < 1000; i++) x[i] = y[i] = i;",
        "x, y, out")
    stub = _stub_launches(lines)
    _check_launches(py, stub)
    assert sum(line.startswith("module ") for line in lines) == 1        # loaded once
    assert [line.split()[0:2] for line in lines if line.startswith(("htod", "dtoh"))] == \
        [["htod", "8000"], ["htod", "8000"], ["dtoh", "8000"]] * 2
    # the output is read from the buffer the last launch wrote
    out_buf = [line for line in lines if line.startswith("dtoh")][0].split()[2]
    assert out_buf in stub[-1][3]
    # the C file embeds the PTX it loads (the stub logs its length); ptxas accepts it
    ptx = (out / "w1.ptx").read_text()
    assert f"module {len(ptx.encode())}" in lines
    if shutil.which("ptxas"):
        proc = subprocess.run(["ptxas", "--gpu-name", "sm_80", "-o", os.devnull, str(out / "w1.ptx")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@needs_cc
def test_mlp_step_state_struct_launches_and_updates(built):
    tmp, out, src = built
    py, entry, func = _python_launches(src, "mlp_step")
    header = (out / "mlp_step.h").read_text()
    assert "typedef struct mlp_step_state" in header
    after = "\n".join([
        "    mlp_step_state fresh; mlp_step_state_init(&fresh);",
        "    printf(\"W1 %.17g %.17g\\n\", fresh.W1[0][0], fresh.W1[11][9]);",
        "    printf(\"loss %.17g\\n\", loss);"])
    stdout, lines = _build_and_run(
        tmp, out, "mlp_step",
        "    static mlp_step_state st; mlp_step_state_init(&st);\n"
        "    static double xs[16][12]; static int64_t ys[16]; double loss = -1;\n"
        "    for (int i = 0; i < 16; i++) ys[i] = i % 4;",
        "&st, &xs[0][0], ys, &loss", after)
    _check_launches(py, _stub_launches(lines))
    w = np.asarray(entry.shared_values[0])
    got = re.search(r"W1 (\S+) (\S+)", stdout).groups()
    assert [float(v) for v in got] == [w[0, 0], w[11, 9]]                  # NAME_state_init
    copies = [line.split()[:2] for line in lines if line.startswith(("htod", "dtoh"))]
    state_bytes = [np.asarray(v).nbytes for v in entry.shared_values]
    per_call = [["htod", "1536"], ["htod", "128"]] + [["htod", str(b)] for b in state_bytes] + \
        [["dtoh", "8"]] + [["dtoh", str(b)] for b in state_bytes]
    constant_uploads = len(copies) - 2 * len(per_call)
    assert constant_uploads >= 0 and copies[constant_uploads:] == per_call * 2


@needs_cc
def test_logistic_regression_inference(built):
    tmp, out, src = built
    py, entry, func = _python_launches(src, "logreg_predict")
    stdout, lines = _build_and_run(
        tmp, out, "logreg_predict",
        "    static logreg_predict_state st; logreg_predict_state_init(&st);\n"
        "    static double xs[16][12]; static uint8_t pred[16];",
        "&st, &xs[0][0], pred")
    _check_launches(py, _stub_launches(lines))


@needs_cc
def test_lenet_inference(built):
    """Convolution, pooling, a reshape whose size the host computes, a matrix
    product and argmax: no step reads device data, so the C host runs it."""
    tmp, out, src = built
    py, entry, func = _python_launches(src, "lenet_predict")
    stdout, lines = _build_and_run(
        tmp, out, "lenet_predict",
        "    static lenet_predict_state st; lenet_predict_state_init(&st);\n"
        "    static float xi[4][1][12][12]; static int64_t label[4];",
        "&st, &xi[0][0][0][0], label")
    _check_launches(py, _stub_launches(lines))
    assert [line.split()[:2] for line in lines if line.startswith("dtoh")] == [["dtoh", "32"]] * 2


def test_data_dependent_entries_are_refused(built, tmp_path):
    """(Dynamic dims are fine: test_aot_cuda_dynamic.py.)"""
    tmp, out, src = built
    for name, why in [("data_dependent", "reads device data")]:
        rc = main([str(src), "-o", str(tmp_path), "--target", "cuda", "--entry", name, "--emit", "ptx,host"])
        assert rc == 1
        rc = main([str(src), "-o", str(tmp_path), "--target", "cuda", "--entry", name])
        assert rc == 0
        desc = json.loads((tmp_path / f"{name}.launch.json").read_text())
        assert desc["c_host"]["emitted"] is False and why in desc["c_host"]["reason"], desc["c_host"]
        assert not (tmp_path / f"{name}_cuda.c").exists()


def test_emit_host_needs_target_cuda(built, tmp_path, capsys):
    tmp, out, src = built
    assert main([str(src), "-o", str(tmp_path), "--emit", "host"]) == 1
    assert "--emit host needs --target cuda" in capsys.readouterr().err
