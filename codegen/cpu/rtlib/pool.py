"""The persistent thread pool of theon's native runtime library (rtlib.py).

    void theon_rt_parallel(void (*worker)(i8 *data, i64 begin, i64 end, i64 part),
                           i8 *data, i64 n, i64 parts)
    i64  theon_rt_num_threads(void)

``theon_rt_parallel`` calls ``worker`` once for each part ``t`` in
``0 .. parts-1`` with the slice ``[t*chunk, (t+1)*chunk) & [0, n)``,
``chunk = ceil(n / parts)`` (a slice may be empty), and returns when every
call has returned: the contract of ``parallel.run_parts``, whose threads it
replaces. Part 0 runs on the calling thread first; the pool's threads and
the caller then *claim* the other parts one at a time, so a pool thread
that is slow to wake (asleep, or descheduled on a busy machine) costs no
waiting: the caller runs the parts nobody claimed (only a part already
claimed by a thread that then loses its core holds the call up). A part's
number is its slice, never a thread's, so per-part buffers stay private
whoever runs it. More than ``MAX_PARTS`` parts run in turn on the caller.

``theon_rt_num_threads`` is the number of cores this process may run on
(``sched_getaffinity``; ``sysconf`` if that fails), at least 1 and at most
``MAX_THREADS``, read once and cached.

The design, one job at a time:

* **Threads** are created on the first call with ``parts > 1``, once:
  ``theon_rt_num_threads() - 1`` detached pthreads with every signal
  blocked (signals go to the program's own threads). If fewer can be
  created, the pool has fewer; with none, calls run their parts in turn
  on the calling thread. Creation is not retried.
* **One job at a time**: a caller takes the pool with a try-lock
  (``busy``). A caller that finds it taken (another OS thread is inside a
  parallel region, or a worker itself calls ``theon_rt_parallel``) runs all
  its parts on its own thread. So a call never fails and never waits for
  another call.
* **Publishing a job**: the caller stores the job (worker, data, n, chunk,
  parts, ``remaining = parts - 1``), then the *job word* ``gen << 32 |
  next`` with a new generation and ``next = 1`` (seq_cst, so everything
  before it is visible to whoever reads the new generation with acquire).
  A part is claimed with a compare-and-swap on the job word that keeps the
  generation and increments ``next``, so a thread still holding an old
  generation can never claim a part of a newer job, and the job's fields
  are stable for as long as one of its parts is claimed and unfinished.
  Finishing a part decrements ``remaining`` (release); the caller returns
  when it reads 0 (acquire), so the workers' stores are visible to it.
* **Waiting**: an idle pool thread spins on the job word for ``SPIN_NS``
  (``clock_gettime`` every ``CLOCK_EVERY`` loads), then sleeps on a
  condition variable (``sleepers`` counts them; the caller signals as many
  as there are parts to run). Waking a sleeping thread takes tens of
  microseconds (a futex wake and an inter-processor interrupt, far more in
  a virtual machine), paid by the caller, so the spin bridges the gaps
  between the parallel loops of a call and between calls in a loop; it is
  short enough to leave an idle process idle. 2 ms, measured: with 100 us
  the W6 training step (serial small products of ~100 us between its
  parallel loops) ran at 4.5-5 ms instead of 2.7 ms once the machine had
  been idle, every loop paying a wake-up. The caller waits for
  ``remaining`` the same way (spin, then the ``done`` condition, with the
  last finisher signalling when ``waiting`` is set). Both sleep
  handshakes are Dekker-style: the sleeper announces itself (seq_cst),
  then re-checks under the mutex; the waker publishes (seq_cst), then reads
  the announcement, so one of the two always sees the other.
* **fork()**: the pool records the pid that owns it. A call whose
  ``getpid()`` differs (the first call of the process, or a call in a
  forked child, where the parent's threads do not exist and the mutex may
  have been copied locked) resets the pool: one caller wins a
  compare-and-swap of the pid to ``-pid``, zeroes every field (the mutex
  and conditions too: zeroed storage is their static initializer on glibc
  and musl), and stores the pid; callers that see a reset in progress run
  their parts on their own thread.

The mutex and condition variables are opaque zeroed storage of
``SYNC_BYTES`` (glibc's are 40 and 48 bytes), aligned to a cache line like
every hot field, so the claiming and counting traffic does not share lines
with the job's read-mostly fields.
"""
import llvmlite.ir as lir

