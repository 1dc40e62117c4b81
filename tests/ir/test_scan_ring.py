"""scan-ring (passes/scan_ring.py) with the NumPy reference interpreter: a
scan result read only from its end (``out[-1]``, ``out[-k:]``) or not at
all (a recurrent output: the loop's own state) gets ``last_rows``; a result
read otherwise (returned whole, or by a gradient) keeps every row; the
values are those before the pass, also for random taps, go_backwards,
n_steps and zero steps; ``last_rows`` is checked and refuses a gradient;
the pass is in fast_run and in ``theon-opt --print-ir-after-all``."""
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

from ..scan_helpers import build, configs

RNG = np.random.default_rng(5)
FAST_RUN = ",".join(PIPELINES["fast_run"])


def _func(inputs, outputs):
    func, _ = build_function(list(inputs), list(outputs))
    verify_function(func)
    return func


def _scans(func):
    return [op for op in func.walk() if op.name == "scan"]


def _same_after(func, pipeline, vals):
    before, _ = evaluate(func, vals)
    run_pipeline(func, pipeline, verify_each=True)
    text = print_function(func)
    assert print_function(parse_function(text)) == text
    for a, b in zip(before, evaluate(func, vals)[0]):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    return func


def _two_tap_loop():
    i0, n = T.dmatrix("i0"), T.lscalar("n")
    out, _ = theon.scan(lambda a, b: a * 0.5 - b * 0.25 + 1.0, outputs_info=[dict(initial=i0, taps=[-1, -2])],
                        n_steps=n)
    return i0, n, out


def test_last_row_use_becomes_last_rows():
    i0, n, out = _two_tap_loop()
    func = _func([i0, n], [out[-1], out[-3:]])
    assert "last_rows" not in _scans(func)[0].attrs
    vals = [RNG.normal(size=(2, 3)), np.array(7)]
    _same_after(func, "scan-ring", vals)
    (scan,) = _scans(func)
    assert scan.attrs["last_rows"] == (3,)
    assert "last_rows = [3]" in print_function(func)
    # the ring keeps max(3, depth 2) rows; the result is the last 3
    from theon.ir.ops.control import ScanLayout
    assert ScanLayout(scan).ring(0) == 3
    assert evaluate(func, vals)[0][1].shape == (3, 3)


def test_static_steps_give_a_static_lead_dim():
    h0 = T.dvector("h0")
    out, _ = theon.scan(lambda h: T.tanh(h), outputs_info=[h0], n_steps=10)
    func = _func([h0], [out[-2]])
    _same_after(func, "scan-ring", [RNG.normal(size=4)])
    (scan,) = _scans(func)
    assert scan.attrs["last_rows"] == (2,) and scan.results[0].type.shape[0] == 2


@pytest.mark.parametrize("use", ["whole", "first", "middle_slice", "step_slice", "shape"])
def test_other_uses_keep_every_row(use):
    i0, n, out = _two_tap_loop()
    outputs = {"whole": [out], "first": [out[0]], "middle_slice": [out[-3:-1]],
               "step_slice": [out[-4::2]], "shape": [out[-1], out.shape[0]]}[use]
    func = _func([i0, n], outputs)
    _same_after(func, "scan-ring", [RNG.normal(size=(2, 3)), np.array(6)])
    assert not any(_scans(func)[0].attrs.get("last_rows", (0,)))


def test_state_only_used_by_the_loop_keeps_one_row_of_it():
    """Output 0 is the state of output 1 (a map of it): only output 1 is
    returned, so output 0 keeps max(1, depth) rows."""
    h0, n = T.dvector("h0"), T.lscalar("n")
    (h, y), _ = theon.scan(lambda h: (T.tanh(h + 0.5), h * 2.0), outputs_info=[h0, None], n_steps=n)
    func = _func([h0, n], [y])
    _same_after(func, FAST_RUN, [RNG.normal(size=3), np.array(5)])
    (scan,) = _scans(func)
    assert scan.attrs["last_rows"] == (1, 0)


