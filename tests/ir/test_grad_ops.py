"""The gradient of every differentiable op against central finite
differences: one table row per op and shape case, in float64, each checked
with static shapes and with every dim unknown (so that run-time
broadcasting goes through ``sum_to``), for the first derivative, the
batched backward pass (jacobian) and second derivatives (hessian blocks)."""
import numpy as np
import pytest

from theon.frontend.build import _postorder
from theon.ir.core import DYN
from theon.ir.dialect import OPS
from theon.ir.ops import autodiff_ops

from ..grad_helpers import check_first_order, check_jacobian, check_second_order, const, input_vars, op, var

RNG = np.random.default_rng(20240601)


def sym(*shape, low=0.2):
    """Values in [-1, -low] u [low, 1]."""
    return RNG.uniform(low, 1.0, shape) * RNG.choice([-1.0, 1.0], shape)


def pos(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def frac(*shape):
    """Values at least 0.1 away from any integer."""
    return RNG.integers(-3, 3, shape) + RNG.uniform(0.1, 0.9, shape)


def spread(*shape):
    """Distinct values, pairwise at least 0.05 apart (no ties for max/min)."""
    n = int(np.prod(shape, dtype=int))
    return (RNG.permutation(n) * 0.1 - 0.05 * n + RNG.uniform(0, 0.04, n)).reshape(shape)


def away_from_kinks(x, y, kinks):
    """Resample until x / y is at least 0.05 away from every integer."""
    while True:
        q = np.asarray(x / y)
        if np.all(np.abs(q - np.round(q)) > 0.05):
            return x, y
        x = kinks(x.shape)


class Row:
    def __init__(self, name, fn, arrays, wrt=None, order2=True):
        self.name, self.fn, self.arrays = name, fn, [np.asarray(a, dtype=np.float64)
                                                   if np.asarray(a).dtype.kind == "f" else np.asarray(a)
                                                   for a in arrays]
        self.wrt = wrt if wrt is not None else [i for i, a in enumerate(self.arrays) if a.dtype.kind == "f"]
        self.order2 = order2

    def __repr__(self):
        return self.name


def u(name):
    return lambda x: op(name, x)


def b(name):
    return lambda x, y: op(name, x, y)


UNARY = [("neg", sym), ("abs", sym), ("exp", sym), ("log", pos), ("log1p", pos), ("expm1", sym),
         ("sqrt", pos), ("sin", sym), ("cos", sym), ("tan", sym), ("tanh", sym), ("arctan", sym),
         ("sigmoid", sym), ("softplus", sym), ("erf", sym),
         ("sign", sym), ("floor", frac), ("ceil", frac), ("round", frac),
         ("exp2", sym), ("sinh", sym), ("cosh", sym), ("arcsin", lambda *s: 0.8 * sym(*s)),
         ("arccos", lambda *s: 0.8 * sym(*s)), ("arcsinh", sym), ("arccosh", lambda *s: 1.2 + pos(*s)),
         ("arctanh", lambda *s: 0.8 * sym(*s)), ("erfc", sym), ("erfinv", lambda *s: 0.8 * sym(*s)),
         ("gamma", pos), ("gammaln", pos), ("trunc", frac)]
UNARY_SHAPES = [(), (3,), (2, 3)]

BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ()),
                 ((2, 1, 3), (4, 1))]
BINARY = [("add", sym, sym), ("sub", sym, sym), ("mul", sym, sym), ("div", sym, sym),
          ("pow", pos, sym), ("maximum", sym, sym), ("minimum", sym, sym), ("arctan2", sym, sym)]
PIECEWISE = [("floordiv", lambda s: RNG.uniform(-3, 3, s), pos), ("mod", lambda s: RNG.uniform(-3, 3, s), pos)]

ROWS = []
for name, gen in UNARY:
    for shape in UNARY_SHAPES:
        ROWS.append(Row(f"{name}-{shape}", u(name), [gen(*shape)]))
for name, gx, gy in BINARY:
    for sx, sy in BINARY_SHAPES:
        ROWS.append(Row(f"{name}-{sx}-{sy}", b(name), [gx(*sx), gy(*sy)]))
