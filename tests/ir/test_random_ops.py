"""The random sampling ops (ir/ops/random.py) in the NumPy reference:
Philox-4x32-10 against Random123's known-answer vectors, the element
layout, the op's type checks, the passes' treatment (never CSE'd or
folded), the IR text round trip and the streams' graph building."""
import numpy as np
import pytest

import theon
from theon.frontend.build import build_function
from theon.frontend.random import derive_key
from theon.ir.builder import make_op
from theon.ir.core import DYN, Function
from theon.ir.interpreter import evaluate
from theon.ir.ops.random import normal_from_blocks, philox4x32, philox_blocks, uniform_from_blocks
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.types import TensorType
from theon.runtime.mode import Mode
from theon.runtime.pipeline import optimize
from theon.sandbox.rng_mrg import MRG_RandomStreams
from theon.tensor.random import RandomStream
from theon.tensor.shared_randomstreams import RandomStreams

# Random123 kat_vectors: philox4x32 10 <counter x4> <key x2> -> <result x4>
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = philox4x32(*counter, *key)
    assert tuple(int(w[0]) for w in out) == expected


def test_blocks_use_index_and_state_words():
    key = 0xa4093822 | (0x299f31d0 << 32)
    counter = 0x13198a2e | (0x03707344 << 32)
    state = np.array([key - (1 << 64) if key >= 1 << 63 else key, counter], dtype=np.int64)
    words = philox_blocks(state, 3)
    for j in range(3):
        assert tuple(words[j]) == tuple(int(w[0]) for w in philox4x32(j, 0, 0x13198a2e, 0x03707344,
                                                                      0xa4093822, 0x299f31d0))
    # block 0 of the KAT's key and counter words 2, 3 with counter words 0, 1 = 0 differs from the KAT
    assert philox_blocks(np.array([0, 0], np.int64), 1).tolist() == [list(KAT[0][2])]


def test_uniform_and_normal_element_formulas():
    words = np.array([[0xffffffff, 0, 0x80000000, 0x100]], dtype=np.uint32)
    u32 = uniform_from_blocks(words, "float32")
    assert u32.dtype == np.float32
    assert u32.tolist() == [np.float32(1 - 2.0 ** -24), 0.0, 0.5, np.float32(2.0 ** -24)]
    u64 = uniform_from_blocks(words, "float64")
    assert u64.tolist() == [(0xffffffff >> 11) * 2.0 ** -53, ((0x100 << 32 | 0x80000000) >> 11) * 2.0 ** -53]
    z = normal_from_blocks(words, "float64")
    u1 = ((0xffffffff >> 11) + 1) * 2.0 ** -53
    u2 = ((0x100 << 32 | 0x80000000) >> 11) * 2.0 ** -53
    r = np.sqrt(-2 * np.log(u1))
    np.testing.assert_allclose(z, [r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], rtol=1e-15)


def _func(opname, shape, dtype, state_shape=(2,)):
    f = Function("f", [TensorType("int64", state_shape)] + [TensorType("int64", ())] * sum(d is DYN for d in shape),
                 ["state"] + [f"n{k}" for k in range(sum(d is DYN for d in shape))])
    op = make_op(opname, f.args, {"shape": shape, "dtype": dtype})
    return f, op


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opname", ["random_uniform", "random_normal"])
def test_reference_shapes_prefixes_and_counters(opname, dtype):
    f, op = _func(opname, (DYN, 3), dtype)
    assert op.results[0].type == TensorType(dtype, (None, 3))
    ref = op.opdef.reference
    st = np.array([12345, 7], np.int64)
    big = ref(op, st, np.int64(11))[0]
    small = ref(op, st, np.int64(2))[0]
    assert big.shape == (11, 3) and big.dtype == dtype
    np.testing.assert_array_equal(small, big[:2])      # element i depends on i only
    other = ref(op, np.array([12345, 8], np.int64), np.int64(2))[0]
    assert not np.any(other == small)                  # the next counter: new numbers
    assert ref(op, st, np.int64(0))[0].shape == (0, 3)
    with pytest.raises(ValueError, match="negative dimension"):
        ref(op, st, np.int64(-1))
    with pytest.raises(ValueError, match="2 elements"):
        ref(op, np.zeros(3, np.int64), np.int64(1))


