"""Fused elementwise regions compiled to native code equal the unfused graph; vectorized; shape errors reported."""
import re

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import printing
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.passes import PASSES
from theon.passes.fusion import FuseElementwise

from ..frontend_helpers import assert_all_same, softmax_over
from ..ir.test_fusion import PIPELINE


def test_fused_ops_check_in_debug_mode(monkeypatch):
    monkeypatch.setitem(PASSES, "fuse-elementwise", FuseElementwise)
    x = T.dmatrix("x")
    f = theon.function([x], [T.exp(x) * 2, T.tanh(x).max(axis=1)], mode=theon.Mode(passes=PIPELINE, debug=True))
    _same(f(X), [np.exp(X) * 2, np.tanh(X).max(axis=1)])


def _same(got, want):
    assert_all_same(got, want, tol32=2e-5, tol64=1e-10)


@pytest.fixture
def fused_function(monkeypatch):
    """theon.function with the FAST_RUN passes plus fuse-elementwise."""
    monkeypatch.setitem(PASSES, "fuse-elementwise", FuseElementwise)

    def make(inputs, outputs):
        return theon.function(inputs, outputs, mode=theon.Mode(passes=PIPELINE))
    return make


def _reference(inputs, outputs, values):
    func, _ = build_function(inputs, outputs, [])
    with np.errstate(all="ignore"):
        return evaluate(func, [np.asarray(v, dtype=i.type.np_dtype) for v, i in zip(values, inputs)])[0]


RNG = np.random.default_rng(7)
X = RNG.standard_normal((37, 53))
Y = RNG.standard_normal((37, 53))
VEC = RNG.standard_normal(53)
Z = RNG.standard_normal((74, 106))
CUBE = RNG.standard_normal((6, 7, 8))
INTS = RNG.integers(-5, 5, (37, 53))
SPECIAL = RNG.standard_normal((4, 1500))
SPECIAL[0, 700] = -np.inf
SPECIAL[1, [3, 1400]] = [np.inf, -np.inf]
SPECIAL[2, 900] = np.nan
SPECIAL[3, [10, 1100]] = np.inf


