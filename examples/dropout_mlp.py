"""The digits MLP of ``mlp.py`` (64-64-10) trained with dropout (p = 0.5) on
its hidden layer: the mask is drawn inside the compiled training step by
``MRG_RandomStreams.binomial`` (counter-based Philox in native code, a new
mask every call through the stream's default update); prediction uses the
whole network, the hidden activations scaled by the keep probability.

    python examples/dropout_mlp.py
    THEON_FLAGS=floatX=float32 python examples/dropout_mlp.py
"""
import os
import sys

import numpy as np

import theon
import theon.tensor as T
from theon.sandbox.rng_mrg import MRG_RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits import BATCH, N_IN, N_OUT, classifier, layer, load_data, train_epochs  # noqa: E402

N_HIDDEN, EPOCHS, LEARNING_RATE, KEEP = 64, 15, 0.2, 0.5


def build(train_x, train_y, rng, srng):
    W1, b1 = layer(rng, N_IN, N_HIDDEN, "1")
    W2, b2 = layer(rng, N_HIDDEN, N_OUT, "2")
    params = [W1, b1, W2, b2]
    x, y = T.matrix("x"), T.lvector("y")
    hidden = T.tanh(T.dot(x, W1) + b1)
    mask = srng.binomial(size=hidden.shape, p=KEEP, dtype=theon.config.floatX)
    probs = T.nnet.softmax(T.dot(hidden * mask, W2) + b2)
    loss = T.nnet.categorical_crossentropy(probs, y).mean()
    test_probs = T.nnet.softmax(T.dot(hidden * KEEP, W2) + b2)
    return classifier(x, y, test_probs, loss, params, LEARNING_RATE, train_x, train_y)


def main():
    x_train, y_train, x_test, y_test, name = load_data()
    print(f"data: {name}: {len(x_train)} train, {len(x_test)} test; dropout keep {KEEP}; "
          f"floatX={theon.config.floatX}")
    rng = np.random.default_rng(1)
    train, predict = build(theon.shared(x_train, name="train_x"), theon.shared(y_train, name="train_y"), rng,
                           MRG_RandomStreams(seed=1234))
    elapsed = train_epochs(train, len(x_train) // BATCH, EPOCHS, rng)
    print(f"trained {EPOCHS} epochs in {elapsed:.2f} s")
    print(f"train accuracy {np.mean(predict(x_train) == y_train):.3f}")
    print(f"test accuracy {np.mean(predict(x_test) == y_test):.3f}")


if __name__ == "__main__":
    main()