def test_op_type_errors():
    f = Function("f", [TensorType("int64", (2,)), TensorType("int32", (2,)), TensorType("int64", (3,))],
                 ["s", "t", "u"])
    with pytest.raises(TypeError, match="float32 or float64"):
        make_op("random_uniform", [f.args[0]], {"shape": (2,), "dtype": "int64"})
    with pytest.raises(TypeError, match="1-d int64 tensor of 2"):
        make_op("random_uniform", [f.args[1]], {"shape": (2,), "dtype": "float64"})
    with pytest.raises(TypeError, match="1-d int64 tensor of 2"):
        make_op("random_normal", [f.args[2]], {"shape": (2,), "dtype": "float64"})
    with pytest.raises(ValueError, match="negative"):
        make_op("random_normal", [f.args[0]], {"shape": (-2,), "dtype": "float64"})
    with pytest.raises(ValueError, match="dynamic operands"):
        make_op("random_normal", [f.args[0]], {"shape": (DYN,), "dtype": "float64"})


def test_ir_text_round_trip_and_passes_keep_two_draws():
    s = RandomStreams(seed=3)
    a, b = s.uniform((4,)), s.uniform((4,))
    func, shared_vars = build_function([], [a, b, s.uniform((2,)) + 0 * s.uniform((2,))],
                                       [(st, st.default_update) for st, _ in s.updates()])
    func = optimize(func, Mode("fast_run").pipeline)
    text = print_function(func)
    assert text.count("random_uniform(") == 4       # not merged, not folded
    assert print_function(parse_function(text)) == text


def test_streams_sizes_and_errors():
    s = RandomStreams(seed=1)
    x = theon.tensor.matrix("x")
    assert s.uniform(x.shape).ndim == 2
    assert s.normal(size=(x.shape[0], 3)).type.shape == (None, 3)
    assert s.binomial(p=theon.tensor.constant(np.full((2, 5), 0.3))).type.shape == (2, 5)
    assert s.uniform(low=x).type.shape == x.type.shape
    assert s.uniform(5, dtype="float32").dtype == "float32"
    with pytest.raises(ValueError, match="negative size"):
        s.uniform((2, -1))
    with pytest.raises(TypeError, match="dtype must be float16, float32 or float64"):
        s.normal((2,), dtype="int32")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        s.binomial((2,), p=1.5)
    with pytest.raises(TypeError, match="n must be an int"):
        s.binomial((2,), n=1.5)
    with pytest.raises(ValueError, match="ndim=3"):
        s.uniform((2, 2), ndim=3)
    with pytest.raises(TypeError, match="seed must be an int"):
        RandomStreams(seed="x")
    with pytest.raises(TypeError, match="unexpected keyword"):
        MRG_RandomStreams().uniform((2,), foo=1)


def test_each_draw_its_own_state_and_key():
    s = MRG_RandomStreams(seed=12345)
    s.uniform((2,))
    s.normal((2,))
    (s0, n0), (s1, n1) = s.updates()
    assert s0.default_update is n0 and s1.default_update is n1
    assert s0.get_value()[0] == derive_key(12345, 0) != s1.get_value()[0] == derive_key(12345, 1)
    assert s0.get_value()[1] == 0
    s0.set_value(np.array([5, 9], np.int64))
    s.seed(7)
    assert s0.get_value().tolist() == [derive_key(7, 0), 0]
    s.seed()
    assert s0.get_value().tolist() == [derive_key(12345, 0), 0]
    assert derive_key(1, 0) != derive_key(2, 0)


def test_modern_stream_argument_order():
    s = RandomStream(seed=0)
    u = s.uniform(2.0, 3.0, size=(4,))
    func, shared_vars = build_function([], [u])
    v = np.asarray(evaluate(func, [st.get_value() for st in shared_vars])[0])
    assert np.all((v >= 2.0) & (v < 3.0))


def test_permutation_reference_is_fisher_yates_on_the_uniforms():
    f = Function("f", [TensorType("int64", (2,))], ["state"])
    op = make_op("random_permutation", [f.args[0]], {"shape": (3, 6)})
    assert op.results[0].type == TensorType("int64", (3, 6))
    st = np.array([99, 4], np.int64)
    got = op.opdef.reference(op, st)[0]
    u = uniform_from_blocks(philox_blocks(st, 9), "float64")
    for r in range(3):
        row = list(range(6))
        for i in range(5, 0, -1):
            j = int(u[r * 6 + i] * (i + 1))
            row[i], row[j] = row[j], row[i]
        assert got[r].tolist() == row
    with pytest.raises(ValueError, match="at least one dim"):
        make_op("random_permutation", [f.args[0]], {"shape": ()})


def test_dtype_rule_python_numbers_are_weak(floatx):
    floatx("float32")
    s = RandomStreams(seed=1)
    assert s.uniform((3,)).dtype == s.normal((3,)).dtype == "float32"
    assert s.uniform((3,), low=-1.0, high=2).dtype == "float32"
    assert s.normal((2,), avg=np.float64(1)).dtype == "float64"
    assert s.uniform(low=theon.tensor.dvector()).dtype == "float64"
    assert s.binomial((2,), p=0.5).owner.operands[0].owner.operands[0].owner.attrs["dtype"] == "float32"


