"""The cache trusts only what it wrote (runtime/cache.py): pruning never
touches a file it did not write, entries are bound to their names, an
untrusted folder or entry is refused, and an entry whose bytes are not a
loadable object for its function is a miss that is rewritten -- never a
crash. Each compile runs in a fresh interpreter (run_json)."""
import os
import warnings

import numpy as np
import pytest

from theon.runtime import cache

PROGRAM = """
import json, sys, warnings
warnings.simplefilter("always")
import numpy as np, theon, theon.tensor as T
from theon.runtime import cache
cache._fingerprint = "pinned"       # keys stay the same while theon's sources are being edited
cache.PRUNE_EVERY = int(sys.argv[1]) if len(sys.argv) > 1 else cache.PRUNE_EVERY
x = T.dvector('x')
out = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for k in FACTORS:
        f = theon.function([x], T.exp(x) * k)
        out.append({'k': k, 'from_cache': f.native.from_cache, 'y': f(np.arange(3.0)).tolist(),
                    'key': f.native._key})
print(json.dumps({'out': out, 'warnings': [str(w.message) for w in caught
                                           if issubclass(w.category, cache.CacheWarning)]}))
"""


def compile_in_child(run_json, folder, factors, prune_every=None, max_bytes=None):
    code = PROGRAM.replace("FACTORS", repr(list(factors)))
    if prune_every is not None:
        code = code.replace("cache.PRUNE_EVERY = int(sys.argv[1]) if len(sys.argv) > 1 else cache.PRUNE_EVERY",
                            f"cache.PRUNE_EVERY = {prune_every}; cache.MAX_BYTES = {max_bytes}")
    result = run_json(code, env={"THEON_CACHE_DIR": str(folder)}, timeout=300)
    for item in result["out"]:
        np.testing.assert_allclose(item["y"], np.exp(np.arange(3.0)) * item["k"], rtol=1e-15)
    return result


def entries(folder, kind=None):
    return {n for n in os.listdir(folder) if cache.ENTRY_NAME.match(n) and (kind is None or n.endswith("." + kind))}


def test_foreign_files_survive_any_number_of_stores(tmp_path, run_json):
    folder = tmp_path / "c"
    folder.mkdir(mode=0o700)
    notes = folder / "notes.txt"
    notes.write_text("mine")
    big = folder / "old_dataset.bin"
    with open(big, "wb") as fh:
        fh.truncate(1 << 31)                            # sparse: 2 GiB over the limit
    lookalike = folder / ("ab" * 32 + ".obj")           # an entry's name, not an entry
    lookalike.write_bytes(b"user data")
    tmp_like = folder / ".theon-tmp-userfile"           # a temporary's name, not ours
    tmp_like.write_bytes(b"user data")
    for p in (notes, big, lookalike, tmp_like):
        os.utime(p, (0, 0))                             # the oldest files in the folder
    # prune after every store, with a limit every real entry exceeds
    compile_in_child(run_json, folder, [1.5, 2.5, 3.5], prune_every=1, max_bytes=1)
    assert notes.read_text() == "mine" and big.stat().st_size == 1 << 31
    assert lookalike.read_bytes() == b"user data" and tmp_like.read_bytes() == b"user data"
    cache_saved = cache.cache_dir
    cache.prune(str(folder), max_bytes=0)               # everything of ours goes, nothing else
    assert cache.cache_dir is cache_saved
    assert sorted(os.listdir(folder)) == sorted(p.name for p in (notes, big, lookalike, tmp_like))


def test_the_folder_is_created_private(tmp_path, run_json):
    old = os.umask(0)
    try:
        compile_in_child(run_json, tmp_path / "new" / "cache", [2.0])
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "new" / "cache").st_mode & 0o777) == 0o700
    for name in os.listdir(tmp_path / "new" / "cache"):
        assert os.stat(tmp_path / "new" / "cache" / name).st_mode & 0o077 == 0


def test_an_entry_renamed_over_another_is_a_miss(tmp_path, run_json):
    first = compile_in_child(run_json, tmp_path, [2.0])
    assert not first["out"][0]["from_cache"]
    objs_2 = entries(tmp_path, "obj")
    compile_in_child(run_json, tmp_path, [3.0])
    (obj_3,) = entries(tmp_path, "obj") - objs_2
    (obj_2,) = objs_2
    os.replace(tmp_path / obj_3, tmp_path / obj_2)      # exp(x)*3's code under exp(x)*2's name
    again = compile_in_child(run_json, tmp_path, [2.0])    # checks the values: exp(x)*2
    assert not again["out"][0]["from_cache"]
    key = again["out"][0]["key"]            # (another key only if theon's sources changed meanwhile)
    assert cache.decode((tmp_path / f"{key}.obj").read_bytes(), "obj", key) is not None   # rewritten
    assert compile_in_child(run_json, tmp_path, [2.0])["out"][0]["from_cache"]


def test_a_planted_ir_entry_under_another_name_is_a_miss(tmp_path, run_json):
    compile_in_child(run_json, tmp_path, [2.0])
    objs_2 = entries(tmp_path, "ir")
    compile_in_child(run_json, tmp_path, [5.0])
    (ir_5,) = entries(tmp_path, "ir") - objs_2
    (ir_2,) = objs_2
    os.replace(tmp_path / ir_5, tmp_path / ir_2)
    assert read_entry(tmp_path / ir_2) is None
    compile_in_child(run_json, tmp_path, [2.0])         # exp(x)*2, not the planted exp(x)*5
    assert read_entry(tmp_path / ir_2) is not None      # the miss rewrote the entry


