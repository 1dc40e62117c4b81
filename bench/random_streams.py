"""W11 and W12 (issue 15): random numbers drawn inside compiled code.

W11: 16M float32 standard normals, theon's ``RandomStreams.normal`` (Philox
in native code) against NumPy's ``Generator(Philox()).standard_normal``,
and the peers' (``jax.random.normal``, PyTensor's ``normal`` on a shared Generator).
The check: both samples' mean and standard deviation round to 0 and 1.

W12: W6's MLP step (784-512-10, batch 256, float32) with dropout (keep 0.5,
inverted) on the hidden layer: theon draws the mask in the compiled step
(``MRG_RandomStreams.binomial``), the hand-written NumPy step draws it with
``Generator.random``; the peers: the same step in JAX
(``jax.random.bernoulli``, key split per step, jitted with its gradient) and
PyTensor (``bernoulli``). The check: one theon step equals the NumPy step run
with theon's mask (recomputed from the stream's state by the op's NumPy
reference), cost and updated parameters.
"""
import numpy as np

from . import mlp, peers

W11_N = 16 * 1024 * 1024
KEEP = 0.5


def w11(rng, n=W11_N):
    import theon
    from theon.tensor.shared_randomstreams import RandomStreams
    srng = RandomStreams(seed=11)
    f = theon.function([], srng.normal((n,), dtype="float32"), name="normals")
    gen = np.random.Generator(np.random.Philox(11))
    fns = {"numpy": lambda: gen.standard_normal(n, dtype=np.float32), "theon": f}
    fns["jax"] = peers.jax_normals(n, 11)
    fns["pytensor"] = peers.pytensor_normals(n, 11)

    def moments(z):
        z = np.asarray(z, dtype=np.float64)
        return np.round([z.mean(), z.std()], 2)
    fns["check"] = (lambda: moments(gen.standard_normal(n, dtype=np.float32)), lambda: moments(f()))
    return fns


def theon_dropout_step(params, seed=12):
    """(compiled dropout step f(X, Y) -> cost, shared parameters, the mask's state variable)."""
    import theon
    import theon.tensor as T
    from theon.sandbox.rng_mrg import MRG_RandomStreams
    from theon.tensor import nnet
    srng = MRG_RandomStreams(seed=seed)
    shared = [theon.shared(p.copy(), name=n) for p, n in zip(params, ("W1", "b1", "W2", "b2"))]
    w1, b1, w2, b2 = shared
    x, y = T.fmatrix("x"), T.ivector("y")
    h = nnet.relu(T.dot(x, w1) + b1)
    h = h * srng.binomial(size=h.shape, p=np.float32(KEEP), dtype="float32") * np.float32(1 / KEEP)
    p = nnet.softmax(T.dot(h, w2) + b2)
    cost = nnet.categorical_crossentropy(p, y).mean()
    grads = theon.grad(cost, shared)
    lr = np.float32(mlp.LR)
    step = theon.function([x, y], cost, updates=[(s, s - lr * g) for s, g in zip(shared, grads)],
                          name="dropout_step")
    (state, _), = srng.updates()
    return step, shared, state


def reference_mask(state, shape):
    """The mask theon's step draws from ``state`` (the op's NumPy reference)."""
    from theon.ir.ops.random import PER_BLOCK, philox_blocks, uniform_from_blocks
    n = int(np.prod(shape))
    u = uniform_from_blocks(philox_blocks(state, -(-n // PER_BLOCK["float32"])), "float32")[:n].reshape(shape)
    return (u < np.float32(KEEP)).astype(np.float32) * np.float32(1 / KEEP)


def w12(rng):
    params = mlp.init_params()
    X, Y = mlp.batch()
    step, _, _ = theon_dropout_step(params)
    step(X, Y)
    from theon.codegen.cpu.driver import tierup
    tierup.wait(600)
    np_step = mlp.NumpyStep(params)
    gen = np.random.default_rng(12)
    hidden = (mlp.BATCH, mlp.SIZES[1])

    def numpy_dropout():
        mask = (gen.random(hidden, dtype=np.float32) < np.float32(KEEP)).astype(np.float32) * np.float32(1 / KEEP)
        return np_step(X, Y, mask)
    fns = {"numpy": numpy_dropout, "theon": lambda: step(X, Y),
           "jax": peers.jax_dropout_mlp_step(params, X, Y, np.float32(mlp.LR), KEEP, 12),
           "pytensor": peers.pytensor_dropout_mlp_step(params, X, Y, np.float32(mlp.LR), KEEP, 12)}
    check_step, check_shared, state = theon_dropout_step(params)
    check_np = mlp.NumpyStep(params)

    def theon_once():
        return [check_step(X, Y)] + [s.get_value() for s in check_shared]

    def numpy_with_theons_mask():
        return [check_np(X, Y, reference_mask(state.get_value(), hidden))] + check_np.params
    fns["check"] = (numpy_with_theons_mask, theon_once)       # the NumPy side runs first: the state before
    return fns
