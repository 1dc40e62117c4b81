"""IR text: only ASCII digits are numbers, every error has line:col, and a
splat ``dense<x> : tensor<N...>`` stays one element through parsing,
passes and printing (ir/parser.py, ir/core.is_splat)."""
import random
import time
import tracemalloc

import numpy as np
import pytest

from theon.ir.core import is_splat, splat
from theon.ir.parser import ParseError, parse_function, parse_module
from theon.ir.printer import print_function
from theon.passes import run_pipeline

BASE = """func @f(%a: tensor<?x3xf64>, %w: tensor<3xf64> {shared = "w"}, %n: tensor<i64>) {
  %0 = add(%a, %w) : tensor<?x3xf64>
  %1 = sum(%0) {axes = [1], keepdims = false} : tensor<?xf64>
  %2 = constant() {value = dense<[1.0, 2.0, 3.0]>} : tensor<3xf64>
  %3 = reshape(%1, %n) {shape = [?]} : tensor<?xf64>
  return(%3, %2) {updates = [1]}
}
"""

FOREIGN_DIGITS = ["\u00b2", "\u0663", "\u06f5", "\u2460", "\U0001d7d7", "\u0969", "\uff13"]


@pytest.mark.parametrize("digit", FOREIGN_DIGITS)
@pytest.mark.parametrize("where", ["dim", "number", "dense", "axis", "value-name"])
def test_only_ascii_digits_are_numbers(digit, where):
    text = {"dim": BASE.replace("tensor<3xf64> {shared", f"tensor<{digit}xf64> {{shared"),
            "number": BASE.replace("dense<[1.0, 2.0, 3.0]>", f"dense<[1.0, 2.0, {digit}]>"),
            "dense": BASE.replace("dense<[1.0, 2.0, 3.0]>", f"dense<[1.0, 2.0, 3{digit}]>"),
            "axis": BASE.replace("axes = [1]", f"axes = [{digit}]"),
            "value-name": BASE.replace("%1 = sum", f"%{digit} = sum")}[where]
    assert text != BASE
    with pytest.raises(ParseError) as info:
        parse_module(text, "t.ir")
    err = info.value
    line = next(k for k, ln in enumerate(text.splitlines(), 1) if digit in ln)
    assert err.line == line and err.col >= 1 and str(err).startswith(f"t.ir:{line}:{err.col}: ")


def test_random_damage_is_always_a_positioned_parse_error():
    rng = random.Random(7)
    alphabet = list("%@^(){}[]<>,:=?-.0123456789xeE\"\\ \n\tafinqrstuw_") + FOREIGN_DIGITS + ["\u00a0", "\x00", "é"]
    for _ in range(1500):
        chars = list(BASE)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars))
            r = rng.random()
            if r < 0.4:
                chars.insert(i, rng.choice(alphabet))
            elif r < 0.7:
                del chars[i]
            else:
                chars[i] = rng.choice(alphabet)
        text = "".join(chars)
        try:
            parse_module(text, "t.ir")
        except ParseError as e:
            assert e.line >= 1 and e.col >= 1 and str(e).startswith(f"t.ir:{e.line}:{e.col}: ")


SPLAT = """func @f(%x: tensor<1000000000xf64>) {
  %0 = constant() {value = dense<1.5> : tensor<1000000000xf64>} : tensor<1000000000xf64>
  %1 = add(%x, %0) : tensor<1000000000xf64>
  %2 = mul(%1, %0) : tensor<1000000000xf64>
  return(%2)
}
"""


def test_a_huge_splat_is_never_materialized():
    tracemalloc.start()
    try:
        start = time.perf_counter()
        func = parse_function(SPLAT)
        value = func.body.ops[0].attrs["value"]
        assert value.shape == (10 ** 9,) and is_splat(value) and value[123456789] == 1.5
        run_pipeline(func, "constant-fold,canonicalize,cse,simplify-shapes,stabilize,fuse-elementwise,dce")
        text = print_function(func)
        again = print_function(parse_function(text))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "dense<1.5>" in text and again == text
    assert peak < 50 * 2 ** 20, f"{peak} bytes traced"
    assert time.perf_counter() - start < 60


def test_a_splat_folds_and_compares_by_its_element():
    func = parse_function("""func @f() {
  %0 = constant() {value = dense<2> : tensor<4x5xi32>} : tensor<4x5xi32>
  %1 = constant() {value = dense<2> : tensor<4x5xi32>} : tensor<4x5xi32>
  %2 = add(%0, %1) : tensor<4x5xi32>
  return(%2)
}
""")
    run_pipeline(func, "cse,constant-fold,dce")
    (const, ret) = func.body.ops
    np.testing.assert_array_equal(const.attrs["value"], np.full((4, 5), 4, np.int32))
    s = splat(3.0, (2, 3), np.float32)
    assert is_splat(s) and not s.flags.writeable and s.dtype == np.float32
    assert not is_splat(np.ones(3)) and not is_splat(splat(1, (1,), np.int8))
