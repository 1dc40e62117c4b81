"""The FAST_RUN and FAST_COMPILE pipelines: same numbers on random graphs,
fewer ops, and theon-opt showing each pass's effect on an MLP training step."""
import re

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.parser import parse_module
from theon.ir.printer import print_function
from theon.runtime.opt_cli import main as theon_opt
from theon.runtime.pipeline import PIPELINES, available
from theon.tensor import nnet
from ..pass_helpers import evaluate_outputs, optimized

FAST_RUN = ",".join(available(PIPELINES["fast_run"]))
FAST_COMPILE = ",".join(available(PIPELINES["fast_compile"]))


def test_pipelines_name_registered_passes():
    for name in ("canonicalize", "cse", "simplify-shapes", "stabilize", "dce"):
        assert name in FAST_RUN.split(",")
    assert FAST_COMPILE == "constant-fold,cse,legalize-f16,fuse-elementwise{min-ops=256},dce"


def test_fast_compile_fuses_only_very_large_bodies():
    from theon.frontend.build import build_function
    from theon.passes import run_pipeline

    def body(n):
        x = T.vector("x")
        y = x
        for i in range(n):
            y = y * 1.5 + x
        func = build_function([x], [y], [], {}, name="f")[0]
        return run_pipeline(func, FAST_COMPILE) or func
    assert "fused" not in {op.name for op in body(100).body.ops}           # 200 ops: one loop each
    ops = body(200).body.ops                                                # 400 ops: fused
    assert {op.name for op in ops} <= {"fused", "return"} and len(ops) < 30


# --- random graphs --------------------------------------------------------------------------
A = T.matrix("A")     # 3x4
B = T.vector("B")     # 4, broadcasts against A
S = T.scalar("S")
VALUES = dict(A=(3, 4), B=(4,), S=())
CONSTANTS = (0.0, 1.0, -1.0, 2.0, 0.5, 3.0, 4.0)

UNARY = [
    lambda e: -e, T.tanh, T.sigmoid, abs,
    lambda e: T.exp(T.tanh(e)),
    lambda e: T.log(1 + e * e),
    lambda e: T.log(T.exp(T.tanh(e))),
    lambda e: T.exp(T.log(1 + abs(e))),
    lambda e: (1 + e * e) ** 0.5,
    lambda e: e ** 2, lambda e: e ** 1, lambda e: e ** 0,
    lambda e: e * 1, lambda e: e + 0, lambda e: 0 - e, lambda e: e / 1, lambda e: e / 4.0,
    lambda e: -(-e), lambda e: e.astype("float64"),
    lambda e: T.exp(T.tanh(e)) - 1,
    lambda e: T.log(nnet.sigmoid(e)), lambda e: T.log(1 - nnet.sigmoid(e)),
]
BINARY = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
    lambda a, b: a / (2 + T.tanh(b)), lambda a, b: a * b + b * a, lambda a, b: T.maximum(a, b),
    lambda a, b: (a / (2 + b * b)) * (2 + b * b),
]


@st.composite
def expressions(draw, depth=3):
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "reduce"] if depth else ["leaf"]))
    if kind == "leaf":
        choice = draw(st.sampled_from(["A", "B", "S", "const"]))
        return T.constant(draw(st.sampled_from(CONSTANTS))) if choice == "const" else dict(A=A, B=B, S=S)[choice]
    if kind == "unary":
        return draw(st.sampled_from(UNARY))(draw(expressions(depth - 1)))
    if kind == "binary":
        return draw(st.sampled_from(BINARY))(draw(expressions(depth - 1)), draw(expressions(depth - 1)))
    e = draw(expressions(depth - 1))
    if e.ndim == 0:
        return e
    if e.ndim == 2 and draw(st.booleans()):
        return T.log(nnet.softmax(e))
    axis = draw(st.integers(0, e.ndim - 1))
    return draw(st.sampled_from([T.sum, T.max]))(e, axis=axis, keepdims=draw(st.booleans()))


def _both(outputs, values):
    """Outputs after FAST_RUN and after FAST_COMPILE (None if the program is
    invalid: the random graph broadcast a reduced axis against a kept one)."""
    try:
        plain = evaluate_outputs(optimized([A, B, S], outputs, FAST_COMPILE), values)
    except ValueError:
        return None, None
    return evaluate_outputs(optimized([A, B, S], outputs, FAST_RUN), values), plain


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions(), seed=st.integers(0, 2 ** 16))
def test_fast_run_and_fast_compile_agree_on_random_graphs(expr, seed):
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-2, 2, size=VALUES[n]) for n in ("A", "B", "S")]
    fast, plain = _both([expr], values)
    assume(plain is not None)
    np.testing.assert_allclose(fast[0], plain[0], rtol=1e-9, atol=1e-12)


# --- what FAST_RUN achieves -------------------------------------------------------------------


def test_repeated_subexpressions_are_computed_once():
    x = T.matrix("x")
    e = T.exp(x) * T.exp(x).sum() + T.exp(x)
    # before fusion, which may deliberately recompute cheap values inside
    # each fused loop rather than store them
    before_fusion = FAST_RUN.replace("fuse-elementwise,", "")
    names = [op.name for op in optimized([x], [e, T.exp(x) * 2], before_fusion).body.ops]
    assert names.count("exp") == 1 and names.count("sum") == 1


# --- theon-opt on an MLP's training step ----------------------------------------------------------
def mlp_training_step():
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.lvector("y")
    w1 = theon.shared(rng.normal(size=(4, 8)), name="w1")
    b1 = theon.shared(np.zeros(8), name="b1")
    w2 = theon.shared(rng.normal(size=(8, 3)), name="w2")
    b2 = theon.shared(np.zeros(3), name="b2")
    probs = nnet.softmax(T.dot(T.tanh(T.dot(x, w1) + b1), w2) + b2)
    cost = nnet.categorical_crossentropy(probs, y).mean()
    params = [w1, b1, w2, b2]
    grads = theon.grad(cost, params)
    func, _ = build_function([x, y], [cost], [(p, p - 0.1 * g) for p, g in zip(params, grads)], name="train")
    return func


def test_print_ir_after_all_shows_each_pass_on_an_mlp_step(tmp_path, capsys):
    source = tmp_path / "train.ir"
    source.write_text(print_function(mlp_training_step()))
    pipeline = "canonicalize,cse,simplify-shapes,stabilize,canonicalize,cse,dce"
    assert theon_opt([str(source), "-p", pipeline, "--print-ir-after-all", "--verify-each"]) == 0
    captured = capsys.readouterr()
    headers = [line for line in captured.err.splitlines() if line.startswith("// -----// IR Dump After")]
    assert [h.split()[5] for h in headers] == pipeline.split(",")
    chunks = re.split(r"^// -----// IR Dump After \S+ //----- //$", captured.err, flags=re.M)[1:]
    dumps = [parse_module(chunk) for chunk in chunks]
    sizes = [sum(len(f.body.ops) for f in d.functions) for d in dumps]
    before = len(parse_module(source.read_text()).functions[0].body.ops)
    assert sizes[0] < before and sizes[1] < sizes[0]                 # canonicalize, then cse
    texts = [print_function(d.functions[0]) for d in dumps]
    assert "log(%" in texts[2] and texts[3] != texts[2]              # stabilize rewrote log(softmax)
    assert parse_module(captured.out).functions[0].body.ops[-1].name == "return"
