"""conv-pool: max pooling fused into the forward convolution, training
included. A 2-d convolution whose result only a max ``pool`` reads (and the
gradient's ``pool_grad`` ops of that pool) becomes one ``conv_pool`` op
(``ir/ops/pool.py``): the CPU pools each chunk of the convolution's GEMM as
it leaves the buffer, so the convolution's result (LeNet's first layer:
5.9 MB) is never written; ``conv_pool`` also writes a uint8 tie mask per
window, and each ``pool_grad`` becomes ``pool_grad_mask``, which routes the
gradient with it instead of reading the convolution's result again.

    %y = conv(%x, %w) {...}                           %z, %m = conv_pool(%x, %w, %b) {..., bias = "after",
    %p = pool(%y) {mode = "max", ...}                                               activation = "tanh"}
    %s = add(%p, dimshuffle(%b) ['x', 0, 'x', 'x'])   ->
    %h = tanh(%s)                                     (%h's users read %z)
    %g = pool_grad(%y, %p, %gz) {...}                 %g = pool_grad_mask(%m, %gz, %x, %w) {...}

Also ``pool(conv_bias(x, w, b){identity})`` (bias = "before") and plain
``pool(conv)`` (bias = "none"); the activation (tanh, sigmoid, relu) applied
to the pooled (and biased) value is absorbed when nothing else reads its
operand. The values and the tie masks are the unfused graph's exactly:
the bias is added where the graph adds it (max pooling compares the same
numbers), and an activation applied *before* the pooling is never moved
behind it (a monotone function may still round two numbers to one, which
changes the ties). Its dims, read through ``subtensor(shape(y))`` (the
gradient of a bias added before the pooling), are computed from x's and w's.
Nothing happens when the convolution's result has any other reader, a
``pool_grad`` carries extra leading dims
(jacobians), the window has more than 8 elements or the pooling is not over
the convolution's 2 spatial dims. Runs in fast_run after conv-epilogue;
``target=gpu`` leaves the IR as it is (the PTX plan has no kernel for these
ops; ``runtime/pipeline.needs_gpu_ir`` re-optimizes a CPU IR holding them).
"""
import dataclasses

from ..ir.builder import make_op
from ..ir.ops.conv import CONV_ATTRS, activation_of
from ..ir.ops.pool import MASK_BITS
from .manager import Pass
from .rewrite import INVALID, PyRule, apply_rules, splat_value

FLOATS = ("float32", "float64")


def _readers(v):
    """The ops reading ``v``'s elements (``shape`` ops aside)."""
    return [user for user, _ in v.uses if user.name != "shape"]


def _shape_users(v):
    return [(user, i) for user, i in v.uses if user.name == "shape"]


def _position(block, v):
    """The index in ``block`` of the op defining ``v`` (-1: an argument)."""
    return -1 if v.owner is None else block.index(v.owner)


def _dim_reads(y):
    """The ``subtensor(shape(y)){idx = [k]}`` ops reading ``y``'s dims, when
    those are all that ``y``'s ``shape`` readers feed; else None."""
    reads = []
    for s, _ in y.uses:
        if s.name != "shape":
            continue
        for t, _ in s.results[0].uses:
            idx = t.attrs.get("idx") if t.name == "subtensor" else None
            if len(t.operands) != 1 or not (isinstance(idx, tuple) and len(idx) == 1 and isinstance(idx[0], int)):
                return None
            reads.append((t, idx[0] % 4))
    return reads


def _conv_dim(rw, conv, k):
    """Dim k of ``conv``'s result from its operands' dims (0-d int64), built
    before ``conv``: N, OC, then (n + 2 pad - dilation (kernel - 1) - 1) //
    stride + 1."""
    x, w = conv.operands[:2]
    t = conv.results[0].type.shape[k]
    if t is not None:
        return rw.const(t, "int64")

    def dim(v, i):
        return rw.create("subtensor", rw.create("shape", v), idx=(i,))
    if k < 2:
        return dim(x if k == 0 else w, 0)
    i = k - 2
    pad, d, st = conv.attrs["pad"][i], conv.attrs["dilation"][i], conv.attrs["stride"][i]
    n, kk = dim(x, k), dim(w, k)
    span = rw.create("mul", rw.const(d, "int64"), rw.create("sub", kk, rw.const(1, "int64")))   # d (k - 1)
    if pad == "full":
        p2 = rw.create("mul", span, rw.const(2, "int64"))
    elif pad == "half":
        p2 = rw.create("mul", rw.create("floordiv", rw.create("add", span, rw.const(1, "int64")),
                                        rw.const(2, "int64")), rw.const(2, "int64"))
    else:
        p2 = rw.const(2 * pad, "int64")
    top = rw.create("sub", rw.create("sub", rw.create("add", n, p2), span), rw.const(1, "int64"))
    return rw.create("add", rw.create("floordiv", top, rw.const(st, "int64")), rw.const(1, "int64"))


