"""Advanced indexing in the GPU plan (``codegen/ptx/indexing_step.py``:
gathers as a device kernel after the host checked the indices; scatters
and ``nonzero`` computed on the host for now, between device steps):
results agree with NumPy and the CPU function, and an out-of-range index
is an IndexError naming the index array. Runs on the emulated device
everywhere and on a real GPU where there is one."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function


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


@pytest.mark.parametrize("dtype, idtype", [("float32", "int8"), ("float64", "int64"), ("int32", "uint8"),
                                           ("bool", "int32")])
def test_gather_kernel_layouts_and_dtypes(device, dtype, idtype):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((5, 4, 6)) * 5).astype(dtype)
    i = rng.integers(0 if idtype == "uint8" else -5, 5, (3, 1)).astype(idtype)
    j = rng.integers(0, 4, (2,)).astype(idtype)
    x = T.tensor(dtype, shape=(None, None, None))
    iv = T.tensor(idtype, shape=(None, None))
    jv = T.tensor(idtype, shape=(None,))
    keys = [(iv,), (iv, jv), (iv, slice(None), jv), (slice(None), jv), (None, iv, None, jv), (slice(1, None), jv)]
    npkeys = [(i,), (i, j), (i, slice(None), j), (slice(None), j), (None, i, None, j), (slice(1, None), j)]
    outs = [x[k] for k in keys] + [x.dimshuffle(2, 0, 1)[iv, jv]]
    g = from_function(theon.function([x, iv, jv], outs), device)
    got = g(a, i, j)
    for r, k in zip(got, npkeys):
        np.testing.assert_array_equal(r, a[k])
    np.testing.assert_array_equal(got[-1], a.transpose(2, 0, 1)[i, j])
    np.testing.assert_array_equal(g(a[:0], i[:0], j[:0])[0].shape, a[:0][i[:0]].shape)


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
    assert {s["name"] for s in host} == {"nonzero"}
    assert all("on the host, no kernel" in s["what"] for s in host)
    gathers = [s for s in steps if s["kind"] == "gather"]
    assert len(gathers) == 2 and all(s["launches"][0]["kernel"].endswith("_gather") for s in gathers)
    assert ".entry theon_f_" in (tmp_path / "f.ptx").read_text()
    if shutil.which("ptxas"):
        proc = subprocess.run(["ptxas", "--gpu-name", "sm_80", "-o", "/dev/null", str(tmp_path / "f.ptx")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
