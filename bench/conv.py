"""Convolution layers of the deep-learning tutorials' LeNet (issue 17), float32,
forward + backward: theon's conv2d against NumPy (im2col by
``sliding_window_view`` + ``tensordot``, OpenBLAS) and JAX
(``lax.conv_general_dilated`` with ``jax.vjp`` under ``jit``).

- ``conv1``: batch 128, 1 -> 20 channels, 5x5 filters on 28x28: y and the
  filters' gradient (the input is data: no input gradient);
- ``conv2``: batch 128, 20 -> 50 channels, 5x5 on 12x12: y and both gradients.

Each returns ``{"theon": fn, "numpy": fn, "jax": fn or None, "check": ...}``
as bench/workloads.py does; ``python -m bench.conv`` prints the medians.
"""
import numpy as np

from . import peers

LAYERS = {"conv1": ((128, 1, 28, 28), (20, 1, 5, 5), False), "conv2": ((128, 20, 12, 12), (50, 20, 5, 5), True)}


def _numpy_layer(X, W, GY, need_gx):
    """y = conv(X, W) (true convolution, valid), gw, and gx when asked."""
    from numpy.lib.stride_tricks import sliding_window_view as windows
    kh, kw = W.shape[2:]
    Wf = W[:, :, ::-1, ::-1]
    cols = windows(X, (kh, kw), axis=(2, 3))                        # n c oh ow kh kw
    y = np.tensordot(cols, Wf, axes=([1, 4, 5], [1, 2, 3]))        # n oh ow o
    y = np.ascontiguousarray(y.transpose(0, 3, 1, 2))
    gw = np.tensordot(GY, cols, axes=([0, 2, 3], [0, 2, 3]))[:, :, ::-1, ::-1]    # o c kh kw
    out = [y, np.ascontiguousarray(gw)]
    if need_gx:
        gp = np.pad(GY, [(0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)])
        gcols = windows(gp, (kh, kw), axis=(2, 3))                  # n o h w kh kw
        gx = np.tensordot(gcols, W, axes=([1, 4, 5], [0, 2, 3]))   # n h w c
        out.append(np.ascontiguousarray(gx.transpose(0, 3, 1, 2)))
    return out


def _jax_layer(X, W, GY, need_gx):
    jax = peers._try("jax")
    if jax is None:
        return None
    from jax import lax

    def conv(x, w):
        return lax.conv_general_dilated(x, w[:, :, ::-1, ::-1], (1, 1), "VALID",
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))

    @jax.jit
    def step(x, w, gy):
        y, vjp = jax.vjp(conv, x, w)
        gx, gw = vjp(gy)
        return (y, gw, gx) if need_gx else (y, gw)
    args = [jax.device_put(a) for a in (X, W, GY)]

    def run():
        return jax.block_until_ready(step(*args))
    return run


def layer(name, rng):
    import theon
    import theon.tensor as T
    from theon.tensor.nnet import conv2d
    xs, ws, need_gx = LAYERS[name]
    X = rng.standard_normal(xs).astype(np.float32)
    W = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    x = T.TensorType("float32", (None,) + xs[1:])("x")
    w = T.TensorType("float32", ws)("w")
    gy = T.ftensor4("gy")
    y = conv2d(x, w, input_shape=(None,) + xs[1:], filter_shape=ws)
    GY = rng.standard_normal((xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1)).astype(np.float32)
    grads = theon.grad((y * gy).sum(), [w, x] if need_gx else [w])
    f = theon.function([x, w, gy], [y] + grads, name=f"bench_{name}")
    return {"theon": lambda: f(X, W, GY), "numpy": lambda: _numpy_layer(X, W, GY, need_gx),
            "jax": _jax_layer(X, W, GY, need_gx),
            "check": (lambda: _numpy_layer(X, W, GY, need_gx), lambda: f(X, W, GY))}


def main():
    from .timing import interleaved
    rng = np.random.default_rng(0)
    for name in LAYERS:
        fns = layer(name, rng)
        want, got = (c() for c in fns.pop("check"))
        for a, b in zip(want, got):
            np.testing.assert_allclose(b, a, rtol=2e-3, atol=2e-3)
        fns = {k: v for k, v in fns.items() if v is not None}
        times = interleaved(fns, repeats=15)
        line = ", ".join(f"{k} {t * 1e3:.2f} ms" for k, t in times.items())
        ratios = ", ".join(f"{k}/theon {t / times['theon']:.2f}x" for k, t in times.items() if k != "theon")
        print(f"{name} fwd+bwd: {line} ({ratios})")


if __name__ == "__main__":
    main()