from ...llvm_util import I1, I8, I8P, I32, I64, counted_loop, i32, i64
from . import Body, declare, define, internal_body, libc, part, state

VOID = lir.VoidType()
WORKER_TYPE = lir.FunctionType(VOID, [I8P, I64, I64, I64])
WORKER_PTR = WORKER_TYPE.as_pointer()
PARALLEL_TYPE = lir.FunctionType(VOID, [WORKER_PTR, I8P, I64, I64])
NUM_THREADS_TYPE = lir.FunctionType(I64, [])

MAX_THREADS = 64            # parts of one job running at once, at most (pool threads + the caller)
MAX_PARTS = 1 << 31         # more parts run in turn on the caller (the claim counter is 32 bits)
SPIN_NS = 2_000_000         # an idle pool thread spins this long for the next job before sleeping
SPIN_DONE_NS = 200_000      # the caller spins this long for the others' parts before sleeping
CLOCK_EVERY = 256           # spinning loads between two reads of the clock
_CLOCK_MONOTONIC = 1
SYNC_BYTES = 128            # storage for a pthread mutex or condition variable
LINE = 64                   # cache line
_AFFINITY_WORDS = 16        # a 1024-bit cpu_set_t
_SIGSET_BYTES = 128         # sigset_t on glibc and musl
_SC_NPROCESSORS_ONLN = 84   # glibc's value
_SIG_BLOCK, _SIG_SETMASK = 0, 2


class _Pool:
    """The pool's globals and the libc functions it calls, in one module."""

    def __init__(self, module):
        self.module = module
        sync = lir.ArrayType(I8, SYNC_BYTES)

        def field(name, ty=I64):
            gv = state(module, f"pool.{name}", ty)
            gv.align = LINE
            return gv

        self.pid = field("pid")                 # owner pid; 0 none yet; -pid while resetting
        self.busy = field("busy", I32)          # the try-lock: a caller is inside a job
        self.threads = field("threads")         # pool threads running
        self.tried = field("tried")             # creation was tried in this process
        self.job = field("job")                 # gen << 32 | next part to claim
        self.remaining = field("remaining")     # parts 1 .. parts-1 of the job not finished yet
        self.sleepers = field("sleepers")       # pool threads asleep on `wake`
        self.waiting = field("waiting")         # the caller is asleep on `done`
        self.mutex = field("mutex", sync)
        self.wake = field("wake", sync)
        self.done = field("done", sync)
        args = lir.LiteralStructType([WORKER_PTR, I8P, I64, I64, I64])   # worker, data, n, chunk, parts
        self.args = field("args", args)
        self.ncpu = state(module, "num_threads", I64)
        self.lock = libc(module, "pthread_mutex_lock", I32, [I8P])
        self.unlock = libc(module, "pthread_mutex_unlock", I32, [I8P])
        self.cond_wait = libc(module, "pthread_cond_wait", I32, [I8P, I8P])
        self.signal = libc(module, "pthread_cond_signal", I32, [I8P])
        self.getpid = libc(module, "getpid", I32, [])
        self.memset = libc(module, "llvm.memset.p0i8.i64", VOID, [I8P, I8, I64, I1])

    def arg(self, b, k):
        return b.gep(self.args, [i32(0), i32(k)])

    def sync(self, b, gv):
        return b.bitcast(gv, I8P)


@part
def emit(module):
    """The pool's part of the runtime library: its state, ``theon_rt_num_threads``,
    ``theon_rt_parallel`` and their internal helpers."""
    pool = _Pool(module)
    _emit_num_threads(module, pool)
    run = _emit_run(module, pool)
    main = _emit_main(module, pool, run)
    create = _emit_create(module, pool, main)
    reset = _emit_reset(module, pool)
    _emit_parallel(module, pool, run, create, reset)


