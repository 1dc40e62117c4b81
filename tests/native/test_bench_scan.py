"""bench/scan.py (W9, W10) at small sizes: theon's LSTM training step
(scan + BPTT + SGD updates) equals the hand-written NumPy forward/BPTT
step, and the scalar recurrence equals a float64 loop -- the checks
``python -m bench`` runs before timing anything. (Peers are not installed
here: their entries are None.)"""
import numpy as np
import pytest

from theon.bench import __main__ as bench_main
from theon.bench import scan as scan_bench
from theon.bench.workloads import WORKLOADS


@pytest.fixture
def small_lstm(monkeypatch):
    for name, value in (("SEQ", 7), ("BATCH", 5), ("N_IN", 6), ("HIDDEN", 8), ("N_CLASSES", 4)):
        monkeypatch.setattr(scan_bench, name, value)


@pytest.mark.slow
def test_w9_lstm_step_matches_numpy_bptt(small_lstm, monkeypatch):
    # The bench waits for every queued tier-up compile so that it times fully optimized code; the
    # values are checked here, and under pytest-xdist the queue also holds the compiles of the tests
    # this worker ran before (the wait took minutes there). The step runs whichever tier it has.
    from theon.codegen.cpu.driver import tierup
    monkeypatch.setattr(tierup, "wait", lambda timeout=None: True)
    w = next(w for w in WORKLOADS if w.key == "W9")
    fns = w.build(np.random.default_rng(0))
    numpy_step, theon_step = fns["check"]
    want, got = numpy_step(), theon_step()
    assert len(want) == len(got) == 6
    for a, b in zip(want, got):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-6)
    # the gradient really moved every parameter (a step that updates nothing would pass the above only
    # if NumPy's did not move either)
    params = scan_bench.init_params()
    assert all(not np.allclose(p, q) for p, q in zip(params[:2] + params[3:4], got[1:3] + got[4:5]))
    # what the bench runs before timing: here on a second step of the same pair, from the moved parameters
    bench_main.check(w, {"check": (numpy_step, theon_step)})
    assert float(fns["theon"]()) > 0


def test_w9_numpy_reference_gradient_vs_finite_differences(small_lstm):
    """The NumPy BPTT step the bench compares with is itself right: its
    update of Wh equals lr times a central-difference gradient of its cost."""
    params = [p.astype(np.float64) for p in scan_bench.init_params()]
    X, Y = scan_bench.batch()
    X = X.astype(np.float64)
    step = scan_bench.NumpyLSTMStep(params)
    step.lr = 1.0
    step(X, Y)
    analytic = params[1] - step.params[1]
    eps, rng = 1e-6, np.random.default_rng(3)
    for _ in range(5):
        i, j = rng.integers(0, params[1].shape[0]), rng.integers(0, params[1].shape[1])
        costs = []
        for sign in (1, -1):
            moved = [p.copy() for p in params]
            moved[1][i, j] += sign * eps
            costs.append(scan_bench.NumpyLSTMStep(moved)(X, Y))
        assert abs((costs[0] - costs[1]) / (2 * eps) - analytic[i, j]) < 1e-6


def test_w10_recurrence_matches_float64_loop(monkeypatch):
    monkeypatch.setattr(scan_bench, "W10_STEPS", 5000)
    a, xs = scan_bench.w10_data(n=5000)
    f = scan_bench.theon_recurrence()
    np.testing.assert_allclose(f(a, xs), scan_bench.w10_reference(a, xs), rtol=1e-4, atol=1e-4)
    w = next(w for w in WORKLOADS if w.key == "W10")
    bench_main.check(w, w.build(np.random.default_rng(0)))


def test_w9_loops_keep_only_the_recurrent_products(small_lstm):
    """The optimized W9 step: the forward loop multiplies only h_{t-1} @ Wh
    per step (x_t @ Wx is one product before it), the reverse loop only
    dz_t @ Wh^T (the forward's products are read from its saved rows, the
    weight gradients are products of the stacked rows after the loop)."""
    step, _ = scan_bench.theon_lstm_step(scan_bench.init_params())
    loops = [op for op in step.ir.body.ops if op.name == "scan"]
    assert [op.attrs.get("go_backwards", False) for op in loops] == [False, True]
    for op in loops:
        products = [o for o in op.regions[0].walk() if o.name == "matmul"]
        assert len(products) == 1, op
    outside = [o for o in step.ir.body.ops if o.name == "matmul"]
    assert len(outside) >= 3        # X @ Wx, and the stacked X^T dZ, H^T dZ (plus the read-out's)
