"""The scan passes with the NumPy reference interpreter: scan-hoist
(invariant work leaves the loop), scan-batch (a sequence row times an
invariant matrix becomes one product before the loop; elementwise maps
become elementwise ops), scan-merge (loops of the same steps become one):
the IR before and after each, the values unchanged, BPTT gradients of the
fast_run pipeline against finite differences, the pipeline entries and
their tags, ``theon-opt --print-ir-after-all``."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.parser import parse_function, parse_module
from theon.ir.printer import print_function
from theon.ir.verifier import verify_function
from theon.passes import run_pipeline
from theon.runtime import opt_cli
from theon.runtime.mode import Mode, pass_tags
from theon.runtime.pipeline import PIPELINES
from theon.scan_module import until

from ..scan_helpers import build, configs

RNG = np.random.default_rng(3)
FAST_RUN = ",".join(PIPELINES["fast_run"])


def _func(inputs, outputs):
    func, _ = build_function(list(inputs), list(outputs))
    verify_function(func)
    return func


def _scans(func):
    return [op for op in func.walk() if op.name == "scan"]


def _body_names(scan):
    return [op.name for op in scan.regions[0].walk()]


def _same_after(func, pipeline, vals):
    """Run ``pipeline`` on ``func`` (verifying after each pass): the values
    are those before, the text round-trips. Returns the function."""
    before, _ = evaluate(func, vals)
    run_pipeline(func, pipeline, verify_each=True)
    text = print_function(func)
    assert print_function(parse_function(text)) == text
    for a, b in zip(before, evaluate(func, vals)[0]):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    return func


# --- scan-hoist ------------------------------------------------------------------------------------
HOIST = """
func @f(%x: tensor<?x3xf64>, %w: tensor<3x3xf64>, %h0: tensor<1x3xf64>, %k: tensor<2xi64>) {
  %s = shape(%x) : tensor<2xi64>
  %n = subtensor(%s) {idx = [0]} : tensor<i64>
  %h = scan(%n, %x, %h0, %w, %k) ({
    ^bb(%xt: tensor<3xf64>, %hp: tensor<3xf64>, %w1: tensor<3x3xf64>, %k1: tensor<2xi64>):
      %a = matmul(%w1, %w1) : tensor<3x3xf64>
      %c = constant() {value = dense<0.5>} : tensor<f64>
      %b = mul(%a, %c) : tensor<3x3xf64>
      %u = random_uniform(%k1) {shape = [3], dtype = "float64"} : tensor<3xf64>
      %p = print(%w1) {attrs = ["__str__"], message = "w"} : tensor<3x3xf64>
      %q = sum(%p) {axes = [0, 1], keepdims = false} : tensor<f64>
      %e = exp(%xt) : tensor<3xf64>
      %m = matmul(%hp, %b) : tensor<3xf64>
      %s1 = add(%m, %e) : tensor<3xf64>
      %s2 = add(%s1, %u) : tensor<3xf64>
      %s3 = add(%s2, %q) : tensor<3xf64>
      %t = tanh(%s3) : tensor<3xf64>
      yield(%t)
  }) {seq_taps = [[0]], out_taps = [[-1]], go_backwards = false, until = false, truncate_gradient = -1} : tensor<?x3xf64>
  return(%h) {updates = []}
}
"""


def test_hoist_moves_invariant_work_out():
    """matmul(w, w) * 0.5 reads only the non-sequence: computed once before
    the loop and passed in; the random draw, the print (impure) and what
    reads it, the rows' work and the recurrence stay."""
    func = parse_function(HOIST)
    verify_function(func)
    vals = [RNG.normal(size=(4, 3)), RNG.normal(size=(3, 3)), RNG.normal(size=(1, 3)), np.array([5, 0])]
    _same_after(func, "scan-hoist,dce", vals)
    outer = [op.name for op in func.body.ops]
    assert outer.index("matmul") < outer.index("scan") and "mul" in outer
    (scan,) = _scans(func)
    assert _body_names(scan).count("matmul") == 1 and "random_uniform" in _body_names(scan)
    assert "mul" not in _body_names(scan) and len(scan.operands) == 6
    assert "print" in _body_names(scan) and "sum" in _body_names(scan)


