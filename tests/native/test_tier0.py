"""Tier 0 (codegen/cpu/driver/compile.py, irtext.py): a big module's quick code is
several objects in one engine (kernel batches with the quick pipeline, the
entry at -O0), compiled on the LLVM thread while the module is lowered.
It must compute what tier 1 computes, fail as tier 1 fails, link its
objects by name without meeting other modules' names, and leave the
process as it found it (GC, switch interval)."""
import gc
import sys

import llvmlite.ir as lir
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.tensor import nnet


@pytest.fixture
def no_cache():
    saved = theon.config.cache_dir
    theon.config.cache_dir = ""
    yield
    theon.config.cache_dir = saved


@pytest.fixture
def tier0(monkeypatch, no_cache):
    """``compile(inputs, outputs, **kw)`` -> (tier-0 function, tier-1 function)
    of the same graph: every module counts as big, and no tier-up ever
    replaces the tier-0 code."""
    from theon.codegen.cpu.driver import compile as cc
    from theon.codegen.cpu.driver import tierup

    def compile_both(inputs, outputs, **kw):
        with monkeypatch.context() as m:
            m.setattr(cc, "BIG_MODULE_INSTRUCTIONS", 0)
            m.setattr(tierup, "submit", lambda *a, **k: True)
            quick = theon.function(inputs, outputs, **kw)
            assert quick.native.tier == 0
        with monkeypatch.context() as m:
            m.setattr(cc, "TIERED", False)
            full = theon.function(inputs, outputs, **kw)
            assert full.native.tier == 1
        return quick, full
    return compile_both


def assert_same(a, b, rtol):
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.asarray(x).dtype == np.asarray(y).dtype and np.shape(x) == np.shape(y)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol)


def rng():
    return np.random.default_rng(7)


def test_elementwise_with_broadcasting_and_math_helpers(tier0):
    x, y = T.matrix("x"), T.vector("y")
    outs = [T.exp(x) * y + T.log1p(x * x), T.tanh(x - y), T.sin(x * 1e6) + T.cos(y), T.sqrt(abs(x)) / (1 + y)]
    quick, full = tier0([x, y], outs)
    args = rng().standard_normal((33, 17)), rng().standard_normal(17)
    assert_same(quick(*args), full(*args), 1e-12)


def test_reductions_and_softmax(tier0):
    x = T.fmatrix("x")
    outs = [x.sum(axis=0), x.max(axis=1), x.mean(), T.argmax(x, axis=1), nnet.softmax(x),
            (x * x).sum(axis=1, keepdims=True) - x.min()]
    quick, full = tier0([x], outs)
    a = rng().standard_normal((129, 67)).astype(np.float32)
    assert_same(quick(a), full(a), 1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_products(tier0, dtype):
    a, b, c = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.vector("c", dtype=dtype)
    quick, full = tier0([a, b, c], [T.dot(a, b) + c, T.dot(T.dot(a, b), b.T).sum(axis=1)])
    r = rng()
    args = [r.standard_normal(s).astype(dtype) for s in ((70, 45), (45, 61), (61,))]
    assert_same(quick(*args), full(*args), 1e-4 if dtype == "float32" else 1e-11)
    np.testing.assert_allclose(quick(*args)[0], args[0] @ args[1] + args[2], rtol=1e-4)


def test_indexing_concatenate_arange_and_constants(tier0):
    x = T.vector("x")
    outs = [T.concatenate([x[::2], x[1:4] * 3.0, T.arange(5.0)]), x[::-1] + np.linspace(0, 1, 9)]
    quick, full = tier0([x], outs)
    a = rng().standard_normal(9)
    assert_same(quick(a), full(a), 1e-14)


def test_a_training_step_with_updates(tier0):
    r = rng()
    w = theon.shared(r.standard_normal((20, 8)).astype(np.float32) * 0.1, name="w")
    b = theon.shared(np.zeros(8, np.float32), name="b")
    x, y = T.fmatrix("x"), T.ivector("y")
    cost = nnet.categorical_crossentropy(nnet.softmax(nnet.relu(T.dot(x, w) + b)), y).mean()
    gw, gb = theon.grad(cost, [w, b])
    lr = np.float32(0.1)
    start = (w.get_value(), b.get_value())
    quick, full = tier0([x, y], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)])
    X, Y = r.standard_normal((16, 20)).astype(np.float32), r.integers(0, 8, 16).astype(np.int32)
    costs, params = [], []
    for f in (quick, full):
        w.set_value(start[0].copy())
        b.set_value(start[1].copy())
        costs.append([float(f(X, Y)) for _ in range(3)])
        params.append((w.get_value(), b.get_value()))
    np.testing.assert_allclose(costs[0], costs[1], rtol=1e-5)
    for p, q in zip(*params):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_errors_are_reported_as_at_tier_1(tier0):
    x, y = T.matrix("x"), T.matrix("y")
    quick, full = tier0([x, y], [x + y, T.dot(x, y)])
    messages = []
    for f in (quick, full):
        with pytest.raises(ValueError) as info:
            f(np.ones((3, 4)), np.ones((5, 4)))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert quick(np.ones((4, 4)), np.eye(4))[1].tolist() == np.ones((4, 4)).tolist()