# --- theon_rt_num_threads ----------------------------------------------------------
def _emit_num_threads(module, pool):
    """``theon_rt_num_threads``: the affinity mask's population (sysconf's
    online count if that fails), clamped to [1, MAX_THREADS], cached."""
    fn = define(module, "theon_rt_num_threads", NUM_THREADS_TYPE)
    if fn is None:
        return
    fn.attributes.add("nounwind")
    f = Body(fn)
    b = f.b
    count, done = f.block("count"), f.block("done")
    mask = b.alloca(lir.ArrayType(I64, _AFFINITY_WORDS), name="mask")
    cached = b.load_atomic(pool.ncpu, "monotonic", 8, name="cached")
    entry = b.block
    b.cbranch(b.icmp_signed(">", cached, i64(0)), done, count)
    f.at(count)
    affinity = libc(module, "sched_getaffinity", I32, [I32, I64, I8P])
    sysconf = libc(module, "sysconf", I64, [I32])
    ctpop = libc(module, "llvm.ctpop.i64", I64, [I64])
    rc = b.call(affinity, [i32(0), i64(8 * _AFFINITY_WORDS), b.bitcast(mask, I8P)])
    n = i64(0)
    for k in range(_AFFINITY_WORDS):
        n = b.add(n, b.call(ctpop, [b.load(b.gep(mask, [i64(0), i64(k)]))]))
    n = b.select(b.icmp_signed("==", rc, i32(0)), n, i64(0))
    online = b.call(sysconf, [i32(_SC_NPROCESSORS_ONLN)])
    n = b.select(b.icmp_signed(">", n, i64(0)), n, online)
    n = b.select(b.icmp_signed("<", n, i64(1)), i64(1), n)
    n = b.select(b.icmp_signed(">", n, i64(MAX_THREADS)), i64(MAX_THREADS), n, name="n")
    b.store_atomic(n, pool.ncpu, "monotonic", 8)
    b.branch(done)
    f.at(done)
    result = b.phi(I64, name="threads")
    result.add_incoming(cached, entry)
    result.add_incoming(n, count)
    b.ret(result)


# --- claiming and running parts ----------------------------------------------------
def _emit_run(module, pool):
    """``void theon_rt.pool.run(i64 gen)``: claim and run parts of job
    ``gen`` until none is left (or a newer job replaced it)."""
    fn, f = internal_body(module, "theon_rt.pool.run", lir.FunctionType(VOID, [I64]), ("gen",))
    if f is None:
        return fn
    gen = fn.args[0]
    b = f.b
    head, check, claim, work, last, wake, out = (f.block(n) for n in (
        "head", "check", "claim", "work", "last", "wake", "out"))
    b.branch(head)
    f.at(head)
    word = b.load_atomic(pool.job, "acquire", 8, name="word")
    b.cbranch(b.icmp_unsigned("==", b.lshr(word, i64(32)), gen), check, out)
    f.at(check)
    index = b.and_(word, i64(0xFFFFFFFF), name="index")
    parts = b.load_atomic(pool.arg(b, 4), "monotonic", 8, name="parts")
    b.cbranch(b.icmp_signed("<", index, parts), claim, out)
    f.at(claim)
    swap = b.cmpxchg(pool.job, word, b.add(word, i64(1)), "acq_rel", "acquire")
    b.cbranch(b.extract_value(swap, 1), work, head)
    f.at(work)
    # claimed: the job's fields stay put until `remaining` counts this part
    worker = b.load_atomic(pool.arg(b, 0), "monotonic", 8, name="worker")
    data = b.load_atomic(pool.arg(b, 1), "monotonic", 8, name="data")
    n = b.load_atomic(pool.arg(b, 2), "monotonic", 8, name="n")
    chunk = b.load_atomic(pool.arg(b, 3), "monotonic", 8, name="chunk")
    lo, hi = _slice(b, index, chunk, n)
    b.call(worker, [data, lo, hi, index])
    before = b.atomic_rmw("sub", pool.remaining, i64(1), "seq_cst", name="before")
    b.cbranch(b.icmp_signed("==", before, i64(1)), last, head)
    f.at(last)
    # the last part: wake the caller if it went to sleep (nothing of the job is touched now)
    asleep = b.load_atomic(pool.waiting, "seq_cst", 8)
    b.cbranch(b.icmp_signed("!=", asleep, i64(0)), wake, head)
    f.at(wake)
    b.call(pool.lock, [pool.sync(b, pool.mutex)])
    b.call(pool.signal, [pool.sync(b, pool.done)])
    b.call(pool.unlock, [pool.sync(b, pool.mutex)])
    b.branch(head)
    f.at(out)
    b.ret_void()
    return fn


