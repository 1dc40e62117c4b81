"""Logistic regression trained by minibatch gradient descent with theon.

The dataset lives in shared variables; each call of ``train(i)`` selects
minibatch ``i`` through ``givens`` (``x[i*b:(i+1)*b]``), computes the loss,
and updates the shared weights in native code. The gradients are written
out by hand in the graph (for the cross-entropy of a sigmoid they are
short: dL/dz = (sigmoid(z) - t) / batch).

    python examples/logistic_regression.py
"""
import time

import numpy as np

import theon
import theon.tensor as T

N_SAMPLES, N_FEATURES, BATCH, EPOCHS, LEARNING_RATE = 4000, 20, 100, 10, 0.5


def make_data(rng):
    """Linearly separable-ish data: labels from a random hyperplane plus noise."""
    floatx = theon.config.floatX
    x = rng.normal(size=(N_SAMPLES, N_FEATURES))
    true_w = rng.normal(size=N_FEATURES)
    logits = x @ true_w + 0.5 + 0.3 * rng.normal(size=N_SAMPLES)
    y = (logits > 0).astype(floatx)
    return x.astype(floatx), y


def build(data_x, data_y):
    """(train(i) -> loss, predict(x) -> labels, w, b)."""
    floatx = theon.config.floatX
    w = theon.shared(np.zeros(N_FEATURES, dtype=floatx), name="w")
    b = theon.shared(np.zeros((), dtype=floatx), name="b")
    x, t = T.matrix("x"), T.vector("t")
    i = T.lscalar("i")

    z = T.dot(x, w) + b
    loss = (T.softplus(z) - t * z).mean()          # binary cross-entropy of sigmoid(z)
    dz = (T.sigmoid(z) - t) / BATCH                # d loss / d z
    grad_w = T.dot(x.T, dz)
    grad_b = dz.sum()

    train = theon.function(
        [i], loss,
        updates=[(w, w - LEARNING_RATE * grad_w), (b, b - LEARNING_RATE * grad_b)],
        givens={x: data_x[i * BATCH:(i + 1) * BATCH], t: data_y[i * BATCH:(i + 1) * BATCH]},
        name="train")
    predict = theon.function([x], T.sigmoid(z) > 0.5, name="predict")
    return train, predict, w, b


def main():
    rng = np.random.default_rng(1234)
    x_np, y_np = make_data(rng)
    data_x = theon.shared(x_np, name="data_x")
    data_y = theon.shared(y_np, name="data_y")
    start = time.perf_counter()
    train, predict, w, b = build(data_x, data_y)
    print(f"compiled in {time.perf_counter() - start:.2f} s")

    n_batches = N_SAMPLES // BATCH
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        losses = [float(train(k)) for k in range(n_batches)]
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}")
    elapsed = time.perf_counter() - start
    accuracy = float(np.mean(predict(x_np) == (y_np > 0.5)))
    print(f"trained {EPOCHS} epochs ({EPOCHS * n_batches} steps) in {elapsed:.2f} s")
    print(f"accuracy {accuracy:.3f}; b = {float(b.get_value()):.3f}")


if __name__ == "__main__":
    main()
