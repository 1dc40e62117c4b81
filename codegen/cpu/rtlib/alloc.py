"""The buffer cache of theon's native runtime library (rtlib.py).

    i8*  theon_rt_alloc(i64 nbytes)      a 64-byte aligned block of ``nbytes``
                                         (0 is fine); NULL when out of memory
    void theon_rt_free(i8* p)            give a block of theon_rt_alloc back (NULL: no-op)
    i64  theon_rt_trim()                 return every cached block to the system;
                                         the number of bytes given back
    void theon_rt_alloc_stats(i64* out)  the counters ``STATS``, in that order

JIT code allocates its results and temporaries here (``LowerCtx``'s
allocator 'rt'), so that a function called again and again with the same
shapes gets the same big blocks back instead of fresh memory from the
kernel: glibc hands big freed blocks back to the system (its mmap threshold
and heap trimming), so every call would pay a page fault and the kernel's
zeroing per page of every result. The process's own malloc settings are
left alone.

Every block has a header of two i64 words right before it::

    p[-2]  base: what the system returned (malloc's pointer, or the mapping)
    p[-1]  len:  0 for a small block (give base to free), else the mapping's length

* **Small** requests (``nbytes < BIG_BYTES``) are ``malloc(nbytes + 80)``,
  ``p`` the first 64-byte boundary at least 16 bytes in.
* **Big** requests need ``len = round_up(nbytes + 64, PAGE)`` bytes at
  ``p = base + 64``. ``theon_rt_alloc`` takes the smallest cached block with
  ``need <= len <= need + need / 4`` (so a repeated shape gets its block back),
  else maps a new one (``mmap``, with ``MADV_HUGEPAGE`` from ``HUGE_BYTES``
  on Linux; ``malloc`` where there is no mmap). ``theon_rt_free`` puts the
  block in the cache, evicting the least recently freed blocks to stay within
  ``MAX_BLOCKS`` blocks and ``limit = min(CACHE_CAP, max(CACHE_FLOOR, peak))``
  bytes, where ``peak`` is the most big-block memory the program had in use at
  once since the last trim (the cache never holds much more than the program
  itself used). A cached block not reused within ``MAX_AGE`` big
  allocations/frees is unmapped at the next free; ``theon_rt_trim``
  (``theon.runtime.release_memory()``) unmaps all of them at once. If mapping
  fails, the cache is trimmed and the mapping tried once more.

The cache is one process-wide table guarded by a spinlock (cmpxchg, then
``sched_yield`` while contended): calls run with the GIL released, from any
number of threads. Only bookkeeping happens under the lock; mapping and
unmapping happen outside it.
"""
import contextlib
import sys

import llvmlite.ir as lir

from ...llvm_util import I8P, I32, I64, i32, i64
from . import Body, declare, define, libc, part, state

I64P = I64.as_pointer()
VOID = lir.VoidType()

HEADER = 64                 # bytes before a big block's data (keeps 64-byte alignment)
SMALL_EXTRA = 80            # malloc'd on top of a small request: 16-byte header + alignment
BIG_BYTES = 128 << 10       # requests of at least this many bytes use the cache (glibc mmaps from here)
PAGE = 4096
MAX_BLOCKS = 128            # cached blocks at most
CACHE_FLOOR = 64 << 20      # the cache may hold this much whatever the peak use
CACHE_CAP = 1 << 30         # and never more than this
MAX_AGE = 1 << 16           # big allocations/frees a cached block may stay unused (W9 makes ~1,500 a call)
HUGE_BYTES = 2 << 20        # mappings this big ask for transparent huge pages (Linux): first touch
                            # of a 4 MB block measured 13x faster (3 faults instead of 1025)
MAX_REQUEST = 1 << 56       # anything bigger fails at once (no overflow in the size math)
FIT_SHIFT = 2               # a cached block fits when at most need >> FIT_SHIFT bigger

STATS = ("hits", "misses", "cached_blocks", "cached_bytes", "live_bytes", "peak_bytes", "clock")
HITS, MISSES, COUNT, CACHED, LIVE, PEAK, CLOCK = range(len(STATS))
BASE, LEN, STAMP = range(3)  # the i64 fields of one cache entry

