"""``theon.grad`` graphs compiled to native code (``theon.function``, default
mode) against central finite differences of a NumPy evaluation of the same
cost, in float64; and an MLP SGD step with updates of shared variables
against a NumPy re-implementation, step by step.

Each cost is written once as ``lambda m, a: ...`` over a backend ``m``
(``TT``: theon graph; ``NP``: NumPy, written here). All gradients of a
group are outputs of one compiled function.
"""
from types import SimpleNamespace

import numpy as np
import pytest

import theon
import theon.tensor as T
import theon.tensor.nnet as NN

from ..mirror_helpers import NP, TT, np_log_softmax

EPS = 1e-6
# The finite-difference table runs every pass of FAST_RUN but LLVM at -O1:
# LLVM's -O3 costs ~4x the compile time, and O3 code generation is covered by
# the op tests (test_stack_ops, test_stack_layouts); the MLP step below uses
# the default mode.
TABLE_MODE = theon.Mode(optimizer="fast_run", opt_level=1)


# inputs (float64, all dims None): x (3, 4), y (1, 4) (a run-time 1-dim: its
# gradient sums over the broadcast rows), v (4,), p (3, 4) > 0, A (4, 3),
# t (2, 3, 4), s 0-d; i (int64 0-d, not differentiated)
FLOAT_INPUTS = {"x": 2, "y": 2, "v": 1, "p": 2, "A": 2, "t": 3, "s": 0}

ELEMWISE = [
    ("exp*sin", "xy", lambda m, a: m.sum(m.exp(a.x) * m.sin(a.y))),
    ("log sqrt", "p", lambda m, a: m.sum(m.log(a.p) + m.sqrt(a.p))),
    ("log1p expm1", "px", lambda m, a: m.sum(m.log1p(a.p) * m.expm1(a.x * 0.5))),
    ("tanh/p", "xp", lambda m, a: m.sum(m.tanh(a.x) / a.p)),
    ("pow", "py", lambda m, a: m.sum(a.p ** a.y)),
    ("x**3 - 2x", "x", lambda m, a: m.sum(a.x ** 3 - 2 * a.x)),
    ("abs", "x", lambda m, a: m.sum(m.abs(a.x) * a.y)),
    ("maximum minimum", "xy", lambda m, a: m.sum(m.maximum(a.x, a.y) * 2 + m.minimum(a.x, a.v))),
    ("clip", "x", lambda m, a: m.sum(m.clip(a.x, -0.7, 0.8) ** 2)),
    ("sigmoid softplus", "xy", lambda m, a: m.sum(m.sigmoid(a.x) * m.softplus(a.y))),
    ("erf arctan", "x", lambda m, a: m.sum(m.erf(a.x) + m.arctan(2 * a.x))),
    ("cos tan", "x", lambda m, a: m.sum(m.cos(a.x) + m.tan(a.x * 0.3))),
    ("where", "xyv", lambda m, a: m.sum(m.where(a.x > 0, a.x * a.y, a.v ** 2))),
    ("relu", "x", lambda m, a: m.sum(m.relu(a.x) * a.x)),
    ("sign floor (zero)", "x", lambda m, a: m.sum(m.sign(a.x) + m.floor(a.x) + a.x * 0.5)),
    ("scalar bcast", "sx", lambda m, a: m.sum(m.exp(a.s * a.x)) + a.s ** 2),
    ("vector bcast", "vy", lambda m, a: m.sum((a.v + a.y) ** 2 * a.x)),
    ("fan-out", "x", lambda m, a: m.sum(a.x * m.exp(a.x) + m.sin(a.x) * a.x)),
    ("division chain", "xp", lambda m, a: m.sum(a.x / (a.p + a.x ** 2))),
]

