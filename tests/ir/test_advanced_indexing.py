"""Advanced (integer-array) indexing with the NumPy reference interpreter:
``x[key]``, ``set_subtensor``/``inc_subtensor`` on such targets and
``take`` against NumPy (hypothesis over shapes, keys mixing index arrays
with ints, slices and None, negative and broadcast indices), the IR ops'
inference and text round trip, bad input, gradients against finite
differences. Native code: tests/native/test_advanced_indexing_native.py."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import theon
import theon.ir.core
import theon.tensor as T
from theon.frontend.basic import apply_op
from theon.frontend.build import build_function
from theon.ir.core import Function
from theon.ir.builder import Builder
from theon.ir.interpreter import evaluate
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.types import TensorType
from theon.ir.verifier import verify_function

from ..frontend_helpers import run
from ..grad_helpers import check_first_order, check_jacobian


# --- random keys ------------------------------------------------------------------------------
@st.composite
def keys(draw, max_ndim=4):
    """(x, key for theon with index arrays as (name, array), NumPy key)."""
    ndim = draw(st.integers(1, max_ndim))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    bshape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    n_used = draw(st.integers(1, ndim))
    kinds = draw(st.lists(st.sampled_from(["arr", "arr", "int", "full", "slice"]),
                          min_size=n_used, max_size=n_used))
    if "arr" not in kinds:
        kinds[draw(st.integers(0, n_used - 1))] = "arr"
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    key, npkey = [], []
    for axis, kind in enumerate(kinds):
        if draw(st.booleans()) and draw(st.booleans()):
            key.append(None)
            npkey.append(None)
        n = shape[axis]
        if kind == "arr":
            lead = draw(st.integers(0, len(bshape) - 1))
            ashape = tuple(d if draw(st.booleans()) else 1 for d in bshape[lead:])
            dtype = draw(st.sampled_from(["int64", "int32", "int8"]))
            a = rng.integers(-n, n, ashape).astype(dtype)
            key.append(("arr", a))
            npkey.append(a)
        elif kind == "int":
            i = int(rng.integers(-n, n))
            key.append(i)
            npkey.append(i)
        elif kind == "full":
            key.append(slice(None))
            npkey.append(slice(None))
        else:
            s = slice(int(rng.integers(-n, n + 1)), int(rng.integers(-n - 1, n + 1)),
                      int(rng.choice([-2, -1, 1, 2])))
            key.append(s)
            npkey.append(s)
    x = rng.standard_normal(shape)
    return x, key, tuple(npkey)


def _symbolic(key, x_static):
    """theon variables for the index arrays of ``key`` (all dims unknown, or
    static) and the key with them."""
    inputs, values, out = [], [], []
    for item in key:
        if isinstance(item, tuple) and item[0] == "arr":
            a = item[1]
            v = T.tensor(a.dtype.name, shape=a.shape if x_static else (None,) * a.ndim)
            inputs.append(v)
            values.append(a)
            out.append(v)
        else:
            out.append(item)
    return inputs, values, tuple(out)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(keys(), st.booleans())
def test_getitem_matches_numpy(case, static):
    x, key, npkey = case
    xv = T.tensor("float64", shape=x.shape if static else (None,) * x.ndim)
    inputs, values, tkey = _symbolic(key, static)
    out = xv[tkey]
    expected = x[npkey]
    got = run([xv] + inputs, out, x, *values)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    for s, e in zip(out.type.shape, expected.shape):
        assert s is None or s == e


@SETTINGS
@given(keys(), st.booleans(), st.booleans())
def test_set_and_inc_match_numpy(case, inc, scalar_value):
    x, key, npkey = case
    xv = T.tensor("float64", shape=(None,) * x.ndim)
    inputs, values, tkey = _symbolic(key, False)
    region = x[npkey].shape
    v = np.random.default_rng(1).standard_normal(() if scalar_value else region)
    vv = T.tensor("float64", shape=(None,) * v.ndim)
    fn = T.inc_subtensor if inc else T.set_subtensor
    out = fn(xv[tkey], vv)
    expected = x.copy()
    if inc:
        np.add.at(expected, npkey, v)           # accumulates over repeated indices
    else:
        expected[npkey] = v
    got = run([xv, vv] + inputs, out, x, v, *values)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_inc_accumulates_repeated_indices():
    x = T.dvector()
    i = T.lvector()
    got = run([x, i], T.inc_subtensor(x[i], 1.0), np.zeros(4), np.array([1, 1, -3, 3, 0]))
    np.testing.assert_array_equal(got, [1, 3, 0, 1])


@pytest.mark.parametrize("key, idx, shape", [
    ((slice(None), "i"), (":", "a"), (5, 3, 2)),         # arrays adjacent: B in place
    (("i", slice(None), "j"), ("a", ":", "a"), (3, 2, 5)),  # separated: B first
    ((None, "i", "j"), ("x", "a", "a"), (1, 3, 2)),
    (("i", None, "j"), ("a", "x", "a"), (3, 2, 1)),
])
def test_layout_and_text_round_trip(key, idx, shape):
    x = T.tensor("float64", shape=(5, 4, 6))
    i = T.tensor("int64", shape=(3, 2))
    j = T.tensor("int32", shape=(2,))
    names = {"i": i, "j": j}
    out = x[tuple(names.get(k, k) if isinstance(k, str) else k for k in key)]
    assert out.owner.name == "adv_subtensor"
    assert out.owner.attrs["idx"] == idx
    xs = np.arange(120.0).reshape(5, 4, 6)
    iv = np.array([[0, -1], [2, 3], [1, 1]])
    jv = np.array([-2, 1], dtype=np.int32)
    npkey = tuple({"i": iv, "j": jv}.get(k, k) if isinstance(k, str) else k for k in key)
    expected = xs[npkey]
    assert out.type.shape == expected.shape
    func, _ = build_function([x, i, j], [out, T.inc_subtensor(out, 1.0)])
    text = print_function(func)
    again = parse_function(text)
    verify_function(again)
    assert print_function(again) == text
    got, _ = evaluate(again, [xs, iv, jv])
    np.testing.assert_array_equal(got[0], expected)


def test_slices_are_applied_first_and_set_puts_them_back():
    x = T.dmatrix()
    i = T.lvector()
    sub = x[1:4, i]
    assert sub.owner.name == "adv_subtensor" and sub.owner.operands[0].owner.name == "subtensor"
    xs = np.arange(20.0).reshape(5, 4)
    iv = np.array([3, 0, 3])
    np.testing.assert_array_equal(run([x, i], sub, xs, iv), xs[1:4, iv])
    expected = xs.copy()
    np.add.at(expected, (slice(1, 4), iv), 10.0)
    np.testing.assert_array_equal(run([x, i], T.inc_subtensor(sub, 10.0), xs, iv), expected)


@pytest.mark.parametrize("axis, mode", [(None, "raise"), (0, "raise"), (1, "raise"), (-1, "wrap"),
                                        (0, "clip"), (1, "wrap")])
def test_take(axis, mode):
    a = np.arange(24.0).reshape(4, 6)
    ind = np.array([[0, -1], [3, 2]]) if mode == "raise" else np.array([[0, -9], [17, 2]])
    x = T.dmatrix()
    i = T.lmatrix()
    expected = np.take(a, ind, axis=axis, mode=mode)
    np.testing.assert_array_equal(run([x, i], T.take(x, i, axis=axis, mode=mode), a, ind), expected)
    np.testing.assert_array_equal(run([x, i], x.take(i, axis=axis, mode=mode), a, ind), expected)


def test_take_scalar_index():
    x = T.dmatrix()
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(run([x], T.take(x, 2, axis=1), a), np.take(a, 2, axis=1))


# --- bad input --------------------------------------------------------------------------------
def test_out_of_range_index_raises_index_error_naming_the_operand():
    x = T.dvector()
    i = T.lvector()
    with pytest.raises(IndexError, match=r"index 7 in index operand 0 is out of bounds for axis 0 with size 3"):
        run([x, i], x[i], np.zeros(3), np.array([0, 7]))
    with pytest.raises(IndexError, match=r"index -4"):
        run([x, i], T.inc_subtensor(x[i], 1.0), np.zeros(3), np.array([-4]))


@pytest.mark.parametrize("key, err, match", [
    ([0.5, 1.0], IndexError, "integer arrays"),
    (np.array(True), NotImplementedError, "boolean"),
    ([True, False, True], IndexError, "boolean index did not match"),
    (([0], [0], [0]), IndexError, "too many indices"),
])
def test_bad_keys(key, err, match):
    with pytest.raises(err, match=match):
        T.tensor("float64", shape=(2, 4))[key]


def test_float_index_variable_is_refused():
    with pytest.raises(IndexError, match="integer dtype"):
        T.dmatrix()[T.dvector()]


def test_index_arrays_that_do_not_broadcast():
    with pytest.raises(ValueError, match="cannot be broadcast"):
        T.dmatrix()[T.tensor("int64", shape=(3,)), T.tensor("int64", shape=(2,))]


def test_ir_op_checks_its_attribute():
    f = Function("f", [TensorType("float64", (3,)), TensorType("int64", (2,))], ["x", "i"])
    b = Builder(f.body)
    with pytest.raises(ValueError, match="takes 1 index operands, got 0"):
        b("adv_subtensor", f.args[0], idx=("a",))
    with pytest.raises(ValueError, match="no index array"):
        b("adv_subtensor", f.args[0], idx=(":",))
    with pytest.raises(ValueError, match="idx must list"):
        b("adv_subtensor", f.args[0], f.args[1], idx=(0,))
    with pytest.raises(TypeError, match="integer dtype"):
        b("adv_subtensor", f.args[1], f.args[0], idx=("a",))


# --- gradients ----------------------------------------------------------------------------------
I1 = np.array([2, 0, 2, -1])
I2 = np.array([[1], [0], [-2]])


@pytest.mark.parametrize("fn", [
    lambda x: x[T.constant(I1)],                                     # repeated indices: they add
    lambda x: x[T.constant(I2), :, T.constant(I1[:3] % 2)],
    lambda x: x[:, T.constant(I1)] * 2.0,
    lambda x: T.set_subtensor(x[T.constant(I1[:2])], 0.0) ** 2,        # zero where overwritten
    lambda x: T.inc_subtensor(x[T.constant(I1)], 1.0) ** 2,
    lambda x: T.take(x, T.constant(I2), axis=1),
])
@pytest.mark.parametrize("dynamic", [False, True])
def test_gradient_matches_finite_differences(fn, dynamic):
    x = np.random.default_rng(3).standard_normal((4, 3, 2))
    check_first_order(fn, [x], [0], dynamic)


def test_value_gradients_of_set_and_inc():
    x = np.random.default_rng(4).standard_normal((4, 3))
    v = np.random.default_rng(5).standard_normal((3,))
    i = T.constant(np.array([0, 2]))
    check_first_order(lambda a, b: T.set_subtensor(a[i], b) ** 2, [x, v], [0, 1], True)
    check_first_order(lambda a, b: T.inc_subtensor(a[i, 1:], b[1:]) ** 2, [x, v], [0, 1], False)


def test_gather_gradient_is_a_scatter_add_not_a_matmul():
    x = T.dmatrix()
    i = T.lvector()
    g = theon.grad(x[i].sum(), x)
    func, _ = build_function([x, i], [g])
    names = [op.name for op in func.body.ops]
    assert "adv_inc_subtensor" in names and "matmul" not in names


def test_jacobian_through_separated_index_arrays():
    """Batched backward passes put B before the batch dims and back."""
    i, j = T.constant(np.array([1, 0, 1])), T.constant(np.array([0, 1, 1]))
    x = np.random.default_rng(6).standard_normal((2, 3, 2))
    check_jacobian(lambda a: a[i, :, j], [x], [0], False)
    check_jacobian(lambda a: T.set_subtensor(a[i, :, j], 0.0), [x], [0], False)


def test_tutorial_negative_log_likelihood_and_its_gradient():
    p = T.dmatrix()
    y = T.lvector()
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gp = theon.grad(nll, p)
    P = np.random.default_rng(7).uniform(0.1, 1.0, (5, 3))
    Y = np.array([0, 2, 1, 1, 0])
    got, g = run([p, y], [nll, gp], P, Y)
    np.testing.assert_allclose(got, -np.mean(np.log(P)[np.arange(5), Y]), rtol=1e-12)
    expected = np.zeros_like(P)
    expected[np.arange(5), Y] = -1.0 / (5 * P[np.arange(5), Y])
    np.testing.assert_allclose(g, expected, rtol=1e-12)


# --- boolean masks --------------------------------------------------------------------------------
@st.composite
def mask_keys(draw):
    """(x, theon key with the mask as a variable, NumPy key, mask)."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    start = draw(st.integers(0, ndim - 1))
    k = draw(st.integers(1, ndim - start))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    mask = rng.random(shape[start:start + k]) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    lead = [slice(None)] * start
    if start and draw(st.booleans()):
        lead[0] = slice(None, None, -1)
    x = rng.standard_normal(shape)
    return x, tuple(lead), mask


