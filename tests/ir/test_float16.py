"""float16 as an IR dtype: types, NumPy promotion in the DSL, IR text, and
the ``legalize-f16`` pass (float16 arithmetic -> float32 between casts).

The pass is checked against the reference interpreter: NumPy computes a
float16 ufunc in float32 and rounds its result, so a legalized elementwise
graph gives NumPy's float16 results bit for bit; reductions accumulate in
float32 and round once (bounded below by float16's half ulp).
"""
import io
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import theon
import theon.tensor as T
from theon.config import config
from theon.frontend.build import build_function
from theon.ir import interpreter
from theon.ir.builder import Builder
from theon.ir.core import Function
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.types import DTYPES, TensorType, canonical_dtype, is_float
from theon.ir.verifier import verify_function
from theon.passes import PASSES, PassManager, parse_pipeline
from theon.passes.legalize_f16 import is_legal, legalize, legalized, needs_legalizing
from theon.runtime.opt_cli import main as theon_opt
from theon.runtime.pipeline import PIPELINES, for_target

RNG = np.random.default_rng(16)
ALL = sorted(DTYPES)
F16_EPS = float(np.finfo(np.float16).eps)       # 2**-10


def f16(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float16)


def bits(a):
    return np.asarray(a).view(np.uint16)


def func_of(inputs, outputs):
    return build_function(inputs, outputs)[0]


def run(func, *args):
    """The outputs of ``func`` by the reference interpreter (NumPy)."""
    return interpreter.evaluate(func, list(args))[0]


# --- the type ------------------------------------------------------------------------------------------
def test_float16_is_a_float_dtype_with_text_f16():
    t = TensorType("float16", (None, 3))
    assert str(t) == "tensor<?x3xf16>" and is_float("float16")
    assert canonical_dtype(np.float16) == canonical_dtype("f16") == canonical_dtype("half") == "float16"
    assert T.tensor("float16", shape=(None, None)).type == TensorType("float16", (None, None))
    assert T.matrix(dtype="float16").dtype == "float16"


def test_bfloat16_is_not_a_dtype():
    with pytest.raises(TypeError, match="dtype"):
        T.vector(dtype="bfloat16")


# --- promotion (NumPy's) ---------------------------------------------------------------------------------
BINARY = [(T.add, np.add), (T.mul, np.multiply), (T.true_div, np.true_divide), (T.maximum, np.maximum),
          (T.lt, np.less)]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(ALL), st.sampled_from(ALL), st.sampled_from(BINARY))
def test_binary_promotion_matches_numpy(d1, d2, ops):
    fn, ufunc = ops
    x, y = T.vector(dtype=d1), T.vector(dtype=d2)
    got = fn(x, y).dtype
    want = ufunc(np.ones(1, d1), np.ones(1, d2)).dtype.name
    if want == "float16" and "float16" not in (d1, d2):
        want = "float32"        # NumPy's float16 for small ints: theon (and Theano) use float32
    assert got == want, (d1, d2, fn.__name__)
    if fn is T.add:
        assert got == np.result_type(d1, d2).name


@pytest.mark.parametrize("other,want", [("int8", "float16"), ("uint8", "float16"), ("bool", "float16"),
                                        ("int16", "float32"), ("uint16", "float32"), ("int32", "float64"),
                                        ("float32", "float32"), ("float64", "float64")])
def test_float16_with_other_dtypes(other, want):
    x = T.vector(dtype="float16")
    assert (x + T.vector(dtype=other)).dtype == want == np.result_type(np.float16, other).name


def test_weak_scalars_and_math_keep_float16():
    x = T.vector(dtype="float16")
    assert (x * 1.5).dtype == (x + 1).dtype == (2 - x).dtype == "float16"
    assert T.exp(x).dtype == T.sqrt(x).dtype == T.tanh(x).dtype == (x / x).dtype == "float16"
    assert T.exp(T.bvector()).dtype == "float32"          # NumPy: float16; Theano/theon: float32
    assert (x // 2).dtype == (x % 2).dtype == "float16"
    assert T.sum(x).dtype == T.max(x).dtype == T.mean(x).dtype == "float16"


def test_mean_sums_in_float32_and_rounds_once():
    x = T.vector(dtype="float16")
    data = np.full(3000, 0.1, np.float16)           # the float16 running sum would stall at 256
    out = run(func_of([x], [T.mean(x)]), data)[0]
    assert out.dtype == np.float16 and out == data.mean() == np.float16(np.float32(data).mean())


def test_floatx_float16():
    saved = config.floatX
    try:
        config.floatX = "float16"
        assert T.vector().dtype == T.constant(1.5).dtype == (T.vector() * 0.5).dtype == "float16"
        w = theon.shared(0.25, name="w16")
        assert w.get_value().dtype == np.float16
    finally:
        config.floatX = saved


def test_shared_float16_keeps_its_dtype():
    w = theon.shared(np.arange(3, dtype=np.float16), name="w")
    assert w.type.dtype == "float16" and w.get_value().dtype == np.float16
    w.set_value(np.ones(3, np.float16))
    with pytest.raises(TypeError, match="float16"):
        w.set_value(np.ones(3, np.float32))        # a downcast, refused as for every dtype


def test_linear_algebra_refuses_float16():
    from theon.tensor import nlinalg, slinalg
    x = T.matrix(dtype="float16")
    for fn, name in [(nlinalg.matrix_inverse, "matrix_inverse"), (slinalg.cholesky, "cholesky"),
                     (nlinalg.svd, "svd"), (nlinalg.qr, "qr")]:
        with pytest.raises(TypeError, match=f"{name}: a is float16"):
            fn(x)


# --- IR text -------------------------------------------------------------------------------------------
SPECIALS = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6e-8, 6.1e-5, 1e-4, np.inf, -np.inf, np.nan,
                     0.1, 1 / 3], np.float16)


