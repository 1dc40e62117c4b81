"""The matrix-product kernel: C[b] = A[b] @ B[b], shared-memory tiled.

    NAME(A, B, C, M, N, K, sam, sak, sbk, sbn, nbatch, bd0, bsa0, bsb0, ...)

A block computes a BM x BN tile of C (``Schedule.mm_*``): for each K slice
of BK it stages the BM x BK tile of A and the BK x BN tile of B in shared
memory (zero-filled past the edges; any strides, transposed views
included), then each of its (BM/TM) x (BN/TN) threads accumulates a TM x TN
register tile. Batch index b is decomposed over the broadcast batch dims
``bd`` with the strides of A (``bsa``) and B (``bsb``), 0 where an operand
is broadcast. C is C-contiguous (batch, M, N). Floats accumulate in their
own precision with fma (as BLAS does); integers wrap. Tiles, rows of tiles
and batches are walked with grid strides, so any grid computes all of C.
"""
import llvmlite.ir as lir

from ...ir.types import is_float
from ..llvm_util import LLTYPE
from .kernel import KernelSpec, i64


def matmul_params(dtype, nb):
    params = [("A", dtype), ("B", dtype), ("C", dtype)]
    params += [(n, "i64") for n in ("M", "N", "K", "sam", "sak", "sbk", "sbn", "nbatch")]
    for d in range(nb):
        params += [(f"bd{d}", "i64"), (f"bsa{d}", "i64"), (f"bsb{d}", "i64")]
    return params


def _ceil_div(b, n, k):
    return b.udiv(b.add(n, i64(k - 1)), i64(k))


def _emit(dtype, nb):
    def emit(kb, sch):
        b, p = kb.b, kb.p
        ty = LLTYPE[dtype]
        zero = lir.Constant(ty, 0.0 if is_float(dtype) else 0)
        bm, bn, bk, tm, tn = sch.mm_bm, sch.mm_bn, sch.mm_bk, sch.mm_tm, sch.mm_tn
        tx_count = bn // tn
        threads = sch.mm_threads
        M, N, K = p["M"], p["N"], p["K"]
        tid = kb.sreg("tid")
        tx = b.urem(tid, i64(tx_count), name="tx")
        ty_ = b.udiv(tid, i64(tx_count), name="ty")
        a_sh = kb.shared(ty, bk * bm, "As")       # As[k][row]
        b_sh = kb.shared(ty, bk * bn, "Bs")       # Bs[k][col]
        acc = [[kb.slot(ty, f"acc{i}_{j}") for j in range(tn)] for i in range(tm)]
        fma = kb.declare(f"llvm.fma.{'f64' if dtype == 'float64' else 'f32'}", ty, [ty] * 3) \
            if is_float(dtype) else None

        with kb.block_stride(p["nbatch"], "bz", "z") as bz:
            bidx = kb.decompose(bz, [p[f"bd{d}"] for d in range(nb)])
            off_a = kb.offset(bidx, [p[f"bsa{d}"] for d in range(nb)])
            off_b = kb.offset(bidx, [p[f"bsb{d}"] for d in range(nb)])
            c_base = b.mul(bz, b.mul(M, N))
            with kb.block_stride(_ceil_div(b, M, bm), "tm", "y") as tile_m:
                with kb.block_stride(_ceil_div(b, N, bn), "tn", "x") as tile_n:
                    row0, col0 = b.mul(tile_m, i64(bm)), b.mul(tile_n, i64(bn))
                    for row in acc:
                        for slot in row:
                            b.store(zero, slot)
                    with kb.loop(i64(0), K, i64(bk), "k0") as k0:
                        _stage(kb, p["A"], a_sh, tid, threads, bm * bk, bk, zero, off_a,
                               rows=(row0, M, p["sam"]), cols=(k0, K, p["sak"]),
                               to_shared=lambda r, c: b.add(b.mul(c, i64(bm)), r))
                        _stage(kb, p["B"], b_sh, tid, threads, bk * bn, bn, zero, off_b,
                               rows=(k0, K, p["sbk"]), cols=(col0, N, p["sbn"]),
                               to_shared=lambda r, c: b.add(b.mul(r, i64(bn)), c))
                        kb.barrier()
                        a_row = b.mul(ty_, i64(tm))
                        b_col = b.mul(tx, i64(tn))
                        for kk in range(bk):
                            av = [b.load(b.gep(a_sh, [b.add(i64(kk * bm + i), a_row)])) for i in range(tm)]
                            bv = [b.load(b.gep(b_sh, [b.add(i64(kk * bn + j), b_col)])) for j in range(tn)]
                            for i in range(tm):
                                for j in range(tn):
                                    cur = b.load(acc[i][j])
                                    if fma is not None:
                                        new = b.call(fma, [av[i], bv[j], cur])
                                    else:
                                        new = b.add(cur, b.mul(av[i], bv[j]))
                                    b.store(new, acc[i][j])
                        kb.barrier()
                    for i in range(tm):
                        r = b.add(b.add(row0, b.mul(ty_, i64(tm))), i64(i))
                        for j in range(tn):
                            c = b.add(b.add(col0, b.mul(tx, i64(tn))), i64(j))
                            inside = b.and_(b.icmp_signed("<", r, M), b.icmp_signed("<", c, N))
                            with kb.if_(inside):
                                at = b.add(c_base, b.add(b.mul(r, N), c))
                                b.store(b.load(acc[i][j]), b.gep(p["C"], [at]))
    return emit


def _stage(kb, src, dst, tid, threads, count, width, zero, base, rows, cols, to_shared):
    """Copy a tile of ``count`` elements (``width`` per row) of ``src`` into
    shared ``dst``; elements past the matrix edges are zero. The address of
    an outside element is clamped to ``base`` (a valid element: the loops
    run only when the matrix is not empty) and its value discarded."""
    b = kb.b
    row0, nrows, srow = rows
    col0, ncols, scol = cols
    for e in range(count // threads):
        idx = b.add(tid, i64(e * threads))
        r, c = b.udiv(idx, i64(width)), b.urem(idx, i64(width))
        gr, gc = b.add(row0, r), b.add(col0, c)
        inside = b.and_(b.icmp_signed("<", gr, nrows), b.icmp_signed("<", gc, ncols))
        addr = b.add(base, b.add(b.mul(gr, srow), b.mul(gc, scol)))
        v = b.load(b.gep(src, [b.select(inside, addr, base)]))
        b.store(b.select(inside, v, zero), b.gep(dst, [to_shared(r, c)]))


def matmul_kernel(name, dtype, nb):
    return KernelSpec(name, matmul_params(dtype, nb), _emit(dtype, nb), f"matmul {dtype} batch-dims={nb}",
                      barriers=True)