def _slice(b, t, chunk, n):
    """(lo, hi): part t's slice of [0, n)."""
    lo = b.mul(t, chunk)
    lo = b.select(b.icmp_signed("<", lo, n), lo, n, name="lo")
    hi = b.add(lo, chunk)
    return lo, b.select(b.icmp_signed("<", hi, n), hi, n, name="hi")


# --- spinning ------------------------------------------------------------------------
def _emit_now(module):
    """``i64 theon_rt.pool.now()``: CLOCK_MONOTONIC in nanoseconds."""
    fn, f = internal_body(module, "theon_rt.pool.now", lir.FunctionType(I64, []))
    if f is None:
        return fn
    clock = libc(module, "clock_gettime", I32, [I32, I64.as_pointer()])
    b = f.b
    ts = b.alloca(I64, size=i64(2), name="ts")          # struct timespec on LP64
    b.call(clock, [i32(_CLOCK_MONOTONIC), ts])
    b.ret(b.add(b.mul(b.load(ts), i64(1_000_000_000)), b.load(b.gep(ts, [i64(1)]))))
    return fn


def _spin(f, module, load, done, timeout_ns, name):
    """Emit a spin: evaluate ``load()`` (an atomic load, in the loop) until
    ``done(value)`` holds or ``timeout_ns`` passed. Returns (hit block,
    value loaded there, timeout block); the builder is left nowhere."""
    b = f.b
    now = _emit_now(module)
    deadline = b.add(b.call(now, []), i64(timeout_ns), name=f"{name}.deadline")
    entry = b.block
    loop, count, clock, hit, timeout = (f.block(f"{name}.{x}") for x in ("loop", "count", "clock", "hit", "timeout"))
    b.branch(loop)
    f.at(loop)
    i = b.phi(I64, name=f"{name}.i")
    i.add_incoming(i64(0), entry)
    value = load()
    b.cbranch(done(value), hit, count)
    f.at(count)
    i_next = b.add(i, i64(1))
    i.add_incoming(i_next, count)
    i.add_incoming(i_next, clock)
    b.cbranch(b.icmp_unsigned("==", b.and_(i_next, i64(CLOCK_EVERY - 1)), i64(0)), clock, loop)
    f.at(clock)
    b.cbranch(b.icmp_signed(">", b.call(now, []), deadline), timeout, loop)
    return hit, value, timeout


