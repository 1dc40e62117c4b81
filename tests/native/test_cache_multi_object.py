"""Very large FAST_COMPILE functions are several objects (tier 0's -O0 glue
and quick kernels, loaded together: codegen/cpu/driver/compile.py); they go
through the disk cache like single objects (runtime/cache.py store_code /
load_code: one keyed entry, each part checked with check_object before
LLVM sees it). A second process loads them from the cache; a damaged part
or a part table that does not describe the blob is a miss that is
rewritten, never a crash. Each compile runs in a fresh interpreter."""
import os

import numpy as np
import pytest

from theon.runtime import cache

PROGRAM = """
import json, numpy as np, theon, theon.tensor as T
from theon.runtime import cache
from theon.codegen.cpu.driver import compile as cc
cache._fingerprint = "pinned"       # keys stay the same while theon's sources are being edited
cc.BIG_MODULE_INSTRUCTIONS = 10     # every module is big: tier 0's several objects are the final code
x, y = T.dmatrix('x'), T.dmatrix('y')
e = x
for k in range(40):                 # FAST_COMPILE leaves these unfused: one loop each
    e = T.tanh(e * y + 0.5) if k % 3 == 0 else (e * 1.01 - y) if k % 3 == 1 else T.maximum(e, y * 0.1)
f = theon.function([x, y], [e, T.dot(e, y.T).sum(axis=1)], mode='FAST_COMPILE')
rng = np.random.default_rng(3)
X, Y = rng.random((7, 5)), rng.random((7, 5))
outs = f(X, Y)
print(json.dumps({'from_cache': f.native.from_cache, 'tier': f.native.tier, 'key': f.native._key,
                  'outs': [o.tolist() for o in outs]}))
"""


def reference():
    rng = np.random.default_rng(3)
    x, y = rng.random((7, 5)), rng.random((7, 5))
    e = x
    for k in range(40):
        e = np.tanh(e * y + 0.5) if k % 3 == 0 else (e * 1.01 - y) if k % 3 == 1 else np.maximum(e, y * 0.1)
    return [e, (e @ y.T).sum(axis=1)]


def compile_in_child(run_json, folder):
    result = run_json(PROGRAM, env={"THEON_CACHE_DIR": str(folder)}, timeout=300)
    for got, want in zip(result["outs"], reference()):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert result["tier"] == 1
    return result


def read_entry(folder, key):
    with open(os.path.join(folder, f"{key}.obj"), "rb") as fh:
        return cache.decode(fh.read(), "obj", key)


def write_entry(folder, key, header, blob):
    with open(os.path.join(folder, f"{key}.obj"), "wb") as fh:
        fh.write(cache.encode("obj", key, header, blob))


def test_a_second_process_loads_a_multi_object_function_from_the_cache(tmp_path, run_json):
    first = compile_in_child(run_json, tmp_path)
    assert not first["from_cache"]
    header, blob = read_entry(tmp_path, first["key"])
    parts = header["parts"]
    assert len(parts) >= 2 and sum(parts) == len(blob)
    second = compile_in_child(run_json, tmp_path)
    assert second["from_cache"] and second["key"] == first["key"]
    assert second["outs"] == first["outs"]


def _damaged(header, blob):
    """(label, header, blob) entries with a correct checksum and key binding."""
    parts = header["parts"]
    yield "a-part-of-garbage", header, blob[:parts[0]] + os.urandom(parts[1]) + blob[parts[0] + parts[1]:]
    yield "parts-too-short", dict(header, parts=parts[:-1]), blob
    yield "parts-too-long", dict(header, parts=parts + [8]), blob
    yield "parts-not-ints", dict(header, parts=[float(n) for n in parts]), blob
    yield "parts-merged", dict(header, parts=[parts[0] + parts[1]] + parts[2:]), blob


def test_a_damaged_multi_object_entry_is_a_miss_and_is_rewritten(tmp_path, run_json):
    first = compile_in_child(run_json, tmp_path)
    key = first["key"]
    header, blob = read_entry(tmp_path, key)
    name = header["name"]
    objects = cache._split_parts(blob, header["parts"])
    defining = [k for k, obj in enumerate(objects) if cache.check_object(obj, [name]) is None]
    assert len(defining) == 1                   # the glue defines the entry; kernels the rest
    without = [obj for k, obj in enumerate(objects) if k != defining[0]]
    cases = list(_damaged(header, blob))
    cases.append(("entry-symbol-missing", dict(header, parts=[len(o) for o in without]), b"".join(without)))
    for label, bad_header, bad_blob in cases:
        write_entry(tmp_path, key, bad_header, bad_blob)
        assert cache.decode(cache.encode("obj", key, bad_header, bad_blob), "obj", key) is not None
        result = compile_in_child(run_json, tmp_path)       # exits cleanly with the right values
        assert not result["from_cache"], label
        hit = read_entry(tmp_path, key)
        assert hit is not None and hit[0]["parts"] == header["parts"], label
    assert compile_in_child(run_json, tmp_path)["from_cache"]


@pytest.fixture
def cache_dir(tmp_path):
    import theon
    saved = theon.config.cache_dir
    theon.config.cache_dir = str(tmp_path)
    yield tmp_path
    theon.config.cache_dir = saved


def test_store_code_and_load_code_round_trip_several_objects(cache_dir):
    from theon.codegen.cpu.driver.jit import compile_object
    _, one, _ = compile_object("define i64 @theon_one(i64 %a) {\n  %b = add i64 %a, 1\n  ret i64 %b\n}\n", 2)
    _, two, _ = compile_object("declare i64 @theon_one(i64)\ndefine i64 @theon_two(i64 %a) {\n"
                               "  %b = call i64 @theon_one(i64 %a)\n  ret i64 %b\n}\n", 2)
    key = cache.make_key("obj", "several objects")
    assert cache.store_code("obj", key, {"kind": "obj", "name": "theon_two"}, [one, two])
    header, objects = cache.load_code("obj", key, ["theon_two", "theon_one"])
    assert header["parts"] == [len(one), len(two)] and objects == [one, two]
    assert cache.load_code("obj", key, ["theon_three"]) is None     # defined by no part
    assert cache.store_code("obj", key, {"kind": "obj", "name": "theon_one"}, one)
    header, obj = cache.load_code("obj", key, ["theon_one"])
    assert "parts" not in header and obj == one                      # one object: as before
    blob = one + two
    assert cache._split_parts(blob, [len(blob)]) == [blob]
    for parts in ([], [len(one), len(two), 0], [0, len(blob)], "12", [len(one), len(two) - 1],
                  [-1, len(blob) + 1], [True] * len(blob), [1] * (cache.MAX_PARTS + 1)):
        assert cache._split_parts(blob, parts) is None, parts
