"""Ring buffers in native scan loops (scan-ring, ``last_rows``;
codegen/cpu/lower/control.py): results against the full-buffer pipeline
(fast_run without scan-ring) and NumPy for taps -1 / -1,-2 / -3,
go_backwards, outputs without taps, rows of a shape known only at run
time, nested scans, until, zero steps, big rows on the thread pool and
concurrent calls; a 1,000,000-step recurrence whose only use is its last
state allocates no big buffer (the runtime's allocation counters)."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theon
import theon.runtime
import theon.tensor as T
from theon.runtime.mode import Mode
from theon.scan_module import until

from ..scan_helpers import build, configs, reference

RNG = np.random.default_rng(7)
FULL = Mode(optimizer="fast_run").excluding("scan-ring")


def _both(inputs, outputs):
    """(fast_run with rings, fast_run keeping every row)."""
    ring = theon.function(inputs, outputs)
    full = theon.function(inputs, outputs, mode=FULL)
    return ring, full


def _np_two_taps(i0, n):
    rows = [i0[0], i0[1]]
    for _ in range(n):
        rows.append(rows[-1] * 0.5 - rows[-2] * 0.25 + 1.0)
    return np.array(rows[2:]).reshape((n,) + i0.shape[1:])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 50])
def test_two_taps_last_rows_vs_numpy_and_full(n):
    i0, N = T.dmatrix("i0"), T.lscalar("n")
    out, _ = theon.scan(lambda a, b: a * 0.5 - b * 0.25 + 1.0, outputs_info=[dict(initial=i0, taps=[-1, -2])],
                        n_steps=N)
    ring, full = _both([i0, N], [out[-3:], out[-1:]])
    x = RNG.normal(size=(2, 5))
    want = _np_two_taps(x, n)
    got, got_full = ring(x, n), full(x, n)
    for g, gf, w in zip(got, got_full, (want[-3:], want[-1:])):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12)
        np.testing.assert_array_equal(g, gf)
    if n:
        last = theon.function([i0, N], out[-1])(x, n)
        np.testing.assert_allclose(last, want[-1], rtol=1e-12)
    else:
        with pytest.raises(IndexError):
            theon.function([i0, N], out[-1])(x, n)


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("taps", [[-1], [-3], [-1, -2], [-3, -1]])
def test_taps_and_go_backwards_vs_numpy(taps, backwards):
    # taps [-1]: Theano's initial state is the previous row itself
    X, s0 = T.dmatrix("X"), (T.dvector("s0") if taps == [-1] else T.dmatrix("s0"))
    d = -min(taps)

    def step(x, *prev):
        return T.tanh(x + sum(p * (0.3 + 0.2 * k) for k, p in enumerate(prev)))
    s, _ = theon.scan(step, sequences=X, outputs_info=[dict(initial=s0, taps=taps)], go_backwards=backwards)
    ring, full = _both([X, s0], [s[-1], s[-2:]])
    x, i = RNG.normal(size=(9, 4)), RNG.normal(size=(d, 4))
    hist = list(i)
    for row in (x[::-1] if backwards else x):
        t = len(hist)
        hist.append(np.tanh(row + sum(hist[t + k] * (0.3 + 0.2 * q) for q, k in enumerate(taps))))
    want = np.array(hist[d:])
    got = ring(x, i[0] if taps == [-1] else i)
    np.testing.assert_allclose(got[0], want[-1], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[-2:], rtol=1e-12)
    for a, b in zip(got, full(x, i[0] if taps == [-1] else i)):
        np.testing.assert_array_equal(a, b)


def test_million_steps_last_state_allocates_no_sequence():
    """h <- 0.999 h + 0.001 over 1,000,000 steps of a 64-row: every row
    would be 512 MB; with the ring no big buffer is allocated at all. The
    full pipeline on 100,000 steps allocates the 51 MB sequence (the
    counter works)."""
    h0, N = T.dvector("h0"), T.lscalar("n")
    out, _ = theon.scan(lambda h: h * 0.999 + 0.001, outputs_info=[h0], n_steps=N)
    ring, full = _both([h0, N], out[-1])
    theon.runtime.release_memory()
    held = theon.runtime.memory_stats()["live_bytes"]      # arrays other tests still hold
    got = ring(np.zeros(64), 1_000_000)
    stats = theon.runtime.memory_stats()
    assert stats["peak_bytes"] - held < 1 << 20, stats
    np.testing.assert_allclose(got, np.full(64, 1 - 0.999 ** 1_000_000), rtol=1e-9)
    del got
    theon.runtime.release_memory()
    held = theon.runtime.memory_stats()["live_bytes"]
    got = full(np.zeros(64), 100_000)
    assert theon.runtime.memory_stats()["peak_bytes"] - held >= 100_000 * 64 * 8
    np.testing.assert_allclose(got, np.full(64, 1 - 0.999 ** 100_000), rtol=1e-9)
    theon.runtime.release_memory()


def test_state_used_only_by_the_loop_and_lazy_rows():
    """Output 0 feeds output 1 only (kept as a 1-row ring); output 1, rows
    of a shape known only at run time, is read at its end."""
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    (h, y), _ = theon.scan(lambda x, h: (T.tanh(h + x), T.concatenate([h, x * 2])), sequences=X,
                           outputs_info=[h0, None])
    ring, full = _both([X, h0], y[-2:])
    x, i = RNG.normal(size=(6, 3)), RNG.normal(size=3)
    ys, h_ = [], i
    for row in x:
        ys.append(np.concatenate([h_, row * 2]))
        h_ = np.tanh(h_ + row)
    np.testing.assert_allclose(ring(x, i), np.array(ys[-2:]), rtol=1e-12)
    np.testing.assert_array_equal(ring(x, i), full(x, i))
    assert ring(x[:0], i).shape[0] == 0


def test_nested_scans():
    X, N = T.dmatrix("X"), T.lscalar("n")

    def outer(x, acc):
        inner, _ = theon.scan(lambda h: T.tanh(h * 0.9 + x), outputs_info=[x], n_steps=N)
        return acc + inner[-1]
    ys, _ = theon.scan(outer, sequences=X, outputs_info=T.zeros((3,)))
    ring, full = _both([X, N], ys[-1])
    x = RNG.normal(size=(5, 3))
    acc = np.zeros(3)
    for row in x:
        h = row
        for _ in range(4):
            h = np.tanh(h * 0.9 + row)
        acc = acc + h
    np.testing.assert_allclose(ring(x, 4), acc, rtol=1e-12)
    np.testing.assert_array_equal(ring(x, 4), full(x, 4))


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_until_keeps_the_last_rows_of_the_steps_taken(n):
    """Stop when the value passes 10: the last rows are those of the steps
    actually run."""
    x0, N = T.dscalar("x0"), T.lscalar("n")
    out, _ = theon.scan(lambda x: (x * 1.5 + 0.1, until(x * 1.5 + 0.1 > 10)), outputs_info=[x0], n_steps=N)
    ring, full = _both([x0, N], out[-2:])
    vals, x = [], 0.5
    for _ in range(n):
        x = x * 1.5 + 0.1
        vals.append(x)
        if x > 10:
            break
    np.testing.assert_allclose(ring(0.5, n), np.array(vals[-2:]), rtol=1e-12)
    np.testing.assert_array_equal(ring(0.5, n), full(0.5, n))


def test_big_rows_on_the_thread_pool_and_concurrent_calls():
    """Rows large enough for the parallel elementwise loops, and four
    Python threads calling one function at once: each call's ring is its own."""
    h0, N = T.dvector("h0"), T.lscalar("n")
    out, _ = theon.scan(lambda a, b: T.sin(a) * 0.5 + b * 0.25, outputs_info=[dict(initial=T.stack([h0, h0 * 2]),
                                                                                      taps=[-1, -2])], n_steps=N)
    f = theon.function([h0, N], out[-1])
    big = RNG.normal(size=400_000)
    a, b = big * 2, big
    for _ in range(6):
        a, b = np.sin(a) * 0.5 + b * 0.25, a
    np.testing.assert_allclose(f(big, 6), a, rtol=1e-12)
    small = [RNG.normal(size=50) for _ in range(4)]
    wants = []
    for v in small:
        a, b = v * 2, v
        for _ in range(300):
            a, b = np.sin(a) * 0.5 + b * 0.25, a
        wants.append(a)
    got = [None] * 4

    def run(k):
        for _ in range(20):
            got[k] = f(small[k], 300)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(cfg=configs(), k=st.integers(1, 3))
def test_random_loops_natively(cfg, k):
    """Random taps, go_backwards, n_steps and lengths: the last k rows of
    every output against the NumPy reference."""
    inputs, values, outs, fn, arrays, inits = build(cfg)
    want = reference(cfg, fn, arrays, inits)
    f = theon.function(inputs, [o[-k:] for o in outs])
    if want is None:
        with pytest.raises(ValueError):
            f(*values)
        return
    for g, w in zip(f(*values), want):
        np.testing.assert_allclose(g, w[-k:], rtol=1e-12, atol=1e-13)
