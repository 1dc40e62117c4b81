"""Random streams in native code: the CPU lowering of random_uniform /
random_normal gives the NumPy reference's numbers (uniform bit for bit,
normal within a few ulp), the streams' statistics (Kolmogorov-Smirnov
against the exact CDF, binomial moments, chi-squared), state handling
(new numbers per call, seeds, no_default_updates), gradients through the
location/scale parameters, a dropout network that trains, and bad input."""
import math
import re
import runpy
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

import theon
import theon.tensor as T
from theon.ir.core import DYN
from theon.ir.interpreter import evaluate
from theon.sandbox.rng_mrg import MRG_RandomStreams
from theon.tensor.shared_randomstreams import RandomStreams

from ..native_helpers import NativeError, make_func, run_native


# --- native == reference ------------------------------------------------------------------------
def _draw_func(opname, dtype, ndyn):
    return make_func([("int64", (2,))] + [("int64", ())] * ndyn,
                     lambda b, st, *n: b.create(opname, [st, *n], {"shape": (DYN,) * ndyn + (3,) * (ndyn == 0),
                                                                  "dtype": dtype}).results[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opname", ["random_uniform", "random_normal"])
def test_native_matches_reference(opname, dtype):
    func = _draw_func(opname, dtype, 1)
    states = [np.array([0, 0], np.int64), np.array([-1, -1], np.int64),
              np.array([0x299f31d0a4093822, 0x0370734413198a2e], np.int64), np.array([12345, 2 ** 40 + 7], np.int64)]
    for state in states:
        for n in (0, 1, 2, 3, 4, 5, 7, 8, 9, 1001):
            got = run_native(func, [state, n])[0]
            want = evaluate(func, [state, np.int64(n)])[0][0]
            assert got.shape == want.shape == (n,) and got.dtype == want.dtype == np.dtype(dtype)
            if opname == "random_uniform":
                assert got.tobytes() == want.tobytes(), (state, n)       # bit for bit
            else:
                scale = 1e-5 if dtype == "float32" else 1e-13
                np.testing.assert_allclose(got, want, rtol=scale, atol=scale)


@pytest.mark.parametrize("opname", ["random_uniform", "random_normal"])
def test_same_numbers_for_any_thread_count(opname):
    state = np.array([31337, 5], np.int64)
    results = []
    for threads in (1, 2, 3):
        func = make_func([("int64", (2,)), ("int64", ())], lambda b, st, n: b.create(
            opname, [st, n], {"shape": (DYN,), "dtype": "float32", "parallel": 1, "threads": threads}).results[0])
        results.append(run_native(func, [state, 100003])[0])
    assert results[0].tobytes() == results[1].tobytes() == results[2].tobytes()
    want = evaluate(func, [state, np.int64(100003)])[0][0]
    np.testing.assert_allclose(results[0], want, rtol=1e-5, atol=1e-5)


def test_native_reads_a_strided_state_and_static_shapes():
    func = _draw_func("random_uniform", "float64", 0)
    backing = np.array([7, 0, 99], np.int64)
    got = run_native(func, [backing[::2]])[0]       # [7, 99], stride 2
    want = evaluate(func, [np.array([7, 99], np.int64)])[0][0]
    assert got.shape == (3,) and got.tobytes() == want.tobytes()


def test_native_errors_for_bad_sizes_and_states():
    func = _draw_func("random_normal", "float32", 1)
    with pytest.raises(NativeError) as e:
        run_native(func, [np.array([1, 2], np.int64), -3])
    assert e.value.code == 7            # NEGATIVE_SIZE
    s = RandomStreams(seed=0)
    n = T.lscalar("n")
    f = theon.function([n], s.uniform((n,)))
    with pytest.raises(Exception, match="negative"):
        f(-1)
    state = s.updates()[0][0]
    with pytest.raises(ValueError, match=r"static shape \(2,\)"):      # a stream's state is [key, counter]
        state.set_value(np.zeros(3, np.int64))
    loose = make_func([("int64", (None,))], lambda b, st: b.create(
        "random_uniform", [st], {"shape": (3,), "dtype": "float64"}).results[0])
    with pytest.raises(NativeError) as e:
        run_native(loose, [np.zeros(3, np.int64)])
    assert e.value.code == 1            # SHAPE_MISMATCH: the state must hold 2 elements


# --- statistics -------------------------------------------------------------------------------
def _ks_pvalue(d, n):
    """Asymptotic Kolmogorov distribution: P(D_n >= d)."""
    t = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    return max(0.0, min(1.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 101))))


