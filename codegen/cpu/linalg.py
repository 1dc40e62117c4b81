"""``matmul``: NumPy semantics (1-d operands, broadcast batch dims, any
strides, int and float dtypes) on top of one GEMM helper per dtype.

The op lowering (``lower_matmul``) normalizes operands to (M, K) @ (K, N)
matrices with element strides, checks the inner dims and broadcasts the
batch dims, zeroes a fresh C-contiguous result and calls, per batch
element, the module-internal function

    void theon.gemm.<dtype>(i64 M, i64 N, i64 K, T* A, i64 sam, i64 sak,
                            T* B, i64 sbk, i64 sbn, T* C, i64 ldc,
                            T* packA, T* packB)          // C += A @ B

which ``emit_gemm`` builds with the schedule in ``GemmSchedule``. It picks,
at run time: a dot-product loop (N == 1), a row-update loop with a
vectorizable unit-stride inner loop (M == 1 or a tiny product), or the
blocked kernel: A and B are packed into zero-padded MR-row / NR-column
panels (any input strides, transposed included), and an MR x NR register
tile of vectors accumulates over a KC-long slice of K. Float types
accumulate in their own precision, as BLAS does; integer products wrap.
A later issue replaces ``emit_gemm`` by a BLIS-style multi-threaded kernel.
"""
import contextlib
from dataclasses import dataclass

import llvmlite.ir as lir

from ...ir.types import TensorType, is_float
from ..errors import MATMUL_MISMATCH
from .context import I1, I8, I64, ITEMSIZE, LLTYPE, i64
from .loops import broadcast


@dataclass(frozen=True)
class GemmSchedule:
    """How the blocked kernel tiles the product (not what it computes)."""
    vector_bits: int = 256      # width of the vectors in the register tile
    mr: int = 6                 # rows of the register tile
    nr_vectors: int = 2         # vectors per row of the register tile (NR = nr_vectors * lanes)
    kc: int = 256               # K slice shared by packed panels (L1)
    mc: int = 96                # rows of A packed at once (L2); a multiple of mr
    nc: int = 4096              # columns of B packed at once (L3)
    small: int = 4096           # M*N*K at or below this use the row-update loop

    def lanes(self, dtype):
        return max(1, min(self.vector_bits // (8 * ITEMSIZE[dtype]), 16))


DEFAULT_SCHEDULE = GemmSchedule()


# --- the op lowering --------------------------------------------------------------
def lower_matmul(ctx, op, bufs, schedule=DEFAULT_SCHEDULE):
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
    _memset_zero(ctx, out)
    ldc = n if c.ndim > 1 else i64(1)
    pack_a, pack_b = _pack_buffers(ctx, dtype, m, n, ka, schedule)
    gemm = emit_gemm(ctx.module, dtype, schedule)

    with ctx.loop_nest(batch_dims, "mm.batch") as idx:
        pa, pb, pc = a.ptr, c.ptr, out.ptr
        for d, i in enumerate(idx):
            pa = b.gep(pa, [b.mul(i, batch_strides[0][d])])
            pb = b.gep(pb, [b.mul(i, batch_strides[1][d])])
            pc = b.gep(pc, [b.mul(i, out.strides[d])])
        b.call(gemm, [m, n, ka, pa, sam, sak, pb, sbk, sbn, pc, ldc, pack_a, pack_b])
    return [out]


def _memset_zero(ctx, buf):
    b = ctx.b
    memset = ctx.intrinsic("llvm.memset.p0i8.i64", lir.VoidType(), [I8.as_pointer(), I8, I64, I1])
    nbytes = ctx.mul(ctx.product(buf.shape), i64(ITEMSIZE[buf.dtype]))
    b.call(memset, [b.bitcast(buf.ptr, I8.as_pointer()), lir.Constant(I8, 0), nbytes, lir.Constant(I1, 0)])


def _pack_buffers(ctx, dtype, m, n, k, s):
    """Scratch panels for the blocked kernel, sized for this product (one
    element when the kernel will not use them)."""
    b = ctx.b
    nr = s.nr_vectors * s.lanes(dtype)

    def rounded(x, step, cap):
        r = b.mul(b.sdiv(b.add(x, i64(step - 1)), i64(step)), i64(step))
        return b.select(b.icmp_signed("<", r, i64(cap)), r, i64(cap))

    kc = b.select(b.icmp_signed("<", k, i64(s.kc)), k, i64(s.kc))
    blocked = _use_blocked(b, m, n, k, s)
    size_a = b.select(blocked, b.mul(rounded(m, s.mr, s.mc), kc), i64(1))
    size_b = b.select(blocked, b.mul(rounded(n, nr, s.nc), kc), i64(1))
    return (ctx.alloc(dtype, [size_a], name="pack_a").ptr,
            ctx.alloc(dtype, [size_b], name="pack_b").ptr)


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
        """``for i in range(start, stop, step)``; yields (i, phis) where
        ``phis`` are loop-carried values started at ``carried``; the body
        sets ``self.next_values`` to their next values."""
        b = self.b
        pre = b.block
        head = self.fn.append_basic_block(f"{name}.head")
        body = self.fn.append_basic_block(f"{name}.body")
        done = self.fn.append_basic_block(f"{name}.end")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64, name=name)
        i.add_incoming(start if start is not None else i64(0), pre)
        phis = []
        for k, v in enumerate(carried):
            p = b.phi(v.type, name=f"{name}.acc{k}")
            p.add_incoming(v, pre)
            phis.append(p)
        b.cbranch(b.icmp_signed("<", i, stop), body, done)
        b.position_at_end(body)
        self.next_values = list(phis)
        yield i, phis
        nxt = b.add(i, i64(step), name=f"{name}.next")
        i.add_incoming(nxt, b.block)
        for p, v in zip(phis, self.next_values):
            p.add_incoming(v, b.block)
        b.branch(head)
        b.position_at_end(done)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)


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


