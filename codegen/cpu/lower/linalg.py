"""``matmul`` and ``matmul_update``: NumPy semantics (1-d operands,
broadcast batch dims, any strides, int and float dtypes) on top of one
GEMM helper per dtype (gemm_kernel.py: ``emit_gemm``, ``theon.gemm.<dtype>``).

The op lowering (``lower_matmul``) normalizes operands to (M, K) @ (K, N)
matrices with element strides, checks the inner dims and broadcasts the
batch dims (a batch whose rows follow one another at A's row stride is
one product of all of them), allocates a C-contiguous result (zeroed
unless the blocked kernel runs: it stores its first K slice) and the
packed buffers the helper needs (``_pack_buffers``: one A block per
part, the packed B chunk), and calls the helper per batch element.
``lower_matmul_update`` (c + (a @ b) * alpha, 2-d, built by the
gemm-epilogue pass) calls ``theon.gemm.<dtype>.update``, which adds c as
each tile leaves the registers.

``GemmSchedule`` says how the helper tiles the product (not what it
computes); ``DEFAULT_SCHEDULE`` is read at lowering time (tests replace
it). ``_plan_parts`` picks the threads of a product: ``threads`` parts
(0: every core) from ``threaded`` M*N*K, else this thread alone.

Inside a scan body (``with_prepacked``, set by control.py's scan lowering)
a product whose B is a non-sequence of the loop takes B's panels packed
once before the loop (``prepack_b``: the helper's ``pack_b`` worker, the
whole of B as chunk 0) and calls ``theon.gemm.<dtype>.packed``, the same
helper without the packing region, when B fits one chunk of columns (a
run-time select; otherwise it packs per call). Products there are
threaded only from ``threaded_loop`` MACs: a fork-join per step of a
small product costs more CPU time than it saves.
"""
import contextlib
from dataclasses import dataclass

import llvmlite.ir as lir

from ....ir.types import TensorType
from ...errors import MATMUL_MISMATCH
from ..rtlib import pool as rt_pool
from .context import I1, I8, I64, ITEMSIZE, LLTYPE, i64
from .gemm_kernel import SLOTS, _a_block, _b_columns, _ceil_div, _emit_pack_b, _use_blocked, emit_gemm
from .loops import broadcast, strided_loop
from .parallel import num_threads


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
    direct_a: bool = True       # a unit one panel wide reads A in place (not packed: each element is used once)

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


LOWERINGS = {
    "matmul": lower_matmul,
    "matmul_update": lower_matmul_update,
}