for name, gx, gy in PIECEWISE:
    for sx, sy in [((3,), (3,)), ((2, 3), (3,)), ((2, 3), ()), ((), (2, 3))]:
        x, y = away_from_kinks(gx(sx), gy(*sy), gx)
        ROWS.append(Row(f"{name}-{sx}-{sy}", b(name), [x, y]))

ROWS += [
    # psi's second derivative would need trigamma's (not implemented); trigamma
    # itself appears on a constant path only
    Row("psi", u("psi"), [pos(2, 3)], order2=False),
    Row("trigamma-of-const", lambda x: op("mul", x, op("trigamma", const(np.array([0.5, 2.0, 7.5])))), [sym(2, 3)]),
    Row("maximum-relu", lambda x: op("maximum", x, const(0.0)), [sym(2, 3)]),
    Row("cast-f64-f64", lambda x: op("cast", x, dtype="float64"), [sym(3)]),
    Row("cast-int-path", lambda x: op("mul", x, op("cast", op("cast", x, dtype="int64"), dtype="float64")),
        [frac(2, 3)]),
    Row("where-const-cond", lambda a, c: op("where", const(np.array([[True, False, True], [False, True, True]])), a, c),
        [sym(3), sym(2, 1)]),
    Row("where-leaky-relu", lambda x: op("where", op("gt", x, const(0.0)), x, op("mul", x, const(0.1))),
        [sym(2, 3)]),
    Row("where-bcast", lambda a, c: op("where", op("lt", a, c), a, c), [spread(2, 1), spread(3)]),
    Row("argmax-path", lambda x: op("mul", x, op("cast", op("argmax", x, axis=1, keepdims=True), dtype="float64")),
        [spread(2, 3)]),
    Row("compare-path", lambda x: op("mul", x, op("cast", op("gt", x, const(0.0)), dtype="float64")), [sym(2, 3)]),
]

for axes in [(0,), (1, 2), (0, 2), (0, 1, 2)]:
    for keep in (False, True):
        for name, gen in [("sum", sym), ("prod", sym), ("max", spread), ("min", spread)]:
            ROWS.append(Row(f"{name}-{axes}-keep{keep}",
                            lambda x, name=name, axes=axes, keep=keep: op(name, x, axes=axes, keepdims=keep),
                            [gen(2, 3, 4)]))
ROWS += [
    Row("sum-0d", lambda x: op("sum", x, axes=(), keepdims=False), [sym()]),
    Row("max-ties", lambda x: op("max", x, axes=(0,), keepdims=False),
        [np.array([[1.0, 2.0], [0.5, 2.0]])], order2=False),
    Row("prod-zeros", lambda x: op("prod", x, axes=(1,), keepdims=False),
        [np.array([[0.7, 0.0, -1.3, 0.9], [0.0, 1.2, 0.0, 0.8], [1.1, -0.6, 0.5, 1.4]])], order2=False),
]

MATMUL_SHAPES = [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 4)),
                 ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((1, 2, 3), (2, 3, 2))]
for sa, sb in MATMUL_SHAPES:
    ROWS.append(Row(f"matmul-{sa}-{sb}", b("matmul"), [sym(*sa), sym(*sb)]))

