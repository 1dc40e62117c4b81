"""The same workloads in PyTensor, numba and JAX, when they are installed.

Each builder returns a zero-argument callable that runs the workload once
(results ready), or None when the tool is not importable. Nothing here is a
dependency of theon; a missing tool is skipped silently.
"""
import importlib


def _try(name):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None


def available():
    return [name for name in ("pytensor", "numba", "jax") if _try(name) is not None]


# --- JAX --------------------------------------------------------------------------------------
def jax_fn(expr, *arrays):
    """``expr(jnp, *arrays)`` jitted; the callable blocks until the result is ready."""
    jax = _try("jax")
    if jax is None:
        return None
    import jax.numpy as jnp
    fn = jax.jit(lambda *xs: expr(jnp, *xs))
    dev = [jax.device_put(a) for a in arrays]

    def run():
        return jax.block_until_ready(fn(*dev))
    return run


def jax_mlp_step(params, X, Y, lr):
    jax = _try("jax")
    if jax is None:
        return None
    import jax.numpy as jnp

    def loss(p, x, y):
        w1, b1, w2, b2 = p
        h = jnp.maximum(x @ w1 + b1, 0)
        logp = jax.nn.log_softmax(h @ w2 + b2)
        return -jnp.mean(logp[jnp.arange(x.shape[0]), y])

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


# --- numba ------------------------------------------------------------------------------------
def numba_fn(pyfunc, *arrays, parallel=True):
    """``pyfunc(*arrays)`` compiled with numba.njit (compiled on the first, warm-up call)."""
    numba = _try("numba")
    if numba is None:
        return None
    fn = numba.njit(parallel=parallel, fastmath=False, cache=False)(pyfunc)
    return lambda: fn(*arrays)


def numba_kernels():
    """Loop kernels written the way a numba user would, or None."""
    numba = _try("numba")
    if numba is None:
        return None
    import numpy as np
    prange = numba.prange

    def w1(a, b, c):
        out = np.empty_like(a)
        for i in prange(a.size):
            out[i] = np.exp(a[i]) * b[i] + np.log1p(c[i] * c[i])
        return out

    def w2(a):
        return np.exp(a), np.log(a), a ** 2

    def w3(a, b):
        acc = np.float32(0)
        for i in prange(a.size):
            acc += a[i] * b[i]
        return acc

    def w4(a, b):
        return a @ b

    def w5(x):
        out = np.empty_like(x)
        for i in prange(x.shape[0]):
            row = x[i]
            e = np.exp(row - row.max())
            out[i] = e / e.sum()
        return out

    def w7(x):
        return x * 2
    return {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W7": w7}


# --- PyTensor ---------------------------------------------------------------------------------
def pytensor_fn(build, *arrays):
    """``build(pt)`` -> (inputs, outputs) compiled by pytensor.function."""
    pytensor = _try("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt
    inputs, outputs = build(pt)
    fn = pytensor.function(inputs, outputs)
    return lambda: fn(*arrays)


def pytensor_mlp_step(params, X, Y, lr):
    pytensor = _try("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt
    shared = [pytensor.shared(p.copy()) for p in params]
    w1, b1, w2, b2 = shared
    x, y = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int32")
    h = pt.maximum(x @ w1 + b1, 0)
    p = pt.special.softmax(h @ w2 + b2, axis=-1)
    cost = -pt.mean(pt.log(p[pt.arange(x.shape[0]), y]))
    grads = pytensor.grad(cost, shared)
    # the update keeps each variable's dtype: with PyTensor's default floatX
    # (float64), ``lr * g`` is float64 and a float32 shared variable refuses it
    fn = pytensor.function([x, y], cost,
                           updates=[(s, (s - lr * g).astype(s.dtype)) for s, g in zip(shared, grads)])
    return lambda: fn(X, Y)


# --- random streams (W11, W12) ----------------------------------------------------------------
def jax_normals(n, seed):
    """``jax.random.normal`` of n float32 under a key split per call (jitted)."""
    jax = _try("jax")
    if jax is None:
        return None
    draw = jax.jit(lambda k: jax.random.normal(k, (n,), dtype="float32"))
    key = {"k": jax.random.PRNGKey(seed)}

    def run():
        key["k"], sub = jax.random.split(key["k"])
        return jax.block_until_ready(draw(sub))
    return run


def pytensor_normals(n, seed):
    """PyTensor's ``normal`` of n float32 on a shared Generator (advanced per call)."""
    pytensor = _try("pytensor")
    if pytensor is None:
        return None
    import pytensor.tensor as pt
    rng = pt.random.shared_rng(seed=seed)
    next_rng, z = rng.normal(0, 1, size=(n,), dtype="float32")
    return pytensor.function([], z, updates={rng: next_rng})


def jax_dropout_mlp_step(params, X, Y, lr, keep, seed):
    """``jax_mlp_step`` with an inverted dropout mask (``jax.random.bernoulli``,
    keep probability ``keep``) on the hidden layer, its key split per step."""
    jax = _try("jax")
    if jax is None:
        return None
    import jax.numpy as jnp

    def loss(p, x, y, k):
        w1, b1, w2, b2 = p
        h = jnp.maximum(x @ w1 + b1, 0)
        h = h * jax.random.bernoulli(k, keep, h.shape).astype(h.dtype) * (1 / keep)
        logp = jax.nn.log_softmax(h @ w2 + b2)
        return -jnp.mean(logp[jnp.arange(x.shape[0]), y])

    @jax.jit
    def step(p, x, y, k):
        k, sub = jax.random.split(k)
        cost, g = jax.value_and_grad(loss)(p, x, y, sub)
        return cost, [w - lr * gw for w, gw in zip(p, g)], k
    state = {"p": [jax.device_put(a) for a in params], "k": jax.random.PRNGKey(seed)}
    x, y = jax.device_put(X), jax.device_put(Y)

    def run():
        cost, state["p"], state["k"] = step(state["p"], x, y, state["k"])
        return jax.block_until_ready(cost)
    return run


def pytensor_dropout_mlp_step(params, X, Y, lr, keep, seed):
    """``pytensor_mlp_step`` with an inverted dropout mask drawn by PyTensor's
    ``bernoulli`` (a shared Generator, advanced per step) on the hidden layer."""
    pytensor = _try("pytensor")
    if pytensor is None:
        return None
    import numpy as np
    import pytensor.tensor as pt
    rng = pt.random.shared_rng(seed=seed)
    shared = [pytensor.shared(p.copy()) for p in params]
    w1, b1, w2, b2 = shared
    x, y = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int32")
    h = pt.maximum(x @ w1 + b1, 0)
    next_rng, mask = rng.bernoulli(keep, size=h.shape)
    h = h * mask.astype("float32") * np.float32(1 / keep)
    p = pt.special.softmax(h @ w2 + b2, axis=-1)
    cost = -pt.mean(pt.log(p[pt.arange(x.shape[0]), y]))
    grads = pytensor.grad(cost, shared)
    fn = pytensor.function([x, y], cost, updates=[(s, (s - lr * g).astype(s.dtype)) for s, g in zip(shared, grads)]
                           + [(rng, next_rng)])
    return lambda: fn(X, Y)