FUNCTIONS = {
    "theon_rt_alloc": lir.FunctionType(I8P, [I64]),
    "theon_rt_free": lir.FunctionType(VOID, [I8P]),
    "theon_rt_trim": lir.FunctionType(I64, []),
    "theon_rt_alloc_stats": lir.FunctionType(VOID, [I64P]),
}


def _system():
    """(mmap prot, mmap flags, madvise advice or None) for this platform, or
    None where big blocks come from malloc too."""
    if sys.platform.startswith("linux"):
        return 0x3, 0x22, 14        # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, MADV_HUGEPAGE
    if sys.platform == "darwin":
        return 0x3, 0x1002, None    # MAP_PRIVATE|MAP_ANON
    return None


class _Body(Body):
    """Emits one function of the part: the cache's globals, the lock,
    mutable locals (allocas; SROA turns them into registers) and loops."""

    def __init__(self, module, fn, arg_names=()):
        super().__init__(fn, arg_names)
        self.m = module
        self.lock_word = state(module, "alloc.lock", I32)
        self.table = state(module, "alloc.blocks", lir.ArrayType(I64, 3 * MAX_BLOCKS))
        self.stats = state(module, "alloc.stats", lir.ArrayType(I64, len(STATS)))

    def libc(self, name, ret, args):
        return libc(self.m, name, ret, args)

    # --- the shared state (only under the lock) ---------------------------------------------
    def stat(self, k):
        return self.b.gep(self.stats, [i64(0), i64(k)])

    def get(self, k):
        return self.b.load(self.stat(k))

    def add(self, k, delta):
        self.b.store(self.b.add(self.get(k), delta), self.stat(k))

    def entry(self, i, field):
        """Pointer to field ``field`` of cache entry ``i`` (an i64 value)."""
        b = self.b
        return b.gep(self.table, [i64(0), b.add(b.mul(i, i64(3)), i64(field))])

    def remove(self, i, victims, n_victims):
        """Take cache entry ``i`` out (the last entry moves into its place)
        and append its (base, len) to ``victims``."""
        b = self.b
        base, length = b.load(self.entry(i, BASE)), b.load(self.entry(i, LEN))
        nv = b.load(n_victims)
        b.store(base, b.gep(victims, [b.mul(nv, i64(2))]))
        b.store(length, b.gep(victims, [b.add(b.mul(nv, i64(2)), i64(1))]))
        b.store(b.add(nv, i64(1)), n_victims)
        last = b.sub(self.get(COUNT), i64(1))
        for f in (BASE, LEN, STAMP):
            b.store(b.load(self.entry(last, f)), self.entry(i, f))
        b.store(last, self.stat(COUNT))
        self.add(CACHED, b.neg(length))

    def in_use(self, length):
        """Count ``length`` more bytes of big blocks in use (live, peak)."""
        b = self.b
        self.add(LIVE, length)
        live, peak = self.get(LIVE), self.get(PEAK)
        b.store(b.select(b.icmp_unsigned(">", live, peak), live, peak), self.stat(PEAK))

    # --- the lock ------------------------------------------------------------------------------
    def lock(self):
        b = self.b
        attempt, spin, locked = self.block("lock.try"), self.block("lock.spin"), self.block("locked")
        spins = self.var(i64(0), "spins")
        b.branch(attempt)
        b.position_at_end(attempt)
        got = b.cmpxchg(self.lock_word, i32(0), i32(1), "acquire", "monotonic")
        b.cbranch(b.extract_value(got, 1), locked, spin)
        b.position_at_end(spin)
        n = b.add(b.load(spins), i64(1))
        b.store(n, spins)
        with b.if_then(b.icmp_unsigned("==", b.and_(n, i64(63)), i64(0))):
            b.call(self.libc("sched_yield", I32, []), [])
        held = b.load_atomic(self.lock_word, "monotonic", 4)
        b.cbranch(b.icmp_unsigned("==", held, i32(0)), attempt, spin)
        b.position_at_end(locked)

    def unlock(self):
        self.b.store_atomic(i32(0), self.lock_word, "release", 4)

    # --- control flow --------------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, start, stop, step=1, name="i"):
        """``for i = start; step > 0 ? i < stop : i > stop; i += step`` (i64
        values; ``stop`` is re-read each iteration when it is a pointer)."""
        b = self.b
        i = self.var(start, name)
        head, body, done = self.block(f"{name}.head"), self.block(f"{name}.body"), self.block(f"{name}.end")
        b.branch(head)
        b.position_at_end(head)
        iv = b.load(i)
        end = b.load(stop) if isinstance(stop.type, lir.PointerType) else stop
        b.cbranch(b.icmp_signed("<" if step > 0 else ">", iv, end), body, done)
        b.position_at_end(body)
        yield iv
        b.store(b.add(b.load(i), i64(step)), i)
        b.branch(head)
        b.position_at_end(done)

    # --- the system -----------------------------------------------------------------------------
    def map(self, length):
        """A fresh block of ``length`` bytes from the system, or null."""
        b = self.b
        system = _system()
        if system is None:
            return b.call(self.libc("malloc", I8P, [I64]), [length])
        prot, flags, advice = system
        mmap = self.libc("mmap", I8P, [I8P, I64, I32, I32, I32, I64])
        p = b.call(mmap, [lir.Constant(I8P, None), length, i32(prot), i32(flags), i32(-1), i64(0)])
        failed = b.icmp_unsigned("==", b.ptrtoint(p, I64), i64(-1))       # MAP_FAILED
        if advice is not None:
            with b.if_then(b.and_(b.not_(failed), b.icmp_unsigned(">=", length, i64(HUGE_BYTES)))):
                b.call(self.libc("madvise", I32, [I8P, I64, I32]), [p, length, i32(advice)])
        return b.select(failed, lir.Constant(I8P, None), p)

    def unmap(self, base, length):
        b = self.b
        if _system() is None:
            b.call(self.libc("free", VOID, [I8P]), [base])
        else:
            b.call(self.libc("munmap", I32, [I8P, I64]), [base, length])

    def unmap_all(self, victims, n_victims):
        """Unmap the (base, len) pairs of ``victims``; returns their bytes."""
        b = self.b
        total = self.var(i64(0), "released")
        with self.loop(i64(0), n_victims, name="v") as v:
            base = b.inttoptr(b.load(b.gep(victims, [b.mul(v, i64(2))])), I8P)
            length = b.load(b.gep(victims, [b.add(b.mul(v, i64(2)), i64(1))]))
            self.unmap(base, length)
            b.store(b.add(b.load(total), length), total)
        return b.load(total)

    def victims(self):
        """A local array for the (base, len) of up to MAX_BLOCKS + 1 blocks, and its count."""
        b = self.b
        saved = b.block
        b.position_at_start(self.fn.entry_basic_block)
        arr = b.alloca(I64, size=i64(2 * (MAX_BLOCKS + 1)), name="victims")
        b.position_at_end(saved)
        return arr, self.var(i64(0), "n_victims")


