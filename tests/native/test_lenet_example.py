"""examples/lenet_digits.py: the tutorials' LeNet on the bundled digits.

Run as a user runs it, its loss falls epoch after epoch and the test
accuracy is far above chance; built with ``aot-compile``, its inference
entry ``predict`` classifies digits in a C program with the trained weights
(loaded into the state struct) and gives the JIT's probabilities.
"""
import os
import re
import runpy
import shutil
import subprocess

import numpy as np
import pytest

from theon.runtime.aot_cli import main as aot_compile

from .test_examples import REPO, run_example

EXAMPLE = os.path.join(REPO, "examples", "lenet_digits.py")
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def test_example_loss_falls_and_classifies():
    out = run_example("lenet_digits.py")
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([0-9.]+)", out)]
    assert len(losses) == 6, out
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0], losses
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.6, out          # chance is 0.1


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "predict.h"

static int load(const char *path, void *dst, size_t bytes) {
    FILE *fh = fopen(path, "rb");
    if (!fh) return 0;
    size_t got = fread(dst, 1, bytes, fh);
    fclose(fh);
    return got == bytes;
}

int main(int argc, char **argv) {
    if (argc != 3) return 3;
    const int64_t N = %(n)d;
    static predict_state s;
    predict_state_init(&s);
    float *x = malloc(sizeof(float) * N * 16 * 16);
    float *p = malloc(sizeof(float) * N * 10);
    if (!load(argv[1], &s, sizeof s) || !load(argv[2], x, sizeof(float) * N * 16 * 16)) return 4;
    int64_t shape[2];
    int rc = predict_output_shapes(N, shape);
    if (rc != THEON_OK || shape[0] != N || shape[1] != 10) return 5;
    rc = predict(&s, x, N, p);
    if (rc != THEON_OK) { printf("error %%d %%s\n", rc, theon_strerror(rc)); return 2; }
    for (int64_t i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < 10; k++) if (p[i * 10 + k] > p[i * 10 + best]) best = k;
        printf("digit %%d", best);
        for (int k = 0; k < 10; k++) printf(" %%.9g", p[i * 10 + k]);
        printf("\n");
    }
    return 0;
}
"""


@pytest.mark.slow
@pytest.mark.skipif(CC is None, reason="no C compiler to link the object with")
def test_aot_predict_in_c_matches_jit(tmp_path):
    out = tmp_path / "aot"
    assert aot_compile([EXAMPLE, "-o", str(out), "--entry", "predict", "--emit", "obj,header", "-O1"]) == 0
    header = (out / "predict.h").read_text()
    assert "typedef struct predict_state {" in header
    model = runpy.run_path(EXAMPLE, run_name="lenet_reference")
    losses, accuracy = model["train"](epochs=3, verbose=False)
    assert losses[-1] < losses[0] and accuracy > 0.3, (losses, accuracy)
    # the trained weights, in the state struct's layout (the fields in order, all float32)
    state = b"".join(np.ascontiguousarray(model["params"][name].get_value(), np.float32).tobytes()
                     for name in model["PARAMS"])
    assert f"sizeof(predict_state) == {len(state)}" in header
    x_test, y_test = model["data"]()[2:4]
    x = np.ascontiguousarray(x_test[:16], np.float32)
    (tmp_path / "state.bin").write_bytes(state)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    src = tmp_path / "driver.c"
    src.write_text(DRIVER % {"n": len(x)})
    exe = tmp_path / "driver"
    cmd = [CC, "-std=c99", "-Wall", "-Werror", "-O1", "-I", str(out), str(src), str(out / "predict.o"),
           "-lm", "-lpthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe), str(tmp_path / "state.bin"), str(tmp_path / "x.bin")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line.split() for line in run.stdout.splitlines()]
    assert len(rows) == len(x) and all(r[0] == "digit" for r in rows), run.stdout
    got_class = np.array([int(r[1]) for r in rows])
    got_probs = np.array([[float(v) for v in r[2:]] for r in rows])

    want_probs = model["predict"](x)
    np.testing.assert_allclose(got_probs, want_probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(got_class, np.argmax(want_probs, axis=1))
    np.testing.assert_allclose(got_probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(got_class == y_test[:16]) > 0.3          # trained weights: it classifies the digits