def _cases():
    x, y, v, s = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v"), T.dscalar("s")
    t3, i = T.dtensor3("t3"), T.lmatrix("i")
    xf, vf = T.fmatrix("xf"), T.fvector("vf")
    return {
        "chain": ([x, y], [T.exp(x) * y + T.log1p(y * y)], [X, Y]),
        "broadcast-and-reductions": ([x, v], [T.tanh(x + v), (x * v).sum(axis=1), (x * v).max(axis=0)], [X, VEC]),
        "softmax": ([x], [T.nnet.softmax(x)], [X]),
        "log-softmax": ([x], [T.nnet.log_softmax(x)], [X]),
        "softmax-both-axes": ([x], [T.nnet.softmax(x), T.nnet.softmax(x, axis=0), T.nnet.log_softmax(x),
                                    T.nnet.sigmoid(x), T.nnet.softplus(x), T.maximum(x, 0)], [X]),
        "reduce-all": ([x, y], [(x * y).sum(), (x * 0.1 + 1).prod(), T.maximum(x, y).min()], [X, Y]),
        "transposed-and-reversed": ([x, y], [T.sin(x) * T.cos(y) + 1, (x * y).sum(axis=0)], [X.T.copy().T, Y[:, ::-1]]),
        "fortran-order": ([x, y], [T.sin(x) * T.cos(y) + 1, (x * y).sum(axis=1)], [np.asfortranarray(X), Y]),
        "strided": ([x, y], [T.exp(x) + y, (x + y).sum(axis=1, keepdims=True)], [Z[::2, ::2], Z[1::2, ::2]]),
        "runtime-1-rows": ([x, y], [x * y + 2, (x * y).sum(axis=0)], [X, Y[:1]]),
        "runtime-1-cols": ([x, y], [x * y + 2, (x * y).sum(axis=1)], [X[:, :1], Y]),
        "runtime-1-both": ([x, y], [x * y, T.exp(x - y).max(axis=1)], [X[:1, :1], Y]),
        "cube-axes-0": ([t3], [(T.exp(t3) * 2).sum(axis=0), abs(t3).max(axis=0, keepdims=True)], [CUBE]),
        "cube-axes-02": ([t3], [(T.exp(t3) * 2).sum(axis=(0, 2)), abs(t3).min(axis=(0, 2))], [CUBE]),
        "cube-axes-12": ([t3], [(T.exp(t3) * 2).sum(axis=(1, 2), keepdims=True), abs(t3).max(axis=(1, 2))],
                         [CUBE.transpose(2, 0, 1)]),
        "cube-staged": ([t3], [softmax_over(t3, (1, 2)), softmax_over(t3, (2,)) * 2],
                        [CUBE.transpose(0, 2, 1)]),
        "cube-siblings": ([t3], [T.exp(t3), T.log(abs(t3)), t3 ** 2], [CUBE.transpose(2, 0, 1)]),
        "ints-bools-casts": ([i, x], [(i * 3 + 1).sum(axis=1), T.switch(T.gt(x, 0), x, i.astype("float64") * 2),
                                      (i > 0).sum()], [INTS, X]),
        "int-division": ([i], [i // 2 + i % 3, T.maximum(i, 0).max(axis=0), (i * 2).prod(axis=1)], [INTS]),
        "scalar-operand": ([x, s], [x * s + s, (x * s).sum(axis=0)], [X, 2.5]),
        "inf-and-nan": ([x], [(x * 2).sum(axis=1), (x * 2).sum(), (x + 1).max(axis=1), (x - 1).min(axis=0),
                              (x * 2).sum(axis=0)], [SPECIAL]),
        "empty": ([x, y], [x + y, (x * y).sum(axis=0), (x * y).sum(axis=1)], [np.zeros((0, 5)), np.zeros((0, 5))]),
        "float32": ([xf, vf], [T.exp(xf) * vf + T.log1p(xf * xf), (xf * vf).sum(), T.nnet.softmax(xf)],
                    [X.astype("f4"), VEC.astype("f4")]),
    }


@pytest.mark.parametrize("case", sorted(_cases()))
def test_fused_native_code_equals_the_unfused_graph(fused_function, case):
    inputs, outputs, values = _cases()[case]
    f = fused_function(inputs, outputs)
    assert "fused(" in printing.dump(f, "optimized")
    _same(f(*values), _reference(inputs, outputs, values))


def test_later_stages_reuse_the_exp_an_earlier_stage_computed(fused_function):
    x = T.fmatrix("x")
    softmax = fused_function([x], T.nnet.softmax(x))
    row_sums = fused_function([x], T.exp(x).sum(axis=1))
    exp_calls = re.compile(r'call float @"theon\.exp\.f32"')
    assert len(exp_calls.findall(softmax.native.unoptimized_llvm_ir)) == \
        len(exp_calls.findall(row_sums.native.unoptimized_llvm_ir))        # stage 2 loads exp(x - max)
    values = RNG.standard_normal((70, 300)).astype("f4")
    _same([softmax(values)], _reference([x], [T.nnet.softmax(x)], [values]))


def test_float32_fused_code_is_vectorized_without_libm_calls(fused_function):
    a, b, c = T.fvector("a"), T.fvector("b"), T.fvector("c")
    f = fused_function([a, b, c], T.exp(a) * b + T.log1p(c * c))
    asm = printing.dump(f, "asm")
    assert re.search(r"%[yz]mm\d+", asm)
    calls = [line for line in asm.splitlines() if "call" in line]
    assert not [line for line in calls if re.search(r"exp|log", line)], calls
    assert not re.search(r"declare .*@(expf?|logf?|log1pf?)\(", printing.dump(f, "llvm"))


def test_fused_shape_errors_are_reported_not_crashes(fused_function):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = fused_function([x, y], [T.exp(x) + y, (x * y).max(axis=1)])
    with pytest.raises(ValueError):
        f(np.ones((4, 3)), np.ones((5, 3)))
    g = fused_function([x], [(x * 2).max(axis=1)])
    with pytest.raises(ValueError):
        g(np.ones((4, 0)))
