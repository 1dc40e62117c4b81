"""W1-W7: each builds its data, then returns {tool: zero-argument callable}.

The callables of one workload compute the same thing; ``check`` compares
theon's result with NumPy's before anything is timed, so a wrong result is
never reported as a speed.
"""
from dataclasses import dataclass, field

import numpy as np

from . import conv as conv_bench
from . import indexing, mlp, peers, random_streams
from . import sort as sort_bench
from . import linalg as linalg_bench
from . import scan as scan_bench


@dataclass
class Workload:
    key: str
    title: str
    target: str               # as in issue 5
    min_ratio: float = None   # NumPy time / theon time must reach this
    max_seconds: float = None  # or theon's time must stay below this
    vs_peer: tuple = None     # (peer, ratio): also peer time / theon time must reach ratio
    build: object = None      # rng -> {tool: fn}, plus "check": (numpy fn, theon fn) or None
    extra: dict = field(default_factory=dict)


def _f32(rng, *shape, low=None):
    a = rng.standard_normal(shape).astype(np.float32)
    return np.abs(a) + np.float32(0.1) if low == "positive" else a


def _theon(inputs, outputs):
    import theon
    return theon.function(inputs, outputs)


def w1(rng, n=4 * 1024 * 1024):
    import theon.tensor as T
    a, b, c = (_f32(rng, n) for _ in range(3))
    x, y, z = T.fvector("a"), T.fvector("b"), T.fvector("c")
    f = _theon([x, y, z], T.exp(x) * y + T.log1p(z * z))
    fns = {"numpy": lambda: np.exp(a) * b + np.log1p(c * c), "theon": lambda: f(a, b, c)}
    fns["jax"] = peers.jax_fn(lambda jnp, a, b, c: jnp.exp(a) * b + jnp.log1p(c * c), a, b, c)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W1"], a, b, c)
    fns["pytensor"] = peers.pytensor_fn(
        lambda pt: (lambda x, y, z: ([x, y, z], pt.exp(x) * y + pt.log1p(z * z)))(
            *(pt.vector(s, dtype="float32") for s in "abc")), a, b, c)
    return fns


def w2(rng, n=2048):
    import theon.tensor as T
    a = _f32(rng, n, n, low="positive")
    x = T.fmatrix("a")
    f = _theon([x], [T.exp(x), T.log(x), x ** 2])
    fns = {"numpy": lambda: [np.exp(a), np.log(a), a ** 2], "theon": lambda: f(a)}
    fns["jax"] = peers.jax_fn(lambda jnp, a: [jnp.exp(a), jnp.log(a), a ** 2], a)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W2"], a)
    fns["pytensor"] = peers.pytensor_fn(
        lambda pt: (lambda x: ([x], [pt.exp(x), pt.log(x), x ** 2]))(pt.matrix("a", dtype="float32")), a)
    return fns


def w3(rng, n=16 * 1024 * 1024):
    import theon.tensor as T
    a, b = _f32(rng, n), _f32(rng, n)
    x, y = T.fvector("a"), T.fvector("b")
    f = _theon([x, y], (x * y).sum())
    fns = {"numpy": lambda: (a * b).sum(), "theon": lambda: f(a, b)}
    fns["jax"] = peers.jax_fn(lambda jnp, a, b: (a * b).sum(), a, b)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W3"], a, b)
    fns["pytensor"] = peers.pytensor_fn(
        lambda pt: (lambda x, y: ([x, y], (x * y).sum()))(pt.vector("a", dtype="float32"),
                                                          pt.vector("b", dtype="float32")), a, b)
    return fns


def w4(rng, n=1024):
    import theon.tensor as T
    a, b = _f32(rng, n, n), _f32(rng, n, n)
    x, y = T.fmatrix("A"), T.fmatrix("B")
    f = _theon([x, y], T.dot(x, y))
    fns = {"numpy": lambda: a @ b, "theon": lambda: f(a, b)}
    fns["jax"] = peers.jax_fn(lambda jnp, a, b: a @ b, a, b)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W4"], a, b, parallel=False)
    fns["pytensor"] = peers.pytensor_fn(
        lambda pt: (lambda x, y: ([x, y], pt.dot(x, y)))(pt.matrix("A", dtype="float32"),
                                                         pt.matrix("B", dtype="float32")), a, b)
    return fns


def _np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def w5(rng, rows=4096, cols=1024):
    import theon.tensor as T
    a = _f32(rng, rows, cols)
    x = T.fmatrix("x")
    f = _theon([x], T.nnet.softmax(x))
    fns = {"numpy": lambda: _np_softmax(a), "theon": lambda: f(a)}
    fns["jax"] = peers.jax_fn(lambda jnp, x: __import__("jax").nn.softmax(x, axis=1), a)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W5"], a)
    fns["pytensor"] = peers.pytensor_fn(
        lambda pt: (lambda x: ([x], pt.special.softmax(x, axis=1)))(pt.matrix("x", dtype="float32")), a)
    return fns


