"""Shape builders (frontend/builders.py) in the GPU plan: compositions of
ops the PTX lowering has (where over arange comparisons, alloc/reshape,
slices + concatenate, gathers, matmul), so they run on the device with no
lowering of their own. Results agree with NumPy and the CPU function; runs
on the emulated device everywhere and on a real GPU where there is one."""
import numpy as np

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function


def test_builders_on_the_gpu_plan(device):
    x = T.dmatrix("x")
    b = T.dtensor3("b")
    s = T.lscalar("s")
    outs = [T.tile(x, (2, 1)), T.roll(x, s, 1), T.tril(x, s), T.triu(x), T.diagonal(x, s), T.trace(x),
            T.eye(3, 4, 1) * 2.0, T.norm(x, 1), T.batched_dot(b, b.dimshuffle(0, 2, 1)),
            theon.grad(T.trace(x) + T.sum(T.roll(x, s, 1) * x), x)]
    f = theon.function([x, b, s], outs)
    g = from_function(f, device)
    rng = np.random.default_rng(5)
    a, c = rng.standard_normal((4, 5)), rng.standard_normal((2, 3, 4))
    for shift in (-2, 3):
        got, want = g(a, c, shift), f(a, c, shift)
        refs = [np.tile(a, (2, 1)), np.roll(a, shift, 1), np.tril(a, shift), np.triu(a), np.diagonal(a, shift),
                np.trace(a), np.eye(3, 4, 1) * 2.0, np.abs(a).sum(), c @ c.transpose(0, 2, 1),
                np.eye(4, 5) + np.roll(a, shift, 1) + np.roll(a, -shift, 1)]
        for k, (r, w, e) in enumerate(zip(got, want, refs)):
            np.testing.assert_allclose(r, e, rtol=1e-10, atol=1e-12, err_msg=f"output {k}")
            np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-12, err_msg=f"output {k}")
