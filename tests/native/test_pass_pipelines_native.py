"""The FAST_RUN and FAST_COMPILE pipelines compiled to native code: same numbers, few ops, IEEE specials kept."""
import numpy as np

import theon
import theon.tensor as T
from theon.tensor import nnet

from ..pass_helpers import count_ops
from ..ir.test_pass_pipelines import A, B, S, VALUES


def test_native_fast_run_and_fast_compile_agree():
    e = T.log(nnet.softmax(A * 1 + B)) + (S ** 2) / 4.0 - T.log(1 + A * A) + (B * A + A * B).sum(axis=0)
    rng = np.random.default_rng(1)
    values = [rng.uniform(-2, 2, size=VALUES[n]) for n in ("A", "B", "S")]
    outs = [theon.function([A, B, S], e, mode=mode)(*values) for mode in ("FAST_RUN", "FAST_COMPILE")]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)


def test_grad_of_square_compiles_to_as_few_ops_as_two_times_a():
    a = T.scalar("a")
    grad = theon.function([a], theon.grad(a ** 2, a))
    plain = theon.function([a], 2 * a)
    assert count_ops(grad.ir) == count_ops(plain.ir) == 2
    assert grad(3.0) == plain(3.0) == 6.0


def test_fast_run_keeps_ieee_special_values():
    x = T.vector("x")
    f = theon.function([x], [x * 0, x - x, x / x, (x + 0) * 1])
    special = np.array([np.nan, np.inf, -np.inf, 0.0, 2.0])
    times_zero, minus_self, over_self, same = f(special)
    nan = np.nan
    np.testing.assert_array_equal(times_zero, [nan, nan, nan, 0.0, 0.0])
    np.testing.assert_array_equal(minus_self, [nan, nan, nan, 0.0, 0.0])
    np.testing.assert_array_equal(over_self, [nan, nan, nan, nan, 1.0])
    np.testing.assert_array_equal(same, special)
    names = [op.name for op in f.ir.walk() if op.name not in ("fused", "yield", "return")]
    assert sorted(names) == ["constant", "div", "mul", "sub"]   # x + 0 and * 1 are gone
