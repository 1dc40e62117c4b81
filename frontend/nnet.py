"""Neural-network helpers (``theon.tensor.nnet``), with Theano's semantics.

softmax and log_softmax subtract the max first, so they never overflow.
categorical_crossentropy takes either a distribution of the same shape as
``coding_dist`` or a vector of integer class indices (turned into a one-hot
mask with ``eq(arange, labels)``: the IR has no gather op).
"""
from ..ir.opdef import normalize_axis
from ..ir.types import is_int
from .basic import as_tensor_variable, cast, is_weak
from .elemwise import (abs as abs_, add, as_float, clip, eq, exp, expm1, gt, log, maximum, mul,
                       neg, sub, true_div, where)
from .elemwise import sigmoid, softplus  # noqa: F401  (re-exported)
from .reduce import argmax as argmax_, max as max_, sum as sum_
from .shape_ops import arange, dim, dimshuffle

__all__ = ["sigmoid", "softplus", "relu", "softmax", "log_softmax",
           "categorical_crossentropy", "binary_crossentropy", "hard_sigmoid",
           "ultra_fast_sigmoid", "elu", "softsign", "selu", "sigmoid_binary_crossentropy",
           "crossentropy_softmax_1hot", "crossentropy_softmax_1hot_with_bias",
           "crossentropy_softmax_argmax_1hot_with_bias", "crossentropy_categorical_1hot",
           "h_softmax", "confusion_matrix"]


def relu(x, alpha=0):
    """``max(x, 0)``; with ``alpha``, ``alpha * x`` below zero (leaky ReLU)."""
    x = as_tensor_variable(x)
    if is_weak(alpha) and alpha == 0:
        return maximum(x, 0)
    return where(gt(x, 0), x, mul(alpha, x))


def _axis(x, axis, fname):
    if x.ndim == 0:
        raise ValueError(f"{fname}: needs at least a 1-d tensor, got {x.type}")
    return normalize_axis(axis, x.ndim, fname)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed as exp(x - max)."""
    x = as_float(x, "softmax")
    axis = _axis(x, axis, "softmax")
    e = exp(sub(x, max_(x, axis, keepdims=True)))
    return true_div(e, sum_(e, axis, keepdims=True))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, computed with the max subtracted."""
    x = as_float(x, "log_softmax")
    axis = _axis(x, axis, "log_softmax")
    shifted = sub(x, max_(x, axis, keepdims=True))
    return sub(shifted, log(sum_(exp(shifted), axis, keepdims=True)))


def categorical_crossentropy(coding_dist, true_dist):
    """``-sum(true_dist * log(coding_dist), axis=-1)``; if ``true_dist`` is a
    vector of int class indices (one dim fewer), ``-log(coding_dist[i, true_dist[i]])``."""
    p = as_float(coding_dist, "categorical_crossentropy")
    t = as_tensor_variable(true_dist)
    if p.ndim == 0:
        raise ValueError(f"categorical_crossentropy: coding_dist must be at least 1-d, got {p.type}")
    if t.ndim == p.ndim:
        return neg(sum_(mul(t, log(p)), p.ndim - 1))
    if t.ndim != p.ndim - 1:
        raise ValueError(f"categorical_crossentropy: true_dist {t.type} must have the ndim of "
                         f"coding_dist {p.type} (a distribution) or one less (class indices)")
    if not is_int(t.dtype):
        raise TypeError(f"categorical_crossentropy: class indices must be ints, got {t.type}")
    classes = arange(dim(p, p.ndim - 1), dtype=t.dtype)
    one_hot = eq(dimshuffle(t, *range(t.ndim), "x"), classes)
    picked = where(one_hot, log(p), 0.0)
    return neg(sum_(picked, p.ndim - 1))


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))``."""
    output = as_float(output, "binary_crossentropy")
    complement = 1 - target if is_weak(target) else sub(1, target)
    return neg(add(mul(target, log(output)), mul(complement, log(sub(1, output)))))


def hard_sigmoid(x):
    """``clip(0.2 * x + 0.5, 0, 1)``."""
    return clip(add(mul(as_float(x, "hard_sigmoid"), 0.2), 0.5), 0, 1)


def ultra_fast_sigmoid(x):
    """Theano's piecewise approximation of the sigmoid
    (``theano.tensor.nnet.sigm.UltraFastScalarSigmoid``): with ``v = x / 2``,
    ``0.5 * (z + 1)`` where ``z`` approximates ``tanh(v)`` -- ``1.5 v / (1 +
    |v|)`` for ``|v| < 1.7``, ``sign(v) (0.935409070603099 +
    0.0458812946797165 (|v| - 1.7))`` for ``|v| < 3``, ``sign(v)
    0.99505475368673`` beyond. Its gradient is the derivative of that
    approximation (Theano defines none): ``0.375 / (1 + |v|)**2``, then
    ``0.25 * 0.0458812946797165``, then 0."""
    from .elemwise import lt, sign
    v = mul(as_float(x, "ultra_fast_sigmoid"), 0.5)
    av = abs_(v)
    inner = true_div(mul(v, 1.5), add(av, 1.0))
    outer = mul(sign(v), where(lt(av, 3.0), add(mul(sub(av, 1.7), 0.0458812946797165), 0.935409070603099),
                               0.99505475368673))
    return mul(add(where(lt(av, 1.7), inner, outer), 1.0), 0.5)


def elu(x, alpha=1.0):
    """``x`` above zero, ``alpha * (exp(x) - 1)`` below."""
    x = as_float(x, "elu")
    return where(gt(x, 0), x, mul(alpha, expm1(x)))


def softsign(x):
    """``x / (1 + |x|)``."""
    x = as_float(x, "softsign")
    return true_div(x, add(1, abs_(x)))


# --- more activations -----------------------------------------------------------------------------
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU (Klambauer et al. 2017): ``scale * elu(x, alpha)`` with
    Theano's constants."""
    return mul(SELU_SCALE, elu(x, SELU_ALPHA))


