"""The shared LLVM helpers (codegen/llvm_util.py): the one counted-loop
builder, with loop-carried values and early exits, compiled and run."""
import ctypes
import functools

import llvmlite.ir as lir
from hypothesis import given, settings
from hypothesis import strategies as st

from theon.codegen.cpu.driver import jit
from theon.codegen.llvm_util import F64, I64, counted_loop, i64, linear_offset

FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)


@functools.lru_cache(maxsize=None)
def loop_function(step):
    """f(start, stop, exit_at, k) = (sum of i, count, sum of i*k as float)
    packed as sum + 1000*count, over i in range(start, stop, step) up to
    the first i == exit_at (exclusive)."""
    m = lir.Module(name=f"loop{step}")
    fn = lir.Function(m, lir.FunctionType(I64, [I64] * 4), name="f")
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    start, stop, exit_at, k = fn.args
    with counted_loop(b, stop, "i", start=start, step=step,
                      carried=[i64(0), i64(0), lir.Constant(F64, 0.0)]) as lp:
        lp.exit_if(b.icmp_signed("==", lp.index, exit_at))
        total, count, scaled = lp.carried
        lp.next = [b.add(total, lp.index), b.add(count, i64(1)),
                   b.fadd(scaled, b.sitofp(b.mul(lp.index, k), F64))]
    total, count, scaled = lp.carried
    check = b.fptosi(scaled, I64)
    b.ret(b.add(b.add(total, b.mul(count, i64(1000))), b.mul(check, i64(1000000))))
    module = jit.JitModule(str(m))
    return module, FN(module.address("f"))


def reference(start, stop, exit_at, k, step):
    total = count = scaled = 0
    for i in range(start, stop, step):
        if i == exit_at:
            break
        total, count, scaled = total + i, count + 1, scaled + i * k
    return total + 1000 * count + 1000000 * scaled


@settings(max_examples=60, deadline=None)
@given(start=st.integers(-20, 20), stop=st.integers(-20, 40), exit_at=st.integers(-25, 45),
       k=st.integers(-3, 3), step=st.sampled_from([1, 2, 3]))
def test_counted_loop_with_carried_values_and_exit(start, stop, exit_at, k, step):
    _, f = loop_function(step)
    assert f(start, stop, exit_at, k) == reference(start, stop, exit_at, k, step)


def test_linear_offset():
    m = lir.Module(name="off")
    fn = lir.Function(m, lir.FunctionType(I64, [I64] * 4), name="f")
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    i, j, s0, s1 = fn.args
    b.ret(linear_offset(b, [i, j], [s0, s1]))
    module = jit.JitModule(str(m))
    f = FN(module.address("f"))
    for args in ((0, 0, 5, 1), (2, 3, 7, -1), (4, 1, 0, 3)):
        assert f(*args) == args[0] * args[2] + args[1] * args[3]