def _ks(samples, cdf):
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(x)
    c = cdf(x)
    d = max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n))
    return _ks_pvalue(d, n)


_erf = np.vectorize(math.erf, otypes=[np.float64])
ALPHA = 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_and_normal_pass_kolmogorov_smirnov(dtype):
    s = RandomStreams(seed=2024)
    f = theon.function([], [s.uniform((1000, 1000), dtype=dtype), s.normal((10 ** 6,), dtype=dtype),
                            s.uniform((10 ** 5,), low=-2.0, high=3.0, dtype=dtype),
                            s.normal((10 ** 5,), avg=1.5, std=0.5, dtype=dtype)])
    u, z, w, y = f()
    assert u.dtype == z.dtype == np.dtype(dtype) and u.shape == (1000, 1000)
    assert 0.0 <= u.min() and u.max() < 1.0 and -2.0 <= w.min() and w.max() < 3.0
    assert _ks(u.ravel(), lambda x: x) > ALPHA
    assert _ks(z, lambda x: 0.5 * (1 + _erf(x / math.sqrt(2)))) > ALPHA
    assert _ks(w, lambda x: (x + 2.0) / 5.0) > ALPHA
    assert _ks(y, lambda x: 0.5 * (1 + _erf((x - 1.5) / (0.5 * math.sqrt(2))))) > ALPHA
    # the test can fail: a shifted sample is rejected
    assert _ks(z + 0.01, lambda x: 0.5 * (1 + _erf(x / math.sqrt(2)))) < ALPHA
    # two draws of one call, and two calls, are uncorrelated
    u2 = f()[0]
    assert abs(np.corrcoef(u.ravel(), u2.ravel())[0, 1]) < 5e-3
    assert abs(np.corrcoef(z[:10 ** 5], w)[0, 1]) < 2e-2


def test_binomial_moments_with_broadcast_p():
    s = MRG_RandomStreams(seed=5)
    p = T.dvector("p")
    mask = s.binomial(size=(40000, 4), p=p)
    counts = s.binomial(size=(40000,), n=6, p=0.3, dtype="int32")
    f = theon.function([p], [mask, counts])
    pv = np.array([0.0, 0.1, 0.5, 1.0])
    m, c = f(pv)
    assert m.dtype == np.int64 and c.dtype == np.int32 and m.shape == (40000, 4)
    assert set(np.unique(m)) <= {0, 1} and m[:, 0].sum() == 0 and m[:, 3].sum() == 40000
    for k in (1, 2):
        mean = m[:, k].mean()
        assert abs(mean - pv[k]) < 5 * math.sqrt(pv[k] * (1 - pv[k]) / 40000)
    assert abs(c.mean() - 1.8) < 5 * math.sqrt(1.26 / 40000)
    assert abs(c.var() - 1.26) < 0.05 and c.min() >= 0 and c.max() <= 6


def test_random_integers_chi_squared():
    s = RandomStreams(seed=11)
    f = theon.function([], s.random_integers((100000,), low=3, high=12))
    x = f()
    assert x.dtype == np.int64 and x.min() == 3 and x.max() == 12
    counts = np.bincount(x - 3, minlength=10)
    chi2 = ((counts - 10000.0) ** 2 / 10000.0).sum()
    assert chi2 < 27.9            # chi-squared, 9 degrees of freedom, alpha = 1e-3


