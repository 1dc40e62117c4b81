"""Very long graphs compile into many LLVM functions (one loop worker per
fused op; FAST_COMPILE fuses bodies of 256+ elementwise ops and compiles
big modules as quick kernels plus an -O0 entry): their results must match
NumPy exactly as a short graph's do. Speed is measured in
``python -m bench --scaling``, not asserted here."""
import numpy as np
import pytest

import theon
import theon.tensor as T

N = 2000


def reference(xv, kind):
    y = xv.copy()
    for i in range(N):
        if kind == "const":
            y = y + float(i)
        elif kind == "var":
            y = y + xv
        else:                                   # mixed ops, values kept bounded
            y = np.tanh(y * 0.5 + xv) if i % 3 == 0 else (y - xv * 0.25 if i % 3 == 1 else y * 1.0001)
    return y


def build(x, kind):
    y = x
    for i in range(N):
        if kind == "const":
            y = y + float(i)
        elif kind == "var":
            y = y + x
        else:
            y = T.tanh(y * 0.5 + x) if i % 3 == 0 else (y - x * 0.25 if i % 3 == 1 else y * 1.0001)
    return y


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("kind", ["const", "var", "mixed"])
def test_a_2000_op_chain_matches_numpy(mode, kind):
    x = T.dvector("x")
    f = theon.function([x], build(x, kind), mode=mode)
    ops = [op.name for op in f.ir.body.ops]
    assert ops.count("fused") >= N // 64          # split over many loops (functions)
    assert len(f.native.llvm_module.functions) > N // 64
    rng = np.random.default_rng(5)
    for xv in (np.linspace(-1.0, 1.0, 7), rng.standard_normal(1000), np.zeros(0)):
        np.testing.assert_allclose(f(xv), reference(xv, kind), rtol=1e-12, atol=1e-12)
    strided = rng.standard_normal(40)[::-3]
    np.testing.assert_allclose(f(strided), reference(strided, kind), rtol=1e-12, atol=1e-12)
