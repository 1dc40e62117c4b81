"""W13 (issue 16): an embedding lookup and its gradient.

A vocabulary of 50,000 float32 rows of 256, 4,096 token ids: the lookup
``W[idx]`` and the gradient of ``sum(W[idx] * g)`` with respect to ``W``,
a scatter-add of ``g``'s rows into zeros of ``W``'s shape (repeated ids
add up). NumPy: ``W[idx]`` and ``np.add.at``; JAX: ``W[idx]`` and
``zeros.at[idx].add(g)`` under ``jit``. The check: both results equal
NumPy's (the scatter in the same order, so bit for bit).
"""
import numpy as np

from . import peers

VOCAB, DIM, TOKENS = 50_000, 256, 4096


def w13(rng, vocab=VOCAB, dim=DIM, tokens=TOKENS):
    import theon
    import theon.tensor as T
    W = rng.standard_normal((vocab, dim)).astype(np.float32)
    idx = rng.integers(0, vocab, tokens)
    G = rng.standard_normal((tokens, dim)).astype(np.float32)
    w, i, g = T.fmatrix("W"), T.lvector("idx"), T.fmatrix("g")
    emb = w[i]
    f = theon.function([w, i, g], [emb, theon.grad((emb * g).sum(), w)], name="embedding")

    def numpy():
        grad = np.zeros_like(W)
        np.add.at(grad, idx, G)
        return [W[idx], grad]
    fns = {"numpy": numpy, "theon": lambda: f(W, idx, G)}
    fns["jax"] = peers.jax_fn(lambda jnp, w, i, g: (w[i], jnp.zeros_like(w).at[i].add(g)), W, idx, G)
    fns["check"] = (numpy, lambda: f(W, idx, G))
    return fns