def test_kernels_compile_in_batches_while_lowering(tier0, monkeypatch):
    from theon.codegen.cpu.driver import compile as cc
    counts = []
    load = cc.load_object

    def counting(objects):
        counts.append(len(objects) if isinstance(objects, list) else 1)
        return load(objects)
    monkeypatch.setattr(cc, "load_object", counting)
    monkeypatch.setattr(cc._Tier0, "BATCH_INSTRUCTIONS", 1)
    x = T.matrix("x")
    outs = [T.exp(x).sum(axis=1), T.tanh(x) * 2, T.dot(x, x.T), nnet.softmax(x)]
    quick, full = tier0([x], outs)
    assert max(counts) > 3            # several kernel batches and the entry, in one engine
    a = rng().standard_normal((12, 12))
    assert_same(quick(a), full(a), 1e-12)


def test_a_module_that_ends_small_drops_its_early_kernels(no_cache, monkeypatch):
    from theon.codegen.cpu.driver import compile as cc
    monkeypatch.setattr(cc._Tier0, "START", 0.0)          # kernels start compiling at once...
    monkeypatch.setattr(cc._Tier0, "BATCH_INSTRUCTIONS", 1)
    monkeypatch.setattr(cc, "BIG_MODULE_INSTRUCTIONS", 10 ** 9)   # ...but the module is small
    x = T.matrix("x")
    f = theon.function([x], [T.exp(x).sum(axis=1), T.dot(x, x)])
    assert f.native.tier == 1
    cc.wait_background()
    a = rng().standard_normal((5, 5))
    np.testing.assert_allclose(f(a)[0], np.exp(a).sum(axis=1))
    np.testing.assert_allclose(f(a)[1], a @ a)


def test_functions_of_the_same_name_do_not_meet(tier0):
    x = T.matrix("x")
    first, _ = tier0([x], [T.exp(x).sum(axis=1), T.dot(x, x)], name="step")
    second, _ = tier0([x], [T.tanh(x).sum(axis=1), T.dot(x, x) * 2], name="step")
    a = rng().standard_normal((6, 6))
    for _ in range(2):
        np.testing.assert_allclose(first(a)[0], np.exp(a).sum(axis=1))
        np.testing.assert_allclose(second(a)[0], np.tanh(a).sum(axis=1))
        np.testing.assert_allclose(second(a)[1], 2 * a @ a)


# --- the module text --------------------------------------------------------------------------
def lowered(graph_outputs, inputs):
    from theon.codegen.cpu.lower.entry import lower_function
    from theon.frontend.build import build_function
    from theon.runtime import pipeline
    func, _ = build_function(inputs, graph_outputs, [], {}, name="g")
    func = pipeline.optimize(func, pipeline.PIPELINES["fast_run"])
    return lower_function(func)


