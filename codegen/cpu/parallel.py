"""Threads: a loop's body outlined into a worker, run over slices of the loop.

``outline`` moves code into a new internal function

    void <entry>.<name>(i8 *data, i64 begin, i64 end, i64 part)

whose body a callback emits with a ``WorkerCtx``; the outer values it needs
(data pointers, dims, strides) travel in a stack array of i64 (``data``).
Constants are not passed: they stay constants in the worker, so LLVM still
sees static trip counts.

``parallel_for`` runs a worker over ``[0, n)``. When the loop's work (its
element count) reaches the schedule's ``parallel`` threshold it splits the
range into ``parts`` slices, one per thread: ``parts - 1`` pthreads run a
slice each while the calling thread runs slice 0, then it joins them. A
thread that cannot be created has its slice run by the caller, so a full
process never fails a call. Small loops, and ``parallel = 0``, call the
worker once, on this thread.

Workers cannot fail: every check of the op (shapes, empty reductions, sizes)
and every allocation happens before the parallel region, in the entry;
``WorkerCtx.check`` and ``WorkerCtx.alloc`` refuse at compile time. So no
error path can return while threads still run.

The thread count comes from ``sched_getaffinity`` (the cores this process
may use; ``sysconf`` if that fails), read once per module and cached, or
from the schedule's ``threads``. pthread_create/pthread_join are resolved
from the process's libc (glibc >= 2.34 has them there, so AOT objects link
with a plain ``cc main.c f.o -lm``).
"""
import llvmlite.ir as lir

from .context import I8, I8P, I32, I64, LowerCtx, i64

VOID = lir.VoidType()
MAX_THREADS = 64
_SC_NPROCESSORS_ONLN = 84           # glibc's value
_AFFINITY_WORDS = 16                # a 1024-bit cpu_set_t

WORKER_TYPE = lir.FunctionType(VOID, [I8P, I64, I64, I64])
THREAD_ARGS = lir.LiteralStructType([I8P, I64, I64, I64])     # data, begin, end, part


class WorkerCtx(LowerCtx):
    """The lowering context inside a worker: builder, loops, declarations.
    Checks and allocations belong in the entry, before the parallel region."""

    def __init__(self, module, fn, builder):       # noqa: super().__init__ would add a cleanup block
        self.module = module
        self.fn = fn
        self.b = builder
        self.op_index = None
        self.loop_depth = 0
        self.entry_block = fn.entry_basic_block

    def check(self, ok, code, details=()):
        raise RuntimeError("a check inside a parallel worker could return while other threads "
                           "run; emit it before the parallel region")

    def malloc(self, *args, **kwargs):
        raise RuntimeError("allocate before the parallel region, not in a worker")

    alloc = malloc