def _pool_grads(y, pool, z):
    """The pool_grad ops of ``pool`` reading ``y`` (pool_grad(y, z, gz), no
    extra leading dims), when they and ``pool`` are all of ``y``'s users
    (``shape`` readers aside); else None."""
    grads = []
    for user, i in y.uses:
        if user is pool or user.name == "shape":
            continue
        if user.name != "pool_grad" or i != 0 or user.parent is not pool.parent or user.attrs != pool.attrs:
            return None
        _, zz, gz = user.operands
        if zz is not z or gz is y or gz.type.ndim != 4:
            return None
        grads.append(user)
    return grads


def _after_bias(add, z):
    """The 1-d bias b when ``add`` is add(z, dimshuffle(b, 'x', 0, 'x', 'x'))
    (either order) shaped as z, else None."""
    if add.name != "add" or len(add.operands) != 2 or add.results[0].type != z.type:
        return None
    for a, t in (add.operands, add.operands[::-1]):
        ds = t.owner
        if a is z and t is not z and ds is not None and ds.name == "dimshuffle" \
                and ds.operands[0].type.ndim == 1 and ds.attrs["pattern"] == ("x", 0, "x", "x"):
            return ds.operands[0]
    return None


def conv_pool(rw, pool):
    a = pool.attrs
    ws = a["ws"]
    if a["mode"] != "max" or len(ws) != 2 or ws[0] * ws[1] > MASK_BITS:
        return False
    y = pool.operands[0]
    conv = y.owner
    if conv is None or conv.parent is not pool.parent or y.type.ndim != 4 or y.dtype not in FLOATS:
        return False
    if conv.name == "conv_bias":
        if conv.attrs["activation"] != "identity":
            return False
        where = "before"
    elif conv.name == "conv":
        where = "none"
    else:
        return False
    z = pool.results[0]
    grads = _pool_grads(y, pool, z)
    reads = _dim_reads(y)
    if grads is None or reads is None:
        return False
    block = pool.parent
    here = block.index(pool)
    operands = list(conv.operands)
    absorbed = []                        # ops whose results the fused z replaces, in order
    last = z

    def sole_reader(v):
        readers = [u for u in _readers(v) if u not in grads]
        return readers[0] if len(readers) == 1 and readers[0].parent is block else None
    nxt = sole_reader(last)
    if where == "none" and nxt is not None:
        b = _after_bias(nxt, last)
        if b is not None and b.dtype == y.dtype and _position(block, b) < here:
            where = "after"
            operands.append(b)
            absorbed.append(nxt)
            last = nxt.results[0]
            nxt = sole_reader(last)
    activation = "identity"
    if nxt is not None:
        found = activation_of(nxt, lambda v: splat_value(v) == 0)
        if found is not None and found[1] is last and nxt.results[0].type == last.type:
            activation = found[0]
            absorbed.append(nxt)
            last = nxt.results[0]
    attrs = {k: conv.attrs[k] for k in CONV_ATTRS}
    pool_attrs = {"pool_ws": ws, "pool_stride": a["stride"], "pool_pad": a["pad"],
                  "ignore_border": a["ignore_border"]}
    try:
        new = make_op("conv_pool", operands, dict(attrs, **pool_attrs, bias=where, activation=activation))
        masks = [make_op("pool_grad_mask", [new.results[1], g.operands[2], operands[0], operands[1]],
                         dict(attrs, **pool_attrs)) for g in grads]
    except INVALID:
        return False
    have = new.results[0].type
    if have.dtype != last.dtype or any(None not in (p, q) and p != q for p, q in zip(have.shape, last.type.shape)):
        return False
    rw.insert(new)
    fused = new.results[0]
    if reads:       # dims of the convolution's result: from x's and w's, computed before the convolution
        anchor, rw.anchor = rw.anchor, conv
        for t, k in reads:
            rw.replace(t, _conv_dim(rw, conv, k))
        rw.anchor = anchor
    for g, m in zip(grads, masks):
        m.loc = g.loc
        block.insert_before(g, m)
        rw.push(m)
        rw.replace(g, m.result)
    # shape readers of the intermediate values read the fused result's (equal) shape
    for v in [z] + [op.results[0] for op in absorbed[:-1]]:
        for user, i in _shape_users(v):
            user.set_operand(i, fused)
            rw.push(user)
    rw.replace(last.owner, fused)
    return True


RULES = [PyRule("conv-pool", ("pool",), conv_pool)]


@dataclasses.dataclass
class ConvPoolFusion(Pass):
    """Max pooling (and its bias, activation and pool_grads) fused into the
    convolution: conv_pool + pool_grad_mask (see the module doc)."""
    name = "conv-pool"
    target: str = "cpu"

    def run(self, func):
        if self.target == "cpu":
            apply_rules(func, RULES, self)
