"""Pooling and batch normalization (issue 17), float32, one run side by side:

    P1  max-pool 2x2 of LeNet's first conv output (128, 20, 24, 24), forward
    P2  the same forward + backward (gradient of sum(pool(x) * w))
    P3  average_exc_pad 3x3 stride 2 pad 1 (32, 64, 56, 56), forward + backward
    P4  batch_normalization_train 'spatial' (32, 64, 56, 56) + relu, forward + backward

Peers: NumPy (reshape-based max pool and its mask backward, where the
window tiles the image; a sliding-window sum otherwise; bn written out),
JAX (``lax.reduce_window`` + ``jit(grad)``) when the peers venv has it.

    python -m bench.pool [--quick]
"""
import argparse

import numpy as np

from .timing import interleaved

import theon
import theon.tensor as T
from theon.tensor.nnet import bn as tbn
from theon.tensor.signal.pool import pool_2d


def _np_max_2x2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _np_max_2x2_grad(x, w):
    z = _np_max_2x2(x)
    zz = np.repeat(np.repeat(z, 2, 2), 2, 3)
    ww = np.repeat(np.repeat(w, 2, 2), 2, 3)
    return z, np.where(x == zz, ww, 0).astype(x.dtype)


def _np_avg_3x3_s2_p1(x, w):
    n, c, h, wd = x.shape
    big = np.zeros((n, c, h + 2, wd + 2), x.dtype)
    big[:, :, 1:-1, 1:-1] = x
    ones = np.zeros((h + 2, wd + 2), x.dtype)
    ones[1:-1, 1:-1] = 1
    oh, ow = (h + 2 - 3) // 2 + 1, (wd + 2 - 3) // 2 + 1
    s = np.zeros((n, c, oh, ow), x.dtype)
    cnt = np.zeros((oh, ow), x.dtype)
    for i in range(3):
        for j in range(3):
            s += big[:, :, i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2]
            cnt += ones[i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2]
    z = s / cnt
    g = np.zeros_like(big)
    for i in range(3):
        for j in range(3):
            g[:, :, i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2] += w / cnt
    return z, g[:, :, 1:-1, 1:-1]


def _np_bn_relu(x, gamma, beta, w):
    mean = x.mean((0, 2, 3), keepdims=True)
    xc = x - mean
    var = (xc * xc).mean((0, 2, 3), keepdims=True)
    inv = 1 / np.sqrt(var + 1e-4)
    xhat = xc * inv
    y = xhat * gamma + beta
    out = np.maximum(y, 0)
    dy = np.where(y > 0, w, 0)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    dxhat = dy * gamma
    dx = inv / m * (m * dxhat - dxhat.sum((0, 2, 3), keepdims=True)
                    - xhat * (dxhat * xhat).sum((0, 2, 3), keepdims=True))
    return out, dx, (dy * xhat).sum((0, 2, 3)), dy.sum((0, 2, 3))


def _jax():
    try:
        import jax
        import jax.numpy as jnp
        from jax import lax
    except ImportError:
        return None
    return jax, jnp, lax