def test_truncated_normal_moments():
    s = MRG_RandomStreams(seed=8)
    z = theon.function([], s.normal((200000,), truncate=True))()
    assert np.abs(z).max() <= 2.0
    var = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))   # 0.7737
    assert abs(z.mean()) < 5 * math.sqrt(var / 200000)
    assert abs(z.var() - var) < 0.01
    t = theon.function([], s.truncated_normal((200000,), avg=1.0, std=0.5))()
    assert abs(t.mean() - 1.0) < 0.01 and abs(t.std() - 0.5) < 0.01 and np.abs(t - 1.0).max() <= 1.0 / 0.8796
    assert not hasattr(s, "permutation")        # MRG has none, as in Theano


# --- state -------------------------------------------------------------------------------------
def test_calls_advance_and_seeds_reproduce():
    a, b = RandomStreams(seed=77), RandomStreams(seed=77)
    fa = theon.function([], a.normal((50,)))
    fb = theon.function([], b.normal((50,)))
    x1, x2 = fa(), fa()
    assert not np.any(x1 == x2)
    np.testing.assert_array_equal(fb(), x1)
    a.seed(77)
    np.testing.assert_array_equal(fa(), x1)
    a.seed(78)
    assert not np.any(fa() == x1)
    frozen = theon.function([], a.uniform((5,)), no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    c = RandomStreams(seed=77)
    explicit = theon.function([], c.normal((50,)), updates=c.updates())
    np.testing.assert_array_equal(explicit(), x1)
    np.testing.assert_array_equal(explicit(), x2)


def test_symbolic_size_and_same_numbers_in_fast_compile():
    s = RandomStreams(seed=3)
    x = T.dmatrix("x")
    f = theon.function([x], x * s.uniform(x.shape))
    g = theon.function([x], x * RandomStreams(seed=3).uniform(x.shape), mode="FAST_COMPILE")
    ones = np.ones((3, 7))
    r = f(ones)
    assert r.shape == (3, 7)
    np.testing.assert_array_equal(r, g(ones))


# --- gradients and a training loop ----------------------------------------------------------------
def test_gradients_flow_to_location_and_scale():
    s = RandomStreams(seed=4)
    mu, sigma = T.dscalar("mu"), T.dscalar("sigma")
    z = s.normal((1000,), avg=mu, std=sigma)
    u = s.uniform((1000,), low=mu, high=mu + sigma)
    gz = T.grad(z.sum(), [mu, sigma])
    gu = T.grad(u.sum(), [mu, sigma])
    f = theon.function([mu, sigma], gz + gu + [z, u], no_default_updates=True)
    g_mu, g_sigma, h_mu, h_sigma, zv, uv = f(0.5, 2.0)
    assert g_mu == 1000 and h_mu == 1000
    np.testing.assert_allclose(g_sigma, ((zv - 0.5) / 2.0).sum(), rtol=1e-10)
    np.testing.assert_allclose(h_sigma, ((uv - 0.5) / 2.0).sum(), rtol=1e-10)


def test_dropout_mlp_trains():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((256, 8))
    ys = (xs[:, :4].sum(1) > 0).astype(np.int64)
    srng = MRG_RandomStreams(seed=1)
    x, y = T.dmatrix("x"), T.lvector("y")
    w1 = theon.shared(rng.standard_normal((8, 32)) * 0.3, name="w1")
    w2 = theon.shared(np.zeros((32, 2)), name="w2")
    h = T.tanh(T.dot(x, w1))
    h_drop = h * srng.binomial(size=h.shape, p=0.5, dtype="float64") / 0.5
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h_drop, w2)), y).mean()
    params = [w1, w2]
    grads = T.grad(loss, params)
    train = theon.function([x, y], loss, updates=[(p, p - 0.2 * g) for p, g in zip(params, grads)])
    evaluate_loss = theon.function([x, y], T.nnet.categorical_crossentropy(
        T.nnet.softmax(T.dot(h, w2)), y).mean())
    start = evaluate_loss(xs, ys)
    losses = [train(xs, ys) for _ in range(200)]
    assert len(set(np.round(losses[:5], 12))) == 5       # a new mask every step
    assert evaluate_loss(xs, ys) < 0.5 * start


