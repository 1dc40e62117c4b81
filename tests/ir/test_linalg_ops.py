"""Dense linear algebra (ir/ops/la.py) in the reference interpreter: the
shared table (tests/linalg_helpers.py, also compiled by
tests/native/test_linalg_native.py) against NumPy; static shapes and
inference errors; the IR text round trip; the DSL's argument checks; the
GPU plan's compile-time refusal."""
import numpy as np
import pytest

import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.tensor import nlinalg, slinalg

from ..frontend_helpers import run
from ..linalg_helpers import assert_matches, linalg_cases, noncontiguous_cases, symbolic_inputs

CASES = linalg_cases() + noncontiguous_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reference_against_numpy(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    assert_matches(run(xs, build(*xs), *arrays), numpy_fn(*arrays), case_id)


def test_static_shapes():
    a = T.tensor("float64", shape=(2, 4, 4))
    b = T.tensor("float64", shape=(2, 4, 3))
    assert slinalg.cholesky(a).type.shape == (2, 4, 4)
    assert slinalg.solve(a, b).type.shape == (2, 4, 3)
    assert slinalg.solve(a, T.tensor("float64", shape=(2, 4))).type.shape == (2, 4)
    assert slinalg.solve_triangular(a, b, lower=True).type.shape == (2, 4, 3)
    assert nlinalg.det(a).type.shape == (2,)
    assert nlinalg.matrix_inverse(T.tensor("float32", shape=(None, 3))).type.shape == (3, 3)
    assert nlinalg.det(T.lmatrix()).dtype == "float64"
    assert slinalg.cholesky(T.fmatrix()).dtype == "float32"
    q, r = nlinalg.qr(T.tensor("float64", shape=(2, 6, 4)))
    assert q.type.shape == (2, 6, 4) and r.type.shape == (2, 4, 4)
    assert nlinalg.eigh(a)[0].type.shape == (2, 4) and nlinalg.eigh(a)[1].type.shape == (2, 4, 4)


@pytest.mark.parametrize("build,exc,words", [
    (lambda: slinalg.cholesky(T.dvector()), ValueError, "at least 2-d"),
    (lambda: nlinalg.det(T.tensor("float64", shape=(3, 4))), ValueError, "square"),
    (lambda: slinalg.solve(T.tensor("float64", shape=(3, 3)), T.tensor("float64", shape=(4, 2))), ValueError,
     "does not match"),
    (lambda: slinalg.solve(T.dtensor3(), T.dtensor4()), ValueError, "batch dims"),
    (lambda: slinalg.solve_triangular(T.dmatrix(), T.dmatrix(), trans=3), ValueError, "trans"),
    (lambda: slinalg.solve(T.dmatrix(), T.dmatrix(), assume_a="tri"), ValueError, "assume_a"),
    (lambda: nlinalg.matrix_power(T.dmatrix(), 1.5), TypeError, "int"),
])
def test_bad_arguments(build, exc, words):
    with pytest.raises(exc, match=words):
        build()


def test_reference_raises_linalg_errors():
    a = T.dmatrix()
    with pytest.raises(np.linalg.LinAlgError):
        run([a], slinalg.cholesky(a), -np.eye(3))
    with pytest.raises(np.linalg.LinAlgError):
        run([a], nlinalg.matrix_inverse(a), np.zeros((3, 3)))
    b = T.dmatrix()
    with pytest.raises(np.linalg.LinAlgError):
        run([a, b], slinalg.solve_triangular(a, b, lower=True), np.zeros((2, 2)), np.ones((2, 1)))


def test_ir_text_roundtrip():
    a, b = T.dtensor3(), T.dtensor3()
    outs = [slinalg.cholesky(a), slinalg.solve(a, b), slinalg.solve_triangular(a, b, trans=1, unit_diagonal=True),
            nlinalg.matrix_inverse(a), nlinalg.det(a)]
    func, _ = build_function([a, b], outs)
    text = print_function(func)
    assert print_function(parse_function(text)) == text


@pytest.mark.parametrize("name", ["cholesky", "solve", "solve_triangular", "matrix_inverse", "det", "eigvalsh",
                                  "eigh_vectors", "qr_q", "qr_r"])
def test_gpu_plan_refuses_at_compile_time(name):
    from theon.codegen.ptx.plan import Plan
    a, b = T.fmatrix("a"), T.fmatrix("b")
    out = {"cholesky": lambda: slinalg.cholesky(a), "solve": lambda: slinalg.solve(a, b),
           "solve_triangular": lambda: slinalg.solve_triangular(a, b), "det": lambda: nlinalg.det(a),
           "matrix_inverse": lambda: nlinalg.matrix_inverse(a), "eigvalsh": lambda: nlinalg.eigvalsh(a),
           "eigh_vectors": lambda: nlinalg.eigh(a)[1], "qr_q": lambda: nlinalg.qr(a)[0],
           "qr_r": lambda: nlinalg.qr(a, mode="r")}[name]()
    func, _ = build_function([a, b], [out * 2])
    with pytest.raises(NotImplementedError, match=f"{name} .* not supported on the GPU yet"):
        Plan(func)


def test_svd_static_shapes_and_errors():
    for shape, full, (us, ss, vs) in [((2, 6, 4), True, ((2, 6, 6), (2, 4), (2, 4, 4))),
                                      ((2, 6, 4), False, ((2, 6, 4), (2, 4), (2, 4, 4))),
                                      ((3, 5), True, ((3, 3), (3,), (5, 5))),
                                      ((3, 5), False, ((3, 3), (3,), (3, 5))),
                                      ((None, 5), True, ((None, None), (None,), (5, 5)))]:
        u, s, vt = nlinalg.svd(T.tensor("float64", shape=shape), full_matrices=full)
        assert (u.type.shape, s.type.shape, vt.type.shape) == (us, ss, vs), (shape, full)
    assert nlinalg.pinv(T.tensor("float32", shape=(2, 6, 4))).type.shape == (2, 4, 6)
    assert nlinalg.svd(T.lmatrix(), compute_uv=False).dtype == "float64"
    x, res, rank, s = nlinalg.lstsq(T.dmatrix(), T.dvector())
    assert (x.ndim, res.ndim, rank.ndim, s.ndim, rank.dtype) == (1, 1, 0, 1, "int64")
    with pytest.raises(ValueError, match="svd: a must be"):
        nlinalg.svd(T.dvector())
    with pytest.raises(TypeError, match="rcond"):
        nlinalg.lstsq(T.dmatrix(), T.dmatrix(), rcond="x")
    with pytest.raises(ValueError, match="rcond=None needs"):
        nlinalg.lstsq(T.dmatrix(), T.dmatrix(), rcond=None)
    assert nlinalg.lstsq(T.tensor("float64", shape=(5, 3)), T.dmatrix(), rcond=None)[0].ndim == 2
