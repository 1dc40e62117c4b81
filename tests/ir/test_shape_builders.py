"""Shape builders (frontend/builders.py) with the NumPy reference
interpreter: the shared table of cases (tests/shape_builders_helpers.py,
also compiled by tests/native/test_shape_builders.py) against NumPy; the
graphs they build (compositions of existing ops: no op of their own, a
gather for diagonals whose gradient is a scatter-add, elementwise triangles
that fuse); the DSL's argument checks naming the bad argument."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.frontend.builders import linalg_norm

from ..extra_ops_helpers import assert_matches, symbolic_inputs
from ..frontend_helpers import run
from ..shape_builders_helpers import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reference_against_numpy(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    with np.errstate(all="ignore"):
        expected = numpy_fn(*arrays)
    assert_matches(run(xs, build(*xs), *arrays), expected, case_id)


def test_exported_and_methods():
    names = "tile roll eye identity_like tri tril triu diagonal diag trace stacklists choose mgrid ogrid " \
            "batched_dot batched_tensordot norm".split()
    assert [n for n in names if not hasattr(T, n)] == []
    x = T.dmatrix()
    for meth in ("diagonal", "trace", "norm", "repeat"):
        assert callable(getattr(x, meth))


@pytest.mark.parametrize("build,expected_ops", [
    (lambda x: T.tril(x, 1), {"where"}),
    (lambda x: T.triu(x), {"where"}),
    (lambda x: T.diagonal(x, 1), {"adv_subtensor"}),
    (lambda x: T.tile(x, (2, 3)), {"alloc", "reshape"}),
    (lambda x: T.roll(x, 2, 1), {"concatenate", "subtensor"}),
    (lambda x: T.batched_dot(x.dimshuffle("x", 0, 1), x.dimshuffle("x", 1, 0)), {"matmul"}),
])
def test_compositions_use_existing_ops(build, expected_ops):
    x = T.dmatrix()
    func, _ = build_function([x], [build(x)])
    from theon.ir.printer import print_function
    text = print_function(func)
    for name in expected_ops:
        assert name in text, (name, text)


def test_diagonal_gradient_is_a_scatter_not_a_dense_product():
    x = T.dmatrix()
    g = theon.grad(T.sum(T.diagonal(x, 1) * 3.0), x)
    func, _ = build_function([x], [g])
    from theon.ir.printer import print_function
    text = print_function(func)
    assert "adv_inc_subtensor" in text or "scatter" in text, text
    assert "matmul" not in text
    a = np.arange(12.0).reshape(3, 4)
    expected = np.zeros((3, 4))
    expected[[0, 1, 2], [1, 2, 3]] = 3.0
    np.testing.assert_array_equal(run([x], g, a), expected)


def test_static_shapes_are_inferred():
    x = T.tensor("float32", shape=(3, 4))
    assert T.tile(x, (2, 3)).type.shape == (6, 12)
    assert T.diagonal(x, 1).type.shape in ((3,), (None,))
    assert T.eye(3, 5).type.shape == (3, 5)
    assert T.roll(x, 1, 1).type.shape == (3, 4)
    assert T.batched_dot(T.tensor("float32", shape=(2, 3, 4)), T.tensor("float32", shape=(2, 4, 5))).type.shape == (2, 3, 5)
    assert [v.type.shape for v in T.mgrid[0:5, 0:3]] == [(5, 3), (5, 3)]
    assert [v.type.shape for v in T.ogrid[0:5, 0:3]] == [(5, 1), (1, 3)]


def test_gradients_in_the_interpreter():
    """The compositions differentiate through the existing ops' rules (the
    native tier checks against finite differences)."""
    x = T.dmatrix()
    a = np.arange(1.0, 13.0).reshape(3, 4)
    g_tile = run([x], theon.grad(T.sum(T.tile(x, (2, 3))), x), a)
    np.testing.assert_array_equal(g_tile, np.full((3, 4), 6.0))
    w = np.arange(12.0).reshape(3, 4)
    g_roll = run([x], theon.grad(T.sum(T.roll(x, 1, 1) * T.constant(w)), x), a)
    np.testing.assert_array_equal(g_roll, np.roll(w, -1, 1))
    g_tril = run([x], theon.grad(T.sum(T.tril(x, -1)), x), a)
    np.testing.assert_array_equal(g_tril, np.tril(np.ones((3, 4)), -1))
    g_tr = run([x], theon.grad(T.trace(x), x), a)
    np.testing.assert_array_equal(g_tr, np.eye(3, 4))


BAD = [
    (lambda x, v, i: T.tile(x, (2, -1)), ValueError, "reps"),
    (lambda x, v, i: T.tile(x, 2.5), TypeError, "reps must be"),
    (lambda x, v, i: T.tile(x, (2, 1.0)), TypeError, "reps must be"),
    (lambda x, v, i: T.tile(x, T.dvector()), TypeError, "shape tensor must hold ints"),
    (lambda x, v, i: T.tile(x, (2, 2), ndim=1), ValueError, "ndim"),
    (lambda x, v, i: T.roll(x, 1.5, 0), TypeError, "shift"),
    (lambda x, v, i: T.roll(x, 1, 2), ValueError, "out of range"),
    (lambda x, v, i: T.roll(x, (1, 2), (0, 1, 0)), ValueError, "broadcast"),
    (lambda x, v, i: T.roll(x, x, 0), TypeError, "shift"),
    (lambda x, v, i: T.eye(-2), ValueError, "N must be non-negative"),
    (lambda x, v, i: T.eye(3, 2.0), TypeError, "M"),
    (lambda x, v, i: T.eye(3, k=v), TypeError, "k"),
    (lambda x, v, i: T.tri(3, -1), ValueError, "M must be non-negative"),
    (lambda x, v, i: T.tril(v), ValueError, "at least 2-d"),
    (lambda x, v, i: T.triu(x, 0.5), TypeError, "k"),
    (lambda x, v, i: T.identity_like(v), ValueError, "matrix"),
    (lambda x, v, i: T.diagonal(v), ValueError, "at least 2-d"),
    (lambda x, v, i: T.diagonal(x, 0, 1, 1), ValueError, "axis1 and axis2"),
    (lambda x, v, i: T.diagonal(x, 0, 0, 2), ValueError, "out of range"),
    (lambda x, v, i: T.diagonal(x, 1.0), TypeError, "offset"),
    (lambda x, v, i: T.diag(T.dtensor3()), ValueError, "vector or a matrix"),
    (lambda x, v, i: T.trace(v), ValueError, "at least 2-d"),
    (lambda x, v, i: T.stacklists([]), ValueError, "empty"),
    (lambda x, v, i: T.stacklists(["a"]), TypeError, "nested lists"),
    (lambda x, v, i: T.choose(v, [x, x]), TypeError, "integer dtype"),
    (lambda x, v, i: T.choose(i, []), ValueError, "non-empty"),
    (lambda x, v, i: T.choose(i, [v], mode="bad"), ValueError, "mode"),
    (lambda x, v, i: T.mgrid[0:3, 1], TypeError, "slices"),
    (lambda x, v, i: T.mgrid[0:], ValueError, "stop"),
    (lambda x, v, i: T.ogrid[0:5:0], ValueError, "step"),
    (lambda x, v, i: T.batched_dot(T.dscalar(), v), ValueError, "batch dim"),
    (lambda x, v, i: T.batched_tensordot(x, x, [[0], [1]]), ValueError, "batch dim 0"),
    (lambda x, v, i: T.batched_tensordot(x, x, [[1], [1, 1]]), ValueError, "differ in length"),
    (lambda x, v, i: T.batched_tensordot(x, x, 3), ValueError, "out of range"),
    (lambda x, v, i: T.batched_tensordot(T.tensor("float64", shape=(2, 3)), T.tensor("float64", shape=(2, 4)), 1),
     ValueError, "shape mismatch"),
    (lambda x, v, i: T.batched_tensordot(T.tensor("float64", shape=(2, 3)), T.tensor("float64", shape=(5, 3)), 1),
     ValueError, "batch sizes differ"),
    (lambda x, v, i: T.norm(x, "nuc"), ValueError, "L must be"),
    (lambda x, v, i: T.norm(x, [1]), TypeError, "L must be a number"),
    (lambda x, v, i: T.norm(x, 2, axis=3), ValueError, "out of range"),
    (lambda x, v, i: linalg_norm(x, 3), ValueError, "invalid ord"),
    (lambda x, v, i: linalg_norm(v, "fro"), ValueError, "matrix norm"),
    (lambda x, v, i: linalg_norm(T.dtensor3(), 1), ValueError, "vector or a matrix"),
]


@pytest.mark.parametrize("k", range(len(BAD)))
def test_bad_arguments_name_the_argument(k):
    build, exc, words = BAD[k]
    x, v, i = T.dmatrix("x"), T.dvector("v"), T.lvector("i")
    with pytest.raises(exc, match=words):
        build(x, v, i)


def test_choose_refuses_out_of_range_index_in_the_reference():
    i, c = T.lvector(), T.dvector()
    with pytest.raises(IndexError):
        run([i, c], T.choose(i, [c, c * 2]), np.array([0, 2]), np.array([1.0, 2.0]))
