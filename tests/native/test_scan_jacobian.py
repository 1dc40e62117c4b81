"""Batched gradients through ``scan`` compiled to native code: the scan
tutorial's "Jacobian computed with scan", ``theon.gradient.jacobian`` and
``hessian`` of scan outputs (taps, go_backwards, truncate_gradient) and
``Rop`` through a loop, each against central finite differences of the
compiled forward function."""
import numpy as np
import pytest

import theon
import theon.tensor as T

RNG = np.random.default_rng(7)
EPS = 1e-6


def _numeric_jacobian(f, vals, j):
    """d f(vals) / d vals[j] by central differences: f's shape + vals[j]'s shape."""
    out = None
    for idx in np.ndindex(vals[j].shape):
        hi, lo = [v.copy() for v in vals], [v.copy() for v in vals]
        hi[j][idx] += EPS
        lo[j][idx] -= EPS
        d = (np.asarray(f(*hi)) - np.asarray(f(*lo))) / (2 * EPS)
        if out is None:
            out = np.zeros(d.shape + vals[j].shape)
        out[(Ellipsis,) + idx] = d
    return out


def test_tutorial_jacobian_computed_with_scan():
    """The tutorial: J[i] = grad(y[i], x) by a scan over arange(n), and the
    same with theon.gradient.jacobian."""
    x = T.dvector("x")
    y = x ** 2
    J, _ = theon.scan(lambda i, y, x: theon.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    f = theon.function([x], [J, theon.gradient.jacobian(y, x)])
    got, direct = f(np.array([4.0, 4.0]))
    np.testing.assert_allclose(got, [[8.0, 0.0], [0.0, 8.0]])
    np.testing.assert_allclose(direct, got)


def _loop(X, W, h0, go_backwards, truncate):
    h, _ = theon.scan(lambda x_t, x_u, h2, h1, W: T.tanh(x_t - 0.3 * x_u + T.dot(h1, W) + 0.5 * h2),
                      sequences=dict(input=X, taps=[0, 1]),
                      outputs_info=dict(initial=T.stack([h0, 2 * h0]), taps=[-2, -1]),
                      non_sequences=W, go_backwards=go_backwards, truncate_gradient=truncate)
    return h


@pytest.mark.parametrize("go_backwards,truncate", [(False, -1), (True, -1), (False, 2)])
def test_jacobian_of_a_scan_output(go_backwards, truncate):
    """jacobian(h, [X, W, h0]) of a loop with sequence and output taps;
    truncate_gradient cuts it as grad does (checked row by row against grad)."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h = _loop(X, W, h0, go_backwards, truncate)
    vals = [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3)]
    jac = theon.function([X, W, h0], theon.gradient.jacobian(h, [X, W, h0]))(*vals)
    if truncate < 0:
        fwd = theon.function([X, W, h0], h)
        for j in range(3):
            assert jac[j].shape == (4, 3) + vals[j].shape
            np.testing.assert_allclose(jac[j], _numeric_jacobian(fwd, vals, j), rtol=1e-6, atol=1e-8)
    picks = [(0, 1), (3, 2)]
    rows = theon.function([X, W, h0], [g for t, i in picks for g in theon.grad(h[t, i], [X, W, h0])])
    by_row = rows(*vals)
    for k, (t, i) in enumerate(picks):
        for j in range(3):
            np.testing.assert_allclose(jac[j][t, i], by_row[3 * k + j], rtol=1e-12, atol=1e-13)


def test_hessian_through_scan():
    """hessian of a loss of an RNN (a jacobian through the reverse scan of
    the gradient) vs finite differences of the compiled gradient."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=X, outputs_info=h0)
    cost = (h ** 2).sum() + h[-1].sum()
    vals = [RNG.normal(size=(4, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2)]
    hess = theon.function([X, W, h0], theon.gradient.hessian(cost, [W, h0]))(*vals)
    for k, j in enumerate((1, 2)):
        g = theon.function([X, W, h0], theon.grad(cost, [X, W, h0][j]))
        np.testing.assert_allclose(hess[k], _numeric_jacobian(g, vals, j), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(hess[k].reshape(vals[j].size, -1), hess[k].reshape(vals[j].size, -1).T,
                                   rtol=1e-10, atol=1e-12)


def test_rop_through_scan():
    """Rop(h, W, V) == (h(W + eps V) - h(W - eps V)) / 2 eps."""
    X, W, h0, V = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0"), T.dmatrix("V")
    h, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=X, outputs_info=h0)
    x, w, s, v = RNG.normal(size=(5, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2), RNG.normal(size=(2, 2))
    got = theon.function([X, W, h0, V], theon.gradient.Rop(h, W, V))(x, w, s, v)
    fwd = theon.function([X, W, h0], h)
    num = (fwd(x, w + EPS * v, s) - fwd(x, w - EPS * v, s)) / (2 * EPS)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_jacobian_zero_steps_and_float32():
    """Zero steps: a jacobian of zero rows; float32 gives float32 rows close
    to the float64 ones."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=X, outputs_info=h0)
    jw = theon.function([X, W, h0], theon.gradient.jacobian(h, W))
    assert jw(np.zeros((0, 2)), np.eye(2), np.ones(2)).shape == (0, 2, 2, 2)
    X32, W32, h32 = T.fmatrix("X"), T.fmatrix("W"), T.fvector("h0")
    h2, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W32)), sequences=X32, outputs_info=h32)
    jw32 = theon.function([X32, W32, h32], theon.gradient.jacobian(h2, W32))
    vals = [RNG.normal(size=(3, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2)]
    got = jw32(*[v.astype("float32") for v in vals])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, jw(*vals), rtol=1e-4, atol=1e-5)
