"""Elementwise functions and operators against NumPy: values, dtypes,
shapes, broadcasting (static and run-time) and NumPy 2 promotion."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import theon.tensor as T

from ..frontend_helpers import assert_same, check, rand, run

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FLOATS = ["float32", "float64"]
ALL_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


UNARY = [
    (T.exp, np.exp, (-3, 3)), (T.log, np.log, (0.1, 5)), (T.log1p, np.log1p, (-0.5, 3)),
    (T.expm1, np.expm1, (-3, 3)), (T.sqrt, np.sqrt, (0, 9)), (T.sin, np.sin, (-3, 3)),
    (T.cos, np.cos, (-3, 3)), (T.tan, np.tan, (-1, 1)), (T.tanh, np.tanh, (-3, 3)),
    (T.arctan, np.arctan, (-3, 3)), (T.sigmoid, _sigmoid, (-5, 5)),
    (T.softplus, lambda x: np.log1p(np.exp(x)), (-5, 5)), (T.erf, _erf, (-2, 2)),
    (T.abs, np.abs, (-3, 3)), (T.sign, np.sign, (-3, 3)), (T.floor, np.floor, (-3, 3)),
    (T.ceil, np.ceil, (-3, 3)), (T.round, np.round, (-3, 3)), (T.neg, np.negative, (-3, 3)),
    (T.sqr, np.square, (-3, 3)), (T.log2, np.log2, (0.1, 5)), (T.log10, np.log10, (0.1, 5)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn, ref, domain", UNARY, ids=[u[0].__name__ for u in UNARY])
def test_unary_float(fn, ref, domain, dtype):
    x = T.tensor(dtype, shape=(None, 3))
    data = rand((4, 3), dtype, low=domain[0], high=domain[1])
    check([x], fn(x), [data], ref(data), rtol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("dtype, out", [("int8", "float32"), ("uint8", "float32"), ("int16", "float32"),
                                        ("int32", "float64"), ("int64", "float64"), ("bool", "float32")])
@pytest.mark.parametrize("fn, ref", [(T.exp, np.exp), (T.sqrt, np.sqrt), (T.tanh, np.tanh),
                                     (T.sigmoid, _sigmoid)])
def test_float_math_on_ints_uses_numpy_float_dtype(fn, ref, dtype, out):
    x = T.vector(dtype=dtype)
    data = rand(5, dtype, low=0, high=4)
    y = fn(x)
    assert y.dtype == out
    check([x], y, [data], ref(data.astype(out)))


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool"])
def test_rounding_of_ints_is_the_identity(dtype):
    x = T.vector(dtype=dtype)
    assert T.floor(x) is x and T.ceil(x) is x
    if dtype != "bool":
        assert T.round(x) is x
    assert T.abs(x).dtype == dtype


def test_bool_arithmetic_follows_numpy():
    a, b = T.vector(dtype="bool"), T.vector(dtype="bool")
    da, db = np.array([True, True, False, False]), np.array([True, False, True, False])
    check([a, b], a + b, [da, db], da + db)
    check([a, b], a * b, [da, db], da * db)
    check([a, b], a // b, [da, db], np.floor_divide(da, db))
    check([a, b], a ** b, [da, db], da ** db)
    check([a], T.round(a), [da], np.round(da).astype(np.float32))
    with pytest.raises(TypeError, match="sub"):
        a - b
    with pytest.raises(TypeError, match="neg"):
        -a


OPERATORS = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("truediv", lambda a, b: a / b), ("floordiv", lambda a, b: a // b),
    ("mod", lambda a, b: a % b), ("pow", lambda a, b: a ** b),
    ("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b), ("gt", lambda a, b: a > b),
    ("ge", lambda a, b: a >= b),
]


@pytest.mark.parametrize("dtype", FLOATS + ["int32", "int64"])
@pytest.mark.parametrize("name, op", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_binary_operators_broadcast(name, op, dtype):
    a = T.tensor(dtype, shape=(None, 1, 3))
    b = T.tensor(dtype, shape=(None, 3))
    da = rand((2, 1, 3), dtype, seed=1)
    db = rand((4, 3), dtype, seed=2, low=1, high=3)
    if name == "pow" and dtype.startswith("int"):
        da = np.abs(da)
    out = op(a, b)
    assert out.type.shape == (None, None, 3)
    check([a, b], out, [da, db], op(da, db))


FUNCS = [(T.add, np.add), (T.sub, np.subtract), (T.mul, np.multiply), (T.true_div, np.true_divide),
         (T.floor_div, np.floor_divide), (T.mod, np.remainder), (T.pow, np.power),
         (T.maximum, np.maximum), (T.minimum, np.minimum), (T.eq, np.equal),
         (T.neq, np.not_equal), (T.lt, np.less), (T.le, np.less_equal), (T.gt, np.greater),
         (T.ge, np.greater_equal)]


@pytest.mark.parametrize("fn, ref", FUNCS, ids=[f[0].__name__ for f in FUNCS])
def test_binary_functions_with_runtime_size_one_dims(fn, ref):
    """None dims that turn out to be 1 broadcast at run time (NumPy, not Theano)."""
    a, b = T.matrix(), T.matrix()
    da, db = rand((1, 4), seed=3), rand((3, 1), seed=4, low=0.5, high=2)
    check([a, b], fn(a, b), [da, db], ref(da, db))


@pytest.mark.parametrize("fn, ref", [(T.and_, np.bitwise_and), (T.or_, np.bitwise_or),
                                     (T.xor, np.bitwise_xor)])
@pytest.mark.parametrize("dtype", ["bool", "int32", "uint8"])
def test_logic_functions_and_operators(fn, ref, dtype):
    a, b = T.vector(dtype=dtype), T.vector(dtype=dtype)
    da, db = rand(6, dtype, seed=5), rand(6, dtype, seed=6)
    check([a, b], fn(a, b), [da, db], ref(da, db))
    symbol = {T.and_: a & b, T.or_: a | b, T.xor: a ^ b}[fn]
    check([a, b], symbol, [da, db], ref(da, db))
    check([a], ~a, [da], ~da)
    check([a], T.not_(a), [da], np.logical_not(da))
    check([a], T.invert(a), [da], np.invert(da))


def test_logic_on_floats_is_a_type_error():
    with pytest.raises(TypeError, match="and_"):
        T.vector() & T.vector()
    with pytest.raises(TypeError, match="invert"):
        ~T.vector()
    x = T.vector()
    check([x], T.not_(x), [np.array([0.0, 2.0])], np.array([True, False]))


@pytest.mark.parametrize("expr", [
    lambda x: x * 0.5, lambda x: 0.5 * x, lambda x: x + 1, lambda x: 2 - x, lambda x: x / 2,
    lambda x: x ** 2, lambda x: x > 1.5, lambda x: x % 3, lambda x: 7 // x,
])
@pytest.mark.parametrize("xdtype", ["float32", "int32", "int8", "uint8"])
def test_weak_python_scalars(expr, xdtype):
    x = T.vector(dtype=xdtype)
    data = rand(4, xdtype, low=1, high=4)
    expected = expr(data)
    out = expr(x)
    assert out.dtype == expected.dtype.name
    assert_same(run([x], out, data), expected)


def test_weak_scalar_examples_from_the_brief():
    assert (T.fvector() * 0.5).dtype == "float32"
    assert (T.ivector() + 1).dtype == "int32"
    assert (T.ivector() * 1.5).dtype == "float64"
    assert (T.ivector() / T.ivector()).dtype == "float64"
    assert (T.vector(dtype="bool") + True).dtype == "bool"
    assert (T.vector(dtype="bool") + 1).dtype == "int64"
    assert (T.fvector() * T.dscalar()).dtype == "float64"      # 0-d tensors are strong
    assert (T.fvector() * np.float64(2)).dtype == "float64"    # NumPy scalars are strong
    with pytest.raises(OverflowError, match="1000"):
        T.bvector() + 1000


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES + ["py_int", "py_float"]),
       st.sampled_from(["add", "mul", "maximum", "lt", "eq", "truediv", "where"]))
def test_random_promotion_matches_numpy(adtype, bdtype, opname):
    data_a = rand(5, adtype, seed=7, low=1, high=4)
    a = T.vector(dtype=adtype)
    if bdtype == "py_int":
        b, data_b, inputs, values = 2, 2, [a], [data_a]
    elif bdtype == "py_float":
        b, data_b, inputs, values = 1.5, 1.5, [a], [data_a]
    else:
        b, data_b = T.vector(dtype=bdtype), rand(5, bdtype, seed=8, low=1, high=4)
        inputs, values = [a, b], [data_a, data_b]
    ufuncs = {"add": np.add, "mul": np.multiply, "maximum": np.maximum, "lt": np.less,
              "eq": np.equal, "truediv": np.true_divide}
    if opname == "where":
        cond = np.array([True, False, True, False, True])
        expected = np.where(cond, data_a, data_b)
        out = T.where(T.constant(cond), a, b)
    else:
        try:
            expected = ufuncs[opname](data_a, data_b)
        except TypeError:
            with pytest.raises(TypeError):
                getattr(T, {"truediv": "true_div"}.get(opname, opname))(a, b)
            return
        out = getattr(T, {"truediv": "true_div"}.get(opname, opname))(a, b)
    if expected.dtype == np.float16:
        expected = expected.astype(np.float32)
    assert_same(run(inputs, out, *values), expected, rtol=1e-3)


def test_numpy_arrays_lists_and_scalars_on_either_side():
    x = T.vector()
    data = rand(3)
    left = np.array([1.0, 2.0, 3.0])
    for expr, expected in [
        (left + x, left + data), (left * x, left * data), (left - x, left - data),
        (left / x, left / data), ([1.0, 2.0, 3.0] - x, left - data), (x - [1, 2, 3], data - [1, 2, 3]),
        (np.float64(2) ** x, 2.0 ** data), (3 // x, 3 // data), (3 % x, 3 % data),
        (np.ones(3) < x, np.ones(3) < data), (np.ones(3) >= x, np.ones(3) >= data),
    ]:
        assert isinstance(expr, T.TensorVariable)
        assert_same(run([x], expr, data), expected)


def test_unary_operators():
    x = T.vector()
    data = rand(4)
    check([x], -x, [data], -data)
    check([x], +x, [data], data)
    check([x], abs(x), [data], np.abs(data))
    check([x], round(x), [data], np.round(data))
    check([x], divmod(x, 2)[1], [data], np.divmod(data, 2)[1])


def test_empty_and_zero_d_operands():
    x, s = T.vector(), T.scalar()
    check([x, s], x * s + 1, [np.zeros(0), np.array(2.0)], np.zeros(0) * 2.0 + 1)
    check([s], T.exp(s) - s, [np.array(0.5)], np.exp(np.array(0.5)) - 0.5)
    assert (s + s).type.shape == ()


def test_static_shape_conflict_names_both_shapes():
    a = T.tensor("float64", shape=(3, 4))
    b = T.tensor("float64", shape=(5,))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        a + b
    ok = T.matrix() + T.tensor("float64", shape=(3, 4, 5))
    assert ok.type.shape == (3, 4, 5)


def test_where_switch_and_clip():
    c, a, b = T.vector(dtype="bool"), T.fvector(), T.dvector()
    dc, da, db = rand(5, "bool"), rand(5, "float32"), rand(5, "float64", seed=2)
    check([c, a, b], T.where(c, a, b), [dc, da, db], np.where(dc, da, db))
    check([c, a], T.switch(c, a, 0.5), [dc, da], np.where(dc, da, np.float32(0.5)))
    i = T.ivector()
    di = np.array([0, 3, -1, 0, 2], np.int32)
    check([i, a], T.where(i, a, 2), [di, da], np.where(di != 0, da, np.float32(2)))
    check([a], T.clip(a, -1, 1.5), [da], np.clip(da, -1, 1.5))
    check([i], T.clip(i, 0, 2), [di], np.clip(di, 0, 2))
    check([i], i.clip(0, 1.5), [di], np.clip(di, 0, 1.5))
    with pytest.raises(NotImplementedError, match="one-argument"):
        T.where(c)


def test_cast_and_astype():
    x = T.vector()
    data = np.array([-1.7, 0.2, 2.9, 300.0])
    assert T.cast(x, "float64") is x
    check([x], T.cast(x, "int32"), [data], data.astype(np.int32))
    check([x], x.astype("bool"), [data], data != 0)
    check([x], x.astype(np.float32), [data], data.astype(np.float32))
    check([x], x.astype("float16"), [data], data.astype(np.float16))
    with pytest.raises(TypeError, match="complex64"):
        x.astype("complex64")


def test_round_modes():
    x = T.fvector()
    data = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.4], np.float32)
    check([x], T.round(x), [data], np.round(data))
    check([x], T.round(x, "half_away_from_zero"), [data], np.sign(data) * np.floor(np.abs(data) + 0.5))
    with pytest.raises(ValueError, match="mode"):
        T.round(x, "up")


def test_isnan_isinf():
    x = T.vector()
    data = np.array([np.nan, np.inf, -np.inf, 1.0])
    check([x], T.isnan(x), [data], np.isnan(data))
    check([x], T.isinf(x), [data], np.isinf(data))
    i = T.ivector()
    check([i], T.isinf(i), [np.array([1, 2], np.int32)], np.array([False, False]))


def test_operators_refuse_unknown_objects():
    x = T.vector()
    with pytest.raises(TypeError):
        x + object()
    with pytest.raises(TypeError):
        x + "abc"
