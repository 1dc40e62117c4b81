"""A character-level LSTM written with ``theon.scan``: it learns to predict
the next character of a short text from the 12 characters before it.

    python examples/lstm_sequence.py

trains for 12 epochs (a few seconds on a CPU) and prints the loss of each
epoch (the mean cross-entropy over every window of the text), then greedily
continues the text from its first characters. The loop over the 12 time
steps is one ``scan``; its gradient (backpropagation through time) is a
reverse-time scan built by ``theon.grad``; the SGD update of the shared
weights runs inside the compiled step.

The module-level theon functions are entries for ``aot-compile``:

    aot-compile examples/lstm_sequence.py -o build/lstm --entry train_step
    train_step(X, y) -> loss      X: (12, batch, VOCAB) one-hot float32 windows,
                                  y: (batch,) int32 next characters; updates the
                                  weights Wx, Wh, b, Wy, by (its state struct)
    predict(X) -> probabilities   the next character's distribution per window

so a C program can train the same model with the same numbers (the test
tests/native/test_lstm_example.py does).
"""
import numpy as np

import theon
import theon.tensor as T
from theon.tensor import nnet

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
CHARS = sorted(set(TEXT))
VOCAB = len(CHARS)
SEQ = 12          # characters read before predicting the next
HIDDEN = 48
LR = 0.5
EPOCHS = 12
STEPS_PER_EPOCH = 20
floatX = "float32"


def init_params(seed=0):
    """Wx (VOCAB, 4H), Wh (H, 4H), b (4H), Wy (H, VOCAB), by (VOCAB); gates i, f, o, g."""
    rng = np.random.default_rng(seed)
    H = HIDDEN
    b = np.zeros(4 * H, floatX)
    b[H:2 * H] = 1.0                    # forget gates start open
    return {"Wx": (rng.standard_normal((VOCAB, 4 * H)) * 0.3).astype(floatX),
            "Wh": (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(floatX),
            "b": b,
            "Wy": (rng.standard_normal((H, VOCAB)) * 0.3).astype(floatX),
            "by": np.zeros(VOCAB, floatX)}


def windows(text=TEXT, seq=SEQ):
    """(X, y): every window of ``seq`` characters of the (cyclic) text, one-hot,
    time-major (seq, batch, VOCAB), and the character after each window."""
    ids = np.array([CHARS.index(ch) for ch in text + text[:seq]])
    n = len(text)
    X = np.zeros((seq, n, VOCAB), floatX)
    for t in range(seq):
        X[t, np.arange(n), ids[t:t + n]] = 1
    return X, ids[seq:seq + n].astype(np.int32)


params = {k: theon.shared(v, name=k) for k, v in init_params().items()}
Wx, Wh, b, Wy, by = (params[k] for k in ("Wx", "Wh", "b", "Wy", "by"))


def lstm_cell(x_t, h, c):
    """One LSTM step: the new hidden state and cell."""
    H = HIDDEN
    z = T.dot(x_t, Wx) + T.dot(h, Wh) + b
    i = nnet.sigmoid(z[:, :H])
    f = nnet.sigmoid(z[:, H:2 * H])
    o = nnet.sigmoid(z[:, 2 * H:3 * H])
    g = T.tanh(z[:, 3 * H:])
    c = f * c + i * g
    return o * T.tanh(c), c


X = T.tensor3("X", dtype=floatX)       # (time, batch, VOCAB)
y = T.ivector("y")
zeros = T.zeros((X.shape[1], HIDDEN), dtype=floatX)
(hs, cs), _ = theon.scan(lstm_cell, sequences=X, outputs_info=[zeros, zeros], name="lstm")
probs = nnet.softmax(T.dot(hs[-1], Wy) + by)
loss = nnet.categorical_crossentropy(probs, y).mean()
grads = theon.grad(loss, list(params.values()))
train_step = theon.function([X, y], loss, name="train_step",
                            updates=[(p, p - np.float32(LR) * g) for p, g in zip(params.values(), grads)])
predict = theon.function([X], probs, name="predict")


def one_hot(text):
    """(len(text), 1, VOCAB): one window of one sequence."""
    out = np.zeros((len(text), 1, VOCAB), floatX)
    out[np.arange(len(text)), 0, [CHARS.index(ch) for ch in text]] = 1
    return out


def generate(prefix, n):
    """``prefix`` continued by ``n`` characters, each the most likely next one."""
    out = prefix
    for _ in range(n):
        p = predict(one_hot(out[-SEQ:]))
        out += CHARS[int(np.argmax(p[0]))]
    return out


def main():
    data, labels = windows()
    for epoch in range(EPOCHS):
        losses = [float(train_step(data, labels)) for _ in range(STEPS_PER_EPOCH)]
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}", flush=True)
    print(f"accuracy {np.mean(np.argmax(predict(data), axis=1) == labels):.3f}")
    print("generated: " + repr(generate(TEXT[:SEQ], 40)))


if __name__ == "__main__":
    main()