ROWS += [
    Row("dimshuffle-transpose", lambda x: op("dimshuffle", x, pattern=(1, 0)), [sym(2, 3)]),
    Row("dimshuffle-expand", lambda x: op("dimshuffle", x, pattern=("x", 0, "x")), [sym(3)]),
    Row("dimshuffle-drop", lambda x: op("dimshuffle", x, pattern=(2, "x", 0)), [sym(2, 1, 3)]),
    Row("reshape", lambda x: op("reshape", x, shape=(3, 2)), [sym(2, 3)]),
    Row("reshape-infer", lambda x: op("reshape", x, shape=(2, -1, 1)), [sym(6)]),
    Row("reshape-dyn", lambda x, n: op("reshape", x, n, shape=(-1, DYN, 1)),
        [sym(2, 3, 2), np.array(2, dtype=np.int64)]),
    Row("subtensor-int", lambda x: op("subtensor", x, idx=(1,)), [sym(4, 3)]),
    Row("subtensor-slice", lambda x: op("subtensor", x, idx=((None, None, None), (1, 3, 1))), [sym(4, 3)]),
    Row("subtensor-reverse", lambda x: op("subtensor", x, idx=((None, None, -1), 1)), [sym(4, 3)]),
    Row("subtensor-step", lambda x: op("subtensor", x, idx=((None, None, 2), (0, 2, 1))), [sym(5, 3)]),
    Row("subtensor-dyn", lambda x, i: op("subtensor", x, i, idx=((DYN, None, None),)),
        [sym(4, 3), np.array(1, dtype=np.int64)]),
    Row("subtensor-dyn-stop", lambda x, i: op("subtensor", x, i, idx=((1, DYN, 1), -2)),
        [sym(4, 3), np.array(3, dtype=np.int64)]),
]
for name in ("set_subtensor", "inc_subtensor"):
    for idx, sv in [(((1, 3, 1),), (3,)), (((1, 3, 1),), (2, 1)), (((1, 3, 1),), ()), ((2,), (3,)),
                    (((None, None, 2), 1), ())]:
        ROWS.append(Row(f"{name}-{idx}-{sv}", lambda x, v, name=name, idx=idx: op(name, x, v, idx=idx),
                        [sym(4, 3), sym(*sv)]))
    ROWS.append(Row(f"{name}-dyn", lambda x, v, i, name=name: op(name, x, v, i, idx=((DYN, None, None),)),
                    [sym(4, 3), sym(3), np.array(2, dtype=np.int64)]))
ROWS += [
    Row("concatenate-0", lambda x, y, z: op("concatenate", x, y, z, axis=0), [sym(2, 3), sym(1, 3), sym(3, 3)]),
    Row("concatenate-1", lambda x, y: op("concatenate", x, y, axis=1), [sym(2, 1), sym(2, 2)]),
    Row("alloc-row", lambda v: op("alloc", v, shape=(2, 3)), [sym(3)]),
    Row("alloc-scalar", lambda v: op("alloc", v, shape=(2, 2)), [sym()]),
    Row("alloc-col", lambda v: op("alloc", v, shape=(3, 2, 4)), [sym(2, 1)]),
    Row("alloc-dyn", lambda v, n: op("alloc", v, n, shape=(DYN, 3)), [sym(1, 3), np.array(2, dtype=np.int64)]),
    Row("arange", lambda s, d: op("arange", s, const(5.0), d), [np.array(0.3), np.array(0.7)]),
    Row("sum_to-lead", lambda x: op("sum_to", x, shape=(4,)), [sym(2, 3, 4)]),
    Row("sum_to-ones", lambda x: op("sum_to", x, shape=(3, 1)), [sym(2, 3, 4)]),
    Row("sum_to-dyn", lambda x, n: op("sum_to", x, n, shape=(2, DYN, 4)), [sym(2, 3, 4), np.array(1, dtype=np.int64)]),
    Row("stop_gradient", lambda x, y: op("add", op("mul", y, op("stop_gradient", op("mul", x, const(0.0)),
                                                                  kind="zero")), x), [sym(3), sym(3)]),
    # grad_override with the true derivatives (or neutral clip/scale) agrees with finite differences
    Row("grad_override-chain", lambda x: op("grad_override", op("mul", x, op("log", x)), x,
                                            op("add", const(1.0), op("log", x)), kind="chain"), [pos(2, 3)]),
    Row("grad_override-chain-bcast", lambda x, w: op("grad_override", op("mul", x, w), x, w, w, x, kind="chain"),
        [sym(2, 1), sym(2, 3)]),
    Row("grad_override-scale", lambda x: op("mul", op("grad_override", x, const(1.0), kind="scale"), x), [sym(3)]),
    Row("grad_override-clip", lambda x: op("mul", op("grad_override", x, const(-1e9), const(1e9), kind="clip"), x),
        [sym(2, 3)]),
    # advanced indexing: the gather's gradient is a scatter-add (repeated and negative indices)
    Row("adv_subtensor", lambda x, i: op("adv_subtensor", x, i, idx=("a",)),
        [sym(4, 3), np.array([2, -1, 2, 0], dtype=np.int64)]),
    Row("adv_subtensor-2d", lambda x, i, j: op("adv_subtensor", x, i, j, idx=("a", "a")),
        [sym(4, 3), np.array([[0, 3], [1, 1]], dtype=np.int64), np.array([2, -3], dtype=np.int64)]),
    Row("adv_inc_subtensor", lambda x, v, i: op("adv_inc_subtensor", x, v, i, idx=("a",)),
        [sym(4, 3), sym(3, 3), np.array([1, 1, -1], dtype=np.int64)]),
    Row("adv_set_subtensor", lambda x, v, i: op("adv_set_subtensor", x, v, i, idx=(":", "a")),
        [sym(4, 3), sym(4, 2), np.array([2, 0], dtype=np.int64)]),
    Row("print", lambda x: op("mul", op("print", x, message="grad row", attrs=()), x), [sym(3)]),
    # sorting and extra_ops (ir/ops/sorting.py, ir/ops/extra.py)
    Row("sort", lambda x: op("sort", x, axis=0), [sym(4, 3)]),
    Row("cumsum", lambda x: op("cumsum", x, axis=1), [sym(3, 4)]),
    Row("cumprod", lambda x: op("cumprod", x, axis=0), [sym(4, 2)]),
    Row("bincount", lambda i, w: op("bincount", i, w, minlength=7), [np.array([0, 3, 3, 1, 5], dtype=np.int64), sym(5)]),
    Row("repeat", lambda x, r: op("repeat", x, r, axis=0), [sym(4, 2), np.array([2, 0, 1, 3], dtype=np.int64)]),
]