# --- AOT: the states are fields of the library's state, advanced per call ---------------------------
AOT_SOURCE = """
import numpy as np, theon, theon.tensor as T
from theon.tensor.shared_randomstreams import RandomStreams
srng = RandomStreams(seed=99)
x = T.dmatrix("x")
drop = theon.function([x], [x * srng.binomial(size=x.shape, p=0.5, dtype="float64"),
                             srng.normal((7,), dtype="float32")])
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to link the library")
def test_aot_library_draws_the_jit_numbers(tmp_path):
    from theon.runtime.aot_cli import main
    src = tmp_path / "drop.py"
    src.write_text(AOT_SOURCE)
    assert main([str(src), "-o", str(tmp_path), "--emit", "header,shared"]) == 0
    lib = theon.runtime.load_library(tmp_path / "libdrop.so")
    model = runpy.run_path(str(src), run_name="aot_reference")
    xv = np.arange(12.0).reshape(3, 4) + 1
    for _ in range(3):
        got, want = lib(xv), model["drop"](xv)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)
    for st, _ in model["srng"].updates():
        np.testing.assert_array_equal(lib.get_state(st.name), st.get_value())


# --- categorical draws ---------------------------------------------------------------------------------
CHI2_3DOF = 16.27       # chi-squared critical values at alpha = 1e-3
CHI2_4DOF = 18.47


def _chi2(counts, probs):
    expected = np.sum(counts) * np.asarray(probs)
    return float(((counts - expected) ** 2 / expected).sum())


def test_multinomial_counts_chi_squared_and_rows():
    s = RandomStreams(seed=12)
    pv = [0.1, 0.2, 0.3, 0.4]
    P = T.dmatrix("P")
    f = theon.function([P], [s.multinomial(size=(20000,), n=3, pvals=pv), s.multinomial(n=5, pvals=P)])
    m, per_row = f(np.array([[1.0, 0.0, 0.0], [0.0, 0.25, 0.75], [0.5, 0.5, 0.0]]))
    assert m.shape == (20000, 4) and m.dtype == np.int64 and np.all(m.sum(1) == 3)
    assert _chi2(m.sum(0), pv) < CHI2_3DOF
    assert _chi2(m.sum(0), [0.25] * 4) > CHI2_3DOF          # the test can fail
    assert per_row.tolist()[0] == [5, 0, 0] and per_row[1, 0] == 0 and per_row[2, 2] == 0
    assert np.all(per_row.sum(1) == 5)


def test_choice_with_probabilities_chi_squared():
    s = RandomStreams(seed=13)
    p = [0.05, 0.15, 0.2, 0.25, 0.35]
    values = T.dvector("values")
    f = theon.function([values], [s.choice(size=(100000,), a=5, p=p), s.choice(size=(4, 5), a=values),
                                  s.choice(size=(50000,), a=5)])
    c, v, even = f(np.array([10.0, 20.0, 30.0]))
    assert c.dtype == np.int64 and c.min() == 0 and c.max() == 4
    assert _chi2(np.bincount(c, minlength=5), p) < CHI2_4DOF
    assert _chi2(np.bincount(even, minlength=5), [0.2] * 5) < CHI2_4DOF
    assert v.shape == (4, 5) and set(v.ravel()) <= {10.0, 20.0, 30.0}


def test_mrg_multinomial_and_choice_take_one_row_per_distribution():
    s = MRG_RandomStreams(seed=14)
    P = T.dmatrix("P")
    f = theon.function([P], [s.multinomial(n=2, pvals=P), s.choice(size=3000, p=P)])
    pv = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    m, c = f(pv)
    assert m.tolist()[0] == [0, 2, 0] and m[1].sum() == 2
    assert c.shape == (2, 3000) and np.all(c[0] == 1)
    assert _chi2(np.bincount(c[1], minlength=3), pv[1]) < 13.82      # 2 dof
    with pytest.raises(NotImplementedError, match="2-d"):
        s.multinomial(pvals=[0.5, 0.5])
    with pytest.raises(ValueError, match="does not use size"):
        s.multinomial(size=(2,), pvals=P)
    wo = theon.function([P], s.choice(size=2, p=P, replace=False))(np.array([[0.0, 0.5, 0.5], [0.1, 0.2, 0.7]]))
    assert wo.shape == (2, 2) and sorted(wo[0]) == [1, 2] and wo[1, 0] != wo[1, 1]


def test_categorical_bad_input():
    s = RandomStreams(seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        s.multinomial(pvals=[0.5, 0.6])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        s.choice(size=2, a=2, p=[-0.5, 1.5])
    with pytest.raises(ValueError, match="a must be positive"):
        s.choice(size=2, a=0)
    with pytest.raises(ValueError, match="cannot take 4 elements of 3"):
        s.choice(size=(2, 2), a=3, replace=False)
    with pytest.raises(ValueError, match="p has 3 probabilities but a has 4"):
        s.choice(size=2, a=4, replace=False, p=[0.2, 0.3, 0.5])
    with pytest.raises(TypeError, match="n must be an int"):
        s.permutation(n=T.dvector())
    with pytest.raises(TypeError, match="n must be an int"):
        s.multinomial(n=2.5, pvals=[0.5, 0.5])


def test_scan_takes_noise_drawn_outside_as_a_sequence():
    s = RandomStreams(seed=5)
    noise = s.uniform((3, 2))
    out, upd = theon.scan(lambda e, h: h + e, sequences=[noise], outputs_info=[T.zeros((2,))])
    assert not upd                  # a draw outside the step function is not carried by the loop
    f = theon.function([], [out, noise], no_default_updates=True)
    got, e = f()
    np.testing.assert_allclose(got, np.cumsum(e, axis=0), rtol=1e-12)


# --- the examples -------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags", ["", "floatX=float32"])
def test_dropout_and_denoising_examples_learn(flags):
    from .test_examples import run_example
    out = run_example("dropout_mlp.py", flags)
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([0-9.]+)", out)]
    assert len(losses) == 15 and losses[-1] < 0.6 * losses[0], out
    assert float(re.search(r"test accuracy ([0-9.]+)", out).group(1)) > 0.8, out
    out = run_example("denoising_autoencoder.py", flags)
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([0-9.]+)", out)]
    assert len(losses) == 20 and losses[-1] < 0.85 * losses[0], out
    before, after = (float(v) for v in re.findall(r"reconstruction error \w+ training ([0-9.]+)", out))
    assert after < 0.7 * before, out


def test_bench_w12_step_equals_numpy_with_the_streams_mask():
    """W12's check: theon's dropout step is the NumPy step with the mask the
    op's reference gives for the stream's state."""
    from theon.bench import mlp, random_streams
    params = mlp.init_params()
    X, Y = mlp.batch()
    step, shared, state = random_streams.theon_dropout_step(params)
    ref = mlp.NumpyStep(params)
    for _ in range(2):              # the second step draws a new mask
        mask = random_streams.reference_mask(state.get_value(), (mlp.BATCH, mlp.SIZES[1]))
        assert 0.45 < (mask > 0).mean() < 0.55
        want = ref(X, Y, mask)
        np.testing.assert_allclose(step(X, Y), want, rtol=1e-4)
        for s, w in zip(shared, ref.params):
            np.testing.assert_allclose(s.get_value(), w, rtol=1e-4, atol=1e-6)



# --- permutations ----------------------------------------------------------------------------------------
def test_permutations_are_uniform_permutations():
    s = RandomStreams(seed=21)
    f = theon.function([], [s.permutation(size=(60000,), n=4), s.permutation(n=1000), s.permutation(n=0),
                            s.permutation(size=(2, 3), n=1)])
    p, big, empty, ones = f()
    assert p.dtype == np.int64 and p.shape == (60000, 4)
    assert np.all(np.sort(p, axis=1) == np.arange(4)) and np.array_equal(np.sort(big), np.arange(1000))
    assert empty.shape == (0,) and ones.shape == (2, 3, 1) and np.all(ones == 0)
    counts = np.unique(p @ np.array([64, 16, 4, 1]), return_counts=True)[1]
    assert len(counts) == 24 and _chi2(counts, [1 / 24] * 24) < 49.73          # 23 dof, alpha = 1e-3
    assert not np.array_equal(f()[1], big)


def test_permutation_native_matches_reference_for_any_thread_count():
    state = np.array([-7, 3], np.int64)
    got = []
    for threads in (1, 2):
        func = make_func([("int64", (2,)), ("int64", ()), ("int64", ())], lambda b, st, r, n: b.create(
            "random_permutation", [st, r, n], {"shape": (DYN, DYN), "parallel": 1, "threads": threads}).results[0])
        got.append(run_native(func, [state, 37, 11])[0])
    want = evaluate(func, [state, np.int64(37), np.int64(11)])[0][0]
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], want)


def test_shuffle_row_elements_and_choice_without_replacement():
    s = RandomStreams(seed=22)
    x = T.dtensor3("x")
    v = T.dvector("v")
    f = theon.function([x, v], [s.shuffle_row_elements(x), s.choice(size=(3, 2), a=v, replace=False),
                                s.choice(size=5, a=5, replace=False)])
    xv = np.arange(24.0).reshape(2, 3, 4)
    shuffled, picked, all5 = f(xv, np.arange(10.0) * 10)
    assert shuffled.shape == xv.shape and not np.array_equal(shuffled, xv)
    np.testing.assert_array_equal(np.sort(shuffled, axis=-1), xv)
    assert picked.shape == (3, 2) and len(set(picked.ravel())) == 6 and set(picked.ravel()) <= set(range(0, 100, 10))
    assert sorted(all5) == list(range(5))


def test_categorical_draws_have_zero_gradients_and_streams_are_uncorrelated():
    s = RandomStreams(seed=5)
    p = T.dvector("p")
    b = s.binomial(p=p, dtype="float64")
    m = T.cast(s.multinomial(pvals=p, n=3), "float64")
    f = theon.function([p], T.grad(b.sum(), p) + T.grad(m.sum(), p) * 0 + T.grad(m.sum(), p))
    np.testing.assert_array_equal(f(np.array([0.3, 0.7])), [0.0, 0.0])
    a, c = T.shared_randomstreams.RandomStreams(seed=1), T.shared_randomstreams.RandomStreams(seed=2)
    u, v = theon.function([], [a.uniform((200000,)), c.uniform((200000,))])()
    assert abs(np.corrcoef(u, v)[0, 1]) < 1e-2
    assert T.random.RandomStream is not None


def test_debug_mode_and_pickled_functions_keep_the_streams():
    import pickle
    s = RandomStreams(seed=5)
    x = T.fvector("x")
    d = theon.function([x], [x * s.normal((40,), dtype="float32"), s.uniform((3,))], mode="DEBUG_MODE")
    d(np.ones(40, np.float32))              # DEBUG checks every op against its reference: no false alarm
    g = theon.function([x], x * s.normal((4,), dtype="float32"))
    g2 = pickle.loads(pickle.dumps(g))
    ones = np.ones(4, np.float32)
    first = g(ones)
    np.testing.assert_array_equal(g2(ones), first)      # the copy starts from the pickled state
    assert not np.array_equal(g2(ones), first)          # ... and advances it


def test_same_seed_same_numbers_in_another_process(run_json):
    code = """
