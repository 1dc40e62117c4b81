"""W14 (issue 16): sorting and running sums.

``sort`` and ``argsort`` of 4M float32 normals and ``cumsum`` of 16M
float32, against NumPy (``np.sort`` / ``np.argsort`` with their default
kind, ``np.cumsum``) and JAX (``jnp.sort``, ``jnp.argsort``, ``jnp.cumsum``
under ``jit``). The check: sort and cumsum equal NumPy's (cumsum runs in
the same order, so bit for bit), argsort equals NumPy's stable argsort
(theon's sort is stable; NumPy's default quicksort may order ties otherwise).
"""
import numpy as np

from . import peers

SORT_N, CUMSUM_N = 4 * 1024 * 1024, 16 * 1024 * 1024


def _vector(fn_name, n, rng):
    import theon
    import theon.tensor as T
    a = rng.standard_normal(n).astype(np.float32)
    x = T.fvector("x")
    f = theon.function([x], getattr(T, fn_name)(x), name=f"w14_{fn_name}")
    return a, f


def w14_sort(rng, n=SORT_N):
    a, f = _vector("sort", n, rng)
    return {"numpy": lambda: np.sort(a), "theon": lambda: f(a),
            "jax": peers.jax_fn(lambda jnp, x: jnp.sort(x), a)}


def w14_argsort(rng, n=SORT_N):
    a, f = _vector("argsort", n, rng)
    return {"numpy": lambda: np.argsort(a), "theon": lambda: f(a),
            "jax": peers.jax_fn(lambda jnp, x: jnp.argsort(x), a),
            "check": (lambda: np.argsort(a, kind="stable"), lambda: f(a))}


def w14_cumsum(rng, n=CUMSUM_N):
    a, f = _vector("cumsum", n, rng)
    return {"numpy": lambda: np.cumsum(a), "theon": lambda: f(a),
            "jax": peers.jax_fn(lambda jnp, x: jnp.cumsum(x), a)}
