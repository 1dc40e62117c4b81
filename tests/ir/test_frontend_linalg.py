"""dot, matmul, tensordot and outer against NumPy."""
import numpy as np
import pytest

import theon.tensor as T

from ..frontend_helpers import check, rand

SHAPES = {0: (), 1: (4,), 2: (3, 4), 3: (2, 3, 4)}


def _operands(andim, bndim, dtype="float64"):
    ashape = SHAPES[andim]
    bshape = {0: (), 1: (4,), 2: (4, 5), 3: (2, 4, 5)}[bndim]
    if andim == 1 and bndim >= 2:
        ashape = (4,)
    a, b = T.tensor(dtype, shape=(None,) * andim), T.tensor(dtype, shape=(None,) * bndim)
    return a, b, rand(ashape, dtype, seed=1), rand(bshape, dtype, seed=2)


@pytest.mark.parametrize("bndim", [0, 1, 2, 3])
@pytest.mark.parametrize("andim", [0, 1, 2, 3])
def test_dot_matches_numpy(andim, bndim):
    a, b, da, db = _operands(andim, bndim)
    expected = np.dot(da, db)
    check([a, b], T.dot(a, b), [da, db], expected)
    if andim and bndim:
        check([a, b], a.dot(b), [da, db], expected)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_matmul_and_operator(dtype):
    a, b = T.tensor3(dtype=dtype), T.matrix(dtype=dtype)
    da, db = rand((2, 3, 4), dtype), rand((4, 5), dtype, seed=1)
    check([a, b], a @ b, [da, db], da @ db, rtol=1e-5)
    check([a, b], T.matmul(a, b), [da, db], np.matmul(da, db), rtol=1e-5)
    v = T.vector(dtype=dtype)
    dv = rand(4, dtype, seed=2)
    check([a, v], a @ v, [da, dv], da @ dv, rtol=1e-5)
    check([v, b], v @ b, [dv, db], dv @ db, rtol=1e-5)
    check([b], np.ones((2, 4), dtype) @ b, [db], np.ones((2, 4), dtype) @ db, rtol=1e-5)


def test_matmul_promotes_and_checks():
    a, b = T.fmatrix(), T.imatrix()
    da, db = rand((2, 3), "float32"), rand((3, 2), "int32")
    check([a, b], T.dot(a, b), [da, db], np.dot(da, db))
    with pytest.raises(ValueError, match="at least 1-d"):
        T.matmul(T.scalar(), T.vector())
    with pytest.raises(ValueError, match="not aligned"):
        T.dot(T.tensor("float64", shape=(2, 3)), T.tensor("float64", shape=(4, 2)))
    bv = T.vector(dtype="bool")
    dbv = np.array([True, False, True])
    check([bv], T.dot(bv, bv), [dbv], np.dot(dbv, dbv))


@pytest.mark.parametrize("axes, bshape", [
    (0, (2, 3)), (1, (5, 2)), (2, (4, 5, 3)), (([1], [0]), (4, 2)), (([2, 1], [1, 0]), (4, 5, 3)),
    (([-1], [-2]), (2, 5, 3)), (((0, 2), (0, 1)), (3, 5, 2)), ((1, 0), (4, 2, 3)),
])
def test_tensordot_matches_numpy(axes, bshape):
    a, b = T.tensor3(), T.tensor(shape=(None,) * len(bshape))
    da, db = rand((3, 4, 5), seed=1), rand(bshape, seed=2)
    check([a, b], T.tensordot(a, b, axes), [da, db], np.tensordot(da, db, axes))


def test_tensordot_static_shapes_empty_and_errors():
    a = T.tensor("float64", shape=(3, 4, 5))
    b = T.tensor("float64", shape=(4, 5, 6))
    assert T.tensordot(a, b).type.shape == (3, 6)
    assert T.tensordot(a, b, 0).type.shape == (3, 4, 5, 4, 5, 6)
    with pytest.raises(ValueError, match="shape-mismatch"):
        T.tensordot(a, b, ([0], [0]))
    with pytest.raises(ValueError, match="differ in length"):
        T.tensordot(a, b, ([0, 1], [0]))
    with pytest.raises(ValueError, match="out of range"):
        T.tensordot(a, b, 4)
    x, y = T.matrix(), T.matrix()
    dx, dy = np.zeros((0, 3)), np.zeros((3, 2))
    check([x, y], T.tensordot(x, y, 1), [dx, dy], np.tensordot(dx, dy, 1))
    check([x, y], T.tensordot(x, y.T, 2), [dx, np.zeros((3, 0))], np.tensordot(dx, np.zeros((0, 3)), 2))


def test_outer():
    x, y = T.vector(), T.fmatrix()
    dx, dy = rand(3), rand((2, 2), "float32")
    check([x, y], T.outer(x, y), [dx, dy], np.outer(dx, dy))
