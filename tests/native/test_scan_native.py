"""Control flow compiled to native CPU code: ``ifelse`` as a real branch and
``scan`` as one native loop, against NumPy; the run-time length checks
(negative n_steps, short sequences, rows that change shape) as clear
errors; gradients through both vs finite differences (verify_grad);
DEBUG mode comparing the native loop with the reference interpreter."""
import numpy as np
import pytest
from hypothesis import given, settings

import theon
import theon.tensor as T
from theon.gradient import verify_grad
from theon.ifelse import ifelse
from theon.scan_module import until

from ..scan_helpers import build, configs, reference

RNG = np.random.default_rng(1)
MODES = ["FAST_RUN", "FAST_COMPILE"]


def _rnn(X, W, U, b, h0):
    h, _ = theon.scan(lambda x_t, h_tm1: T.tanh(T.dot(x_t, W) + T.dot(h_tm1, U) + b),
                      sequences=X, outputs_info=h0)
    return h


def _rnn_reference(x, w, u, b, h0):
    out, h = [], h0
    for row in x:
        h = np.tanh(row @ w + h @ u + b)
        out.append(h)
    return np.array(out).reshape((len(x),) + np.shape(h0))


@pytest.mark.parametrize("mode", MODES)
def test_ifelse_branches(mode):
    c, a, b = T.dscalar("c"), T.dvector("a"), T.dvector("b")
    r = ifelse(T.lt(c, 0), a * 2, T.exp(b))
    f = theon.function([c, a, b], [r, (r + 1).sum()], mode=mode)
    x, y = np.arange(3.0), np.arange(2.0)
    got = f(-1.0, x, y)
    np.testing.assert_allclose(got[0], x * 2)
    np.testing.assert_allclose(got[1], (x * 2 + 1).sum())
    np.testing.assert_allclose(f(1.0, x, y)[0], np.exp(y))


def test_ifelse_is_lazy_natively():
    """The branch not taken would index out of range: no error unless taken."""
    c, a = T.bscalar("c"), T.dvector("a")
    f = theon.function([c, a], ifelse(c, a[5] * 2, a[0] + 1))
    assert f(0, np.arange(3.0)) == 1.0
    with pytest.raises(IndexError):
        f(1, np.arange(3.0))


@pytest.mark.parametrize("mode", MODES)
def test_tutorial_examples(mode):
    k, A = T.iscalar("k"), T.dvector("A")
    result, _ = theon.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    power = theon.function([A, k], result[-1], mode=mode)
    np.testing.assert_allclose(power(np.arange(10.0), 2), np.arange(10.0) ** 2)

    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    comp, _ = theon.scan(lambda c, p, x: c * (x ** p), sequences=[coefficients, T.arange(10000, dtype="int64")],
                         non_sequences=x)
    poly = theon.function([coefficients, x], comp.sum(), mode=mode)
    c = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(poly(c, 3.0), 19.0)

    vs = [T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dvector("h0")]
    arrays = [RNG.normal(size=(7, 3)), RNG.normal(size=(3, 5)), RNG.normal(size=(5, 5)) * 0.5,
              RNG.normal(size=5), RNG.normal(size=5)]
    rnn = theon.function(vs, _rnn(*vs), mode=mode)
    np.testing.assert_allclose(rnn(*arrays), _rnn_reference(*arrays), rtol=1e-12, atol=1e-12)

    s = T.dvector("s")
    sq, _ = theon.map(lambda v: v * v, sequences=s)
    tot, _ = theon.reduce(lambda v, acc: acc + v, sequences=s, outputs_info=T.constant(0.0))
    left, _ = theon.foldl(lambda v, acc: acc * 2 + v, sequences=s, outputs_info=T.constant(0.0))
    right, _ = theon.foldr(lambda v, acc: acc * 2 + v, sequences=s, outputs_info=T.constant(0.0))
    got = theon.function([s], [sq, tot, left, right], mode=mode)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got[0], [1.0, 4.0, 9.0])
    assert got[1] == 6.0 and got[2] == 11.0 and got[3] == 17.0

    n = T.lscalar("n")
    vals, _ = theon.scan(lambda p: (p * 2, until(p * 2 > 40)), outputs_info=T.constant(1, dtype="int64"),
                         n_steps=n)
    w = theon.function([n], vals, mode=mode)
    np.testing.assert_array_equal(w(100), [2, 4, 8, 16, 32, 64])
    np.testing.assert_array_equal(w(3), [2, 4, 8])
    assert w(0).shape == (0,) and w(0).dtype == np.int64