@pytest.mark.parametrize("damage", ["world-writable", "group-writable", "foreign-owner"])
def test_an_untrusted_folder_is_refused_with_a_warning(tmp_path, run_json, damage):
    folder = tmp_path / "c"
    compile_in_child(run_json, folder, [2.0])
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder)}
    if damage == "foreign-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the folder away")
        os.chown(folder, 4321, 4321)
    else:
        os.chmod(folder, 0o777 if damage == "world-writable" else 0o770)
    result = compile_in_child(run_json, folder, [2.0, 7.0])
    assert not any(item["from_cache"] for item in result["out"])
    assert any("not using the compile cache folder" in w for w in result["warnings"]), result["warnings"]
    assert {n: (folder / n).read_bytes() for n in os.listdir(folder)} == before      # nothing written


@pytest.mark.parametrize("damage", ["group-writable", "foreign-owner", "symlink"])
def test_an_untrusted_entry_is_ignored(tmp_path, run_json, damage):
    compile_in_child(run_json, tmp_path, [2.0])
    (obj,) = entries(tmp_path, "obj")
    path = tmp_path / obj
    if damage == "foreign-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the entry away")
        os.chown(path, 4321, 4321)
    elif damage == "group-writable":
        os.chmod(path, 0o660)
    else:
        target = tmp_path.parent / (obj + ".elsewhere")
        os.replace(path, target)
        os.symlink(target, path)
    result = compile_in_child(run_json, tmp_path, [2.0])
    assert not result["out"][0]["from_cache"]
    if damage != "symlink":
        assert any("ignoring compile cache entry" in w for w in result["warnings"])


def read_entry(path):
    name = os.path.basename(path)
    return cache.decode(open(path, "rb").read(), name[65:], name[:64])


def _bad_objects(good, name):
    """Payloads with a correct checksum (written through cache.store) but
    bytes that are not a loadable object defining ``name``."""
    yield "random", os.urandom(len(good))
    yield "truncated", good[:len(good) // 2]
    yield "empty", b""
    yield "symbol-renamed", good.replace(name.encode() + b"\0", name[:-1].encode() + b"X\0")
    header_end = 64
    yield "zeroed-headers", good[:header_end] + bytes(len(good) - header_end)
    shoff = int.from_bytes(good[40:48], "little")
    yield "sections-past-end", good[:40] + (len(good) - 10).to_bytes(8, "little") + good[48:]
    yield "section-table-garbage", good[:shoff] + os.urandom(len(good) - shoff)


@pytest.mark.parametrize("kind", ["obj", "wrap"])
def test_bad_object_bytes_with_a_correct_checksum_are_a_miss_never_a_crash(tmp_path, run_json, kind):
    compile_in_child(run_json, tmp_path, [2.0])
    (entry,) = entries(tmp_path, kind)
    key = entry[:64]
    header, good = read_entry(tmp_path / entry)
    name = header["name"]
    assert cache.check_object(good, [name]) is None
    for label, blob in _bad_objects(good, name):
        assert cache.check_object(blob, [name]) is not None, label
        with open(tmp_path / entry, "wb") as fh:
            fh.write(cache.encode(kind, key, header, blob))
        result = compile_in_child(run_json, tmp_path, [2.0])       # exits cleanly with exp(x)*2
        if kind == "obj":
            assert not result["out"][0]["from_cache"], label
        hit = read_entry(tmp_path / entry)
        assert hit is not None and hit[1] != blob and cache.check_object(hit[1], [name]) is None, label


def test_check_object_refuses_what_the_loader_would_trust():
    from theon.codegen.cpu.driver.jit import compile_object
    _, good, _ = compile_object("define i64 @theon_f(i64 %a) {\n  %b = add i64 %a, 1\n  ret i64 %b\n}\n"
                                "@g = global [4 x i64] zeroinitializer\n", 2)
    assert cache.check_object(good, ["theon_f"]) is None
    assert "does not define" in cache.check_object(good, ["theon_g"])
    assert cache.check_object(good[:100], ["theon_f"]) is not None
    assert cache.check_object(b"\x7fELF" + good[4:5].replace(b"\x02", b"\x01") + good[5:], []) is not None
    wrong_machine = good[:18] + (183 if good[18] == 62 else 62).to_bytes(2, "little") + good[20:]
    assert "machine" in cache.check_object(wrong_machine, [])
    shoff = int.from_bytes(good[40:48], "little")
    shnum = int.from_bytes(good[60:62], "little")
    refused = 0
    for k in range(1, shnum):               # every section given a bad alignment, then a huge size
        at = shoff + 64 * k
        bad_align = good[:at + 48] + (48).to_bytes(8, "little") + good[at + 56:]
        huge = good[:at + 32] + (1 << 40).to_bytes(8, "little") + good[at + 40:]
        refused += cache.check_object(bad_align, []) is not None
        refused += cache.check_object(huge, []) is not None
    assert refused == 2 * (shnum - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.decode(cache.encode("obj", "ab" * 32, {}, good), "obj", "ab" * 32) == ({}, good)
