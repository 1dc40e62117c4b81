"""Advanced indexing in native code (codegen/cpu/lower/indexing.py):
compiled gathers and scatters against NumPy in several dtypes (index
dtypes too), non-contiguous and empty inputs, random keys against the
reference interpreter, out-of-range indices (an IndexError naming the
index array, never a crash: the extreme cases in a subprocess), compiled
gradients against finite differences, the Theano tutorial's negative
log-likelihood training a softmax regression, an embedding model."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import theon
import theon.tensor as T

from ..ir.test_advanced_indexing import _symbolic, keys


def fn(inputs, outputs, **kw):
    return theon.function(inputs, outputs, on_unused_input="ignore", **kw)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8", "uint8", "bool"])
@pytest.mark.parametrize("idtype", ["int64", "int32", "int8", "uint8"])
def test_gather_scatter_dtypes(dtype, idtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((5, 4, 3)) * 10).astype(dtype)
    ind = rng.integers(0 if idtype == "uint8" else -5, 5, (2, 3)).astype(idtype)
    jnd = rng.integers(0, 3, (3,)).astype(idtype)
    x = T.tensor(dtype, shape=(None, None, None))
    i = T.tensor(idtype, shape=(None, None))
    j = T.tensor(idtype, shape=(None,))
    v = T.tensor(dtype, shape=(None,))
    vals = (rng.standard_normal(4) * 4).astype(dtype)
    f = fn([x, i, j, v], [x[i, :, j], x[:, j], T.set_subtensor(x[i, :, j], v)]
           + ([T.inc_subtensor(x[i], v[:3])] if dtype != "bool" else []))
    outs = f(a, ind, jnd, vals)
    np.testing.assert_array_equal(outs[0], a[ind, :, jnd])
    np.testing.assert_array_equal(outs[1], a[:, jnd])
    expected = a.copy()
    expected[ind, :, jnd] = vals
    np.testing.assert_array_equal(outs[2], expected)
    if dtype != "bool":
        expected = a.copy()
        np.add.at(expected, ind, vals[:3])
        np.testing.assert_array_equal(outs[3], expected)
    assert all(o.dtype == np.dtype(dtype) for o in outs)


def test_non_contiguous_and_empty():
    x = T.dmatrix()
    i = T.lvector()
    f = fn([x, i], [x[i], x[:, i], T.inc_subtensor(x[:, i], 1.0)])
    a = np.arange(60.0).reshape(6, 10)[::2, ::-3]          # strided, negative strides
    ind = np.array([2, -1, 0, 2])[::-1]
    outs = f(a, ind[:3] % 3)
    np.testing.assert_array_equal(outs[0], a[ind[:3] % 3])
    np.testing.assert_array_equal(outs[1], a[:, ind[:3] % 3])
    expected = a.copy()
    np.add.at(expected, (slice(None), ind[:3] % 3), 1.0)
    np.testing.assert_array_equal(outs[2], expected)
    empty = np.zeros(0, dtype=np.int64)
    outs = f(a, empty)
    assert outs[0].shape == (0, 4) and outs[1].shape == (3, 0)
    np.testing.assert_array_equal(outs[2], a)
    outs = f(np.zeros((0, 5)), empty)
    assert outs[0].shape == (0, 5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys(max_ndim=3))
def test_random_keys_match_numpy(case):
    x, key, npkey = case
    xv = T.tensor("float64", shape=(None,) * x.ndim)
    inputs, values, tkey = _symbolic(key, False)
    f = fn([xv] + inputs, [xv[tkey], T.inc_subtensor(xv[tkey], 2.5)])
    got, inc = f(x, *values)
    np.testing.assert_array_equal(got, x[npkey])
    expected = x.copy()
    np.add.at(expected, npkey, 2.5)
    np.testing.assert_allclose(inc, expected, rtol=1e-15, atol=1e-15)


# --- out of range -------------------------------------------------------------------------------
def test_out_of_range_is_an_index_error_naming_the_index():
    x = T.dmatrix("x")
    i = T.lvector("rows")
    j = T.ivector("cols")
    f = fn([x, i, j], [x[i, j], T.inc_subtensor(x[i, j], 1.0)])
    a = np.zeros((3, 4))
    f(a, np.array([0, -3]), np.array([3, -4], dtype=np.int32))
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 0 with size 3: "
                                         r"index array input 'rows'"):
        f(a, np.array([0, 3]), np.array([0, 0], dtype=np.int32))
    with pytest.raises(IndexError, match=r"index -5 is out of bounds for axis 1 with size 4: "
                                         r"index array input 'cols'"):
        f(a, np.array([0, 1]), np.array([0, -5], dtype=np.int32))
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.zeros((0, 4)), np.array([0]), np.array([0], dtype=np.int32))


def test_extreme_indices_never_crash(run_python):
    proc = run_python("""
        import numpy as np, theon, theon.tensor as T
        x = T.fvector("x"); i = T.lvector("i")
        f = theon.function([x, i], [x[i], theon.grad(x[i].sum(), x)])
        big = np.zeros(1000, dtype=np.float32)
        for bad in (2**63 - 1, -2**63, 1000, -1001, 2**40):
            try:
                f(big, np.array([0, bad]))
            except IndexError as e:
                assert str(bad) in str(e), e
            else:
                raise SystemExit(f"no IndexError for {bad}")
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


