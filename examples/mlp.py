"""A multi-layer perceptron (64-32-10) trained with theon.grad and SGD.

The data set lives in shared variables; ``train(i)`` selects minibatch ``i``
through ``givens`` (``x[i*b:(i+1)*b]``), computes the cross-entropy loss and
its gradients with ``theon.grad``, and updates the shared weights, all in
one compiled native function.

Data: scikit-learn's bundled digits (8x8 images, 10 classes; it ships with
the library, nothing is downloaded) when scikit-learn is installed,
otherwise a seeded synthetic set of the same shape (``digits.py``, shared
with the other digits examples).

    python examples/mlp.py                          # float64
    THEON_FLAGS=floatX=float32 python examples/mlp.py
"""
import os
import sys
import time

import numpy as np

import theon
import theon.tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits import BATCH, N_IN, N_OUT, classifier, layer, load_data, train_epochs  # noqa: E402

N_HIDDEN, EPOCHS, LEARNING_RATE, L2 = 32, 15, 0.3, 1e-4


def build(train_x, train_y, rng):
    """(train(i) -> loss, predict(x) -> labels)."""
    W1, b1 = layer(rng, N_IN, N_HIDDEN, "1")
    W2, b2 = layer(rng, N_HIDDEN, N_OUT, "2")
    params = [W1, b1, W2, b2]

    x, y = T.matrix("x"), T.lvector("y")
    hidden = T.tanh(T.dot(x, W1) + b1)
    probs = T.nnet.softmax(T.dot(hidden, W2) + b2)
    loss = T.nnet.categorical_crossentropy(probs, y).mean() + L2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    return classifier(x, y, probs, loss, params, LEARNING_RATE, train_x, train_y)


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
    elapsed = train_epochs(train, n_batches, EPOCHS, rng)
    train_accuracy = float(np.mean(predict(x_train) == y_train))
    test_accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"trained {EPOCHS} epochs ({EPOCHS * n_batches} steps) in {elapsed:.2f} s")
    print(f"train accuracy {train_accuracy:.3f}")
    print(f"test accuracy {test_accuracy:.3f}")


if __name__ == "__main__":
    main()