REDUCE_SHAPE = [
    ("sum axis", "x", lambda m, a: m.sum(m.sum(a.x, axis=0) ** 2)),
    ("mean keepdims", "x", lambda m, a: m.sum((a.x - m.mean(a.x, axis=1, keepdims=True)) ** 2)),
    ("max", "x", lambda m, a: m.sum(m.max(a.x, axis=1) * m.min(a.x, axis=0).sum())),
    ("max all", "t", lambda m, a: m.max(a.t) + m.min(a.t, axis=(0, 2)).sum()),
    ("prod", "p", lambda m, a: m.sum(m.prod(a.p, axis=1))),
    ("var std", "x", lambda m, a: m.var(a.x) + m.sum(m.std(a.x, axis=0))),
    ("logsumexp", "t", lambda m, a: m.sum(m.logsumexp(a.t, axis=(0, 2))) + m.logsumexp(a.x)),
    ("reshape", "t", lambda m, a: m.sum(a.t.reshape((6, 4)) * m.sin(a.t.reshape((4, 6))).T)),
    ("flatten", "t", lambda m, a: m.sum(m.flatten(a.t, 2) ** 2 * m.flatten(a.t)[0])),
    ("transpose dimshuffle", "tx", lambda m, a: m.sum(m.dimshuffle(a.t, 2, 0, 1) ** 2)
     + m.sum(a.x.T * m.exp(a.x.T))),
    ("concatenate", "xyp", lambda m, a: m.sum(m.concatenate([a.x, a.y, m.log(a.p)], axis=0) ** 2)),
    ("stack", "xp", lambda m, a: m.sum(m.sin(m.stack([a.x, a.p], axis=1)))),
    ("subtensor", "x", lambda m, a: m.sum(a.x[1:, ::-1] ** 2) + a.x[0, 1] * 3),
    ("subtensor symbolic", "t", lambda m, a: m.sum(m.exp(a.t[:, a.i])) + m.sum(a.t[a.i - 1] ** 3)),
    ("set_subtensor", "xv", lambda m, a: m.sum(m.set_subtensor(a.x, (slice(1, None),), a.v * 2) ** 2)),
    ("inc_subtensor", "xy", lambda m, a: m.sum(m.exp(m.inc_subtensor(a.x, (slice(None), 1), a.y[0, 0]))
                                               )),
]

PRODUCTS_NNET = [
    ("matmul", "xA", lambda m, a: m.sum(m.matmul(a.x, a.A) ** 2)),
    ("dot mv", "xv", lambda m, a: m.sum(m.tanh(m.dot(a.x, a.v)))),
    ("dot vv", "v", lambda m, a: m.dot(a.v, a.v * 2)),
    ("@ transposed", "xA", lambda m, a: m.sum(m.exp((a.A.T @ a.x.T) * 0.1))),
    ("outer", "vy", lambda m, a: m.sum(m.sin(m.outer(a.v, a.y[0])))),
    ("tensordot", "tA", lambda m, a: m.sum(m.tensordot(a.t, a.A, axes=[[2], [0]]) ** 2)),
    ("batched matmul", "tA", lambda m, a: m.sum(m.matmul(a.t, a.A) ** 2)),
    ("softmax", "x", lambda m, a: m.sum(m.softmax(a.x) * m.cos(a.p))),
    ("log_softmax", "x", lambda m, a: m.sum(m.log_softmax(a.x, axis=0) * a.p)),
    ("cce one-hot", "x", lambda m, a: m.mean(m.categorical_crossentropy(m.softmax(a.x), a.onehot))),
    ("cce indices", "x", lambda m, a: m.sum(m.categorical_crossentropy(m.softmax(a.x), a.labels))),
    ("bce", "xy", lambda m, a: m.sum(m.binary_crossentropy(m.sigmoid(a.x), m.sigmoid(a.y)))),
    ("logsumexp rows", "x", lambda m, a: m.sum(m.logsumexp(a.x * 3, axis=1))),
]


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    out = {"x": rng.normal(size=(3, 4)), "y": rng.normal(size=(1, 4)), "v": rng.normal(size=4),
           "p": rng.uniform(0.5, 2.0, size=(3, 4)), "A": rng.normal(size=(4, 3)),
           "t": rng.normal(size=(2, 3, 4)), "s": np.float64(0.3), "i": np.int64(2),
           "labels": np.array([1, 0, 3], dtype=np.int64)}
    out["onehot"] = np.eye(4)[[2, 1, 1]]
    # keep the data away from the kinks of abs/clip/max/relu (finite differences straddle them)
    for k in ("x", "y", "t"):
        out[k] = np.where(np.abs(out[k]) < 0.05, 0.3, out[k])
        out[k] = np.where(np.abs(np.abs(out[k]) - 0.75) < 0.06, 0.5, out[k])
    return out


def numeric_grad(fn, values, name):
    """Central differences of the NumPy cost ``fn`` w.r.t. ``values[name]``."""
    base = values[name]
    grad = np.zeros(np.shape(base))
    flat = grad.reshape(-1)
    for k in range(flat.size):
        def cost_at(delta):
            moved = np.array(base, dtype=np.float64, copy=True)
            moved.reshape(-1)[k] += delta
            return float(fn(NP, SimpleNamespace(**{**values, name: moved})))
        flat[k] = (cost_at(EPS) - cost_at(-EPS)) / (2 * EPS)
    return grad


def compile_grads(table):
    """One function: for each row, the cost and its gradients."""
    vs = {n: T.tensor("float64", shape=(None,) * nd, name=n) for n, nd in FLOAT_INPUTS.items()}
    vs["i"] = T.lscalar("i")
    vs["labels"] = T.lvector("labels")
    vs["onehot"] = T.dmatrix("onehot")
    a = SimpleNamespace(**vs)
    outs = []
    for _, wrt, fn in table:
        cost = fn(TT, a)
        outs.append(cost)
        outs.extend(theon.grad(cost, [vs[n] for n in wrt]))
    return theon.function(list(vs.values()), outs, on_unused_input="ignore",
                          mode=TABLE_MODE), list(vs)


