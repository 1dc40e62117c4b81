"""theon's caching allocator (codegen/cpu/rtlib/alloc.py): JIT results and
temporaries come from theon_rt_alloc, big freed blocks are reused."""
import ctypes
import gc
import random
import resource
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theon
import theon.tensor as T
from theon.codegen.cpu.rtlib import alloc as rt_alloc
from theon.codegen.cpu.driver import rtload
from theon.runtime import memory_stats, release_memory

from ..native_helpers import run_in_threads

ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64)
FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@pytest.fixture(scope="module")
def rt():
    """(theon_rt_alloc, theon_rt_free) as ctypes functions (they release the GIL)."""
    return ALLOC(rtload.address("theon_rt_alloc")), FREE(rtload.address("theon_rt_free"))


@pytest.fixture(scope="module")
def three():
    x = T.fmatrix("x")
    return theon.function([x], [T.exp(x), T.log(x), x ** 2])


def _positive(rng, *shape):
    return (rng.random(shape, dtype=np.float32) + np.float32(0.5)).astype(np.float32)


def _check_three(outs, a):
    np.testing.assert_allclose(outs[0], np.exp(a), rtol=1e-5)
    np.testing.assert_allclose(outs[1], np.log(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[2], a ** 2, rtol=1e-6)


# --- the allocator itself ---------------------------------------------------------------------
@pytest.mark.parametrize("nbytes", [0, 1, 15, 100, 4096, rt_alloc.BIG_BYTES - 1, rt_alloc.BIG_BYTES,
                                    rt_alloc.BIG_BYTES + 1, 3 << 20, rt_alloc.HUGE_BYTES + 12345])
def test_blocks_are_aligned_and_writable(rt, nbytes):
    alloc, free = rt
    p = alloc(nbytes)
    assert p and p % 64 == 0
    ctypes.memset(p, 0xAB, nbytes)
    assert ctypes.string_at(p, nbytes) == b"\xab" * nbytes
    free(p)
    free(None)                                           # NULL: nothing


def test_big_block_is_reused_after_free(rt):
    alloc, free = rt
    nbytes = (5 << 20) + 777                             # a size no other test uses
    p = alloc(nbytes)
    free(p)
    before = memory_stats()
    q = alloc(nbytes)
    after = memory_stats()
    free(q)
    assert q == p
    assert after["hits"] == before["hits"] + 1


def test_cached_block_is_not_handed_out_twice(rt):
    alloc, free = rt
    nbytes = (3 << 20) + 99
    blocks = [alloc(nbytes) for _ in range(4)]
    for p in blocks[:2]:
        free(p)
    again = [alloc(nbytes) for _ in range(3)]            # two from the cache, one new
    assert len(set(again)) == 3 and not set(again) & set(blocks[2:])
    for p in again + blocks[2:]:
        free(p)


def test_cache_is_bounded_and_trim_empties_it(rt):
    alloc, free = rt
    blocks = [alloc((1 << 20) + k * 200_000) for k in range(rt_alloc.MAX_BLOCKS + 40)]
    for p in blocks:
        free(p)
    s = memory_stats()
    assert 0 < s["cached_blocks"] <= rt_alloc.MAX_BLOCKS
    assert s["cached_bytes"] <= rt_alloc.CACHE_CAP
    released = release_memory()
    assert released >= s["cached_bytes"] > 0
    s = memory_stats()
    assert s["cached_blocks"] == 0 and s["cached_bytes"] == 0
    assert release_memory() == 0


def test_unused_blocks_age_out(rt):
    alloc, free = rt
    stale = alloc(7 << 20)
    free(stale)
    assert memory_stats()["cached_blocks"] >= 1
    for _ in range(rt_alloc.MAX_AGE):                    # 2 * MAX_AGE operations on another size
        free(alloc(rt_alloc.BIG_BYTES + 5))
    p = alloc(7 << 20)                                   # the stale block was unmapped: a miss
    s = memory_stats()
    free(p)
    assert s["cached_blocks"] <= 1


def test_block_used_once_a_call_stays_cached(rt):
    """A step like W9's makes ~1,500 big allocations/frees a call; a block it
    takes once a call must still be cached at the next call (no page faults)."""
    alloc, free = rt
    free(alloc(7 << 20))
    for _ in range(2000):
        free(alloc(rt_alloc.BIG_BYTES + 5))
    before = memory_stats()
    p = alloc(7 << 20)
    after = memory_stats()
    free(p)
    assert after["misses"] == before["misses"] and after["hits"] == before["hits"] + 1


def test_enormous_request_fails_cleanly(rt):
    alloc, free = rt
    assert not alloc(1 << 57)                            # beyond MAX_REQUEST: NULL at once
    assert not alloc(1 << 47)                            # the whole address space: mmap fails
    p = alloc(1 << 20)                                   # and the allocator still works
    assert p
    free(p)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 << 20), st.booleans()), min_size=1, max_size=40))
