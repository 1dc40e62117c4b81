"""``until`` loops in native code grow their outputs geometrically
(codegen/cpu/lower/control.py ``_Output.make_room``/``trim``): unbounded
while loops (no sequences, no n_steps) and bounded ones against Python
loops, across the growth boundaries (1, 16, 17, 32, 33, ... steps), rows of a
shape known only at run time, several outputs with taps -1/-2, zero steps,
a huge n_steps that stops early allocating only for the steps run, the
last-rows ring of an until loop, and nested while loops."""
import numpy as np
import pytest

import theon
import theon.runtime
import theon.tensor as T
from theon.scan_module import until


@pytest.mark.parametrize("steps", [1, 2, 15, 16, 17, 32, 33, 100, 1000])
def test_unbounded_until_across_growth_boundaries(steps):
    """Count to ``steps``: the outputs (a counter, a two-tap Fibonacci-like
    vector) have exactly that many rows, equal to the Python loop."""
    c0, f0, K = T.dscalar("c0"), T.dmatrix("f0"), T.dscalar("K")

    def step(c, a, b):
        return [c + 1, (a + b) * 0.5], until(c + 1 >= K)
    (c, fib), _ = theon.scan(step, outputs_info=[c0, dict(initial=f0, taps=[-1, -2])])
    f = theon.function([c0, f0, K], [c, fib])
    init = np.array([[1.0, -1.0], [2.0, 3.0]])
    got_c, got_f = f(0.0, init, float(steps))
    rows, cs = list(init), []
    for t in range(steps):
        cs.append(t + 1.0)
        rows.append((rows[-1] + rows[-2]) * 0.5)
    np.testing.assert_array_equal(got_c, np.array(cs))
    np.testing.assert_allclose(got_f, np.array(rows[2:]), rtol=1e-12)


def test_lazy_rows_and_bounded_until():
    """Rows of a shape known only at run time, and n_steps bounding a loop
    whose condition never holds."""
    v0, N = T.dvector("v0"), T.lscalar("n")
    out, _ = theon.scan(lambda v: (T.concatenate([v[:1] + 1, v[1:] * 1.5]), until(v[0] >= 40)),
                        outputs_info=[v0], n_steps=N)
    mapped, _ = theon.scan(lambda v: (T.concatenate([v, v]), until(v.sum() > 1e9)), sequences=out)
    f = theon.function([v0, N], [out, mapped])
    for n in (0, 1, 20, 60):
        rows, v = [], np.array([0.0, 1.0, 2.0])
        for _ in range(n):
            stop = v[0] >= 40       # the condition reads the step's input
            v = np.concatenate([v[:1] + 1, v[1:] * 1.5])
            rows.append(v)
            if stop:
                break
        got, got_m = f(np.array([0.0, 1.0, 2.0]), n)
        want = np.array(rows).reshape((len(rows), 3))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        if n:       # (zero steps: a row dim the shape rules cannot tell is 0)
            np.testing.assert_allclose(got_m, np.concatenate([want, want], axis=1), rtol=1e-12)
        assert len(got_m) == len(want)


def test_huge_n_steps_stopping_early_allocates_for_the_steps_run():
    """n_steps 10**12 rows of 8 KiB would be 8 PB; the loop stops after 50
    steps and its buffers grew to 64 rows (the peak of big buffers stays
    under 1 MiB)."""
    v0, N = T.dvector("v0"), T.lscalar("n")
    out, _ = theon.scan(lambda v: (v + 1, until(v[0] + 1 >= 50)), outputs_info=[v0], n_steps=N)
    f = theon.function([v0, N], out)
    theon.runtime.release_memory()
    held = theon.runtime.memory_stats()["live_bytes"]      # arrays other tests still hold
    got = f(np.zeros(1024), 10 ** 12)
    assert got.shape == (50, 1024)
    np.testing.assert_array_equal(got[:, 0], np.arange(1, 51))
    assert theon.runtime.memory_stats()["peak_bytes"] - held < 1 << 20
    del got
    theon.runtime.release_memory()


def test_until_with_last_rows_and_nested_while_loops():
    """A while loop inside a map, its last value the map's row (a ring), and
    a while loop of 100,000 steps whose only use is its last state."""
    X = T.dvector("X")

    def row(x):
        out, _ = theon.scan(lambda h: (h * 2, until(h * 2 > x)), outputs_info=[T.constant(1.0)])
        return [out[-1], out.shape[0]]
    (last, count), _ = theon.scan(row, sequences=X)
    f = theon.function([X], [last, count])
    x = np.array([0.5, 3.0, 1000.0, 1e6])
    want_last, want_count = [], []
    for v in x:
        h, k = 1.0, 0
        while True:
            h, k = h * 2, k + 1
            if h > v:
                break
        want_last.append(h)
        want_count.append(k)
    got = f(x)
    np.testing.assert_array_equal(got[0], want_last)
    np.testing.assert_array_equal(got[1], want_count)
    s0 = T.dscalar("s0")
    s, _ = theon.scan(lambda a: (a + 1, until(a + 1 >= 100_000)), outputs_info=[s0])
    np.testing.assert_array_equal(theon.function([s0], s[-1])(0.0), 100_000.0)