def test_hoist_through_nested_loops_and_from_the_gradient():
    """Work invariant in an inner and an outer loop leaves both; the
    reverse scan of a gradient loses its transposes of the weights."""
    X, W, h0 = T.dtensor3("X"), T.dmatrix("W"), T.dvector("h0")

    def outer_step(rows, h):
        inner, _ = theon.scan(lambda r, g: T.tanh(T.dot(g, W) + r), sequences=rows, outputs_info=h)
        return inner[-1]
    h, _ = theon.scan(outer_step, sequences=X, outputs_info=h0)
    func = _func([X, W, h0], [h] + theon.grad(h.sum(), [W, h0]))
    vals = [RNG.normal(size=(3, 2, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2)]
    run_pipeline(func, "canonicalize,cse", verify_each=True)
    inner_dimshuffles = sum(_body_names(s).count("dimshuffle") for s in func.body.ops if s.name == "scan")
    _same_after(func, "scan-hoist,cse,dce", vals)
    after = sum(_body_names(s).count("dimshuffle") for s in func.body.ops if s.name == "scan")
    assert after < inner_dimshuffles
    assert any(op.name == "dimshuffle" and op.operands[0] is func.args[1] for op in func.body.ops)


def test_hoist_leaves_ifelse_branches_lazy():
    """Work in an ifelse branch inside a loop stays in the branch (only the
    taken branch may run)."""
    X, W = T.dmatrix("X"), T.dmatrix("W")
    c = T.dscalar("c")
    o, _ = theon.scan(lambda x_t, W, c: theon.ifelse.ifelse(T.gt(c, 0), T.dot(x_t, T.exp(W)), x_t),
                      sequences=X, non_sequences=[W, c])
    func = _func([X, W, c], [o])
    run_pipeline(func, "canonicalize,cse,scan-hoist,dce", verify_each=True)
    (scan,) = _scans(func)
    (branch,) = [op for op in scan.regions[0].ops if op.name == "ifelse"]
    assert "exp" in [op.name for op in branch.regions[0].ops]


# --- scan-batch: products --------------------------------------------------------------------------
# (row shape, W shape, row on the left): x_t @ W or W @ x_t
PRODUCTS = [((3,), (3, 4), True), ((3,), (4, 3), False), ((2, 3), (3, 4), True), ((3, 2), (4, 3), False),
            ((3,), (3,), True), ((3, 2), (3,), False), ((2, 3), (3,), True)]


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(PRODUCTS), taps=st.sampled_from([[0], [-1, 0], [0, 2]]), backwards=st.booleans(),
       extra=st.integers(0, 2), seed=st.integers(0, 2 ** 16))
def test_batch_turns_row_products_into_one_product(case, taps, backwards, extra, seed):
    """dot(x_t, W) / dot(W, x_t) of a sequence row and an invariant W: one
    matmul over the whole sequence before the loop, none in the body."""
    row, wshape, left = case
    rng = np.random.default_rng(seed)
    X = T.TensorType("float64", (None,) + (None,) * len(row))("X")
    W = T.TensorType("float64", (None,) * len(wshape))("W")
    prod = np.matmul(np.zeros(row), np.zeros(wshape)) if left else np.matmul(np.zeros(wshape), np.zeros(row))
    H0 = T.TensorType("float64", (None,) * prod.ndim)("h0")

    def step(*args):
        *rows, h = args
        total = h * 0.5
        for x in rows:
            total = total + (T.dot(x, W) if left else T.dot(W, x))
        return T.tanh(total)
    lo, hi = min(taps + [0]), max(taps + [0])
    h, _ = theon.scan(step, sequences=dict(input=X, taps=taps), outputs_info=H0, go_backwards=backwards)
    func = _func([X, W, H0], [h, theon.grad((h ** 2).sum(), W)])
    vals = [rng.normal(size=(3 + hi - lo + extra,) + row), rng.normal(size=wshape), rng.normal(size=prod.shape)]
    run_pipeline(func, "canonicalize,cse", verify_each=True)
    _same_after(func, "scan-hoist,scan-batch,cse,dce", vals)
    forward = _scans(func)[0]
    assert "matmul" not in _body_names(forward)
    outer = [op for op in func.body.ops if op.name == "matmul"]
    assert outer and any(forward.operands.count(op.results[0]) for op in outer)


def test_batch_keeps_a_sequence_read_elsewhere_and_skips_until_loops():
    X, W = T.dmatrix("X"), T.dmatrix("W")
    o, _ = theon.scan(lambda x_t, h: T.dot(x_t, W) + x_t.sum() * h, sequences=X, outputs_info=T.zeros((2,)))
    w, _ = theon.scan(lambda x_t: (T.dot(x_t, W).sum(), until(T.gt(x_t.sum(), 1))), sequences=X)
    func = _func([X, W], [o, w])
    vals = [RNG.normal(size=(6, 2)), RNG.normal(size=(2, 2))]
    _same_after(func, "canonicalize,cse,scan-batch,dce", vals)
    loop, stop = _scans(func)
    assert "matmul" not in _body_names(loop) and loop.operands[1] is func.args[0]
    assert "matmul" in _body_names(stop)