@SETTINGS
@given(mask_keys(), st.booleans())
def test_boolean_masks_match_numpy(case, as_constant):
    x, lead, mask = case
    xv = T.tensor("float64", shape=(None,) * x.ndim)
    mv = T.tensor("bool", shape=(None,) * mask.ndim)
    key = lead + ((mask if as_constant else mv),)
    inputs, values = ([xv], [x]) if as_constant else ([xv, mv], [x, mask])
    np.testing.assert_array_equal(run(inputs, xv[key], *values), x[lead + (mask,)])
    expected = x.copy()
    expected[lead + (mask,)] = 7.0
    np.testing.assert_array_equal(run(inputs, T.set_subtensor(xv[key], 7.0), *values), expected)


def test_mask_of_the_tensor_itself_and_its_gradient():
    x = T.dmatrix()
    a = np.random.default_rng(8).standard_normal((3, 4))
    np.testing.assert_array_equal(run([x], x[x > 0], a), a[a > 0])
    np.testing.assert_array_equal(run([x], T.inc_subtensor(x[x < 0], -2 * x[x < 0]), a), np.abs(a))
    check_first_order(lambda v: v[v > 0.1] ** 2, [a], [0], True)


def test_nonzero_op_matches_numpy_and_round_trips():
    m = T.tensor("int8", shape=(None, 3))
    r = apply_op("nonzero", m, match=(None, None))
    assert r.type.shape == (2, None) and r.dtype == "int64"
    a = np.array([[0, 3, 0], [1, 0, -2]], dtype=np.int8)
    np.testing.assert_array_equal(run([m], r, a), np.array(np.nonzero(a)))
    func, _ = build_function([m], [r])
    text = print_function(func)
    assert print_function(parse_function(text)) == text
    with pytest.raises(ValueError, match="at least one dim"):
        apply_op("nonzero", T.scalar(), match=())
    with pytest.raises(ValueError, match="needs 1 dynamic operands, got 0"):
        apply_op("nonzero", m, match=(theon.ir.core.DYN, 3))
    with pytest.raises(IndexError, match="along axis 1; size of axis is 4 but size of corresponding boolean axis is 3"):
        apply_op("nonzero", m, match=(None, 4))


