"""Adding an elementwise op touches only what ARCHITECTURE.md "Adding an op"
lists. This file is the worked example: the op ``test_cube`` (x ** 3) is
defined here and nowhere else --

1. the op class with its rules and facts (``ir/ops/elementwise.py`` style,
   registered with ``ir.dialect.register_op``);
2. its scalar emitter, the CPU scalar lowering (``codegen.scalar.register_scalar``),
   which the CPU loops, fused loop bodies and the PTX map kernels all use
   (3. a PTX lowering of its own is needed only if it must differ);
4. its DSL function;

-- and then it compiles with theon.function in FAST_RUN (fused with its
neighbours), matches NumPy, differentiates through its rule, round-trips
through the IR text, lowers to PTX (assembled by ptxas where available,
run on the emulated device) and passes the registry walker.
"""
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import printing
from theon.codegen.ptx import compile_ptx
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.codegen.scalar import register_scalar, unregister_scalar
from theon.frontend.basic import apply_op, as_tensor_variable
from theon.ir.builder import Builder
from theon.ir.core import Function
from theon.ir.dialect import OPS, register_op, unregister_op
from theon.ir.ops.elementwise import FLOAT, INT, unary
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.types import TensorType
from theon.runtime.gpu_function import from_function

from ..ir.test_op_facts import fact_problems

# 1. the op: name, NumPy reference, gradient rule (d/dx x^3 = 3 x^2), facts
Cube = unary("test_cube", lambda x: x * x * x,
             lambda e, g, x, z: e("mul", g, e("mul", e.const(3, x.dtype), e("mul", x, x))),
             doc="x ** 3 (a test-only op: tests/native/test_add_an_op.py).", kinds=(FLOAT, INT), cost=2)


# 2. its scalar emitter: one element in, one out (LLVM IR through llvmlite)
def emit_cube(sc, args):
    (x,) = args
    mul = sc.b.fmul if sc.is_float else sc.b.mul
    return mul(mul(x, x), x)


# 4. its DSL function
def cube(x):
    return apply_op("test_cube", as_tensor_variable(x))


@pytest.fixture(scope="module", autouse=True)
def cube_op():
    register_op(Cube)
    register_scalar("test_cube", emit_cube)
    yield
    unregister_scalar("test_cube")
    unregister_op("test_cube")


RNG = np.random.default_rng(3)
X = RNG.standard_normal((33, 65))


def test_the_registry_walker_finds_every_fact():
    assert fact_problems(OPS["test_cube"]) == []


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int8"])
def test_fast_run_fuses_it_and_matches_numpy(dtype):
    x = T.matrix("x", dtype=dtype)
    f = theon.function([x], [cube(x) + 1, cube(x).sum(axis=1)], mode="FAST_RUN")
    optimized = printing.dump(f, "optimized")
    assert "fused(" in optimized and "test_cube" in optimized
    xv = (X * 4).astype(dtype)
    got = f(xv)
    want = [xv ** 3 + np.asarray(1, dtype), (xv ** 3).sum(axis=1)]     # NumPy dtypes (int sums in int64)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol) if g.dtype.kind == "f" else \
            np.testing.assert_array_equal(g, w)


def test_its_gradient_rule_differentiates_it():
    x = T.dvector("x")
    g = theon.grad((cube(x) * T.sin(x)).sum(), x)
    f = theon.function([x], g, mode="FAST_RUN")
    xv = RNG.standard_normal(50)
    np.testing.assert_allclose(f(xv), 3 * xv ** 2 * np.sin(xv) + xv ** 3 * np.cos(xv), rtol=1e-12, atol=1e-12)
    theon.gradient.verify_grad(lambda v: cube(v).sum(), [RNG.standard_normal(7)], rng=np.random.default_rng(0))


def _function():
    f = Function("f", [TensorType("float32", (None,))], ["x"])
    b = Builder(f.body)
    y = b("test_cube", f.args[0])
    b.create("return", [b("add", y, f.args[0])])
    return f


def test_print_parse_round_trip():
    text = print_function(_function())
    assert "test_cube(%x)" in text
    assert print_function(parse_function(text)) == text


def test_ptx_lowering_assembles(tmp_path):
    compiled = compile_ptx(_function())
    assert compiled.kernel_names
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        pytest.skip("ptxas (CUDA toolkit) is not on PATH; the PTX was generated but not assembled")
    path = tmp_path / "cube.ptx"
    path.write_text(compiled.ptx)
    proc = subprocess.run([ptxas, "--gpu-name", "sm_80", "-o", str(tmp_path / "cube.cubin"), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_gpu_plan_runs_it_on_the_emulated_device():
    x = T.fvector("x")
    f = theon.function([x], cube(x) * 2, mode="FAST_RUN")
    xv = RNG.standard_normal(1000).astype(np.float32)
    got = from_function(f, EmulatedDevice())(xv)
    np.testing.assert_allclose(np.asarray(got), xv ** 3 * 2, rtol=2e-6)
