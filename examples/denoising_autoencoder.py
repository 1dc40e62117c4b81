"""A denoising autoencoder (64-32-64, tied weights) on the digits of
``mlp.py``: each training step corrupts its minibatch with a binomial mask
(30% of the inputs set to zero) drawn by ``RandomStreams`` inside the
compiled step, and learns to reconstruct the clean input (squared error).
The reconstruction error of clean test images falls as it trains.

    python examples/denoising_autoencoder.py
"""
import os
import sys

import numpy as np

import theon
import theon.tensor as T
from theon.tensor.shared_randomstreams import RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits import BATCH, N_IN, load_data, minibatch, sgd, train_epochs  # noqa: E402

N_HIDDEN, EPOCHS, LEARNING_RATE, CORRUPTION = 32, 20, 0.05, 0.3


def main():
    x_train, _, x_test, _, name = load_data()
    floatx = theon.config.floatX
    print(f"data: {name}: {len(x_train)} train, {len(x_test)} test; corruption {CORRUPTION}; floatX={floatx}")
    rng = np.random.default_rng(2)
    srng = RandomStreams(seed=2)
    W = theon.shared(rng.normal(0, 1 / np.sqrt(N_IN), size=(N_IN, N_HIDDEN)).astype(floatx), name="W")
    b_hid = theon.shared(np.zeros(N_HIDDEN, floatx), name="b_hid")
    b_vis = theon.shared(np.zeros(N_IN, floatx), name="b_vis")
    params = [W, b_hid, b_vis]

    x = T.matrix("x")
    corrupted = x * srng.binomial(size=x.shape, p=1 - CORRUPTION, dtype=floatx)

    def reconstruct(inp):
        return T.dot(T.tanh(T.dot(inp, W) + b_hid), W.T) + b_vis

    loss = ((reconstruct(corrupted) - x) ** 2).sum(axis=1).mean()
    grads = theon.grad(loss, params)
    train_x = theon.shared(x_train, name="train_x")
    i = T.lscalar("i")
    train = theon.function([i], loss, updates=sgd(params, grads, LEARNING_RATE),
                           givens={x: minibatch(train_x, i)}, name="train")
    error = theon.function([x], ((reconstruct(x) - x) ** 2).sum(axis=1).mean(), name="error")

    print(f"clean test reconstruction error before training {float(error(x_test)):.4f}")
    elapsed = train_epochs(train, len(x_train) // BATCH, EPOCHS, rng)
    print(f"trained {EPOCHS} epochs in {elapsed:.2f} s")
    print(f"clean test reconstruction error after training {float(error(x_test)):.4f}")


if __name__ == "__main__":
    main()