def test_a_mask_of_another_shape_is_numpys_index_error():
    x = T.dmatrix()
    m = T.tensor("bool", shape=(None,))
    a = np.zeros((4, 5))
    with pytest.raises(IndexError, match="along axis 0; size of axis is 4 but size of corresponding boolean axis is 3"):
        run([x, m], x[m], a, np.ones(3, bool))
    with pytest.raises(IndexError, match="along axis 1; size of axis is 5 but size of corresponding boolean axis is 6"):
        run([x, m], x[:, m], a, np.ones(6, bool))
    with pytest.raises(IndexError, match="size of axis is 3 but size of corresponding boolean axis is 2"):
        T.tensor("float64", shape=(3,))[np.array([True, False])]


def test_nonzero_flatnonzero_nonzero_values():
    a = np.array([[0.0, 2.0, np.nan], [0.0, 0.0, -1.0]])
    x = T.dmatrix()
    rows, cols = T.nonzero(x)
    got = run([x], [rows, cols, T.nonzero(x, return_matrix=True), T.flatnonzero(x), T.nonzero_values(x),
                    x.nonzero()[1], x.nonzero_values()], a)
    expected = [*np.nonzero(a), np.array(np.nonzero(a)), np.flatnonzero(a), a[a != 0], np.nonzero(a)[1], a[a != 0]]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    with pytest.raises(ValueError, match="at least one dim"):
        T.nonzero(T.scalar())


