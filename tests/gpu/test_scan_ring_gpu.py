"""The device plan's scan step (codegen/ptx/control_step.py) with the CPU
scan's ring and until semantics: results of ``last_rows`` (scan-ring)
are the last rows, and an until loop's rows grow (an unbounded while loop,
n_steps INT64_MAX), against the CPU function (emulated device, a real GPU
where there is one)."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx.control_step import ScanStep
from theon.runtime.gpu_function import from_function
from theon.scan_module import until


def _scan_steps(plan):
    out = []
    for s in plan.steps:
        if isinstance(s, ScanStep):
            out.append(s)
        for body in getattr(s, "bodies", ()):
            out += _scan_steps(body)
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_last_rows_on_the_device(device, n):
    i0, N = T.dmatrix("i0"), T.lscalar("n")
    out, _ = theon.scan(lambda a, b: a * 0.5 - b * 0.25 + 1.0, outputs_info=[dict(initial=i0, taps=[-1, -2])],
                        n_steps=N)
    f = theon.function([i0, N], out[-3:])
    gf = from_function(f, device)
    steps = _scan_steps(gf.plan)
    assert steps and any(s.lay.last_rows[0] for s in steps)
    x = np.random.default_rng(n).normal(size=(2, 4))
    got, want = np.asarray(gf(x, n)), f(x, n)
    assert got.shape == want.shape == (min(n, 3), 4)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("lim", [0.0, 30.0, 2000.0])
def test_unbounded_until_on_the_device(device, lim):
    x0, L = T.dscalar("x0"), T.dscalar("lim")
    out, _ = theon.scan(lambda x: (x * 1.05 + 0.5, until(x * 1.05 + 0.5 > L)), outputs_info=[x0])
    f = theon.function([x0, L], out)
    gf = from_function(f, device)
    got, want = np.asarray(gf(0.5, lim)), f(0.5, lim)
    assert got.shape == want.shape and len(want) >= 1
    np.testing.assert_allclose(got, want, rtol=1e-12)