# dense linear algebra (ir/ops/la.py): well-conditioned matrices
_M = RNG.uniform(-1, 1, (3, 3))
_SPD = _M @ _M.T + 3 * np.eye(3)
_TRI = np.tril(RNG.uniform(-1, 1, (3, 3))) + np.diag([2.0, -2.5, 3.0]) + np.triu(RNG.uniform(-1, 1, (3, 3)), 1)
ROWS += [Row("cholesky", lambda a: op("cholesky", a), [_SPD]),
         Row("solve", lambda a, x: op("solve", a, x), [_SPD + RNG.uniform(-0.5, 0.5, (3, 3)), sym(3, 2)]),
         Row("solve_triangular", lambda a, x: op("solve_triangular", a, x, lower=True, trans=False,
                                                 unit_diagonal=False), [_TRI, sym(3, 2)]),
         Row("solve_triangular-upper-trans-unit", lambda a, x: op("solve_triangular", a, x, lower=False, trans=True,
                                                                  unit_diagonal=True), [_TRI, sym(3, 2)]),
         Row("matrix_inverse", lambda a: op("matrix_inverse", a), [_SPD + RNG.uniform(-0.5, 0.5, (3, 3))]),
         Row("det", lambda a: op("det", a), [_SPD + RNG.uniform(-0.5, 0.5, (3, 3))]),
         Row("eigvalsh", lambda a: op("eigvalsh", a, lower=True), [_TRI]),
         # eigenvector columns have a free sign: a cost that squares them
         Row("eigh_vectors", lambda a: op("mul", op("eigh_vectors", a, lower=False), op("eigh_vectors", a, lower=False)),
             [_TRI]),
         Row("qr_q", lambda a: op("qr_q", a), [sym(4, 3)]),
         Row("qr_r", lambda a: op("qr_r", a), [sym(3, 3)]),
         # distinct singular values (no second order: U and Vt have no gradient); pinv of full-rank matrices
         Row("svd_s", lambda a: op("svd_s", a), [sym(4, 3)], order2=False),
         Row("svd_s-wide", lambda a: op("svd_s", a), [sym(2, 4)], order2=False),
         Row("pinv", lambda a: op("pinv", a, rcond=1e-15), [sym(4, 3)]),
         Row("pinv-wide", lambda a: op("pinv", a, rcond=1e-15), [sym(2, 4)]),
         # U and Vt have no gradient (their rules raise, tests/native/test_linalg_svd_native.py): of constants only
         Row("svd_u-of-const", lambda x: op("mul", x, op("svd_u", const(_SPD), full_matrices=False)), [sym(3, 3)]),
         Row("svd_vt-of-const", lambda x: op("mul", x, op("svd_vt", const(_SPD), full_matrices=True)), [sym(3, 3)]),
         # eig has no gradient (as in Theano; tests/native/test_linalg_eig_native.py): of constants only
         Row("eigvals-of-const", lambda x: op("mul", x, op("eigvals", const(_SPD))), [sym(3)]),
         Row("eig_vectors-of-const", lambda x: op("mul", x, op("eig_vectors", const(_SPD))), [sym(3, 3)])]

