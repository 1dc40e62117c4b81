"""What the digits examples share (``mlp.py``, ``dropout_mlp.py``,
``denoising_autoencoder.py``): the data set, a dense layer's shared
parameters, minibatch selection and the SGD epoch loop.

Data: scikit-learn's bundled digits (8x8 images, 10 classes; it ships with
the library, nothing is downloaded) when scikit-learn is installed,
otherwise a seeded synthetic set of the same shape: ten random 8x8
"glyphs", each sample a glyph shifted by a pixel, scaled and noisy.
"""
import time

import numpy as np

import theon
import theon.tensor as T

N_IN, N_OUT = 64, 10
BATCH = 50


def synthetic_digits(rng, n=1800):
    """(images (n, 64), labels (n,)): noisy, shifted versions of 10 glyphs."""
    glyphs = (rng.random((N_OUT, 10, 10)) < 0.35).astype(np.float64) * 16
    labels = rng.integers(0, N_OUT, size=n)
    dy, dx = rng.integers(0, 3, size=(2, n))
    images = np.empty((n, 8, 8))
    for k in range(n):
        images[k] = glyphs[labels[k], dy[k]:dy[k] + 8, dx[k]:dx[k] + 8]
    images = images * rng.uniform(0.7, 1.0, size=(n, 1, 1)) + rng.normal(0, 5.0, size=images.shape)
    return np.clip(images, 0, 16).reshape(n, N_IN), labels


def load_data(seed=0):
    """(x_train, y_train, x_test, y_test, name), features standardized, floatX."""
    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_digits
        digits = load_digits()
        x, y, name = digits.data.astype(np.float64), digits.target, "scikit-learn digits"
    except ImportError:
        x, y = synthetic_digits(rng)
        name = "synthetic digits (scikit-learn not installed)"
    order = rng.permutation(len(x))
    x, y = x[order], y[order].astype(np.int64)
    n_train = int(0.8 * len(x)) // BATCH * BATCH
    mean, std = x[:n_train].mean(axis=0), x[:n_train].std(axis=0) + 1e-3
    x = ((x - mean) / std).astype(theon.config.floatX)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], name


def layer(rng, n_in, n_out, name):
    """(W, b) shared, floatX: W drawn N(0, 1/n_in), b zeros."""
    floatx = theon.config.floatX
    w = rng.normal(0, 1 / np.sqrt(n_in), size=(n_in, n_out)).astype(floatx)
    return theon.shared(w, name="W" + name), theon.shared(np.zeros(n_out, floatx), name="b" + name)


def sgd(params, grads, learning_rate):
    """The updates of one plain SGD step."""
    return [(p, p - learning_rate * g) for p, g in zip(params, grads)]


def minibatch(data, i):
    """Rows ``i*BATCH:(i+1)*BATCH`` of ``data`` (for ``givens``)."""
    return data[i * BATCH:(i + 1) * BATCH]


def classifier(x, y, probs, loss, params, learning_rate, train_x, train_y):
    """(train(i) -> loss, predict(x) -> labels): ``train`` takes one SGD
    step on minibatch ``i`` of the shared ``train_x``/``train_y`` (given for
    ``x``/``y``), ``predict`` is the argmax of ``probs``."""
    grads = theon.grad(loss, params)
    i = T.lscalar("i")
    train = theon.function([i], loss, updates=sgd(params, grads, learning_rate),
                           givens={x: minibatch(train_x, i), y: minibatch(train_y, i)}, name="train")
    predict = theon.function([x], T.argmax(probs, axis=1), name="predict")
    return train, predict


def train_epochs(train, n_batches, epochs, rng):
    """Call ``train(k)`` for every minibatch in a random order, ``epochs``
    times, printing each epoch's mean loss; the seconds it took."""
    start = time.perf_counter()
    for epoch in range(epochs):
        losses = [float(train(k)) for k in rng.permutation(n_batches)]
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}")
    return time.perf_counter() - start
