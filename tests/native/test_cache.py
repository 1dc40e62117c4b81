"""The on-disk cache (runtime/cache.py): a new process reuses compiled code
and gets identical results; keys follow the IR; corrupt or partial entries
are ignored and rewritten, never fatal."""
import json
import os

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime import cache

PROGRAM = """
import json, numpy as np, theon, theon.tensor as T
w = theon.shared(np.arange(4.0), name='w')
x = T.vector('x')
f = theon.function([x], [T.exp(x) * w, (x * w).sum()], updates=[(w, w + x)])
outs = [f(np.linspace(0.0, 1.0, 4)) for _ in range(2)]
print(json.dumps({'from_cache': f.native.from_cache,
                  'outs': [[o.tolist() for o in out] for out in outs],
                  'w': w.get_value().tolist(), 'cache_dir': theon.config.cache_dir}))
"""


@pytest.fixture
def cache_dir(tmp_path):
    saved = theon.config.cache_dir
    theon.config.cache_dir = str(tmp_path)
    yield tmp_path
    theon.config.cache_dir = saved


def entries(folder, kind):
    return sorted(p for p in os.listdir(folder) if p.endswith("." + kind))


def test_a_new_process_loads_from_the_cache_and_gets_identical_results(tmp_path, run_json):
    env = {"THEON_CACHE_DIR": str(tmp_path)}
    first = run_json(PROGRAM, env=env)
    assert first["cache_dir"] == str(tmp_path) and not first["from_cache"]
    assert entries(tmp_path, "obj")
    second = run_json(PROGRAM, env=env)
    assert second["from_cache"]
    assert second["outs"] == first["outs"] and second["w"] == first["w"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip-a-byte", "empty"])
def test_a_corrupt_entry_is_ignored_and_rewritten(tmp_path, run_json, damage):
    env = {"THEON_CACHE_DIR": str(tmp_path)}
    first = run_json(PROGRAM, env=env)
    for name in entries(tmp_path, "obj"):
        path = tmp_path / name
        data = path.read_bytes()
        if damage == "truncate":
            data = data[:len(data) // 2]
        elif damage == "garbage":
            data = os.urandom(len(data))
        elif damage == "flip-a-byte":
            data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
        else:
            data = b""
        path.write_bytes(data)
    second = run_json(PROGRAM, env=env)
    assert not second["from_cache"]
    assert second["outs"] == first["outs"]
    third = run_json(PROGRAM, env=env)
    assert third["from_cache"] and third["outs"] == first["outs"]


def test_no_cache_when_the_folder_is_off_or_unwritable(tmp_path, run_json):
    off = run_json(PROGRAM, env={"THEON_FLAGS": "cache_dir="})
    assert off["cache_dir"] == "" and not off["from_cache"]
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_bytes(b"")                  # even root cannot make a folder inside a file
    result = run_json(PROGRAM, env={"THEON_CACHE_DIR": str(not_a_folder / "sub")})
    assert not result["from_cache"] and result["outs"] == off["outs"]


def test_the_key_follows_the_ir_and_the_options():
    k = cache.make_key("obj", "func @f() {}", ("entry", False, 3), "x86_64/cpu/+avx")
    assert k == cache.make_key("obj", "func @f() {}", ("entry", False, 3), "x86_64/cpu/+avx")
    assert k != cache.make_key("obj", "func @g() {}", ("entry", False, 3), "x86_64/cpu/+avx")
    assert k != cache.make_key("obj", "func @f() {}", ("entry", True, 3), "x86_64/cpu/+avx")
    assert k != cache.make_key("obj", "func @f() {}", ("entry", False, 3), "aarch64/cpu/")
    assert k != cache.make_key("ir", "func @f() {}", ("entry", False, 3), "x86_64/cpu/+avx")
    assert cache.make_key("a", "bc") != cache.make_key("a", "b", "c")


def test_changing_the_graph_makes_a_new_entry(cache_dir):
    x = T.vector("x")
    f = theon.function([x], x * 2)
    assert not f.native.from_cache
    objects = entries(cache_dir, "obj")
    g = theon.function([x], x * 3)
    assert not g.native.from_cache
    assert len(entries(cache_dir, "obj")) == len(objects) + 1
    np.testing.assert_array_equal(g(np.ones(2)), [3, 3])


def test_a_graph_built_twice_is_one_object_even_with_names_shared_by_values(cache_dir):
    """Values named like the input are numbered by the printer; the second
    build takes the optimized IR from the cache with the argument's name
    given back. Both must hash to the same object key: one compile, one
    object (two before the names were made to survive the round trip)."""
    def build():
        x = T.vector("x")
        h = T.exp(x) * 2
        h.name = "x"
        y = T.tanh(h) + h
        y.name = "x"
        return theon.function([x], y)
    a = np.linspace(-1.0, 1.0, 5)
    first = build()
    want = first(a)
    assert len(entries(cache_dir, "obj")) == 1
    second = build()
    assert second.native.from_cache
    np.testing.assert_array_equal(second(a), want)
    assert len(entries(cache_dir, "obj")) == 1
    np.testing.assert_allclose(want, np.tanh(np.exp(a) * 2) + np.exp(a) * 2, rtol=1e-12)


def test_a_profiled_function_is_a_different_entry(cache_dir):
    x = T.vector("x")
    theon.function([x], x - 1)
    before = entries(cache_dir, "obj")
    f = theon.function([x], x - 1, profile=True)
    assert len(entries(cache_dir, "obj")) == len(before) + 1
    f(np.ones(3))
    assert f.profile is not None


def test_dumps_work_for_code_loaded_from_the_cache(tmp_path):
    saved = theon.config.cache_dir
    theon.config.cache_dir = str(tmp_path)
    try:
        from theon.codegen.cpu.driver import compile as cc
        x = T.fvector("x")
        theon.function([x], T.exp(x) + 1)
        cc._LOADED.clear()
        f = theon.function([x], T.exp(x) + 1)
        assert f.native.from_cache
        assert "theon_f" in theon.printing.dump(f, "llvm")
        assert theon.printing.dump(f, "asm").strip()
        np.testing.assert_allclose(f(np.zeros(2, np.float32)), [2, 2])
    finally:
        theon.config.cache_dir = saved


def test_entries_round_trip_and_reject_damage():
    key = "ab" * 32
    data = cache.encode("obj", key, {"kind": "obj", "n": 1}, b"\x00\x01payload")
    assert cache.decode(data, "obj", key) == ({"kind": "obj", "n": 1}, b"\x00\x01payload")
    assert cache.decode(data, "obj", "cd" * 32) is None          # bound to its key
    assert cache.decode(data, "wrap", key) is None               # and to its kind
    assert cache.decode(data[:-1], "obj", key) is None
    assert cache.decode(data + b"x", "obj", key) is None
    assert cache.decode(cache.MAGIC, "obj", key) is None
    assert cache.decode(data.replace(b"payload", b"paylaod"), "obj", key) is None
    assert cache.decode(b"", "obj", key) is None


def test_store_is_atomic_and_leaves_no_temporary_files(cache_dir):
    key = "0f" * 32
    assert cache.store("obj", key, {"a": 1}, b"blob")
    assert os.listdir(cache_dir) == [key + ".obj"]
    assert cache.load("obj", key) == ({"a": 1}, b"blob")
    assert cache.load("obj", "1e" * 32) is None
    with pytest.raises(ValueError, match="bad entry name"):
        cache.store("obj", "../escape", {}, b"")


def test_prune_keeps_the_folder_under_its_limit(cache_dir):
    for k in range(5):
        cache.store("obj", f"{k:064d}", {}, b"x" * 1000)
    stale = cache_dir / ".theon-tmp-abc123"
    stale.write_bytes(cache.MAGIC[:5])
    os.utime(stale, (0, 0))
    cache.prune(str(cache_dir), max_bytes=2500)
    left = os.listdir(cache_dir)
    assert ".theon-tmp-abc123" not in left and 1 <= len(left) <= 2


def test_pass_results_are_cached_by_the_ir_before_the_passes(cache_dir):
    from theon.frontend.build import build_function
    from theon.ir.printer import print_function
    from theon.passes import run_pipeline
    from theon.runtime import pipeline

    calls = []

    def run(func, names):
        calls.append(names)
        return run_pipeline(func, ",".join(names)) or func

    def graph():
        x = T.vector("x")
        y = (x * 1 + 0) * (x * 1 + 0)
        return build_function([x], [y], [], {}, name="f")[0]

    names = pipeline.available(pipeline.PIPELINES["fast_run"])
    first = cache.optimize_cached(graph(), names, run)
    second = cache.optimize_cached(graph(), names, run)
    assert len(calls) == 1
    assert print_function(second) == print_function(first)
    assert second.args[0].name == "x"
    assert entries(cache_dir, "ir")
    other = cache.optimize_cached(graph(), names[:1], run)
    assert len(calls) == 2 and other is not None


def test_huge_constants_are_not_cached(cache_dir):
    x = T.vector("x")
    big = T.constant(np.arange(100_000.0))
    f = theon.function([x], x + big)
    np.testing.assert_array_equal(f(np.ones(100_000)), np.arange(100_000.0) + 1)
    assert not entries(cache_dir, "obj") and not entries(cache_dir, "ir")


def test_the_fingerprint_is_stable_in_a_process():
    assert cache.fingerprint() == cache.fingerprint()
    assert len(json.dumps(cache.fingerprint())) > 10


# --- tiered compilation of big modules (codegen/cpu/driver/tierup.py) -------------------------------
@pytest.fixture
def tier_everything(monkeypatch):
    """Every module counts as big (whatever fusion makes of the graph)."""
    from theon.codegen.cpu.driver import compile as cc
    monkeypatch.setattr(cc, "BIG_MODULE_INSTRUCTIONS", 10)


def big_graph(salt=0.5):
    """A function to tier (``salt`` makes a different one: identical graphs
    share code within a process)."""
    x, y = T.matrix("x"), T.matrix("y")
    e = x
    for k in range(6):
        e = T.tanh(e * y + salt) if k % 3 == 0 else (e * 1.01 - y) if k % 3 == 1 else T.maximum(e, y * 0.1)
    return [x, y], [e, T.dot(e, y.T).sum(axis=1)]


def big_args():
    rng = np.random.default_rng(3)
    return rng.random((7, 5)), rng.random((7, 5))


def test_a_big_module_starts_quick_and_switches_to_full_code(cache_dir, tier_everything):
    from theon.codegen.cpu.driver import tierup
    inputs, outputs = big_graph()
    f = theon.function(inputs, outputs)
    assert f.native.tier == 0 and not f.native.from_cache
    before = f(*big_args())
    assert tierup.wait(300)
    assert f.native.pending is not None
    after = f(*big_args())                       # this call adopts the tier-1 code
    assert f.native.tier == 1 and f.native.pending is None
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    slow = f._call_python(*big_args())
    for a, b in zip(after, slow):
        np.testing.assert_array_equal(a, b)
    assert entries(cache_dir, "obj")             # tier 1 went to the cache, tier 0 never does
    g = theon.function(*big_graph())
    assert g.native.tier == 1 and g.native.from_cache


def test_tiering_can_be_turned_off(cache_dir, tier_everything, monkeypatch):
    from theon.codegen.cpu.driver import compile as cc
    monkeypatch.setattr(cc, "TIERED", False)
    f = theon.function(*big_graph(0.25))
    assert f.native.tier == 1
    assert all(np.all(np.isfinite(o)) for o in f(*big_args()))


def test_a_failing_helper_keeps_the_quick_code(cache_dir, tier_everything, monkeypatch):
    from theon.codegen.cpu.driver import tierup

    def broken(job):
        raise RuntimeError("no helper today")
    monkeypatch.setattr(tierup, "_run_helper", broken)
    f = theon.function(*big_graph(0.125))
    assert tierup.wait(60)
    out = f(*big_args())
    assert f.native.tier == 0 and f.native.pending is None
    assert not entries(cache_dir, "obj")
    for a, b in zip(out, f._call_python(*big_args())):
        np.testing.assert_array_equal(a, b)


def test_a_full_queue_compiles_synchronously(cache_dir, tier_everything, monkeypatch):
    from theon.codegen.cpu.driver import tierup
    monkeypatch.setattr(tierup, "MAX_QUEUED", 0)
    f = theon.function(*big_graph(0.0625))
    assert f.native.tier == 1
    assert entries(cache_dir, "obj")
