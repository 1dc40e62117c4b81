"""Every DSL function of SPEC "Functions in theon.tensor" (and the operators
and methods of a variable), compiled with ``theon.function`` in the default
mode and compared with NumPy.

Each expression is written once, as ``lambda m, a: ...``, against a backend
``m``: ``TT`` builds the theon graph from the symbolic inputs ``a``, ``NP``
(written here, on NumPy only) computes the reference from the arrays ``a``.
All the expressions of a table become the outputs of one function per dtype,
which is then called on several data sets: full shapes, dims of unknown size
that are 1 at run time (broadcasting), empty arrays, and 0-d tensors.

Float32 results are compared with NumPy's float64 results on the same
(float32) inputs; dtypes and shapes must equal what NumPy gives on the
native inputs; integer and bool results must be identical.
"""
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import theon
import theon.tensor as T

from ..mirror_helpers import NP, TT

FLOATS = ["float32", "float64"]
INTS = ["int8", "int16", "int32", "int64", "uint8"]
# NumPy gives float16 for float math on small ints; theon has no float16: it
# uses float32 (documented in frontend/).
DTYPE_SUBSTITUTE = {"float16": "float32"}


# --- the two backends (NP, TT) are in mirror_helpers.py ---------------------------------


# --- harness ---------------------------------------------------------------------------
def _np_eval(fn, arrays):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(NP, SimpleNamespace(**arrays)))


def _as64(arrays):
    return {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in arrays.items()}


