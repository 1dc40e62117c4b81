"""``aot-compile --target cuda``'s C host with run-time input dims.

The C host takes the CPU entry's ABI (``NAME.h``: dynamic dims as
``int64_t`` parameters, ``NAME_output_shapes``), computes buffer sizes,
grids and kernel arguments in C from the dims, checks that the dims agree
(the CPU entry's error codes) and picks the launch sequence recorded for
dims like these. Built with gcc against the stub libcuda of
test_aot_cuda_host.py and run at several batch sizes in one process; each
call's launches must be the Python plan's for the same shapes.
"""
import re
import subprocess

import numpy as np
import pytest

from theon.codegen import errors as codes
from theon.codegen.ptx import GPU_SCHEDULE
from theon.runtime.aot_cli import main

from .test_aot_cuda_host import CC, STUB, _entry, _logged_launches, _same_launch, _stub_launches, needs_cc

SOURCE = '''
import numpy as np
import theon
import theon.tensor as T
import theon.tensor.nnet as NN

RNG = np.random.default_rng(6)
xb = T.tensor("float64", shape=(None, 12), name="xb")
rb = T.dvector("rb")
W1 = theon.shared(RNG.standard_normal((12, 10)) * 0.3, name="W1")
b1 = theon.shared(np.zeros(10), name="b1")
W2 = theon.shared(RNG.standard_normal((10, 4)) * 0.3, name="W2")
p = NN.softmax(T.dot(NN.relu(T.dot(xb, W1) + b1), W2))
infer = theon.function([xb, rb], [p * rb.dimshuffle(0, "x"), rb * 2])     # rows weighted by rb

xd = T.dvector("xd")
meanv = theon.function([xd], xd.mean())

xm = T.dmatrix("xm")
bcast = theon.function([xm, xd], T.exp(xm) * xd + 1)     # two dim classes: rows; columns == len(xd)
'''

MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "infer.h"
#include "infer_cuda.h"
int main(void) {
    static const int64_t sizes[] = {16, 5, 3000, 16, 1};
    static infer_state st;
    infer_state_init(&st);
    for (int k = 0; k < 5; k++) {
        int64_t n = sizes[k], shape[2], shape1[1];
        double *x = calloc(n * 12 + 1, sizeof(double)), *r = calloc(n + 1, sizeof(double));
        double *out = calloc(n * 4 + 1, sizeof(double)), *out1 = calloc(n + 1, sizeof(double));
        int rc = infer_output_shapes(n, n, shape, shape1);
        printf("infer %lld shapes rc %d -> %lld %lld, %lld\n", (long long)n, rc, (long long)shape[0],
               (long long)shape[1], (long long)shape1[0]);
        rc = infer(&st, x, n, r, n, out, out1);
        printf("infer %lld rc %d\n", (long long)n, rc);
        free(x); free(r); free(out); free(out1);
    }
    static double a[8 * 12], b[8], c[8 * 4], d[8];
    int64_t shape[2], shape1[1];
    printf("mismatch rc %d %d\n", infer(&st, a, 8, b, 7, c, d), infer_output_shapes(8, 7, shape, shape1));
    printf("negative rc %d\n", infer(&st, a, -1, b, -1, c, d));
    infer_cuda_release();
    printf("ok\n");
    return 0;
}
"""

SIZES = [16, 5, 3000, 16, 1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cuda_dyn")
    src = tmp / "models.py"
    src.write_text(SOURCE)
    out = tmp / "out"
    assert main([str(src), "-o", str(out), "--target", "cuda", "--entry", "infer,meanv,bcast"]) == 0
    return tmp, out, src


def _plan_launches(src, name, shapes):
    """The interpreted plan's launches for the entry at input ``shapes``:
    [(kernel, grid, block, args, param kinds)]."""
    from theon.codegen.ptx.plan import Plan
    from theon.runtime.aot.build import Options, run_passes
    entry = _entry(src, name)
    func = entry.func
    func.name = name
    func = run_passes(entry, func, Options(outdir=".", target="cuda", source=str(src)), "gpu")
    def zeros(state, inputs):
        for v, shape in zip(inputs, shapes):
            state.env[v] = state.upload(np.zeros(shape, v.type.np_dtype))
    return _logged_launches(Plan(func), entry, zeros)


@needs_cc
def test_batch_sizes_launch_as_the_plan_and_dims_are_checked(built):
    tmp, out, src = built
    (tmp / "stub.c").write_text(STUB)
    subprocess.run([CC, "-shared", "-fPIC", "-O1", "-o", str(tmp / "libcuda.so"), str(tmp / "stub.c")], check=True)
    (tmp / "main.c").write_text(MAIN)
    exe = tmp / "run"
    proc = subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(out), "-o", str(exe),
                           str(tmp / "main.c"), str(out / "infer_cuda.c"),
                           "-L", str(tmp), "-lcuda"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    log = tmp / "stub.log"
    import os
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp), STUB_LOG=str(log))
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
    text = run.stdout
    for n in SIZES:
        assert f"infer {n} shapes rc 0 -> {n} 4, {n}\n" in text and f"infer {n} rc 0\n" in text
    # disagreeing dims: the CPU entry's code, from the entry and from NAME_output_shapes
    assert f"mismatch rc {codes.SHAPE_MISMATCH} {codes.SHAPE_MISMATCH}" in text
    assert f"negative rc {codes.NEGATIVE_SIZE}" in text
    # every call's launches are the plan's for its shapes, copies sized by the dims
    lines = log.read_text().splitlines()
    stub = _stub_launches(lines)
    at = 0
    for n in SIZES:
        for name, shapes in (("infer", [(n, 12), (n,)]),):
            want = _plan_launches(src, name, shapes)
            assert want
            for w, g in zip(want, stub[at:at + len(want)]):
                _same_launch(w, g)
            at += len(want)
    assert at == len(stub)
    copies = [line.split()[:2] for line in lines if line.startswith(("htod", "dtoh"))]
    assert ["htod", str(8 * 3000 * 12)] in copies and ["htod", str(8 * 3000)] in copies
    assert ["dtoh", str(8 * 3000 * 4)] in copies and ["dtoh", str(8 * 3000)] in copies
    assert sum(line.startswith("module ") for line in lines) == 1
    c_text = (out / "infer_cuda.c").read_text()
    assert "theon__ensure" in c_text and re.search(r"return -THEON_ERR_CUDA_SHAPES", c_text)


def test_sizes_through_host_data_are_refused_with_the_reason(built):
    """A mean over a dynamic axis divides by a size the host computes and
    uploads as data: recordings at two lengths differ beyond the dims, so
    the C host is refused (and says why)."""
    import json
    tmp, out, src = built
    assert not (out / "meanv_cuda.c").exists()
    desc = json.loads((out / "meanv.launch.json").read_text())
    assert desc["c_host"]["emitted"] is False
    assert "host data" in desc["c_host"]["reason"], desc["c_host"]


@pytest.mark.parametrize("name", ["infer", "bcast"])
def test_the_chosen_sequence_is_the_plans_at_random_dims(built, name):
    """The C host's rule (the first variant whose guards hold), evaluated at
    many batch sizes, gives exactly what the plan records at those dims:
    every size, grid, kernel argument, buffer and result shape."""
    from theon.codegen.ptx.plan import Plan
    from theon.runtime.aot import cuda_host
    from theon.runtime.aot.build import Options, run_passes
    tmp, out, src = built
    entry = _entry(src, name)
    func = entry.func
    func.name = name
    options = Options(outdir=str(tmp), target="cuda", source=str(src))
    func = run_passes(entry, func, options, "gpu")
    plan = Plan(func)
    centry, (dims, variants) = cuda_host.prepare(entry, func, plan, options)
    n_cls = len(dims.classes())
    assert n_cls == {"infer": 1, "bcast": 2}[name]
    assert dims.checks and dims.checks[0][0] == codes.SHAPE_MISMATCH        # rb / xd must match
    shared = [np.zeros(f.shape, dtype=f.dtype) for f in centry.state]
    rng = np.random.default_rng(3)
    edges = [0, 1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 131, 132, 133, 255, 256, 257]
    points = {tuple(rng.choice(edges, n_cls).tolist()) for _ in range(20)}
    points |= {tuple(rng.integers(0, 5000, n_cls).tolist()) for _ in range(30)}
    points |= {tuple(rng.integers(5000, 1 << 22, n_cls).tolist()) for _ in range(5)}
    programs = [cuda_host._Program(centry, plan, v.trace) for v in variants]
    for values in sorted(points):
        values = list(values)
        k = cuda_host.select(variants, values)
        assert k is not None, values
        trace = cuda_host.record_trace(plan, GPU_SCHEDULE, dims.inputs(values), shared, [])
        want = cuda_host._Program(centry, plan, trace).concrete(values)
        assert programs[k].concrete(values) == want, (values, variants[k].dims_at)