def emit_gemm(module, dtype, s=DEFAULT_SCHEDULE):
    """``theon.gemm.<dtype>`` in ``module`` (created once per module)."""
    name = f"theon.gemm.{dtype}"
    if name in module.globals:
        return module.globals[name]
    t = LLTYPE[dtype]
    tp = t.as_pointer()
    fnty = lir.FunctionType(lir.VoidType(), [I64, I64, I64, tp, I64, I64, tp, I64, I64, tp, I64, tp, tp])
    fn = lir.Function(module, fnty, name=name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")     # one copy per module, replaceable, readable in asm
    names = ("M", "N", "K", "A", "sam", "sak", "B", "sbk", "sbn", "C", "ldc", "packA", "packB")
    for arg, n in zip(fn.args, names):
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
            _blocked(f, ar, fn.args, s)
        with otherwise:
            with b.if_else(b.icmp_signed("==", N, i64(1))) as (dot, rows):
                with dot:
                    _dot_loop(f, ar, fn.args)
                with rows:
                    _row_loop(f, ar, fn.args)
    b.ret_void()
    return fn


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
def _blocked(f, ar, args, s):
    M, N, K, A, sam, sak, B, sbk, sbn, C, ldc, packA, packB = args
    b = f.b
    lanes = s.lanes(ar.dtype)
    mr, nr = s.mr, s.nr_vectors * lanes
    with b.goto_entry_block():
        tile = b.alloca(packA.type.pointee, size=i64(mr * nr), name="tile")
    a_unit = b.icmp_signed("==", sam, i64(1))
    b_unit = b.icmp_signed("==", sbn, i64(1))
    with f.loop(N, "jc", step=s.nc) as (jc, _):
        nc = f.min(b.sub(N, jc), i64(s.nc))
        with f.loop(K, "pc", step=s.kc) as (pc, _):
            kc = f.min(b.sub(K, pc), i64(s.kc))
            _pack(f, ar, packB, nc, kc, nr, lambda j, k: _at(b, B, (b.add(pc, k), sbk), (b.add(jc, j), sbn)),
                  b_unit, "pb")
            with f.loop(M, "ic", step=s.mc) as (ic, _):
                mc = f.min(b.sub(M, ic), i64(s.mc))
                _pack(f, ar, packA, mc, kc, mr, lambda r, k: _at(b, A, (b.add(ic, r), sam), (b.add(pc, k), sak)),
                      a_unit, "pa")
                with f.loop(nc, "jr", step=nr) as (jr, _):
                    with f.loop(mc, "ir", step=mr) as (ir, _):
                        pa = b.gep(packA, [b.mul(ir, kc)])
                        pb = b.gep(packB, [b.mul(jr, kc)])
                        ctile = _at(b, C, (b.add(ic, ir), ldc), (b.add(jc, jr), i64(1)))
                        _microkernel(f, ar, s, kc, pa, pb, ctile, ldc,
                                     f.min(b.sub(mc, ir), i64(mr)), f.min(b.sub(nc, jr), i64(nr)), tile)


def _pack(f, ar, dst, count, kc, width, src_ptr, unit, name):
    """Pack ``count`` rows (A) or columns (B) into panels of ``width``:
    panel p holds, for each k < kc, ``width`` consecutive elements; rows or
    columns past ``count`` are zero. ``src_ptr(r, k)`` addresses element r
    of the slice at k; where the i1 ``unit`` holds, elements r and r+1 are
    adjacent, and full panels are copied as vectors."""
    b = f.b
    t = dst.type.pointee
    vt = lir.VectorType(t, width)
    with f.loop(count, f"{name}.p", step=width) as (p, _):
        base = b.gep(dst, [b.mul(p, kc)])
        valid = f.min(b.sub(count, p), i64(width))
        full = b.icmp_signed("==", valid, i64(width))
        with b.if_else(b.and_(full, unit), likely=True) as (vector, other):
            with vector:
                with f.loop(kc, f"{name}.vk") as (k, _):
                    row = b.gep(base, [b.mul(k, i64(width))])
                    b.store(_load_vec(b, src_ptr(p, k), vt, ar), b.bitcast(row, vt.as_pointer()),
                            align=ITEMSIZE[ar.dtype])
            with other:
                with f.loop(kc, f"{name}.k") as (k, _):
                    row = b.gep(base, [b.mul(k, i64(width))])
                    with f.loop(valid, f"{name}.r") as (r, _):
                        b.store(b.load(src_ptr(b.add(p, r), k)), b.gep(row, [r]))
                    with f.loop(i64(width), f"{name}.z", start=valid) as (r, _):
                        b.store(ar.zero(t), b.gep(row, [r]))


def _microkernel(f, ar, s, kc, pa, pb, ctile, ldc, mr_valid, nr_valid, tile):
    """C tile (mr_valid x nr_valid at ``ctile``, row stride ldc) += the
    product of one packed A panel (kc x MR) and one packed B panel (kc x NR).
    ``tile`` is MR*NR elements of scratch for partial tiles."""
    b = f.b
    t = pa.type.pointee
    lanes = s.lanes(ar.dtype)
    mr, nv = s.mr, s.nr_vectors
    nr = nv * lanes
    vt = lir.VectorType(t, lanes)
    align = ITEMSIZE[ar.dtype]
    zeros = [ar.zero(vt)] * (mr * nv)
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
    with b.if_else(full, likely=True) as (whole, edge):
        with whole:
            for r in range(mr):
                crow = b.gep(ctile, [b.mul(i64(r), ldc)])
                for v in range(nv):
                    p = b.bitcast(b.gep(crow, [i64(v * lanes)]), vt.as_pointer())
                    b.store(ar.add(b.load(p, align=align), accs[r * nv + v]), p, align=align)
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
                    b.store(ar.add(b.load(pc), b.load(b.gep(trow, [j]))), pc)


def _load_vec(b, ptr, vt, ar):
    return b.load(b.bitcast(ptr, vt.as_pointer()), align=ITEMSIZE[ar.dtype])


def _splat(b, x, vt):
    undef = lir.Constant(vt, lir.Undefined)
    v = b.insert_element(undef, x, i64(0))
    return b.shuffle_vector(v, undef, lir.Constant(lir.VectorType(lir.IntType(32), vt.count), [0] * vt.count))


LOWERINGS = {
    "matmul": lower_matmul,
}