# --- a pool thread ------------------------------------------------------------------
def _emit_main(module, pool, run):
    """``i8 *theon_rt.pool.main(i8 *gen)``: a pool thread's start routine;
    runs parts of every job newer than ``gen``, forever."""
    fn, f = internal_body(module, "theon_rt.pool.main", lir.FunctionType(I8P, [I8P]))
    if f is None:
        return fn
    b = f.b
    start = b.ptrtoint(fn.args[0], I64, name="start")
    entry = b.block
    top, wait, wait_body, woken, got = (f.block(n) for n in ("top", "wait", "wait.body", "woken", "got"))
    b.branch(top)
    # top: seen = the generation this thread ran last
    f.at(top)
    seen = b.phi(I64, name="seen")
    seen.add_incoming(start, entry)
    spun, spin_gen, sleep = _spin(f, module, lambda: b.lshr(b.load_atomic(pool.job, "acquire", 8), i64(32)),
                                  lambda gen: b.icmp_unsigned("!=", gen, seen), SPIN_NS, "spin")
    f.at(spun)
    b.branch(got)
    # sleep: announce, then re-check under the mutex (see the module docstring)
    f.at(sleep)
    b.call(pool.lock, [pool.sync(b, pool.mutex)])
    b.atomic_rmw("add", pool.sleepers, i64(1), "seq_cst")
    b.branch(wait)
    f.at(wait)
    wgen = b.lshr(b.load_atomic(pool.job, "seq_cst", 8), i64(32), name="wgen")
    b.cbranch(b.icmp_unsigned("!=", wgen, seen), woken, wait_body)
    f.at(wait_body)
    b.call(pool.cond_wait, [pool.sync(b, pool.wake), pool.sync(b, pool.mutex)])
    b.branch(wait)
    f.at(woken)
    b.atomic_rmw("sub", pool.sleepers, i64(1), "seq_cst")
    b.call(pool.unlock, [pool.sync(b, pool.mutex)])
    b.branch(got)
    f.at(got)
    new_gen = b.phi(I64, name="new")
    new_gen.add_incoming(spin_gen, spun)
    new_gen.add_incoming(wgen, woken)
    b.call(run, [new_gen])
    seen.add_incoming(new_gen, got)
    b.branch(top)
    return fn


def _emit_create(module, pool, main):
    """``i64 theon_rt.pool.create()``: start the pool's threads (called
    once per process, holding the pool); returns how many started."""
    fn, f = internal_body(module, "theon_rt.pool.create", lir.FunctionType(I64, []))
    if f is None:
        return fn
    create = libc(module, "pthread_create", I32, [I64.as_pointer(), I8P, main.type, I8P])
    detach = libc(module, "pthread_detach", I32, [I64])
    sigmask = libc(module, "pthread_sigmask", I32, [I32, I8P, I8P])
    num_threads = declare(module, "theon_rt_num_threads", NUM_THREADS_TYPE)
    b = f.b
    sigset = lir.ArrayType(I8, _SIGSET_BYTES)
    tid = b.alloca(I64, name="tid")
    blocked = b.alloca(sigset, name="blocked")
    saved = b.alloca(sigset, name="saved")
    want = b.sub(b.call(num_threads, []), i64(1), name="want")
    want = b.select(b.icmp_signed(">", want, i64(MAX_THREADS - 1)), i64(MAX_THREADS - 1), want)
    b.call(pool.memset, [b.bitcast(blocked, I8P), lir.Constant(I8, 0xFF), i64(_SIGSET_BYTES),
                         lir.Constant(I1, 0)])
    b.call(pool.memset, [b.bitcast(saved, I8P), lir.Constant(I8, 0), i64(_SIGSET_BYTES), lir.Constant(I1, 0)])
    masked = b.call(sigmask, [i32(_SIG_BLOCK), b.bitcast(blocked, I8P), b.bitcast(saved, I8P)])
    # threads start from the current generation, so the job about to be published is theirs
    gen = b.inttoptr(b.lshr(b.load_atomic(pool.job, "monotonic", 8), i64(32)), I8P, name="gen")
    entry = b.block
    head, body, started, done = (f.block(n) for n in ("head", "body", "started", "done"))
    b.branch(head)
    f.at(head)
    k = b.phi(I64, name="k")
    k.add_incoming(i64(0), entry)
    b.cbranch(b.icmp_signed("<", k, want), body, done)
    f.at(body)
    rc = b.call(create, [tid, lir.Constant(I8P, None), main, gen])
    b.cbranch(b.icmp_signed("==", rc, i32(0)), started, done)
    f.at(started)
    b.call(detach, [b.load(tid)])
    k.add_incoming(b.add(k, i64(1)), started)
    b.branch(head)
    f.at(done)
    count = b.phi(I64, name="count")
    count.add_incoming(k, head)
    count.add_incoming(k, body)
    with b.if_then(b.icmp_signed("==", masked, i32(0))):
        b.call(sigmask, [i32(_SIG_SETMASK), b.bitcast(saved, I8P), lir.Constant(I8P, None)])
    b.ret(count)
    return fn