def sigmoid_binary_crossentropy(output, target):
    """``binary_crossentropy(sigmoid(output), target)`` from the logits
    ``output``, computed as ``softplus(-|x|) + x * ((x > 0) - target)``: finite
    for any logit; its gradient is ``sigmoid(x) - target``."""
    from .basic import apply_op
    from .elemwise import sigmoid as sigmoid_
    x = as_float(output, "sigmoid_binary_crossentropy")
    t = as_tensor_variable(target)
    loss = add(softplus(neg(abs_(x))), mul(x, sub(gt(x, 0), t)))
    # Theano's gradient, exact at the kink x = 0 too: d/dx = sigmoid(x) - t, d/dt = -x
    pairs = [x, sub(sigmoid_(x), t)] + ([t, neg(x)] if t.dtype.startswith("float") else [])
    return apply_op("grad_override", loss, *pairs, kind="chain")


# --- softmax with cross-entropy on class indices ----------------------------------------------------
def _class_indices(p, y_idx, fname):
    t = as_tensor_variable(y_idx)
    if not is_int(t.dtype):
        raise TypeError(f"{fname}: y_idx must hold int class indices, got {t.type}")
    if p.ndim != 2 or t.ndim != 1:
        raise ValueError(f"{fname}: expected a matrix of scores and a vector of class indices, "
                         f"got {p.type} and {t.type}")
    classes = arange(dim(p, 1), dtype=t.dtype)
    return eq(dimshuffle(t, 0, "x"), classes)


def crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx):
    """Theano's fused op as a graph: ``(nll, softmax(x + b), argmax(x + b, 1))``
    with ``nll[i] = -log(softmax(x + b)[i, y_idx[i]])``, computed from
    log_softmax (finite for any scores)."""
    s = add(as_float(x, "crossentropy_softmax_argmax_1hot_with_bias"), b)
    one_hot = _class_indices(s, y_idx, "crossentropy_softmax_argmax_1hot_with_bias")
    lsm = log_softmax(s)
    nll = neg(sum_(where(one_hot, lsm, 0.0), 1))
    return nll, exp(lsm), argmax_(s, 1)


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """``(nll, softmax(x + b))`` (see crossentropy_softmax_argmax_1hot_with_bias)."""
    return crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx)[:2]


def crossentropy_softmax_1hot(x, y_idx):
    """``(nll, softmax(x))`` with ``nll[i] = -log(softmax(x)[i, y_idx[i]])``."""
    x = as_float(x, "crossentropy_softmax_1hot")
    return crossentropy_softmax_argmax_1hot_with_bias(x, 0.0, y_idx)[:2]


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """``-log(coding_dist[i, true_one_of_n[i]])`` (Theano's name)."""
    p = as_float(coding_dist, "crossentropy_categorical_1hot")
    one_hot = _class_indices(p, true_one_of_n, "crossentropy_categorical_1hot")
    return neg(sum_(where(one_hot, log(p), 0.0), 1))


