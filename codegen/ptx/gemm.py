"""Matrix-product kernels: C[b] = epilogue(A[b] @ B[b], extras...).

Every kernel takes

    NAME(A, B, C, M, N, K, sam, sak, sbk, sbn, nbatch, nsplit, ksplit,
         bd0, bsa0, bsb0, ..., E0, e0_row, e0_col, e0_b0, ..., E1, ...)

A and B with any strides (transposed views included), broadcast batch dims
``bd`` with A's and B's strides (0 where broadcast); C is C-contiguous
(nsplit, batch, M, N). grid.z walks slice x batch: slice s sums k in
[s*ksplit, min(K, (s+1)*ksplit)) (split-K: partial products, summed by
``splitk_reduce_kernel``; nsplit 1, ksplit >= K: the whole product).
``E_k`` are the extra inputs of a fused
epilogue (``GemmEpilogue``: a ``MapProgram`` whose inputs are the product
and the extras), each with its strides along rows, columns and the batch
dims (0 where broadcast, e.g. a bias). Tiles (one flattened loop over
tile rows x columns) and batches are walked with grid strides, so any
grid computes all of C.

Registers: the kernels carry launch bounds (``.maxntid``, ``.minnctapersm``:
``SIMT_MIN_BLOCKS``, ``MMA_MIN_BLOCKS``) so ptxas fits 2 blocks of 256
threads per SM (<= 128 registers) where that does not spill. Two things
keep them there: the single tile loop (with nested row/column loops LLVM
hoisted the epilogue's per-row addresses out of the column loop, live
across the whole K loop) and the K offset of each tile passed through an
optimization barrier (``_opaque``), so the staging addresses are
recomputed per tile instead of held as loop invariants.

Two families, both double-buffered (the next K tile is loaded from global
memory into registers while the current one is computed from shared
memory, then stored into the other shared buffer: one barrier per tile):

* ``simt`` (CUDA cores; every dtype): a block computes a BM x BN tile,
  each thread a TM x TN register tile made of VxV chunks spread over the
  block tile (thread (ty, tx) owns rows ``g*nty*V + ty*V + [0, V)``), so
  the fragment reads from shared memory are V-wide vector loads. A is
  staged as As[k][m] with its rows padded to BM + 32/BK elements, which
  makes the transposing stores conflict-free; B as Bs[k][n]. Variants:
  ``full`` (the Schedule's tile, 128x128x8 with 8x8 per thread on the
  GPU), ``rows`` (BM/4 x BN, for M small), ``cols`` (BM x BN/4, N small);
  the host picks one per call.
* ``wgmma`` (``gemm_wgmma.py``, sm_90a): warpgroups of 128 threads, each
  64 rows x the block's columns, operands in shared memory described by
  matrix descriptors.
* ``mma`` (tensor cores, sm_80+): warps of the block tile the block tile,
  each computing 16x8 pieces with ``mma.sync`` (``gemm_mma.py``): TF32
  (float32 inputs rounded with cvt.rna when staged; opt-in) or f16/bf16
  inputs (raw 16-bit patterns, uint16 pointers) with f32 accumulation.
  A is staged as As[m][k] and B as Bs[k][n] (tf32) or Bs[n][k] (16-bit),
  rows padded so the fragment loads of a warp hit 32 distinct banks.
"""
from dataclasses import dataclass

import llvmlite.ir as lir

from ...ir.types import is_float
from ..llvm_util import I32, ITEMSIZE, LLTYPE
from .kernel import KernelSpec, i64

# resident blocks per SM the CUDA-core kernels are register-capped for (launch bounds): 2 (128
# registers for 256 threads), except where ptxas -v showed spills under that cap
SIMT_MIN_BLOCKS = {("float64", "rows"): 1}
# tensor-core kernels: tf32 fits 128 registers without spills (2 blocks per SM); the 16-bit
# kernels' staged halves take a register each and would spill 24 bytes on sm_90
MMA_MIN_BLOCKS = {"tf32": 2, "f16": 1, "bf16": 1}
HALF_KINDS = ("f16", "bf16")        # 16-bit mma inputs, stored as uint16 patterns


