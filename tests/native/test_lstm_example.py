"""examples/lstm_sequence.py: a character-level LSTM trained with scan.

Run as a user runs it, its loss falls epoch after epoch; built with
``aot-compile`` into an object file, a C program trains the same model
from the same initial weights and gives the numbers of the JIT-compiled
``train_step`` (losses and updated weights).
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

EXAMPLE = os.path.join(REPO, "examples", "lstm_sequence.py")
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
STATE = ("Wx", "Wh", "b", "Wy", "by")       # the state struct's fields, in order


@pytest.mark.slow
def test_example_loss_falls():
    out = run_example("lstm_sequence.py")
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([0-9.]+)", out)]
    assert len(losses) == 12, out
    assert losses[-1] < 0.3 * losses[0], losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 9, losses      # falls (almost) every epoch
    accuracy = float(re.search(r"accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.8, out


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "train_step.h"

static int load(const char *path, void *dst, size_t bytes) {
    FILE *fh = fopen(path, "rb");
    if (!fh) return 0;
    size_t got = fread(dst, 1, bytes, fh);
    fclose(fh);
    return got == bytes;
}

int main(int argc, char **argv) {
    if (argc != 4) return 3;
    const int64_t T = %(seq)d, B = %(batch)d, V = %(vocab)d;
    float *X = malloc(sizeof(float) * T * B * V);
    int32_t *y = malloc(sizeof(int32_t) * B);
    if (!load(argv[1], X, sizeof(float) * T * B * V) || !load(argv[2], y, sizeof(int32_t) * B)) return 4;
    static train_step_state s;
    train_step_state_init(&s);
    printf("loss");
    for (int k = 0; k < %(steps)d; k++) {
        float loss = -1.0f;
        int rc = train_step(&s, X, T, B, V, y, B, &loss);
        if (rc != THEON_OK) { printf("\nerror %%d %%s\n", rc, theon_strerror(rc)); return 2; }
        printf(" %%.9g", loss);
    }
    printf("\n");
    float untouched = 12345.0f;     /* y one row short: an error that changes nothing */
    int rc = train_step(&s, X, T, B, V, y, B - 1, &untouched);
    printf("bad_rc %%d\nbad_loss %%.9g\n", rc, untouched);
    FILE *fh = fopen(argv[3], "wb");
    if (!fh || fwrite(&s, sizeof s, 1, fh) != 1) return 5;
    fclose(fh);
    return 0;
}
"""


@pytest.mark.slow
@pytest.mark.skipif(CC is None, reason="no C compiler to link the object with")
def test_aot_training_step_in_c_matches_jit(tmp_path):
    out = tmp_path / "aot"
    assert aot_compile([EXAMPLE, "-o", str(out), "--entry", "train_step", "--emit", "obj,header", "-O1"]) == 0
    header = (out / "train_step.h").read_text()
    assert "typedef struct train_step_state {" in header
    model = runpy.run_path(EXAMPLE, run_name="lstm_reference")       # fresh weights, their initial values
    X, y = model["windows"]()
    steps = 3
    (tmp_path / "X.bin").write_bytes(np.ascontiguousarray(X, np.float32).tobytes())
    (tmp_path / "y.bin").write_bytes(np.ascontiguousarray(y, np.int32).tobytes())
    src = tmp_path / "driver.c"
    src.write_text(DRIVER % {"seq": X.shape[0], "batch": X.shape[1], "vocab": X.shape[2], "steps": steps})
    exe = tmp_path / "driver"
    cmd = [CC, "-std=c99", "-Wall", "-Werror", "-O1", "-I", str(out), str(src), str(out / "train_step.o"),
           "-lm", "-lpthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe), str(tmp_path / "X.bin"), str(tmp_path / "y.bin"), str(tmp_path / "state.bin")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    got = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in run.stdout.splitlines()}

    expected = [float(model["train_step"](X, y)) for _ in range(steps)]
    assert expected[-1] < expected[0]
    np.testing.assert_allclose(got["loss"], expected, rtol=2e-5)
    assert got["bad_rc"] == [1] and got["bad_loss"] == [12345.0]         # THEON_ERR_SHAPE_MISMATCH
    state = np.frombuffer((tmp_path / "state.bin").read_bytes(), np.float32)
    at = 0
    for name in STATE:
        want = model["params"][name].get_value()
        np.testing.assert_allclose(state[at:at + want.size].reshape(want.shape), want, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
        at += want.size
    assert at == state.size