# --- gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["gather", "separated", "set", "set-repeated", "inc", "take"])
def test_compiled_gradients_match_finite_differences(case):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 3, 2))
    w = rng.uniform(0.5, 1.5, (4, 3, 2))
    x = T.dtensor3()
    i = T.constant(np.array([1, -1, 1, 0]))
    j = T.constant(np.array([[0], [1]]))
    out = {"gather": lambda: x[i],
           "separated": lambda: x[j, :, i[:2] % 2],
           "set": lambda: T.set_subtensor(x[i[:2]], 1.0) ** 2,
           "set-repeated": lambda: T.set_subtensor(x[i], x[::-1][i] * 3.0) ** 2,     # 1 written twice
           "inc": lambda: T.inc_subtensor(x[:, j], x[:, j] * 3.0) ** 2,
           "take": lambda: T.take(x, j, axis=2)}[case]()
    weights = rng.uniform(0.5, 1.5, fn([x], out)(a).shape)
    cost = (out * weights).sum()
    f = fn([x], [cost, theon.grad(cost, x)])
    value, g = f(a)
    eps = 1e-6
    numeric = np.zeros_like(a)
    for k in range(a.size):
        p, m = a.copy(), a.copy()
        p.flat[k] += eps
        m.flat[k] -= eps
        numeric.flat[k] = (f(p)[0] - f(m)[0]) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-7)
    del w


def test_tutorial_nll_trains_a_softmax_regression():
    """The Theano tutorial's LogisticRegression.negative_log_likelihood."""
    rng = np.random.default_rng(3)
    n_in, n_out, n = 20, 4, 200
    hidden = rng.standard_normal((n_in, n_out))
    X = rng.standard_normal((n, n_in))
    Y = np.argmax(X @ hidden, axis=1)
    x = T.matrix("x")
    y = T.ivector("y")
    W = theon.shared(np.zeros((n_in, n_out), dtype=theon.config.floatX), name="W")
    b = theon.shared(np.zeros(n_out, dtype=theon.config.floatX), name="b")
    p_y_given_x = T.nnet.softmax(T.dot(x, W) + b)
    nll = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    errors = T.mean(T.neq(T.argmax(p_y_given_x, axis=1), y))
    gW, gb = theon.grad(nll, [W, b])
    train = theon.function([x, y], nll, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)])
    test = theon.function([x, y], errors)
    Xf, Yi = X.astype(theon.config.floatX), Y.astype(np.int32)
    first = float(train(Xf, Yi))
    assert abs(first - np.log(n_out)) < 1e-5
    for _ in range(200):
        last = float(train(Xf, Yi))
    assert last < 0.3 * first
    assert float(test(Xf, Yi)) < 0.05
    # the compiled gradient of the NLL is the scatter of -1/(n p) at (row, y)
    p = T.matrix("p")
    g = theon.function([p, y], theon.grad(-T.mean(T.log(p)[T.arange(y.shape[0]), y]), p))
    P = rng.uniform(0.1, 1.0, (n, n_out)).astype(theon.config.floatX)
    expected = np.zeros_like(P)
    expected[np.arange(n), Y] = -1.0 / (n * P[np.arange(n), Y])
    np.testing.assert_allclose(g(P, Yi), expected, rtol=1e-5)


