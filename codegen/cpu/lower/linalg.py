"""``matmul``: NumPy semantics (1-d operands, broadcast batch dims, any
strides, int and float dtypes) on top of one GEMM helper per dtype.

The op lowering (``lower_matmul``) normalizes operands to (M, K) @ (K, N)
matrices with element strides, checks the inner dims and broadcasts the
batch dims, allocates a C-contiguous result (zeroed unless the blocked
kernel runs: it stores its first K slice) and calls, per batch element,
the module-internal function

    void theon.gemm.<dtype>(i64 M, i64 N, i64 K, T* A, i64 sam, i64 sak,
                            T* B, i64 sbk, i64 sbn, T* C, i64 ldc,
                            T* packA, T* packB, i64 parts)   // C = A @ B

which ``emit_gemm`` builds with the schedule in ``GemmSchedule``. It picks,
at run time: a dot-product loop (N == 1), a row-update loop with a
vectorizable unit-stride inner loop (M == 1 or a tiny product), or the
blocked kernel: A and B are packed into zero-padded MR-row / NR-column
panels (any input strides, transposed included; a row-major A or a
transposed B, adjacent along K, through in-register transposes of 32
bytes of each row or column at a time), and an MR x NR register
tile of vectors accumulates over a KC-long slice of K. Float types
accumulate in their own precision, as BLAS does; integer products wrap.

The blocked kernel, in two fork-join regions on the runtime library's
thread pool (``theon_rt_parallel``, rt_pool.py) per chunk of B's columns
(NC: all of N, at most ``nc`` and fewer if K x NC elements would pass
``b_bytes``):

    for jc in N step NC:                     # the calling thread
      parallel: pack B[:, jc:jc+NC], every KC slice of it, into NR-column
                panels                       (theon.gemm.<dtype>.pack_b, a range of panels per part)
      parallel: claim units of C until none is left: a unit is a row
                block (whole MR tiles, at most ROWS <= MC rows; the
                blocks differ by at most one tile) by a range of panels; for
                each KC slice, pack the unit's rows of A into the part's
                own A block (packA + part * MC*KC), then run the
                micro-kernel over the unit's tiles   (theon.gemm.<dtype>.block)

Units are claimed from a counter in the job (an atomic add), so a thread
that gets less of a core (another process, or NumPy's BLAS threads
spinning after a call) simply does fewer units, and whoever finishes
first waits for at most one unit; the whole K loop of a unit stays in one
thread, so no two threads write a C tile and a tile's sums are added in
the same order as on one thread (threaded results are bit-identical). A
product of at least ``threaded`` M*N*K uses ``threads`` parts (0: every
core) and about ``split`` units per part: ROWS is cut down towards MR for
short products, and units split the columns too when there are still
fewer row blocks than that, or when the units would not divide evenly
among the parts (equal threads get equal work). The micro-kernel
prefetches its C tile for writing before its K loop (``prefetch_c``). Smaller products run the same two workers
directly on this thread, with one part and MC-row units. The packed
buffers are allocated by ``lower_matmul`` before the call (workers cannot
allocate, see parallel.py): the packed B chunk and one A block per part.

Inside a scan body (``with_prepacked``, set by control.py's scan lowering)
a product whose B is a non-sequence of the loop takes B's panels packed
once before the loop (``prepack_b``: the same ``pack_b`` worker, the whole
of B as chunk 0) and calls ``theon.gemm.<dtype>.packed``, the same helper
without the packing region, when B fits one chunk of columns (a run-time
select; otherwise it packs per call as above). Products there are threaded
only from ``threaded_loop`` MACs: a fork-join per step of a small product
costs more CPU time than it saves.
"""
import contextlib
from dataclasses import dataclass

import llvmlite.ir as lir

from ....ir.types import TensorType, is_float
from ...errors import MATMUL_MISMATCH
from ..rtlib import pool as rt_pool
from .. import rtlib
from ...llvm_util import counted_loop, smax, smin
from .context import I1, I8, I64, ITEMSIZE, LLTYPE, i64
from .loops import broadcast, strided_loop
from .parallel import WORKER_TYPE, num_threads


