"""A model to ship without Python: compile it ahead of time with

    aot-compile examples/aot_model.py -o build/aot
    cc -O2 -I build/aot examples/aot_main.c build/aot/train_step.o build/aot/predict.o -lm -o demo
    ./demo

Its module-level theon functions are the entries (named by their variable):

    activate(x, scale)        an elementwise function of a vector
    train_step(X, y, lr)      one SGD step of logistic regression: returns the
                              loss and updates the shared weights w, b
    predict(X)                probabilities with the current w, b

``python examples/aot_model.py`` runs the same steps in Python and prints
the same lines as the C program (same format, same numbers).
"""
import numpy as np

import theon
import theon.tensor as T

N_FEATURES = 4

# --- an elementwise entry ------------------------------------------------------------------
x = T.dvector("x")
scale = T.dscalar("scale")
activate = theon.function([x, scale], scale * T.tanh(x) + T.exp(-x * x))

# --- a training step with shared state -------------------------------------------------------
w = theon.shared(np.linspace(-0.5, 0.5, N_FEATURES), name="w")
b = theon.shared(np.float64(0.1), name="b")
X = T.tensor("float64", shape=(None, N_FEATURES), name="X")     # a batch of rows
y = T.dvector("y")                                              # labels in {0, 1}
lr = T.dscalar("lr")

z = T.dot(X, w) + b
p = T.nnet.sigmoid(z)
p.name = "prob"
loss = T.mean(T.nnet.softplus(z) - y * z)        # binary cross-entropy of sigmoid(z)
loss.name = "loss"
grad_w, grad_b = theon.grad(loss, [w, b])
train_step = theon.function([X, y, lr], loss, updates=[(w, w - lr * grad_w), (b, b - lr * grad_b)])
predict = theon.function([X], p)


def example_batch():
    """The batch aot_main.c trains on (same numbers)."""
    rows = np.arange(8 * N_FEATURES, dtype=np.float64).reshape(8, N_FEATURES)
    data = np.sin(rows) * 2.0
    labels = (np.arange(8) % 2).astype(np.float64)
    return data, labels


if __name__ == "__main__":
    data, labels = example_batch()
    for step in range(5):
        print(f"step {step}: loss {float(train_step(data, labels, 0.5)):.6f}")
    print("w: [" + " ".join(f"{v:.8f}" for v in w.get_value()) + f"] b: {float(b.get_value()):.8f}")
    probs = predict(data[:2])
    print(f"predict ({len(probs)} rows): [" + " ".join(f"{v:.8f}" for v in probs) + "]")