def test_embedding_model_trains_and_its_gradient_is_a_scatter_add():
    rng = np.random.default_rng(4)
    vocab, dim, batch, seq = 50, 8, 16, 5
    W = theon.shared(rng.standard_normal((vocab, dim)).astype("float32") * 0.1, name="W")
    target = theon.shared(rng.standard_normal((dim,)).astype("float32"), name="target")
    idx = T.imatrix("idx")
    emb = W[idx]                                  # (batch, seq, dim)
    cost = ((emb.mean(axis=1) - target) ** 2).sum()
    gW = theon.grad(cost, W)
    grad_fn = theon.function([idx], [emb, gW])
    I = rng.integers(0, vocab, (batch, seq)).astype(np.int32)
    e, g = grad_fn(I)
    Wv, tv = W.get_value(), target.get_value()
    np.testing.assert_array_equal(e, Wv[I])
    diff = 2 * (Wv[I].mean(axis=1) - tv) / seq                  # d cost / d emb[b, s]
    expected = np.zeros_like(Wv)
    np.add.at(expected, I, np.broadcast_to(diff[:, None, :], (batch, seq, dim)))
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)
    train = theon.function([idx], cost, updates=[(W, W - 0.05 * gW)])
    first = float(train(I))
    for _ in range(100):
        last = float(train(I))
    assert last < 0.1 * first


def test_in_place_scatter_never_changes_a_value_used_elsewhere():
    """A scatter into zeros updates them in place only when it is their
    only use (codegen/cpu/lower/indexing.py ``_donated``)."""
    x = T.dmatrix()
    i = T.lvector()
    z = T.zeros_like(x)
    a = T.inc_subtensor(z[i], 1.0)
    b = T.set_subtensor(z[i[:1]], 5.0)
    f = fn([x, i], [a, b, z, T.inc_subtensor(a[i], 2.0)], mode=theon.Mode(optimizer="None"))
    ind = np.array([0, 2, 0])
    got_a, got_b, got_z, got_c = f(np.ones((3, 2)), ind)
    ea = np.zeros((3, 2))
    np.add.at(ea, ind, 1.0)
    eb = np.zeros((3, 2))
    eb[0] = 5.0
    ec = ea.copy()
    np.add.at(ec, ind, 2.0)
    np.testing.assert_array_equal(got_a, ea)
    np.testing.assert_array_equal(got_b, eb)
    np.testing.assert_array_equal(got_z, np.zeros((3, 2)))
    np.testing.assert_array_equal(got_c, ec)


# --- boolean masks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "uint8", "bool"])
def test_boolean_masks_compiled(dtype):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((4, 3, 5)) * 3).astype(dtype)
    x = T.tensor(dtype, shape=(None, None, None))
    m = T.tensor("bool", shape=(None, None))
    f = fn([x, m], [x[x > 0] if dtype != "bool" else x[x], x[m], x[:, m[0]], T.set_subtensor(x[m], 1)])
    for mask in (rng.random((4, 3)) < 0.4, np.zeros((4, 3), bool), np.ones((4, 3), bool)):
        outs = f(a, mask)
        np.testing.assert_array_equal(outs[0], a[a > 0] if dtype != "bool" else a[a])
        np.testing.assert_array_equal(outs[1], a[mask])
        np.testing.assert_array_equal(outs[2], a[:, mask[0]])
        expected = a.copy()
        expected[mask] = 1
        np.testing.assert_array_equal(outs[3], expected)
    nan = np.array([[np.nan, 0.0], [0.0, -0.0]])
    v = T.dmatrix()
    np.testing.assert_array_equal(fn([v], v[T.neq(v, 0)])(nan), nan[nan != 0])     # NaN is selected


