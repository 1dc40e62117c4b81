"""W9 and W10 (issue 14): loops compiled with ``theon.scan``.

W9: one training step of a one-layer LSTM, float32: a sequence of 50 steps,
batch 32, input 128, hidden 256; softmax cross-entropy of a linear read-out
of the last hidden state (10 classes); the gradient by full backpropagation
through time; SGD updates of the shared parameters. Peers: JAX
(``lax.scan`` + ``value_and_grad`` + ``jit``), PyTensor's scan, and the same
step written by hand in NumPy (forward loop, BPTT loop, in-place SGD). The
check: one theon step from the same parameters gives NumPy's cost and
updated parameters. ``compile_seconds`` times building the step
(graph + grad + ``theon.function`` until it can run) in a fresh interpreter
with an empty cache (target: 1 s).

W10: the scan overhead: ``h = a*h + x_t`` over 100,000 float32 scalar steps
(the whole sequence of states returned); the target is 20 ns per step.
Peers: JAX's ``lax.scan``, PyTensor's scan, numba, a NumPy loop is left out
(it would time Python, ~100 ns a step); the check is a float64 loop.

    python -m bench --only W9,W10
    python -m bench.scan --compile CACHE_DIR     one cold-compile measurement, a JSON line
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import peers

SEQ, BATCH, N_IN, HIDDEN, N_CLASSES = 50, 32, 128, 256, 10
LR = 0.1
W10_STEPS = 100_000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- W9: the LSTM step -----------------------------------------------------------------------------
def init_params(seed=0):
    """[Wx (in, 4H), Wh (H, 4H), b (4H), Wy (H, C), by (C)]; gates in the order i, f, o, g."""
    rng = np.random.default_rng(seed)
    H = HIDDEN
    return [(rng.standard_normal((N_IN, 4 * H)) / np.sqrt(N_IN)).astype(np.float32),
            (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32),
            np.zeros(4 * H, np.float32),
            (rng.standard_normal((H, N_CLASSES)) / np.sqrt(H)).astype(np.float32),
            np.zeros(N_CLASSES, np.float32)]


def batch(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((SEQ, BATCH, N_IN)).astype(np.float32)
    Y = rng.integers(0, N_CLASSES, BATCH).astype(np.int32)
    return X, Y


NAMES = ("Wx", "Wh", "b", "Wy", "by")


def theon_lstm_step(params, lr=LR):
    """(compiled step f(X, Y) -> cost, the shared parameters)."""
    import theon
    import theon.tensor as T
    from theon.tensor import nnet
    shared = [theon.shared(p.copy(), name=n) for p, n in zip(params, NAMES)]
    Wx, Wh, b, Wy, by = shared
    H = HIDDEN
    x, y = T.ftensor3("X"), T.ivector("y")

    def step(x_t, h, c):
        z = T.dot(x_t, Wx) + T.dot(h, Wh) + b
        i = nnet.sigmoid(z[:, :H])
        f = nnet.sigmoid(z[:, H:2 * H])
        o = nnet.sigmoid(z[:, 2 * H:3 * H])
        g = T.tanh(z[:, 3 * H:])
        c = f * c + i * g
        return o * T.tanh(c), c

    zeros = T.zeros((x.shape[1], H), dtype="float32")
    (hs, _), _ = theon.scan(step, sequences=x, outputs_info=[zeros, zeros])
    p = nnet.softmax(T.dot(hs[-1], Wy) + by)
    cost = nnet.categorical_crossentropy(p, y).mean()
    grads = theon.grad(cost, shared)
    lr = np.float32(lr)
    f = theon.function([x, y], cost, updates=[(s, s - lr * g) for s, g in zip(shared, grads)], name="lstm_step")
    return f, shared


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class NumpyLSTMStep:
    """The same step by hand: the forward loop keeping each step's gates,
    the BPTT loop, in-place SGD."""

    def __init__(self, params, lr=LR):
        self.params = [p.copy() for p in params]
        self.lr = np.float32(lr)

    def __call__(self, X, Y):
        Wx, Wh, b, Wy, by = self.params
        n, B = X.shape[:2]
        H = HIDDEN
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32)
        xw = (X.reshape(n * B, -1) @ Wx).reshape(n, B, 4 * H)       # every step's input product at once
        hs, cs, gates = [h], [c], []
        for t in range(n):
            z = xw[t] + h @ Wh + b
            ifo = _sigmoid(z[:, :3 * H])
            g = np.tanh(z[:, 3 * H:])
            i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            hs.append(h)
            cs.append(c)
            gates.append((i, f, o, g, tc))
        logits = h @ Wy + by
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        rows = np.arange(B)
        cost = -np.log(p[rows, Y]).mean()
        d = p
        d[rows, Y] -= 1
        d /= B
        gWy = h.T @ d
        gby = d.sum(axis=0)
        dh = d @ Wy.T
        dc = np.zeros_like(c)
        dz = np.empty((n, B, 4 * H), np.float32)
        for t in range(n - 1, -1, -1):
            i, f, o, g, tc = gates[t]
            do = dh * tc
            dc = dc + dh * o * (1 - tc * tc)
            di, df, dg = dc * g, dc * cs[t], dc * i
            dz[t, :, :H] = di * i * (1 - i)
            dz[t, :, H:2 * H] = df * f * (1 - f)
            dz[t, :, 2 * H:3 * H] = do * o * (1 - o)
            dz[t, :, 3 * H:] = dg * (1 - g * g)
            dc = dc * f
            dh = dz[t] @ Wh.T
        dz2 = dz.reshape(n * B, 4 * H)
        gWx = X.reshape(n * B, -1).T @ dz2
        gWh = np.stack(hs[:-1]).reshape(n * B, H).T @ dz2
        gb = dz2.sum(axis=0)
        for w, gw in zip(self.params, (gWx, gWh, gb, gWy, gby)):
            w -= self.lr * gw
        return cost


def jax_lstm_step(params, X, Y, lr=LR):
    jax = peers._try("jax")
    if jax is None:
        return None
    import jax.numpy as jnp
    H = HIDDEN

    def loss(p, x, y):
        Wx, Wh, b, Wy, by = p

        def cell(carry, x_t):
            h, c = carry
            z = x_t @ Wx + h @ Wh + b
            i = jax.nn.sigmoid(z[:, :H])
            f = jax.nn.sigmoid(z[:, H:2 * H])
            o = jax.nn.sigmoid(z[:, 2 * H:3 * H])
            g = jnp.tanh(z[:, 3 * H:])
            c = f * c + i * g
            return (o * jnp.tanh(c), c), None
        zeros = jnp.zeros((x.shape[1], H), x.dtype)
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), x)
        logp = jax.nn.log_softmax(h @ Wy + by)
        return -jnp.mean(logp[jnp.arange(x.shape[1]), y])

    @jax.jit
    def step(p, x, y):
        cost, g = jax.value_and_grad(loss)(p, x, y)
        return cost, [w - lr * gw for w, gw in zip(p, g)]
    state = {"p": [jax.device_put(a) for a in params]}
    x, y = jax.device_put(X), jax.device_put(Y)

    def run():
        cost, state["p"] = step(state["p"], x, y)
        return jax.block_until_ready(cost)
    return run


def pytensor_lstm_step(params, X, Y, lr=LR):
    pytensor = peers._try("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt
    shared = [pytensor.shared(p.copy()) for p in params]
    Wx, Wh, b, Wy, by = shared
    H = HIDDEN
    x, y = pt.tensor3("X", dtype="float32"), pt.vector("y", dtype="int32")

    def cell(x_t, h, c):
        z = x_t @ Wx + h @ Wh + b
        i = pt.sigmoid(z[:, :H])
        f = pt.sigmoid(z[:, H:2 * H])
        o = pt.sigmoid(z[:, 2 * H:3 * H])
        g = pt.tanh(z[:, 3 * H:])
        c = f * c + i * g
        return o * pt.tanh(c), c
    zeros = pt.zeros((x.shape[1], H), dtype="float32")
    (hs, _), _ = pytensor.scan(cell, sequences=x, outputs_info=[zeros, zeros])
    p = pt.special.softmax(hs[-1] @ Wy + by, axis=-1)
    cost = -pt.mean(pt.log(p[pt.arange(x.shape[1]), y]))
    grads = pytensor.grad(cost, shared)
    fn = pytensor.function([x, y], cost,
                           updates=[(s, (s - lr * g).astype(s.dtype)) for s, g in zip(shared, grads)])
    return lambda: fn(X, Y)


def w9(rng):
    params = init_params()
    X, Y = batch()
    step, _ = theon_lstm_step(params)
    step(X, Y)
    from theon.codegen.cpu.driver import tierup
    tierup.wait(600)        # time the fully optimized code (compile time: compile_seconds)
    np_step = NumpyLSTMStep(params)
    fns = {"numpy": lambda: np_step(X, Y), "theon": lambda: step(X, Y)}
    fns["jax"] = jax_lstm_step(params, X, Y)
    fns["pytensor"] = pytensor_lstm_step(params, X, Y)
    check_np = NumpyLSTMStep(params)
    check_step, check_shared = theon_lstm_step(params)
    fns["check"] = (lambda: [check_np(X, Y)] + check_np.params,
                    lambda: [check_step(X, Y)] + [s.get_value() for s in check_shared])
    return fns


def compile_here():
    """{'seconds', 'cost', 'from_cache'}: build the W9 step in this process
    (imports before the clock starts)."""
    import theon
    import theon.codegen.cpu  # noqa: F401 - imports are not compile time
    import theon.frontend.function  # noqa: F401
    import theon.frontend.scan  # noqa: F401
    import theon.gradient  # noqa: F401
    import theon.passes  # noqa: F401
    import theon.runtime.cache  # noqa: F401
    import theon.tensor.nnet  # noqa: F401
    params = init_params()
    t0 = time.perf_counter()
    step, _ = theon_lstm_step(params)
    seconds = time.perf_counter() - t0
    X, Y = batch()
    t0 = time.perf_counter()
    cost = float(step(X, Y))
    first_call = time.perf_counter() - t0
    from theon.codegen.cpu.driver import tierup
    tierup.wait(600)
    return {"seconds": seconds, "first_call": first_call, "cost": cost, "tier": step.native.tier,
            "from_cache": bool(step.native.from_cache)}


def compile_seconds(repeats=3, timeout=600):
    """Median seconds to build the W9 step cold (a fresh interpreter, an empty cache)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="theon-bench-cache-") as d:
            env = dict(os.environ)
            env.pop("THEON_FLAGS", None)
            env["THEON_CACHE_DIR"] = d
            proc = subprocess.run([sys.executable, "-m", "bench.scan", "--compile", d], capture_output=True,
                                  text=True, timeout=timeout, env=env, cwd=REPO)
            if proc.returncode != 0:
                raise RuntimeError(f"W9 compile subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            if got["from_cache"]:
                raise RuntimeError("W9 compile: a cold run found a cache entry in an empty folder")
            times.append(got["seconds"] + got["first_call"])
    return statistics.median(times)


def compile_row(quick, peer_names, fmt_time):
    """The table row of W9's cold compile time (target 1 s)."""
    seconds = compile_seconds(repeats=1 if quick else 3)
    return ["W9 compile LSTM step, cold (new process, empty cache)", "—", fmt_time(seconds), "—", "≤ 1 s",
            "yes" if seconds <= 1.0 else "NO", {p: "—" for p in peer_names}]


# --- W10: scan overhead -----------------------------------------------------------------------------
def w10_data(n=None, seed=2):
    rng = np.random.default_rng(seed)
    n = W10_STEPS if n is None else n
    return np.float32(0.999), rng.standard_normal(n).astype(np.float32)


def w10_reference(a, xs):
    h, out = 0.0, np.empty(len(xs))
    a = float(a)
    for t, x in enumerate(xs.astype(np.float64)):
        h = a * h + x
        out[t] = h
    return out


def theon_recurrence():
    import theon
    import theon.tensor as T
    a, x = T.fscalar("a"), T.fvector("x")
    h, _ = theon.scan(lambda x_t, h: a * h + x_t, sequences=x, outputs_info=T.constant(np.float32(0)))
    return theon.function([a, x], h, name="recurrence")


def jax_recurrence(a, xs):
    jax = peers._try("jax")
    if jax is None:
        return None

    def run_scan(a, xs):
        def cell(h, x):
            h = a * h + x
            return h, h
        return jax.lax.scan(cell, np.float32(0), xs)[1]
    fn = jax.jit(run_scan)
    da, dx = jax.device_put(a), jax.device_put(xs)
    return lambda: jax.block_until_ready(fn(da, dx))


def pytensor_recurrence(a, xs):
    pytensor = peers._try("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt
    av, xv = pt.scalar("a", dtype="float32"), pt.vector("x", dtype="float32")
    h, _ = pytensor.scan(lambda x_t, h: av * h + x_t, sequences=xv,
                         outputs_info=pt.constant(np.float32(0)))
    fn = pytensor.function([av, xv], h)
    return lambda: fn(a, xs)


def numba_recurrence(a, xs):
    numba = peers._try("numba")
    if numba is None:
        return None

    def loop(a, xs):
        out = np.empty_like(xs)
        h = np.float32(0)
        for t in range(xs.shape[0]):
            h = a * h + xs[t]
            out[t] = h
        return out
    return peers.numba_fn(loop, a, xs, parallel=False)


def w10(rng):
    a, xs = w10_data()
    f = theon_recurrence()
    fns = {"theon": lambda: f(a, xs)}
    fns["jax"] = jax_recurrence(a, xs)
    fns["pytensor"] = pytensor_recurrence(a, xs)
    fns["numba"] = numba_recurrence(a, xs)
    want = w10_reference(a, xs)
    fns["check"] = (lambda: want, lambda: f(a, xs))
    return fns


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compile"]:
        print(json.dumps(compile_here()))
