"""Advanced indexing in the GPU plan (``codegen/ptx/indexing_step.py``:
gathers, scatters and ``nonzero`` computed on the host for now, between
device steps): results agree with NumPy and the CPU function, and an
out-of-range index is an IndexError naming the index array. Runs on the
emulated device everywhere and on a real GPU where there is one."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function

from .test_gpu_exec import device  # noqa: F401 - the fixture: emulated, and CUDA where present


def test_gather_scatter_mask_and_gradient_on_the_gpu_plan(device):
    x = T.dmatrix("x")
    i = T.lvector("i")
    y = T.lvector("y")
    nll = -T.mean(T.log(x)[T.arange(y.shape[0]), y])
    outs = [T.exp(x)[i] * 2, T.inc_subtensor(x[i, 1:], 1.0), x[x > 0.5], nll, theon.grad(nll, x)]
    f = theon.function([x, i, y], outs)
    g = from_function(f, device)
    P = np.random.default_rng(0).uniform(0.1, 1.0, (5, 3))
    ind = np.array([4, -1, 0, 4])
    Y = np.array([0, 2, 1, 1, 0])
    got, want = g(P, ind, Y), f(P, ind, Y)
    inc = P.copy()
    np.add.at(inc, (ind, slice(1, None)), 1.0)
    grad = np.zeros_like(P)
    grad[np.arange(5), Y] = -1.0 / (5 * P[np.arange(5), Y])
    refs = [np.exp(P)[ind] * 2, inc, P[P > 0.5], -np.mean(np.log(P)[np.arange(5), Y]), grad]
    for a, b, r in zip(got, want, refs):
        np.testing.assert_allclose(a, r, rtol=1e-10)
        np.testing.assert_allclose(a, b, rtol=1e-10)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 5: index array input 'i'"):
        g(P, np.array([5]), Y)


def test_a_mask_of_another_shape_on_the_gpu_plan(device):
    x = T.dmatrix("x")
    m = T.tensor("bool", shape=(None,), name="m")
    g = from_function(theon.function([x, m], x[:, m]), device)
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(g(a, np.array([True, False, True])), a[:, [0, 2]])
    with pytest.raises(IndexError, match="along axis 1; size of axis is 3 but size of corresponding boolean axis is 2"):
        g(a, np.array([True, False]))


def test_aot_cuda_target_describes_the_host_steps(tmp_path):
    import json
    import shutil
    import subprocess
    from theon.runtime.aot_cli import main
    src = tmp_path / "m.py"
    src.write_text("import theon, theon.tensor as T\n"
                   "x = T.dmatrix('x'); i = T.lvector('i')\n"
                   "f = theon.function([x, i], [x[i] * 2, x[x > 0]])\n")
    assert main([str(src), "-o", str(tmp_path), "--target", "cuda", "--sm", "sm_80"]) == 0
    steps = json.loads((tmp_path / "f.launch.json").read_text())["steps"]
    host = [s for s in steps if s["kind"] == "adv-index-host"]
    assert {s["name"] for s in host} == {"adv_subtensor", "nonzero"}
    assert all("on the host, no kernel" in s["what"] for s in host)
    if shutil.which("ptxas"):
        proc = subprocess.run(["ptxas", "--gpu-name", "sm_80", "-o", "/dev/null", str(tmp_path / "f.ptx")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