# random streams' probability check (ir/ops/random.py): the value itself
ROWS += [Row("check_probabilities", lambda x: op("check_probabilities", x, arg="binomial: p", normalized=False),
             [RNG.uniform(0.2, 0.8, (2, 3))])]

# pooling (ir/ops/pool.py)
POOL_MAX = dict(ws=(2, 2), stride=(1, 1), pad=(0, 0), ignore_border=False, mode="max")
POOL_AVG = dict(ws=(2, 2), stride=(2, 1), pad=(1, 0), ignore_border=True, mode="average_exc_pad")
POOL_SUM3 = dict(ws=(2, 1, 2), stride=(2, 1, 2), pad=(0, 0, 0), ignore_border=False, mode="sum")
POOL_INC = dict(ws=(3, 2), stride=(1, 2), pad=(0, 0), ignore_border=False, mode="average_inc_pad")
ROWS += [
    Row("pool-max", lambda x: op("pool", x, **POOL_MAX), [spread(2, 3, 4)]),
    Row("pool_grad-max", lambda x, g: op("pool_grad", x, op("pool", x, **POOL_MAX), g, **POOL_MAX),
        [spread(3, 4), sym(2, 3)]),
    Row("pool_grad_grad", lambda x, g: op("pool_grad_grad", x, op("pool", x, **POOL_MAX), g, **POOL_MAX),
        [spread(3, 4), sym(3, 4)]),
    Row("pool-avg-pad", lambda x: op("pool", x, **POOL_AVG), [sym(2, 4, 3)]),
    Row("pool-sum-3d", lambda x: op("pool", x, **POOL_SUM3), [sym(3, 2, 3)]),
    Row("pool_grad-avg", lambda x, g: op("pool_grad", x, op("pool", x, **POOL_INC), g, **POOL_INC),
        [sym(4, 5), sym(2, 3)]),
]




# convolution (ir/ops/conv.py): padding, stride, dilation, groups; each op's gradient is the other two
CONV = dict(pad=(1, 0), stride=(1, 2), dilation=(1, 1), groups=2, flip=True)
CONV_D = dict(pad=("half", 0), stride=(1, 1), dilation=(2, 1), groups=1, flip=False)
ROWS += [
    Row("conv", lambda x, w: op("conv", x, w, **CONV), [sym(1, 4, 3, 5), sym(2, 2, 2, 2)]),
    Row("conv-dilated", lambda x, w: op("conv", x, w, **CONV_D), [sym(2, 1, 5, 3), sym(3, 1, 2, 2)]),
    Row("conv_grad_input", lambda g, w: op("conv_grad_input", g, w, shape=(1, 4, 3, 5), **CONV),
        [sym(1, 2, 4, 2), sym(2, 2, 2, 2)]),
    Row("conv_grad_weight", lambda x, g: op("conv_grad_weight", x, g, shape=(2, 2, 2, 2), **CONV),
        [sym(1, 4, 3, 5), sym(1, 2, 4, 2)]),
    Row("conv_bias-tanh", lambda x, w, b: op("conv_bias", x, w, b, activation="tanh", **CONV),
        [sym(1, 4, 3, 5), sym(2, 2, 2, 2), sym(2)]),
    Row("conv_bias-sigmoid", lambda x, w, b: op("conv_bias", x, w, b, activation="sigmoid", **CONV_D),
        [sym(2, 1, 5, 3), sym(3, 1, 2, 2), sym(3)]),
    # images2neibs' run-time 'valid' check passes its input through
    Row("neibs_check", lambda x: op("neibs_check", x, neib_shape=(2, 2), neib_step=(2, 1)), [sym(1, 2, 4, 3)]),
]

# --- composites (no rules of their own) --------------------------------------------------------
def softmax(x):
    z = op("exp", op("sub", x, op("max", x, axes=(x.ndim - 1,), keepdims=True)))
    return op("div", z, op("sum", z, axes=(x.ndim - 1,), keepdims=True))


def logsumexp(x):
    m = op("max", x, axes=(x.ndim - 1,), keepdims=True)
    s = op("sum", op("exp", op("sub", x, m)), axes=(x.ndim - 1,), keepdims=True)
    return op("add", op("log", s), m)