def test_printer_parser_round_trip_bit_for_bit():
    payload_nan = np.array([0x7C01, 0xFE00, 0x7D55], np.uint16).view(np.float16)
    values = np.concatenate([SPECIALS, payload_nan, np.arange(2048, dtype=np.uint16).view(np.float16)])
    f = Function("f", [TensorType("float16", (None,))], ["x"])
    b = Builder(f.body)
    c = b("constant", value=values)
    b.create("return", [b("add", f.args[0], c), b("cast", c, dtype="float32")])
    text = print_function(f)
    assert "tensor<?xf16>" in text and "0x7C01" in text
    g = parse_function(text)
    verify_function(g)
    assert print_function(g) == text
    back = g.body.ops[0].attrs["value"]
    assert back.dtype == np.float16 and np.array_equal(bits(back), bits(values))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 0xFFFF))
def test_every_float16_pattern_round_trips(pattern):
    v = np.array([pattern], np.uint16).view(np.float16)
    f = Function("f", [], [])
    b = Builder(f.body)
    b.create("return", [b("constant", value=v)])
    g = parse_function(print_function(f))
    assert bits(g.body.ops[0].attrs["value"])[0] == pattern


# --- the pass --------------------------------------------------------------------------------------------
def _ops(func):
    return [op.name for op in func.body.ops]


def test_registered_in_the_pipelines_before_fusion():
    assert PASSES["legalize-f16"].name == "legalize-f16"
    for name in ("fast_run", "fast_compile"):
        p = PIPELINES[name]
        assert p.index("legalize-f16") < next(i for i, n in enumerate(p) if n.startswith("fuse-elementwise"))
    assert "legalize-f16{target=gpu}" in for_target(PIPELINES["fast_run"], "gpu")
    assert str(parse_pipeline("legalize-f16{target=gpu}")[0]) == "legalize-f16{target=gpu}"


def test_elementwise_op_becomes_float32_between_casts():
    x = T.vector(dtype="float16")
    func = func_of([x], [T.exp(x)])
    assert needs_legalizing(func.body.ops[0])
    assert legalize(func) == 1
    verify_function(func)
    text = print_function(func)
    assert _ops(func) == ["cast", "exp", "cast", "return"], text
    assert re.search(r"exp\(%\d+\) : tensor<\?xf32>", text) and '{dtype = "float16"} : tensor<?xf16>' in text
    assert is_legal(func) and legalize(func) == 0


def test_storage_ops_stay_float16():
    x = T.matrix(dtype="float16")
    outs = [x.T, x[1:3], x.reshape((-1,)), T.concatenate([x, x]), T.set_subtensor(x[0], x[1]), x[[0, 2]],
            T.cast(x, "int32"), x.shape[0]]
    func = func_of([x], outs)
    before = _ops(func)
    assert is_legal(func) and legalize(func) == 0 and _ops(func) == before


def test_cpu_legalizes_matmul_gpu_keeps_it():
    a, b = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    cpu, gpu = func_of([a, b], [T.dot(a, b)]), func_of([a, b], [T.dot(a, b)])
    legalize(cpu, "cpu")
    legalize(gpu, "gpu")
    assert re.search(r"matmul\(%\d+, %\d+\) : tensor<\?x\?xf32>", print_function(cpu))
    assert _ops(gpu) == ["matmul", "return"] and gpu.body.ops[0].results[0].dtype == "float16"
    # a CPU-legalized product becomes a float16 product again for the GPU (same value)
    g2 = legalized(cpu, "gpu")
    assert _ops(g2) == ["matmul", "return"] and g2.body.ops[0].results[0].dtype == "float16"
    A, B = f16(5, 7), f16(7, 3)
    assert np.array_equal(bits(run(cpu, A, B)[0]), bits(run(g2, A, B)[0]))


def test_gpu_raise_leaves_a_shared_product_alone():
    a, b = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    p = T.dot(T.cast(a, "float32"), T.cast(b, "float32"))
    func = func_of([a, b], [T.cast(p, "float16"), p * 2])
    assert _ops(legalized(func, "gpu")) == _ops(func)


