"""The graphs the conv-pool tests build (tests/ir/test_conv_pool_ir.py and
tests/native/test_conv_pool.py): a 2-d convolution, a pooling, a channel
bias added after the pooling ("after", LeNet's), before it ("before") or
not at all ("none"), then an activation."""
import theon.tensor as T
from theon.tensor.nnet import conv2d, relu, sigmoid
from theon.tensor.signal.pool import pool_2d

ACTS = {"identity": lambda v: v, "tanh": T.tanh, "sigmoid": sigmoid, "relu": relu}


def conv_pool_graph(kind, act, pool, conv, dtype="float64", xshape=(None, None, None, None)):
    """(inputs, h): h = act(pool(conv(x, w)) + b) ("after"), act(pool(conv(x, w) + b))
    ("before") or act(pool(conv(x, w))) ("none"); ``pool``/``conv``: keyword arguments."""
    x = T.TensorType(dtype, xshape)("x")
    w, b = T.TensorType(dtype, (None,) * 4)("w"), T.TensorType(dtype, (None,))("b")
    bb = b.dimshuffle("x", 0, "x", "x")
    y = conv2d(x, w, **conv)
    if kind == "before":
        y = y + bb
    p = pool_2d(y, **pool)
    if kind == "after":
        p = p + bb
    inputs = [x, w] + ([b] if kind != "none" else [])
    return inputs, ACTS[act](p)