def test_draws_in_a_scan_step_are_a_loop_carried_state():
    """The state is a recurrent output of the scan (tap -1): the body draws
    from its block argument and yields it advanced by one; the IR verifies,
    round-trips through its text, and the reference draws step t from the
    counter advanced t times."""
    from theon.ir.verifier import verify_function
    s = RandomStreams(seed=3)
    h0 = theon.tensor.dvector("h0")
    hs, upd = theon.scan(lambda h: h + s.uniform((3,)), outputs_info=[h0], n_steps=4)
    (state, final), = upd.items()
    assert state.default_update is final
    func, _ = build_function([h0], [hs], list(upd.items()))
    func = optimize(func, Mode("fast_run").pipeline)
    verify_function(func)
    text = print_function(func)
    assert print_function(parse_function(text)) == text
    scan = next(op for op in func.body.ops if op.name == "scan")
    body = scan.regions[0]
    draw = next(op for op in body.ops if op.name == "random_uniform")
    assert draw.operands[0] in body.args                     # drawn from the carried state
    assert scan.attrs["out_taps"] == ((-1,), (-1,))
    start = state.get_value()
    (out,), ((_, new_state),) = evaluate(func, [np.zeros(3), start])
    want = np.cumsum([uniform_from_blocks(philox_blocks([start[0], start[1] + t], 2), "float64")[:3]
                      for t in range(4)], axis=0)
    np.testing.assert_array_equal(out, want)
    assert new_state.tolist() == [start[0], start[1] + 4]


def test_draws_outside_a_step_function_are_not_carried():
    s = RandomStreams(seed=3)
    e = s.normal((2,))
    _, upd = theon.scan(lambda h: h + e, outputs_info=[theon.tensor.zeros((2,))], n_steps=3)
    assert not upd and s.updates()[0][0].default_update is s.updates()[0][1]


def test_probability_checks_and_weighted_choice_in_the_reference():
    """check_probabilities and random_choice in the interpreter: the same
    ValueErrors native code reports (ir/ops/random.py probability_error)."""
    s = RandomStreams(seed=6)
    p, P = theon.tensor.dvector("p"), theon.tensor.dmatrix("P")
    outs = [s.binomial(p=p), s.multinomial(pvals=P), s.choice(size=(2,), a=3, p=p, replace=False)]
    func, shared_vars = build_function([p, P], outs, [])
    text = print_function(func)
    assert text.count("check_probabilities(") == 3 and "random_choice(" in text
    assert print_function(parse_function(text)) == text
    states = [v.get_value() for v in shared_vars]
    ok = evaluate(func, [np.array([0.2, 0.3, 0.5]), np.array([[0.5, 0.5]])] + states)[0]
    assert sorted(ok[2].tolist()) in ([0, 1], [0, 2], [1, 2])
    with pytest.raises(ValueError, match=r"binomial: p must be in \[0, 1\], but element 1 \(in C order\) is 2"):
        evaluate(func, [np.array([0.2, 2.0, 0.5]), np.array([[0.5, 0.5]])] + states)
    with pytest.raises(ValueError, match="multinomial: each distribution of pvals .* sums to 0.7"):
        evaluate(func, [np.array([0.2, 0.3, 0.5]), np.array([[0.5, 0.2]])] + states)
    with pytest.raises(ValueError, match="choice: cannot take 2 elements without replacement: p has only 1"):
        evaluate(func, [np.array([0.0, 1.0, 0.0]), np.array([[0.5, 0.5]])] + states)
    with pytest.raises(ValueError, match="choice: p has 3 probabilities but a has 4"):
        s.choice(size=(2,), a=4, p=[0.2, 0.3, 0.5], replace=False)


def test_a_draw_of_its_state_shape_is_not_the_state():
    """A stream's state is int64 (2,): a permutation of 2 or a weighted
    choice of 2 has its type, yet is no resize of it (simplify-shapes'
    alloc-noop must leave draws alone)."""
    s = RandomStreams(seed=4)
    p = theon.tensor.dvector("p")
    outs = [s.permutation(n=2), s.choice(size=2, a=3, p=p, replace=False)]
    func, shared_vars = build_function([p], outs, [])
    func = optimize(func, Mode("fast_run").pipeline)
    text = print_function(func)
    assert "random_permutation(" in text and "random_choice(" in text
    states = [v.get_value() for v in shared_vars]
    perm, pick = evaluate(func, [np.array([0.2, 0.3, 0.5])] + states)[0]
    assert sorted(perm.tolist()) == [0, 1] and len(set(pick.tolist())) == 2 and pick.max() < 3
