"""The ops autodiff adds (sum_to, stop_gradient), and gradients under random
broadcasting with random static/unknown dims (hypothesis)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from theon.ir.autodiff import shape_root
from theon.ir.core import DYN

from ..grad_helpers import check_first_order, const, op, run, var


# --- sum_to ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("g_shape, target", [((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 1, 1)),
                                             ((2, 3), (2, 3)), ((3,), ()), ((1, 3), (1, 3))])
def test_sum_to_reference_is_numpy_sum(g_shape, target):
    g = np.arange(np.prod(g_shape), dtype=float).reshape(g_shape)
    x = var(g_shape)
    out = op("sum_to", x, shape=target)
    assert out.type.shape == target
    lead = len(g_shape) - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target) if d == 1 and g_shape[lead + i] != 1)
    expected = g.sum(axis=axes, keepdims=True).reshape(target)
    np.testing.assert_array_equal(run([x], [out], [g])[0], expected)


def test_sum_to_dynamic_target_decides_at_run_time():
    x, n = var((None, 3)), var((), "int64")
    out = op("sum_to", x, n, shape=(DYN, 3))
    assert out.type.shape == (None, 3)
    g = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(run([x, n], [out], [g, 1])[0], g.sum(0, keepdims=True))
    np.testing.assert_array_equal(run([x, n], [out], [g, 2])[0], g)
    with pytest.raises(ValueError, match="sum_to"):
        run([x, n], [out], [g, 3])


def test_sum_to_static_errors():
    x = var((2, 3))
    with pytest.raises(ValueError, match="more dims"):
        op("sum_to", x, shape=(1, 2, 3))
    with pytest.raises(ValueError, match="neither 1 nor 3"):
        op("sum_to", x, shape=(2, 2))
    with pytest.raises(ValueError, match="dynamic operands"):
        op("sum_to", x, shape=(DYN, 3))


def test_stop_gradient_is_identity_and_checks_kind():
    x = var((3,))
    v = np.array([1.0, 2.0, 3.0])
    for kind in ("zero", "disconnected"):
        np.testing.assert_array_equal(run([x], [op("stop_gradient", x, kind=kind)], [v])[0], v)
    with pytest.raises(ValueError, match="kind"):
        op("stop_gradient", x, kind="maybe")


def test_shape_root():
    x, y = var((None, None)), var((None, None))
    a = op("sin", op("mul", x, const(2.0)))
    b = op("add", a, op("exp", x))
    assert shape_root(a) is x and shape_root(b) is x
    assert shape_root(op("add", x, y)) is not x                    # may broadcast
    assert shape_root(op("add", x, var((1, 1)))) is x             # static 1s cannot
    assert shape_root(op("add", var((None,)), x)).ndim == 2


# --- random broadcasting ---------------------------------------------------------------------------
@st.composite
def broadcast_case(draw):
    ndim = draw(st.integers(0, 3))
    out = [draw(st.integers(2, 3)) for _ in range(ndim)]
    shapes = []
    for _ in range(2):
        k = draw(st.integers(0, ndim))
        shapes.append(tuple(draw(st.sampled_from([1, d])) for d in out[ndim - k:]))
    static = [tuple(draw(st.sampled_from([d, None])) for d in s) for s in shapes]
    name = draw(st.sampled_from(["add", "sub", "mul", "div", "maximum", "pow", "where"]))
    return name, shapes, static


@settings(max_examples=80, deadline=None)
@given(broadcast_case())
def test_random_broadcasting(case):
    name, shapes, static = case
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(0.5, 1.5, s) for s in shapes]
    arrays[1] = np.asarray(arrays[1] + 1.0 if name == "maximum" else arrays[1])    # no ties

    def fn(x, y):
        if name == "where":
            return op("where", op("gt", x, const(1.0)), x, y)
        return op(name, x, y)

    check_first_order(fn, arrays, [0, 1], dynamic=list(static))