ROWS += [
    Row("softmax", softmax, [sym(2, 4)]),
    Row("logsumexp", logsumexp, [sym(2, 4)]),
    Row("log_softmax", lambda x: op("sub", x, logsumexp(x)), [sym(3, 4)]),
    Row("clip", lambda x: op("minimum", op("maximum", x, const(-0.5)), const(0.5)), [sym(2, 4)]),
    Row("fan-out", lambda x, y: op("mul", op("sin", op("mul", x, y)), op("add", x, op("exp", x))), [sym(3), sym(2, 1)]),
]

IDS = [r.name for r in ROWS]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_first_order(row, dynamic):
    check_first_order(row.fn, row.arrays, row.wrt, dynamic)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_jacobian(row, dynamic):
    check_jacobian(row.fn, row.arrays, row.wrt, dynamic)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("row", [r for r in ROWS if r.order2], ids=[r.name for r in ROWS if r.order2])
def test_second_order(row, dynamic):
    check_second_order(row.fn, row.arrays, row.wrt, dynamic)


# --- the registry -------------------------------------------------------------------------------
# Ops whose results are never float: the driver gives their operands a zero
# gradient, and no rule is needed.
NON_FLOAT_RESULTS = {"shape", "argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge",
                     "and", "or", "xor", "not", "nonzero", "return", "argsort", "searchsorted", "check_index"}
NO_OPERANDS = {"constant"}
# Ops only the fusion pass creates, after autodiff: the driver never meets them.
AFTER_AUTODIFF = {"fused", "yield", "matmul_update",     # matmul_update: the gemm-epilogue pass
                  "conv_pool", "pool_grad_mask"}         # the conv-pool pass (conv_pool's rule: test_conv_pool_ir.py)
REGION_GRADS_TESTED_ELSEWHERE = {"scan", "ifelse"}


def all_ops():
    ops = dict(OPS)
    for cls in autodiff_ops.OPS:
        ops.setdefault(cls.name, cls())
    return ops


def test_every_float_op_has_a_rule():
    # sampling ops (the ``random`` fact) take only an integer state and sizes:
    # no float operand to send a gradient to
    missing = [name for name, opdef in all_ops().items()
               if name not in NON_FLOAT_RESULTS | NO_OPERANDS | AFTER_AUTODIFF
               and not opdef.random and not hasattr(opdef, "grad")]
    assert not missing, f"ops without a gradient rule: {missing}"


def test_non_float_ops_give_no_float_results():
    x = var((2, 3))
    samples = {"shape": op("shape", x), "argmax": op("argmax", x, axis=0, keepdims=False),
               "argmin": op("argmin", x, axis=None, keepdims=False)}
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        samples[name] = op(name, x, x)
    for name in ("and", "or", "xor"):
        samples[name] = op(name, op("gt", x, x), op("lt", x, x))
    samples["not"] = op("not", op("gt", x, x))
    samples["nonzero"] = op("nonzero", x, match=(None, None))
    samples["argsort"] = op("argsort", x, axis=1)
    samples["searchsorted"] = op("searchsorted", var((4,)), x, side="left")
    samples["check_index"] = op("check_index", const(np.array([0, 1])), const(np.int64(2)))
    assert set(samples) == NON_FLOAT_RESULTS - {"return"}
    for name, value in samples.items():
        assert value.dtype in ("bool", "int64"), name
    for name in ("and", "or", "xor", "not"):   # float operands are refused
        with pytest.raises(TypeError):
            op(name, *[x] * (1 if name == "not" else 2))


def test_table_covers_every_differentiable_op():
    used = set()
    for row in ROWS:
        out = row.fn(*input_vars(row.arrays, False))
        used |= {v.owner.name for v in _postorder([out], {}) if v.owner is not None}
    differentiable = {name for name, opdef in all_ops().items() if hasattr(opdef, "grad")}
    # region ops: their gradients (BPTT, taken branch) are checked against finite
    # differences in test_scan_ifelse.py, whose bodies this table's checks cannot batch
    assert differentiable - used - REGION_GRADS_TESTED_ELSEWHERE - AFTER_AUTODIFF == set()
