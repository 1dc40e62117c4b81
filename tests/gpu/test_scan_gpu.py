"""scan and ifelse in a GPU function: the launch plan runs them on the host
(``codegen/ptx/control_step.py``: operands read back, the op's reference,
results uploaded), between the kernels of the ops around them; results and
gradients agree with the CPU function. Emulated device everywhere, a real
GPU where there is one (the ``device`` fixture of test_gpu_exec.py)."""
import numpy as np

import theon
import theon.tensor as T
from theon.ifelse import ifelse
from theon.runtime.gpu_function import from_function


def test_scan_and_ifelse_with_their_gradient(device):
    X, W, h0, c = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0"), T.dscalar("c")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + h), sequences=X, outputs_info=h0)
    r = ifelse(T.gt(c, 0), (h * 2).sum(), h.sum())
    f = theon.function([X, W, h0, c], [h * 1.5, r, theon.grad(r, W)])
    gf = from_function(f, device)
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)]
    for cv in (1.0, -1.0):
        for got, want in zip(gf(*vals, cv), f(*vals, cv)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)
