"""Shapes, views, joining and creation against NumPy."""
import numpy as np
import pytest

import theon.tensor as T

from ..frontend_helpers import check, rand, run


def test_shape_property_and_dims():
    x = T.tensor("float64", shape=(None, 3, 4))
    assert x.shape.type.shape == (3,) and x.shape.dtype == "int64"
    assert x.shape[0].type.shape == () and x.shape[0].dtype == "int64"
    data = rand((2, 3, 4))
    check([x], x.shape, [data], np.array(data.shape))
    check([x], x.shape[-1], [data], np.int64(4))
    check([x], x.shape[1:], [data], np.array([3, 4]))
    check([x], x.size, [data], np.int64(24))
    assert T.shape(x).owner.name == "shape"
    assert x.ndim == 3 and x.dtype == "float64" and x.broadcastable == (False, False, False)


def test_len_and_iteration():
    with pytest.raises(TypeError, match="len"):
        len(T.vector())
    with pytest.raises(TypeError, match="iterate"):
        iter(T.vector())
    x = T.matrix()
    rows, cols = x.shape                     # a shape vector has a static length
    data = rand((2, 5))
    assert run([x], [rows, cols], data) == [2, 5]
    y = T.tensor("float64", shape=(2, None))
    a, b = y
    assert a.type.shape == (None,)
    check([y], b, [rand((2, 3))], rand((2, 3))[1])


@pytest.mark.parametrize("newshape", [(6, 4), (2, -1), (-1,), (4, 3, 2), [24], (1, 24, 1)])
def test_reshape_constant_shapes(newshape):
    x = T.matrix()
    data = rand((4, 6))
    check([x], T.reshape(x, newshape), [data], data.reshape(newshape))
    check([x], x.reshape(newshape), [data], data.reshape(newshape))
    check([x], x.reshape(*newshape), [data], data.reshape(newshape))


def test_reshape_static_inference():
    x = T.tensor("float64", shape=(4, 6))
    assert x.reshape((3, -1)).type.shape == (3, 8)
    assert T.matrix().reshape((2, -1)).type.shape == (2, None)
    with pytest.raises(ValueError, match="reshape"):
        x.reshape((5, -1))