def outline(ctx, name, captured, emit):
    """(worker function, i8* data in the entry): a worker whose body is
    ``emit(wctx, begin, end, part, inner)``, ``inner(v)`` giving the worker's
    copy of the entry's value ``v`` (one of ``captured``, or a constant)."""
    module = ctx.module
    fn = lir.Function(module, WORKER_TYPE, name=module.get_unique_name(f"{ctx.fn.name}.{name}"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")       # called from the entry and a thread: one copy of the loops
    data, begin, end, part = fn.args
    for a, n in zip(fn.args, ("data", "begin", "end", "part")):
        a.name = n
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    slots = b.bitcast(data, I64.as_pointer(), name="captured")
    passed, seen = [], set()
    for v in captured:
        if not isinstance(v, lir.Constant) and id(v) not in seen:
            seen.add(id(v))
            passed.append(v)
    inside = {}
    for k, v in enumerate(passed):
        raw = b.load(b.gep(slots, [i64(k)]))
        inside[id(v)] = _from_i64(b, raw, v.type)

    def inner(v):
        if isinstance(v, lir.Constant):
            return v
        return inside[id(v)]

    emit(WorkerCtx(module, fn, b), begin, end, part, inner)
    b.ret_void()

    ob = ctx.b
    with ctx.at_entry():
        array = ob.alloca(I64, size=i64(max(len(passed), 1)), name=f"{name}.data")
    for k, v in enumerate(passed):
        ob.store(_to_i64(ob, v), ob.gep(array, [i64(k)]))
    return fn, ob.bitcast(array, I8P)


def _to_i64(b, v):
    if isinstance(v.type, lir.PointerType):
        return b.ptrtoint(v, I64)
    if v.type == I64:
        return v
    raise TypeError(f"outline: cannot pass a value of type {v.type} to a worker")


def _from_i64(b, raw, ty):
    if isinstance(ty, lir.PointerType):
        return b.inttoptr(raw, ty)
    return raw


def parallel_for(ctx, worker, data, n, work, schedule):
    """Run ``worker(data, begin, end, part)`` over ``[0, n)``; returns the
    number of parts (i64): the workers were called with part = 0 .. parts-1,
    each part exactly once (a part's slice may be empty).

    ``work`` (i64) is what the threshold compares with; ``schedule`` is
    ``(parallel, threads)`` from the op's attributes."""
    parts = plan_parts(ctx, n, work, schedule)
    run_parts(ctx, worker, data, n, parts)
    return parts


def plan_parts(ctx, n, work, schedule):
    """i64: how many slices ``[0, n)`` runs in (1 below the threshold);
    computed before the parallel region, so that per-part buffers can be
    allocated first."""
    min_work, threads = schedule
    b = ctx.b
    if min_work <= 0:
        return i64(1)
    cores = i64(min(threads, MAX_THREADS)) if threads > 0 else _num_threads(ctx)
    big = b.icmp_signed(">=", work, i64(min_work))
    parts = b.select(big, cores, i64(1))
    parts = b.select(b.icmp_signed("<", n, parts), n, parts)
    return b.select(b.icmp_signed("<", parts, i64(1)), i64(1), parts, name="parts")


def run_parts(ctx, worker, data, n, parts):
    """Call ``worker`` on ``parts`` slices of ``[0, n)``, slice 0 on this
    thread and the others on new threads, then wait for all of them."""
    b = ctx.b
    if isinstance(parts, lir.Constant) and int(parts.constant) == 1:
        b.call(worker, [data, i64(0), n, i64(0)])
        return
    slots = _slots(ctx)
    chunk = b.sdiv(b.add(n, b.sub(parts, i64(1))), parts, name="chunk")

    def bounds(t):
        lo = b.mul(t, chunk)
        lo = b.select(b.icmp_signed("<", lo, n), lo, n)
        hi = b.add(lo, chunk)
        return lo, b.select(b.icmp_signed("<", hi, n), hi, n)

    with b.if_else(b.icmp_signed(">", parts, i64(1)), likely=False) as (many, one):
        with many:
            trampoline = _trampoline(ctx, worker)
            create = ctx.declare("pthread_create", I32, [I64.as_pointer(), I8P,
                                                         trampoline.type, I8P])
            join = ctx.declare("pthread_join", I32, [I64, I8P.as_pointer()])
            with ctx.loop(parts, "spawn", start=i64(1)) as t:
                lo, hi = bounds(t)
                args = b.gep(slots.args, [i64(0), t])
                for k, v in enumerate((data, lo, hi, t)):
                    b.store(v, b.gep(args, [lir.Constant(I32, 0), lir.Constant(I32, k)]))
                tid = b.gep(slots.tids, [i64(0), t])
                rc = b.call(create, [tid, lir.Constant(I8P, None), trampoline, b.bitcast(args, I8P)])
                failed = b.icmp_signed("!=", rc, lir.Constant(I32, 0))
                b.store(b.zext(failed, I8), b.gep(slots.failed, [i64(0), t]))
                with b.if_then(failed, likely=False):
                    b.call(worker, [data, lo, hi, t])
            lo, hi = bounds(i64(0))
            b.call(worker, [data, lo, hi, i64(0)])
            with ctx.loop(parts, "join", start=i64(1)) as t:
                started = b.icmp_unsigned("==", b.load(b.gep(slots.failed, [i64(0), t])), lir.Constant(I8, 0))
                with b.if_then(started, likely=True):
                    b.call(join, [b.load(b.gep(slots.tids, [i64(0), t])), lir.Constant(I8P.as_pointer(), None)])
        with one:
            b.call(worker, [data, i64(0), n, i64(0)])


class _Slots:
    """Per entry function: the stack arrays parallel regions share."""

    def __init__(self, ctx):
        with ctx.at_entry():
            self.args = ctx.b.alloca(lir.ArrayType(THREAD_ARGS, MAX_THREADS), name="thread.args")
            self.tids = ctx.b.alloca(lir.ArrayType(I64, MAX_THREADS), name="thread.ids")
            self.failed = ctx.b.alloca(lir.ArrayType(I8, MAX_THREADS), name="thread.failed")


def _slots(ctx):
    slots = getattr(ctx, "parallel_slots", None)
    if slots is None:
        slots = ctx.parallel_slots = _Slots(ctx)
    return slots


def _trampoline(ctx, worker):
    """``i8 *<worker>.thread(i8 *args)``: a pthread start routine."""
    module = ctx.module
    name = f"{worker.name}.thread"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    fn = lir.Function(module, lir.FunctionType(I8P, [I8P]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    args = b.bitcast(fn.args[0], THREAD_ARGS.as_pointer())
    vals = [b.load(b.gep(args, [lir.Constant(I32, 0), lir.Constant(I32, k)])) for k in range(4)]
    b.call(worker, vals)
    b.ret(lir.Constant(I8P, None))
    return fn


def _num_threads(ctx):
    """i64: the cores this process may run on (cached in a module global)."""
    module = ctx.module
    fn = module.globals.get("theon.num_threads")
    if fn is None:
        fn = _emit_num_threads(ctx)
    return ctx.b.call(fn, [])


def _emit_num_threads(ctx):
    module = ctx.module
    cache = lir.GlobalVariable(module, I64, name="theon.num_threads.cache")
    cache.linkage = "internal"
    cache.initializer = i64(0)
    fn = lir.Function(module, lir.FunctionType(I64, []), name="theon.num_threads")
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    entry, count, done = (fn.append_basic_block(n) for n in ("entry", "count", "done"))
    b = lir.IRBuilder(entry)
    mask = b.alloca(lir.ArrayType(I64, _AFFINITY_WORDS), name="mask")
    cached = b.load(cache)
    b.cbranch(b.icmp_signed(">", cached, i64(0)), done, count)
    b.position_at_end(count)
    affinity = _declare(module, "sched_getaffinity", I32, [I32, I64, I8P])
    sysconf = _declare(module, "sysconf", I64, [I32])
    ctpop = _declare(module, "llvm.ctpop.i64", I64, [I64])
    rc = b.call(affinity, [lir.Constant(I32, 0), i64(8 * _AFFINITY_WORDS), b.bitcast(mask, I8P)])
    n = i64(0)
    for k in range(_AFFINITY_WORDS):
        n = b.add(n, b.call(ctpop, [b.load(b.gep(mask, [i64(0), i64(k)]))]))
    n = b.select(b.icmp_signed("==", rc, lir.Constant(I32, 0)), n, i64(0))
    online = b.call(sysconf, [lir.Constant(I32, _SC_NPROCESSORS_ONLN)])
    n = b.select(b.icmp_signed(">", n, i64(0)), n, online)
    n = b.select(b.icmp_signed("<", n, i64(1)), i64(1), n)
    n = b.select(b.icmp_signed(">", n, i64(MAX_THREADS)), i64(MAX_THREADS), n)
    b.store(n, cache)
    b.branch(done)
    b.position_at_end(done)
    result = b.phi(I64)
    result.add_incoming(cached, entry)
    result.add_incoming(n, count)
    b.ret(result)
    return fn


def _declare(module, name, ret, args):
    if name in module.globals:
        return module.globals[name]
    return lir.Function(module, lir.FunctionType(ret, args), name=name)
