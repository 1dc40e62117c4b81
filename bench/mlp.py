"""W6: one SGD step of a 784-512-10 MLP (ReLU, softmax cross-entropy), batch 256, float32.

``theon_step`` builds it the way a theon user would (shared parameters,
theon.grad, updates); ``NumpyStep`` is the same step written by hand in
NumPy, updating its parameters in place.
"""
import numpy as np

SIZES = (784, 512, 10)
BATCH = 256
LR = 0.1


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = SIZES
    return [(rng.standard_normal((n_in, n_hidden)) * 0.05).astype(np.float32),
            np.zeros(n_hidden, np.float32),
            (rng.standard_normal((n_hidden, n_out)) * 0.05).astype(np.float32),
            np.zeros(n_out, np.float32)]


def batch(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    Y = rng.integers(0, SIZES[2], BATCH).astype(np.int32)
    return X, Y


def theon_step(params):
    """(compiled step f(X, Y) -> cost, the shared parameters)."""
    import theon
    import theon.tensor as T
    from theon.tensor import nnet
    shared = [theon.shared(p.copy(), name=n) for p, n in zip(params, ("W1", "b1", "W2", "b2"))]
    w1, b1, w2, b2 = shared
    x, y = T.fmatrix("x"), T.ivector("y")
    h = nnet.relu(T.dot(x, w1) + b1)
    p = nnet.softmax(T.dot(h, w2) + b2)
    cost = nnet.categorical_crossentropy(p, y).mean()
    grads = theon.grad(cost, shared)
    lr = np.float32(LR)
    step = theon.function([x, y], cost, updates=[(s, s - lr * g) for s, g in zip(shared, grads)],
                          name="mlp_step")
    return step, shared


class NumpyStep:
    """The same step by hand: forward, backward, in-place SGD."""

    def __init__(self, params):
        self.params = [p.copy() for p in params]

    def __call__(self, X, Y, mask=None):
        """One step; ``mask`` (optional): dropout, the hidden layer times it (W12)."""
        w1, b1, w2, b2 = self.params
        n = X.shape[0]
        rows = np.arange(n)
        z1 = X @ w1
        z1 += b1
        h = np.maximum(z1, 0)
        if mask is not None:
            h *= mask
        z2 = h @ w2
        z2 += b2
        z2 -= z2.max(axis=1, keepdims=True)
        e = np.exp(z2)
        p = e / e.sum(axis=1, keepdims=True)
        cost = -np.log(p[rows, Y]).mean()
        d2 = p
        d2[rows, Y] -= 1
        d2 /= n
        gw2 = h.T @ d2
        gb2 = d2.sum(axis=0)
        dh = d2 @ w2.T
        if mask is not None:
            dh *= mask
        dh *= z1 > 0
        gw1 = X.T @ dh
        gb1 = dh.sum(axis=0)
        lr = np.float32(LR)
        for w, g in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            w -= lr * g
        return cost