def assert_matches(label, got, ref, ref64=None):
    """``got`` (theon) against NumPy's ``ref`` on the same inputs (dtype, shape,
    values) and, for float32, the float64 result ``ref64`` (values)."""
    expected_dtype = np.dtype(DTYPE_SUBSTITUTE.get(ref.dtype.name, ref.dtype.name))
    assert isinstance(got, np.ndarray), f"{label}: got {type(got)}"
    assert got.dtype == expected_dtype, f"{label}: dtype {got.dtype}, NumPy {expected_dtype}"
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, NumPy {ref.shape}"
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref.astype(got.dtype), err_msg=label)
        return
    # float64 values of float32 inputs, except where float32 itself overflows (or is NaN)
    target = ref if ref64 is None else np.where(np.isfinite(ref), ref64, ref)
    finite = np.abs(target[np.isfinite(target)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    if got.dtype == np.float32 or ref.dtype == np.float16:
        rtol, atol = 2e-5, 2e-6 * scale
    else:
        rtol, atol = 1e-11, 1e-13 * scale
    np.testing.assert_allclose(got, target.astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=label)


# Compile time grows faster than linearly with the size of one function (see
# the report on compile times), so a table is compiled as functions of CHUNK outputs.
CHUNK = 12


class Chunked:
    """Several compiled functions of the same inputs, called as one."""

    def __init__(self, functions):
        self.functions = functions

    def __call__(self, *args):
        out = []
        for f in self.functions:
            out.extend(f(*args))
        return out


def compile_table(table, specs, mode=None):
    """(callable, input names) computing every expression of ``table`` from
    inputs ``specs`` = {name: (dtype, static shape)}."""
    vs = {n: T.tensor(dt, shape=shape, name=n) for n, (dt, shape) in specs.items()}
    outs = [fn(TT, SimpleNamespace(**vs)) for _, fn in table]
    functions = [theon.function(list(vs.values()), outs[k:k + CHUNK], on_unused_input="ignore",
                                mode=mode) for k in range(0, len(outs), CHUNK)]
    return Chunked(functions), list(vs)


def check_table(f, names, table, arrays, tag="", skip=()):
    got = f(*[arrays[n] for n in names])
    assert len(got) == len(table)
    a64 = _as64(arrays)
    for (label, fn), g in zip(table, got):
        if label in skip:
            continue
        ref = _np_eval(fn, arrays)
        ref64 = _np_eval(fn, a64) if a64 is not arrays else None
        assert_matches(f"{label} {tag}", g, ref, ref64)


def _grid_mix(rng, shape, lo, hi, step=0.5):
    """Random values in [lo, hi], about half of them on a grid of ``step``
    (so that comparisons see ties, round sees halves and floor_div exact quotients)."""
    vals = rng.uniform(lo, hi, size=shape)
    grid = np.round(rng.uniform(lo, hi, size=shape) / step) * step
    return np.where(rng.random(shape) < 0.5, grid, vals)


# --- elementwise ops on floats ------------------------------------------------------------
# inputs: x, y general in [-3, 3]; p > 0; u in (-1, 1).
FLOAT_ELEMWISE = [
    ("exp", lambda m, a: m.exp(a.x)),
    ("log", lambda m, a: m.log(a.p)),
    ("log1p", lambda m, a: m.log1p(a.u)),
    ("expm1", lambda m, a: m.expm1(a.x)),
    ("sqrt", lambda m, a: m.sqrt(a.p)),
    ("sin", lambda m, a: m.sin(a.x)),
    ("cos", lambda m, a: m.cos(a.x)),
    ("tan", lambda m, a: m.tan(a.u)),
    ("tanh", lambda m, a: m.tanh(a.x)),
    ("arctan", lambda m, a: m.arctan(a.x * 3)),
    ("sigmoid", lambda m, a: m.sigmoid(a.x * 4)),
    ("softplus", lambda m, a: m.softplus(a.x * 4)),
    ("erf", lambda m, a: m.erf(a.x)),
    ("abs", lambda m, a: m.abs(a.x)),
    ("abs()", lambda m, a: abs(a.x)),
    ("sign", lambda m, a: m.sign(a.x)),
    ("floor", lambda m, a: m.floor(a.x)),
    ("ceil", lambda m, a: m.ceil(a.x)),
    ("round", lambda m, a: m.round(a.x)),
    ("neg", lambda m, a: -a.x),
    ("nnet.sigmoid", lambda m, a: m.nnet_sigmoid(a.y)),
    ("nnet.softplus", lambda m, a: m.nnet_softplus(a.y)),
    ("nnet.relu", lambda m, a: m.relu(a.x)),
    ("not_", lambda m, a: m.not_(a.x)),
    ("cast int32", lambda m, a: m.cast(a.x * 2, "int32")),
    ("cast int8", lambda m, a: m.cast(a.x, "int8")),
    ("cast uint8", lambda m, a: m.cast(m.abs(a.x), "uint8")),
    ("cast bool", lambda m, a: m.cast(a.x, "bool")),
    ("astype float32", lambda m, a: a.y.astype("float32")),
    ("astype float64", lambda m, a: a.y.astype("float64")),
    ("clip", lambda m, a: m.clip(a.x, -1.0, 2)),
    ("clip tensors", lambda m, a: m.clip(a.x, a.u, a.p)),
    ("x.clip", lambda m, a: a.x.clip(-0.5, 0.5)),
    # binary, broadcasting between x, y, p, u
    ("add", lambda m, a: m.add(a.x, a.y)),
    ("sub", lambda m, a: m.sub(a.x, a.y)),
    ("mul", lambda m, a: m.mul(a.x, a.y)),
    ("true_div", lambda m, a: m.true_div(a.x, a.p)),
    ("floor_div", lambda m, a: m.floor_div(a.x, a.p)),
    ("mod", lambda m, a: m.mod(a.x, a.p)),
    ("pow", lambda m, a: m.pow(a.p, a.y)),
    ("maximum", lambda m, a: m.maximum(a.x, a.y)),
    ("minimum", lambda m, a: m.minimum(a.x, a.y)),
    ("eq", lambda m, a: m.eq(a.x, a.y)),
    ("neq", lambda m, a: m.neq(a.x, a.y)),
    ("lt", lambda m, a: m.lt(a.x, a.y)),
    ("le", lambda m, a: m.le(a.x, a.y)),
    ("gt", lambda m, a: m.gt(a.x, a.y)),
    ("ge", lambda m, a: m.ge(a.x, a.y)),
    ("and_", lambda m, a: m.and_(m.gt(a.x, 0), m.lt(a.y, 1))),
    ("or_", lambda m, a: m.or_(m.gt(a.x, 0), m.lt(a.y, 1))),
    ("where", lambda m, a: m.where(m.gt(a.x, a.y), a.x, a.p)),
    ("switch", lambda m, a: m.switch(a.x, a.y, 2.5)),
    ("x+y", lambda m, a: a.x + a.y),
    ("x-y", lambda m, a: a.x - a.y),
    ("x*y", lambda m, a: a.x * a.y),
    ("x/p", lambda m, a: a.x / a.p),
    ("x//p", lambda m, a: a.x // a.p),
    ("x%p", lambda m, a: a.x % a.p),
    ("p**y", lambda m, a: a.p ** a.y),
    ("x<y", lambda m, a: a.x < a.y),
    ("x<=y", lambda m, a: a.x <= a.y),
    ("x>y", lambda m, a: a.x > a.y),
    ("x>=y", lambda m, a: a.x >= a.y),
    ("&|^~", lambda m, a: ((a.x > 0) & (a.y > 0)) | ((a.x < a.u) ^ ~(a.p > 1))),
    # weak Python scalars keep the tensor's dtype
    ("x*0.5", lambda m, a: a.x * 0.5),
    ("2-x", lambda m, a: 2 - a.x),
    ("1/p", lambda m, a: 1 / a.p),
    ("x**2", lambda m, a: a.x ** 2),
    ("3.0**u", lambda m, a: 3.0 ** a.u),
    ("x%1.5", lambda m, a: a.x % 1.5),
    ("7//p", lambda m, a: 7 // a.p),
    ("fused", lambda m, a: m.exp(-a.x * a.x) * m.sin(a.y) + m.tanh(a.u) / a.p),
]


def float_arrays(rng, dtype, shapes):
    """Inputs x, y, p, u of ``dtype`` with the given shapes."""
    return {
        "x": _grid_mix(rng, shapes["x"], -3, 3).astype(dtype),
        "y": _grid_mix(rng, shapes["y"], -3, 3).astype(dtype),
        "p": _grid_mix(rng, shapes["p"], 0.5, 4).astype(dtype),
        "u": rng.uniform(-0.95, 0.95, size=shapes["u"]).astype(dtype),
    }


ELEMWISE_SHAPES = [
    # same shapes
    dict(x=(4, 5), y=(4, 5), p=(4, 5), u=(4, 5)),
    # run-time 1-dims broadcast (all declared with None dims)
    dict(x=(4, 5), y=(1, 5), p=(4, 1), u=(1, 1)),
    dict(x=(1, 5), y=(4, 1), p=(1, 1), u=(4, 5)),
    # empty arrays, with broadcasting against them
    dict(x=(0, 5), y=(1, 5), p=(0, 1), u=(1, 1)),
    dict(x=(3, 0), y=(3, 0), p=(1, 0), u=(3, 1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_elementwise_2d(dtype):
    specs = {n: (dtype, (None, None)) for n in "xypu"}
    f, names = compile_table(FLOAT_ELEMWISE, specs)
    rng = np.random.default_rng(1)
    for shapes in ELEMWISE_SHAPES:
        check_table(f, names, FLOAT_ELEMWISE, float_arrays(rng, dtype, shapes), f"{dtype} {shapes}")
    # float -> int casts of NaN, inf and out-of-range values are undefined in
    # NumPy (theon saturates, documented)
    check_table(f, names, FLOAT_ELEMWISE, special_arrays(dtype), f"{dtype} special values",
                skip=("cast int32", "cast int8", "cast uint8"))


def special_arrays(dtype):
    """NaN, infinities, signed zeros, huge and tiny values in every input."""
    fi = np.finfo(dtype)
    xs = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, float(fi.max), -float(fi.max),
          float(fi.tiny), 1e-30, 50.0, -50.0, 0.5, 3.0, -1.0]
    x = np.array(xs, dtype=dtype).reshape(4, 4)
    y = np.array(xs[::-1], dtype=dtype).reshape(4, 4)
    p = np.array([np.inf, 0.5, 1.0, 2.0, float(fi.max), float(fi.tiny), 3.0, 1e-3,
                  np.nan, 7.0, 0.25, 1.5, 4.0, 100.0, 1e10, 2.5], dtype=dtype).reshape(4, 4)
    u = np.array([0.0, -0.0, 0.5, -0.5, 0.9, -0.9, np.nan, 1e-20,
                  -1e-20, 0.25, 0.75, -0.75, 0.1, -0.1, 0.0, 0.3], dtype=dtype).reshape(4, 4)
    return {"x": x, "y": y, "p": p, "u": u}


# 0-d operands take the same loops with no dims; a representative subset
ZERO_D = [row for row in FLOAT_ELEMWISE if row[0] in {
    "exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "erf", "abs", "sign", "round", "not_",
    "cast int32", "clip", "add", "true_div", "floor_div", "mod", "pow", "maximum", "lt", "eq",
    "where", "switch", "x*0.5", "1/p", "fused", "&|^~"}]


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_elementwise_0d_and_mixed_ndim(dtype):
    """0-d tensors (x, p: every unary op of x and x op p is 0-d), and 0-d
    broadcast against a vector and a static-1 matrix."""
    specs = {"x": (dtype, ()), "y": (dtype, (None,)), "p": (dtype, ()), "u": (dtype, (1, None))}
    f, names = compile_table(ZERO_D, specs)
    rng = np.random.default_rng(2)
    for shapes in [dict(x=(), y=(3,), p=(), u=(1, 3)), dict(x=(), y=(1,), p=(), u=(1, 4)),
                   dict(x=(), y=(0,), p=(), u=(1, 1)), dict(x=(), y=(1,), p=(), u=(1, 0))]:
        for _ in range(3):
            check_table(f, names, ZERO_D, float_arrays(rng, dtype, shapes), f"{dtype} {shapes}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_trig_large_arguments(dtype):
    """sin/cos/tan of large finite arguments (NumPy reduces them exactly;
    codegen/vecmath/trig_reduce.py switches to a Payne-Hanek reduction past
    |x| = 2**16 (float32) / 2**30 (float64))."""
    x = T.tensor(dtype, shape=(None,))
    f = theon.function([x], [T.sin(x), T.cos(x), T.tan(x)])
    big = np.array([3e6, 1.2977836e7, 1e9, 3e38] if dtype == "float32" else
                   [2e15, 4.6e15, 1e18, 9.2e18, 1e300], dtype=dtype)
    for got, ref in zip(f(big), (np.sin(big), np.cos(big), np.tan(big))):
        np.testing.assert_allclose(got, ref, rtol=1e-4 if dtype == "float32" else 1e-10,
                                   atol=1e-6)


def test_clip_python_bounds_outside_dtype_range():
    """np.clip accepts Python bounds outside an int dtype's range (NumPy 2
    clips with them and keeps the dtype); T.clip clamps them to the dtype's range."""
    x = T.tensor("uint8", shape=(None,))
    y = T.tensor("int8", shape=(None,))
    f = theon.function([x, y], [T.clip(x, -10, 10), T.clip(y, -1000, 50)])
    a = np.array([0, 3, 200], np.uint8)
    b = np.array([-128, 0, 127], np.int8)
    def np_clip(v, lo, hi):      # NumPy < 2.1 refuses out-of-range Python bounds: clamp them first
        info = np.iinfo(v.dtype)
        return np.clip(v, max(lo, info.min), min(hi, info.max))
    for got, ref in zip(f(a, b), (np_clip(a, -10, 10), np_clip(b, -1000, 50))):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_abs_of_negated_unsigned():
    """abs is the identity on unsigned ints, so abs(-x) is -x (mod 256) for
    uint8: canonicalize must not rewrite abs(neg(x)) to abs(x) there."""
    x = T.tensor("uint8", shape=(None,))
    a = np.array([0, 1, 5, 128, 251, 255], np.uint8)
    expected = np.abs(-a)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        got = theon.function([x], [abs(-x), abs(0 - x)], mode=mode)(a)
        for g in got:
            assert g.dtype == np.uint8
            np.testing.assert_array_equal(g, expected, err_msg=mode)


# --- reductions -------------------------------------------------------------------------
def _reductions():
    rows = []
    configs = [(None, False), (0, False), (-1, True), ((0, 1), True)]
    for name, n in [("sum", 4), ("max", 4), ("min", 4), ("prod", 4), ("mean", 3), ("argmax", 3),
                    ("argmin", 3), ("var", 2), ("std", 2), ("logsumexp", 2)]:
        for axis, keep in (configs[:n] if n > 2 else configs[1::2]):
            rows.append((f"{name} axis={axis} keepdims={keep}",
                         lambda m, a, name=name, axis=axis, keep=keep:
                         getattr(m, name)(a.x, axis=axis, keepdims=keep)))
    rows += [
        ("x.sum(axis=1)", lambda m, a: a.x.sum(axis=1)),
        ("x.mean(1)", lambda m, a: a.x.mean(1)),
        ("x.max(1)", lambda m, a: a.x.max(1)),
        ("x.min(axis=1, keepdims)", lambda m, a: a.x.min(axis=1, keepdims=True)),
        ("x.argmin(axis=None, keepdims)", lambda m, a: a.x.argmin(axis=None, keepdims=True)),
        ("x.std()", lambda m, a: a.x.std()),
        ("mean of broadcast", lambda m, a: (a.x + a.y).mean(axis=0)),
        ("sum bool", lambda m, a: (a.x > a.y).sum(axis=1)),
        ("argmax 3d", lambda m, a: m.argmax(a.t, axis=1)),
        ("sum 3d (0,2)", lambda m, a: m.sum(a.t, axis=(0, 2))),
        ("max 3d (2,0) keepdims", lambda m, a: m.max(a.t, axis=(2, 0), keepdims=True)),
        ("logsumexp 3d (1,2)", lambda m, a: m.logsumexp(a.t, axis=(1, 2))),
    ]
    return rows


REDUCTIONS = _reductions()

# over an empty axis only what NumPy defines (sum, prod, mean, var -> 0, 1, nan, nan)
EMPTY_REDUCTIONS = [
    ("sum", lambda m, a: m.sum(a.x)),
    ("sum axis 0", lambda m, a: m.sum(a.x, axis=0)),
    ("sum axis 1", lambda m, a: m.sum(a.x, axis=1)),
    ("prod axis 0", lambda m, a: m.prod(a.x, axis=0)),
    ("mean", lambda m, a: m.mean(a.x)),
    ("mean axis 0", lambda m, a: m.mean(a.x, axis=0)),
    ("var axis 0", lambda m, a: m.var(a.x, axis=0)),
    ("max axis 1", lambda m, a: m.max(a.x, axis=1)),
    ("argmax axis 1", lambda m, a: m.argmax(a.x, axis=1)),
    ("min axis 1 keepdims", lambda m, a: m.min(a.x, axis=1, keepdims=True)),
    ("logsumexp axis 1", lambda m, a: m.logsumexp(a.x, axis=1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_reductions(dtype):
    specs = {"x": (dtype, (None, None)), "y": (dtype, (None, None)), "t": (dtype, (None, None, None))}
    f, names = compile_table(REDUCTIONS, specs)
    rng = np.random.default_rng(3)
    for xs, ys, ts in [((4, 5), (4, 5), (2, 3, 4)), ((1, 5), (4, 1), (1, 3, 1)),
                       ((4, 1), (1, 1), (3, 1, 2)), ((1, 1), (1, 1), (1, 1, 1))]:
        arrays = {"x": rng.normal(size=xs).astype(dtype), "y": rng.normal(size=ys).astype(dtype),
                  "t": rng.normal(size=ts).astype(dtype)}
        check_table(f, names, REDUCTIONS, arrays, f"{dtype} x{xs} y{ys} t{ts}")
    # ties: argmax/argmin return the first, max/min the tied value
    ties = {"x": np.array([[1, 3, 3, 0, 0], [2, 2, 2, 2, 2], [-1, 5, 5, -1, 5], [0, 0, 0, 0, 1]],
                          dtype=dtype),
            "y": np.zeros((1, 5), dtype), "t": np.ones((2, 2, 2), dtype)}
    check_table(f, names, REDUCTIONS, ties, f"{dtype} ties")
    # NaN propagates through max/min/sum, argmax/argmin point at the first NaN; infinities
    specials = {"x": np.array([[1, np.nan, 3, 0, -1], [np.inf, 2, -np.inf, 0, 1],
                               [-np.inf, -np.inf, -1, -2, -3], [0, 1, np.nan, np.inf, 2]],
                              dtype=dtype),
                "y": np.zeros((1, 5), dtype), "t": np.array([np.nan, 1, np.inf, -np.inf] * 2,
                                                            dtype=dtype).reshape(2, 2, 2)}
    check_table(f, names, REDUCTIONS, specials, f"{dtype} NaN and inf")
    g, gnames = compile_table(EMPTY_REDUCTIONS, {"x": (dtype, (None, None))})
    check_table(g, gnames, EMPTY_REDUCTIONS, {"x": np.zeros((0, 5), dtype)}, f"{dtype} empty (0, 5)")
    # an empty axis for max/min/argmax is an error (NumPy raises too), never a crash
    with pytest.raises(ValueError):
        g(np.zeros((5, 0), dtype))


# --- products, shapes, creation, indexing ----------------------------------------------------
# inputs: A (3, 4), B (4, 3), C (3, 4), v (4,), w (4,), t (2, 3, 4); i, n int64 0-d
LINALG_SHAPE = [
    ("dot mm", lambda m, a: m.dot(a.A, a.B)),
    ("matmul mm", lambda m, a: m.matmul(a.A, a.B)),
    ("A @ B", lambda m, a: a.A @ a.B),
    ("x.dot", lambda m, a: a.A.dot(a.v)),
    ("dot mv", lambda m, a: m.dot(a.A, a.v)),
    ("dot vm", lambda m, a: m.dot(a.v, a.B)),
    ("dot vv", lambda m, a: m.dot(a.v, a.w)),
    ("v @ w", lambda m, a: a.v @ a.w),
    ("dot 3d-2d", lambda m, a: m.dot(a.t, a.B)),
    ("matmul batched", lambda m, a: m.matmul(a.t, a.B)),
    ("matmul batch-vec", lambda m, a: m.matmul(a.t, a.v)),
    ("outer", lambda m, a: m.outer(a.v, a.w)),
    ("tensordot axes=1", lambda m, a: m.tensordot(a.A, a.B, axes=1)),
    ("tensordot axes=2", lambda m, a: m.tensordot(a.t, a.C, axes=2)),
    ("tensordot lists", lambda m, a: m.tensordot(a.t, a.A, axes=[[1, 2], [0, 1]])),
    ("tensordot axes=0", lambda m, a: m.tensordot(a.v, a.w, axes=0)),
    ("dot of transposes", lambda m, a: m.dot(a.B.T, a.A.T)),
    ("transpose", lambda m, a: m.transpose(a.A)),
    ("A.T", lambda m, a: a.A.T),
    ("transpose axes", lambda m, a: m.transpose(a.t, (2, 0, 1))),
    ("t.transpose(1,0,2)", lambda m, a: a.t.transpose(1, 0, 2)),
    ("reshape -1", lambda m, a: m.reshape(a.A, (-1,))),
    ("reshape 2x-1", lambda m, a: a.t.reshape((2, -1))),
    ("reshape symbolic", lambda m, a: a.A.reshape((m.shape(a.A)[1], m.shape(a.A)[0]))),
    ("flatten", lambda m, a: m.flatten(a.t)),
    ("flatten ndim=2", lambda m, a: m.flatten(a.t, ndim=2)),
    ("x.flatten()", lambda m, a: a.A.flatten()),
    ("dimshuffle x,1,0", lambda m, a: m.dimshuffle(a.A, "x", 1, 0)),
    ("dimshuffle 0,x,1", lambda m, a: m.dimshuffle(a.v[None, :], 1, "x", 0)),
    ("concatenate 0", lambda m, a: m.concatenate([a.A, a.C, a.A], axis=0)),
    ("concatenate 1", lambda m, a: m.concatenate([a.A, a.B.T], axis=1)),
    ("concatenate -1 3d", lambda m, a: m.concatenate([a.t, a.t * 2], axis=-1)),
    ("stack", lambda m, a: m.stack([a.v, a.w])),
    ("stack axis=1", lambda m, a: m.stack([a.A, a.C, a.A], axis=1)),
    ("stack axis=-1", lambda m, a: m.stack([a.v, a.w], axis=-1)),
    ("zeros_like", lambda m, a: m.zeros_like(a.A)),
    ("ones_like", lambda m, a: m.ones_like(a.t)),
    ("zeros", lambda m, a: m.zeros((2, 3), dtype=a.A.dtype)),
    ("ones symbolic", lambda m, a: m.ones((a.n, 2), dtype=a.A.dtype)),
    ("alloc", lambda m, a: m.alloc(m.cast(1.5, a.A.dtype), 2, 3)),
    ("alloc vector", lambda m, a: m.alloc(a.v, 3, m.shape(a.v)[0])),
    ("alloc symbolic", lambda m, a: m.alloc(a.A[0, 0], a.n, 2)),
    ("arange", lambda m, a: m.arange(5)),
    ("arange symbolic", lambda m, a: m.arange(a.n)),
    ("arange start stop step", lambda m, a: m.arange(a.i, a.n + 7, 2)),
    ("arange float", lambda m, a: m.arange(1.0, 3.0, 0.5, dtype=a.A.dtype)),
    ("A.shape", lambda m, a: np.asarray(np.shape(a.A)) if m.is_np else a.A.shape),
    ("t.shape[1]", lambda m, a: np.int64(a.t.shape[1]) if m.is_np else a.t.shape[1]),
    ("A.size", lambda m, a: np.int64(a.A.size) if m.is_np else a.A.size),
    # indexing and slicing
    ("A[1:]", lambda m, a: a.A[1:]),
    ("A[:, 0]", lambda m, a: a.A[:, 0]),
    ("A[::-1]", lambda m, a: a.A[::-1]),
    ("A[-1, ::2]", lambda m, a: a.A[-1, ::2]),
    ("A[1:-1, -3::-1]", lambda m, a: a.A[1:-1, -3::-1]),
    ("A[i]", lambda m, a: a.A[a.i]),
    ("A[:, i]", lambda m, a: a.A[:, a.i]),
    ("A[i, -1]", lambda m, a: a.A[a.i, -1]),
    ("t[i*1:(i+1)*2]", lambda m, a: a.t[a.i * 1:(a.i + 1) * 2]),
    ("A[i:n]", lambda m, a: a.A[a.i:a.n]),
    ("v[::n]", lambda m, a: a.v[::a.n]),
    ("v[n::-1]", lambda m, a: a.v[a.n::-1]),
    ("t[..., 0]", lambda m, a: a.t[..., 0]),
    ("t[1, ..., 1:]", lambda m, a: a.t[1, ..., 1:]),
    ("A[None, :, 1]", lambda m, a: a.A[None, :, 1]),
    ("A[5:]", lambda m, a: a.A[5:]),
    ("v[-100:100]", lambda m, a: a.v[-100:100]),
    ("set_subtensor row", lambda m, a: m.set_subtensor(a.A, 0, 5)),
    ("set_subtensor slice",
     lambda m, a: m.set_subtensor(a.A, (slice(None), slice(1, None)), a.C[:, :-1] * 2)),
    ("set_subtensor bcast", lambda m, a: m.set_subtensor(a.A, (slice(1, None),), a.v)),
    ("set_subtensor symbolic", lambda m, a: m.set_subtensor(a.t, (a.i, slice(None, None, -1)), 0.0)),
    ("inc_subtensor", lambda m, a: m.inc_subtensor(a.A, (slice(None), a.i), a.A[:, 0])),
    ("inc_subtensor step", lambda m, a: m.inc_subtensor(a.v, slice(None, None, 2), 1.0)),
    ("inc_subtensor elem", lambda m, a: m.inc_subtensor(a.A, (-1, 2), a.v[0])),
]


def linalg_arrays(rng, dtype, i=1, n=3, shapes=None):
    shapes = shapes or dict(A=(3, 4), B=(4, 3), C=(3, 4), v=(4,), w=(4,), t=(2, 3, 4))
    out = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    out.update(i=np.int64(i), n=np.int64(n))
    return out


# float32: the products and a few moves (shape ops copy bytes whatever the dtype)
LINALG_F32 = [row for row in LINALG_SHAPE if row[0].startswith(("dot", "matmul", "tensordot", "outer"))
              or row[0] in {"A @ B", "x.dot", "v @ w", "transpose axes", "reshape symbolic",
                            "concatenate 1", "stack axis=1", "alloc vector", "arange float",
                            "A[1:-1, -3::-1]", "t[i*1:(i+1)*2]", "set_subtensor slice",
                            "inc_subtensor", "ones symbolic"}]


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_linalg_shape_indexing(dtype):
    table = LINALG_SHAPE if dtype == "float64" else LINALG_F32
    specs = {"A": (dtype, (None, None)), "B": (dtype, (None, None)), "C": (dtype, (None, None)),
             "v": (dtype, (None,)), "w": (dtype, (None,)), "t": (dtype, (None, None, None)),
             "i": ("int64", ()), "n": ("int64", ())}
    f, names = compile_table(table, specs)
    rng = np.random.default_rng(4)
    for i, n in [(1, 3), (0, 2), (-2, 1), (-1, 4)]:
        check_table(f, names, table, linalg_arrays(rng, dtype, i, n), f"{dtype} i={i} n={n}")
    # size-1 and larger operands of the same graph
    shapes = dict(A=(1, 6), B=(6, 1), C=(1, 6), v=(6,), w=(6,), t=(5, 1, 6))
    check_table(f, names, table, linalg_arrays(rng, dtype, 0, 1, shapes), f"{dtype} {shapes}")
    # Python ints are accepted for int64 scalar inputs
    got = f(*[v if k not in "in" else int(v) for k, v in linalg_arrays(rng, dtype).items()])
    assert len(got) == len(table)


# products and joins with empty and size-1 operands
EMPTY_LINALG = [
    ("dot", lambda m, a: m.dot(a.A, a.B)),
    ("matmul vec", lambda m, a: m.matmul(a.A, a.v)),
    ("outer", lambda m, a: m.outer(a.v, a.v)),
    ("concatenate 0", lambda m, a: m.concatenate([a.A, a.A], axis=0)),
    ("concatenate 1", lambda m, a: m.concatenate([a.A, a.A * 2], axis=1)),
    ("stack", lambda m, a: m.stack([a.v, a.v])),
    ("A[1:]", lambda m, a: a.A[1:]),
    ("reshape", lambda m, a: a.A.reshape((-1,))),
    ("T", lambda m, a: a.A.T),
    ("sum dot", lambda m, a: m.dot(a.A, a.B).sum()),
    ("ones_like", lambda m, a: m.ones_like(a.A)),
]


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_linalg_empty_and_unit(dtype):
    f, names = compile_table(EMPTY_LINALG, {"A": (dtype, (None, None)), "B": (dtype, (None, None)),
                                            "v": (dtype, (None,))})
    rng = np.random.default_rng(5)
    for sa, sb, sv in [((0, 3), (3, 2), (3,)), ((2, 0), (0, 3), (0,)), ((3, 4), (4, 0), (4,)),
                       ((1, 1), (1, 1), (1,)), ((1, 5), (5, 1), (5,))]:
        arrays = {"A": rng.normal(size=sa).astype(dtype), "B": rng.normal(size=sb).astype(dtype),
                  "v": rng.normal(size=sv).astype(dtype)}
        check_table(f, names, EMPTY_LINALG, arrays, f"{dtype} A{sa} B{sb} v{sv}")


# --- nnet ---------------------------------------------------------------------------------
NNET = [
    ("nnet.sigmoid", lambda m, a: m.nnet_sigmoid(a.z)),
    ("nnet.softplus", lambda m, a: m.nnet_softplus(a.z)),
    ("nnet.relu", lambda m, a: m.relu(a.z)),
    ("softmax", lambda m, a: m.softmax(a.z)),
    ("softmax axis 0", lambda m, a: m.softmax(a.z, axis=0)),
    ("log_softmax", lambda m, a: m.log_softmax(a.z)),
    ("log_softmax big", lambda m, a: m.log_softmax(a.z * 100)),
    ("softmax big", lambda m, a: m.softmax(a.z * 100)),
    ("cce one-hot", lambda m, a: m.categorical_crossentropy(m.softmax(a.z), a.onehot)),
    ("cce indices", lambda m, a: m.categorical_crossentropy(m.softmax(a.z), a.labels)),
    ("cce mean", lambda m, a: m.categorical_crossentropy(m.softmax(a.z), a.labels).mean()),
    ("bce", lambda m, a: m.binary_crossentropy(m.nnet_sigmoid(a.z), a.target)),
    ("bce weak", lambda m, a: m.binary_crossentropy(m.nnet_sigmoid(a.z), 1)),
    ("logsumexp big", lambda m, a: m.logsumexp(a.z * 1000, axis=1)),
    ("logsumexp -inf row", lambda m, a: m.logsumexp(m.where(a.z > 100, a.z, -np.inf), axis=1)),
    ("softmax 1d", lambda m, a: m.softmax(a.z[0])),
]


@pytest.mark.parametrize("dtype", FLOATS)
def test_nnet(dtype):
    specs = {"z": (dtype, (None, None)), "onehot": (dtype, (None, None)), "labels": ("int64", (None,)),
             "target": (dtype, (None, None))}
    f, names = compile_table(NNET, specs)
    rng = np.random.default_rng(6)
    for n, k in [(5, 4), (1, 3), (4, 1), (2, 10)]:
        labels = rng.integers(0, k, size=n)
        arrays = {"z": rng.normal(size=(n, k)).astype(dtype),
                  "onehot": np.eye(k, dtype=dtype)[labels], "labels": labels,
                  "target": rng.uniform(0, 1, size=(n, k)).astype(dtype)}
        check_table(f, names, NNET, arrays, f"{dtype} ({n}, {k})")


# --- integer and bool dtypes ------------------------------------------------------------------
INT_OPS = [
    ("add", lambda m, a: a.a + a.b),
    ("sub", lambda m, a: a.a - a.b),
    ("mul", lambda m, a: m.mul(a.a, a.b)),
    ("floor_div", lambda m, a: a.a // a.b),
    ("mod", lambda m, a: a.a % a.b),
    ("true_div", lambda m, a: m.true_div(a.a, a.b)),
    ("neg", lambda m, a: -a.a),
    ("abs", lambda m, a: m.abs(a.a)),
    ("sign", lambda m, a: m.sign(a.a)),
    ("maximum", lambda m, a: m.maximum(a.a, a.b)),
    ("minimum", lambda m, a: m.minimum(a.a, a.b)),
    ("eq", lambda m, a: m.eq(a.a, a.b)),
    ("neq", lambda m, a: m.neq(a.a, a.b)),
    ("lt", lambda m, a: a.a < a.b),
    ("le", lambda m, a: m.le(a.a, a.b)),
    ("gt", lambda m, a: m.gt(a.a, a.b)),
    ("ge", lambda m, a: a.a >= a.b),
    ("and_", lambda m, a: m.and_(a.a, a.b)),
    ("or_", lambda m, a: a.a | a.b),
    ("xor", lambda m, a: a.a ^ a.b),
    ("invert", lambda m, a: ~a.a),
    ("not_", lambda m, a: m.not_(a.a)),
    ("where", lambda m, a: m.where(a.a > a.b, a.a, a.b)),
    ("switch int cond", lambda m, a: m.switch(a.a, a.b, 3)),
    ("clip", lambda m, a: m.clip(a.a, 1, 5)),
    ("a*2+1", lambda m, a: a.a * 2 + 1),
    ("a**2", lambda m, a: a.a ** 2),
    ("a*1.5", lambda m, a: a.a * 1.5),
    ("floor ceil round", lambda m, a: m.floor(a.a) + m.ceil(a.b) - m.round(a.a)),
    ("exp", lambda m, a: m.exp(m.cast(a.a % 8, a.a.dtype))),
    ("sqrt", lambda m, a: m.sqrt(m.abs(m.cast(a.a, "int64")))),
    ("sum", lambda m, a: a.a.sum()),
    ("sum axis 0", lambda m, a: m.sum(a.a, axis=0)),
    ("sum axis 1 keepdims", lambda m, a: m.sum(a.b, axis=1, keepdims=True)),
    ("prod axis 1", lambda m, a: m.prod(a.b % 4, axis=1)),
    ("max axis 0", lambda m, a: m.max(a.a, axis=0)),
    ("min", lambda m, a: m.min(a.a)),
    ("argmax axis 1", lambda m, a: m.argmax(a.a, axis=1)),
    ("argmin", lambda m, a: m.argmin(a.b)),
    ("mean axis 1", lambda m, a: a.a.mean(axis=1)),
    ("cast float32", lambda m, a: m.cast(a.a, "float32")),
    ("astype int8", lambda m, a: a.b.astype("int8")),
    ("astype bool", lambda m, a: a.a.astype("bool")),
    ("dot", lambda m, a: m.dot(a.a, a.b.T)),
]

# dtype-independent moves and float results: int32 and uint8 only
INT_EXTRA = [
    ("sin", lambda m, a: m.sin(a.b)),
    ("mean", lambda m, a: m.mean(a.a)),
    ("var axis 0", lambda m, a: m.var(a.a, axis=0)),
    ("std", lambda m, a: m.std(a.b)),
    ("concatenate", lambda m, a: m.concatenate([a.a, a.b], axis=0)),
    ("A[::-1, 1]", lambda m, a: a.a[::-1, 1]),
    ("set_subtensor", lambda m, a: m.set_subtensor(a.a, (slice(None), 0), 7)),
    ("inc_subtensor", lambda m, a: m.inc_subtensor(a.a, (slice(None), slice(1, 3)), a.b[:1, :2])),
    ("zeros_like", lambda m, a: m.zeros_like(a.a)),
    ("arange dtype", lambda m, a: m.arange(0, 6, 2, dtype=a.a.dtype)),
]


INT_CORE = {"add", "sub", "mul", "floor_div", "mod", "true_div", "neg", "abs", "sign", "maximum",
            "lt", "and_", "invert", "a*2+1", "sum axis 0", "prod axis 1", "argmax axis 1",
            "mean axis 1", "cast float32", "astype int8", "dot"}


def int_arrays(rng, dtype, shape_a, shape_b):
    info = np.iinfo(dtype)
    specials = np.array([v for v in [0, 1, -1, 2, -3, 7, info.min, info.max, 100, -100]
                         if info.min <= v <= info.max], dtype=np.int64)

    def draw(shape):
        vals = rng.integers(max(info.min, -50), min(info.max, 50) + 1, size=shape)
        pick = rng.choice(specials, size=shape)
        return np.where(rng.random(shape) < 0.3, pick, vals).astype(dtype)
    return {"a": draw(shape_a), "b": draw(shape_b)}


@pytest.mark.parametrize("dtype", INTS)
def test_int_ops(dtype):
    """Integer arithmetic wraps as NumPy, division/modulo by zero give 0,
    sums accumulate in int64, true division and mean are float64."""
    if dtype in ("int16", "int64"):    # the middle widths: the wrap- and sign-sensitive core
        table = [row for row in INT_OPS if row[0] in INT_CORE]
    else:
        table = INT_OPS + (INT_EXTRA if dtype in ("int32", "uint8") else [])
    f, names = compile_table(table, {"a": (dtype, (None, 4)), "b": (dtype, (None, 4))})
    rng = np.random.default_rng(7)
    for sa, sb in [((5, 4), (5, 4)), ((1, 4), (3, 4)), ((6, 4), (1, 4))]:
        check_table(f, names, table, int_arrays(rng, dtype, sa, sb), f"{dtype} a{sa} b{sb}")


BOOL_OPS = [
    ("and", lambda m, a: a.p & a.q),
    ("or", lambda m, a: m.or_(a.p, a.q)),
    ("xor", lambda m, a: m.xor(a.p, a.q)),
    ("invert", lambda m, a: ~a.p),
    ("not_", lambda m, a: m.not_(a.q)),
    ("eq", lambda m, a: m.eq(a.p, a.q)),
    ("neq", lambda m, a: m.neq(a.p, a.q)),
    ("lt", lambda m, a: a.p < a.q),
    ("where", lambda m, a: m.where(a.p, a.q, False)),
    ("where numbers", lambda m, a: m.where(a.p, 1.5, a.x)),
    ("add (or)", lambda m, a: a.p + a.q),
    ("mul (and)", lambda m, a: a.p * a.q),
    ("maximum", lambda m, a: m.maximum(a.p, a.q)),
    ("sum", lambda m, a: m.sum(a.p)),
    ("sum axis 0", lambda m, a: a.p.sum(axis=0)),
    ("mean", lambda m, a: m.mean(a.q, axis=1)),
    ("max", lambda m, a: m.max(a.p, axis=1)),
    ("any", lambda m, a: a.p.any(axis=0)),
    ("all", lambda m, a: a.q.all(axis=1)),
    ("argmax", lambda m, a: m.argmax(a.q, axis=1)),
    ("cast float64", lambda m, a: m.cast(a.p, "float64")),
    ("cast int8", lambda m, a: a.q.astype("int8")),
    ("bool + int8", lambda m, a: a.p + m.cast(a.x, "int8")),
    ("bool * float", lambda m, a: a.p * a.x),
    ("exp(bool)", lambda m, a: m.exp(a.p)),
    ("matmul", lambda m, a: m.dot(a.p, (a.x > 0).T)),
]


def test_bool_ops():
    f, names = compile_table(BOOL_OPS, {"p": ("bool", (None, None)), "q": ("bool", (None, None)),
                                        "x": ("float64", (None, None))})
    rng = np.random.default_rng(8)
    for sp, sq in [((4, 6), (4, 6)), ((1, 6), (4, 6)), ((4, 6), (4, 1)), ((0, 6), (1, 6))]:
        arrays = {"p": rng.random(sp) < 0.5, "q": rng.random(sq) < 0.5,
                  "x": rng.normal(size=sp)}
        check_table(f, names, BOOL_OPS, arrays, f"bool p{sp} q{sq}")


# --- mixed dtypes: NumPy promotion, weak Python scalars ---------------------------------------
MIXED = [
    ("f32 + f64", lambda m, a: a.f + a.d),
    ("f32 * i32", lambda m, a: a.f * a.i),
    ("f32 * i8", lambda m, a: a.f * a.b),
    ("f32 + i16", lambda m, a: a.f + a.w),
    ("i8 + i16", lambda m, a: a.b + a.w),
    ("u8 + i8", lambda m, a: a.u + a.b),
    ("u8 * i32", lambda m, a: a.u * a.i),
    ("i32 + i64", lambda m, a: a.i + a.l),
    ("i32 / i32", lambda m, a: a.i / a.i),
    ("i8 / i8", lambda m, a: a.b / (a.b * 0 + 3)),
    ("f32 * 0.5", lambda m, a: a.f * 0.5),
    ("f32 + 1", lambda m, a: a.f + 1),
    ("i8 + 1", lambda m, a: a.b + 1),
    ("i8 * 2.5", lambda m, a: a.b * 2.5),
    ("u8 + 3", lambda m, a: a.u + 3),
    ("i32 ** 2", lambda m, a: a.i ** 2),
    ("2 ** f32", lambda m, a: 2 ** a.f),
    ("f32 == i32", lambda m, a: m.eq(a.f, a.i)),
    ("max(f32, i64)", lambda m, a: m.maximum(a.f, a.l)),
    ("where(f32, i8)", lambda m, a: m.where(a.f > 0, a.f, a.b)),
    ("where(i8, 1.5)", lambda m, a: m.where(a.b > 0, a.b, 1.5)),
    ("exp(i8)", lambda m, a: m.exp(m.cast(a.b % 5, "int8"))),
    ("exp(i16)", lambda m, a: m.exp(m.cast(a.w % 5, "int16"))),
    ("exp(u8)", lambda m, a: m.exp(m.cast(a.u % 5, "uint8"))),
    ("log(i32)", lambda m, a: m.log(m.abs(a.i) + 1)),
    ("sum f32", lambda m, a: m.sum(a.f)),
    ("sum i8 -> i64", lambda m, a: m.sum(a.b)),
    ("sum u8 -> i64", lambda m, a: m.sum(a.u)),
    ("mean i32 -> f64", lambda m, a: m.mean(a.i)),
    ("dot f32 i32", lambda m, a: m.dot(a.f, a.i)),
    ("concatenate f32 i8", lambda m, a: m.concatenate([a.f, m.cast(a.b, "int8")])),
    ("clip f32 ints", lambda m, a: m.clip(a.f, -1, 1)),
    ("f64 // i64", lambda m, a: a.d // a.l),
    ("i64 % f32", lambda m, a: a.l % a.f),
]


def test_mixed_dtypes():
    specs = {"f": ("float32", (None,)), "d": ("float64", (None,)), "i": ("int32", (None,)),
             "l": ("int64", (None,)), "b": ("int8", (None,)), "w": ("int16", (None,)),
             "u": ("uint8", (None,))}
    f, names = compile_table(MIXED, specs)
    rng = np.random.default_rng(9)
    for n in [5, 1, 0]:
        arrays = {"f": rng.normal(size=n).astype("float32"), "d": rng.normal(size=n),
                  "i": rng.integers(-20, 20, size=n).astype("int32"),
                  "l": rng.integers(1, 20, size=n).astype("int64"),
                  "b": rng.integers(-128, 128, size=n).astype("int8"),
                  "w": rng.integers(-300, 300, size=n).astype("int16"),
                  "u": rng.integers(0, 256, size=n).astype("uint8")}
        arrays["f"][arrays["f"] == 0] = 0.5
        check_table(f, names, MIXED, arrays, f"mixed n={n}")


def test_eval_and_variable_properties():
    """``var.eval``, ``.ndim``, ``.dtype`` and the Python-level properties."""
    a = T.fmatrix("a")
    assert a.ndim == 2 and a.dtype == "float32"
    assert (a * 0.5).dtype == "float32" and (a * 0.5).ndim == 2
    assert a.sum(axis=0).ndim == 1 and a.argmax().dtype == "int64"
    assert T.dmatrix().T.ndim == 2 and a.flatten().ndim == 1 and a.dimshuffle("x", 0, 1).ndim == 3
    value = np.arange(6, dtype="float32").reshape(2, 3)
    out = (a.T * 2).eval({a: value})
    np.testing.assert_array_equal(out, value.T * 2)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(T.constant(np.arange(3.0)).sum().eval(), 3.0)
