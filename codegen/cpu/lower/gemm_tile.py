"""The register-level pieces of the CPU GEMM helper (gemm_kernel.py):
builder state for helper functions (``_Fn``, counted loops), multiply-add
in a dtype (``_Arith``), packing A and B into zero-padded panels
(``_pack``: vector copies where elements are adjacent along the panel,
in-register transposes where they are adjacent along K, else element by
element), and the micro-kernel: an MR x NR register tile of vectors
accumulating one packed A panel (kc x MR) times one packed B panel
(kc x NR), stored (first KC slice), added (later slices) or stored as
W + x * alpha (the update helper's last slice).
"""
import contextlib

import llvmlite.ir as lir

from ....ir.types import is_float
from ...llvm_util import counted_loop, smin
from .context import I8, ITEMSIZE, i64


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



def _at(b, ptr, *terms):
    """ptr + sum(i * stride) for (i, stride) pairs."""
    off = i64(0)
    for i, stride in terms:
        off = b.add(off, b.mul(i, stride))
    return b.gep(ptr, [off])



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


def _microkernel(f, ar, s, kc, pa, pb, ctile, ldc, mr_valid, nr_valid, tile, first, epi=None, a_step=None):
    """C tile (mr_valid x nr_valid at ``ctile``, row stride ldc) += the
    product of one packed A panel (kc x MR) and one packed B panel (kc x NR)
    (with ``a_step``, an i64: A read where it lies, ``pa`` a list of MR
    pointers to the rows' first elements, k steps of ``a_step`` elements);
    where the i1 ``first`` holds (the first KC slice) the tile is stored,
    not added to, so C need not be zeroed first. ``tile`` is MR*NR
    elements of scratch for partial tiles. ``epi`` (W tile pointer, its
    row and column strides, alpha, i1 last): where ``last`` holds (the last
    KC slice) the tile's final sums x are stored as W + x * alpha."""
    b = f.b
    t = pb.type.pointee
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
        if a_step is None:
            arow = b.gep(pa, [b.mul(k, i64(mr))])
            a_at = [b.gep(arow, [i64(r)]) for r in range(mr)]
        else:
            at_k = b.mul(k, a_step)
            a_at = [b.gep(row, [at_k]) for row in pa]
        nxt = []
        for r in range(mr):
            x = _splat(b, b.load(a_at[r]), vt)
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