# --- hierarchical softmax ---------------------------------------------------------------------------
def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2, target=None):
    """Theano's two-level hierarchical softmax. ``x`` (batch, n_in);
    ``W1`` (n_in, n_classes), ``b1`` (n_classes,); ``W2`` (n_classes, n_in,
    n_outputs_per_class), ``b2`` (n_classes, n_outputs_per_class). Without
    ``target``: the probabilities of every output, (batch, n_outputs); with
    ``target`` (int, one per row): the probability of each row's target."""
    from .linalg import dot, matmul
    from .shape_ops import flatten, reshape
    x = as_float(x, "h_softmax")
    if x.ndim != 2:
        raise ValueError(f"h_softmax: x must be a matrix (batch, n_in), got {x.type}")
    for name, v, nd in (("W1", W1, 2), ("b1", b1, 1), ("W2", W2, 3), ("b2", b2, 2)):
        if as_tensor_variable(v).ndim != nd:
            raise ValueError(f"h_softmax: {name} must have {nd} dims, got {as_tensor_variable(v).type}")
    class_probs = softmax(add(dot(x, W1), b1))                       # (batch, n_classes)
    W2, b2 = as_tensor_variable(W2), as_tensor_variable(b2)
    if target is None:
        # (batch, n_classes, n_opc): x . W2[c] for every class
        act = add(matmul(dimshuffle(x, "x", 0, 1), W2), dimshuffle(b2, 0, "x", 1))    # (n_classes, batch, n_opc)
        probs = softmax(act)
        probs = mul(dimshuffle(probs, 1, 0, 2), dimshuffle(class_probs, 0, 1, "x"))
        return reshape(probs, (batch_size, -1))[:, :n_outputs]
    target = flatten(as_tensor_variable(target))
    if not is_int(target.dtype):
        raise TypeError(f"h_softmax: target must hold int output indices, got {target.type}")
    target_classes = target // n_outputs_per_class
    target_in_class = target % n_outputs_per_class
    w = W2[target_classes]                                            # (batch, n_in, n_opc)
    act = add(reshape(matmul(dimshuffle(x, 0, "x", 1), w), (batch_size, n_outputs_per_class)),
              b2[target_classes])
    rows = arange(batch_size)
    out_probs = softmax(act)[rows, target_in_class]
    return mul(class_probs[rows, target_classes], out_probs)


# --- confusion matrix -------------------------------------------------------------------------------
def confusion_matrix(actual, pred):
    """``(conf_mat, order)``: ``order`` the sorted distinct labels of
    ``actual`` and ``pred``; ``conf_mat[i, j]`` (int64) counts the positions
    with ``actual == order[i]`` and ``pred == order[j]``."""
    from .extra_ops import unique
    from .linalg import dot
    from .shape_ops import concatenate
    a, p = as_tensor_variable(actual), as_tensor_variable(pred)
    if a.ndim != 1:
        raise ValueError(f"confusion_matrix: actual must be a vector, got {a.type}")
    if p.ndim != 1:
        raise ValueError(f"confusion_matrix: pred must be a vector, got {p.type}")
    order = unique(concatenate([a, p]))
    one_a = eq(dimshuffle(a, 0, "x"), order).astype("int64")
    one_p = eq(dimshuffle(p, 0, "x"), order).astype("int64")
    return dot(one_a.T, one_p), order


# --- batch normalization (theano.tensor.nnet.bn) ----------------------------------------------------
def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta``, elementwise with
    broadcasting (Theano's old batch_normalization; both modes compute the
    same values, fused into one loop)."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got {mode!r}")
    x = as_float(inputs, "batch_normalization")
    return add(mul(sub(x, mean), true_div(gamma, std)), beta)


def _bn_axes(axes, ndim, fname):
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0,) + tuple(range(2, ndim))
    if isinstance(axes, (list, tuple)) and all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        out = tuple(sorted(normalize_axis(a, ndim, fname) for a in axes))
        if len(set(out)) != len(out):
            raise ValueError(f"{fname}: axes {axes} repeat an axis")
        return out
    raise ValueError(f"{fname}: axes must be 'per-activation', 'spatial' or a tuple of ints, got {axes!r}")