def w6(rng):
    params = mlp.init_params()
    X, Y = mlp.batch()
    step, _ = mlp.theon_step(params)
    step(X, Y)              # the first call loads the code and starts the tier-up compile
    from theon.codegen.cpu.driver import tierup
    tierup.wait(600)        # time the steady state: the fully optimized code (see W8 for compile time)
    np_step = mlp.NumpyStep(params)
    fns = {"numpy": lambda: np_step(X, Y), "theon": lambda: step(X, Y)}
    fns["jax"] = peers.jax_mlp_step(params, X, Y, mlp.LR)
    fns["pytensor"] = peers.pytensor_mlp_step(params, X, Y, mlp.LR)
    # the check: one step from the same parameters gives the same cost and updates
    check_np = mlp.NumpyStep(params)
    check_step, check_shared = mlp.theon_step(params)
    fns["check"] = (lambda: [check_np(X, Y)] + check_np.params,
                    lambda: [check_step(X, Y)] + [s.get_value() for s in check_shared])
    return fns


def w7(rng):
    import theon.tensor as T
    a = np.ones(1, np.float32)
    x = T.fvector("x")
    f = _theon([x], x * 2)
    fns = {"numpy": lambda: a * 2, "theon": lambda: f(a)}
    fns["jax"] = peers.jax_fn(lambda jnp, x: x * 2, a)
    k = peers.numba_kernels()
    fns["numba"] = k and peers.numba_fn(k["W7"], a, parallel=False)
    fns["pytensor"] = peers.pytensor_fn(lambda pt: (lambda x: ([x], x * 2))(pt.vector("x", dtype="float32")), a)
    return fns


WORKLOADS = [
    Workload("W1", "exp(a)*b + log1p(c*c), 4M", "≥ 3.0×", min_ratio=3.0, build=w1),
    Workload("W2", "[exp(a), log(a), a**2], 2048²", "≥ 2.0×", min_ratio=2.0, build=w2),
    Workload("W3", "(a*b).sum(), 16M", "≥ 3.0×", min_ratio=3.0, build=w3),
    Workload("W4", "dot(A, B), 1024²", "≥ 1.0×", min_ratio=1.0, build=w4),
    Workload("W5", "row softmax, 4096×1024", "≥ 3.5×", min_ratio=3.5, build=w5),
    Workload("W6", "MLP 784-512-10 SGD step, batch 256", "≥ 1.3×", min_ratio=1.3, build=w6),
    Workload("W7", "call overhead, f(x)=x*2, 1 element", "≤ 1.5 µs", max_seconds=1.5e-6, build=w7),
    Workload("W11", "16M float32 normals (Philox)", "≥ 3.0×", min_ratio=3.0, build=random_streams.w11),
    Workload("W12", "W6 step with dropout 0.5 on the hidden layer", "≥ 1.0×", min_ratio=1.0,
             build=random_streams.w12),
    Workload("W13", "embedding lookup + gradient, 50,000×256 f32, 4,096 ids", "≥ 2.0×", min_ratio=2.0,
             build=indexing.w13),
    Workload("W14", "sort of 4M float32", "≥ 1.0×", min_ratio=1.0, build=sort_bench.w14_sort),
    Workload("W14", "argsort of 4M float32", "≥ 1.0×", min_ratio=1.0, build=sort_bench.w14_argsort),
    Workload("W14", "cumsum of 16M float32", "≥ 1.0×", min_ratio=1.0, build=sort_bench.w14_cumsum),
    Workload("W15", "Cholesky + solve, 1024² SPD float64", "≥ 0.7×", min_ratio=0.7,
             build=linalg_bench.w15_cholesky_solve),
    Workload("W16", "LeNet SGD step, batch 128, 1×28×28 (PyTensor 2.x has no conv2d/pool_2d)", "≥ 1.5× JAX",
             vs_peer=("jax", 1.5), build=conv_bench.w16, extra={"repeats": (2, 5)}),
    Workload("W17", "ResNet block fwd+bwd, 3×3 conv 64→64 + BN + relu, 32×56×56", "> JAX",
             vs_peer=("jax", 1.0), build=conv_bench.w17, extra={"repeats": (1, 3)}),
    Workload("W9", "LSTM training step (BPTT), seq 50, batch 32, 128→256", "≥ 1.5× JAX",
             vs_peer=("jax", 1.5), build=scan_bench.w9, extra={"repeats": (3, 9)}),
    Workload("W10", "scan h = a*h + x_t, 100,000 steps (≤ 20 ns/step)", "≤ 2 ms, < JAX",
             max_seconds=scan_bench.W10_STEPS * 20e-9, vs_peer=("jax", 1.0), build=scan_bench.w10),
]