@dataclass(frozen=True)
class GemmSchedule:
    """How the blocked kernel tiles the product (not what it computes)."""
    vector_bits: int = 256      # width of the vectors in the register tile
    mr: int = 6                 # rows of the register tile
    nr_vectors: int = 2         # vectors per row of the register tile (NR = nr_vectors * lanes)
    kc: int = 256               # K slice shared by packed panels (L1)
    mc: int = 96                # rows of A packed at once (L2); a multiple of mr
    nc: int = 4096              # columns of B packed at once (with all of K: a chunk), at most
    b_bytes: int = 16 << 20     # and few enough that the packed chunk (K x NC) stays below this
    small: int = 4096           # M*N*K at or below this use the row-update loop
    threaded: int = 1 << 20     # blocked products of at least this M*N*K run on several threads (0: never);
                                # W6's 1.3M-MAC products with 10 columns: its step took 12.8 ms against
                                # 15.4 (medians, both on a loaded machine) with 1 << 20 rather than 1 << 21
    threaded_loop: int = 1 << 25  # ... of at least this inside a scan body: a fork-join (and the pool's
                                # spinning between steps) every step of W9's 8M-MAC products cost 50%
                                # more CPU time than one thread, and no wall time gained on a busy machine
    threads: int = 0            # threads of a threaded product (0: the cores this process may use)
    split: int = 4              # units of work per thread of a threaded product (load balance)
    prefetch_c: bool = True     # prefetch the C tile (for writing) before the micro-kernel's K loop

    def lanes(self, dtype):
        return max(1, min(self.vector_bits // (8 * ITEMSIZE[dtype]), 16))


DEFAULT_SCHEDULE = GemmSchedule()


# --- the op lowering --------------------------------------------------------------
def lower_matmul(ctx, op, bufs, schedule=None):
    schedule = schedule or DEFAULT_SCHEDULE      # read at lowering time (tests replace it)
    a, c = bufs
    at, bt = (v.type for v in op.operands)
    out_t = op.results[0].type
    dtype = out_t.dtype
    b = ctx.b
    # (M, K) and (K, N) views with strides; 1-d operands get a size-1 dim
    if a.ndim == 1:
        m, sam, ka, sak = i64(1), i64(0), a.shape[0], a.strides[0]
    else:
        m, sam, ka, sak = a.shape[-2], a.strides[-2], a.shape[-1], a.strides[-1]
    if c.ndim == 1:
        kb, sbk, n, sbn = c.shape[0], c.strides[0], i64(1), i64(0)
    else:
        kb, sbk, n, sbn = c.shape[-2], c.strides[-2], c.shape[-1], c.strides[-1]
    a_static_k = at.shape[-1]
    b_static_k = bt.shape[0] if bt.ndim == 1 else bt.shape[-2]
    if a_static_k is None or b_static_k is None:
        ctx.check(b.icmp_signed("==", ka, kb), MATMUL_MISMATCH, [ka, kb])
    # batch dims broadcast like an elementwise op's
    nbatch = out_t.ndim - (a.ndim > 1) - (c.ndim > 1)
    batch_t = TensorType(dtype, out_t.shape[:nbatch])
    operands = [x.view(shape=x.shape[:-2], strides=x.strides[:-2]) if x.ndim > 2 else x.view(shape=[], strides=[])
                for x in (a, c)]
    types = [TensorType(dtype, t.shape[:-2] if t.ndim > 2 else ()) for t in (at, bt)]
    batch_dims, batch_strides = broadcast(ctx, batch_t, operands, types)

    out_dims = list(batch_dims) + ([m] if a.ndim > 1 else []) + ([n] if c.ndim > 1 else [])
    out_dims = [i64(s) if s is not None else d for d, s in zip(out_dims, out_t.shape)]
    out = ctx.alloc(dtype, out_dims, name="matmul")
    fold, m_all = _fold_batch(ctx, a, m, sam) if a.ndim > 2 and c.ndim == 2 else (None, m)
    m_eff = m if fold is None else b.select(fold, m_all, m, name="mm.rows")
    with b.if_then(b.not_(_use_blocked(b, m_eff, n, ka, schedule))):
        _memset_zero(ctx, out)          # the blocked kernel stores its first K slice
    ldc = n if c.ndim > 1 else i64(1)
    parts = _plan_parts(ctx, m_eff, n, ka, schedule)
    packed = _prepacked(ctx, op, c)
    if packed is not None:              # B packed once before the enclosing loop (``prepack_b``)
        packed_ptr, single = packed
        pack_a, own_b = _pack_buffers(ctx, dtype, m_eff, n, ka, parts, schedule, skip_b=single)
        pack_b = b.select(single, packed_ptr, own_b, name="mm.packb")
        gemm = b.select(single, emit_gemm(ctx.module, dtype, schedule, packed_b=True),
                        emit_gemm(ctx.module, dtype, schedule), name="mm.gemm")
    else:
        pack_a, pack_b = _pack_buffers(ctx, dtype, m_eff, n, ka, parts, schedule)
        gemm = emit_gemm(ctx.module, dtype, schedule)

    def per_batch():
        with ctx.loop_nest(batch_dims, "mm.batch") as idx:
            pa, pb, pc = a.ptr, c.ptr, out.ptr
            for d, i in enumerate(idx):
                pa = b.gep(pa, [b.mul(i, batch_strides[0][d])])
                pb = b.gep(pb, [b.mul(i, batch_strides[1][d])])
                pc = b.gep(pc, [b.mul(i, out.strides[d])])
            b.call(gemm, [m, n, ka, pa, sam, sak, pb, sbk, sbn, pc, ldc, pack_a, pack_b, parts])
    if fold is None:
        per_batch()
        return [out]
    with b.if_else(fold) as (whole, batched):
        with whole:             # every batch element's rows at A's row stride: one product of all of them
            b.call(gemm, [m_all, n, ka, a.ptr, sam, sak, c.ptr, sbk, sbn, out.ptr, ldc, pack_a, pack_b, parts])
        with batched:
            per_batch()
    return [out]


def _fold_batch(ctx, a, m, sam):
    """(i1, i64): whether the rows of every batch element of ``a`` (batch
    dims, then M x K) follow one another at its row stride ``sam`` -- so
    that ``a`` @ a matrix is one product of all the rows (the C-contiguous
    result's rows follow one another too) -- and that count of rows."""
    b = ctx.b
    ok, rows = lir.Constant(I1, 1), m
    for d in reversed(range(a.ndim - 2)):
        size, stride = a.shape[d], a.strides[d]
        here = b.or_(b.icmp_signed("==", size, i64(1)), b.icmp_signed("==", stride, b.mul(rows, sam)))
        ok = b.and_(ok, here)
        rows = b.mul(rows, size)
    return ok, rows


def lower_matmul_update(ctx, op, bufs, schedule=None):
    """c + (a @ b) * alpha (``matmul_update``, 2-d operands): the product's
    helper ``theon.gemm.<dtype>.update`` adds c (any strides, broadcast
    dims stride 0) as each tile leaves the registers; where the product
    itself broadcasts up to c's shape, a plain product and a loop."""
    schedule = schedule or DEFAULT_SCHEDULE
    a, bm, c = bufs
    at, bt, ct = (v.type for v in op.operands)
    out_t = op.results[0].type
    dtype = out_t.dtype
    t = LLTYPE[dtype]
    b = ctx.b
    m, ka, sam, sak = a.shape[0], a.shape[1], a.strides[0], a.strides[1]
    kb, n, sbk, sbn = bm.shape[0], bm.shape[1], bm.strides[0], bm.strides[1]
    if at.shape[1] is None or bt.shape[0] is None:
        ctx.check(b.icmp_signed("==", ka, kb), MATMUL_MISMATCH, [ka, kb])
    prod_t = TensorType(dtype, (at.shape[0], bt.shape[1]))
    prod = a.view(ptr=lir.Constant(t.as_pointer(), None), shape=[m, n], strides=[n, i64(1)])
    dims, (ps, cs) = broadcast(ctx, out_t, [prod, c], [prod_t, ct])
    out = ctx.alloc(dtype, dims, name="matmul_update")
    alpha = lir.Constant(t, float(op.attrs["alpha"]))
    parts = _plan_parts(ctx, m, n, ka, schedule)
    pack_a, pack_b = _pack_buffers(ctx, dtype, m, n, ka, parts, schedule)
    blocked = _use_blocked(b, m, n, ka, schedule)
    same = b.and_(b.icmp_signed("==", dims[0], m), b.icmp_signed("==", dims[1], n))
    with b.if_else(same, likely=True) as (fused, spread):
        with fused:
            with b.if_then(b.not_(blocked)):
                _memset_zero(ctx, out)
            b.call(emit_gemm(ctx.module, dtype, schedule, update=True),
                   [m, n, ka, a.ptr, sam, sak, bm.ptr, sbk, sbn, out.ptr, n, pack_a, pack_b, parts,
                    c.ptr, cs[0], cs[1], alpha])
        with spread:            # the product broadcasts up (a single row or column): then the sum
            tmp = ctx.alloc(dtype, [m, n], name="matmul_update.p")
            _memset_zero(ctx, tmp)
            b.call(emit_gemm(ctx.module, dtype, schedule), [m, n, ka, a.ptr, sam, sak, bm.ptr, sbk, sbn,
                                                             tmp.ptr, n, pack_a, pack_b, parts])

            def axpy(ptrs):
                b.store(b.fadd(b.load(ptrs[1]), b.fmul(b.load(ptrs[2]), alpha)), ptrs[0])
            strided_loop(ctx, dims, [(out.ptr, out.strides), (c.ptr, cs), (tmp.ptr, ps)], axpy, name="mmu")
    return [out]


def _memset_zero(ctx, buf):
    b = ctx.b
    memset = ctx.intrinsic("llvm.memset.p0i8.i64", lir.VoidType(), [I8.as_pointer(), I8, I64, I1])
    nbytes = ctx.mul(ctx.product(buf.shape), i64(ITEMSIZE[buf.dtype]))
    b.call(memset, [b.bitcast(buf.ptr, I8.as_pointer()), lir.Constant(I8, 0), nbytes, lir.Constant(I1, 0)])


def _plan_parts(ctx, m, n, k, s):
    """i64: how many threads the blocked kernel runs on (1: this thread);
    inside a scan body (``with_prepacked``) from ``threaded_loop`` MACs."""
    if s.threaded <= 0 or s.threads == 1:
        return i64(1)
    b = ctx.b
    least = max(s.threaded, s.threaded_loop) if getattr(ctx, "prepacked", None) is not None else s.threaded
    big = b.and_(_use_blocked(b, m, n, k, s), b.icmp_unsigned(">=", b.mul(b.mul(m, n), k), i64(least)))
    cores = i64(min(s.threads, rt_pool.MAX_THREADS)) if s.threads > 0 else num_threads(ctx.module, b)
    return b.select(big, cores, i64(1), name="gemm.parts")


def _pack_buffers(ctx, dtype, m, n, k, parts, s, skip_b=None):
    """Scratch panels for the blocked kernel, sized for this product (one
    element when the kernel will not use them): ``parts`` A blocks of
    ``_a_block`` elements and the packed B chunk (``_b_columns`` x K; one
    element where the i1 ``skip_b`` is true: B was packed before)."""
    b = ctx.b
    blocked = _use_blocked(b, m, n, k, s)
    size_a = b.select(blocked, b.mul(parts, _a_block(b, m, k, s)), i64(1))
    need_b = blocked if skip_b is None else b.and_(blocked, b.not_(skip_b))
    size_b = b.select(need_b, b.mul(_b_columns(b, n, k, dtype, s), k), i64(1))
    return (ctx.alloc(dtype, [size_a], name="pack_a").ptr,
            ctx.alloc(dtype, [size_b], name="pack_b").ptr)


# --- B packed once for a loop -------------------------------------------------------
def prepack_targets(block, candidates):
    """The values of ``candidates`` (arguments of ``block`` that stay the
    same on every run of it, e.g. a scan's non-sequences) that a 2-d
    ``matmul`` of ``block`` takes as its right operand B."""
    return [v for v in candidates if v.type.ndim == 2 and any(
        op.name == "matmul" and op.operands[1] is v and op.operands[0].type.ndim == 2 for op in block.ops)]


def prepack_b(ctx, buf, schedule=None):
    """Pack the 2-d matrix ``buf`` (K x N, any strides) into the blocked
    kernel's B panels now, on this thread, for the products of a loop body
    that take it as B; returns (panels pointer, i1: N fits one chunk of
    columns, so the body's products may use these panels -- else they pack
    as usual). Registered in ``ctx.prepacked`` by ``with_prepacked``."""
    s = schedule or DEFAULT_SCHEDULE
    b = ctx.b
    dtype = buf.dtype
    (k, n), (sbk, sbn) = buf.shape, buf.strides
    nr = s.nr_vectors * s.lanes(dtype)
    nc = _b_columns(b, n, k, dtype, s)
    single = b.icmp_signed(">=", nc, n, name="pk.single")
    size = b.select(single, b.mul(nc, k), i64(1))
    packed = ctx.alloc(dtype, [size], name="prepack_b").ptr
    with b.if_then(single):
        with b.goto_entry_block():
            job = b.alloca(I64, size=i64(len(SLOTS)), name="pk.job")
        for name, v in (("K", k), ("jc", i64(0)), ("nc", n), ("sbk", sbk), ("sbn", sbn),
                        ("B", b.ptrtoint(buf.ptr, I64)), ("packB", b.ptrtoint(packed, I64))):
            b.store(v, b.gep(job, [i64(SLOTS.index(name))]))
        pack = _emit_pack_b(ctx.module, dtype, s)
        b.call(pack, [b.bitcast(job, I8.as_pointer()), i64(0), _ceil_div(b, n, nr), i64(0)])
    return packed, single


@contextlib.contextmanager
def with_prepacked(ctx, packed):
    """While lowering a loop body: ``packed`` maps values (B operands) to
    ``prepack_b``'s results; ``lower_matmul`` uses them (and, inside, threads
    only products of ``threaded_loop`` MACs)."""
    old = getattr(ctx, "prepacked", None)
    ctx.prepacked = {**(old or {}), **packed}
    try:
        yield
    finally:
        ctx.prepacked = old


def _prepacked(ctx, op, c):
    got = (getattr(ctx, "prepacked", None) or {}).get(op.operands[1])
    return got if got is not None and c.ndim == 2 and op.operands[0].type.ndim == 2 else None


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
    return b.mul(b.sdiv(b.add(x, i64(step - 1)), i64(step)), i64(step))


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
class _Fn:
    """Builder state for emitting a helper function, with counted loops."""

    def __init__(self, fn):
        self.fn = fn
        self.b = lir.IRBuilder(fn.append_basic_block("entry"))

    @contextlib.contextmanager
    def loop(self, stop, name, start=None, step=1, carried=()):
        """``for i in range(start, stop, step)`` (``llvm_util.counted_loop``);
        yields (i, phis) where ``phis`` are loop-carried values started at
        ``carried``; the body sets ``self.next_values`` to their next values."""
        with counted_loop(self.b, stop, name, start, step, carried) as lp:
            self.next_values = list(lp.carried)
            yield lp.index, lp.carried
            lp.next = self.next_values

    def min(self, x, y, name=""):
        return smin(self.b, x, y, name=name)


class _Arith:
    """Multiply-add in a dtype (fmuladd for floats, wrapping for ints)."""

    def __init__(self, fn_ctx, module, dtype):
        self.b = fn_ctx.b
        self.module = module
        self.dtype = dtype
        self.float = is_float(dtype)

    def zero(self, ty):
        if isinstance(ty, lir.VectorType):
            return lir.Constant(ty, [self.zero(ty.element)] * ty.count)
        return lir.Constant(ty, 0.0 if self.float else 0)

    def add(self, x, y):
        return self.b.fadd(x, y) if self.float else self.b.add(x, y)

    def muladd(self, x, y, acc):
        """acc + x*y."""
        if not self.float:
            return self.b.add(acc, self.b.mul(x, y))
        ty = acc.type
        suffix = f"v{ty.count}{_short(ty.element)}" if isinstance(ty, lir.VectorType) else _short(ty)
        name = f"llvm.fmuladd.{suffix}"
        fn = self.module.globals.get(name) or lir.Function(self.module, lir.FunctionType(ty, [ty, ty, ty]), name)
        return self.b.call(fn, [x, y, acc])


def _short(ty):
    return "f32" if isinstance(ty, lir.FloatType) else "f64"


GEMM_ARGS = ("M", "N", "K", "A", "sam", "sak", "B", "sbk", "sbn", "C", "ldc", "packA", "packB")


def emit_gemm(module, dtype, s=DEFAULT_SCHEDULE, packed_b=False, update=False):
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


def _at(b, ptr, *terms):
    """ptr + sum(i * stride) for (i, stride) pairs."""
    off = i64(0)
    for i, stride in terms:
        off = b.add(off, b.mul(i, stride))
    return b.gep(ptr, [off])


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
SLOTS = GEMM_ARGS + ("a_block", "row_blocks", "col_chunks", "jc", "nc", "panels", "next") + EPILOGUE_ARGS
MIN_CHUNK_COLUMNS = 128     # a unit spans at least this many columns (A is packed again per unit)
PACK_ELEMENTS = 1 << 15     # a part of the packing copies at least this many elements of B


def _blocked(f, module, dtype, args, s, packed_b=False, update=False):
    """The blocked product: per chunk of columns, ``pack_b`` then ``block``
    on ``parts`` threads (see the module docstring); ``update``: the
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
    most = smax(b, b.sdiv(nc, i64(max(MIN_CHUNK_COLUMNS, nr))), i64(1))
    col_chunks = smax(b, _ceil_div(b, want, row_blocks), i64(1))
    # units a multiple of parts, so that equal threads get equal work: 2 threads and 11 row blocks of
    # 1024 rows take 2 column chunks each (11 + 11 units) rather than 6 row blocks against 5
    uneven = b.and_(many, b.icmp_signed("!=", b.srem(b.mul(row_blocks, col_chunks), parts), i64(0)))
    col_chunks = b.select(uneven, b.mul(_ceil_div(b, col_chunks, parts), parts), col_chunks)
    col_chunks = smin(b, col_chunks, most, name="col_chunks")
    for name, v in (("row_blocks", row_blocks), ("col_chunks", col_chunks)):
        b.store(v, slot[name])
    units = b.mul(row_blocks, col_chunks, name="units")
    parts = smin(b, parts, units)
    pack_b = _emit_pack_b(module, dtype, s)
    block = _emit_block(module, dtype, s, update)
    data = b.bitcast(job, I8.as_pointer())
    with f.loop(N, "jc", step=nc) as (jc, _):
        width = f.min(b.sub(N, jc), nc)
        panels = _ceil_div(b, width, nr)
        b.store(jc, slot["jc"])
        b.store(width, slot["nc"])
        b.store(panels, slot["panels"])
        # packing: `split` parts per thread too, each of at least PACK_ELEMENTS
        small = smax(b, b.sdiv(b.mul(width, K), i64(PACK_ELEMENTS)), i64(1))
        if not packed_b:
            _run(b, module, pack_b, data, panels, smin(b, b.select(many, want, i64(1)), small))
        b.store(i64(0), slot["next"])
        _run(b, module, block, data, parts, parts)


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


def _emit_block(module, dtype, s, update=False):
    """``theon.gemm.<dtype>.block``: claim units of C (``next`` in the job)
    until none is left; for each, C[rows, cols] += A[rows, :] @ B[:, cols]
    over every KC slice, packing A into this part's own block.
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
    b.branch(head)
    b.position_at_end(head)
    u = b.atomic_rmw("add", counter, i64(1), "monotonic", name="u")
    b.cbranch(b.icmp_signed("<", u, units), body, done)
    b.position_at_end(body)
    # unit (row block ub, column chunk uc): MR tiles [ub*T/row_blocks, (ub+1)*T/row_blocks) of the T
    # = ceil(M/MR) (at most ROWS rows, at least one tile) and panels [uc*P/col_chunks, ...) likewise, so
    # that units differ by at most one tile or panel (256 rows in 36-row units left the last one 4 rows,
    # and the thread that took the even units 144 rows against 112)
    ub, uc = b.sdiv(u, col_chunks), b.srem(u, col_chunks)
    row_blocks = v["row_blocks"]
    tiles = _ceil_div(b, M, mr)
    r0 = b.mul(b.sdiv(b.mul(ub, tiles), row_blocks), i64(mr), name="r0")
    r1 = f.min(b.mul(b.sdiv(b.mul(b.add(ub, i64(1)), tiles), row_blocks), i64(mr)), M)
    mc = b.sub(r1, r0, name="mc")
    c0 = b.mul(b.sdiv(b.mul(uc, panels), col_chunks), i64(nr), name="c0")
    c1 = f.min(b.mul(b.sdiv(b.mul(b.add(uc, i64(1)), panels), col_chunks), i64(nr)), nc, name="c1")
    work = f.fn.append_basic_block("unit.work")
    b.cbranch(b.icmp_signed("<", c0, c1), work, head)      # fewer panels than column chunks: some empty
    b.position_at_end(work)
    with f.loop(K, "pc", step=s.kc) as (pc, _):
        kc = f.min(b.sub(K, pc), i64(s.kc))
        _pack(f, ar, packA, mc, kc, mr, lambda r, k: _at(b, A, (b.add(r0, r), sam), (b.add(pc, k), sak)),
              a_unit, "pa", a_along)
        slice_b = b.gep(packB, [b.mul(b.sdiv(pc, i64(s.kc)), stride)])
        first = b.icmp_signed("==", pc, i64(0), name="first")
        last = b.icmp_signed("==", b.add(pc, kc), K, name="last")
        with f.loop(c1, "jr", start=c0, step=nr) as (jr, _):
            with f.loop(mc, "ir", step=mr) as (ir, _):
                pa = b.gep(packA, [b.mul(ir, kc)])
                pb = b.gep(slice_b, [b.mul(jr, kc)])
                ctile = _at(b, C, (b.add(r0, ir), ldc), (b.add(jc, jr), i64(1)))
                epi = None
                if update:
                    wtile = _at(b, W, (b.add(r0, ir), swm), (b.add(jc, jr), swn))
                    epi = (wtile, swm, swn, alpha, last)
                _microkernel(f, ar, s, kc, pa, pb, ctile, ldc,
                             f.min(b.sub(mc, ir), i64(mr)), f.min(b.sub(c1, jr), i64(nr)), tile, first, epi)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()
    return fn


def _pack(f, ar, dst, count, kc, width, src_ptr, unit, name, along=None):
    """Pack ``count`` rows (A) or columns (B) into panels of ``width``:
    panel p holds, for each k < kc, ``width`` consecutive elements; rows or
    columns past ``count`` are zero. ``src_ptr(r, k)`` addresses element r
    of the slice at k; where the i1 ``unit`` holds, elements r and r+1 are
    adjacent, and full panels are copied as vectors; else, where the i1
    ``along`` holds (elements k and k+1 adjacent: a row-major A, a
    transposed B), full panels are transposed in registers, ``width``
    vectors of TRANSPOSE_BYTES along k at a time (a scalar copy of a
    row-major A panel cost a tenth of 256x784 @ 784x512's time)."""
    b = f.b
    t = dst.type.pointee
    vt = lir.VectorType(t, width)
    item = ITEMSIZE[ar.dtype]
    lanes = TRANSPOSE_BYTES // item if along is not None and item >= 4 else 0
    with f.loop(count, f"{name}.p", step=width) as (p, _):
        base = b.gep(dst, [b.mul(p, kc)])
        valid = f.min(b.sub(count, p), i64(width))
        full = b.icmp_signed("==", valid, i64(width))
        with b.if_else(b.and_(full, unit), likely=True) as (vector, other):
            with vector:
                with f.loop(kc, f"{name}.vk") as (k, _):
                    row = b.gep(base, [b.mul(k, i64(width))])
                    b.store(_load_vec(b, src_ptr(p, k), vt, ar), b.bitcast(row, vt.as_pointer()), align=item)
            with other:
                if lanes:
                    with b.if_else(b.and_(full, along), likely=True) as (trans, scalar):
                        with trans:
                            _pack_transposed(f, ar, base, p, kc, width, lanes, src_ptr, name)
                        with scalar:
                            _pack_scalar(f, ar, base, p, valid, kc, width, src_ptr, name)
                else:
                    _pack_scalar(f, ar, base, p, valid, kc, width, src_ptr, name)


TRANSPOSE_BYTES = 32        # the A (B) panel transposes read this many bytes of each row (column) at once


def _pack_scalar(f, ar, base, p, valid, kc, width, src_ptr, name):
    b = f.b
    t = base.type.pointee
    with f.loop(kc, f"{name}.k") as (k, _):
        row = b.gep(base, [b.mul(k, i64(width))])
        with f.loop(valid, f"{name}.r") as (r, _):
            b.store(b.load(src_ptr(b.add(p, r), k)), b.gep(row, [r]))
        with f.loop(i64(width), f"{name}.z", start=valid) as (r, _):
            b.store(ar.zero(t), b.gep(row, [r]))


def _pack_transposed(f, ar, base, p, kc, width, lanes, src_ptr, name):
    """A full panel whose source runs along k: per ``lanes`` values of k,
    ``width`` vector loads (one per row/column), one shuffle that
    transposes them, one store of ``lanes`` x ``width`` elements; the
    last kc % lanes values of k element by element."""
    b = f.b
    t = base.type.pointee
    lt = lir.VectorType(t, lanes)
    out_t = lir.VectorType(t, lanes * width)
    item = ITEMSIZE[ar.dtype]
    head = b.mul(b.sdiv(kc, i64(lanes)), i64(lanes), name=f"{name}.kv")
    mask = [r * lanes + k for k in range(lanes) for r in range(width)]
    with f.loop(head, f"{name}.tk", step=lanes) as (k, _):
        rows = [_load_vec(b, src_ptr(b.add(p, i64(r)), k), lt, ar) for r in range(width)]
        whole = _concat(b, rows)
        out = b.shuffle_vector(whole, lir.Constant(whole.type, lir.Undefined),
                               lir.Constant(lir.VectorType(lir.IntType(32), len(mask)), mask))
        b.store(out, b.bitcast(b.gep(base, [b.mul(k, i64(width))]), out_t.as_pointer()), align=item)
    with f.loop(kc, f"{name}.tt", start=head) as (k, _):
        row = b.gep(base, [b.mul(k, i64(width))])
        for r in range(width):
            b.store(b.load(src_ptr(b.add(p, i64(r)), k)), b.gep(row, [i64(r)]))


def _concat(b, vectors):
    """One vector of the elements of ``vectors`` (all of one type) in order,
    padded at the end with copies of the first element up to a power of two
    of vectors."""
    while len(vectors) > 1:
        if len(vectors) % 2:
            vectors = vectors + [vectors[0]]
        n = vectors[0].type.count
        idx = lir.Constant(lir.VectorType(lir.IntType(32), 2 * n), list(range(2 * n)))
        vectors = [b.shuffle_vector(x, y, idx) for x, y in zip(vectors[::2], vectors[1::2])]
    return vectors[0]


def _microkernel(f, ar, s, kc, pa, pb, ctile, ldc, mr_valid, nr_valid, tile, first, epi=None):
    """C tile (mr_valid x nr_valid at ``ctile``, row stride ldc) += the
    product of one packed A panel (kc x MR) and one packed B panel (kc x NR);
    where the i1 ``first`` holds (the first KC slice) the tile is stored,
    not added to, so C need not be zeroed first. ``tile`` is MR*NR
    elements of scratch for partial tiles. ``epi`` (W tile pointer, its
    row and column strides, alpha, i1 last): where ``last`` holds (the last
    KC slice) the tile's final sums x are stored as W + x * alpha."""
    b = f.b
    t = pa.type.pointee
    lanes = s.lanes(ar.dtype)
    mr, nv = s.mr, s.nr_vectors
    nr = nv * lanes
    vt = lir.VectorType(t, lanes)
    align = ITEMSIZE[ar.dtype]
    zeros = [ar.zero(vt)] * (mr * nv)
    if s.prefetch_c:        # the tile's rows (first and last element: both lines if unaligned), a hint that
        for r in range(mr):  # never faults, so rows past mr_valid are harmless; C is read-modify-written
            crow = b.gep(ctile, [b.mul(i64(r), ldc)])
            for j in (0, nr - 1):
                _prefetch_w(b, ar.module, b.gep(crow, [i64(j)]))
    with f.loop(kc, "uk", carried=zeros) as (k, accs):
        brow = b.gep(pb, [b.mul(k, i64(nr))])
        bvec = [_load_vec(b, b.gep(brow, [i64(v * lanes)]), vt, ar) for v in range(nv)]
        arow = b.gep(pa, [b.mul(k, i64(mr))])
        nxt = []
        for r in range(mr):
            x = _splat(b, b.load(b.gep(arow, [i64(r)])), vt)
            for v in range(nv):
                nxt.append(ar.muladd(x, bvec[v], accs[r * nv + v]))
        f.next_values = nxt
    full = b.and_(b.icmp_signed("==", mr_valid, i64(mr)), b.icmp_signed("==", nr_valid, i64(nr)))
    if epi is not None:         # W's rows as vectors only where its columns are adjacent
        full = b.and_(full, b.icmp_signed("==", epi[2], i64(1)))

    def store_tile(accumulate, epilogue):
        for r in range(mr):
            crow = b.gep(ctile, [b.mul(i64(r), ldc)])
            for v in range(nv):
                p = b.bitcast(b.gep(crow, [i64(v * lanes)]), vt.as_pointer())
                x = accs[r * nv + v]
                x = ar.add(b.load(p, align=align), x) if accumulate else x
                if epilogue:
                    wrow = b.gep(epi[0], [b.mul(i64(r), epi[1])])
                    w = _load_vec(b, b.gep(wrow, [i64(v * lanes)]), vt, ar)
                    x = b.fadd(w, b.fmul(x, _splat(b, epi[3], vt)))
                b.store(x, p, align=align)

    with b.if_else(full, likely=True) as (whole, edge):
        with whole:
            with b.if_else(first) as (store, add):
                for branch, accumulate in ((store, False), (add, True)):
                    with branch:
                        if epi is None:
                            store_tile(accumulate, False)
                        else:
                            with b.if_else(epi[4]) as (final, partial):
                                with final:
                                    store_tile(accumulate, True)
                                with partial:
                                    store_tile(accumulate, False)
        with edge:
            for r in range(mr):
                for v in range(nv):
                    p = b.bitcast(b.gep(tile, [i64(r * nr + v * lanes)]), vt.as_pointer())
                    b.store(accs[r * nv + v], p, align=align)
            with f.loop(mr_valid, "ue.r") as (r, _):
                crow = b.gep(ctile, [b.mul(r, ldc)])
                trow = b.gep(tile, [b.mul(r, i64(nr))])
                with f.loop(nr_valid, "ue.j") as (j, _):
                    pc = b.gep(crow, [j])
                    x = b.load(b.gep(trow, [j]))
                    with b.if_else(first) as (store, add):
                        with store:
                            b.store(x, pc)
                        with add:
                            b.store(ar.add(b.load(pc), x), pc)
            if epi is not None:         # the last slice: then W + C * alpha over the tile
                with b.if_then(epi[4]):
                    with f.loop(mr_valid, "ue.wr") as (r, _):
                        crow = b.gep(ctile, [b.mul(r, ldc)])
                        wrow = b.gep(epi[0], [b.mul(r, epi[1])])
                        with f.loop(nr_valid, "ue.wj") as (j, _):
                            pc = b.gep(crow, [j])
                            w = b.load(b.gep(wrow, [b.mul(j, epi[2])]))
                            b.store(b.fadd(w, b.fmul(b.load(pc), epi[3])), pc)


def _load_vec(b, ptr, vt, ar):
    return b.load(b.bitcast(ptr, vt.as_pointer()), align=ITEMSIZE[ar.dtype])


def _prefetch_w(b, module, ptr):
    """llvm.prefetch of ``ptr`` for writing, kept in every cache level."""
    i32 = lir.IntType(32)
    name = "llvm.prefetch.p0i8"
    fn = module.globals.get(name) or lir.Function(module, lir.FunctionType(lir.VoidType(), [I8.as_pointer(), i32,
                                                                                            i32, i32]), name)
    b.call(fn, [b.bitcast(ptr, I8.as_pointer()), lir.Constant(i32, 1), lir.Constant(i32, 3), lir.Constant(i32, 1)])


def _splat(b, x, vt):
    undef = lir.Constant(vt, lir.Undefined)
    v = b.insert_element(undef, x, i64(0))
    return b.shuffle_vector(v, undef, lir.Constant(lir.VectorType(lir.IntType(32), vt.count), [0] * vt.count))


LOWERINGS = {
    "matmul": lower_matmul,
    "matmul_update": lower_matmul_update,
}
