"""A multi-layer perceptron (64-32-10) trained with theon.grad and SGD.

The data set lives in shared variables; ``train(i)`` selects minibatch ``i``
through ``givens`` (``x[i*b:(i+1)*b]``), computes the cross-entropy loss and
its gradients with ``theon.grad``, and updates the shared weights, all in
one compiled native function.

Data: scikit-learn's bundled digits (8x8 images, 10 classes; it ships with
the library, nothing is downloaded) when scikit-learn is installed,
otherwise a seeded synthetic set of the same shape: ten random 8x8
"glyphs", each sample a glyph shifted by a pixel, scaled and noisy.

    python examples/mlp.py                          # float64
    THEON_FLAGS=floatX=float32 python examples/mlp.py
"""
import time

import numpy as np

import theon
import theon.tensor as T

N_IN, N_HIDDEN, N_OUT = 64, 32, 10
BATCH, EPOCHS, LEARNING_RATE, L2 = 50, 15, 0.3, 1e-4


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


def build(train_x, train_y, rng):
    """(train(i) -> loss, predict(x) -> labels)."""
    floatx = theon.config.floatX

    def layer(n_in, n_out, name):
        w = rng.normal(0, 1 / np.sqrt(n_in), size=(n_in, n_out)).astype(floatx)
        return theon.shared(w, name="W" + name), theon.shared(np.zeros(n_out, floatx), name="b" + name)

    W1, b1 = layer(N_IN, N_HIDDEN, "1")
    W2, b2 = layer(N_HIDDEN, N_OUT, "2")
    params = [W1, b1, W2, b2]

    x, y = T.matrix("x"), T.lvector("y")
    hidden = T.tanh(T.dot(x, W1) + b1)
    probs = T.nnet.softmax(T.dot(hidden, W2) + b2)
    loss = T.nnet.categorical_crossentropy(probs, y).mean() + L2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    grads = theon.grad(loss, params)

    i = T.lscalar("i")
    train = theon.function(
        [i], loss,
        updates=[(p, p - LEARNING_RATE * g) for p, g in zip(params, grads)],
        givens={x: train_x[i * BATCH:(i + 1) * BATCH], y: train_y[i * BATCH:(i + 1) * BATCH]},
        name="train")
    predict = theon.function([x], T.argmax(probs, axis=1), name="predict")
    return train, predict


def main():
    x_train, y_train, x_test, y_test, name = load_data()
    print(f"data: {name}: {len(x_train)} train, {len(x_test)} test, {N_IN} features, "
          f"{N_OUT} classes; floatX={theon.config.floatX}")
    train_x = theon.shared(x_train, name="train_x")
    train_y = theon.shared(y_train, name="train_y")
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    train, predict = build(train_x, train_y, rng)
    print(f"compiled in {time.perf_counter() - start:.2f} s")

    n_batches = len(x_train) // BATCH
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        losses = [float(train(k)) for k in rng.permutation(n_batches)]
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}")
    elapsed = time.perf_counter() - start
    train_accuracy = float(np.mean(predict(x_train) == y_train))
    test_accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"trained {EPOCHS} epochs ({EPOCHS * n_batches} steps) in {elapsed:.2f} s")
    print(f"train accuracy {train_accuracy:.3f}")
    print(f"test accuracy {test_accuracy:.3f}")


if __name__ == "__main__":
    main()