def workloads():
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((128, 20, 24, 24)).astype(np.float32)
    w1 = rng.standard_normal((128, 20, 12, 12)).astype(np.float32)
    x3 = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    w3 = rng.standard_normal((32, 64, 28, 28)).astype(np.float32)
    w4 = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    gamma = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)
    beta = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)

    x, w = T.ftensor4("x"), T.ftensor4("w")
    z = pool_2d(x, (2, 2), ignore_border=True)
    p1 = theon.function([x], z)
    p2 = theon.function([x, w], [z, theon.grad((z * w).sum(), x)])
    za = pool_2d(x, (3, 3), ignore_border=True, stride=(2, 2), pad=(1, 1), mode="average_exc_pad")
    p3 = theon.function([x, w], [za, theon.grad((za * w).sum(), x)])
    g, b = T.fvector("g"), T.fvector("b")
    out = T.nnet.relu(tbn.batch_normalization_train(x, g, b, "spatial")[0])
    p4 = theon.function([x, g, b, w], [out] + theon.grad((out * w).sum(), [x, g, b]))
    gv, bv = gamma.reshape(-1), beta.reshape(-1)

    # checks
    np.testing.assert_array_equal(p1(x1), _np_max_2x2(x1))
    np.testing.assert_allclose(p3(x3, w3)[1], _np_avg_3x3_s2_p1(x3, w3)[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p4(x3, gv, bv, w4)[1], _np_bn_relu(x3, gamma, beta, w4)[1], rtol=1e-2, atol=1e-3)

    rows = {
        "P1 max-pool 2x2 fwd (128,20,24,24)": {"theon": lambda: p1(x1), "numpy": lambda: _np_max_2x2(x1)},
        "P2 max-pool 2x2 fwd+bwd": {"theon": lambda: p2(x1, w1), "numpy": lambda: _np_max_2x2_grad(x1, w1)},
        "P3 avg 3x3/2 pad 1 fwd+bwd (32,64,56,56)": {"theon": lambda: p3(x3, w3),
                                                       "numpy": lambda: _np_avg_3x3_s2_p1(x3, w3)},
        "P4 bn spatial + relu fwd+bwd (32,64,56,56)": {"theon": lambda: p4(x3, gv, bv, w4),
                                                        "numpy": lambda: _np_bn_relu(x3, gamma, beta, w4)},
    }
    j = _jax()
    if j is not None:
        jax, jnp, lax = j

        def jpool(a):
            return lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        jp1 = jax.jit(jpool)
        jp2 = jax.jit(lambda a, ww: (jpool(a), jax.grad(lambda q: (jpool(q) * ww).sum())(a)))

        def javg(a):
            pad = ((0, 0), (0, 0), (1, 1), (1, 1))
            s = lax.reduce_window(a, 0.0, lax.add, (1, 1, 3, 3), (1, 1, 2, 2), pad)
            c = lax.reduce_window(jnp.ones(a.shape[2:], a.dtype), 0.0, lax.add, (3, 3), (2, 2), pad[2:])
            return s / c
        jp3 = jax.jit(lambda a, ww: (javg(a), jax.grad(lambda q: (javg(q) * ww).sum())(a)))

        def jbn(a, gg, bb):
            mean = a.mean((0, 2, 3), keepdims=True)
            var = ((a - mean) ** 2).mean((0, 2, 3), keepdims=True)
            return jnp.maximum((a - mean) * lax.rsqrt(var + 1e-4) * gg + bb, 0)
        jp4 = jax.jit(lambda a, gg, bb, ww: (jbn(a, gg, bb), jax.grad(lambda *q: (jbn(*q) * ww).sum(),
                                                                       argnums=(0, 1, 2))(a, gg, bb)))

        def blocking(f, *args):
            return lambda: jax.block_until_ready(f(*args))
        rows["P1 max-pool 2x2 fwd (128,20,24,24)"]["jax"] = blocking(jp1, x1)
        rows["P2 max-pool 2x2 fwd+bwd"]["jax"] = blocking(jp2, x1, w1)
        rows["P3 avg 3x3/2 pad 1 fwd+bwd (32,64,56,56)"]["jax"] = blocking(jp3, x3, w3)
        rows["P4 bn spatial + relu fwd+bwd (32,64,56,56)"]["jax"] = blocking(jp4, x3, gamma, beta, w4)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    repeats = 5 if args.quick else 21
    for name, fns in workloads().items():
        t = interleaved(fns, repeats)
        base = t["numpy"]
        cells = "  ".join(f"{k} {v * 1e3:8.2f} ms ({base / v:5.2f}x numpy)" for k, v in t.items())
        print(f"{name:44s} {cells}", flush=True)


if __name__ == "__main__":
    main()