def _bn_param(v, name, x, axes, fname):
    """A parameter given with inputs' ndim (1 at ``axes``) or without the
    ``axes``: as a tensor of inputs' shape with 1 at ``axes`` (its other dims
    are inputs' dims, checked at run time by the reshape; so the gradients
    need no sum over a broadcast the shapes cannot rule out)."""
    from .shape_ops import reshape
    v = as_tensor_variable(v)
    kept = [d for d in range(x.ndim) if d not in axes]
    if v.ndim == x.ndim:
        for a in axes:
            if v.type.shape[a] not in (None, 1):
                raise ValueError(f"{fname}: {name} {v.type} must have size 1 in the normalized axes {axes}")
        short = False
    elif v.ndim != len(kept):
        raise ValueError(f"{fname}: {name} {v.type} must have inputs' ndim ({x.ndim}) or "
                         f"{len(kept)} dims (the axes not in {axes})")
    else:
        short = True
    shape = [1 if d in axes else (x.type.shape[d] if x.type.shape[d] is not None else dim(x, d))
             for d in range(x.ndim)]
    return reshape(v, shape), short


def _bn_unexpand(v, axes, ndim):
    return dimshuffle(v, *[d for d in range(ndim) if d not in axes])


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None, running_var=None):
    """Theano 1.0's training-time batch normalization: normalize ``inputs``
    over ``axes`` ('per-activation' = (0,), 'spatial' = (0, 2, 3, ...), or a
    tuple) with the batch statistics, then scale by ``gamma`` and shift by
    ``beta``. Returns ``(out, mean, invstd)``, and with ``running_mean`` and
    ``running_var`` also ``(new_running_mean, new_running_var)``:
    ``running * (1 - factor) + batch_stat * factor``, the variance unbiased
    (``m / (m - 1)``, m the elements per statistic) -- give them to
    ``theon.function`` as updates of the running-average shared variables.
    Parameters and statistics have inputs' ndim with 1 at ``axes``, or omit
    the ``axes`` (then so do the returned statistics)."""
    fname = "batch_normalization_train"
    x = as_float(inputs, fname)
    axes = _bn_axes(axes, x.ndim, fname)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fname}: give both running_mean and running_var, or neither")
    g, short = _bn_param(gamma, "gamma", x, axes, fname)
    b, _ = _bn_param(beta, "beta", x, axes, fname)
    mean = x.mean(axis=axes, keepdims=True)
    centered = sub(x, mean)
    var = mul(centered, centered).mean(axis=axes, keepdims=True)
    invstd = true_div(1.0, (var + epsilon) ** 0.5)
    out = add(mul(centered, mul(g, invstd)), b)
    results = [out, mean, invstd]
    if running_mean is not None:
        rm, _ = _bn_param(running_mean, "running_mean", x, axes, fname)
        rv, _ = _bn_param(running_var, "running_var", x, axes, fname)
        unbiased = mul(var, _unbiased_factor(x, axes))
        f = running_average_factor
        keep = 1.0 - f if isinstance(f, (int, float)) else sub(1, f)
        results.append(add(mul(rm, keep), mul(mean, f)))
        results.append(add(mul(rv, keep), mul(unbiased, f)))
    if short:
        results = [out] + [_bn_unexpand(r, axes, x.ndim) for r in results[1:]]
    return tuple(results)


def _unbiased_factor(x, axes):
    """``m / (m - 1)``, m the elements each statistic is over (inf for m = 1, as NumPy)."""
    m, dyn = 1, None
    for a in axes:
        if x.type.shape[a] is not None:
            m *= x.type.shape[a]
        else:
            dyn = dim(x, a) if dyn is None else mul(dyn, dim(x, a))
    if dyn is None:
        return m / (m - 1) if m > 1 else float("inf")
    mf = cast(mul(dyn, m), x.dtype)
    return true_div(mf, sub(mf, 1))


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation", epsilon=1e-4):
    """Inference-time batch normalization with given statistics:
    ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta`` (parameters as
    in batch_normalization_train)."""
    fname = "batch_normalization_test"
    x = as_float(inputs, fname)
    axes = _bn_axes(axes, x.ndim, fname)
    g, _ = _bn_param(gamma, "gamma", x, axes, fname)
    b, _ = _bn_param(beta, "beta", x, axes, fname)
    mu, _ = _bn_param(mean, "mean", x, axes, fname)
    v, _ = _bn_param(var, "var", x, axes, fname)
    return add(mul(sub(x, mu), true_div(g, (v + epsilon) ** 0.5)), b)