def test_taps_go_backwards_several_outputs():
    s, h0 = T.dvector("s"), T.dvector("h0")
    o, _ = theon.scan(lambda a, c, h2, h1: a * c + h1 - h2, sequences=dict(input=s, taps=[-1, 1]),
                      outputs_info=dict(initial=h0, taps=[-2, -1]))
    x, init = np.arange(1.0, 8.0), np.array([1.0, 2.0])
    hist, ref = list(init), []
    for t in range(len(x) - 2):
        hist.append(x[t] * x[t + 2] + hist[-1] - hist[-2])
        ref.append(hist[-1])
    np.testing.assert_allclose(theon.function([s, h0], o)(x, init), ref)
    # a strided (reversed view) input and go_backwards together
    outs, _ = theon.scan(lambda v, acc: [v * 2, acc * 10 + v], sequences=s, outputs_info=[None, T.constant(0.0)],
                         go_backwards=True)
    got = theon.function([s], outs)(np.array([1.0, 2.0, 3.0, 4.0])[::-1])
    np.testing.assert_allclose(got[0], [2.0, 4.0, 6.0, 8.0])
    np.testing.assert_allclose(got[1], [1.0, 12.0, 123.0, 1234.0])


def test_rows_of_a_shape_known_only_at_run_time():
    """An output without taps whose row shape is dynamic: allocated at step 0."""
    X = T.dmatrix("X")
    m, _ = theon.map(lambda r: T.concatenate([r, r * 2]), sequences=X)
    x = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(theon.function([X], m)(x), np.concatenate([x, 2 * x], axis=1))
    z = theon.function([X], m)(np.zeros((0, 3)))
    assert z.shape == (0, 0)


def test_nested_scan_with_ifelse_inside():
    M = T.dmatrix("M")
    rows, _ = theon.map(lambda r: theon.reduce(lambda v, acc: acc + ifelse(T.gt(v, 0), v * v, -v), sequences=r,
                                               outputs_info=T.constant(0.0))[0], sequences=M)
    m = RNG.normal(size=(5, 7))
    np.testing.assert_allclose(theon.function([M], rows)(m), np.where(m > 0, m * m, -m).sum(axis=1), rtol=1e-12)


def test_scalar_recurrence_over_many_steps():
    """h = a*h + x_t over 100,000 steps: one native loop (stack temporaries)."""
    a, X, h0 = T.dscalar("a"), T.dvector("X"), T.dscalar("h0")
    h, _ = theon.scan(lambda x_t, h: a * h + x_t, sequences=X, outputs_info=h0)
    f = theon.function([X, a, h0], [h[-1], h.shape[0]])
    x = RNG.normal(size=100_000)
    ref = 0.0
    for v in x:
        ref = 0.5 * ref + v
    got = f(x, 0.5, 0.0)
    np.testing.assert_allclose(got[0], ref, rtol=1e-12)
    assert got[1] == 100_000


def test_jacobian_with_scan():
    x = T.dvector("x")
    y = T.sin(x) * x.sum()
    J, _ = theon.scan(lambda i, y, x: theon.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    v = RNG.normal(size=4)
    want = np.diag(np.cos(v) * v.sum()) + np.sin(v)[:, None]
    np.testing.assert_allclose(theon.function([x], J)(v), want, rtol=1e-12, atol=1e-14)


def test_shared_variable_updates_in_the_body():
    count = theon.shared(np.int64(0), name="count")
    acc = theon.shared(np.zeros(3), name="acc")
    X = T.dmatrix("X")
    out, updates = theon.scan(lambda x_t: (x_t * 2, {count: count + 1, acc: acc + x_t * count}), sequences=X)
    f = theon.function([X], out, updates=updates)
    x = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(f(x), x * 2)
    assert count.get_value() == 4
    np.testing.assert_allclose(acc.get_value(), sum(row * t for t, row in enumerate(x)))
    f(x[:0])
    assert count.get_value() == 4


def test_zero_steps():
    vs = [T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dvector("h0")]
    f = theon.function(vs, _rnn(*vs))
    out = f(np.zeros((0, 3)), np.ones((3, 4)), np.ones((4, 4)), np.ones(4), np.ones(4))
    assert out.shape == (0, 4)
    X, W = T.dmatrix("X"), T.dmatrix("W")
    d, _ = theon.map(lambda x_t: T.dot(x_t, W) * 2 + x_t.sum(), sequences=X)
    g = theon.function([X, W], d)
    assert g(np.zeros((0, 3)), np.ones((3, 6))).shape == (0, 6)     # the body's shape rules


def test_run_time_errors():
    h, n, s = T.dscalar("h"), T.lscalar("n"), T.dvector("s")
    o, _ = theon.scan(lambda h: h * 2, outputs_info=h, n_steps=n)
    f = theon.function([h, n], o)
    with pytest.raises(ValueError, match="n_steps is negative"):
        f(1.0, -3)
    np.testing.assert_allclose(f(1.0, 3), [2.0, 4.0, 8.0])
    q, _ = theon.scan(lambda a, b: a + b, sequences=[s, dict(input=s, taps=[-2])], n_steps=n)
    g = theon.function([s, n], q)
    with pytest.raises(ValueError, match="fewer rows"):
        g(np.arange(3.0), 2)
    np.testing.assert_allclose(g(np.arange(5.0), 3), [0.0, 2.0, 4.0])     # tap -2 of step t is row t
    # a row whose shape changes from step to step
    X = T.dmatrix("X")
    k = T.lvector("k")
    m, _ = theon.map(lambda r, j: r[:j], sequences=[X, k])
    h = theon.function([X, k], m)
    np.testing.assert_allclose(h(np.ones((2, 3)), np.array([2, 2])), np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape differs"):
        h(np.ones((2, 3)), np.array([2, 1]))


def test_debug_mode_checks_the_loop():
    vs = [T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dvector("h0")]
    c = T.dscalar("c")
    h = _rnn(*vs)
    r = ifelse(T.gt(c, 0), h.sum(), (h * 2).sum())
    f = theon.function(vs + [c], [h, r] + theon.grad(r, vs[:4]), mode="DebugMode")
    arrays = [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=(4, 4)) * 0.5,
              RNG.normal(size=4), RNG.normal(size=4)]
    for cv in (1.0, -1.0):
        got = f(*arrays, cv)
        ref = _rnn_reference(*arrays)
        np.testing.assert_allclose(got[0], ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1], ref.sum() * (1 if cv > 0 else 2), rtol=1e-12)