def test_random_alloc_free_sequences_keep_contents(rt, ops):
    """Blocks alive at once never overlap: each keeps the bytes written to it."""
    alloc, free = rt
    live = []
    for k, (nbytes, drop) in enumerate(ops):
        if drop and live:
            p, n, tag = live.pop(0)
            assert ctypes.string_at(p, min(n, 64)) == bytes([tag]) * min(n, 64)
            assert n == 0 or ctypes.string_at(p + n - 1, 1) == bytes([tag])
            free(p)
        p = alloc(nbytes)
        assert p and p % 64 == 0
        tag = k % 251 + 1
        ctypes.memset(p, tag, nbytes)
        live.append((p, nbytes, tag))
    for p, n, tag in live:
        assert ctypes.string_at(p, n) == bytes([tag]) * n
        free(p)


def test_threads_hammering_the_allocator(rt):
    """Several threads allocate, fill, check and free at once (ctypes calls
    release the GIL); the bookkeeping balances afterwards."""
    alloc, free = rt
    gc.collect()
    live_before = memory_stats()["live_bytes"]
    errors = []

    def work(seed):
        r = random.Random(seed)
        held = []
        try:
            for i in range(300):
                n = r.choice([0, 64, 5000, rt_alloc.BIG_BYTES, 300_000, 1 << 20, (2 << 20) + 3])
                p = alloc(n)
                tag = (seed * 37 + i) % 255 + 1
                ctypes.memset(p, tag, n)
                held.append((p, n, tag))
                if len(held) > 4 or r.random() < 0.5:
                    q, m, t = held.pop(r.randrange(len(held)))
                    if m and (ctypes.string_at(q, 1) != bytes([t]) or ctypes.string_at(q + m - 1, 1) != bytes([t])):
                        errors.append(f"block of {m} bytes was overwritten")
                    free(q)
        finally:
            for q, _, _ in held:
                free(q)

    errors += run_in_threads(work, [(s,) for s in range(4)])
    assert not errors, errors[:3]
    assert memory_stats()["live_bytes"] == live_before


# --- JIT code on it ------------------------------------------------------------------------------
def test_entry_calls_the_runtime_allocator(three):
    ir = three.native.llvm_ir
    assert "@theon_rt_alloc" in ir and "@theon_rt_free" in ir
    assert "@malloc(" not in ir and "@free(" not in ir


def test_kept_results_are_distinct_and_correct(three):
    rng = np.random.default_rng(1)
    kept = []
    for _ in range(8):
        a = _positive(rng, 300, 700)                     # 840 KB per result: big blocks
        outs = three(a)
        _check_three(outs, a)
        kept.append((a, outs))
    arrays = [o for _, outs in kept for o in outs]
    assert len({o.ctypes.data for o in arrays}) == len(arrays)
    assert all(o.ctypes.data % 64 == 0 for o in arrays)
    kept[3][1][1].fill(-7.0)                             # write into one: the others are untouched
    for k, (a, outs) in enumerate(kept):
        if k != 3:
            _check_three(outs, a)
    assert (kept[3][1][1] == -7.0).all()
    _check_three([kept[3][1][0], np.log(kept[3][0]), kept[3][1][2]], kept[3][0])