def test_mask_gradient_compiled_and_a_mask_of_another_shape_is_an_index_error():
    x = T.dvector("x")
    m = T.tensor("bool", shape=(None,), name="m")
    g = fn([x], theon.grad((x[x > 0] ** 3).sum(), x))
    a = np.array([1.0, -2.0, 3.0, 0.0])
    np.testing.assert_allclose(g(a), np.where(a > 0, 3 * a ** 2, 0.0))
    f = fn([x, m], x[m])
    with pytest.raises(IndexError, match="along axis 0; size of axis is 4 but size of corresponding boolean axis is 5"):
        f(a, np.array([False, False, False, False, True]))
    with pytest.raises(IndexError, match="size of axis is 4 but size of corresponding boolean axis is 3"):
        f(a, np.array([True, False, False]))
    y = T.dtensor3("y")
    mm = T.tensor("bool", shape=(None, None), name="mm")
    g = fn([y, mm], T.set_subtensor(y[:, mm], 0.0))
    with pytest.raises(IndexError, match="along axis 2; size of axis is 4 but size of corresponding boolean axis is 5"):
        g(np.zeros((2, 3, 4)), np.ones((3, 5), bool))


AOT_MODULE = '''
import numpy as np, theon, theon.tensor as T
x = T.dmatrix("x"); i = T.lvector("i"); y = T.lvector("y")
pick = theon.function([x, y], -T.mean(T.log(x)[T.arange(y.shape[0]), y]))
positive = theon.function([x], x[x > 0])
W = theon.shared(np.arange(12.0).reshape(4, 3), name="W")
embed = theon.function([i], W[i], updates=[(W, T.inc_subtensor(W[i], 1.0))])
'''


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
def test_aot_compiled_gather_scatter_and_mask(tmp_path):
    from theon.runtime.aot_cli import main
    src = tmp_path / "m.py"
    src.write_text(AOT_MODULE)
    assert main([str(src), "-o", str(tmp_path), "--emit", "header,shared"]) == 0
    load = theon.runtime.load_library
    P = np.random.default_rng(9).uniform(0.1, 1.0, (5, 3))
    Y = np.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(load(tmp_path / "libpick.so")(P, Y), -np.mean(np.log(P)[np.arange(5), Y]))
    A = np.random.default_rng(10).standard_normal((3, 4))
    np.testing.assert_array_equal(load(tmp_path / "libpositive.so")(A), A[A > 0])
    embed = load(tmp_path / "libembed.so")
    W = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(embed(np.array([0, 0, 3])), W[[0, 0, 3]])
    np.add.at(W, [0, 0, 3], 1.0)
    np.testing.assert_array_equal(embed.get_state("W"), W)
    with pytest.raises(IndexError, match="index out of bounds"):
        embed(np.array([9]))
    np.testing.assert_array_equal(embed.get_state("W"), W)        # unchanged by the failed call


def test_large_gathers_run_on_the_thread_pool_and_still_check_every_index():
    """From 65536 result elements a gather with its index arrays first runs
    in slices on the thread pool, after the entry checked the indices."""
    rng = np.random.default_rng(11)
    W = rng.standard_normal((1000, 64)).astype(np.float32)
    idx = rng.integers(-1000, 1000, (40, 50))
    w = T.fmatrix("W")
    i = T.lmatrix("idx")
    p = T.dmatrix("p")
    y = T.lvector("y")
    f = fn([w, i], w[i])
    np.testing.assert_array_equal(f(W, idx), W[idx])
    bad = idx.copy()
    bad[39, 49] = 1000
    with pytest.raises(IndexError, match="index 1000 is out of bounds for axis 0 with size 1000: index array input 'idx'"):
        f(W, bad)
    cols = fn([w, i], [w.T[:, i], w.T[None, :, i[0]]])            # the whole dims first
    got = cols(W, idx)
    np.testing.assert_array_equal(got[0], W.T[:, idx])
    np.testing.assert_array_equal(got[1], W.T[None, :, idx[0]])
    with pytest.raises(IndexError, match="index 1000 is out of bounds for axis 1 with size 1000"):
        cols(W, bad)
    P = rng.random((100_000, 3))
    Y = rng.integers(0, 3, 100_000)
    pick = fn([p, y], p[T.arange(y.shape[0]), y])
    np.testing.assert_array_equal(pick(P, Y), P[np.arange(100_000), Y])
    Y[-1] = -4
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 1 with size 3"):
        pick(P, Y)