def _header(b, p):
    """Pointers to the header words (base, len) right before ``p``."""
    words = b.bitcast(p, I64P)
    return b.gep(words, [i64(-2)]), b.gep(words, [i64(-1)])


def _emit_alloc(module, fn, trim):
    body = _Body(module, fn, ("nbytes",))
    b = body.b
    nbytes = fn.args[0]
    null = lir.Constant(I8P, None)
    small, big = body.block("small"), body.block("big")
    too_big = body.block("too_big")
    b.cbranch(b.icmp_unsigned("<", nbytes, i64(BIG_BYTES)), small, big)

    b.position_at_end(too_big)
    b.ret(null)

    # small: malloc, header at the first 64-byte boundary at least 16 bytes in
    b.position_at_end(small)
    raw = b.call(body.libc("malloc", I8P, [I64]), [b.add(nbytes, i64(SMALL_EXTRA))], name="raw")
    got = body.block("small.ok")
    b.cbranch(b.icmp_unsigned("==", raw, null), too_big, got)
    b.position_at_end(got)
    skip = b.add(b.and_(b.neg(b.add(b.ptrtoint(raw, I64), i64(16))), i64(63)), i64(16))
    p = b.gep(raw, [skip], name="p")
    base_slot, len_slot = _header(b, p)
    b.store(b.ptrtoint(raw, I64), base_slot)
    b.store(i64(0), len_slot)
    b.ret(p)

    # big: the cache, else the system
    b.position_at_end(big)
    ok = body.block("big.ok")
    b.cbranch(b.icmp_unsigned(">", nbytes, i64(MAX_REQUEST)), too_big, ok)
    b.position_at_end(ok)
    need = b.and_(b.add(nbytes, i64(HEADER + PAGE - 1)), i64(-PAGE), name="need")
    slack = b.lshr(need, i64(FIT_SHIFT))
    best = body.var(i64(-1), "best")
    best_len = body.var(i64(-1), "best_len")         # unsigned max
    body.lock()
    with body.loop(i64(0), body.stat(COUNT)) as i:
        length = b.load(body.entry(i, LEN))
        fits = b.and_(b.icmp_unsigned(">=", length, need), b.icmp_unsigned("<=", b.sub(length, need), slack))
        with b.if_then(b.and_(fits, b.icmp_unsigned("<", length, b.load(best_len)))):
            b.store(i, best)
            b.store(length, best_len)
    block_len = body.var(need, "len")
    base = body.var(i64(0), "base")
    hit = b.icmp_signed(">=", b.load(best), i64(0))
    with b.if_else(hit, likely=True) as (then, otherwise):
        with then:
            k = b.load(best)
            length = b.load(body.entry(k, LEN))
            b.store(b.load(body.entry(k, BASE)), base)
            b.store(length, block_len)
            last = b.sub(body.get(COUNT), i64(1))
            for f in (BASE, LEN, STAMP):
                b.store(b.load(body.entry(last, f)), body.entry(k, f))
            b.store(last, body.stat(COUNT))
            body.add(CACHED, b.neg(length))
            body.add(HITS, i64(1))
            body.in_use(length)
        with otherwise:
            body.add(MISSES, i64(1))
    body.add(CLOCK, i64(1))
    body.unlock()

    # a miss: map (after a failure: trim the cache, try once more)
    with b.if_then(b.icmp_unsigned("==", b.load(base), i64(0)), likely=False):
        first = body.map(need)
        with b.if_then(b.icmp_unsigned("==", first, null), likely=False):
            b.call(trim, [])
            second = body.map(need)
            with b.if_then(b.icmp_unsigned("==", second, null), likely=False):
                b.ret(null)
            b.store(b.ptrtoint(second, I64), base)
        with b.if_then(b.icmp_unsigned("!=", first, null), likely=True):
            b.store(b.ptrtoint(first, I64), base)
        body.lock()
        body.in_use(need)
        body.unlock()
    start = b.inttoptr(b.load(base), I8P)
    p = b.gep(start, [i64(HEADER)], name="p")
    base_slot, len_slot = _header(b, p)
    b.store(b.load(base), base_slot)
    b.store(b.load(block_len), len_slot)
    b.ret(p)


