"""Unbounded ``until`` loops (frontend/scan.py): ``scan`` with an until
condition and neither sequences nor n_steps is a while loop (n_steps
INT64_MAX); the reference interpreter runs it to the condition, against a
Python loop; without until the number of steps is still an error."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.verifier import verify_function
from theon.scan_module import until


def _collatz_like(x0, lim):
    vals, x = [], x0
    while True:
        x = x * 1.01 + 0.5
        vals.append(x)
        if x > lim:
            return np.array(vals)


@pytest.mark.parametrize("lim", [0.0, 3.0, 250.0])
def test_unbounded_until_vs_python_loop(lim):
    x0, L = T.dscalar("x0"), T.dscalar("lim")
    out, _ = theon.scan(lambda x: (x * 1.01 + 0.5, until(x * 1.01 + 0.5 > L)), outputs_info=[x0])
    func, _ = build_function([x0, L], [out, out[-1]])
    verify_function(func)
    (scan,) = [op for op in func.walk() if op.name == "scan"]
    assert scan.attrs["until"] and scan.results[0].type.shape[0] is None
    got = evaluate(func, [np.array(0.5), np.array(lim)])[0]
    want = _collatz_like(0.5, lim)
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    np.testing.assert_allclose(got[1], want[-1], rtol=1e-12)


def test_without_until_the_steps_are_still_unknown():
    h = T.dscalar("h")
    with pytest.raises(ValueError, match="sequence or n_steps.*until"):
        theon.scan(lambda h: h * 2, outputs_info=h)