def test_example_softmax_and_embeddings_trains(run_python):
    """examples/softmax_and_embeddings.py: the tutorial's LogisticRegression
    (its NLL a row-wise pick) and a bag-of-embeddings classifier."""
    proc = run_python("import runpy; runpy.run_path('examples/softmax_and_embeddings.py', run_name='__main__')",
                      timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    import re
    nll = [float(v) for v in re.findall(r"softmax regression epoch \d+: nll ([0-9.]+)", out)]
    assert len(nll) == 5 and nll[-1] < 0.5 * nll[0], out
    assert float(re.search(r"softmax regression training error ([0-9.]+)", out).group(1)) < 0.15, out
    emb = [float(v) for v in re.findall(r"embeddings step \d+: nll ([0-9.]+)", out)]
    assert len(emb) == 3 and emb[-1] < 0.1, out
    assert float(re.search(r"embeddings training error ([0-9.]+)", out).group(1)) < 0.05, out


def test_bench_w13_check_passes_on_a_small_size():
    """bench W13 (embedding lookup + scatter-add gradient): theon's results
    equal NumPy's, bit for bit (the same summation order)."""
    from theon.bench import indexing
    fns = indexing.w13(np.random.default_rng(13), vocab=300, dim=16, tokens=500)
    expected, got = (fn() for fn in fns["check"])
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


def test_large_scatters_split_their_rows_over_threads_with_numpys_sums():
    """From 65536 region elements a scatter with dims after the index
    arrays splits those over the thread pool: np.add.at's sums bit for bit
    (each place summed in the same order), set keeps the last write."""
    rng = np.random.default_rng(14)
    W = rng.standard_normal((300, 512)).astype(np.float32)
    idx = rng.integers(-300, 300, (40, 10))                 # many repeated ids
    G = rng.standard_normal((40, 10, 512)).astype(np.float32)
    w, i, g = T.fmatrix("W"), T.lmatrix("idx"), T.ftensor3("g")
    f = fn([w, i, g], [T.inc_subtensor(w[i], g), T.set_subtensor(w[i], g), T.inc_subtensor(w[i, 3:], g[..., 3:])])
    inc, st, part = f(W, idx, G)
    expected = W.copy()
    np.add.at(expected, idx, G)
    np.testing.assert_array_equal(inc, expected)
    expected = W.copy()
    expected[idx] = G
    np.testing.assert_array_equal(st, expected)
    expected = W.copy()
    np.add.at(expected, (idx, slice(3, None)), G[..., 3:])
    np.testing.assert_array_equal(part, expected)
    bad = idx.copy()
    bad[5, 5] = 300
    with pytest.raises(IndexError, match="index 300 is out of bounds for axis 0 with size 300"):
        f(W, bad, G)


def test_tier0_code_with_threaded_gathers_and_scatters(monkeypatch):
    """A big module's quick code (tier 0: the outlined gather/scatter
    workers in their own objects) computes what tier 1 does."""
    from theon.codegen.cpu.driver import compile as cc
    from theon.codegen.cpu.driver import tierup
    monkeypatch.setattr(cc, "BIG_MODULE_INSTRUCTIONS", 0)
    monkeypatch.setattr(tierup, "submit", lambda *a, **k: True)
    w, i, g = T.fmatrix("W"), T.lmatrix("i"), T.ftensor3("g")
    saved = theon.config.cache_dir
    theon.config.cache_dir = ""
    try:
        f = fn([w, i, g], [w[i], theon.grad((w[i] * g).sum(), w), w[w > 0]])
    finally:
        theon.config.cache_dir = saved
    assert f.native.tier == 0
    rng = np.random.default_rng(15)
    W = rng.standard_normal((500, 256)).astype(np.float32)
    I = rng.integers(-500, 500, (30, 20))
    G = rng.standard_normal((30, 20, 256)).astype(np.float32)
    lookup, grad, positive = f(W, I, G)
    expected = np.zeros_like(W)
    np.add.at(expected, I, G)
    np.testing.assert_array_equal(lookup, W[I])
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(positive, W[W > 0])
    with pytest.raises(IndexError, match="index 500 is out of bounds"):
        f(W, np.full((2, 2), 500), G[:2, :2])