def _emit_free(module, fn):
    body = _Body(module, fn, ("p",))
    b = body.b
    p = fn.args[0]
    done, given = body.block("done"), body.block("given")
    b.cbranch(b.icmp_unsigned("==", p, lir.Constant(I8P, None)), done, given)
    b.position_at_end(done)
    b.ret_void()

    b.position_at_end(given)
    base_slot, len_slot = _header(b, p)
    base, length = b.load(base_slot, name="base"), b.load(len_slot, name="len")
    small, big = body.block("small"), body.block("big")
    b.cbranch(b.icmp_unsigned("==", length, i64(0)), small, big)
    b.position_at_end(small)
    b.call(body.libc("free", VOID, [I8P]), [b.inttoptr(base, I8P)])
    b.ret_void()

    b.position_at_end(big)
    victims, n_victims = body.victims()
    body.lock()
    body.add(LIVE, b.neg(length))
    body.add(CLOCK, i64(1))
    clock = body.get(CLOCK)
    # blocks not reused for MAX_AGE operations go (downwards: the entry moved in was seen)
    with body.loop(b.sub(body.get(COUNT), i64(1)), i64(-1), step=-1, name="age") as i:
        old = b.icmp_unsigned(">", b.sub(clock, b.load(body.entry(i, STAMP))), i64(MAX_AGE))
        with b.if_then(old, likely=False):
            body.remove(i, victims, n_victims)
    peak = body.get(PEAK)
    limit = b.select(b.icmp_unsigned(">", peak, i64(CACHE_FLOOR)), peak, i64(CACHE_FLOOR))
    limit = b.select(b.icmp_unsigned("<", limit, i64(CACHE_CAP)), limit, i64(CACHE_CAP), name="limit")
    keep = b.icmp_unsigned("<=", length, limit)
    with b.if_else(keep, likely=True) as (then, otherwise):
        with then:
            # evict the least recently freed blocks until this one fits
            head, evict, room = body.block("evict.head"), body.block("evict"), body.block("room")
            b.branch(head)
            b.position_at_end(head)
            full = b.or_(b.icmp_unsigned(">=", body.get(COUNT), i64(MAX_BLOCKS)),
                         b.icmp_unsigned(">", b.add(body.get(CACHED), length), limit))
            full = b.and_(full, b.icmp_unsigned(">", body.get(COUNT), i64(0)))
            b.cbranch(full, evict, room)
            b.position_at_end(evict)
            oldest = body.var(i64(0), "oldest")
            with body.loop(i64(1), body.stat(COUNT), name="lru") as i:
                older = b.icmp_unsigned("<", b.load(body.entry(i, STAMP)),
                                        b.load(body.entry(b.load(oldest), STAMP)))
                with b.if_then(older):
                    b.store(i, oldest)
            body.remove(b.load(oldest), victims, n_victims)
            b.branch(head)
            b.position_at_end(room)
            k = body.get(COUNT)
            b.store(base, body.entry(k, BASE))
            b.store(length, body.entry(k, LEN))
            b.store(clock, body.entry(k, STAMP))
            b.store(b.add(k, i64(1)), body.stat(COUNT))
            body.add(CACHED, length)
        with otherwise:
            # bigger than the cache may hold: straight back to the system
            nv = b.load(n_victims)
            b.store(base, b.gep(victims, [b.mul(nv, i64(2))]))
            b.store(length, b.gep(victims, [b.add(b.mul(nv, i64(2)), i64(1))]))
            b.store(b.add(nv, i64(1)), n_victims)
    body.unlock()
    body.unmap_all(victims, n_victims)
    b.ret_void()


