"""The LeNet of the deep-learning tutorials (convolution, max-pooling, tanh,
twice, then a dense tanh layer and a softmax), adapted to the bundled
8x8 digits (see ``digits.py``): each image is upsampled to 16x16 by
repeating pixels, then

    conv 10@5x5 -> 12x12 -> max-pool 2 -> 6x6 -> tanh
    conv 20@3x3 ->  4x4  -> max-pool 2 -> 2x2 -> tanh
    dense 80 -> 100 tanh -> softmax 10, cross-entropy, plain SGD

    python examples/lenet_digits.py

trains for a few epochs (seconds on a CPU), printing each epoch's mean loss,
then the test accuracy.

The module-level ``predict`` is the inference entry for ``aot-compile``:

    aot-compile examples/lenet_digits.py -o build/lenet --entry predict
    predict(x) -> probabilities    x: (batch, 1, 16, 16) float32 images,
                                   probabilities: (batch, 10); the weights
                                   are its state struct

so a C program classifies a digit with the same numbers as the JIT
(tests/native/test_lenet_example.py does, with trained weights).
"""
import os
import sys
import time

import numpy as np

import theon
import theon.tensor as T
from theon.tensor.nnet import conv2d
from theon.tensor.signal.pool import pool_2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits import BATCH, N_OUT, load_data  # noqa: E402

SIDE = 16                       # 8x8 digits, each pixel repeated 2x2
C1, K1 = 10, 5                  # first convolution: 10 filters of 5x5
C2, K2 = 20, 3                  # second: 20 filters of 3x3
HIDDEN = 100
FLAT = C2 * 2 * 2               # after the second pooling: 20 x 2 x 2
LR = 0.1
EPOCHS = 6
floatX = "float32"
PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")     # the state struct's fields, in order


def images(x):
    """(n, 64) rows -> (n, 1, 16, 16) float32 images, pixels repeated 2x2."""
    x = np.asarray(x, np.float32).reshape(-1, 1, 8, 8)
    return np.ascontiguousarray(x.repeat(2, axis=2).repeat(2, axis=3))


def init_params(seed=1):
    """The tutorials' initialization: uniform in +-sqrt(6 / (fan_in + fan_out))
    for the convolutions and the hidden layer, zeros for the softmax layer."""
    rng = np.random.default_rng(seed)

    def u(shape, fan_in, fan_out):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape).astype(floatX)
    values = [u((C1, 1, K1, K1), K1 * K1, C1 * K1 * K1 / 4), np.zeros(C1, floatX),
              u((C2, C1, K2, K2), C1 * K2 * K2, C2 * K2 * K2 / 4), np.zeros(C2, floatX),
              u((FLAT, HIDDEN), FLAT, HIDDEN), np.zeros(HIDDEN, floatX),
              np.zeros((HIDDEN, N_OUT), floatX), np.zeros(N_OUT, floatX)]
    return {name: theon.shared(v, name=name) for name, v in zip(PARAMS, values)}


params = init_params()


def conv_pool_tanh(inp, W, b, in_shape, filter_shape):
    c = conv2d(inp, W, input_shape=in_shape, filter_shape=filter_shape)
    return T.tanh(pool_2d(c, ws=(2, 2), ignore_border=True) + b.dimshuffle("x", 0, "x", "x"))


def network(x):
    """The class probabilities (batch, 10) of images x (batch, 1, 16, 16)."""
    p = params
    h1 = conv_pool_tanh(x, p["W1"], p["b1"], (None, 1, SIDE, SIDE), (C1, 1, K1, K1))
    h2 = conv_pool_tanh(h1, p["W2"], p["b2"], (None, C1, 6, 6), (C2, C1, K2, K2))
    h3 = T.tanh(T.dot(h2.flatten(2), p["W3"]) + p["b3"])
    return T.nnet.softmax(T.dot(h3, p["W4"]) + p["b4"])


x = T.TensorType(floatX, (None, 1, SIDE, SIDE))("x")
y = T.lvector("y")
probs = network(x)
loss = -T.mean(T.log(probs)[T.arange(y.shape[0]), y])
_weights = [params[name] for name in PARAMS]
_grads = theon.grad(loss, _weights)
train_step = theon.function([x, y], loss, updates=[(w, w - np.float32(LR) * g) for w, g in zip(_weights, _grads)],
                            name="train_step")
predict = theon.function([x], probs, name="predict")


def data(seed=0):
    """(train images, train labels, test images, test labels, name)."""
    x_train, y_train, x_test, y_test, name = load_data(seed)
    return images(x_train), y_train, images(x_test), y_test, name


def train(epochs=EPOCHS, seed=0, verbose=True):
    """SGD over minibatches of BATCH images in a random order, ``epochs``
    times; the mean loss of each epoch and the test accuracy."""
    x_train, y_train, x_test, y_test, name = data(seed)
    rng = np.random.default_rng(seed)
    n_batches = len(x_train) // BATCH
    if verbose:
        print(f"data: {name}, {len(x_train)} train / {len(x_test)} test images, upsampled to {SIDE}x{SIDE}")
    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        batch_losses = []
        for k in rng.permutation(n_batches):
            rows = slice(k * BATCH, (k + 1) * BATCH)
            batch_losses.append(float(train_step(x_train[rows], y_train[rows])))
        losses.append(float(np.mean(batch_losses)))
        if verbose:
            print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}")
    accuracy = float(np.mean(np.argmax(predict(x_test), axis=1) == y_test))
    if verbose:
        print(f"trained in {time.perf_counter() - start:.2f} s")
        print(f"test accuracy {accuracy:.4f} (chance 0.1)")
    return losses, accuracy


def main():
    train()


if __name__ == "__main__":
    main()
