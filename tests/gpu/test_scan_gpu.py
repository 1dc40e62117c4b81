"""scan and ifelse in a GPU function (``codegen/ptx/control_step.py``):
a scan is a loop of kernel launches -- its body planned once (the body's
own steps and kernels), run per step on rows that are device views -- and
an ifelse runs only the chosen branch's sub-plan. Results, gradients and
run-time errors agree with the CPU function. Emulated device everywhere, a
real GPU where there is one (the ``device`` fixture, tests/gpu/conftest.py)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import theon
import theon.tensor as T
from theon.codegen.ptx.control_step import HostRegionStep, IfElseStep, ScanStep
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.ptx.gemm_step import GemmStep
from theon.codegen.ptx.steps import FusedStep, MapStep
from theon.ifelse import ifelse
from theon.runtime.gpu_function import from_function
from theon.scan_module import until


def _same(gf, f, *args, rtol=1e-10):
    got, want = gf(*args), f(*args)
    if not isinstance(want, (list, tuple)):
        got, want = [got], [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.shape == np.shape(w) and g.dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12)


def _steps(plan, cls):
    """Steps of class ``cls`` in ``plan`` and, recursively, in its sub-plans."""
    out = []
    for s in plan.steps:
        if isinstance(s, cls):
            out.append(s)
        for body in getattr(s, "bodies", ()):
            out += _steps(body, cls)
    return out


def test_scan_and_ifelse_with_their_gradient(device):
    X, W, h0, c = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0"), T.dscalar("c")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + h), sequences=X, outputs_info=h0)
    r = ifelse(T.gt(c, 0), (h * 2).sum(), h.sum())
    f = theon.function([X, W, h0, c], [h * 1.5, r, theon.grad(r, W)])
    gf = from_function(f, device)
    assert _steps(gf.plan, ScanStep) and _steps(gf.plan, IfElseStep) and not _steps(gf.plan, HostRegionStep)
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)]
    for cv in (1.0, -1.0):
        _same(gf, f, *vals, cv)


def test_body_runs_as_kernels_launched_per_step():
    """The loop step's body plan holds kernel steps (the matmul with the
    fused tanh-add as its epilogue); launches grow with the steps by the body's launches. (The
    x_t W product is hoisted out of the loop as one matrix product.)"""
    X, W, U, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=X, outputs_info=h0)
    f = theon.function([X, W, U, h0], h)
    dev = EmulatedDevice()
    gf = from_function(f, dev)
    (loop,) = _steps(gf.plan, ScanStep)
    body = loop.bodies[0]
    assert any(isinstance(s, GemmStep) for s in body.steps)
    # the fused tanh-add is the product's epilogue (one launch per step)
    assert any(isinstance(s, GemmStep) and s.epilogue is not None for s in body.steps)
    assert set(body.kernels) <= set(gf.plan.kernels)
    desc = gf.plan.describe(dev.schedule)
    (loop_desc,) = [s for s in desc["steps"] if s["kind"] == "loop"]
    assert "matmul+epilogue" in {s["kind"] for s in loop_desc["bodies"][0]}
    rng = np.random.default_rng(1)
    W_, U_, h0_ = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
    counts = []
    for n in (2, 7):
        before = dev.launches
        _same(gf, f, rng.normal(size=(n, 3)), W_, U_, h0_)
        counts.append(dev.launches - before)
    # per step: the matmul with its tanh-add epilogue, the copy into row t
    assert counts[1] - counts[0] == 5 * 2


def test_taps_on_sequences_and_outputs_and_non_sequences(device):
    s, h0, w = T.dvector("s"), T.dvector("h0"), T.dscalar("w")
    o, _ = theon.scan(lambda a, b, c, h2, h1, w: a * c + h1 * w - h2 + b,
                      sequences=dict(input=s, taps=[-1, 0, 1]),
                      outputs_info=dict(initial=h0, taps=[-2, -1]), non_sequences=w)
    f = theon.function([s, h0, w], o)
    gf = from_function(f, device)
    assert _steps(gf.plan, ScanStep)
    _same(gf, f, np.arange(1.0, 9.0), np.array([1.0, 2.0]), 0.5)


def test_go_backwards_and_several_outputs(device):
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    (h, y), _ = theon.scan(lambda x_t, h: (h * 0.5 + x_t, (x_t * h).sum()), sequences=X,
                           outputs_info=[h0, None], go_backwards=True)
    f = theon.function([X, h0], [h, y])
    gf = from_function(f, device)
    rng = np.random.default_rng(2)
    _same(gf, f, rng.normal(size=(5, 4)), rng.normal(size=4))
    _same(gf, f, np.zeros((0, 4)), rng.normal(size=4))         # zero steps: empty, right shapes


def test_until_bounded_by_n_steps(device):
    n = T.lscalar("n")
    vals, _ = theon.scan(lambda p: (p * 2, until(p * 2 > 40)), outputs_info=T.constant(1, dtype="int64"),
                         n_steps=n)
    f = theon.function([n], vals)
    gf = from_function(f, device)
    assert _steps(gf.plan, ScanStep)
    for k in (100, 3, 0):
        _same(gf, f, k)
    np.testing.assert_array_equal(gf(100), [2, 4, 8, 16, 32, 64])


def test_shared_variable_updates_in_the_body(device):
    count = theon.shared(np.int64(0), name="count")
    acc = theon.shared(np.zeros(3), name="acc")
    X = T.dmatrix("X")
    out, updates = theon.scan(lambda x_t: (x_t * 2, {count: count + 1, acc: acc + x_t * count}), sequences=X)
    gf = from_function(theon.function([X], out, updates=updates), device)
    x = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(gf(x), x * 2)
    assert count.get_value() == 4
    np.testing.assert_allclose(acc.get_value(), sum(row * t for t, row in enumerate(x)))
    gf(x[:0])
    assert count.get_value() == 4


def test_nested_scan(device):
    X, a = T.dmatrix("X"), T.dscalar("a")

    def outer(x_t, h):
        inner, _ = theon.scan(lambda v, acc: acc * a + v, sequences=x_t, outputs_info=h)
        return inner[-1] + 1.0

    h, _ = theon.scan(outer, sequences=X, outputs_info=T.constant(0.0))
    f = theon.function([X, a], [h, theon.grad(h.sum(), a)])
    gf = from_function(f, device)
    assert len(_steps(gf.plan, ScanStep)) >= 2
    _same(gf, f, np.random.default_rng(3).normal(size=(4, 5)), 0.7)


def test_bptt_gradient(device):
    X, W, U, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=X, outputs_info=h0)
    loss = (h[-1] ** 2).sum() + h.mean()
    f = theon.function([X, W, U, h0], [loss] + theon.grad(loss, [X, W, U, h0]))
    gf = from_function(f, device)
    assert len(_steps(gf.plan, ScanStep)) >= 2 and not _steps(gf.plan, HostRegionStep)
    rng = np.random.default_rng(4)
    _same(gf, f, rng.normal(size=(6, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 4)) * 0.5,
          rng.normal(size=4))


def test_run_time_errors_as_on_the_cpu(device):
    h, n, s = T.dscalar("h"), T.lscalar("n"), T.dvector("s")
    o, _ = theon.scan(lambda h: h * 2, outputs_info=h, n_steps=n)
    gf = from_function(theon.function([h, n], o), device)
    with pytest.raises(ValueError, match="n_steps is negative"):
        gf(1.0, -3)
    np.testing.assert_allclose(gf(1.0, 3), [2.0, 4.0, 8.0])
    q, _ = theon.scan(lambda a, b: a + b, sequences=[s, dict(input=s, taps=[-2])], n_steps=n)
    g = theon.function([s, n], q)
    gg = from_function(g, device)
    with pytest.raises(ValueError, match="fewer rows") as got:
        gg(np.arange(3.0), 2)
    with pytest.raises(ValueError) as want:
        g(np.arange(3.0), 2)
    assert str(got.value) == str(want.value)
    _same(gg, g, np.arange(5.0), 3)
    X, k = T.dmatrix("X"), T.lvector("k")
    m, _ = theon.map(lambda r, j: r[:j], sequences=[X, k])
    gh = from_function(theon.function([X, k], m), device)
    np.testing.assert_allclose(gh(np.ones((2, 3)), np.array([2, 2])), np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape differs"):
        gh(np.ones((2, 3)), np.array([2, 1]))


def test_ifelse_runs_only_the_chosen_branch():
    c, x, W = T.dscalar("c"), T.dvector("x"), T.dmatrix("W")
    r = ifelse(T.gt(c, 0), T.tanh(T.dot(W, x)) * x.sum(), x * 3.0)     # then: a sum, a matmul (+ epilogue)
    f = theon.function([c, x, W], r)
    dev = EmulatedDevice()
    gf = from_function(f, dev)
    (branch,) = _steps(gf.plan, IfElseStep)
    assert any(isinstance(s, GemmStep) for s in branch.bodies[0].steps)
    rng = np.random.default_rng(5)
    vals = [rng.normal(size=4), rng.normal(size=(4, 4))]
    launches = []
    for cv in (1.0, -1.0):
        before = dev.launches
        _same(gf, f, cv, *vals)
        launches.append(dev.launches - before)
    assert launches[0] > launches[1]        # the then branch's matmul ran only when taken


def test_unplannable_body_falls_back_to_the_host(device):
    """A body op with no GPU kernels (sort): the whole scan runs on the host."""
    X = T.dmatrix("X")
    s, _ = theon.map(lambda r: T.sort(r) * 2.0, sequences=X)
    f = theon.function([X], s)
    gf = from_function(f, device)
    assert _steps(gf.plan, HostRegionStep) and not _steps(gf.plan, ScanStep)
    _same(gf, f, np.random.default_rng(6).normal(size=(3, 5)))


def test_index_read_back_from_a_strided_row(device):
    """A body that indexes with a value of its row: the row (a strided view
    of a transposed sequence, on the device only) is read back per step."""
    K, v = T.lmatrix("K"), T.dvector("v")
    o, _ = theon.map(lambda r, w: w[r[1]] * 2.0 + r[0], sequences=K.T, non_sequences=v)
    f = theon.function([K, v], o)
    gf = from_function(f, device)
    assert _steps(gf.plan, ScanStep)
    k = np.array([[1, 2, 3, 4], [3, 0, 2, 1]])
    _same(gf, f, k, np.arange(10.0, 15.0))
    with pytest.raises(IndexError) as got:
        gf(k + 5, np.arange(10.0, 15.0))
    with pytest.raises(IndexError) as want:
        f(k + 5, np.arange(10.0, 15.0))
    assert str(got.value) == str(want.value)      # the scan op named, as on the CPU


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq_taps=st.lists(st.integers(-2, 2), min_size=1, max_size=3, unique=True),
       out_taps=st.lists(st.integers(-3, -1), min_size=1, max_size=2, unique=True),
       backwards=st.booleans(), extra=st.integers(0, 3), seed=st.integers(0, 2 ** 16))
def test_random_taps_agree_with_the_cpu(seq_taps, out_taps, backwards, extra, seed):
    """Random sequence/output taps, directions and lengths: the GPU loop's
    row views give the CPU's numbers, and its errors for short inputs."""
    X, h0, w = T.dmatrix("X"), T.dmatrix("h0"), T.dvector("w")

    def step(*args):
        xs, hs, wv = args[:len(seq_taps)], args[len(seq_taps):-1], args[-1]
        acc = wv * 0.5
        for k, x in enumerate(xs):
            acc = acc + x * (k + 1)
        for k, h in enumerate(hs):
            acc = acc + T.tanh(h) * (0.3 + 0.1 * k)
        return acc

    o, _ = theon.scan(step, sequences=dict(input=X, taps=seq_taps), outputs_info=dict(initial=h0, taps=out_taps),
                      non_sequences=w, go_backwards=backwards)
    f = theon.function([X, h0, w], o)
    gf = from_function(f, EmulatedDevice())
    assert _steps(gf.plan, ScanStep)
    rng = np.random.default_rng(seed)
    lo, hi = min(min(seq_taps), 0), max(max(seq_taps), 0)
    depth = -min(out_taps)
    x, init, wv = rng.normal(size=(hi - lo + extra, 3)), rng.normal(size=(depth, 3)), rng.normal(size=3)
    _same(gf, f, x, init, wv)
    if depth > 1:       # an initial state too short for the taps: the CPU's error
        with pytest.raises(ValueError) as got:
            gf(x, init[1:], wv)
        with pytest.raises(ValueError) as want:
            f(x, init[1:], wv)
        assert str(got.value) == str(want.value)