@dataclass(frozen=True)
class SimtTile:
    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self):
        return (self.bm // self.tm) * (self.bn // self.tn)


@dataclass(frozen=True)
class MmaTile:
    bm: int
    bn: int
    bk: int
    warps_m: int
    warps_n: int

    @property
    def threads(self):
        return 32 * self.warps_m * self.warps_n


def simt_tiles(sch, dtype="float32"):
    """{variant: SimtTile} of a Schedule: the full tile and the two skinny
    ones (same thread count, a quarter of the rows or of the columns). For
    8-byte dtypes a register tile of 8 rows or more is halved (with the
    block tile's rows): 64 doubles of accumulators would not fit."""
    bm, bn, bk, tm, tn = sch.mm_bm, sch.mm_bn, sch.mm_bk, sch.mm_tm, sch.mm_tn
    if ITEMSIZE.get(dtype, 4) == 8 and tm >= 8:
        bm, tm = bm // 2, tm // 2
    threads = (bm // tm) * (bn // tn)

    def shrink(tile, reg):          # the largest factor keeping >= 1 staged element per thread
        return next(f for f in (4, 2, 1) if reg % f == 0 and (tile // f) * bk % threads == 0
                    and (tile // f) * bk >= threads)
    fm, fn = shrink(bm, tm), shrink(bn, tn)
    return {"full": SimtTile(bm, bn, bk, tm, tn),
            "rows": SimtTile(bm // fm, bn, bk, tm // fm, tn),
            "cols": SimtTile(bm, bn // fn, bk, tm, tn // fn)}


def simt_variant(sch, m, n, dtype="float32"):
    """The tile variant the host launches for an M x N product."""
    tiles = simt_tiles(sch, dtype)
    if m <= tiles["rows"].bm and n > tiles["full"].bn // 2:
        return "rows"
    if n <= tiles["cols"].bn and m > tiles["full"].bm // 2:
        return "cols"
    return "full"


def mma_tile(sch, kind):
    """The tensor-core block tile: 128x128 with 4x2 warps (32x64 each) on the GPU
    schedule, 32x32 with 2x2 warps for small (emulator) schedules."""
    big = sch.mm_bm >= 128 and sch.mm_bn >= 128
    bm = bn = 128 if big else 32
    bk = 16 if big else (8 if kind == "tf32" else 16)
    return MmaTile(bm, bn, bk, 4 if big else 2, 2)


class GemmEpilogue:
    """What the kernel stores for each element: ``program`` (a MapProgram)
    with the product at the input positions ``acc`` and the other inputs
    (the extras, in order) read from memory; ``ops`` are the IR ops it
    replaces (for descriptions)."""

    def __init__(self, program, acc, ops=()):
        self.program = program
        self.acc = tuple(acc)
        self.ops = tuple(ops)
        self.extras = [k for k in range(len(program.in_dtypes)) if k not in self.acc]

    @property
    def out_dtype(self):
        return self.program.out_dtypes[0]

    def key(self):
        return (self.program.key(), self.acc)

    def describe(self):
        return self.program.describe()


def gemm_params(in_dtype, out_dtype, nb, epilogue=None):
    params = [("A", in_dtype), ("B", in_dtype), ("C", out_dtype)]
    params += [(n, "i64") for n in ("M", "N", "K", "sam", "sak", "sbk", "sbn", "nbatch", "nsplit", "ksplit")]
    for d in range(nb):
        params += [(f"bd{d}", "i64"), (f"bsa{d}", "i64"), (f"bsb{d}", "i64")]
    if epilogue is not None:
        for j, k in enumerate(epilogue.extras):
            params += [(f"E{j}", epilogue.program.in_dtypes[k]), (f"e{j}_row", "i64"), (f"e{j}_col", "i64")]
            params += [(f"e{j}_b{d}", "i64") for d in range(nb)]
    return params


def _ceil_div(b, n, k):
    return b.udiv(b.add(n, i64(k - 1)), i64(k))


def _ptr_as(b, ptr, elem):
    """``ptr`` reinterpreted as a pointer to ``elem`` (same address space)."""
    return b.bitcast(ptr, elem.as_pointer(getattr(ptr.type, "addrspace", 0)))


class _Frame:
    """The walk shared by every kernel: batches (grid.z) and block tiles
    (grid.y rows, grid.x columns), the operands' batch offsets, and the
    epilogue store of one element."""

    def __init__(self, kb, nb, bm, bn, epilogue):
        self.kb, self.nb, self.bm, self.bn, self.epilogue = kb, nb, bm, bn, epilogue

    def walk(self, body):
        kb, b, p = self.kb, self.kb.b, self.kb.p
        # grid.z walks nsplit x nbatch products: z = slice * nbatch + batch; slice s
        # sums k in [s*ksplit, min(K, (s+1)*ksplit)) into C[z] (nsplit 1: all of K)
        with kb.block_stride(b.mul(p["nbatch"], p["nsplit"]), "z", "z") as z:
            split = b.udiv(z, p["nbatch"])
            bz = b.sub(z, b.mul(split, p["nbatch"]))
            k_begin = b.mul(split, p["ksplit"])
            k_end = kb.min(p["K"], b.add(k_begin, p["ksplit"]))
            self.k_len = b.select(b.icmp_signed("<", k_begin, k_end), b.sub(k_end, k_begin), i64(0))
            bidx = kb.decompose(bz, [p[f"bd{d}"] for d in range(self.nb)])
            # the slice's first k folded into the operands' offsets: kernels index k
            # from 0 to k_len (no more live values than without split-K)
            self.off_a = b.add(kb.offset(bidx, [p[f"bsa{d}"] for d in range(self.nb)]), b.mul(k_begin, p["sak"]))
            self.off_b = b.add(kb.offset(bidx, [p[f"bsb{d}"] for d in range(self.nb)]), b.mul(k_begin, p["sbk"]))
            self.c_base = b.mul(z, b.mul(p["M"], p["N"]))
            self.off_e = []
            if self.epilogue is not None:
                for j in range(len(self.epilogue.extras)):
                    self.off_e.append(kb.offset(bidx, [p[f"e{j}_b{d}"] for d in range(self.nb)]))
            # one loop over the flattened tiles (block y * grid x + block x, so an
            # uncapped grid gives block (x, y) tile (y, x)): a tile's rows and
            # columns both change with the loop, so LLVM cannot hoist the
            # epilogue's per-row addresses out of an inner column loop, where
            # they would stay live across the whole K loop (32 registers)
            tiles_n = _ceil_div(b, p["N"], self.bn)
            ntiles = b.mul(_ceil_div(b, p["M"], self.bm), tiles_n)
            first = b.add(b.mul(kb.sreg("ctaid", "y"), kb.sreg("nctaid", "x")), kb.sreg("ctaid", "x"))
            step = b.mul(kb.sreg("nctaid", "y"), kb.sreg("nctaid", "x"))
            with kb.loop(first, ntiles, step, "tile") as t:
                tile_m = b.udiv(t, tiles_n)
                tile_n = b.sub(t, b.mul(tile_m, tiles_n))
                body(b.mul(tile_m, i64(self.bm)), b.mul(tile_n, i64(self.bn)))

    def store(self, row, col, value):
        """C[row, col] = epilogue(value) where (row, col) is inside C."""
        kb, b, p = self.kb, self.kb.b, self.kb.p
        inside = b.and_(b.icmp_signed("<", row, p["M"]), b.icmp_signed("<", col, p["N"]))
        with kb.if_(inside):
            ep = self.epilogue
            if ep is not None:
                ins = [None] * len(ep.program.in_dtypes)
                for k in ep.acc:
                    ins[k] = value
                for j, k in enumerate(ep.extras):
                    at = b.add(self.off_e[j], b.add(b.mul(row, p[f"e{j}_row"]), b.mul(col, p[f"e{j}_col"])))
                    ins[k] = b.load(b.gep(p[f"E{j}"], [at]))
                value = ep.program.evaluate(kb, ins)[0]
            at = b.add(self.c_base, b.add(b.mul(row, p["N"]), col))
            b.store(value, b.gep(p["C"], [at]))


def _positions(kb, count, threads, width):
    """(tile row, tile col) of the ``count // threads`` elements a thread
    stages: element e is tile position ``tid + e*threads`` (``width`` per
    row). When ``width`` divides ``threads`` it is row r0 + e*step of the
    thread's own column, so every address is one value plus a constant."""
    b = kb.b
    tid = kb.sreg("tid")
    if threads % width == 0:
        step = threads // width
        r0, c = b.udiv(tid, i64(width)), b.urem(tid, i64(width))
        return [(b.add(r0, i64(e * step)), c) for e in range(count // threads)]
    out = []
    for e in range(count // threads):
        idx = b.add(tid, i64(e * threads))
        out.append((b.udiv(idx, i64(width)), b.urem(idx, i64(width))))
    return out


def _fetch(kb, src, base, positions, rows, cols, zero):
    """The values of a tile at ``positions``; zero past the matrix edges
    (the address is clamped to ``base``, a valid element, and discarded)."""
    b = kb.b
    row0, nrows, srow = rows
    col0, ncols, scol = cols
    out = []
    for r, c in positions:
        gr, gc = b.add(row0, r), b.add(col0, c)
        inside = b.and_(b.icmp_signed("<", gr, nrows), b.icmp_signed("<", gc, ncols))
        addr = b.add(base, b.add(b.mul(gr, srow), b.mul(gc, scol)))
        v = b.load(b.gep(src, [b.select(inside, addr, base)]))
        out.append(b.select(inside, v, zero))
    return out


def _opaque(kb, v):
    """``v`` through an optimization barrier on NVPTX (an empty inline asm
    move): LLVM cannot hoist expressions of it out of the loop that
    computes it, so loop-invariant combinations (row offsets, bounds minus
    constants) are recomputed per K tile instead of held in registers."""
    if kb.target.name != "ptx":
        return v
    return kb.b.asm(lir.FunctionType(v.type, [v.type]), "mov.b64 $0, $1;", "=l,l", [v], True)


def _launch_bounds(kb, threads, min_blocks):
    """``.maxntid threads`` and ``.minnctapersm min_blocks`` on NVPTX: ptxas
    then keeps the kernel within 65536 / (threads * min_blocks) registers
    per thread (128 for 256 threads, 2 blocks per SM)."""
    if kb.target.name != "ptx":
        return
    md = kb.module.add_named_metadata("nvvm.annotations")
    md.add(kb.module.add_metadata([kb.fn, "maxntidx", lir.Constant(I32, threads)]))
    md.add(kb.module.add_metadata([kb.fn, "minctasm", lir.Constant(I32, min_blocks)]))


class _Pipeline:
    """Double buffering: ``fetch(k0)`` loads a K tile into registers
    (slots), ``put(buf)`` stores them into shared buffer ``buf`` (0/1),
    ``compute(buf)`` uses a buffer."""

    def __init__(self, kb, fetch, put, compute, reg_types, settle=None):
        """``settle()`` runs before every barrier (wgmma: wait for the
        product in flight, make the shared stores visible to it)."""
        self.kb, self.fetch, self.put, self.compute = kb, fetch, put, compute
        self.settle = settle or (lambda: None)
        self.slots = [kb.slot(t, f"pf{j}") for j, t in enumerate(reg_types)]

    def run(self, K, bk):
        kb, b = self.kb, self.kb.b
        ntiles = _ceil_div(b, K, bk)
        self._load(i64(0))
        self.put(i64(0), self._regs())
        self.settle()
        kb.barrier()
        with kb.loop(i64(0), ntiles, i64(1), "kt") as kt:
            nxt = b.add(kt, i64(1))
            more = b.icmp_signed("<", nxt, ntiles)
            with kb.if_(more):
                self._load(b.mul(nxt, i64(bk)))
            cur = b.and_(kt, i64(1))
            self.compute(cur)
            with kb.if_(more):
                self.put(b.xor(cur, i64(1)), self._regs())
            self.settle()
            kb.barrier()

    def _load(self, k0):
        for slot, v in zip(self.slots, self.fetch(k0)):
            self.kb.b.store(v, slot)

    def _regs(self):
        return [self.kb.b.load(s) for s in self.slots]


# --- CUDA cores --------------------------------------------------------------------------------------
def _vec_width(t, ld, itemsize):
    for v in (4, 2, 1):
        if t % v == 0 and ld % v == 0 and v * itemsize <= 16:
            return v
    return 1


def _emit_simt(dtype, nb, variant, epilogue):
    def emit(kb, sch):
        b, p = kb.b, kb.p
        tile = simt_tiles(sch, dtype)[variant]
        ty = LLTYPE[dtype]
        zero = lir.Constant(ty, 0.0 if is_float(dtype) else 0)
        bm, bn, bk, tm, tn = tile.bm, tile.bn, tile.bk, tile.tm, tile.tn
        nty, ntx = bm // tm, bn // tn
        threads = tile.threads
        _launch_bounds(kb, threads, SIMT_MIN_BLOCKS.get((dtype, variant), 2))
        lda = bm + max(1, 32 // bk)           # As[k][m]: conflict-free transposing stores
        ldb = bn
        size = ITEMSIZE[dtype]
        vm, vn = _vec_width(tm, lda, size), _vec_width(tn, ldb, size)
        a_sh = kb.shared(ty, 2 * bk * lda, "As")
        b_sh = kb.shared(ty, 2 * bk * ldb, "Bs")
        tid = kb.sreg("tid")
        tx, ty_ = b.urem(tid, i64(ntx), name="tx"), b.udiv(tid, i64(ntx), name="ty")
        acc = [[kb.slot(ty, f"acc{i}_{j}") for j in range(tn)] for i in range(tm)]
        fma = kb.declare(f"llvm.fma.{'f64' if dtype == 'float64' else 'f32'}", ty, [ty] * 3) \
            if is_float(dtype) else None
        na, nbb = bm * bk // threads, bk * bn // threads
        if min(na, nbb) < 1 or (bm * bk) % threads or (bk * bn) % threads:
            raise ValueError(f"gemm: tile {tile} does not split evenly over its {threads} threads")
        pos_a, pos_b = _positions(kb, bm * bk, threads, bk), _positions(kb, bk * bn, threads, bn)
        # rows (cols) of the register tile: chunk g of width v at g*n*v + t*v
        a_rows = [(i // vm) * nty * vm + i % vm for i in range(tm)]
        b_cols = [(j // vn) * ntx * vn + j % vn for j in range(tn)]
        frame = _Frame(kb, nb, bm, bn, epilogue)

        def tile_body(row0, col0):
            for row in acc:
                for s in row:
                    b.store(zero, s)

            def fetch(k0):
                k0 = _opaque(kb, k0)
                return _fetch(kb, p["A"], frame.off_a, pos_a, zero=zero,
                              rows=(row0, p["M"], p["sam"]), cols=(k0, frame.k_len, p["sak"])) + \
                    _fetch(kb, p["B"], frame.off_b, pos_b, zero=zero,
                           rows=(k0, frame.k_len, p["sbk"]), cols=(col0, p["N"], p["sbn"]))

            def put(buf, regs):
                for (r, c), v in zip(pos_a, regs[:na]):                 # As[k][m]
                    at = b.add(b.mul(buf, i64(bk * lda)), b.add(b.mul(c, i64(lda)), r))
                    b.store(v, b.gep(a_sh, [at]))
                for (r, c), v in zip(pos_b, regs[na:]):                 # Bs[k][n]
                    at = b.add(b.mul(buf, i64(bk * ldb)), b.add(b.mul(r, i64(ldb)), c))
                    b.store(v, b.gep(b_sh, [at]))

            def frag(base, v, count, n):
                vals = []
                for g in range(count // v):
                    ptr = b.gep(base, [i64(g * n * v)])
                    if v == 1:
                        vals.append(b.load(ptr))
                    else:
                        vec = b.load(_ptr_as(b, ptr, lir.VectorType(ty, v)), align=v * size)
                        vals += [b.extract_element(vec, lir.Constant(I32, q)) for q in range(v)]
                return vals

            def compute(buf):
                a_base = b.gep(a_sh, [b.add(b.mul(buf, i64(bk * lda)), b.mul(ty_, i64(vm)))])
                b_base = b.gep(b_sh, [b.add(b.mul(buf, i64(bk * ldb)), b.mul(tx, i64(vn)))])
                for kk in range(bk):
                    av = frag(b.gep(a_base, [i64(kk * lda)]), vm, tm, nty)
                    bv = frag(b.gep(b_base, [i64(kk * ldb)]), vn, tn, ntx)
                    for i in range(tm):
                        for j in range(tn):
                            cur = b.load(acc[i][j])
                            new = b.call(fma, [av[i], bv[j], cur]) if fma is not None else \
                                b.add(cur, b.mul(av[i], bv[j]))
                            b.store(new, acc[i][j])

            _Pipeline(kb, fetch, put, compute, [ty] * (na + nbb)).run(frame.k_len, bk)
            for i in range(tm):
                r = b.add(row0, b.add(b.mul(ty_, i64(vm)), i64(a_rows[i])))
                for j in range(tn):
                    c = b.add(col0, b.add(b.mul(tx, i64(vn)), i64(b_cols[j])))
                    frame.store(r, c, b.load(acc[i][j]))

        frame.walk(tile_body)
    return emit


# --- tensor cores ---------------------------------------------------------------------------------------
def _emit_mma(kind, nb, epilogue):
    def emit(kb, sch):
        b, p = kb.b, kb.p
        tile = mma_tile(sch, kind)
        half = kind in HALF_KINDS
        bm, bn, bk = tile.bm, tile.bn, tile.bk
        wm, wn = bm // tile.warps_m, bn // tile.warps_n
        mt, nt = wm // 16, wn // 8
        kstep = 16 if half else 8
        threads = tile.threads
        _launch_bounds(kb, threads, MMA_MIN_BLOCKS[kind])
        st = lir.IntType(16) if half else I32           # staged element: 16-bit pattern / tf32 bits
        src_zero = lir.Constant(lir.IntType(16), 0) if half else lir.Constant(lir.FloatType(), 0.0)
        pad = 8 if half else 4                          # 16 bytes
        lda = bk + pad                                  # As[m][k]
        if half:
            ldb = bk + pad                              # Bs[n][k]
            b_count = bn * ldb
        else:
            ldb = bn + 8                                # Bs[k][n]
            b_count = bk * ldb
        a_sh = kb.shared(st, 2 * bm * lda, "As")
        b_sh = kb.shared(st, 2 * b_count, "Bs")
        tid = kb.sreg("tid")
        lane, warp = b.and_(tid, i64(31)), b.lshr(tid, i64(5))
        g, t = b.lshr(lane, i64(2)), b.and_(lane, i64(3))
        w_m, w_n = b.udiv(warp, i64(tile.warps_n)), b.urem(warp, i64(tile.warps_n))
        r_thr, c_thr = b.add(b.mul(w_m, i64(wm)), g), b.add(b.mul(w_n, i64(wn)), b.shl(t, i64(1)))
        b_lane = b.add(b.mul(t, i64(ldb)), b.add(b.mul(w_n, i64(wn)), g))        # tf32: Bs[t][n]
        # ldmatrix rows (16 bytes: 8 halves or 4 tf32): lane l gives row l % 8 of
        # matrix l // 8; A: matrices (rows 0-7 | 8-15) x (first | second 16 bytes
        # of k), which are exactly the a0..a3 fragments of both mma shapes;
        # B (16-bit, Bs[n][k]): n 0-7 x (k 0-7 | 8-15)
        quad, row8 = b.lshr(lane, i64(3)), b.and_(lane, i64(7))
        a_row = b.add(b.mul(b.add(b.add(b.mul(w_m, i64(wm)), row8), b.mul(b.and_(quad, i64(1)), i64(8))), i64(lda)),
                      b.mul(b.lshr(quad, i64(1)), i64(8 if half else 4)))
        b_row = b.add(b.mul(b.add(b.mul(w_n, i64(wn)), row8), i64(ldb)), b.mul(b.and_(quad, i64(1)), i64(8)))
        f32 = lir.FloatType()
        acc = [[[kb.slot(f32, f"acc{i}_{j}_{q}") for q in range(4)] for j in range(nt)] for i in range(mt)]
        na, nbb = bm * bk // threads, bk * bn // threads
        pos_a, pos_b = _positions(kb, bm * bk, threads, bk), _positions(kb, bk * bn, threads, bn)
        frame = _Frame(kb, nb, bm, bn, epilogue)

        def stage_value(v):
            return v if half else kb.tf32(v)

        def tile_body(row0, col0):
            for s in (s for r in acc for c in r for s in c):
                b.store(lir.Constant(f32, 0.0), s)

            def fetch(k0):
                k0 = _opaque(kb, k0)
                return _fetch(kb, p["A"], frame.off_a, pos_a, zero=src_zero,
                              rows=(row0, p["M"], p["sam"]), cols=(k0, frame.k_len, p["sak"])) + \
                    _fetch(kb, p["B"], frame.off_b, pos_b, zero=src_zero,
                           rows=(k0, frame.k_len, p["sbk"]), cols=(col0, p["N"], p["sbn"]))

            def put(buf, regs):
                for (r, c), v in zip(pos_a, regs[:na]):                 # As[m][k]
                    at = b.add(b.mul(buf, i64(bm * lda)), b.add(b.mul(r, i64(lda)), c))
                    b.store(stage_value(v), b.gep(a_sh, [at]))
                for e, (r, c) in enumerate(pos_b):                      # k, n
                    pos = b.add(b.mul(c, i64(ldb)), r) if half else b.add(b.mul(r, i64(ldb)), c)
                    at = b.add(b.mul(buf, i64(b_count)), pos)
                    b.store(stage_value(regs[na + e]), b.gep(b_sh, [at]))

            def compute(buf):
                # per-thread bases; every fragment is base + a constant (ld.shared [r+imm])
                a_ldm = b.gep(a_sh, [b.add(b.mul(buf, i64(bm * lda)), a_row)])
                b_thr = b.gep(b_sh, [b.add(b.mul(buf, i64(b_count)), b_row if half else b_lane)])
                for ks in range(bk // kstep):
                    a_frags = []
                    for i in range(mt):
                        # one ldmatrix.x4: this lane's row of the 16 x kstep A piece
                        a_frags.append(kb.ldmatrix(b.gep(a_ldm, [i64(i * 16 * lda + ks * kstep)]), 4))
                    for j in range(nt):
                        if half:        # ldmatrix.x2 of Bs[n][k]: rows n, k pairs packed
                            regs = kb.ldmatrix(b.gep(b_thr, [i64(j * 8 * ldb + ks * kstep)]), 2)
                        else:           # tf32 b0 = B[t][g], b1 = B[t + 4][g] of Bs[k][n]
                            regs = [b.load(b.gep(b_thr, [i64((ks * kstep + 4 * q) * ldb + j * 8)]))
                                    for q in range(2)]
                        for i in range(mt):
                            d = kb.mma(kind, a_frags[i], regs, [b.load(s) for s in acc[i][j]])
                            for s, v in zip(acc[i][j], d):
                                b.store(v, s)

            in_ty = lir.IntType(16) if half else f32
            _Pipeline(kb, fetch, put, compute, [in_ty] * (na + nbb)).run(frame.k_len, bk)
            for i in range(mt):
                for j in range(nt):
                    for q in range(4):
                        r = b.add(b.add(row0, r_thr), i64(i * 16 + 8 * (q >> 1)))
                        c = b.add(b.add(col0, c_thr), i64(j * 8 + (q & 1)))
                        frame.store(r, c, b.load(acc[i][j][q]))

        frame.walk(tile_body)
    return emit


# --- split-K ---------------------------------------------------------------------------------------------
def splitk_reduce_kernel(name, dtype):
    """C[i] = W[0, i] + W[1, i] + ... + W[nsplit-1, i] for i < total: the
    partial products of a split-K product summed in slice order (the same
    result on every run)."""
    def emit(kb, sch):
        b, p = kb.b, kb.p
        add = b.fadd if is_float(dtype) else b.add
        acc = kb.slot(LLTYPE[dtype], "sum")
        with kb.grid_stride(p["total"]) as i:
            b.store(b.load(b.gep(p["W"], [i])), acc)
            with kb.loop(i64(1), p["nsplit"], i64(1), "s") as s:
                b.store(add(b.load(acc), b.load(b.gep(p["W"], [b.add(b.mul(s, p["total"]), i)]))), acc)
            b.store(b.load(acc), b.gep(p["C"], [i]))
    return KernelSpec(name, [("W", dtype), ("C", dtype), ("total", "i64"), ("nsplit", "i64")], emit,
                      f"split-K reduction {dtype}: C = sum over slices of W (slice order)")


# --- specs ------------------------------------------------------------------------------------------------
def simt_kernel(name, dtype, nb, variant, epilogue=None):
    """CUDA-core kernel; its tile is ``simt_tiles(schedule)[variant]`` of
    the schedule it is built with."""
    out = epilogue.out_dtype if epilogue is not None else dtype
    ep = f", epilogue {epilogue.describe()}" if epilogue is not None else ""
    return KernelSpec(name, gemm_params(dtype, out, nb, epilogue), _emit_simt(dtype, nb, variant, epilogue),
                      f"matmul {dtype} CUDA cores, tile variant {variant}, batch-dims={nb}{ep}", barriers=True)


def mma_kernel(name, kind, nb, epilogue=None, out_dtype="float32"):
    """Tensor-core kernel (tile ``mma_tile(schedule, kind)``); A/B are
    float32 (kind tf32) or uint16 patterns (f16/bf16); C is float32 (or the
    epilogue's dtype)."""
    in_dtype = "uint16" if kind in HALF_KINDS else "float32"
    out = epilogue.out_dtype if epilogue is not None else out_dtype
    ep = f", epilogue {epilogue.describe()}" if epilogue is not None else ""
    return KernelSpec(name, gemm_params(in_dtype, out, nb, epilogue), _emit_mma(kind, nb, epilogue),
                      f"matmul {kind} tensor cores (mma.sync m16n8k{8 if kind == 'tf32' else 16}), "
                      f"batch-dims={nb}{ep}", barriers=True)