@pytest.mark.parametrize("dynamic", [False, True])
def test_set_value_gradient_with_repeated_indices_counts_only_the_last_write(dynamic):
    x = np.random.default_rng(12).standard_normal((4, 3))
    v = np.random.default_rng(13).standard_normal((5, 3))
    i = T.constant(np.array([1, 3, 1, -3, 0]))            # 1 is written three times: the last wins
    check_first_order(lambda a, b: T.set_subtensor(a[i], b) ** 2, [x, v], [0, 1], dynamic)
    j = T.constant(np.array([[0], [2]]))
    k = T.constant(np.array([1, 1, 0]))
    check_first_order(lambda a, b: T.set_subtensor(a[j, k], b[:2]) ** 2, [x, v], [0, 1], dynamic)


def test_theanos_subtensor_module_names():
    from theon.tensor import subtensor as S
    x = T.dmatrix()
    i = T.lvector()
    a = np.arange(12.0).reshape(4, 3)
    ind = np.array([3, 0, 3])
    y = T.dmatrix()
    v = np.ones((3, 3))
    got = run([x, i, y], [S.advanced_subtensor1(x, i), S.advanced_inc_subtensor1(x, y, i),
                          S.advanced_set_subtensor1(x, y * 2, i), S.advanced_subtensor(x, i, i[:3] % 3),
                          S.advanced_inc_subtensor(x, 1.0, slice(None), i[:2] % 3)], a, ind, v)
    inc = a.copy()
    np.add.at(inc, ind, v)
    st = a.copy()
    st[ind] = 2.0
    inc2 = a.copy()
    np.add.at(inc2, (slice(None), ind[:2] % 3), 1.0)
    for g, e in zip(got, [a[ind], inc, st, a[ind, ind % 3], inc2]):
        np.testing.assert_array_equal(g, e)
    with pytest.raises(TypeError, match="integer vector"):
        S.advanced_subtensor1(x, T.lmatrix())