def test_reductions_and_softmax_legalize():
    x = T.matrix(dtype="float16")
    outs = [T.sum(x, axis=0), T.argmax(x, axis=1), T.max(x), T.nnet.softmax(x)]
    func = func_of([x], outs)
    legalize(func)
    verify_function(func)
    for op in func.walk():
        if op.name not in ("cast",) and not op.opdef.f16_storage:
            assert all(v.dtype != "float16" for v in (*op.operands, *op.results)), op.name
    assert [v.dtype for v in func.outputs] == ["float16", "int64", "float16", "float16"]


def test_float16_random_draws():
    """Drawn in float32 and rounded (Theano 1.0 drew float16 too); a uniform stays below 1."""
    srng = T.shared_randomstreams.RandomStreams(3)
    u, z = srng.uniform((4000,), dtype="float16"), srng.normal((4000,), dtype="float16")
    assert u.dtype == z.dtype == "float16"
    func, shared = build_function([], [u, z])
    uv, zv = run(func, *[s.get_value() for s in shared])
    assert uv.dtype == zv.dtype == np.float16
    assert uv.min() >= 0 and uv.max() < 1 and abs(uv.mean() - 0.5) < 0.03
    assert abs(zv.mean()) < 0.1 and abs(zv.std() - 1) < 0.1
    with pytest.raises(TypeError, match="dtype must be float16, float32 or float64"):
        srng.uniform((4,), dtype="int8")


def test_legalized_reductions_round_once():
    x = T.matrix(dtype="float16")
    func = func_of([x], [T.sum(x, axis=0), T.sum(x, axis=1), T.prod(x[:4], axis=0)])
    data = f16(600, 40)
    legalize(func)
    s0, s1, p = run(func, data)
    exact0, exact1 = data.astype(np.float64).sum(0), data.astype(np.float64).sum(1)
    # float32 accumulation (error <= n eps32 sum|x|), then one rounding (half an ulp)
    for got, exact, n, mag in [(s0, exact0, 600, np.abs(data.astype(np.float64)).sum(0)),
                               (s1, exact1, 40, np.abs(data.astype(np.float64)).sum(1))]:
        bound = np.abs(exact) * F16_EPS / 2 + n * 2.0 ** -24 * mag * (1 + F16_EPS) + 2.0 ** -25
        assert got.dtype == np.float16 and np.all(np.abs(got - exact) <= bound)
    # NumPy's axis-0 sum adds row after row in float16: theon's error is never larger than its bound
    numpy0 = data.sum(0)
    assert np.abs(s0 - exact0).max() <= np.abs(numpy0 - exact0).max()
    np.testing.assert_allclose(p, data[:4].astype(np.float64).prod(0), rtol=4 * F16_EPS, atol=2.0 ** -24)


UNARY = [T.exp, T.log, T.sqrt, T.tanh, T.sin, T.sigmoid, T.floor, T.abs_, T.neg, T.log1p, T.expm1, T.sqr]
BINOPS = [T.add, T.sub, T.mul, T.true_div, T.maximum, T.minimum, T.pow, T.mod]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 100)), min_size=1, max_size=6),
       st.integers(0, 2 ** 31 - 1))
def test_legalized_elementwise_chains_are_numpy_bit_for_bit(prog, seed):
    """Random chains of float16 ops: the legalized graph (float32 ops with a
    rounding per op) gives NumPy's float16 results exactly."""
    x, y = T.vector(dtype="float16"), T.vector(dtype="float16")
    vals = [x, y]
    for kind, k in prog:
        a = vals[k % len(vals)]
        if kind == 0:
            vals.append(UNARY[k % len(UNARY)](a))
        else:
            vals.append(BINOPS[k % len(BINOPS)](a, vals[(k // 7) % len(vals)]))
    func = func_of([x, y], [vals[-1]])
    rng = np.random.default_rng(seed)
    data = [(rng.standard_normal(64) * 3).astype(np.float16) for _ in range(2)]
    with np.errstate(all="ignore"):
        want = run(func, *data)[0]           # NumPy's float16 ufuncs
        legalize(func)
        verify_function(func)
        got = run(func, *data)[0]
    assert got.dtype == np.float16
    same = (bits(got) == bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (print_function(func), got[~same], want[~same])


def test_theon_opt_prints_the_pass(tmp_path, capsys):
    path = tmp_path / "f.theon"
    path.write_text('func @f(%x: tensor<?xf16>) {\n  %0 = tanh(%x) : tensor<?xf16>\n  return(%0)\n}\n')
    assert theon_opt([str(path), "-p", "legalize-f16,cse", "--print-ir-after-all"]) == 0
    out, err = capsys.readouterr()
    assert "legalize-f16" in err and "tanh(%0) : tensor<?xf32>" in out
    assert theon_opt([str(path), "-p", "legalize-f16{target=tpu}"]) == 1
    assert "target must be one of" in capsys.readouterr().err


def test_pass_manager_prints_after_legalization():
    x = T.vector(dtype="float16")
    func = func_of([x], [x * x + 1.0])
    log = io.StringIO()
    PassManager(parse_pipeline("legalize-f16"), print_ir_after_all=True, out=log).run(func)
    assert "After legalize-f16" in log.getvalue()
    assert re.search(r"mul\(%(\d+), %\1\) : tensor<\?xf32>", log.getvalue())
