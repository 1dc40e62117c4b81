"""IR text: print -> parse -> print round trips for every op of the dialect,
attributes and dense constants, value names, regions, and positioned parse
errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theon.ir import DYN, Builder, Function, Module, TensorType
from theon.ir.core import Block, Operation
from theon.ir.dialect import OPS
from theon.ir.parser import ParseError, parse_function, parse_module
from theon.ir.printer import format_attr, print_function, print_module

from ..region_helpers import Effect, LooseFused


def roundtrip(text, ops=None):
    """``text`` must be printer output: parsing it prints it back exactly."""
    module = parse_module(text, "case.ir", ops=ops)
    printed = print_module(module)
    assert printed == text
    assert print_module(parse_module(printed, ops=ops)) == printed
    return module


def func_text(args, body):
    lines = "".join(f"  {line}\n" for line in body)
    return f"func @f({args}) {{\n{lines}}}\n"


def unary(name, t, r=None):
    return func_text(f"%x: {t}", [f"%0 = {name}(%x) : {r or t}", "return(%0)"])


def binary(name, a, b, r):
    return func_text(f"%x: {a}, %y: {b}", [f"%0 = {name}(%x, %y) : {r}", "return(%0)"])


F64 = "tensor<?x3xf64>"
FLOAT_UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "arctan",
               "sigmoid", "softplus", "erf", "floor", "ceil", "round", "exp2", "sinh", "cosh", "arcsin",
               "arccos", "arcsinh", "arccosh", "arctanh", "erfc", "erfinv", "gamma", "gammaln", "psi",
               "trigamma", "trunc"]
ARITH_BINARY = ["add", "sub", "mul", "floordiv", "mod", "pow", "maximum", "minimum"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]
LOGIC = ["and", "or", "xor"]
REDUCE = ["sum", "prod", "max", "min"]

CASES = {}
for _n in FLOAT_UNARY:
    CASES[f"{_n}-f64"] = unary(_n, F64)
    CASES[f"{_n}-f32"] = unary(_n, "tensor<2x?xf32>")
for _n in ["neg", "abs", "sign"]:
    CASES[f"{_n}-f32"] = unary(_n, "tensor<f32>")
    CASES[f"{_n}-i32"] = unary(_n, "tensor<4xi32>")
CASES["not-i1"] = unary("not", "tensor<?xi1>")
CASES["not-u8"] = unary("not", "tensor<?xu8>")
for _u in ("u16", "u32", "u64"):
    CASES[f"not-{_u}"] = unary("not", f"tensor<?x{_u}>")
CASES["arctan2-f64"] = binary("arctan2", "tensor<?x3xf64>", "tensor<3xf64>", "tensor<?x3xf64>")
CASES["cast"] = func_text(f"%x: {F64}", ['%0 = cast(%x) {dtype = "float32"} : tensor<?x3xf32>', "return(%0)"])
CASES["cast-bool"] = func_text("%x: tensor<i16>", ['%0 = cast(%x) {dtype = "bool"} : tensor<i1>', "return(%0)"])
for _n in ARITH_BINARY:
    CASES[f"{_n}-f32"] = binary(_n, "tensor<?x3xf32>", "tensor<3xf32>", "tensor<?x3xf32>")
    CASES[f"{_n}-i64"] = binary(_n, "tensor<i64>", "tensor<5xi64>", "tensor<5xi64>")
CASES["div"] = binary("div", F64, "tensor<?x1xf64>", F64)
CASES["add-bool"] = binary("add", "tensor<2xi1>", "tensor<2xi1>", "tensor<2xi1>")
for _n in COMPARE:
    CASES[_n] = binary(_n, F64, "tensor<f64>", "tensor<?x3xi1>")
for _n in LOGIC:
    CASES[f"{_n}-i1"] = binary(_n, "tensor<?xi1>", "tensor<?xi1>", "tensor<?xi1>")
    CASES[f"{_n}-i8"] = binary(_n, "tensor<3xi8>", "tensor<1xi8>", "tensor<3xi8>")
CASES["where"] = func_text("%c: tensor<?x1xi1>, %a: tensor<3xf64>, %b: tensor<f64>",
                           ["%0 = where(%c, %a, %b) : tensor<?x3xf64>", "return(%0)"])
for _n in REDUCE:
    CASES[f"{_n}-keep"] = func_text("%x: tensor<?x3x4xf64>", [
        f"%0 = {_n}(%x) {{axes = [0, 2], keepdims = true}} : tensor<1x3x1xf64>", "return(%0)"])
    CASES[f"{_n}-all"] = func_text("%x: tensor<?x3xi64>", [f"%0 = {_n}(%x) {{axes = [0, 1], keepdims = false}} : tensor<i64>",
                                                           "return(%0)"])
CASES["argmax"] = func_text(f"%x: {F64}", ["%0 = argmax(%x) {axis = none, keepdims = false} : tensor<i64>",
                                          "return(%0)"])
CASES["argmin"] = func_text(f"%x: {F64}", ["%0 = argmin(%x) {axis = 1, keepdims = true} : tensor<?x1xi64>",
                                          "return(%0)"])
CASES["matmul"] = binary("matmul", F64, "tensor<3x4xf64>", "tensor<?x4xf64>")
CASES["matmul_update"] = func_text("%a: tensor<3x?xf32>, %b: tensor<?x4xf32>, %c: tensor<1x4xf32>", [
    "%0 = matmul_update(%a, %b, %c) {alpha = -0.5} : tensor<3x4xf32>",
    "return(%0)"])
CASES["matmul-1d"] = binary("matmul", "tensor<3xf32>", "tensor<3xf32>", "tensor<f32>")
CASES["matmul-batch"] = binary("matmul", "tensor<2x?x3xi32>", "tensor<3x5xi32>", "tensor<2x?x5xi32>")
CASES["shape"] = unary("shape", F64, "tensor<2xi64>")
CASES["dimshuffle"] = func_text(f"%x: {F64}", ['%0 = dimshuffle(%x) {pattern = [1, "x", 0]} : tensor<3x1x?xf64>',
                                              "return(%0)"])
CASES["reshape-static"] = func_text("%x: tensor<2x3xf64>", ["%0 = reshape(%x) {shape = [3, -1]} : tensor<3x2xf64>",
                                                            "return(%0)"])
CASES["reshape-dynamic"] = func_text(f"%x: {F64}, %n: tensor<i64>",
                                     ["%0 = reshape(%x, %n) {shape = [?, -1]} : tensor<?x?xf64>", "return(%0)"])
CASES["reshape-const-dim"] = func_text("%x: tensor<2x3xf64>", [
    "%0 = constant() {value = dense<2>} : tensor<i64>",
    "%1 = reshape(%x, %0) {shape = [?, -1]} : tensor<2x3xf64>", "return(%1)"])
CASES["subtensor-dynamic"] = func_text(f"%x: {F64}, %i: tensor<i64>, %j: tensor<i32>", [
    "%0 = subtensor(%x, %i, %j) {idx = [[?, ?, 2], 0]} : tensor<?xf64>", "return(%0)"])
CASES["subtensor-static"] = func_text("%x: tensor<5x3xf64>", [
    "%0 = subtensor(%x) {idx = [[1, 4, 1], -1]} : tensor<3xf64>",
    "%1 = subtensor(%x) {idx = [[none, none, -1]]} : tensor<5x3xf64>", "return(%0, %1)"])
CASES["set_subtensor"] = func_text(f"%x: {F64}, %v: tensor<3xf64>, %i: tensor<i64>", [
    "%0 = set_subtensor(%x, %v, %i) {idx = [?]} : tensor<?x3xf64>", "return(%0)"])
CASES["inc_subtensor"] = func_text(f"%x: {F64}, %v: tensor<f64>, %i: tensor<i64>", [
    "%0 = inc_subtensor(%x, %v, %i) {idx = [[0, ?, none], [none, 2, none]]} : tensor<?x3xf64>", "return(%0)"])
CASES["concatenate"] = func_text(f"%x: {F64}, %y: tensor<2x3xf64>", [
    "%0 = concatenate(%x, %y) {axis = 0} : tensor<?x3xf64>",
    "%1 = concatenate(%y, %y, %y) {axis = 1} : tensor<2x9xf64>", "return(%0, %1)"])
CASES["alloc"] = func_text("%v: tensor<f64>, %n: tensor<i64>", [
    "%0 = alloc(%v, %n) {shape = [?, 3]} : tensor<?x3xf64>",
    "%1 = alloc(%v) {shape = [2, 3]} : tensor<2x3xf64>", "return(%0, %1)"])
CASES["fused"] = func_text("%a: tensor<?x3xf32>, %b: tensor<3xf32>", [
    "%0, %1 = fused(%a, %b) ({",
    "  ^bb(%2: tensor<f32>, %3: tensor<f32>):",
    "    %4 = mul(%2, %3) : tensor<f32>",
    "    %5 = exp(%4) : tensor<f32>",
    "    yield(%5, %5)",
    '}) {axes = [1], keepdims = false, parallel = 93623, reduce = [none, "sum"]} : tensor<?x3xf32>, tensor<?xf32>',
    "return(%0, %1)"])
CASES["sum_to"] = func_text("%g: tensor<?x?x3xf64>, %n: tensor<i64>", [
    "%0 = sum_to(%g, %n) {shape = [?, 1]} : tensor<?x1xf64>",
    "%1 = sum_to(%g) {shape = [3]} : tensor<3xf64>", "return(%0, %1)"])
CASES["stop_gradient"] = func_text("%x: tensor<?xf32>", [
    '%0 = stop_gradient(%x) {kind = "zero"} : tensor<?xf32>',
    '%1 = stop_gradient(%0) {kind = "disconnected"} : tensor<?xf32>', "return(%1)"])
CASES["grad_override"] = func_text("%x: tensor<?x3xf64>, %d: tensor<?x3xf64>, %m: tensor<f64>", [
    '%0 = grad_override(%x, %m, %m) {kind = "clip"} : tensor<?x3xf64>',
    '%1 = grad_override(%0, %m) {kind = "scale"} : tensor<?x3xf64>',
    '%2 = grad_override(%1, %x, %d) {kind = "chain"} : tensor<?x3xf64>', "return(%2)"])
CASES["ifelse"] = func_text("%c: tensor<i1>, %a: tensor<?xf64>, %b: tensor<?xf64>", [
    "%0, %1 = ifelse(%c, %a, %b, %b) ({",
    "  ^bb(%2: tensor<?xf64>, %3: tensor<?xf64>):",
    "    %4 = add(%2, %3) : tensor<?xf64>",
    "    yield(%4, %2)",
    "}, {",
    "  ^bb(%5: tensor<?xf64>):",
    "    %6 = neg(%5) : tensor<?xf64>",
    "    yield(%6, %6)",
    "}) {n_then = 2} : tensor<?xf64>, tensor<?xf64>",
    "return(%0, %1)"])
CASES["scan"] = func_text("%n: tensor<i64>, %x: tensor<?x3xf64>, %h: tensor<2x3xf64>, %w: tensor<f64>", [
    "%0, %1 = scan(%n, %x, %h, %w) ({",
    "  ^bb(%2: tensor<3xf64>, %3: tensor<3xf64>, %4: tensor<3xf64>, %5: tensor<3xf64>, %6: tensor<f64>):",
    "    %7 = mul(%2, %6) : tensor<3xf64>",
    "    %8 = add(%7, %4) : tensor<3xf64>",
    "    %9 = sum(%8) {axes = [0], keepdims = false} : tensor<f64>",
    "    %10 = constant() {value = dense<0.0>} : tensor<f64>",
    "    %11 = gt(%9, %10) : tensor<i1>",
    "    yield(%8, %3, %11)",
    "}) {go_backwards = true, name = \"loop\", out_taps = [[-2, -1], []], seq_taps = [[-1, 0]], "
    "truncate_gradient = 5, until = true} : tensor<?x3xf64>, tensor<?x3xf64>",
    "return(%0, %1)"])
CASES["print"] = func_text("%x: tensor<?x3xf64>", [
    '%0 = print(%x) {attrs = ["__str__", "shape"], message = "x"} : tensor<?x3xf64>', "return(%0)"])
CASES["arange-const"] = func_text("", [
    "%0 = constant() {value = dense<0>} : tensor<i64>",
    "%1 = constant() {value = dense<10>} : tensor<i64>",
    "%2 = constant() {value = dense<2>} : tensor<i64>",
    "%3 = arange(%0, %1, %2) : tensor<5xi64>", "return(%3)"])
CASES["arange-dynamic"] = func_text("%a: tensor<f64>, %b: tensor<f64>, %c: tensor<f64>", [
    "%0 = arange(%a, %b, %c) : tensor<?xf64>", "return(%0)"])
CASES["constants"] = func_text("", [
    "%0 = constant() {value = dense<[true, false]>} : tensor<2xi1>",
    "%1 = constant() {value = dense<[-128, 0, 127]>} : tensor<3xi8>",
    "%2 = constant() {value = dense<[-32768, 32767]>} : tensor<2xi16>",
    "%3 = constant() {value = dense<[-2147483648, 2147483647]>} : tensor<2xi32>",
    "%4 = constant() {value = dense<[[-9223372036854775808], [9223372036854775807]]>} : tensor<2x1xi64>",
    "%5 = constant() {value = dense<[0, 255]>} : tensor<2xu8>",
    "%6 = constant() {value = dense<[0.1, -0.0, inf, -inf, nan, 3.4028235e+38, 1e-45]>} : tensor<7xf32>",
    "%7 = constant() {value = dense<[0.1, 1e+300, 5e-324, -0.0, inf, nan, 1.0]>} : tensor<7xf64>",
    "%8 = constant() {value = dense<2.5>} : tensor<f64>",
    "%9 = constant() {value = dense<[]>} : tensor<0x3xf64>",
    "%10 = constant() {value = dense<[[], []]>} : tensor<2x0xi32>",
    "%11 = constant() {value = dense<true>} : tensor<i1>",
    "%12 = constant() {value = dense<-7>} : tensor<i8>",
    "return(%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12)"])
CASES["return-updates"] = func_text('%x: tensor<f64>, %w: tensor<3xf64> {shared = "w"}, %b: tensor<f64> {shared = "b"}', [
    "%0 = add(%w, %x) : tensor<3xf64>", "return(%x, %b, %0) {updates = [1]}"])
CASES["return-empty"] = func_text("", ["return()"])
CASES["adv_subtensor"] = func_text("%x: tensor<?x4x5xf64>, %i: tensor<?xi64>, %j: tensor<3x1xi32>", [
    '%0 = adv_subtensor(%x, %i, %j) {idx = ["a", ":", "a"]} : tensor<3x?x4xf64>', "return(%0)"])
CASES["adv_set_subtensor"] = func_text("%x: tensor<?x4xf32>, %v: tensor<f32>, %i: tensor<2xu8>", [
    '%0 = adv_set_subtensor(%x, %v, %i) {idx = ["x", ":", "a"]} : tensor<?x4xf32>', "return(%0)"])
CASES["adv_inc_subtensor"] = func_text("%x: tensor<?x4xf64>, %v: tensor<?x4xf64>, %i: tensor<?xi8>", [
    '%0 = adv_inc_subtensor(%x, %v, %i) {idx = ["a"]} : tensor<?x4xf64>', "return(%0)"])
CASES["random_uniform"] = func_text("%s: tensor<2xi64>, %n: tensor<i64>", [
    '%0 = random_uniform(%s, %n) {dtype = "float64", shape = [?, 3]} : tensor<?x3xf64>', "return(%0)"])
CASES["random_normal"] = func_text("%s: tensor<2xi64>", [
    '%0 = random_normal(%s) {dtype = "float32", shape = [4]} : tensor<4xf32>', "return(%0)"])
CASES["random_permutation"] = func_text("%s: tensor<2xi64>", [
    "%0 = random_permutation(%s) {shape = [2, 5]} : tensor<2x5xi64>", "return(%0)"])
CASES["check_probabilities"] = func_text("%p: tensor<?x3xf32>", [
    '%0 = check_probabilities(%p) {arg = "multinomial: pvals", normalized = true} : tensor<?x3xf32>', "return(%0)"])
CASES["random_choice"] = func_text("%s: tensor<2xi64>, %p: tensor<?x5xf64>, %r: tensor<i64>", [
    "%0 = random_choice(%s, %p, %r) {shape = [?, 2]} : tensor<?x2xi64>", "return(%0)"])
CASES["nonzero"] = func_text("%m: tensor<?x3xi1>, %n: tensor<i64>", [
    "%0 = nonzero(%m, %n) {match = [?, none]} : tensor<2x?xi64>", "return(%0)"])

CASES["linalg"] = func_text("%a: tensor<?x3x3xf64>, %b: tensor<?x3x2xf64>", [
    "%0 = cholesky(%a) : tensor<?x3x3xf64>",
    "%1 = solve(%a, %b) : tensor<?x3x2xf64>",
    "%2 = solve_triangular(%a, %b) {lower = true, trans = false, unit_diagonal = true} : tensor<?x3x2xf64>",
    "%3 = matrix_inverse(%a) : tensor<?x3x3xf64>",
    "%4 = det(%a) : tensor<?xf64>",
    "%5 = eigvalsh(%a) {lower = true} : tensor<?x3xf64>",
    "%6 = eigh_vectors(%a) {lower = false} : tensor<?x3x3xf64>", 
    "%7 = qr_q(%b) : tensor<?x3x2xf64>", "%8 = qr_r(%b) : tensor<?x2x2xf64>",
    "%9 = svd_s(%b) : tensor<?x2xf64>", "%10 = svd_u(%b) {full_matrices = true} : tensor<?x3x3xf64>",
    "%11 = svd_vt(%b) {full_matrices = false} : tensor<?x2x2xf64>", "%12 = pinv(%b) {rcond = 1e-15} : tensor<?x2x3xf64>",
    "%13 = eigvals(%a) : tensor<?x3xf64>", "%14 = eig_vectors(%a) : tensor<?x3x3xf64>",
    "return(%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14)"])

CASES["sorting"] = func_text("%x: tensor<?x?xf32>, %v: tensor<?xi64>, %s: tensor<?xf32>, %n: tensor<i64>", [
    "%0 = sort(%x) {axis = 1} : tensor<?x?xf32>",
    "%1 = argsort(%x) {axis = 0} : tensor<?x?xi64>",
    "%2 = cumsum(%x) {axis = 1} : tensor<?x?xf32>",
    "%3 = cumprod(%x) {axis = 0} : tensor<?x?xf32>",
    "%4 = bincount(%v) {minlength = 3} : tensor<?xi64>",
    "%5 = repeat(%s, %n) {axis = 0} : tensor<?xf32>",
    '%6 = searchsorted(%s, %s) {side = "right"} : tensor<?xi64>',
    "%7 = check_index(%v, %n) : tensor<?xi64>",
    "return(%0, %1, %2, %3, %4, %5, %6, %7)"])
_CONV = 'dilation = [1, 2], flip = true, groups = 1, pad = ["half", 1], '
CASES["conv"] = func_text("%x: tensor<?x2x?x?xf64>, %w: tensor<3x2x3x3xf64>, %g: tensor<?x3x?x?xf64>, %n: tensor<i64>, "
                          "%b: tensor<3xf64>", [
    f"%0 = conv(%x, %w) {{{_CONV}stride = [2, 1]}} : tensor<?x3x?x?xf64>",
    f"%1 = conv_grad_input(%g, %w, %n, %n, %n) {{{_CONV}shape = [?, 2, ?, ?], stride = [2, 1]}} : tensor<?x2x?x?xf64>",
    f"%2 = conv_grad_weight(%x, %g) {{{_CONV}shape = [3, 2, 3, 3], stride = [2, 1]}} : tensor<3x2x3x3xf64>",
    f'%3 = conv_bias(%x, %w, %b) {{activation = "tanh", {_CONV}stride = [2, 1]}} : tensor<?x3x?x?xf64>',
    "%4 = neibs_check(%x) {neib_shape = [2, 2], neib_step = [2, 1]} : tensor<?x2x?x?xf64>",
    "return(%0, %1, %2, %3, %4)"])
_CP = ('dilation = [1, 1], flip = true, groups = 1, ignore_border = false, pad = [1, 0], pool_pad = [0, 0], '
       'pool_stride = [1, 2], pool_ws = [3, 2], stride = [1, 1]')
CASES["conv_pool"] = func_text("%x: tensor<?x2x?x9xf32>, %w: tensor<3x2x2x2xf32>, %b: tensor<3xf32>, "
                               "%g: tensor<?x3x?x4xf32>", [
    f'%0, %1 = conv_pool(%x, %w, %b) {{activation = "relu", bias = "before", {_CP}}} : tensor<?x3x?x4xf32>, '
    "tensor<?x3x?x4xu8>",
    f"%2 = pool_grad_mask(%1, %g, %x, %w) {{{_CP}}} : tensor<?x3x?x8xf32>",
    'return(%0, %2)'])
_POOL = 'ignore_border = true, mode = "max", pad = [0, 0], stride = [2, 2], ws = [2, 2]'
CASES["pool"] = func_text("%x: tensor<?x?x?x?xf64>, %y: tensor<?x?x?x?xf64>", [
    f"%0 = pool(%x) {{{_POOL}}} : tensor<?x?x?x?xf64>",
    f"%1 = pool_grad(%x, %0, %y) {{{_POOL}}} : tensor<?x?x?x?xf64>",
    f"%2 = pool_grad_grad(%x, %0, %x) {{{_POOL}}} : tensor<?x?x?x?xf64>",
    'return(%0, %1, %2)'])

@pytest.mark.parametrize("case", sorted(CASES))
def test_roundtrip(case):
    roundtrip(CASES[case])


def test_every_dialect_op_has_a_roundtrip_case():
    covered = set()
    for text in CASES.values():
        for func in parse_module(text).functions:
            covered.update(op.name for op in func.walk())
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops without a round-trip case in CASES: {missing}"


def test_architecture_example_prints_exactly():
    f = Function("f", [TensorType("float64", (None, 3)), TensorType("float64", (3,))], ["a", "w"],
                 [{}, {"shared": "w"}])
    b = Builder(f.body)
    s = b("sum", b("add", *f.args), axes=(1,), keepdims=False)
    c = b("constant", value=np.array([1.0, 2.0, 3.0]))
    b.create("return", [s, c], {"updates": (1,)})
    assert print_function(f) == (
        'func @f(%a: tensor<?x3xf64>, %w: tensor<3xf64> {shared = "w"}) {\n'
        "  %0 = add(%a, %w) : tensor<?x3xf64>\n"
        "  %1 = sum(%0) {axes = [1], keepdims = false} : tensor<?xf64>\n"
        "  %2 = constant() {value = dense<[1.0, 2.0, 3.0]>} : tensor<3xf64>\n"
        "  return(%1, %2) {updates = [1]}\n"
        "}\n")


def test_attributes_print_sorted_by_key():
    f = Function("f", [TensorType("int64", (2, 3))], ["x"])
    b = Builder(f.body)
    op = b.create("argmax", [f.args[0]], {"keepdims": True, "axis": 1})
    b.create("return", [op.result])
    assert "  %0 = argmax(%x) {axis = 1, keepdims = true} : tensor<2x1xi64>\n" in print_function(f)


def test_parsed_ops_carry_locations_types_and_attrs():
    f = parse_function(CASES["subtensor-dynamic"], "s.ir")
    op = f.body.ops[0]
    assert op.loc == ("s.ir", 2, 8)
    assert op.attrs["idx"] == ((DYN, DYN, 2), 0)
    assert op.results[0].type == TensorType("float64", (None,))
    assert [a.name for a in f.args] == ["x", "i", "j"]
    assert f.outputs == [op.results[0]]


def test_constants_parse_to_exact_arrays():
    f = parse_function(CASES["constants"])
    vals = [op.attrs["value"] for op in f.body.ops[:-1]]
    assert vals[0].dtype == np.bool_ and vals[0].tolist() == [True, False]
    assert vals[1].dtype == np.int8 and vals[1].tolist() == [-128, 0, 127]
    assert vals[4].dtype == np.int64 and vals[4].shape == (2, 1) and vals[4][0, 0] == -2**63
    assert vals[5].dtype == np.uint8 and vals[5].tolist() == [0, 255]
    f32 = vals[6]
    assert f32.dtype == np.float32 and f32[0] == np.float32(0.1) and np.signbit(f32[1])
    assert np.isinf(f32[2]) and f32[3] < 0 and np.isnan(f32[4]) and f32[6] > 0
    f64 = vals[7]
    assert f64.dtype == np.float64 and f64[2] == 5e-324 and np.signbit(f64[3]) and np.isnan(f64[5])
    assert vals[8].shape == () and vals[8] == 2.5
    assert vals[9].shape == (0, 3) and vals[9].dtype == np.float64
    assert vals[10].shape == (2, 0) and vals[10].dtype == np.int32
    assert vals[11].shape == () and vals[11].dtype == np.bool_ and bool(vals[11])
    assert all(not v.flags.writeable for v in vals)


def _constant_function(array):
    f = Function("c", [])
    b = Builder(f.body)
    b.create("return", [b("constant", value=array)])
    return f


def _parsed_constant(array):
    text = print_function(_constant_function(array))
    f = parse_function(text)
    assert print_function(f) == text
    return f.body.ops[0].attrs["value"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=6))
def test_float32_constants_roundtrip_bit_exactly(bits):
    array = np.array(bits, np.uint32).view(np.float32)
    back = _parsed_constant(array)
    assert back.dtype == np.float32 and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=6))
def test_float64_constants_roundtrip_bit_exactly(bits):
    array = np.array(bits, np.uint64).view(np.float64).reshape(len(bits), 1)
    back = _parsed_constant(array)
    assert back.shape == (len(bits), 1) and back.tobytes() == array.tobytes()


def test_float32_shortest_repr_and_nan_payloads():
    nan_payload = np.array([0x7FC00001, 0xFFC00000], np.uint32).view(np.float32)
    text = print_function(_constant_function(np.concatenate([np.float32([0.1, 1.0]), nan_payload])))
    assert "dense<[0.1, 1.0, 0x7FC00001, 0xFFC00000]>" in text
    assert _parsed_constant(nan_payload).tobytes() == nan_payload.tobytes()


def test_constant_of_other_type_prints_explicit_type():
    f = Function("c", [])
    b = Builder(f.body)
    c = b.create("constant", [], {"value": np.array([1.0, 2.0])}, result_types=[TensorType("float64", (None,))])
    b.create("return", [c.result])
    text = print_function(f)
    assert "dense<[1.0, 2.0]> : tensor<2xf64>}" in text
    back = parse_function(text).body.ops[0]
    assert back.attrs["value"].shape == (2,) and back.results[0].type.shape == (None,)


def test_splat_dense_is_accepted():
    f = parse_function(func_text("", ["%0 = constant() {value = dense<1.5>} : tensor<2x2xf32>", "return(%0)"]))
    value = f.body.ops[0].attrs["value"]
    assert value.dtype == np.float32 and value.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert "dense<1.5>} : tensor<2x2xf32>" in print_function(f)          # a splat stays a splat


# --- attributes of any kind, through a test-only op -------------------------------
class AttrsOp(Effect):
    """Test-only: no operands, no results, any attributes."""
    name = "test.attrs"


def _attr_key(v):
    if isinstance(v, float) and math.isnan(v):
        return ("f", "nan")     # a NaN attribute's sign/payload carries no meaning
    if isinstance(v, float):
        return ("f", np.float64(v).tobytes())
    if isinstance(v, tuple):
        return ("t",) + tuple(_attr_key(x) for x in v)
    return (type(v).__name__, v)


_scalars = (st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
            | st.booleans() | st.none() | st.just(DYN) | st.text(max_size=8))
_attrs = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=8)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True) | st.text(min_size=1, max_size=4),
                       _attrs, max_size=4))
def test_attributes_roundtrip(attrs):
    f = Function("g", [])
    f.body.append(Operation(AttrsOp(), [], attrs))
    f.body.append(Operation(OPS["return"], []))
    ops = {**OPS, "test.attrs": AttrsOp()}
    text = print_function(f)
    back = parse_function(text, ops=ops)
    assert print_function(back) == text
    parsed = back.body.ops[0].attrs
    assert {k: _attr_key(v) for k, v in parsed.items()} == {k: _attr_key(v) for k, v in attrs.items()}


@pytest.mark.parametrize("value, text", [
    (1.0, "1.0"), (-0.0, "-0.0"), (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"),
    (1e16, "1e+16"), (3, "3"), (True, "true"), (None, "none"), (DYN, "?"),
    ('a"b\\c\n', '"a\\"b\\\\c\\n"'), ((1, (None, DYN), ()), "[1, [none, ?], []]"),
])
def test_format_attr(value, text):
    assert format_attr(value) == text


# --- names, modules ------------------------------------------------------------------
def test_value_names_unique_identifiers_else_numbers():
    f = Function("f", [TensorType("float64", (3,))] * 3, ["x", "x.T", "bad name"])
    b = Builder(f.body)
    dup1 = b.create("exp", [f.args[0]]).result
    dup1.name = "dup"
    dup2 = b.create("exp", [dup1]).result
    dup2.name = "dup"
    kept = b.create("neg", [f.args[1]]).result
    kept.name = "_y1"
    num = b.create("neg", [f.args[2]]).result
    num.name = "7"
    b.create("return", [dup2, kept, num])
    text = print_function(f)
    assert text == ("func @f(%x: tensor<3xf64>, %x.T: tensor<3xf64>, %0: tensor<3xf64>) {\n"
                    "  %1 = exp(%x) : tensor<3xf64>\n"
                    "  %2 = exp(%1) : tensor<3xf64>\n"
                    "  %_y1 = neg(%x.T) : tensor<3xf64>\n"
                    "  %3 = neg(%0) : tensor<3xf64>\n"
                    "  return(%2, %_y1, %3)\n"
                    "}\n")
    back = parse_function(text)
    assert [a.name for a in back.args] == ["x", "x.T", None]
    assert print_function(back) == text


def test_multi_function_module_and_quoted_names():
    text = (func_text("%x: tensor<f64>", ["%0 = exp(%x) : tensor<f64>", "return(%0)"]) + "\n"
            + func_text("", ["return()"]).replace("@f", '@"g h"') + "\n"
            + func_text("%x: tensor<i64>", ["return(%x)"]).replace("@f", "@k.2"))
    m = roundtrip(text)
    assert [f.name for f in m.functions] == ["f", "g h", "k.2"]
    assert m.get("k.2").outputs == [m.get("k.2").args[0]]


def test_empty_module_and_comments():
    assert print_module(Module([])) == ""
    assert parse_module("  // nothing here\n").functions == []
    m = parse_module("// -----// IR Dump After cse //----- //\n" + CASES["exp-f64"] + "// end\n")
    assert print_module(m) == CASES["exp-f64"]


def test_parser_accepts_free_layout():
    text = "func @f(%x:tensor<f64>){%0=exp(%x):tensor<f64> return(%0)}"
    assert print_function(parse_function(text)) == func_text("%x: tensor<f64>", ["%0 = exp(%x) : tensor<f64>",
                                                                               "return(%0)"])


# --- regions, through a test-only stand-in for fused (tests/region_helpers.py) -----
REGION_OPS = {**OPS, "fused": LooseFused()}

REGION_TEXT = """\
func @f(%a: tensor<?xf32>, %s: tensor<f32>) {
  %0 = neg(%s) : tensor<f32>
  %r = fused(%a, %0, %s) ({
    ^bb(%x: tensor<f32>, %y: tensor<f32>, %t: tensor<f32>):
      %1 = mul(%x, %t) : tensor<f32>
      %2 = fused(%1) ({
        ^bb(%z: tensor<f32>):
          %3 = exp(%z) : tensor<f32>
          yield(%3)
      }) : tensor<f32>
      %4 = add(%2, %y) : tensor<f32>
      yield(%4)
  }, {
    ^bb(%u: tensor<f32>):
      yield(%u)
  }) {kind = "loop"} : tensor<?xf32>
  return(%r)
}
"""


def test_region_roundtrip():
    m = roundtrip(REGION_TEXT, ops=REGION_OPS)
    fused = m.functions[0].body.ops[1]
    assert len(fused.regions) == 2 and [a.name for a in fused.regions[0].args] == ["x", "y", "t"]
    inner = fused.regions[0].ops[0]
    assert inner.parent is fused.regions[0] and inner.operands[1] is fused.regions[0].args[2]
    assert fused.attrs == {"kind": "loop"}


def test_region_values_are_not_visible_outside():
    bad = REGION_TEXT.replace("return(%r)", "return(%1)")
    with pytest.raises(ParseError) as e:
        parse_module(bad, "r.ir", ops=REGION_OPS)
    assert str(e.value) == "r.ir:17:10: undefined value %1"


def test_region_programmatic_print():
    f = Function("f", [TensorType("float64", (None,))], ["a"])
    region = Block([TensorType("float64", ())], ["x"])
    y = Operation(OPS["exp"], [region.args[0]])
    region.append(y)
    region.append(Operation(REGION_OPS["yield"], [y.result]))
    op = Operation(REGION_OPS["fused"], [f.args[0]], regions=[region])
    f.body.append(op)
    f.body.append(Operation(OPS["return"], [op.result]))
    text = print_function(f)
    assert text == ("func @f(%a: tensor<?xf64>) {\n"
                    "  %0 = fused(%a) ({\n"
                    "    ^bb(%x: tensor<f64>):\n"
                    "      %1 = exp(%x) : tensor<f64>\n"
                    "      yield(%1)\n"
                    "  }) : tensor<?xf64>\n"
                    "  return(%0)\n"
                    "}\n")
    assert print_function(parse_function(text, ops=REGION_OPS)) == text


# --- parse errors -----------------------------------------------------------------------
BASE = """\
func @f(%a: tensor<?x3xf64>, %w: tensor<3xf64> {shared = "w"}) {
  %0 = add(%a, %w) : tensor<?x3xf64>
  %1 = sum(%0) {axes = [1], keepdims = false} : tensor<?xf64>
  return(%1)
}
"""

DAMAGED = [
    ("add(", "frob(", "2:8: unknown op 'frob'"),
    ("add(", "addd(", "2:8: unknown op 'addd'; did you mean 'add'?"),
    ("add(%a, %w)", "add(%a, %b)", "2:16: undefined value %b"),
    ("%1 = sum", "%0 = sum", "3:3: value %0 is defined twice"),
    ("%w: tensor", "%a: tensor", "1:30: value %a is defined twice"),
    ("tensor<?x3xf64>, %w", "tensor<?xax3xf64>, %w", "1:22: bad dimension 'a' in tensor type"),
    ("tensor<3xf64>", "tensor<3xbf16>", "1:43: unknown dtype 'bf16' in tensor type"),
    ("tensor<3xf64>", "tensor<3xf64", "1:46: expected '>' to close the tensor type"),
    ("tensor<?xf64>", "tensor<?xf64>>", "3:62: expected an op name, got '>'"),
    ("axes = [1]", "axes = @1", "3:24: bad attribute value '@1'"),
    ("axes = [1]", "axes = [1}", "3:26: expected ',' or ']' in the list, got '}'"),
    ("keepdims = false", "keepdims = flase", "3:40: bad attribute value 'flase'"),
    ("return(%1)\n}", "return(%1)\n", "6:1: expected '}' to close function @f, got end of input"),
    ("add(%a, %w)", "add(%a, %w", "2:19: expected ',' or ')' in the operands of add, got ':'"),
    ("add(%a, %w) : tensor<?x3xf64>", "add(%a, %w) : tensor<?x3xf32>",
     "2:8: @f op 0 (add): result 0 is declared tensor<?x3xf32> but inference gives tensor<?x3xf64>"),
    ("add(%a, %w) : tensor<?x3xf64>", "add(%a, %w) : tensor<?x4xf64>",
     "2:8: @f op 0 (add): result 0 is declared tensor<?x4xf64> but inference gives tensor<?x3xf64>"),
    ("add(%a, %w)", "exp(%a, %w)", "2:8: @f op 0 (exp): exp takes 1 operand, got 2"),
    ("{axes = [1], keepdims = false}", "{axes = [1]}", "3:8: @f op 1 (sum): sum requires attribute 'keepdims'"),
    (" : tensor<?xf64>", "", "3:8: sum names 1 results but declares 0 result types"),
    ("return(%1)", "return(%1) {updates = [0]}",
     "4:3: @f op 2 (return): return: update target 0 is not a shared argument"),
    ("  return(%1)\n", "  return(%1)\n  return(%1)\n",
     "4:3: @f op 2 (return): return must be the last op of the body, but 1 ops follow it"),
    ("  return(%1)\n", "", "1:1: @f: the body must end with return, but its last op is sum"),
    ('"w"', '"w', "1:58: unterminated string literal"),
    ("func @f", "fun @f", "1:1: expected 'func', got 'fun'"),
    ("%1 = sum", "%1 sum", "3:6: expected ',' or '=' after the result names, got 'sum'"),
    ("{shared", "{shared = 1, shared", "1:61: attribute 'shared' is given twice"),
    ("%0 = add", "%0 = add $", "2:12: unexpected character '$'"),
]


@pytest.mark.parametrize("old, new, expected", DAMAGED, ids=[d[2][:40] for d in DAMAGED])
def test_parse_errors_are_positioned(old, new, expected):
    assert old in BASE
    with pytest.raises(ParseError) as e:
        parse_module(BASE.replace(old, new, 1), "bad.ir")
    err = e.value
    assert str(err).startswith(f"bad.ir:{expected}")
    line, col = expected.split(":")[:2]
    assert (err.filename, err.line, err.col) == ("bad.ir", int(line), int(col))
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("body, expected", [
    ("%0 = constant() {value = dense<[1, 2]>} : tensor<3xi64>", "2:28: dense<...> has shape (2,), but its type is"),
    ("%0 = constant() {value = dense<[1.5]>} : tensor<1xi64>", "2:35: expected an integer in dense<...> of i64"),
    ("%0 = constant() {value = dense<[300]>} : tensor<1xu8>", "2:35: 300 is out of range for u8"),
    ("%0 = constant() {value = dense<[1, 0]>} : tensor<2xi1>", "2:35: expected true or false"),
    ("%0 = constant() {value = dense<[[1], []]>} : tensor<2x1xf64>", "2:28: dense<...> rows have different"),
    ("%0 = constant() {value = dense<[0x1FFFFFFFF]>} : tensor<1xf32>", "2:35: bit pattern 0x1FFFFFFFF does not fit f32"),
    ("%0 = constant() {value = [dense<1>]} : tensor<i64>", "2:29: dense<...> must be a whole attribute value"),
])
def test_dense_errors_are_positioned(body, expected):
    with pytest.raises(ParseError) as e:
        parse_module(func_text("", [body, "return(%0)"]), "d.ir")
    assert str(e.value).startswith(f"d.ir:{expected}")


def test_parse_without_verify_keeps_bad_ir():
    bad = BASE.replace("add(%a, %w) : tensor<?x3xf64>", "add(%a, %w) : tensor<?x3xf32>")
    f = parse_function(bad, verify=False)
    assert f.body.ops[0].results[0].type.dtype == "float32"