def test_the_whole_text_is_the_module_printed(no_cache):
    from theon.codegen.cpu.driver.irtext import ModuleText
    x = T.matrix("x")
    module, entry = lowered([T.exp(x).sum(axis=1), T.dot(x, x), T.sin(x)], [x])
    text = ModuleText(module, entry)
    kernels, glue, whole = text.kernels(), text.glue(), text.whole()
    assert whole == str(module)
    assert text.kernels() is None                 # everything is defined once
    assert text.unchanged()

    def head(text, fn):
        """The define/declare line of ``fn`` in ``text``."""
        return next(line for line in text.splitlines()
                    if line.startswith(("define", "declare")) and f"{fn.get_reference()}(" in line)
    kernel_functions = [fn for fn in module.functions if fn is not entry and not fn.is_declaration]
    assert kernel_functions
    for fn in kernel_functions:
        assert head(whole, fn).startswith("define internal ")
        assert head(kernels, fn).startswith("define ") and "internal" not in head(kernels, fn)
        assert head(glue, fn).startswith("declare ")
    assert entry.get_reference() not in kernels


def test_the_split_objects_link_in_one_engine(no_cache):
    from theon.codegen.cpu.driver import jit
    from theon.codegen.cpu.driver.irtext import ModuleText
    x = T.matrix("x")
    module, entry = lowered([T.exp(x).sum(axis=1)], [x])
    text = ModuleText(module, entry)
    objects = [jit.compile_object_quick(text.kernels())[1], jit.compile_object_unoptimized(text.glue())[1]]
    loaded = jit.load_object(objects)
    assert loaded.address(entry.name)
    kernel = next(fn for fn in module.functions if fn is not entry and not fn.is_declaration)
    assert loaded.address(kernel.name)            # exported from the kernels' object


def test_a_kernel_changed_after_printing_is_noticed():
    from theon.codegen.cpu.driver.irtext import ModuleText
    i64 = lir.IntType(64)
    module = lir.Module(name="m")
    kernel = lir.Function(module, lir.FunctionType(i64, [i64]), name="m.kernel")
    kernel.linkage = "internal"
    b = lir.IRBuilder(kernel.append_basic_block("entry"))
    b.ret(b.add(kernel.args[0], lir.Constant(i64, 1)))
    entry = lir.Function(module, lir.FunctionType(i64, [i64]), name="theon_m")
    eb = lir.IRBuilder(entry.append_basic_block("entry"))
    eb.ret(eb.call(kernel, [entry.args[0]]))
    text = ModuleText(module, entry)
    assert "add i64" in text.kernels() and text.unchanged()
    block = kernel.append_basic_block("late")
    lir.IRBuilder(block).ret(lir.Constant(i64, 0))
    assert not text.unchanged()
    text.restart()
    again = text.kernels()
    assert "late" in again and "ret i64 0" in again


# --- the process around a compile -------------------------------------------------------------
def test_a_compile_restores_gc_and_the_switch_interval(no_cache):
    interval = sys.getswitchinterval()
    assert gc.isenabled()
    x = T.vector("x")
    theon.function([x], x * 2)
    assert gc.isenabled() and sys.getswitchinterval() == interval
    with pytest.raises(Exception):
        theon.function([x, T.vector("unused")], x * 2)
    assert gc.isenabled() and sys.getswitchinterval() == interval
    gc.disable()
    try:
        theon.function([x], x * 3)
        assert not gc.isenabled()
    finally:
        gc.enable()


RUNTIME_FROM_CACHE = """
import json, numpy as np, theon, theon.tensor as T
from theon.codegen.cpu import rtlib
from theon.codegen.cpu.driver import compile as cc, tierup
if {forbid_emit}:
    def refuse(*a, **k):
        raise AssertionError("the runtime library was built although the cache has it")
    rtlib.emit_module = refuse
cc.BIG_MODULE_INSTRUCTIONS = 10      # tier-up: its helper stores the library's quick build
x = T.fmatrix('x')
f = theon.function([x], (T.exp(x) * 2).sum(axis=1))
out = f(np.ones((300, 200), np.float32)).tolist()[:3]
assert tierup.wait(300)
print(json.dumps({{'out': out}}))
"""


def test_the_runtime_library_comes_from_the_cache(tmp_path, run_json):
    import os
    env = {"THEON_CACHE_DIR": str(tmp_path)}
    first = run_json(RUNTIME_FROM_CACHE.format(forbid_emit=False), env=env)
    assert [p for p in os.listdir(tmp_path) if p.endswith(".rt")]      # from the tier-up helper
    second = run_json(RUNTIME_FROM_CACHE.format(forbid_emit=True), env=env)
    assert first == second