def test_gradient_uses_keep_the_sequence():
    """BPTT reads the whole forward sequence: the forward loop keeps every
    row, and the gradients are those of the unoptimized graph."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    h, _ = theon.scan(lambda x, h: T.tanh(x + T.dot(h, W)), sequences=X, outputs_info=h0)
    cost = (h[-1] ** 2).sum()
    func = _func([X, W, h0], [h[-1]] + theon.grad(cost, [W, h0]))
    vals = [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3)]
    _same_after(func, FAST_RUN, vals)
    for scan in _scans(func):
        for j, k in enumerate(scan.attrs.get("last_rows", ())):
            if k:       # only results nothing reads whole
                assert all(u.name == "subtensor" for u, _ in scan.results[j].uses)
    produced = [s for s in _scans(func) if any(u.name == "subtensor" for r in s.results for u, _ in r.uses)]
    assert produced and not all(any(s.attrs.get("last_rows", ())) for s in _scans(func))


def test_nested_scan_inner_loop_gets_a_ring():
    """An inner loop whose last state is the outer step's value: the inner
    scan (inside the outer body) gets last_rows."""
    X, n = T.dmatrix("X"), T.lscalar("n")

    def outer(x):
        inner, _ = theon.scan(lambda h: T.tanh(h * 0.9 + x), outputs_info=[x], n_steps=n)
        return inner[-1]
    ys, _ = theon.scan(outer, sequences=X)
    func = _func([X, n], [ys])
    _same_after(func, FAST_RUN, [RNG.normal(size=(4, 3)), np.array(6)])
    scans = _scans(func)
    assert len(scans) == 2
    inner = [s for s in scans if s.parent is not func.body][0]
    assert inner.attrs["last_rows"] == (1,)


@settings(max_examples=40, deadline=None)
@given(cfg=configs(), k=st.integers(1, 3))
def test_random_loops_last_rows_same_values(cfg, k):
    """Random taps, go_backwards, n_steps (0 included) and lengths: each
    output's last k rows and last row are those without the pass, errors
    (too few steps for -k, short inputs) included."""
    inputs, values, outs, *_ = build(cfg)
    func = _func(inputs, [o[-k:] for o in outs] + [o[-1] for o in outs])
    try:
        before, _ = evaluate(func, values)
    except (ValueError, IndexError) as e:
        run_pipeline(func, FAST_RUN, verify_each=True)
        with pytest.raises(type(e)):
            evaluate(func, values)
        return
    run_pipeline(func, FAST_RUN, verify_each=True)
    # (a map may have become elementwise ops: scan-batch)
    assert all(any(s.attrs.get("last_rows", ())) for s in _scans(func))
    for a, b in zip(before, evaluate(func, values)[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_bad_last_rows_and_gradient_refused():
    i0, n, out = _two_tap_loop()
    func = _func([i0, n], [out[-1]])
    run_pipeline(func, "scan-ring")
    text = print_function(func)
    with pytest.raises(ValueError, match="last_rows must list one int >= 0 per output"):
        parse_function(text.replace("last_rows = [1]", "last_rows = [1, 2]"))
    with pytest.raises(ValueError, match="last_rows must list one int >= 0 per output"):
        parse_function(text.replace("last_rows = [1]", "last_rows = [-1]"))
    (scan,) = _scans(func)
    with pytest.raises(ValueError, match="last_rows.*no gradient"):
        scan.opdef.grad(scan, [None])


def test_in_fast_run_with_theanos_tag(tmp_path, capsys):
    names = list(PIPELINES["fast_run"])
    assert names.index("scan-prune") < names.index("scan-ring") < names.index("dce")
    assert "scan_save_mem" in pass_tags("scan-ring")
    assert "scan-ring" not in Mode(optimizer="fast_run").excluding("scan_save_mem").optimizer
    i0, n, out = _two_tap_loop()
    path = tmp_path / "ring.ir"
    path.write_text(print_function(_func([i0, n], [out[-1]])))
    pipeline = "canonicalize,scan-ring,dce"
    assert opt_cli.main([str(path), "-p", pipeline, "--print-ir-after-all", "--verify-each"]) == 0
    err = capsys.readouterr().err
    dumps = dict(re.findall(r"// -----// IR Dump After ([\w-]+) //----- //\n(.*?)(?=// -----//|\Z)", err, re.S))
    for text in dumps.values():
        parse_module(text)
    assert "last_rows" not in dumps["canonicalize"] and "last_rows = [1]" in dumps["scan-ring"]


def test_ring_first_then_merge_and_batch_leave_the_loops():
    """A pipeline running scan-ring before scan-merge / scan-batch: loops
    with last_rows are not merged or batched; the values stay."""
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    a, _ = theon.scan(lambda x, h: T.tanh(x + h), sequences=X, outputs_info=h0)
    b, _ = theon.scan(lambda x, h: T.tanh(x * 2 + h), sequences=X, outputs_info=h0)
    m, _ = theon.map(lambda x: T.exp(x) * 2, sequences=X)
    func = _func([X, h0], [a[-1], b[-1], m[-1]])
    _same_after(func, "canonicalize,cse,scan-ring,scan-batch,scan-merge,dce", [RNG.normal(size=(5, 3)),
                                                                              RNG.normal(size=3)])
    assert len(_scans(func)) == 3 and all(s.attrs["last_rows"] == (1,) for s in _scans(func))
