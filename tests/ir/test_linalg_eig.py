"""``eig`` / ``eigvals`` (ir/ops/la.py) without native code: the reference
interpreter against NumPy on the shared matrices (tests/eig_helpers.py),
static shapes, the DSL's argument checks, complex spectra as LinAlgError,
the missing gradient, the IR text round trip and the GPU plan's
compile-time refusal."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.tensor import nlinalg

from ..eig_helpers import KINDS, check_eig, make
from ..frontend_helpers import run


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3), (0, 0)])
def test_reference_against_numpy(dtype, kind, shape):
    if kind in ("defective", "repeated") and shape[-1] < 2:
        pytest.skip("needs two eigenvalues")
    a = make(kind, shape).astype(dtype)
    x = T.tensor(dtype, shape=(None,) * len(shape))
    w, v = nlinalg.eig(x)
    got = run([x], [w, v, nlinalg.eigvals(x)], a)
    check_eig(a, got[0], got[1], kind, dtype)


def test_static_shapes_and_dtypes():
    a = T.tensor("float64", shape=(2, 4, 4))
    w, v = nlinalg.eig(a)
    assert w.type.shape == (2, 4) and v.type.shape == (2, 4, 4)
    assert nlinalg.eigvals(T.tensor("float32", shape=(None, 3))).type.shape == (3,)
    assert nlinalg.eig(T.lmatrix())[0].dtype == "float64"
    assert nlinalg.eig(T.fmatrix())[1].dtype == "float32"


@pytest.mark.parametrize("build,exc,words", [
    (lambda: nlinalg.eig(T.dvector()), ValueError, "at least 2-d"),
    (lambda: nlinalg.eigvals(T.tensor("float64", shape=(3, 4))), ValueError, "square"),
])
def test_bad_arguments(build, exc, words):
    with pytest.raises(exc, match=words):
        build()


def test_reference_raises_on_complex_spectra():
    a = T.dmatrix()
    with pytest.raises(np.linalg.LinAlgError, match="complex"):
        run([a], nlinalg.eig(a)[0], np.array([[0.0, -1.0], [1.0, 0.0]]))
    with pytest.raises(np.linalg.LinAlgError, match="infs or NaNs"):
        run([a], nlinalg.eigvals(a), np.full((2, 2), np.nan))


def test_gradient_is_not_implemented():
    a = T.dmatrix()
    w, v = nlinalg.eig(a)
    with pytest.raises(NotImplementedError, match="eigvals"):
        theon.grad(w.sum(), a)
    with pytest.raises(NotImplementedError, match="eig_vectors"):
        theon.grad((v ** 2).sum(), a)


def test_ir_text_roundtrip():
    a = T.dtensor3()
    func, _ = build_function([a], list(nlinalg.eig(a)))
    text = print_function(func)
    assert "eigvals(" in text and "eig_vectors(" in text
    assert print_function(parse_function(text)) == text


@pytest.mark.parametrize("which", [0, 1])
def test_gpu_plan_refuses_at_compile_time(which):
    from theon.codegen.ptx.plan import Plan
    a = T.fmatrix("a")
    func, _ = build_function([a], [nlinalg.eig(a)[which] * 2])
    with pytest.raises(NotImplementedError, match="not supported on the GPU yet"):
        Plan(func)
