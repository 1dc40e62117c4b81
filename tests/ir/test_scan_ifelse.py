"""Control flow with the NumPy reference interpreter: ``theon.ifelse.ifelse``
and ``theon.scan`` (map, reduce, foldl, foldr, until), the scan tutorial's
examples against NumPy, bad input, the IR text round trip, passes inside
bodies, and gradients (ifelse both ways; BPTT with taps, non-sequences,
go_backwards, truncate_gradient) against finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ifelse import ifelse
from theon.ir.interpreter import evaluate
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.ir.verifier import verify_function
from theon.passes import run_pipeline
from theon.runtime.pipeline import PIPELINES
from theon.scan_module import until

from ..frontend_helpers import assert_same, run
from ..grad_helpers import check_first_order
from ..scan_helpers import build, configs, reference

RNG = np.random.default_rng(0)


def _func(inputs, outputs):
    func, _ = build_function(list(inputs), list(outputs))
    verify_function(func)
    return func


# --- ifelse ----------------------------------------------------------------------------------
def test_ifelse_takes_one_branch():
    c, a, b = T.dscalar("c"), T.dvector("a"), T.dvector("b")
    r = ifelse(T.lt(c, 0), a * 2, T.exp(b))
    x, y = np.arange(3.0), np.arange(2.0)
    assert_same(run([c, a, b], r, np.array(-1.0), x, y), x * 2)
    assert_same(run([c, a, b], r, np.array(1.0), x, y), np.exp(y))


def test_ifelse_lists_and_weak_scalars():
    c, a = T.iscalar("c"), T.dvector("a")
    r = ifelse(c, [a.sum(), 1], [0.5, a.shape[0]])
    assert isinstance(r, list) and r[0].dtype == "float64" and r[1].dtype == "int64"
    got = run([c, a], r, np.array(3, "int32"), np.arange(4.0))
    assert_same(got[0], np.array(6.0))
    assert_same(got[1], np.array(1))
    got = run([c, a], r, np.array(0, "int32"), np.arange(4.0))
    assert_same(got[0], np.array(0.5))
    assert_same(got[1], np.array(4))


def test_ifelse_is_lazy():
    """The branch not taken never runs: its out-of-range index raises only
    when it is chosen, and the branch's ops live inside the op's region."""
    c, a = T.bscalar("c"), T.dvector("a")
    r = ifelse(c, a[5] * 2, a[0])
    func = _func([c, a], [r])
    top = [op.name for op in func.body.ops]
    assert "ifelse" in top and "mul" not in top
    assert_same(evaluate(func, [np.array(0, "int8"), np.arange(3.0)])[0][0], np.array(0.0))
    with pytest.raises(IndexError):
        evaluate(func, [np.array(1, "int8"), np.arange(3.0)])


def test_ifelse_keeps_condition_work_outside():
    a = T.dvector("a")
    s = a.sum()
    r = ifelse(T.gt(s, 0), s * 2, s - 1)
    func = _func([a], [r])
    assert [op.name for op in func.body.ops].count("sum") == 1
    assert not any(op.name == "sum" for op in func.body.walk() if op.parent is not func.body)


def test_ifelse_bad_input():
    c, a, m = T.dscalar("c"), T.dvector("a"), T.dmatrix("m")
    with pytest.raises(TypeError, match="ndims must agree"):
        ifelse(c, a, m)
    with pytest.raises(TypeError, match="dtypes must agree"):
        ifelse(c, a, T.ivector())
    with pytest.raises(ValueError, match="as many"):
        ifelse(c, [a, a], [a])
    with pytest.raises(TypeError, match="scalar"):
        ifelse(a, a, a)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_ifelse_gradient(sign):
    """The gradient flows only into the taken branch (finite differences)."""
    def fn(c, a, b):
        return ifelse(T.gt(c, 0), T.sin(a) * b, b ** 2)
    arrays = [np.array(sign), RNG.normal(size=3), RNG.normal(size=3)]
    check_first_order(fn, arrays, [1, 2], dynamic=True)


# --- scan: the tutorial's examples --------------------------------------------------------------
def test_power_by_repeated_multiplication():
    k, A = T.iscalar("k"), T.dvector("A")
    result, updates = theon.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A,
                                 n_steps=k)
    assert len(updates) == 0
    x = np.arange(5.0)
    assert_same(run([A, k], result[-1], x, np.array(4, "int32")), x ** 4)
    assert_same(run([A, k], result, x, np.array(3, "int32")), np.stack([x, x ** 2, x ** 3]))


def test_polynomial_from_coefficients():
    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    components, _ = theon.scan(lambda c, power, x: c * (x ** power), outputs_info=None,
                               sequences=[coefficients, T.arange(10000, dtype="int64")], non_sequences=x)
    poly = components.sum()
    c = np.array([1.0, 0.0, 2.0, -1.0])
    assert_same(run([coefficients, x], poly, c, np.array(3.0)), np.sum(c * 3.0 ** np.arange(4)))


def _rnn_reference(x, w, u, b, h0):
    out, h = [], h0
    for row in x:
        h = np.tanh(row @ w + h @ u + b)
        out.append(h)
    return np.array(out).reshape((len(x),) + h0.shape)


def _rnn(X, W, U, b, h0):
    h, _ = theon.scan(lambda x_t, h_tm1: T.tanh(T.dot(x_t, W) + T.dot(h_tm1, U) + b),
                      sequences=X, outputs_info=h0)
    return h


def test_tanh_rnn():
    vs = [T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dvector("h0")]
    arrays = [RNG.normal(size=(6, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=(4, 4)) * 0.5,
              RNG.normal(size=4), RNG.normal(size=4)]
    assert_same(run(vs, _rnn(*vs), *arrays), _rnn_reference(*arrays))
    # W, U, b are read by closure: they became operands of the op (isolated body)
    func = _func(vs, [_rnn(*vs)])
    scan_op = next(op for op in func.body.ops if op.name == "scan")
    assert {"X", "W", "U", "b"} <= {v.name for v in scan_op.operands}


def test_map_reduce_foldl_foldr():
    s = T.dvector("s")
    x = np.array([1.0, 2.0, 3.0, 4.0])
    sq, _ = theon.map(lambda v: v * v, sequences=s)
    assert_same(run([s], sq, x), x * x)
    tot, _ = theon.reduce(lambda v, acc: acc + v, sequences=s, outputs_info=T.constant(0.0))
    assert_same(run([s], tot, x), np.array(10.0))
    left, _ = theon.foldl(lambda v, acc: acc * 2 + v, sequences=s, outputs_info=T.constant(0.0))
    right, _ = theon.foldr(lambda v, acc: acc * 2 + v, sequences=s, outputs_info=T.constant(0.0))
    assert_same(run([s], left, x), np.array(((1 * 2 + 2) * 2 + 3) * 2 + 4.0))
    assert_same(run([s], right, x), np.array(((4 * 2 + 3) * 2 + 2) * 2 + 1.0))
    assert theon.scan_module.map is theon.map


def test_until_while_loop():
    n = T.lscalar("n")
    vals, _ = theon.scan(lambda p: (p * 2, until(p * 2 > 40)), outputs_info=T.constant(1, dtype="int64"),
                         n_steps=n)
    assert_same(run([n], vals, np.array(100)), np.array([2, 4, 8, 16, 32, 64]))
    assert_same(run([n], vals, np.array(3)), np.array([2, 4, 8]))
    assert_same(run([n], vals, np.array(0)), np.zeros(0, "int64"))


def test_taps_on_sequences_and_outputs():
    s = T.dvector("s")
    h0 = T.dvector("h0")
    o, _ = theon.scan(lambda a, c, h2, h1: a * c + h1 - h2, sequences=dict(input=s, taps=[-1, 1]),
                      outputs_info=dict(initial=h0, taps=[-2, -1]))
    x, init = np.arange(1.0, 8.0), np.array([1.0, 2.0])
    hist, ref = list(init), []
    for t in range(len(x) - 2):
        v = x[t] * x[t + 2] + hist[-1] - hist[-2]
        hist.append(v)
        ref.append(v)
    assert_same(run([s, h0], o, x, init), np.array(ref))


def test_go_backwards_and_symbolic_n_steps():
    s, n = T.dvector("s"), T.lscalar("n")
    o, _ = theon.scan(lambda v, acc: acc * 10 + v, sequences=s, outputs_info=T.constant(0.0),
                      go_backwards=True, n_steps=n)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert_same(run([s, n], o, x, np.array(3)), np.array([4.0, 43.0, 432.0]))


def test_zero_steps_give_empty_outputs_of_the_right_shape():
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: h + x_t.sum(), sequences=X, outputs_info=h0)
    m, _ = theon.map(lambda x_t: x_t * 2, sequences=X)
    W = T.dmatrix("W")
    d, _ = theon.map(lambda x_t: T.dot(x_t, W) + x_t.sum(), sequences=X)
    got = run([X, h0, W], [h, m, d], np.zeros((0, 3)), np.ones(5), np.ones((3, 4)))
    # the state's row shape; without taps, the shape rules of the body's ops
    assert got[0].shape == (0, 5) and got[1].shape == (0, 3) and got[2].shape == (0, 4)


def test_several_outputs_with_none_entries():
    s = T.dvector("s")
    outs, _ = theon.scan(lambda v, acc: [v * 2, acc + v], sequences=s, outputs_info=[None, T.constant(0.0)])
    x = np.arange(4.0)
    got = run([s], outs, x)
    assert_same(got[0], x * 2)
    assert_same(got[1], np.cumsum(x))


def test_inner_function_uses_grad():
    """theon.grad inside the step function (of a body expression with respect to a body value)."""
    s = T.dvector("s")
    o, _ = theon.scan(lambda v: theon.grad(T.sin(v) * v, v), sequences=s)
    x = np.linspace(-1, 1, 5)
    assert_same(run([s], o, x), np.cos(x) * x + np.sin(x))


def test_jacobian_and_hessian_with_scan():
    """The tutorial's jacobian: theon.grad of y[i] with respect to x inside
    the step function, y an expression of x given as a non-sequence."""
    x = T.dvector("x")
    y = x ** 2
    J, _ = theon.scan(lambda i, y, x: theon.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    v = np.array([4.0, -1.0, 0.5])
    assert_same(run([x], J, v), np.diag(2 * v))
    gy = theon.grad((x ** 3).sum(), x)
    H, _ = theon.scan(lambda i, gy, x: theon.grad(gy[i], x), sequences=T.arange(gy.shape[0]), non_sequences=[gy, x])
    assert_same(run([x], H, v), np.diag(6 * v))


def test_strict_accepts_what_non_sequences_give():
    s, h = T.dvector("s"), T.dscalar("h")
    o, _ = theon.scan(lambda v, h: v * T.exp(h), sequences=s, non_sequences=h, strict=True)
    assert_same(run([s, h], o, np.arange(3.0), np.array(0.0)), np.arange(3.0))


def test_nested_scan():
    M = T.dmatrix("M")
    rows, _ = theon.map(lambda r: theon.reduce(lambda v, acc: acc + v * v, sequences=r,
                                               outputs_info=T.constant(0.0))[0], sequences=M)
    m = RNG.normal(size=(3, 4))
    assert_same(run([M], rows, m), (m * m).sum(axis=1))


# --- bad input ------------------------------------------------------------------------------------
def test_bad_input_errors():
    s, n, h = T.dvector("s"), T.lscalar("n"), T.dscalar("h")
    with pytest.raises(ValueError, match="sequence or n_steps"):
        theon.scan(lambda h: h, outputs_info=h)
    with pytest.raises(ValueError, match="n_steps is -2"):
        theon.scan(lambda h: h, outputs_info=h, n_steps=-2)
    with pytest.raises(TypeError, match="taps must be ints"):
        theon.scan(lambda a: a, sequences=dict(input=s, taps=[0.5]))
    with pytest.raises(ValueError, match="must be negative"):
        theon.scan(lambda h: h, outputs_info=dict(initial=s, taps=[0]), n_steps=2)
    with pytest.raises(TypeError, match="initial state"):
        theon.scan(lambda h: T.cast(h, "float32"), outputs_info=h, n_steps=2)
    with pytest.raises(TypeError, match="initial state"):
        theon.scan(lambda h: T.stack([h, h]), outputs_info=h, n_steps=2)
    with pytest.raises(TypeError, match="until"):
        until(s)
    with pytest.raises(TypeError, match="boolean"):
        until(h)
    with pytest.raises(ValueError, match="outputs_info"):
        theon.scan(lambda v: [v, v], sequences=s, outputs_info=[None])
    with pytest.raises(ValueError, match="strict"):
        theon.scan(lambda v: v * h, sequences=s, strict=True)
    with pytest.raises(TypeError, match="n_steps"):
        theon.scan(lambda h: h, outputs_info=h, n_steps=h)
    o, _ = theon.scan(lambda h: h * 2, outputs_info=h, n_steps=n)
    with pytest.raises(ValueError, match="n_steps is -1"):
        run([h, n], o, np.array(1.0), np.array(-1))
    q, _ = theon.scan(lambda a, b: a + b, sequences=[s, dict(input=s, taps=[-2])], n_steps=n)
    with pytest.raises(ValueError, match="sequence 0 has 3 rows"):
        run([s, n], q, np.arange(3.0), np.array(4))
    with pytest.raises(ValueError, match="sequence 1 has 3 rows"):
        run([s, n], q, np.arange(3.0), np.array(2))


# --- IR: text round trip, verifier, passes inside bodies, debugprint ------------------------------
def _rnn_func():
    vs = [T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dvector("h0")]
    h = _rnn(*vs)
    c = T.dscalar("c")
    r = ifelse(T.gt(c, 0), h.sum(), (h * 2).sum())
    return vs + [c], _func(vs + [c], [h, r])


def test_round_trip_and_verifier():
    _, func = _rnn_func()
    text = print_function(func)
    assert "scan(" in text and "ifelse(" in text and "seq_taps = [[0]]" in text
    again = parse_function(text)
    verify_function(again)
    assert print_function(again) == text
    clone = func.clone("g")
    verify_function(clone)


def test_verifier_rejects_a_body_that_reads_outside():
    from theon.ir.verifier import VerifyError
    _, func = _rnn_func()
    scan_op = next(op for op in func.body.ops if op.name == "scan")
    inner = next(op for op in scan_op.regions[0].ops if op.operands)
    inner.set_operand(0, func.args[1])
    with pytest.raises(VerifyError, match="isolated"):
        verify_function(func)


@pytest.mark.parametrize("mode", ["fast_run", "fast_compile"])
def test_pipelines_keep_the_values(mode):
    vs, func = _rnn_func()
    arrays = [RNG.normal(size=(6, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=(4, 4)) * 0.5,
              RNG.normal(size=4), RNG.normal(size=4), np.array(-1.0)]
    before, _ = evaluate(func, arrays)
    run_pipeline(func, ",".join(PIPELINES[mode]))
    verify_function(func)
    after, _ = evaluate(func, arrays)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_cse_and_dce_inside_bodies():
    s = T.dvector("s")
    o, _ = theon.map(lambda v: T.exp(v) + T.exp(v) + 0 * T.sin(v).sum(), sequences=s)
    func = _func([s], [o])
    run_pipeline(func, "cse,dce")
    body = next(op for op in func.body.ops if op.name == "scan").regions[0]
    names = [op.name for op in body.ops]
    assert names.count("exp") == 1
    assert_same(evaluate(func, [np.arange(3.0)])[0][0], 2 * np.exp(np.arange(3.0)))


def test_unused_scan_is_removed():
    s = T.dvector("s")
    o, _ = theon.map(lambda v: v * 2, sequences=s)
    func = _func([s], [s + 1])
    assert not any(op.name == "scan" for op in func.body.ops)
    func = _func([s], [o, s + 1])
    run_pipeline(func, "dce")
    assert any(op.name == "scan" for op in func.body.ops)


def test_debugprint_shows_the_loop():
    vs, func = _rnn_func()
    X, W, U, b, h0, c = vs
    text = theon.printing.debugprint(_rnn(X, W, U, b, h0), file="str")
    assert "scan" in text


# --- gradients against finite differences ---------------------------------------------------------
def test_bptt_tanh_rnn():
    arrays = [RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2)) * 0.5, RNG.normal(size=(2, 2)) * 0.5,
              RNG.normal(size=2), RNG.normal(size=2)]
    check_first_order(_rnn, arrays, [0, 1, 2, 3, 4], dynamic=True)


def test_bptt_taps_and_non_sequences():
    def fn(s, h0, w):
        o, _ = theon.scan(lambda a, c, h2, h1, w: T.sin(a * c * w + h1 * w - h2),
                          sequences=dict(input=s, taps=[-1, 1]),
                          outputs_info=dict(initial=h0, taps=[-2, -1]), non_sequences=w)
        return o
    check_first_order(fn, [RNG.normal(size=6), RNG.normal(size=3), RNG.normal(size=())], [0, 1, 2],
                      dynamic=True)


def test_bptt_go_backwards_and_several_outputs():
    def fn(s, h0):
        outs, _ = theon.scan(lambda a, h: [h * T.cos(a) + a, T.exp(a) * h], sequences=s,
                             outputs_info=[h0, None], go_backwards=True)
        return outs[0] + outs[1]
    check_first_order(fn, [RNG.normal(size=5), RNG.normal(size=())], [0, 1], dynamic=True)


def test_bptt_until_loop():
    def fn(h0, w):
        o, _ = theon.scan(lambda h, w: (h * w + 1.0, until(T.gt(h, 50.0))), outputs_info=h0,
                          non_sequences=w, n_steps=20)
        return o
    check_first_order(fn, [np.array(0.3), np.array(1.7)], [0, 1], dynamic=True)


def test_truncate_gradient():
    """truncate_gradient=1: only the last step's direct dependence on its
    sequence row; the earlier rows and the initial state get zero."""
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    W = T.constant(RNG.normal(size=(3, 3)) * 0.5)

    def cost(tg):
        h, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=X, outputs_info=h0,
                          truncate_gradient=tg)
        return h.sum()
    x, init = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    full = run([X, h0], theon.grad(cost(-1), [X, h0]), x, init)
    cut = run([X, h0], theon.grad(cost(1), [X, h0]), x, init)
    long = run([X, h0], theon.grad(cost(10), [X, h0]), x, init)
    assert_same(long[0], full[0])
    assert_same(long[1], full[1])
    assert np.all(cut[0][:-1] == 0) and np.all(cut[1] == 0)
    h_last = _rnn_reference(x, np.eye(3), W.data, np.zeros(3), init)[-1]
    assert_same(cut[0][-1], 1 - h_last ** 2)


def test_gradient_of_zero_steps_is_zero():
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + h), sequences=X, outputs_info=h0)
    g = run([X, h0, W], theon.grad(h.sum(), [W, X, h0]), np.zeros((0, 3)), np.ones(4), np.ones((3, 4)))
    assert_same(g[0], np.zeros((3, 4)))
    assert_same(g[1], np.zeros((0, 3)))
    assert_same(g[2], np.zeros(4))


@settings(max_examples=80, deadline=None)
@given(configs())
def test_random_loops_match_theanos_slicing(cfg):
    """Random taps, go_backwards, n_steps and lengths: theon's loop gives the
    outputs of a NumPy loop over sequences cut by Theano's slicing code, and
    inputs too short for the steps and taps are a ValueError."""
    inputs, values, outs, fn, arrays, inits = build(cfg)
    expected = reference(cfg, fn, arrays, inits)
    if expected is None:
        with pytest.raises(ValueError, match="scan: sequence"):
            run(inputs, outs, *values)
        return
    for got, want in zip(run(inputs, outs, *values), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_second_order_through_scan():
    """grad of <grad(cost, U), R> (a scan of a reverse scan's gradient) vs
    finite differences of that inner product."""
    X, U, h0 = T.dmatrix("X"), T.dmatrix("U"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, U)), sequences=X, outputs_info=h0)
    R = RNG.normal(size=(2, 2))
    c2 = (theon.grad((h ** 2).sum(), U) * R).sum()
    func = _func([X, U, h0], theon.grad(c2, [X, U, h0]) + [c2])
    vals = [RNG.normal(size=(3, 2)), RNG.normal(size=(2, 2)) * 0.5, RNG.normal(size=2)]
    got = evaluate(func, vals)[0]
    for j in range(3):
        num = np.zeros_like(vals[j])
        for k in range(vals[j].size):
            hi, lo = [v.copy() for v in vals], [v.copy() for v in vals]
            hi[j].flat[k] += 1e-6
            lo[j].flat[k] -= 1e-6
            num.flat[k] = (evaluate(func, hi)[0][-1] - evaluate(func, lo)[0][-1]) / 2e-6
        np.testing.assert_allclose(got[j], num, rtol=1e-6, atol=1e-7)


def test_region_reuse_computes_a_branch_value_used_outside_once():
    """A loss picked by ifelse from a scan whose rows are also an output:
    ifelse moved the scan into both branches; region-reuse (in fast_run)
    passes the outer scan in instead, and the values stay."""
    X, h0, c, W = T.dmatrix("X"), T.dvector("h0"), T.dscalar("c"), T.dmatrix("W")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + h * 2), sequences=X, outputs_info=h0)
    loss = ifelse(T.gt(c, 0), (h ** 2).sum(), h.sum() * 2)
    func = _func([X, h0, c, W], [h, loss])
    assert sum(op.name == "scan" for op in func.walk()) == 3
    for cv in (1.0, -1.0):
        vals = [RNG.normal(size=(4, 2)), RNG.normal(size=2), np.array(cv), RNG.normal(size=(2, 2))]
        before, _ = evaluate(func, vals)
        again = func.clone("g")
        run_pipeline(again, "cse,region-reuse,dce", verify_each=True)
        assert sum(op.name == "scan" for op in again.walk()) == 1
        text = print_function(again)
        assert print_function(parse_function(text)) == text
        for a, b in zip(before, evaluate(again, vals)[0]):
            assert_same(b, a)
    assert "region-reuse" in PIPELINES["fast_run"]


@pytest.mark.parametrize("length", [0, 1, 8, 10])
def test_scan_checkpoints_matches_scan(length):
    """Chunks of 4 steps (an outer scan of inner scans): the values at the
    chunk ends and the gradients are those of the plain scan."""
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")

    def step(x_t, h, W):
        return T.tanh(x_t + T.dot(h, W))
    hc, _ = theon.scan_checkpoints(step, sequences=X, outputs_info=h0, non_sequences=W, save_every_N=4)
    hp, _ = theon.scan(step, sequences=X, outputs_info=h0, non_sequences=W)
    ends = [min(4 * (k + 1), length) - 1 for k in range(-(-length // 4))]
    vals = [RNG.normal(size=(length, 3)), RNG.normal(size=3), RNG.normal(size=(3, 3)) * 0.5]
    got, full = run([X, h0, W], [hc, hp], *vals)
    assert_same(got, full[ends].reshape((len(ends), 3)))
    if length:
        gc = run([X, h0, W], theon.grad(hc[-1].sum(), [X, h0, W]), *vals)
        gp = run([X, h0, W], theon.grad(hp[-1].sum(), [X, h0, W]), *vals)
        for a, b in zip(gc, gp):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert theon.scan_module.scan_checkpoints is theon.scan_checkpoints


def test_shared_variable_updates_in_the_body():
    """Updates the step function returns apply once per step (a recurrent
    state started at the shared value); scan's updates give the value after
    the last step, or the unchanged value after zero steps."""
    count = theon.shared(np.int64(3), name="count")
    acc = theon.shared(np.zeros(2), name="acc")
    X = T.dmatrix("X")
    out, updates = theon.scan(lambda x_t: (x_t * 2, {count: count + 1, acc: acc + x_t * count}), sequences=X)
    assert list(updates) == [count, acc]
    func, shared = build_function([X], [out], list(updates.items()))
    verify_function(func)
    x = np.arange(8.0).reshape(4, 2)
    (got,), new = evaluate(func, [x, np.int64(3), np.zeros(2)])
    assert_same(got, x * 2)
    new = dict(new)
    assert_same(new[1], np.array(7))
    assert_same(new[2], sum(row * (3 + t) for t, row in enumerate(x)))
    (got,), new = evaluate(func, [x[:0], np.int64(3), np.ones(2)])
    assert got.shape[0] == 0
    assert_same(dict(new)[1], np.array(3))
    assert_same(dict(new)[2], np.ones(2))
    with pytest.raises(TypeError, match="not a shared variable"):
        theon.scan(lambda x_t: (x_t, {X: X}), sequences=X)
    with pytest.raises(TypeError, match="cast the update"):
        theon.scan(lambda x_t: (x_t, {count: count + 0.5}), sequences=X)


def test_scan_prune_drops_unused_rows_and_their_work():
    """The gradient with respect to W only: the reverse scan's rows for X
    (and the matmul making them) go; the values stay."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h, _ = theon.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + h), sequences=X, outputs_info=h0)
    func = _func([X, W, h0], [theon.grad(h.sum(), W)])
    vals = [RNG.normal(size=(3, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2)]
    before, _ = evaluate(func, vals)

    def count(name):
        return sum(1 for op in func.walk() if op.name == name)
    results, matmuls = sum(len(op.results) for op in func.walk() if op.name == "scan"), count("matmul")
    run_pipeline(func, "scan-prune,dce", verify_each=True)
    assert sum(len(op.results) for op in func.walk() if op.name == "scan") == results - 1
    assert count("matmul") == matmuls - 1
    assert_same(evaluate(func, vals)[0][0], before[0])
    assert "scan-prune" in PIPELINES["fast_run"]
