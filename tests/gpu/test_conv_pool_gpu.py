"""A CPU function holding the conv-pool pass's ops (conv_pool, pool_grad_mask:
no PTX kernel, ``NotOnGpuStep``) runs on the GPU through ``from_function``:
``pipeline.needs_gpu_ir`` sees them and the GPU pipeline (``conv-pool{target=gpu}``)
keeps conv, pool and pool_grad; results equal the CPU function's. Emulated
device everywhere, a real GPU where there is one."""
import numpy as np

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function
from theon.tensor.nnet import conv2d
from theon.tensor.signal.pool import pool_2d


def test_fused_cpu_function_runs_unfused_on_the_gpu(device):
    typ = T.TensorType("float64", (None,) * 4)
    x, w, b = typ("x"), typ("w"), T.dvector("b")
    h = T.tanh(pool_2d(conv2d(x, w), ws=(2, 2), ignore_border=True) + b.dimshuffle("x", 0, "x", "x"))
    cost = (h * h).sum()
    f = theon.function([x, w, b], [h] + theon.grad(cost, [x, w, b]))
    assert "conv_pool" in str(f.ir) and "pool_grad_mask" in str(f.ir)
    gf = from_function(f, device)
    kernels = list(gf.plan.kernels)
    assert any("pool" in k for k in kernels) and any(k.startswith("theon_conv_float64") for k in kernels), kernels
    rng = np.random.default_rng(0)
    vals = [np.round(rng.normal(size=(2, 2, 8, 9)) * 2) / 2, rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)]
    for g, c in zip(gf(*vals), f(*vals)):
        np.testing.assert_allclose(np.asarray(g), c, rtol=1e-12, atol=1e-12)