@pytest.mark.parametrize("backwards", [False, True])
def test_batch_returns_rows_yielded_unchanged_as_views(backwards):
    """An output that yields a sequence row (here the batched product's row,
    and a row of X at tap 1) is a slice of that sequence after the loop."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    (h, p, r), _ = theon.scan(lambda x, x1, h: [T.tanh(T.dot(x, W) + h), T.dot(x, W), x1 * 1],
                              sequences=dict(input=X, taps=[0, 1]), outputs_info=[h0, None, None],
                              go_backwards=backwards)
    func = _func([X, W, h0], [h, p, r])
    vals = [RNG.normal(size=(6, 2)), RNG.normal(size=(2, 2)), RNG.normal(size=2)]
    _same_after(func, "canonicalize,cse,scan-batch,dce", vals)
    (loop,) = _scans(func)
    assert len(loop.results) == 1 and "matmul" not in _body_names(loop)


# --- scan-batch: elementwise maps ------------------------------------------------------------------
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("lengths", [(5, 5), (5, 3), (0, 4)])
def test_batch_turns_an_elementwise_map_into_elementwise_ops(backwards, lengths):
    """map(exp(x) * w + y) over X (rows of 3) and Y (rows of 2x3, rank
    higher): no loop left; the rows line up as the loop's did."""
    X, Y, w = T.dmatrix("X"), T.dtensor3("Y"), T.dvector("w")
    m, _ = theon.map(lambda x, y, w: T.exp(x) * w + y, sequences=[X, Y], non_sequences=w, go_backwards=backwards)
    func = _func([X, Y, w], [m])
    vals = [RNG.normal(size=(lengths[0], 3)), RNG.normal(size=(lengths[1], 2, 3)), RNG.normal(size=3)]
    _same_after(func, "canonicalize,cse,scan-batch,dce", vals)
    assert not _scans(func)
    x, y, wv = vals
    n = min(lengths)
    xs, ys = (x[::-1], y[::-1]) if backwards else (x, y)
    np.testing.assert_allclose(evaluate(func, vals)[0][0], np.exp(xs[:n])[:, None, :] * wv + ys[:n])


MAPS = {
    "dot of a row expression": lambda x, y, W: T.dot(T.tanh(x), W) + 1,
    "W dot a row vector": lambda x, y, W: T.dot(W, T.exp(x[0])),
    "reduction and dimshuffle": lambda x, y, W: T.exp(x).sum(axis=1).dimshuffle("x", 0) * x.max(),
    "product of two rows": lambda x, y, W: T.dot(x.T, y) - y.sum(),
}


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("name", sorted(MAPS))
def test_batch_turns_a_map_of_products_and_reductions_into_ops(name, backwards):
    """Maps whose bodies hold products, reductions and dimshuffles of rows
    become ops over the stacked rows: no loop left, the same values."""
    X, Y, W = T.dtensor3("X"), T.dtensor3("Y"), T.dmatrix("W")
    m, _ = theon.map(MAPS[name], sequences=[X, Y], non_sequences=W, go_backwards=backwards)
    func = _func([X, Y, W], [m])
    for n in (4, 0):
        vals = [RNG.normal(size=(n, 3, 2)), RNG.normal(size=(n + 1, 3, 2)), RNG.normal(size=(2, 2))]
        _same_after(func.clone("g"), "canonicalize,cse,scan-hoist,scan-batch,dce", vals)
    _same_after(func, "canonicalize,cse,scan-hoist,scan-batch,dce", vals)
    assert not _scans(func)


def test_batch_keeps_a_map_whose_length_it_cannot_prove():
    """n_steps given by the user: a short sequence must still raise the
    loop's length error, so the map stays a loop."""
    X, n = T.dmatrix("X"), T.lscalar("n")
    m, _ = theon.scan(lambda x: T.exp(x) + 1, sequences=X, n_steps=n)
    func = _func([X, n], [m])
    _same_after(func, "canonicalize,cse,scan-batch,dce", [RNG.normal(size=(4, 2)), np.array(3)])
    assert len(_scans(func)) == 1
    with pytest.raises(ValueError, match="scan: sequence 0 has 4 rows"):
        evaluate(func, [RNG.normal(size=(4, 2)), np.array(6)])