def test_reshape_symbolic_entries_and_shape_vectors():
    x, y = T.matrix(), T.tensor3()
    n = T.lscalar()
    dx, dy = rand((4, 6)), rand((2, 3, 4))
    check([x, n], x.reshape((n, -1)), [dx, np.int64(3)], dx.reshape(3, -1))
    check([x, y], x.reshape(y.shape), [dx, dy], dx.reshape(dy.shape))
    check([x, y], x.reshape((y.shape[0], y.shape[1], -1)), [dx, dy], dx.reshape(2, 3, -1))
    check([x], x.reshape(T.constant(np.array([3, 8]))), [dx], dx.reshape(3, 8))
    assert x.reshape(T.constant(np.array([3, -1]))).type.shape == (3, None)
    i = T.iscalar()
    check([x, i], T.reshape(x, (i, 24 // i)), [dx, np.int32(2)], dx.reshape(2, 12))
    z = T.tensor("float64", shape=(2, 12))
    assert x.reshape(z.shape).type.shape == (2, 12)
    with pytest.raises(ValueError, match="ndim"):
        x.reshape(T.lvector())
    s = T.lvector()
    check([x, s], x.reshape(s, ndim=3), [dx, np.array([2, 4, 3])], dx.reshape(2, 4, 3))
    check([x, n], x.reshape(T.stack([n, 24 // n])), [dx, np.int64(3)], dx.reshape(3, 8))
    with pytest.raises(ValueError, match="3 entries but ndim=2"):
        x.reshape((1, 2, 3), ndim=2)
    with pytest.raises(TypeError, match="0-d int"):
        x.reshape((T.scalar(), 2))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten(ndim):
    x = T.tensor3()
    for data in (rand((2, 3, 4)), np.zeros((0, 3, 4)), np.zeros((2, 0, 5))):
        expected = data.reshape(data.shape[:ndim - 1] + (int(np.prod(data.shape[ndim - 1:])),))
        check([x], T.flatten(x, ndim), [data], expected)
        check([x], x.flatten(ndim), [data], expected)
    with pytest.raises(ValueError, match="ndim"):
        x.flatten(4)
    s = T.scalar()
    check([s], s.flatten(), [np.array(3.0)], np.array([3.0]))
    assert T.tensor("float64", shape=(2, 3, 4)).flatten(2).type.shape == (2, 12)


def test_dimshuffle_transpose_and_T():
    x = T.tensor3()
    data = rand((2, 3, 4))
    check([x], x.dimshuffle(2, 0, 1), [data], data.transpose(2, 0, 1))
    check([x], x.dimshuffle((1, "x", 0, 2)), [data], data.transpose(1, 0, 2)[:, None])
    check([x], x.T, [data], data.T)
    check([x], T.transpose(x, (1, -1, 0)), [data], data.transpose(1, 2, 0))
    check([x], x.transpose(2, 1, 0), [data], data.transpose(2, 1, 0))
    check([x], x.transpose(), [data], data.T)
    r = T.row()
    check([r], r.dimshuffle(1), [rand((1, 5))], rand((1, 5))[0])
    with pytest.raises(ValueError, match="permutation"):
        T.transpose(x, (0, 0, 1))
    with pytest.raises(ValueError, match="drops dim"):
        T.tensor("float64", shape=(2, 3)).dimshuffle(1)
    v = T.vector()
    assert v.T is v


def test_squeeze_and_expand_dims():
    x = T.tensor("float64", shape=(1, None, 1))
    data = rand((1, 3, 1))
    check([x], T.squeeze(x), [data], np.squeeze(data))
    check([x], x.squeeze(axis=-1), [data], np.squeeze(data, axis=-1))
    check([x], T.expand_dims(x, -1), [data], np.expand_dims(data, -1))
    check([x], T.shape_padleft(x, 2), [data], data[None, None])
    check([x], T.shape_padright(x), [data], data[..., None])


def test_concatenate_promotes_and_checks():
    a, b = T.fmatrix(), T.imatrix()
    da, db = rand((2, 3), "float32"), rand((4, 3), "int32")
    check([a, b], T.concatenate([a, b]), [da, db], np.concatenate([da, db]))
    check([a, b], T.concatenate([a, b.T], axis=-1), [da, rand((3, 2), "int32")],
          np.concatenate([da, rand((3, 2), "int32").T], axis=-1))
    check([a], T.join(0, a, a), [da], np.concatenate([da, da]))
    with pytest.raises(ValueError, match="same ndim"):
        T.concatenate([a, T.vector()])
    with pytest.raises(ValueError, match="differ in dim 1"):
        T.concatenate([T.tensor("float64", shape=(2, 3)), T.tensor("float64", shape=(2, 4))])
    with pytest.raises(ValueError, match="zero-dimensional"):
        T.concatenate([T.scalar(), T.scalar()])
    with pytest.raises(ValueError, match="non-empty"):
        T.concatenate([])
    assert T.concatenate([T.tensor("float64", shape=(2, 3))] * 3).type.shape == (6, 3)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_stack(axis):
    a, b = T.matrix(), T.matrix()
    da, db = rand((2, 3)), rand((2, 3), seed=1)
    check([a, b], T.stack([a, b], axis=axis), [da, db], np.stack([da, db], axis=axis))
    check([a, b], T.stack((a, b), axis), [da, db], np.stack([da, db], axis=axis))
    s, t = T.scalar(), T.iscalar()
    check([s, t], T.stack(s, t), [np.array(1.5), np.int32(2)], np.array([1.5, 2.0]))


def test_alloc_zeros_ones_full():
    n = T.lscalar()
    check([n], T.zeros((n, 3)), [np.int64(2)], np.zeros((2, 3)))
    check([n], T.ones(n, dtype="int32"), [np.int64(4)], np.ones(4, np.int32))
    check([], T.ones((2, 2)), [], np.ones((2, 2)))
    check([], T.zeros(()), [], np.zeros(()))
    check([n], T.alloc(1.5, n, 2), [np.int64(3)], np.full((3, 2), 1.5))
    v = T.vector()
    check([v, n], T.alloc(v, n, 3), [rand(3), np.int64(2)], np.broadcast_to(rand(3), (2, 3)))
    check([v], T.alloc(v, (2, 3)), [rand(3)], np.broadcast_to(rand(3), (2, 3)))
    check([], T.full((2, 1), 7, dtype="int8"), [], np.full((2, 1), 7, np.int8))
    x = T.matrix()
    check([x], T.zeros(x.shape), [rand((2, 5))], np.zeros((2, 5)))
    assert T.zeros((2, n)).type.shape == (2, None)
    with pytest.raises(ValueError, match="negative"):
        T.alloc(0.0, -1)
    with pytest.raises(TypeError, match="0-d int"):
        T.zeros((T.scalar(),))


def test_zeros_like_ones_like(floatx):
    x = T.tensor("float32", shape=(None, 3))
    data = rand((2, 3), "float32")
    check([x], T.zeros_like(x), [data], np.zeros_like(data))
    check([x], T.ones_like(x, dtype="int64"), [data], np.ones_like(data, dtype=np.int64))
    assert T.ones_like(x).type == x.type
    floatx("float32")
    assert T.zeros((2,)).dtype == "float32"


def test_fill():
    x, v = T.matrix(), T.ivector()
    dx, dv = rand((2, 3)), np.array([1, 2, 3], np.int32)
    check([x, v], T.fill(x, v), [dx, dv], np.broadcast_to(dv, dx.shape))
    check([x], T.fill(x, 2.5), [dx], np.full(dx.shape, 2.5))
    with pytest.raises(ValueError, match="more dims"):
        T.fill(T.vector(), T.matrix())


def test_arange():
    check([], T.arange(5), [], np.arange(5))
    check([], T.arange(1, 10, 3), [], np.arange(1, 10, 3))
    check([], T.arange(0.0, 1.0, 0.25), [], np.arange(0.0, 1.0, 0.25))
    check([], T.arange(5, 0, -2, dtype="int32"), [], np.arange(5, 0, -2, dtype=np.int32))
    assert T.arange(7).type.shape == (7,)
    n = T.iscalar()
    out = T.arange(n)
    assert out.dtype == "int32" and out.type.shape == (None,)
    check([n], out, [np.int32(4)], np.arange(4, dtype=np.int32))
    s = T.lscalar()
    check([s, n], T.arange(s, n * 2, 2), [np.int64(1), np.int32(5)], np.arange(1, 10, 2))
    check([n], T.arange(0, n, 0.5), [np.int32(2)], np.arange(0, 2, 0.5))
    with pytest.raises(ValueError, match="zero"):
        T.arange(0, 5, 0)
    with pytest.raises(TypeError, match="bool"):
        T.arange(3, dtype="bool")


def test_arange_follows_floatx(floatx):
    floatx("float32")
    assert T.arange(0.0, 1.0, 0.5).dtype == "float32"
    assert T.arange(3).dtype == "int64"
