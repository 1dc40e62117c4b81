"""Advanced indexing in two classic models, trained with theon.grad.

1. The Theano tutorial's multiclass logistic regression
   (``LogisticRegression``): its negative log-likelihood picks one
   log-probability per row with ``T.log(p_y_given_x)[T.arange(n), y]``, and
   its gradient scatters back into those places.
2. A bag-of-embeddings classifier: ``E[idx]`` looks up one row of the
   embedding matrix per token (``idx`` an integer matrix), the gradient of
   ``E`` is a scatter-add of the rows' gradients into ``E``'s shape.

    python examples/softmax_and_embeddings.py
"""
import numpy as np

import theon
import theon.tensor as T

floatX = theon.config.floatX


class LogisticRegression:
    """Multi-class logistic regression, as in the Theano tutorial."""

    def __init__(self, input, n_in, n_out):
        self.W = theon.shared(np.zeros((n_in, n_out), dtype=floatX), name="W")
        self.b = theon.shared(np.zeros((n_out,), dtype=floatX), name="b")
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        return T.mean(T.neq(self.y_pred, y))


def softmax_regression(rng, epochs=20, batch=100):
    n, n_in, n_out = 3000, 30, 5
    centers = rng.normal(size=(n_out, n_in)) * 0.5
    labels = rng.integers(0, n_out, n)
    data = (centers[labels] + rng.normal(size=(n, n_in))).astype(floatX)
    train_x = theon.shared(data, name="train_x")
    train_y = theon.shared(labels.astype("int32"), name="train_y")

    index = T.lscalar("index")
    x = T.matrix("x")
    y = T.ivector("y")
    classifier = LogisticRegression(x, n_in, n_out)
    cost = classifier.negative_log_likelihood(y)
    updates = [(p, p - 0.2 * g) for p, g in zip(classifier.params, theon.grad(cost, classifier.params))]
    givens = {x: train_x[index * batch:(index + 1) * batch], y: train_y[index * batch:(index + 1) * batch]}
    train = theon.function([index], cost, updates=updates, givens=givens)
    errors = theon.function([], classifier.errors(y), givens={x: train_x, y: train_y})
    for epoch in range(epochs):
        nll = np.mean([train(i) for i in range(n // batch)])
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"softmax regression epoch {epoch + 1}: nll {nll:.4f}")
    error = float(errors())
    print(f"softmax regression training error {error:.4f}")
    return error


def bag_of_embeddings(rng, steps=150):
    """Sentences of token ids; the class is decided by which 'topic' the
    tokens come from. Each sentence is the mean of its tokens' embeddings."""
    vocab, dim, n_classes, n, length = 200, 16, 4, 512, 12
    topic_of = rng.integers(0, n_classes, vocab)
    labels = rng.integers(0, n_classes, n)
    tokens = np.stack([rng.choice(np.flatnonzero(topic_of == c), length) for c in labels]).astype("int32")

    E = theon.shared((rng.normal(size=(vocab, dim)) * 0.1).astype(floatX), name="E")
    V = theon.shared(np.zeros((dim, n_classes), dtype=floatX), name="V")
    idx = T.imatrix("idx")
    y = T.ivector("y")
    sentence = E[idx].mean(axis=1)                  # (n, length, dim) -> (n, dim)
    p = T.nnet.softmax(T.dot(sentence, V))
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gE, gV = theon.grad(nll, [E, V])                # gE: scatter-add into E's shape
    train = theon.function([idx, y], nll, updates=[(E, E - 2.0 * gE), (V, V - 2.0 * gV)])
    errors = theon.function([idx, y], T.mean(T.neq(T.argmax(p, axis=1), y)))
    for step in range(steps):
        cost = train(tokens, labels.astype("int32"))
        if step % 50 == 49:
            print(f"embeddings step {step + 1}: nll {float(cost):.4f}")
    error = float(errors(tokens, labels.astype("int32")))
    print(f"embeddings training error {error:.4f}")
    return error


def main():
    rng = np.random.default_rng(0)
    softmax_regression(rng)
    bag_of_embeddings(rng)


if __name__ == "__main__":
    main()
