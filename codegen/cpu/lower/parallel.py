"""Threads: a loop's body outlined into a worker, run over slices of the loop.

``outline`` moves code into a new internal function

    void <entry>.<name>(i8 *data, i64 begin, i64 end, i64 part)

whose body a callback emits with a ``WorkerCtx``; the outer values it needs
(data pointers, dims, strides) travel in a stack array of i64 (``data``).
Constants are not passed: they stay constants in the worker, so LLVM still
sees static trip counts.

``parallel_for`` runs a worker over ``[0, n)``. When the loop's work (its
element count) reaches the schedule's ``parallel`` threshold it splits the
range into ``parts`` slices and hands them to the runtime library's
persistent thread pool (``theon_rt_parallel``, rt_pool.py): slice 0 runs on
the calling thread, the pool's threads run the others, and the call returns
when all are done (a few microseconds per loop instead of a pthread_create
and pthread_join per thread). The pool never fails a call: when it has no
threads, or another thread is inside a parallel region, the caller runs
every slice itself. Small loops, and ``parallel = 0``, call the worker
once, on this thread.

Workers cannot fail: every check of the op (shapes, empty reductions, sizes)
and every allocation happens before the parallel region, in the entry;
``WorkerCtx.check`` and ``WorkerCtx.alloc`` refuse at compile time. So no
error path can return while threads still run.

The thread count is ``theon_rt_num_threads()`` (the cores this process may
use, from ``sched_getaffinity``), or the schedule's ``threads``.
"""
import llvmlite.ir as lir

from ..rtlib import pool as rt_pool
from .. import rtlib
from .context import I8P, I64, LowerCtx, i64

VOID = lir.VoidType()
MAX_THREADS = rt_pool.MAX_THREADS

WORKER_TYPE = rt_pool.WORKER_TYPE     # void (i8 *data, i64 begin, i64 end, i64 part)


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
    """Call ``worker`` on ``parts`` slices of ``[0, n)``: slice 0 on this
    thread, the others on the runtime library's thread pool
    (``theon_rt_parallel``, rt_pool.py), and wait for all of them. One part
    is a plain call."""
    b = ctx.b
    if isinstance(parts, lir.Constant) and int(parts.constant) == 1:
        b.call(worker, [data, i64(0), n, i64(0)])
        return
    parallel = rtlib.declare(ctx.module, "theon_rt_parallel", rt_pool.PARALLEL_TYPE)
    with b.if_else(b.icmp_signed(">", parts, i64(1)), likely=False) as (many, one):
        with many:
            b.call(parallel, [worker, data, n, parts])
        with one:
            b.call(worker, [data, i64(0), n, i64(0)])


def num_threads(module, builder):
    """i64: the cores this process may run on (``theon_rt_num_threads``)."""
    fn = rtlib.declare(module, "theon_rt_num_threads", rt_pool.NUM_THREADS_TYPE)
    return builder.call(fn, [], name="cores")


def _num_threads(ctx):
    return num_threads(ctx.module, ctx.b)
