"""W15 (issue 16): Cholesky + solve of a 1024² SPD system, float64.

theon: ``L = slinalg.cholesky(A)`` and x from the two triangular solves
with L (L y = b, L^T x = y), one compiled function returning (L, x);
NumPy (LAPACK): ``np.linalg.cholesky(A)`` and ``np.linalg.solve(A, b)``;
JAX: ``jnp.linalg.cholesky`` and ``jax.scipy.linalg.cho_solve`` under
``jit``. The check: L and x agree with NumPy's to rounding.
"""
import numpy as np

from . import peers

N = 1024


def w15_cholesky_solve(rng, n=N):
    import theon
    import theon.tensor as T
    from theon.tensor import slinalg
    m = rng.standard_normal((n, n))
    a = m @ m.T / n + np.eye(n)
    b = rng.standard_normal(n)
    A, B = T.dmatrix("A"), T.dvector("b")
    L = slinalg.cholesky(A)
    x = slinalg.solve_triangular(L, slinalg.solve_triangular(L, B, lower=True), lower=True, trans=1)
    f = theon.function([A, B], [L, x], name="w15_cholesky_solve")

    def numpy():
        return np.linalg.cholesky(a), np.linalg.solve(a, b)

    def jax_expr(jnp, a_, b_):
        import jax.scipy.linalg as jsl
        c = jnp.linalg.cholesky(a_)
        return c, jsl.cho_solve((c, True), b_)
    return {"numpy": numpy, "theon": lambda: f(a, b), "jax": peers.jax_fn(jax_expr, a, b),
            "check": (numpy, lambda: f(a, b))}