def _emit_reset(module, pool):
    """``i1 theon_rt.pool.reset(i64 pid)``: make the pool this process's,
    empty (see fork() in the module docstring); false when another thread
    is doing it right now."""
    fn, f = internal_body(module, "theon_rt.pool.reset", lir.FunctionType(I1, [I64]), ("pid",))
    if f is None:
        return fn
    pid = fn.args[0]
    b = f.b
    mine, other = f.block("mine"), f.block("other")
    cur = b.load_atomic(pool.pid, "acquire", 8, name="cur")
    with b.if_then(b.icmp_signed("==", cur, pid), likely=False):
        b.ret(lir.Constant(I1, 1))          # another thread just did it
    resetting = b.neg(pid, name="resetting")
    with b.if_then(b.icmp_signed("==", cur, resetting), likely=False):
        b.ret(lir.Constant(I1, 0))          # another thread is doing it
    swap = b.cmpxchg(pool.pid, cur, resetting, "acq_rel", "monotonic")
    b.cbranch(b.extract_value(swap, 1), mine, other)
    f.at(other)
    b.ret(lir.Constant(I1, 0))
    f.at(mine)
    for gv in (pool.threads, pool.tried, pool.job, pool.remaining, pool.sleepers, pool.waiting):
        b.store_atomic(i64(0), gv, "monotonic", 8)
    b.store_atomic(i32(0), pool.busy, "monotonic", 4)
    for gv in (pool.mutex, pool.wake, pool.done):
        b.call(pool.memset, [pool.sync(b, gv), lir.Constant(I8, 0), i64(SYNC_BYTES), lir.Constant(I1, 0)])
    b.store_atomic(pid, pool.pid, "release", 8)
    b.ret(lir.Constant(I1, 1))
    return fn