def test_gradients_vs_finite_differences():
    pt = [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)) * 0.5, RNG.normal(size=(4, 4)) * 0.5,
          RNG.normal(size=4), RNG.normal(size=4)]
    verify_grad(_rnn, pt, rng=np.random.default_rng(2))

    def taps(s, h0, w):
        o, _ = theon.scan(lambda a, c, h2, h1, w: T.sin(a * c * w + h1 * w - h2),
                          sequences=dict(input=s, taps=[-1, 1]), outputs_info=dict(initial=h0, taps=[-2, -1]),
                          non_sequences=w)
        return o
    verify_grad(taps, [RNG.normal(size=6), RNG.normal(size=2), RNG.normal(size=())])

    def branch(c, a, b):
        return ifelse(T.gt(c.sum(), 0), T.sin(a) * b, b ** 2)
    for sign in (1.0, -1.0):
        verify_grad(branch, [np.array(sign), RNG.normal(size=3), RNG.normal(size=3)])


def test_float32_rnn_training_step():
    """An SGD step through BPTT on shared float32 weights lowers the loss."""
    floatX = "float32"
    W = theon.shared((RNG.normal(size=(3, 8)) * 0.3).astype(floatX), name="W")
    U = theon.shared((RNG.normal(size=(8, 8)) * 0.3).astype(floatX), name="U")
    X, y = T.fmatrix("X"), T.fvector("y")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=X,
                      outputs_info=T.zeros((8,), dtype=floatX))
    loss = ((h[-1] - y) ** 2).sum()
    gW, gU = theon.grad(loss, [W, U])
    step = theon.function([X, y], loss, updates=[(W, W - 0.05 * gW), (U, U - 0.05 * gU)])
    x, target = RNG.normal(size=(10, 3)).astype(floatX), np.linspace(-0.5, 0.5, 8).astype(floatX)
    losses = [float(step(x, target)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


AOT_MODEL = """
import numpy as np
import theon
import theon.tensor as T
from theon.ifelse import ifelse
X = T.dmatrix("X"); h0 = T.dvector("h0"); c = T.dscalar("c")
W = theon.shared(np.linspace(-0.5, 0.5, 12).reshape(3, 4), name="W")
U = theon.shared(np.linspace(-0.3, 0.3, 16).reshape(4, 4), name="U")
h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=X, outputs_info=h0)
loss = ifelse(T.gt(c, 0), (h ** 2).sum(), h.sum())
gW, gU = theon.grad(loss, [W, U])
rnn_step = theon.function([X, h0, c], [h, loss], updates=[(W, W - 0.1 * gW), (U, U - 0.1 * gU)])
"""


def test_aot_training_step_with_scan_and_ifelse(tmp_path):
    """aot-compile builds an entry with scan, ifelse and BPTT; the shared
    library gives the numbers (and state updates) of the JIT function,
    zero steps included."""
    import runpy
    from theon.runtime.aot_cli import main
    src = tmp_path / "rnn_model.py"
    src.write_text(AOT_MODEL)
    assert main([str(src), "-o", str(tmp_path), "--emit", "header,shared"]) == 0
    model = runpy.run_path(str(src), run_name="rnn_reference")
    lib = theon.runtime.load_library(tmp_path / "librnn_step.so")
    x, h0 = RNG.normal(size=(6, 3)), RNG.normal(size=4)
    for c in (1.0, -1.0, 1.0):
        for a, b in zip(lib(x, h0, c), model["rnn_step"](x, h0, c)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lib.get_state("W"), model["W"].get_value(), rtol=1e-12)
    empty = lib(x[:0], h0, 1.0)
    assert empty[0].shape == (0, 4) and empty[1] == 0.0


@settings(max_examples=15, deadline=None)
@given(configs())
def test_random_loops_natively(cfg):
    """Random taps, go_backwards, n_steps and lengths compiled: the native
    loop matches Theano's slicing (tests/scan_helpers.py), and inputs too
    short are a clear ValueError from native code."""
    inputs, values, outs, fn, arrays, inits = build(cfg)
    f = theon.function(inputs, outs)
    expected = reference(cfg, fn, arrays, inits)
    if expected is None:
        with pytest.raises(ValueError, match="fewer rows"):
            f(*values)
        return
    for got, want in zip(f(*values), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