# --- neighbourhoods (theano.tensor.nnet.neighbours) ---------------------------------------------------
def _pair(v, what, fname):
    try:
        t = tuple(int(k) for k in v)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be a pair of ints, got {v!r}") from None
    if len(t) != 2 or min(t) < 1:
        raise ValueError(f"{fname}: {what} must be two positive ints, got {v!r}")
    return t


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """The ``neib_shape`` patches of the images of the 4-d ``ten4`` taken
    every ``neib_step`` (default ``neib_shape``), one per row, (batch x
    channels x patches, rows x cols), patches in row-major order. Modes:
    'valid' (the patches must cover the images exactly: checked where the
    shape is static), 'ignore_borders' (partial patches at the borders are
    dropped), 'half' / 'full' (zero padding of shape // 2 / shape - 1 on
    every side)."""
    from .shape_ops import concatenate, reshape, zeros
    fname = "images2neibs"
    x = as_tensor_variable(ten4)
    if x.ndim != 4:
        raise ValueError(f"{fname}: ten4 must be a 4-d tensor, got {x.type}")
    h, w = _pair(neib_shape, "neib_shape", fname)
    sr, sc = _pair(neib_step, "neib_step", fname) if neib_step is not None else (h, w)
    if mode not in ("valid", "ignore_borders", "half", "full"):
        raise ValueError(f"{fname}: mode must be 'valid', 'ignore_borders', 'half' or 'full', got {mode!r}")
    if mode in ("half", "full"):
        pr, pc = (h // 2, w // 2) if mode == "half" else (h - 1, w - 1)
        if pr or pc:
            from .indexing import set_subtensor
            big = zeros((dim(x, 0), dim(x, 1), dim(x, 2) + 2 * pr, dim(x, 3) + 2 * pc), dtype=x.dtype)
            x = set_subtensor(big[:, :, pr:pr + dim(x, 2), pc:pc + dim(x, 3)], x)
    rows, cols = x.type.shape[2], x.type.shape[3]
    if mode == "valid":
        for size, k, s, what in ((rows, h, sr, "rows"), (cols, w, sc, "cols")):
            if size is not None and (size < k or (size - k) % s):
                raise ValueError(f"{fname}: mode 'valid' needs the patches to cover the {what} exactly: "
                                 f"size {size}, neib_shape {k}, neib_step {s} (use mode='ignore_borders')")
        if None in (rows, cols):           # checked at run time (NEIBS_COVER)
            from .basic import apply_op
            x = apply_op("neibs_check", x, neib_shape=(h, w), neib_step=(sr, sc))
    nr = (dim(x, 2) - h) // sr + 1
    nc = (dim(x, 3) - w) // sc + 1
    parts = []
    for i in range(h):
        for j in range(w):
            v = x[:, :, i:i + (nr - 1) * sr + 1:sr, j:j + (nc - 1) * sc + 1:sc]
            parts.append(dimshuffle(v, 0, 1, 2, 3, "x"))
    return reshape(concatenate(parts, axis=4), (-1, h * w))


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """The inverse of images2neibs for non-overlapping patches (``neib_step
    = neib_shape``): the rows of ``neibs`` put back into images of
    ``original_shape``; with 'ignore_borders' the uncovered borders are
    zeros."""
    from .shape_ops import concatenate, reshape, zeros
    fname = "neibs2images"
    p = as_tensor_variable(neibs)
    if p.ndim != 2:
        raise ValueError(f"{fname}: neibs must be a matrix, got {p.type}")
    h, w = _pair(neib_shape, "neib_shape", fname)
    if mode not in ("valid", "ignore_borders"):
        raise ValueError(f"{fname}: mode must be 'valid' or 'ignore_borders', got {mode!r}")
    if hasattr(original_shape, "type"):        # a symbolic shape vector
        if original_shape.type.shape not in ((4,), (None,)) or original_shape.ndim != 1:
            raise ValueError(f"{fname}: original_shape must have 4 entries, got {original_shape.type}")
        n, c, rows, cols = (original_shape[k] for k in range(4))
    elif len(original_shape) != 4:
        raise ValueError(f"{fname}: original_shape must have 4 entries, got {original_shape!r}")
    else:
        n, c, rows, cols = original_shape
    nr, nc = rows // h, cols // w
    if mode == "valid" and all(isinstance(v, int) for v in (rows, cols)) and (rows % h or cols % w):
        raise ValueError(f"{fname}: mode 'valid' needs original_shape's rows and cols ({rows}, {cols}) to be "
                         f"multiples of neib_shape {(h, w)}")
    img = reshape(p, (n, c, nr, nc, h, w))
    img = reshape(dimshuffle(img, 0, 1, 2, 4, 3, 5), (n, c, nr * h, nc * w))
    if mode == "ignore_borders":
        img = concatenate([img, zeros((n, c, rows - nr * h, nc * w), dtype=p.dtype)], axis=2)
        img = concatenate([img, zeros((n, c, rows, cols - nc * w), dtype=p.dtype)], axis=3)
    return img
