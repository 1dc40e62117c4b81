"""Basic indexing (constant and symbolic), set_subtensor and inc_subtensor."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import theon.tensor as T

from ..frontend_helpers import check, rand, run

DATA = rand((4, 5, 6))


@pytest.mark.parametrize("key", [
    0, -1, (1, 2), (slice(None), 0), (slice(1, 3),), (slice(None, None, -1),),
    (slice(None, None, 2), slice(4, 0, -2)), (Ellipsis, 0), (0, Ellipsis, slice(1, None)),
    (None, 0), (slice(None), None, 1), (Ellipsis, None), (1, 2, 3), (), Ellipsis,
    (slice(-100, 100),), (slice(3, 1),), (np.int64(2), np.int32(-1)),
])
def test_constant_keys_match_numpy(key):
    x = T.tensor3()
    out = x[key]
    check([x], out, [DATA], DATA[key])


def test_static_shapes_of_constant_keys():
    x = T.tensor("float64", shape=(4, None, 6))
    assert x[1].type.shape == (None, 6)
    assert x[1:3, :, ::-2].type.shape == (2, None, 3)
    assert x[None, :, 0].type.shape == (1, 4, 6)
    assert x[..., 2].type.shape == (4, None)
    with pytest.raises(IndexError, match="out of bounds"):
        x[4]
    with pytest.raises(IndexError, match="too many"):
        x[0, 0, 0, 0]
    with pytest.raises(ValueError, match="step"):
        x[::0]


def test_symbolic_slice_bounds():
    x = T.matrix()
    i, b = T.lscalar(), T.iscalar()
    data = rand((10, 3))
    out = x[i * b:(i + 1) * b]
    assert out.type.shape == (None, None)
    for iv in range(3):
        check([x, i, b], out, [data, np.int64(iv), np.int32(3)], data[iv * 3:(iv + 1) * 3])
    check([x, i], x[i], [data, np.int64(-2)], data[-2])
    check([x, i], x[:, i], [data, np.int64(1)], data[:, 1])
    check([x, i], x[::i], [data, np.int64(-3)], data[::-3])
    check([x, i, b], x[i:, b], [data, np.int64(7), np.int32(0)], data[7:, 0])
    check([x, i], x[x.shape[0] - i:], [data, np.int64(4)], data[6:])


def test_index_with_constant_tensor_folds():
    x = T.tensor("float64", shape=(5, 3))
    out = x[T.constant(2)]
    assert out.owner.attrs["idx"] == (2,)
    assert len(out.owner.operands) == 1


@pytest.mark.parametrize("bad, err, match", [
    ([0.5, 1.0], IndexError, "integer arrays"),
    (np.array(True), NotImplementedError, "boolean"),
    (True, NotImplementedError, "boolean"),
    (1.5, TypeError, "invalid index"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
])
def test_unsupported_keys(bad, err, match):
    with pytest.raises(err, match=match):
        T.matrix()[bad]


def test_unsupported_symbolic_keys():
    x = T.matrix()
    assert x[T.lvector()].owner.name == "adv_subtensor"      # tests/ir/test_advanced_indexing.py
    assert x[x > 0].owner.name == "adv_subtensor"              # a mask: nonzero's rows
    with pytest.raises(TypeError, match="0-d int"):
        x[T.scalar()]
    with pytest.raises(TypeError, match="0-d int"):
        x[:T.scalar()]


def test_setitem_is_refused():
    x = T.vector()
    with pytest.raises(TypeError, match="set_subtensor"):
        x[0] = 1.0


def test_set_and_inc_subtensor():
    x = T.matrix()
    v = T.vector()
    i = T.lscalar()
    data, row = rand((4, 3)), rand(3, seed=1)

    def np_set(key, value, inc=False):
        out = data.copy()
        if inc:
            out[key] += value
        else:
            out[key] = value
        return out

    check([x, v], T.set_subtensor(x[1], v), [data, row], np_set(1, row))
    check([x, v], T.inc_subtensor(x[1:3], v), [data, row], np_set(slice(1, 3), row, inc=True))
    check([x], T.set_subtensor(x[:, 0], 0), [data], np_set((slice(None), 0), 0))
    check([x, i], T.inc_subtensor(x[i:, ::-1], 1.5), [data, np.int64(2)],
          np_set((slice(2, None), slice(None, None, -1)), 1.5, inc=True))
    check([x, i], T.set_subtensor(x[i], 7), [data, np.int64(-1)], np_set(-1, 7))
    check([x], T.set_subtensor(x[...], 2.0), [data], np_set(Ellipsis, 2.0))
    out = T.set_subtensor(x[0], v)
    assert out.type == x.type


def test_set_subtensor_casts_values_like_numpy():
    x = T.imatrix()
    data = rand((3, 2), "int32")
    f = T.vector()
    check([x, f], T.set_subtensor(x[0], f), [data, np.array([1.7, -2.7])],
          np.concatenate([[[1, -2]], data[1:]]).astype(np.int32))
    check([x], T.inc_subtensor(x[1], 2), [data], data + np.array([[0], [2], [0]], np.int32))
    with pytest.raises(TypeError, match="same_kind"):
        T.inc_subtensor(x[0], 1.5)
    with pytest.raises(TypeError, match="same_kind"):
        T.inc_subtensor(x[0], T.vector())
    with pytest.raises(OverflowError, match="int8"):
        T.set_subtensor(T.bvector()[0], 1000)


def test_set_subtensor_errors():
    x = T.matrix()
    with pytest.raises(TypeError, match="indexed tensor"):
        T.set_subtensor(x, 1.0)
    with pytest.raises(TypeError, match="indexed tensor"):
        T.inc_subtensor(x + 1, 1.0)
    with pytest.raises(TypeError, match="None/np.newaxis"):
        T.set_subtensor(x[None, 0], 1.0)
    with pytest.raises(ValueError, match="more dims"):
        T.set_subtensor(x[0], T.matrix())
    with pytest.raises(ValueError, match="fit|broadcast"):
        T.set_subtensor(T.tensor("float64", shape=(4, 3))[0], T.tensor("float64", shape=(2,)))


def _slice_strategy(n):
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    step = st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2]))
    return st.builds(slice, bound, bound, step)


@st.composite
def basic_keys(draw):
    items = []
    for n in DATA.shape[:draw(st.integers(0, 3))]:
        items.append(draw(st.one_of(st.integers(-n, n - 1), _slice_strategy(n))))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if len(items) < 3 and draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    return tuple(items)


@settings(max_examples=80, deadline=None)
@given(basic_keys(), st.booleans())
def test_random_basic_indexing_matches_numpy(key, symbolic):
    """Constant keys, or the same key with every int bound passed as an input."""
    x = T.tensor3()
    if not symbolic:
        check([x], x[key], [DATA], DATA[key])
        return
    scalars, values = [], []

    def sym(v):
        if not isinstance(v, int):
            return v
        s = T.lscalar()
        scalars.append(s)
        values.append(np.int64(v))
        return s
    sym_key = tuple(slice(sym(k.start), sym(k.stop), sym(k.step)) if isinstance(k, slice) else sym(k)
                    for k in key)
    out = run([x] + scalars, x[sym_key], DATA, *values)
    np.testing.assert_array_equal(out, DATA[key])


@settings(max_examples=40, deadline=None)
@given(basic_keys().filter(lambda k: None not in k), st.booleans())
def test_random_set_inc_subtensor_matches_numpy(key, inc):
    x = T.tensor3()
    expected = DATA.copy()
    if inc:
        expected[key] += 1.25
        out = T.inc_subtensor(x[key], 1.25)
    else:
        expected[key] = -4.0
        out = T.set_subtensor(x[key], -4.0)
    check([x], out, [DATA], expected)