def _emit_trim(module, fn):
    body = _Body(module, fn)
    b = body.b
    victims, n_victims = body.victims()
    body.lock()
    with body.loop(b.sub(body.get(COUNT), i64(1)), i64(-1), step=-1) as i:
        body.remove(i, victims, n_victims)
    b.store(body.get(LIVE), body.stat(PEAK))          # the limit follows use from now on
    body.unlock()
    b.ret(body.unmap_all(victims, n_victims))


def _emit_stats(module, fn):
    body = _Body(module, fn, ("out",))
    b = body.b
    out = fn.args[0]
    body.lock()
    for k in range(len(STATS)):
        b.store(body.get(k), b.gep(out, [i64(k)]))
    body.unlock()
    b.ret_void()


@part
def emit(module):
    """The allocator's four functions (those ``module`` does not have yet)."""
    fns = {name: define(module, name, ftype) for name, ftype in FUNCTIONS.items()}
    trim = declare(module, "theon_rt_trim", FUNCTIONS["theon_rt_trim"])
    if fns["theon_rt_alloc"] is not None:
        _emit_alloc(module, fns["theon_rt_alloc"], trim)
    if fns["theon_rt_free"] is not None:
        _emit_free(module, fns["theon_rt_free"])
    if fns["theon_rt_trim"] is not None:
        _emit_trim(module, fns["theon_rt_trim"])
    if fns["theon_rt_alloc_stats"] is not None:
        _emit_stats(module, fns["theon_rt_alloc_stats"])
    return module