def check_grads(table, seeds=(0, 1)):
    """Compile ``table`` (one function: compile time grows faster than linearly
    with function size, so tables are small) and compare with finite differences."""
    f, names = compile_grads(table)
    for seed in seeds:
        values = arrays(seed)
        got = f(*[values[n] for n in names])
        pos = 0
        for label, wrt, fn in table:
            cost = got[pos]
            pos += 1
            np.testing.assert_allclose(cost, fn(NP, SimpleNamespace(**values)), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{label}: cost")
            for n in wrt:
                g = got[pos]
                pos += 1
                num = numeric_grad(fn, values, n)
                assert g.shape == np.shape(values[n]), (label, n, g.shape)
                assert g.dtype == np.float64, (label, n, g.dtype)
                scale = max(1.0, float(np.abs(num).max()))
                np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6 * scale,
                                           err_msg=f"{label}: d/d{n} (seed {seed})")


ROWS = ELEMWISE + REDUCE_SHAPE + PRODUCTS_NNET


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_native_gradient_matches_finite_differences(row):
    check_grads([row])


def test_runtime_one_dims_in_gradients():
    """The same compiled gradient, fed shapes where more dims turn out 1."""
    table = [row for row in ELEMWISE if row[0] in ("vector bcast", "where")]
    f, names = compile_grads(table)
    rng = np.random.default_rng(5)
    for xs, ys, vs in [((1, 4), (3, 4), (4,)), ((3, 1), (1, 1), (1,)), ((1, 1), (1, 5), (5,))]:
        values = arrays()
        values.update(x=rng.normal(size=xs), y=rng.normal(size=ys), v=rng.normal(size=vs),
                      p=rng.uniform(0.5, 2, size=xs))
        got = f(*[values[n] for n in names])
        pos = 0
        for label, wrt, fn in table:
            pos += 1
            for n in wrt:
                num = numeric_grad(fn, values, n)
                assert got[pos].shape == np.shape(values[n]), (label, n)
                np.testing.assert_allclose(got[pos], num, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{label} d/d{n} x{xs} y{ys} v{vs}")
                pos += 1


# --- an MLP trained by SGD with updates on shared variables ---------------------------------
N, D, H, C, LR = 16, 6, 8, 3, 0.5


def mlp_data():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(N, D))
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    params = {"W1": rng.normal(0, 0.5, (D, H)), "b1": np.zeros(H),
              "W2": rng.normal(0, 0.5, (H, C)), "b2": np.zeros(C)}
    return X, labels, params


def numpy_sgd_step(p, X, labels):
    """Loss and the updated parameters, backward pass derived by hand."""
    z1 = X @ p["W1"] + p["b1"]
    h = np.tanh(z1)
    z2 = h @ p["W2"] + p["b2"]
    logp = np_log_softmax(z2)
    n = X.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    dz2 = np.exp(logp)
    dz2[np.arange(n), labels] -= 1
    dz2 /= n
    g = {"W2": h.T @ dz2, "b2": dz2.sum(0)}
    dz1 = (dz2 @ p["W2"].T) * (1 - h ** 2)
    g.update(W1=X.T @ dz1, b1=dz1.sum(0))
    return loss, {k: p[k] - LR * g[k] for k in p}


def test_mlp_sgd_steps_match_numpy():
    X, labels, params = mlp_data()
    shared = {k: theon.shared(v.copy(), name=k) for k, v in params.items()}
    x, y = T.dmatrix("x"), T.lvector("y")
    h = T.tanh(T.dot(x, shared["W1"]) + shared["b1"])
    probs = NN.softmax(T.dot(h, shared["W2"]) + shared["b2"])
    loss = NN.categorical_crossentropy(probs, y).mean()
    names = list(shared)
    grads = theon.grad(loss, [shared[k] for k in names])
    step = theon.function([x, y], loss,
                          updates=[(shared[k], shared[k] - LR * g) for k, g in zip(names, grads)])
    ref = {k: v.copy() for k, v in params.items()}
    losses = []
    for _ in range(8):
        got_loss = step(X, labels)
        ref_loss, ref = numpy_sgd_step(ref, X, labels)
        np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-10, atol=1e-12)
        for k in names:
            np.testing.assert_allclose(shared[k].get_value(), ref[k], rtol=1e-10, atol=1e-10,
                                       err_msg=k)
        losses.append(float(got_loss))
    assert losses[-1] < losses[0] * 0.8, losses
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
