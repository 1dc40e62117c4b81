"""The scan passes in native code: functions compiled in FAST_RUN (with
scan-hoist, scan-batch, scan-merge) give the numbers of FAST_RUN without
them (``Mode.excluding('scan')``) and of NumPy: an LSTM training step
(input projection batched, BPTT through the loop), an elementwise map
with no loop left, two merged loops; gradients after the passes against
finite differences (verify_grad)."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.gradient import verify_grad
from theon.runtime.mode import Mode

RNG = np.random.default_rng(11)
WITH = Mode(optimizer="fast_run")
WITHOUT = Mode(optimizer="fast_run").excluding("scan")


def _scans(f):
    return [op for op in f.maker.fgraph.func.walk() if op.name == "scan"]


def _both(inputs, outputs, updates=None):
    return [theon.function(inputs, outputs, updates=updates, mode=m) for m in (WITH, WITHOUT)]


def _lstm_reference(x, w, u, b, h0):
    hs, h, c = [], h0, h0
    n = h0.shape[1]
    for row in x:
        z = row @ w + h @ u + b
        sig = 1 / (1 + np.exp(-z))
        i, f, o, g = sig[:, :n], sig[:, n:2 * n], sig[:, 2 * n:3 * n], np.tanh(z[:, 3 * n:])
        c = f * c + i * g
        h = np.tanh(c) * o
        hs.append(h)
    return np.array(hs)


def _lstm(X, W, U, b, h0):
    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(h, U) + b
        n = h.shape[1]
        i, f = T.nnet.sigmoid(z[:, :n]), T.nnet.sigmoid(z[:, n:2 * n])
        o, g = T.nnet.sigmoid(z[:, 2 * n:3 * n]), T.tanh(z[:, 3 * n:])
        c2 = f * c + i * g
        return T.tanh(c2) * o, c2
    (h, _), _ = theon.scan(step, sequences=X, outputs_info=[h0, h0])
    return h


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_lstm_training_step_matches_without_the_passes_and_numpy(dtype, tol):
    """The input projection leaves the loop as one product (no matmul of
    the sequence rows in the forward body); loss, state rows and SGD updates
    equal FAST_RUN without the scan passes and NumPy."""
    S, B, I, H = 6, 3, 5, 4
    vals = {"W": RNG.normal(size=(I, 4 * H)) * 0.3, "U": RNG.normal(size=(H, 4 * H)) * 0.3,
            "b": RNG.normal(size=4 * H) * 0.1}
    X, h0 = T.tensor3("X", dtype=dtype), T.matrix("h0", dtype=dtype)
    x, s = RNG.normal(size=(S, B, I)).astype(dtype), RNG.normal(size=(B, H)).astype(dtype)
    results = []
    for mode in (WITH, WITHOUT):
        params = [theon.shared(vals[k].astype(dtype), name=k) for k in ("W", "U", "b")]
        h = _lstm(X, *params, h0)
        loss = (h[-1] ** 2).sum() + h.mean()
        grads = theon.grad(loss, params)
        f = theon.function([X, h0], [loss, h], updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)],
                           mode=mode)
        out = f(x, s)
        results.append((out, [p.get_value() for p in params], f))
    (got, new, f), (want, new_plain, _) = results
    fwd = _scans(f)[0]
    assert "matmul" in [op.name for op in fwd.regions[0].walk()]          # h @ U stays
    assert fwd.operands[1] is not f.maker.fgraph.func.args[0]                   # X @ W is a sequence now
    for a, b in zip(got + new, want + new_plain):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    ref = _lstm_reference(x.astype("float64"), vals["W"], vals["U"], vals["b"], s.astype("float64"))
    np.testing.assert_allclose(got[1], ref, rtol=max(tol, 1e-10) * 10, atol=max(tol, 1e-12) * 10)


def test_lstm_gradients_after_the_passes_match_finite_differences():
    S, B, I, H = 4, 2, 3, 2
    vals = [RNG.normal(size=(S, B, I)), RNG.normal(size=(I, 4 * H)) * 0.5, RNG.normal(size=(H, 4 * H)) * 0.5,
            RNG.normal(size=4 * H) * 0.1, RNG.normal(size=(B, H))]
    verify_grad(lambda X, W, U, b, h0: _lstm(X, W, U, b, h0)[-1].sum() + _lstm(X, W, U, b, h0).mean(),
                vals, rng=np.random.RandomState(0), mode=WITH)


@pytest.mark.parametrize("backwards", [False, True])
def test_elementwise_map_runs_without_a_loop(backwards):
    X, Y, w = T.dmatrix("X"), T.dtensor3("Y"), T.dvector("w")
    m, _ = theon.map(lambda x, y, w: T.exp(x) * w + y, sequences=[X, Y], non_sequences=w, go_backwards=backwards)
    f, g = _both([X, Y, w], m)
    assert not _scans(f) and _scans(g)
    for n, k in ((5, 5), (5, 2), (0, 3)):
        vals = [RNG.normal(size=(n, 3)), RNG.normal(size=(k, 2, 3)), RNG.normal(size=3)]
        got = f(*vals)
        np.testing.assert_allclose(got, g(*vals), rtol=1e-15)
        x, y = (vals[0][::-1], vals[1][::-1]) if backwards else vals[:2]
        r = min(n, k)
        np.testing.assert_allclose(got, np.exp(x[:r])[:, None, :] * vals[2] + y[:r], rtol=1e-14)


def test_merged_loops_and_map_of_a_product():
    """Two loops over X become one; map(dot(W, x_t)) is one product; the
    numbers are those without the passes and NumPy's."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    a, _ = theon.scan(lambda x, h: T.tanh(T.dot(x, W) + h), sequences=X, outputs_info=h0)
    b, _ = theon.scan(lambda x, s: s * 0.5 + T.dot(x, W), sequences=X, outputs_info=h0)
    m, _ = theon.map(lambda x: T.dot(W.T, x), sequences=X)
    f, g = _both([X, W, h0], [a, b, m])
    assert len(_scans(f)) == 1 and len(_scans(g)) == 3
    x, w, s = RNG.normal(size=(7, 3)), RNG.normal(size=(3, 3)), RNG.normal(size=3)
    got = f(x, w, s)
    for p, q in zip(got, g(x, w, s)):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-14)
    ha, hb = [], []
    u, v = s, s
    for row in x:
        u, v = np.tanh(row @ w + u), v * 0.5 + row @ w
        ha.append(u)
        hb.append(v)
    np.testing.assert_allclose(got[0], ha, rtol=1e-12)
    np.testing.assert_allclose(got[1], hb, rtol=1e-12)
    np.testing.assert_allclose(got[2], x @ w, rtol=1e-12)
    debug = theon.function([X, W, h0], [a, b, m], mode="DEBUG")(x, w, s)        # each op vs its reference
    for p, q in zip(debug, got):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-14)


def test_short_sequence_still_reports_the_loop_error():
    """Products batched before the loop: a sequence too short for n_steps
    still raises the loop's length error, not a wrong answer."""
    X, W, n = T.dmatrix("X"), T.dmatrix("W"), T.lscalar("n")
    h, _ = theon.scan(lambda x, h: T.tanh(T.dot(x, W) + h), sequences=X, outputs_info=T.zeros((3,)), n_steps=n)
    f = theon.function([X, W, n], h, mode=WITH)
    x, w = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 3))
    np.testing.assert_allclose(f(x, w, 2), theon.function([X, W, n], h, mode=WITHOUT)(x, w, 2), rtol=1e-14)
    with pytest.raises(Exception, match="sequence"):
        f(x, w, 6)