import json, numpy as np, theon
from theon.sandbox.rng_mrg import MRG_RandomStreams
s = MRG_RandomStreams(seed=2024)
f = theon.function([], [s.uniform((5,)), s.normal((3,), dtype="float32")])
f()
print(json.dumps([a.tolist() for a in f()]))
"""
    s = MRG_RandomStreams(seed=2024)
    f = theon.function([], [s.uniform((5,)), s.normal((3,), dtype="float32")])
    f()
    mine = [a.tolist() for a in f()]
    assert run_json(code) == mine


C_SOURCE = """
import theon
from theon.sandbox.rng_mrg import MRG_RandomStreams
srng = MRG_RandomStreams(seed=7)
draw = theon.function([], [srng.uniform((5,)), srng.normal((3,), dtype="float32")])
"""

C_MAIN = r'''
#include <stdio.h>
#include "draw.h"
int main(void) {
    draw_state st;
    double u[5];
    float z[3];
    draw_state_init(&st);
    for (int call = 0; call < 3; call++) {
        int rc = draw(&st, u, z);
        if (rc) { printf("error %s\n", theon_strerror(rc)); return 1; }
        for (int i = 0; i < 5; i++) printf("%.17g ", u[i]);
        for (int i = 0; i < 3; i++) printf("%.9g ", (double)z[i]);
        printf("\n");
    }
    return 0;
}
'''


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_aot_object_run_from_c_draws_the_jit_numbers(tmp_path):
    import subprocess
    from theon.runtime.aot_cli import main
    src = tmp_path / "draw_model.py"
    src.write_text(C_SOURCE)
    assert main([str(src), "-o", str(tmp_path), "--emit", "obj,header"]) == 0
    (tmp_path / "main.c").write_text(C_MAIN)
    exe = tmp_path / "main"
    cc = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.c"),
                         str(tmp_path / "draw.o"), "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    model = runpy.run_path(str(src), run_name="c_reference")
    for line in lines:
        values = [float(v) for v in line.split()]
        u, z = model["draw"]()
        np.testing.assert_array_equal(values[:5], u)
        np.testing.assert_array_equal(np.float32(values[5:]), z)


# --- random shapes and states (hypothesis) ------------------------------------------------------------------
_FUNCS = {}


def _compiled(opname, dtype, ndim):
    """One native function per (op, dtype, ndim): draws of dynamic shape."""
    key = (opname, dtype, ndim)
    if key not in _FUNCS:
        attrs = {"shape": (DYN,) * ndim}
        if opname != "random_permutation":
            attrs["dtype"] = dtype
        func = make_func([("int64", (2,))] + [("int64", ())] * ndim,
                         lambda b, st, *n: b.create(opname, [st, *n], attrs).results[0])
        from theon.codegen.cpu import compile_function
        _FUNCS[key] = (func, compile_function(func))
    return _FUNCS[key]


@settings(max_examples=60, deadline=None)
@given(opname=hst.sampled_from(["random_uniform", "random_normal", "random_permutation"]),
       dtype=hst.sampled_from(["float32", "float64"]),
       shape=hst.lists(hst.integers(-2, 9), min_size=1, max_size=3),
       key=hst.integers(-2 ** 63, 2 ** 63 - 1), counter=hst.integers(-2 ** 63, 2 ** 63 - 1))
def test_random_shapes_and_states_native_equals_reference(opname, dtype, shape, key, counter):
    func, compiled = _compiled(opname, dtype, len(shape))
    state = np.array([key, counter], np.int64)
    args = [state] + [np.int64(d) for d in shape]
    if min(shape) < 0:
        with pytest.raises(NativeError) as e:
            run_native(func, args, compiled)
        assert e.value.code == 7                    # NEGATIVE_SIZE
        with pytest.raises(ValueError, match="negative dimension"):
            evaluate(func, args)
        return
    got = run_native(func, args, compiled)[0]
    want = evaluate(func, args)[0][0]
    assert got.shape == want.shape == tuple(shape) and got.dtype == want.dtype
    if opname == "random_normal":
        tol = 1e-5 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        assert got.tobytes() == want.tobytes()
