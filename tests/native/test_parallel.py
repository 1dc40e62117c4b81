"""Threads: fused loops split across the thread pool give the single-threaded
results; the threshold and thread count are pass options (``parallel``,
``threads``), forced low here so small inputs take the threaded path."""
from dataclasses import dataclass

import llvmlite.ir as lir
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import printing
from theon.codegen.cpu.lower.parallel import WorkerCtx
from theon.passes import PASSES
from theon.passes.fusion import FuseElementwise

from ..frontend_helpers import assert_all_same, softmax_over
from ..native_helpers import run_in_threads

BEFORE = "canonicalize,cse,simplify-shapes,stabilize,canonicalize,cse,"


@dataclass
class FuseThreaded(FuseElementwise):
    """Every loop on three threads, however small (more threads than this machine has cores)."""
    name = "fuse-threaded"
    parallel: int = 1
    threads: int = 3


@dataclass
class FuseAllCores(FuseElementwise):
    """Every loop on as many threads as the process may use."""
    name = "fuse-all-cores"
    parallel: int = 1


@dataclass
class FuseSerial(FuseElementwise):
    name = "fuse-serial"
    parallel: int = 0


@pytest.fixture
def compile_with(monkeypatch):
    for cls in (FuseThreaded, FuseAllCores, FuseSerial):
        monkeypatch.setitem(PASSES, cls.name, cls)

    def make(pass_name, inputs, outputs):
        return theon.function(inputs, outputs, mode=theon.Mode(passes=BEFORE + pass_name + ",dce"))
    return make


RNG = np.random.default_rng(3)


def _cases():
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    t3, i = T.dtensor3("t3"), T.lmatrix("i")
    xf, af, bf = T.fmatrix("xf"), T.fvector("af"), T.fvector("bf")
    big = RNG.standard_normal((61, 45))
    return {
        "vector-uneven": ([af, bf], [T.exp(af) * bf + T.log1p(bf * bf), (af * bf).sum()],
                          [RNG.standard_normal(1000).astype("f4"), RNG.standard_normal(1000).astype("f4")]),
        "fewer-elements-than-threads": ([af, bf], [af * bf + 1, (af * bf).sum()],
                                        [np.ones(2, "f4"), np.full(2, 3, "f4")]),
        "empty": ([af, bf], [af * bf, (af + bf).sum()], [np.zeros(0, "f4"), np.zeros(0, "f4")]),
        "flat-2d-siblings": ([xf], [T.exp(xf), T.log(abs(xf) + 1), xf ** 2], [big.astype("f4")]),
        "strided-2d": ([x, y], [T.tanh(x) * y, (x - y).max(axis=1)], [big[:, :44:2], big[::-1, 1::2]]),
        "broadcast-row": ([x, v], [x * v + 1, (x * v).sum(axis=1), (x * v).min(axis=0)], [big, big[0]]),
        "softmax": ([x], [T.nnet.softmax(x), T.nnet.log_softmax(x)], [big]),
        "reduce-all-2d": ([x, y], [(x * y).sum(), abs(x - y).max(), (x * 0.01 + 1).prod()],
                          [big, big[::-1].copy()]),
        "reduce-all-strided": ([x], [(x * 2).sum(), T.exp(x).sum()], [big.T]),
        "outer-kept-first": ([t3], [(t3 * 2).sum(axis=1), T.exp(t3).max(axis=(1,), keepdims=True)],
                             [RNG.standard_normal((7, 5, 9))]),
        "outer-reduced-first": ([t3], [(t3 * 2).sum(axis=0), abs(t3).min(axis=(0, 1))],
                                [RNG.standard_normal((7, 5, 9))]),
        "middle-axes": ([t3], [(t3 * t3).sum(axis=(0, 2)), t3.max(axis=2)], [RNG.standard_normal((4, 6, 8))]),
        "inf-and-nan": ([af], [(af * 2).sum(), (af + 1).max(), (af * af).sum()],
                        [np.array([1, -np.inf, 2, 3, np.inf, 5, 6, np.nan, 1, 1] * 50, "f4")]),
        "staged-two-axes": ([t3], [softmax_over(t3, (1, 2)), T.nnet.log_softmax(t3)],
                            [RNG.standard_normal((5, 9, 4)).transpose(0, 2, 1)]),
        "ints": ([i], [i * 3 - 1, (i * 2).sum(axis=0), (i % 5).max()], [RNG.integers(-9, 9, (33, 17))]),
    }


@pytest.mark.parametrize("case", sorted(_cases()))
def test_threaded_results_equal_single_threaded(compile_with, case):
    inputs, outputs, values = _cases()[case]
    threaded = compile_with("fuse-threaded", inputs, outputs)
    serial = compile_with("fuse-serial", inputs, outputs)
    assert "theon_rt_parallel" in printing.dump(threaded, "llvm")
    assert "theon_rt_parallel" not in printing.dump(serial, "llvm")
    assert_all_same(threaded(*values), serial(*values), tol32=2e-6, tol64=1e-12)


def test_all_cores_by_default_and_elementwise_results_are_bit_identical(compile_with):
    a = T.fvector("a")
    values = RNG.standard_normal(100_003).astype("f4")
    outs = [T.exp(a) * 3 + T.tanh(a)]
    threaded = compile_with("fuse-all-cores", [a], outs)
    serial = compile_with("fuse-serial", [a], outs)
    assert "theon_rt_num_threads" in printing.dump(threaded, "llvm")
    np.testing.assert_array_equal(threaded(values), serial(values))


def test_threaded_calls_from_several_python_threads(compile_with):
    x = T.dmatrix("x")
    f = compile_with("fuse-threaded", [x], [T.nnet.softmax(x), (x * x).sum()])
    data = [RNG.standard_normal((50 + k, 30)) for k in range(6)]
    want = [f(d) for d in data]

    def work(k):
        for _ in range(20):
            got = f(data[k])
            np.testing.assert_allclose(got[0], want[k][0], rtol=1e-12)
            np.testing.assert_allclose(got[1], want[k][1], rtol=1e-12)

    errors = run_in_threads(work, [(k,) for k in range(len(data))])
    assert not errors, errors


def test_errors_are_found_before_threads_start(compile_with):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = compile_with("fuse-threaded", [x, y], [T.exp(x) + y, (x * y).max(axis=1)])
    with pytest.raises(ValueError):
        f(np.ones((40, 3)), np.ones((41, 3)))
    g = compile_with("fuse-threaded", [x], [(x * 2).min(axis=0)])
    with pytest.raises(ValueError):
        g(np.ones((0, 40)))
    np.testing.assert_array_equal(g(np.ones((40, 3)))[0], np.full(3, 2.0))


def test_workers_refuse_checks_and_allocations():
    module = lir.Module()
    fn = lir.Function(module, lir.FunctionType(lir.VoidType(), []), "w")
    w = WorkerCtx(module, fn, lir.IRBuilder(fn.append_basic_block("entry")))
    with pytest.raises(RuntimeError, match="before the parallel region"):
        w.check(lir.Constant(lir.IntType(1), 1), 1)
    with pytest.raises(RuntimeError, match="parallel region"):
        w.alloc("float32", [], name="x")