def test_dropped_results_reuse_memory(three):
    rng = np.random.default_rng(2)
    a = _positive(rng, 613, 611)                         # ~1.5 MB per result: below HUGE_BYTES
    for _ in range(3):
        three(a)
    before = memory_stats()
    addresses, faults = set(), 0
    for _ in range(20):
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        outs = three(a)                                  # the call writes every page of its results
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
        addresses.update(o.ctypes.data for o in outs)
        _check_three(outs, a)                            # (NumPy's temporaries fault: not counted)
        del outs
    after = memory_stats()
    assert after["hits"] - before["hits"] >= 3 * 20 - 3
    assert len(addresses) <= 6                           # the same few blocks again and again
    pages = 3 * a.nbytes // 4096                         # what fresh results would fault in per call
    assert faults < 20 * pages // 10, faults


def test_temporaries_come_back_too():
    x = T.fmatrix("x")
    f = theon.function([x], T.nnet.softmax(x))          # row max / sums / exp are temporaries
    rng = np.random.default_rng(3)
    a = rng.standard_normal((512, 700)).astype(np.float32)
    ref = np.exp(a - a.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    for _ in range(3):
        np.testing.assert_allclose(f(a), ref, rtol=1e-5, atol=1e-7)
    gc.collect()
    live = memory_stats()["live_bytes"]
    for _ in range(10):
        np.testing.assert_allclose(f(a), ref, rtol=1e-5, atol=1e-7)
    assert memory_stats()["live_bytes"] == live          # nothing leaked


def test_concurrent_calls_from_python_threads(three):

    def work(seed):
        rng = np.random.default_rng(seed)
        held = []
        for _ in range(15):
            a = _positive(rng, 256, 512 + seed)
            outs = three(a)
            held.append((a, outs))
            if len(held) > 3:
                old_a, old = held.pop(0)
                _check_three(old, old_a)
        for old_a, old in held:
            _check_three(old, old_a)

    errors = run_in_threads(work, [(s,) for s in range(4)])
    assert not errors, errors[:2]


def test_zero_size_results():
    x = T.fmatrix("x")
    f = theon.function([x], [T.exp(x), x.sum(axis=0)])
    for shape in [(0, 5), (4, 0), (0, 0)]:
        a = np.zeros(shape, np.float32)
        e, s = f(a)
        assert e.shape == shape and s.shape == (shape[1],)
        assert (s == 0).all()


def test_huge_result_raises_memory_error_and_recovers():
    x = T.fvector("x")
    f = theon.function([x], x + 1)
    # 2**45 float32 elements from one (stride 0): a 128 TiB result, within
    # MAX_BYTES, so the allocation itself is tried and fails
    big = np.broadcast_to(np.float32(1), (2 ** 45,))
    with pytest.raises(MemoryError, match="out of memory"):
        f(big)
    np.testing.assert_array_equal(f(np.arange(3, dtype=np.float32)), [1, 2, 3])


def test_release_memory_gives_cached_blocks_back(three):
    rng = np.random.default_rng(4)
    a, b = _positive(rng, 400, 400), _positive(rng, 500, 500)
    kept = three(a)                                      # arrays alive keep their memory
    three(b)                                             # dropped: its blocks go to the cache
    gc.collect()
    assert memory_stats()["cached_bytes"] >= 3 * b.nbytes
    assert release_memory() >= 3 * b.nbytes
    s = memory_stats()
    assert s["cached_blocks"] == 0 and s["cached_bytes"] == 0
    _check_three(kept, a)
    del kept
    assert memory_stats()["cached_blocks"] >= 3          # freed into the (now empty) cache
    _check_three(three(a), a)


def test_release_memory_without_the_library_loaded():
    """release_memory/memory_stats do not compile the runtime library just to look."""
    import subprocess
    code = ("import theon.runtime as r; from theon.codegen.cpu.driver import rtload; "
            "print(r.release_memory(), r.memory_stats()['hits'], not rtload.is_loaded())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", "True"]
