"""The CPU GEMM helper: one LLVM function per dtype (and variant) that
computes C = A @ B for matrices at any element strides,

    void theon.gemm.<dtype>(i64 M, i64 N, i64 K, T* A, i64 sam, i64 sak,
                            T* B, i64 sbk, i64 sbn, T* C, i64 ldc,
                            T* packA, T* packB, i64 parts)   // C = A @ B

built by ``emit_gemm`` with a ``GemmSchedule`` (linalg.py); its callers
(linalg.py's matmul lowerings, conv.py, la.py) allocate the packed
buffers (``_a_block``, ``_b_columns``). It picks, at run time: a
dot-product loop (N == 1), a row-update loop with a vectorizable
unit-stride inner loop (M == 1 or a tiny product), or the blocked
kernel: A and B are packed into zero-padded MR-row / NR-column panels
(any input strides, transposed included; a row-major A or a transposed
B, adjacent along K, through in-register transposes of 32 bytes of each
row or column at a time), and an MR x NR register tile of vectors
accumulates over a KC-long slice of K (gemm_tile.py). Float types
accumulate in their own precision, as BLAS does; integer products wrap.

The blocked kernel, in one fork-join region on the runtime library's
thread pool (``theon_rt_parallel``, rt_pool.py) per chunk of B's columns
(NC: all of N, at most ``nc`` and fewer if K x NC elements would pass
``b_bytes``):

    for jc in N step NC:                     # the calling thread
      parallel: claim units of C until none is left: a unit is a row
                block (whole MR tiles, at most ROWS <= MC rows; the
                blocks differ by at most one tile) by a range of panels;
                first make the unit's NR-column panels of B[:, jc:jc+NC]
                packed, every KC slice of them: pack each panel nobody
                has claimed yet (a per-panel state in the caller's frame,
                0 -> 1 by compare-and-swap, theon.gemm.<dtype>.pack_b, then
                2), then wait for those other threads are packing; then for
                each KC slice, pack the unit's rows of A into the part's
                own A block (packA + part * MC*KC), then run the
                micro-kernel over the unit's tiles   (theon.gemm.<dtype>.block)
                A unit one panel wide (N <= NR) uses each element of A once:
                its micro-kernel reads A in place, unpacked (``direct_a``)

One region, not a packing region then a product region: the threads
pack B's panels among themselves as their first units need them and no
thread waits at a barrier for the slowest packer. No thread ever waits for
a panel nobody is packing, so parts that run one after another on one
thread (the pool busy or asleep) cannot deadlock.

The packed B chunk: KC slice q at packB + q*KC*round_up(NC, NR), its
panel p at + p*NR*kc (kc: that slice's length). Units are claimed from a
counter in the job (an atomic add), so a thread that gets less of a
core (another process, or NumPy's BLAS threads spinning after a call)
simply does fewer units, and whoever finishes first waits for at most
one unit; the whole K loop of a unit stays in one thread, so no two
threads write a C tile and a tile's sums are added in the same order as
on one thread (threaded results are bit-identical). A product runs on
``parts`` threads (the caller's plan, linalg._plan_parts) and about
``split`` units per part: ROWS is cut down towards MR for short
products, and units split the columns too when there are still fewer
row blocks than that; the units are a multiple of the parts (equal
threads get equal work), by more row blocks where M has the tiles, else
by more column chunks. Units of whole rows on several threads are
guided instead: the counter is the next free MR tile and a unit takes
ceil(tiles left / (2 * parts)) of them (at most MC rows), so the last
units are a tile or two and the first thread done waits for little. The micro-kernel prefetches
its C tile for writing before its K loop (``prefetch_c``). With one
part the same worker runs directly on this thread, with MC-row units.
Workers cannot allocate (parallel.py): the caller passes the packed B
chunk and one A block per part.

Variants: ``theon.gemm.<dtype>.packed`` takes packB as already holding
all of B (one chunk, ``linalg.prepack_b``) and packs no panel;
``theon.gemm.<dtype>.update`` (four more arguments: T* W, i64 swm, i64
swn, T alpha) stores C = W + (A @ B) * alpha as the micro-kernel stores
a tile's last KC slice.
"""
import llvmlite.ir as lir