# --- theon_rt_parallel ------------------------------------------------------------
def _emit_parallel(module, pool, run, create, reset):
    """``theon_rt_parallel`` (see the module docstring): one part is a plain
    call; otherwise own the pool (reset after a fork, try-lock, threads on
    first use), publish, run part 0 and help, wait; else every part here."""
    fn = define(module, "theon_rt_parallel", PARALLEL_TYPE)
    if fn is None:
        return
    fn.attributes.add("nounwind")
    f = Body(fn, ("worker", "data", "n", "parts"))
    worker, data, n, parts = fn.args
    b = f.b
    (one, many, owned, check_pid, locked, have, none, go, signal,
     wait, wait_body, finished, serial, serial_body, out) = (f.block(x) for x in (
        "one", "many", "owned", "check.pid", "locked", "have", "none", "go", "signal",
        "wait", "wait.body", "finished", "serial", "serial.body", "out"))
    b.cbranch(b.icmp_signed("<=", parts, i64(1)), one, many)
    f.at(one)
    b.call(worker, [data, i64(0), n, i64(0)])
    b.ret_void()

    f.at(many)
    n0 = b.select(b.icmp_signed("<", n, i64(0)), i64(0), n, name="n0")
    chunk = b.sdiv(b.add(n0, b.sub(parts, i64(1))), parts, name="chunk")
    pid = b.sext(b.call(pool.getpid, []), I64, name="pid")
    cur = b.load_atomic(pool.pid, "acquire", 8)
    few = b.icmp_signed("<", parts, i64(MAX_PARTS))
    b.cbranch(b.and_(few, b.icmp_signed("==", cur, pid)), owned, check_pid)
    f.at(check_pid)
    # first call in this process (or a forked child): reset, unless parts are too many
    b.cbranch(b.and_(few, b.call(reset, [pid])), owned, serial)

    f.at(owned)
    take = b.cmpxchg(pool.busy, i32(0), i32(1), "acquire", "monotonic")
    b.cbranch(b.extract_value(take, 1), locked, serial)
    f.at(locked)
    threads = b.load_atomic(pool.threads, "monotonic", 8, name="threads")
    tried = b.load_atomic(pool.tried, "monotonic", 8)
    start = b.and_(b.icmp_signed("==", threads, i64(0)), b.icmp_signed("==", tried, i64(0)))
    with b.if_then(start, likely=False):
        b.store_atomic(i64(1), pool.tried, "monotonic", 8)
        b.store_atomic(b.call(create, []), pool.threads, "monotonic", 8)
    threads = b.load_atomic(pool.threads, "monotonic", 8, name="threads")
    b.cbranch(b.icmp_signed(">", threads, i64(0)), have, none)
    f.at(none)
    b.store_atomic(i32(0), pool.busy, "release", 4)
    b.branch(serial)

    # publish the job, then wake sleepers
    f.at(have)
    for k, v in enumerate((worker, data, n0, chunk, parts)):
        b.store_atomic(v, pool.arg(b, k), "monotonic", 8)
    b.store_atomic(b.sub(parts, i64(1)), pool.remaining, "monotonic", 8)
    old = b.load_atomic(pool.job, "monotonic", 8)
    gen = b.and_(b.add(b.lshr(old, i64(32)), i64(1)), i64(0xFFFFFFFF), name="gen")
    b.store_atomic(b.or_(b.shl(gen, i64(32)), i64(1)), pool.job, "seq_cst", 8)
    sleepers = b.load_atomic(pool.sleepers, "seq_cst", 8, name="sleepers")
    b.cbranch(b.icmp_signed(">", sleepers, i64(0)), signal, go)
    f.at(signal)
    wanted = b.sub(parts, i64(1))
    wanted = b.select(b.icmp_signed("<", sleepers, wanted), sleepers, wanted, name="wanted")
    b.call(pool.lock, [pool.sync(b, pool.mutex)])
    with counted_loop(b, wanted, "sig"):
        b.call(pool.signal, [pool.sync(b, pool.wake)])
    b.call(pool.unlock, [pool.sync(b, pool.mutex)])
    b.branch(go)

    # part 0 here, then help with the rest, then wait for the parts others claimed
    f.at(go)
    lo, hi = _slice(b, i64(0), chunk, n0)
    b.call(worker, [data, lo, hi, i64(0)])
    b.call(run, [gen])
    all_done, _, sleep = _spin(f, module, lambda: b.load_atomic(pool.remaining, "acquire", 8),
                               lambda left: b.icmp_signed("==", left, i64(0)), SPIN_DONE_NS, "spin")
    f.at(all_done)
    b.branch(finished)
    f.at(sleep)
    b.call(pool.lock, [pool.sync(b, pool.mutex)])
    b.store_atomic(i64(1), pool.waiting, "seq_cst", 8)
    b.branch(wait)
    f.at(wait)
    left = b.load_atomic(pool.remaining, "seq_cst", 8)
    done_waiting = f.block("wait.done")
    b.cbranch(b.icmp_signed("==", left, i64(0)), done_waiting, wait_body)
    f.at(wait_body)
    b.call(pool.cond_wait, [pool.sync(b, pool.done), pool.sync(b, pool.mutex)])
    b.branch(wait)
    f.at(done_waiting)
    b.store_atomic(i64(0), pool.waiting, "monotonic", 8)
    b.call(pool.unlock, [pool.sync(b, pool.mutex)])
    b.branch(finished)
    f.at(finished)
    b.store_atomic(i32(0), pool.busy, "release", 4)
    b.ret_void()

    # every part in turn on this thread
    f.at(serial)
    b.branch(serial_body)
    f.at(serial_body)
    t = b.phi(I64, name="t")
    t.add_incoming(i64(0), serial)
    lo, hi = _slice(b, t, chunk, n0)
    b.call(worker, [data, lo, hi, t])
    t_next = b.add(t, i64(1))
    t.add_incoming(t_next, serial_body)
    b.cbranch(b.icmp_signed("<", t_next, parts), serial_body, out)
    f.at(out)
    b.ret_void()