def test_batch_map_of_a_product_is_one_product():
    """map(dot(W, x_t)): one matrix product, no loop."""
    X, W = T.dmatrix("X"), T.dmatrix("W")
    m, _ = theon.map(lambda x: T.dot(W, x), sequences=X)
    func = _func([X, W], [m])
    vals = [RNG.normal(size=(5, 3)), RNG.normal(size=(4, 3))]
    _same_after(func, "canonicalize,cse,scan-batch,dce", vals)
    assert not _scans(func) and [op.name for op in func.body.ops].count("matmul") == 1
    np.testing.assert_allclose(evaluate(func, vals)[0][0], vals[0] @ vals[1].T)


# --- scan-merge ------------------------------------------------------------------------------------
def test_merge_two_loops_over_the_same_sequence():
    """Two independent loops over X: one loop, the shared sequence and
    weight passed once, the shared product computed once after cse; a use
    of the first loop between them moves after the merged loop."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    a, _ = theon.scan(lambda x, h: T.tanh(T.dot(h, W) + x), sequences=X, outputs_info=h0)
    total = a.sum() * 3
    b, _ = theon.scan(lambda x, s, W: s + T.dot(s, W) * 2 - x, sequences=X, outputs_info=h0 * total,
                      non_sequences=W)
    c, _ = theon.scan(lambda x, s, W: s + T.dot(s, W) * 2 - x, sequences=X, outputs_info=h0,
                      non_sequences=W, go_backwards=True)
    func = _func([X, W, h0], [a, total, b, c])
    vals = [RNG.normal(size=(4, 2)), RNG.normal(size=(2, 2)) * 0.5, RNG.normal(size=2)]
    # b's initial state depends on a: not merged; a and a copy of b that does not: merged
    b2, _ = theon.scan(lambda x, s: s - x * 2, sequences=X, outputs_info=h0)
    func2 = _func([X, W, h0], [a, total, b2, c])
    _same_after(func, "cse,scan-merge,cse,dce", vals)
    assert len(_scans(func)) == 3
    _same_after(func2, "cse,scan-merge,cse,dce", vals)
    scans = _scans(func2)
    assert len(scans) == 2
    merged = [s for s in scans if not s.attrs["go_backwards"]][0]
    assert len(merged.results) == 2 and merged.operands.count(func2.args[0]) == 1


def test_merge_skips_while_loops_and_other_lengths():
    X, Y = T.dmatrix("X"), T.dmatrix("Y")
    a, _ = theon.scan(lambda x: x * 2, sequences=X)
    b, _ = theon.scan(lambda y: y * 3, sequences=Y)
    c, _ = theon.scan(lambda x: (x + 1, until(T.gt(x.sum(), 0))), sequences=X)
    d, _ = theon.scan(lambda x: (x - 1, until(T.gt(x.sum(), 0))), sequences=X)
    func = _func([X, Y], [a, b, c, d])
    vals = [RNG.normal(size=(4, 2)), RNG.normal(size=(3, 2))]
    _same_after(func, "cse,scan-merge,dce", vals)
    assert len(_scans(func)) == 4


# --- the pipeline ------------------------------------------------------------------------------------
def test_passes_are_in_fast_run_with_theanos_tags():
    names = list(PIPELINES["fast_run"])
    assert names.index("cse") < names.index("scan-hoist") < names.index("scan-batch") < \
        names.index("scan-merge") < names.index("fuse-elementwise")
    assert "scan" in pass_tags("scan-merge") and "scanOp_pushout_nonseqs_ops" in pass_tags("scan-hoist")
    assert "scan_pushout_dot1" in pass_tags("scan-batch") and "fast_run" in pass_tags("scan-batch")
    left = Mode(optimizer="fast_run").excluding("scan").optimizer
    assert not {"scan-hoist", "scan-batch", "scan-merge"} & set(left) and "cse" in left


def test_theon_opt_prints_each_scan_pass(tmp_path, capsys):
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h, _ = theon.scan(lambda x, h: T.tanh(T.dot(x, W) + h), sequences=X, outputs_info=h0)
    m, _ = theon.map(lambda x: T.exp(x) * 2, sequences=X)
    path = tmp_path / "rnn.ir"
    path.write_text(print_function(_func([X, W, h0], [h, m, theon.grad(h.sum(), W)])))
    pipeline = "canonicalize,cse,scan-hoist,scan-batch,scan-merge,dce"
    assert opt_cli.main([str(path), "-p", pipeline, "--print-ir-after-all", "--verify-each"]) == 0
    err = capsys.readouterr().err
    dumps = re.findall(r"// -----// IR Dump After ([\w-]+) //----- //\n(.*?)(?=// -----//|\Z)", err, re.S)
    assert [name for name, _ in dumps] == pipeline.split(",")
    for _, text in dumps:
        parse_module(text)
    text = dict(dumps)
    assert text["scan-batch"].count("scan(") < text["scan-hoist"].count("scan(")       # the map is gone


# --- gradients after the passes --------------------------------------------------------------------
def _numeric_grad(func, vals, j, k_cost, eps=1e-6):
    out = np.zeros_like(vals[j])
    for idx in np.ndindex(vals[j].shape):
        hi, lo = [v.copy() for v in vals], [v.copy() for v in vals]
        hi[j][idx] += eps
        lo[j][idx] -= eps
        out[idx] = (evaluate(func, hi)[0][k_cost] - evaluate(func, lo)[0][k_cost]) / (2 * eps)
    return out


def test_bptt_after_fast_run_matches_finite_differences():
    """An LSTM-like loop (input projection batched, weights hoisted, two
    loops over X merged): fast_run's gradients against finite differences
    of the unoptimized cost."""
    X, W, U, V, h0 = T.dtensor3("X"), T.dmatrix("W"), T.dmatrix("U"), T.dmatrix("V"), T.dmatrix("h0")

    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(h, U)
        H = h.shape[1]
        i, f, g = T.nnet.sigmoid(z[:, :H]), T.nnet.sigmoid(z[:, H:2 * H]), T.tanh(z[:, 2 * H:])
        c2 = f * c + i * g
        return T.tanh(c2) * i, c2
    (h, c), _ = theon.scan(step, sequences=X, outputs_info=[h0, h0])
    r, _ = theon.scan(lambda x_t, s: T.tanh(T.dot(x_t, V) + s), sequences=X, outputs_info=h0)
    cost = (h[-1] ** 2).sum() + (c * r).sum()
    wrt = [X, W, U, V, h0]
    plain = _func(wrt, [cost])
    opt = _func(wrt, [cost] + theon.grad(cost, wrt))
    run_pipeline(opt, FAST_RUN, verify_each=True)
    assert len(_scans(opt)) < 4
    vals = [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(3, 6)) * 0.5, RNG.normal(size=(2, 6)) * 0.5,
            RNG.normal(size=(3, 2)) * 0.5, RNG.normal(size=(2, 2))]
    got = evaluate(opt, vals)[0]
    np.testing.assert_allclose(got[0], evaluate(plain, vals)[0][0], rtol=1e-12)
    for j in range(len(wrt)):
        np.testing.assert_allclose(got[1 + j], _numeric_grad(plain, vals, j, 0), rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(cfg=configs(), seed=st.integers(0, 2 ** 16))
def test_fast_run_keeps_random_loops(cfg, seed):
    """Random taps, go_backwards, n_steps and lengths, with a second loop of
    the same steps reading the first sequence through a product (batched,
    then merged with the first loop): fast_run gives the unoptimized
    values, and inputs too short are still the loop's ValueError."""
    inputs, values, outs, *_ = build(cfg)
    W = T.dmatrix("W")
    w = np.random.default_rng(seed).normal(size=(2, 2))
    extra = []
    if cfg["seq_taps"]:
        X = inputs[0]
        n = inputs[-1] if cfg["n_steps"] is not None else None
        taps = cfg["seq_taps"][0]
        p, _ = theon.scan(lambda *a: T.tanh(sum(T.dot(x, W) for x in a[:len(taps)]) + a[-1]),
                          sequences=dict(input=X, taps=taps), outputs_info=T.zeros((2,)), n_steps=n,
                          go_backwards=cfg["go_backwards"])
        extra = [p]
    func = _func(inputs + [W], list(outs) + extra)
    vals = values + [w]
    try:
        before, _ = evaluate(func, vals)
    except ValueError as e:
        run_pipeline(func, FAST_RUN, verify_each=True)
        with pytest.raises(ValueError, match=re.escape(str(e).split(" has ")[0])):
            evaluate(func, vals)
        return
    run_pipeline(func, FAST_RUN, verify_each=True)
    for a, b in zip(before, evaluate(func, vals)[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