from ..rtlib import pool as rt_pool
from .. import rtlib
from ...llvm_util import smax, smin
from .context import I8, I32, I64, LLTYPE, ITEMSIZE, i64
from .gemm_tile import _Arith, _Fn, _at, _microkernel, _pack
from .parallel import WORKER_TYPE


# --- the plan's geometry (also read by the callers that size the buffers) ---------------
def _a_block(b, m, k, s):
    """Elements of one part's packed A block: min(M rounded up to MR, MC) x min(K, KC)."""
    return b.mul(smin(b, _round_up(b, m, s.mr), i64(s.mc)), smin(b, k, i64(s.kc)))


def _b_columns(b, n, k, dtype, s):
    """Columns of B packed at once (NC): N rounded up to NR, at most ``nc``
    and few enough that NC x K elements stay within ``b_bytes`` (at least NR)."""
    nr = s.nr_vectors * s.lanes(dtype)
    fit = b.mul(b.sdiv(b.sdiv(i64(s.b_bytes // ITEMSIZE[dtype]), smax(b, k, i64(1))), i64(nr)), i64(nr))
    fit = smin(b, fit, i64(s.nc // nr * nr))
    return smin(b, _round_up(b, n, nr), smax(b, fit, i64(nr)))


def _round_up(b, x, step):
    """x >= 0 rounded up to a multiple of step (an int or an i64 value > 0)."""
    step = i64(step) if isinstance(step, int) else step
    return b.mul(_ceil_div(b, x, step), step)


def _ceil_div(b, x, step):
    """ceil(x / step), x >= 0; step an int or an i64 value > 0."""
    step = i64(step) if isinstance(step, int) else step
    return b.sdiv(b.add(x, b.sub(step, i64(1))), step)


def _use_blocked(b, m, n, k, s):
    """i1: the blocked kernel runs (else the dot or row-update loop)."""
    big = b.icmp_unsigned(">", b.mul(b.mul(m, n), k), i64(s.small))
    skinny = b.or_(b.icmp_signed("==", n, i64(1)), b.icmp_signed("==", m, i64(1)))
    return b.and_(big, b.not_(skinny))


# --- the GEMM helper function ------------------------------------------------------
GEMM_ARGS = ("M", "N", "K", "A", "sam", "sak", "B", "sbk", "sbn", "C", "ldc", "packA", "packB")


def emit_gemm(module, dtype, s, packed_b=False, update=False):
    """``theon.gemm.<dtype>`` in ``module`` (created once per module);
    ``packed_b``: ``theon.gemm.<dtype>.packed``, whose blocked kernel takes
    packB as already holding all of B (one chunk of columns, ``prepack_b``);
    ``update``: ``theon.gemm.<dtype>.update``, with four more arguments
    (T* W, i64 swm, i64 swn, T alpha): C = W + (A @ B) * alpha, W read
    at its strides as the blocked kernel stores a tile's last K slice
    (the other paths: a pass over C after the product)."""
    name = f"theon.gemm.{dtype}" + (".packed" if packed_b else "") + (".update" if update else "")
    if name in module.globals:
        return module.globals[name]
    t = LLTYPE[dtype]
    tp = t.as_pointer()
    extra = [tp, I64, I64, t] if update else []
    fnty = lir.FunctionType(lir.VoidType(), [I64, I64, I64, tp, I64, I64, tp, I64, I64, tp, I64, tp, tp, I64] + extra)
    fn = lir.Function(module, fnty, name=name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")     # one copy per module, replaceable, readable in asm
    for arg, n in zip(fn.args, GEMM_ARGS + ("parts",) + (EPILOGUE_ARGS if update else ())):
        arg.name = n
    for k in (9, 11, 12):          # C and the panels are fresh memory no other pointer reaches
        fn.args[k].add_attribute("noalias")
    f = _Fn(fn)
    ar = _Arith(f, module, dtype)
    b = f.b
    M, N, K = fn.args[:3]
    blocked = _use_blocked(b, M, N, K, s)
    with b.if_else(blocked) as (then, otherwise):
        with then:
            _blocked(f, module, dtype, fn.args, s, packed_b, update)
        with otherwise:
            with b.if_else(b.icmp_signed("==", N, i64(1))) as (dot, rows):
                with dot:
                    _dot_loop(f, ar, fn.args)
                with rows:
                    _row_loop(f, ar, fn.args)
            if update:
                _update_loop(f, fn.args)
    b.ret_void()
    return fn


EPILOGUE_ARGS = ("W", "swm", "swn", "alpha")


def _update_loop(f, args):
    """C = W + C * alpha over the M x N result (the update helper's small paths)."""
    M, N, C, ldc = args[0], args[1], args[9], args[10]
    W, swm, swn, alpha = args[14:18]
    b = f.b
    with f.loop(M, "upd.i") as (i, _):
        with f.loop(N, "upd.j") as (j, _):
            pc = _at(b, C, (i, ldc), (j, i64(1)))
            w = b.load(_at(b, W, (i, swm), (j, swn)))
            b.store(b.fadd(w, b.fmul(b.load(pc), alpha)), pc)


def _dot_loop(f, ar, args):
    """N == 1: C[i] = sum_k A[i, k] * B[k] (reassociated so it vectorizes)."""
    M, N, K, A, sam, sak, B, sbk, sbn, C, ldc = args[:11]
    b = f.b
    t = A.type.pointee
    with f.loop(M, "dot.i") as (i, _):
        with f.loop(K, "dot.k", carried=[ar.zero(t)]) as (k, (acc,)):
            x = b.load(_at(b, A, (i, sam), (k, sak)))
            y = b.load(_at(b, B, (k, sbk)))
            if ar.float:
                f.next_values = [b.fadd(acc, b.fmul(x, y, flags=("contract",)), flags=("reassoc", "contract"))]
            else:
                f.next_values = [b.add(acc, b.mul(x, y))]
        b.store(acc, _at(b, C, (i, ldc)))


def _row_loop(f, ar, args):
    """C[i, :] += A[i, k] * B[k, :] for each i, k; the inner loop over j
    has a unit-stride copy LLVM vectorizes."""
    M, N, K, A, sam, sak, B, sbk, sbn, C, ldc = args[:11]
    b = f.b
    unit = b.icmp_signed("==", sbn, i64(1))
    with f.loop(M, "row.i") as (i, _):
        crow = _at(b, C, (i, ldc))
        with f.loop(K, "row.k") as (k, _):
            x = b.load(_at(b, A, (i, sam), (k, sak)))
            brow = _at(b, B, (k, sbk))
            with b.if_else(unit, likely=True) as (contig, strided):
                for branch, stride in ((contig, None), (strided, sbn)):
                    with branch:
                        with f.loop(N, "row.j") as (j, _):
                            pc = b.gep(crow, [j])
                            pb = b.gep(brow, [j if stride is None else b.mul(j, stride)])
                            b.store(ar.muladd(x, b.load(pb), b.load(pc)), pc)


# --- the blocked kernel --------------------------------------------------------------
# the job the two workers read: the helper's arguments, then the plan and the current chunk
SLOTS = GEMM_ARGS + ("a_block", "row_blocks", "col_chunks", "guided", "jc", "nc", "panels", "ready",
                     "next") + EPILOGUE_ARGS
MIN_CHUNK_COLUMNS = 128     # a unit spans at least this many columns (A is packed again per unit)


def _blocked(f, module, dtype, args, s, packed_b=False, update=False):
    """The blocked product: per chunk of columns, ``block`` on ``parts``
    threads, packing B's panels as they are needed (see the module docstring); ``update``: the
    update helper's, whose ``block`` adds W (``EPILOGUE_ARGS`` in the job)."""
    M, N, K = args[:3]
    parts = smax(f.b, args[13], i64(1))
    b = f.b
    mr, nr = s.mr, s.nr_vectors * s.lanes(dtype)
    with b.goto_entry_block():
        job = b.alloca(I64, size=i64(len(SLOTS)), name="job")
    slot = {name: b.gep(job, [i64(k)]) for k, name in enumerate(SLOTS)}
    for name, v in zip(GEMM_ARGS, args):
        b.store(b.ptrtoint(v, I64) if isinstance(v.type, lir.PointerType) else v, slot[name])
    if update:
        for name, v in zip(EPILOGUE_ARGS, args[14:18]):
            b.store(_to_slot(b, v), slot[name])
    b.store(_a_block(b, M, K, s), slot["a_block"])
    # the plan: about `split` units per part (one unit of MC rows on one thread)
    nc = _b_columns(b, N, K, dtype, s)
    many = b.icmp_signed(">", parts, i64(1))
    want = b.select(many, b.mul(parts, i64(max(s.split, 1))), i64(1), name="want")
    rows = _round_up(b, _ceil_div(b, M, want), mr)
    rows = smin(b, smax(b, rows, i64(mr)), i64(s.mc), name="rows")
    row_blocks = _ceil_div(b, M, rows)
    # units a multiple of parts, so that equal threads get equal work: first by more row blocks (a
    # column chunk packs its rows of A again: 784 rows in blocks of at most 96 on 2 threads are 10
    # blocks of 13 or 14 tiles, not 9 blocks by 2 column chunks), else by more column chunks
    more = _round_up(b, row_blocks, parts)
    fits = b.and_(many, b.icmp_signed("<=", more, _ceil_div(b, M, mr)))
    row_blocks = b.select(fits, more, row_blocks, name="row_blocks")
    most = smax(b, b.sdiv(nc, i64(max(MIN_CHUNK_COLUMNS, nr))), i64(1))
    col_chunks = smax(b, _ceil_div(b, want, row_blocks), i64(1))
    uneven = b.and_(many, b.icmp_signed("!=", b.srem(b.mul(row_blocks, col_chunks), parts), i64(0)))
    col_chunks = b.select(uneven, b.mul(_ceil_div(b, col_chunks, parts), parts), col_chunks)
    col_chunks = smin(b, col_chunks, most, name="col_chunks")
    # whole-width units (rows only) on several threads: guided, each unit a share of the rows left
    guided = b.select(b.and_(many, b.icmp_signed("==", col_chunks, i64(1))), parts, i64(0), name="guided")
    for name, v in (("row_blocks", row_blocks), ("col_chunks", col_chunks), ("guided", guided)):
        b.store(v, slot[name])
    units = b.mul(row_blocks, col_chunks, name="units")
    parts = smin(b, parts, units)
    block = _emit_block(module, dtype, s, update)
    data = b.bitcast(job, I8.as_pointer())
    if not packed_b:     # a state per panel of a chunk: 0 to pack, 1 being packed, 2 packed
        with b.goto_entry_block():
            ready = b.alloca(I32, size=i64(_max_panels(s, dtype)), name="ready")
    b.store(i64(0) if packed_b else b.ptrtoint(ready, I64), slot["ready"])
    with f.loop(N, "jc", step=nc) as (jc, _):
        width = f.min(b.sub(N, jc), nc)
        panels = _ceil_div(b, width, nr)
        b.store(jc, slot["jc"])
        b.store(width, slot["nc"])
        b.store(panels, slot["panels"])
        if not packed_b:
            _memset(b, module, ready, b.mul(panels, i64(4)))
        b.store(i64(0), slot["next"])
        _run(b, module, block, data, parts, parts)


def _max_panels(s, dtype):
    """The most NR-column panels a chunk of B has (``_b_columns``: at most ``nc``, at least NR)."""
    return max(s.nc // (s.nr_vectors * s.lanes(dtype)), 1)


def _memset(b, module, ptr, nbytes):
    """Zero ``nbytes`` (i64) bytes at ``ptr``."""
    name = "llvm.memset.p0i8.i64"
    fn = module.globals.get(name) or lir.Function(
        module, lir.FunctionType(lir.VoidType(), [I8.as_pointer(), I8, I64, lir.IntType(1)]), name)
    b.call(fn, [b.bitcast(ptr, I8.as_pointer()), lir.Constant(I8, 0), nbytes, lir.Constant(lir.IntType(1), 0)])


def _to_slot(b, v):
    """An argument as a job slot's i64 (pointers as integers, floats as their bits)."""
    if isinstance(v.type, lir.PointerType):
        return b.ptrtoint(v, I64)
    if isinstance(v.type, lir.FloatType):
        return b.zext(b.bitcast(v, lir.IntType(32)), I64)
    if isinstance(v.type, lir.DoubleType):
        return b.bitcast(v, I64)
    return v


def _from_slot(b, x, t):
    """``_to_slot``'s inverse for a float of type ``t``."""
    if isinstance(t, lir.FloatType):
        return b.bitcast(b.trunc(x, lir.IntType(32)), t)
    return b.bitcast(x, t)


def _run(b, module, worker, data, n, parts):
    """worker over [0, n) in min(parts, n) parts: on the pool, or here."""
    parts = smin(b, parts, n)
    with b.if_else(b.icmp_signed(">", parts, i64(1))) as (many, one):
        with many:
            parallel = rtlib.declare(module, "theon_rt_parallel", rt_pool.PARALLEL_TYPE)
            b.call(parallel, [worker, data, n, parts])
        with one:
            b.call(worker, [data, i64(0), n, i64(0)])


def _worker(module, name):
    """(function, _Fn, job fields, job pointer, begin, end, part) of a new
    GEMM worker, or (function, None, ...) when the module already has it."""
    fn = module.globals.get(name)
    if fn is not None:
        return (fn,) + (None,) * 6
    fn = lir.Function(module, WORKER_TYPE, name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")       # called directly and from the pool: one copy
    data, begin, end, part = fn.args
    for a, n in zip(fn.args, ("data", "begin", "end", "part")):
        a.name = n
    f = _Fn(fn)
    b = f.b
    job = b.bitcast(data, I64.as_pointer())
    fields = {n: b.load(b.gep(job, [i64(k)]), name=n) for k, n in enumerate(SLOTS) if n != "next"}
    return fn, f, fields, job, begin, end, part


def _typed(b, fields, name, t):
    return b.inttoptr(fields[name], t.as_pointer(), name=f"{name}.p")


def _emit_pack_b(module, dtype, s):
    """``theon.gemm.<dtype>.pack_b``: pack NR-column panels [begin, end)
    of the current chunk of B, every KC slice of K: slice q at packB +
    q*KC*NC, its panel p at + p*NR*kc (kc = that slice's length)."""
    fn, f, v, _, begin, end, _ = _worker(module, f"theon.gemm.{dtype}.pack_b")
    if f is None:
        return fn
    b = f.b
    t = LLTYPE[dtype]
    nr = s.nr_vectors * s.lanes(dtype)
    B, packB = _typed(b, v, "B", t), _typed(b, v, "packB", t)
    K, jc, nc, sbk, sbn = (v[n] for n in ("K", "jc", "nc", "sbk", "sbn"))
    stride = b.mul(_round_up(b, nc, nr), i64(s.kc), name="slice_stride")
    col0 = b.mul(begin, i64(nr), name="col0")
    count = f.min(b.sub(nc, col0), b.mul(b.sub(end, begin), i64(nr)))
    first_col = b.add(jc, col0, name="first_col")
    unit = b.icmp_signed("==", sbn, i64(1))
    ar = _Arith(f, module, dtype)
    with f.loop(K, "pc", step=s.kc) as (pc, _):
        kc = f.min(b.sub(K, pc), i64(s.kc))
        dst = b.gep(packB, [b.add(b.mul(b.sdiv(pc, i64(s.kc)), stride), b.mul(col0, kc))])
        _pack(f, ar, dst, count, kc, nr, lambda j, k: _at(b, B, (b.add(pc, k), sbk), (b.add(first_col, j), sbn)),
              unit, "pb", b.icmp_signed("==", sbk, i64(1)))
    b.ret_void()
    return fn


def _claim_panels(f, module, dtype, s, data, ready, p0, p1, part):
    """Make B's panels [p0, p1) of the current chunk packed (every KC
    slice): pack each one nobody has claimed (a compare-and-swap of its
    state 0 -> 1, then ``pack_b`` on it, then 2 with release), then wait
    (acquire) for those another thread is packing. No thread waits for a
    panel nobody is packing, so a part run after another on one thread
    never waits for it."""
    b = f.b
    pack_b = _emit_pack_b(module, dtype, s)
    with f.loop(p1, "claim", start=p0) as (p, _):
        state = b.gep(ready, [p])
        with b.if_then(b.icmp_signed("==", b.load_atomic(state, "monotonic", 4), lir.Constant(I32, 0))):
            got = b.extract_value(b.cmpxchg(state, lir.Constant(I32, 0), lir.Constant(I32, 1), "acquire",
                                            "monotonic"), 1)
            with b.if_then(got):
                b.call(pack_b, [data, p, b.add(p, i64(1)), part])
                b.store_atomic(lir.Constant(I32, 2), state, "release", 4)
    with f.loop(p1, "wait", start=p0) as (p, _):
        state = b.gep(ready, [p])
        spin, done = f.fn.append_basic_block("wait.spin"), f.fn.append_basic_block("wait.done")
        b.branch(spin)
        b.position_at_end(spin)
        b.cbranch(b.icmp_signed("==", b.load_atomic(state, "acquire", 4), lir.Constant(I32, 2)), done, spin)
        b.position_at_end(done)


def _emit_block(module, dtype, s, update=False):
    """``theon.gemm.<dtype>.block``: claim units of C (``next`` in the job:
    a unit number, or the next free tile where ``guided``) until none is
    left; for each, make its panels of B packed (``_claim_panels``, unless
    ``ready`` is 0: B came packed), then C[rows, cols] = A[rows, :] @ B[:, cols]
    over every KC slice, packing A into this part's own block (or reading
    it in place: a unit one panel wide).
    ``update``: ``.block.update``, whose last KC slice stores W + C * alpha."""
    fn, f, v, job, _, _, part = _worker(module, f"theon.gemm.{dtype}.block" + (".update" if update else ""))
    if f is None:
        return fn
    b = f.b
    t = LLTYPE[dtype]
    ar = _Arith(f, module, dtype)
    mr, nr = s.mr, s.nr_vectors * s.lanes(dtype)
    A, C, packB = (_typed(b, v, n, t) for n in ("A", "C", "packB"))
    packA = b.gep(_typed(b, v, "packA", t), [b.mul(part, v["a_block"])], name="packA.part")
    M, K, ldc, sam, sak = v["M"], v["K"], v["ldc"], v["sam"], v["sak"]
    if update:
        W, swm, swn = _typed(b, v, "W", t), v["swm"], v["swn"]
        alpha = _from_slot(b, v["alpha"], t)
    jc, nc, panels, col_chunks = v["jc"], v["nc"], v["panels"], v["col_chunks"]
    units = b.mul(v["row_blocks"], col_chunks, name="units")
    stride = b.mul(_round_up(b, nc, nr), i64(s.kc), name="slice_stride")
    counter = b.gep(job, [i64(SLOTS.index("next"))], name="next")
    with b.goto_entry_block():
        tile = b.alloca(t, size=i64(mr * nr), name="tile")
    a_unit = b.icmp_signed("==", sam, i64(1))
    a_along = b.icmp_signed("==", sak, i64(1))
    head, body, done = (f.fn.append_basic_block(n) for n in ("claim", "unit", "done"))
    g_head, g_try, g_body, start = (f.fn.append_basic_block(n) for n in ("g.claim", "g.try", "g.unit", "start"))
    with b.goto_entry_block():
        at = {n: b.alloca(I64, name=f"{n}.v") for n in ("r0", "r1", "c0", "c1", "seen")}
    tiles = _ceil_div(b, M, mr)
    b.branch(head)
    b.position_at_end(head)
    b.store(b.load_atomic(counter, "monotonic", 8), at["seen"])
    s_head = f.fn.append_basic_block("s.claim")
    b.cbranch(b.icmp_signed("!=", v["guided"], i64(0)), g_head, s_head)
    b.position_at_end(s_head)
    u = b.atomic_rmw("add", counter, i64(1), "monotonic", name="u")
    b.cbranch(b.icmp_signed("<", u, units), body, done)
    b.position_at_end(body)
    # unit (row block ub, column chunk uc): MR tiles [ub*T/row_blocks, (ub+1)*T/row_blocks) of the T
    # = ceil(M/MR) (at most ROWS rows, at least one tile) and panels [uc*P/col_chunks, ...) likewise, so
    # that units differ by at most one tile or panel (256 rows in 36-row units left the last one 4 rows,
    # and the thread that took the even units 144 rows against 112)
    ub, uc = b.sdiv(u, col_chunks), b.srem(u, col_chunks)
    row_blocks = v["row_blocks"]
    b.store(b.mul(b.sdiv(b.mul(ub, tiles), row_blocks), i64(mr)), at["r0"])
    b.store(f.min(b.mul(b.sdiv(b.mul(b.add(ub, i64(1)), tiles), row_blocks), i64(mr)), M), at["r1"])
    b.store(b.mul(b.sdiv(b.mul(uc, panels), col_chunks), i64(nr)), at["c0"])
    b.store(f.min(b.mul(b.sdiv(b.mul(b.add(uc, i64(1)), panels), col_chunks), i64(nr)), nc), at["c1"])
    b.branch(start)
    # guided: the counter is the next free tile; a unit takes ceil(left / (2 * parts)) tiles, at least
    # one and at most MC rows, by compare-and-swap; the last units are a tile or two, so the thread
    # that finishes first waits for at most a small one (W6's 256 x 784 @ 784 x 512 in 8 equal units of
    # 5 or 6 tiles left one thread up to a unit, about 1/8 of the product, behind the other)
    b.position_at_end(g_head)
    t0 = b.load(at["seen"], name="t0")
    b.cbranch(b.icmp_signed("<", t0, tiles), g_try, done)
    b.position_at_end(g_try)
    share = _ceil_div(b, b.sub(tiles, t0), b.mul(v["guided"], i64(2)))
    size = f.min(share, i64(max(s.mc // mr, 1)), name="g.size")
    swap = b.cmpxchg(counter, t0, b.add(t0, size), "monotonic", "monotonic")
    b.store(b.extract_value(swap, 0), at["seen"])
    b.cbranch(b.extract_value(swap, 1), g_body, g_head)
    b.position_at_end(g_body)
    b.store(b.mul(t0, i64(mr)), at["r0"])
    b.store(f.min(b.mul(b.add(t0, size), i64(mr)), M), at["r1"])
    b.store(i64(0), at["c0"])
    b.store(nc, at["c1"])
    b.branch(start)
    b.position_at_end(start)
    r0, r1, c0, c1 = (b.load(at[n], name=n) for n in ("r0", "r1", "c0", "c1"))
    mc = b.sub(r1, r0, name="mc")
    work = f.fn.append_basic_block("unit.work")
    b.cbranch(b.icmp_signed("<", c0, c1), work, head)      # fewer panels than column chunks: some empty
    b.position_at_end(work)
    with b.if_then(b.icmp_signed("!=", v["ready"], i64(0))):
        _claim_panels(f, module, dtype, s, fn.args[0], b.inttoptr(v["ready"], I32.as_pointer()),
                      b.sdiv(c0, i64(nr)), _ceil_div(b, c1, nr), part)
    # a unit of one panel uses each element of A once: the micro-kernel reads A where it lies
    # (W6's h @ W2, 10 columns: packing A took as long as the product)
    direct = b.icmp_signed("<=", b.sub(c1, c0), i64(nr if s.direct_a else 0), name="direct")
    with f.loop(K, "pc", step=s.kc) as (pc, _):
        kc = f.min(b.sub(K, pc), i64(s.kc))
        with b.if_then(b.not_(direct)):
            _pack(f, ar, packA, mc, kc, mr, lambda r, k: _at(b, A, (b.add(r0, r), sam), (b.add(pc, k), sak)),
                  a_unit, "pa", a_along)
        slice_b = b.gep(packB, [b.mul(b.sdiv(pc, i64(s.kc)), stride)])
        first = b.icmp_signed("==", pc, i64(0), name="first")
        last = b.icmp_signed("==", b.add(pc, kc), K, name="last")
        with b.if_else(direct) as (unpacked, packed):
            for branch, own in ((unpacked, True), (packed, False)):
                with branch:
                    with f.loop(c1, "jr", start=c0, step=nr) as (jr, _):
                        with f.loop(mc, "ir", step=mr) as (ir, _):
                            rows = f.min(b.sub(mc, ir), i64(mr))
                            if own:     # rows past the tile's last read that row (never stored)
                                pa = [_at(b, A, (b.add(b.add(r0, ir), f.min(i64(r), b.sub(rows, i64(1)))), sam),
                                          (pc, sak)) for r in range(mr)]
                            else:
                                pa = b.gep(packA, [b.mul(ir, kc)])
                            pb = b.gep(slice_b, [b.mul(jr, kc)])
                            ctile = _at(b, C, (b.add(r0, ir), ldc), (b.add(jc, jr), i64(1)))
                            epi = None
                            if update:
                                wtile = _at(b, W, (b.add(r0, ir), swm), (b.add(jc, jr), swn))
                                epi = (wtile, swm, swn, alpha, last)
                            _microkernel(f, ar, s, kc, pa, pb, ctile, ldc, rows, f.min(b.sub(c1, jr), i64(nr)),
                                         tile, first, epi, a_step=sak if own else None)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()
    return fn


