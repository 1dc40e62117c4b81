"""Warp-level tensor-core primitives of the kernel-spec layer, per target.

    mma(kb, kind, a, b, c) -> d      one ``mma.sync.aligned`` of a warp:
        kind "tf32": m16n8k8  .row.col.f32.tf32.tf32.f32  (a: 4 x i32, b: 2 x i32)
        kind "f16":  m16n8k16 .row.col.f32.f16.f16.f32    (a: 4 x i32 = 8 halves, b: 2 x i32)
        kind "bf16": m16n8k16 .row.col.f32.bf16.bf16.f32
        c, d: 4 x f32. The registers hold the fragments of the PTX ISA
        (lane l, g = l >> 2, t = l & 3; ``FRAGMENTS`` below).
    tf32(kb, x) -> i32               ``cvt.rna.tf32.f32``: x rounded to a
        10-bit mantissa, to nearest with ties away from zero.

``PtxTarget`` lowers them to inline PTX. ``HostTarget`` (the emulator)
computes the same semantics: every lane writes its fragments into a
per-warp scratch matrix (block-shared memory), the block waits at a
barrier, every lane computes its own elements of D from the whole A, B, C
of its warp, and a second barrier protects the scratch. So on the host an
``mma`` must be reached by every thread of the block the same number of
times (true of ``.aligned`` mma in uniform code, as the GEMM kernels use
it), and blocks are 1-D (lane = tid.x % 32, warp = tid.x / 32).
"""
import llvmlite.ir as lir

from .. import half
from ..llvm_util import I32, I64, i64

F32 = lir.FloatType()

# kind -> (m, n, k, a regs, b regs, PTX type)
KINDS = {"tf32": (16, 8, 8, 4, 2, "tf32"), "f16": (16, 8, 16, 4, 2, "f16"), "bf16": (16, 8, 16, 4, 2, "bf16")}
SCRATCH_PER_WARP = 16 * 16 + 16 * 8 + 16 * 8       # A (<= 16x16), B (<= 16x8), C (16x8), as f32
MAX_WARPS = 32


def a_coords(kind, i, g, t):
    """(row, col) of A held by register ``i`` (for f16/bf16: its low half;
    the high half is col + 1)."""
    if kind == "tf32":
        return g + 8 * (i & 1), t + 4 * (i >> 1)
    return g + 8 * (i & 1), 2 * t + 8 * (i >> 1)


def b_coords(kind, i, g, t):
    """(k, n) of B held by register ``i`` (f16/bf16: low half; high: k + 1)."""
    if kind == "tf32":
        return t + 4 * i, g
    return 2 * t + 8 * i, g


def c_coords(i, g, t):
    """(row, col) of C/D held by register ``i``."""
    return g + 8 * (i >> 1), 2 * t + (i & 1)


# --- PTX ------------------------------------------------------------------------------------------
def ptx_mma(kb, kind, a, b, c):
    m, n, k, _, _, ptype = KINDS[kind]
    asm = (f"mma.sync.aligned.m{m}n{n}k{k}.row.col.f32.{ptype}.{ptype}.f32 "
           "{$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};")
    ret = lir.LiteralStructType([F32] * 4)
    fty = lir.FunctionType(ret, [I32] * 6 + [F32] * 4)
    r = kb.b.asm(fty, asm, "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f", list(a) + list(b) + list(c), False)
    return [kb.b.extract_value(r, j) for j in range(4)]


def ptx_ldmatrix(kb, row_ptr, count):
    regs = ", ".join(f"${j}" for j in range(count))
    asm = f"ldmatrix.sync.aligned.m8n8.x{count}.shared.b16 {{{regs}}}, [${count}];"
    ret = lir.LiteralStructType([I32] * count)
    addr = kb.b.ptrtoint(row_ptr, I64)
    r = kb.b.asm(lir.FunctionType(ret, [I64]), asm, ",".join(["=r"] * count + ["l"]), [addr], True)
    return [kb.b.extract_value(r, j) for j in range(count)]


def ptx_tf32(kb, x):
    return kb.b.asm(lir.FunctionType(I32, [F32]), "cvt.rna.tf32.f32 $0, $1;", "=r,f", [x], False)


# --- host (emulator) ---------------------------------------------------------------------------------
def host_tf32(kb, x):
    """Round-to-nearest, ties away, on the bits (Inf/NaN unchanged)."""
    b = kb.b
    bits = b.bitcast(x, I32)
    special = b.icmp_unsigned("==", b.and_(bits, lir.Constant(I32, 0x7F800000)), lir.Constant(I32, 0x7F800000))
    rounded = b.and_(b.add(bits, lir.Constant(I32, 0x1000)), lir.Constant(I32, -0x2000))
    return b.select(special, bits, rounded)


def half_to_f32(b, h, kind):
    """The f32 value of the 16-bit pattern ``h`` (i32, low 16 bits): bf16 is
    the top half of an f32; f16 goes through ``codegen/half.py``'s exact
    converter (the emulator's reference semantics)."""
    if kind == "bf16":
        return b.bitcast(b.shl(b.and_(h, lir.Constant(I32, 0xFFFF)), lir.Constant(I32, 16)), F32)
    return half.to_f32(b, b.trunc(h, lir.IntType(16)))


def host_ldmatrix(kb, row_ptr, count):
    """Lane l gives row l % 8 of matrix l // 8; it receives, of each matrix
    j, the 32-bit word l % 4 of row l // 4. The row addresses go through a
    per-warp scratch (two barriers, as host_mma)."""
    b = kb.b
    tid = kb.sreg("tid")
    lane, warp = b.and_(tid, i64(31)), b.lshr(tid, i64(5))
    scratch = getattr(kb, "_ldm_scratch", None)
    if scratch is None:
        with kb.at_entry():
            scratch = kb._ldm_scratch = kb.shared(I64, 32 * MAX_WARPS, "ldm_scratch")
    mine = b.gep(scratch, [b.mul(warp, i64(32))])
    b.store(b.ptrtoint(row_ptr, I64), b.gep(mine, [lane]))
    kb.barrier()
    g, t = b.lshr(lane, i64(2)), b.and_(lane, i64(3))
    out = []
    for j in range(count):
        row = b.load(b.gep(mine, [b.add(i64(8 * j), g)]))
        word = b.add(row, b.shl(t, i64(2)))
        out.append(b.load(b.inttoptr(word, I32.as_pointer()), align=4))
    kb.barrier()
    return out


def _scratch(kb):
    s = getattr(kb, "_mma_scratch", None)
    if s is None:
        with kb.at_entry():
            s = kb._mma_scratch = kb.shared(F32, SCRATCH_PER_WARP * MAX_WARPS, "mma_scratch")
    return s


def host_mma(kb, kind, a, b_regs, c):
    m, n, k, na, nb, _ = KINDS[kind]
    b = kb.b
    tid = kb.sreg("tid")
    lane, warp = b.and_(tid, i64(31)), b.lshr(tid, i64(5))
    g, t = b.lshr(lane, i64(2)), b.and_(lane, i64(3))
    base = b.gep(_scratch(kb), [b.mul(warp, i64(SCRATCH_PER_WARP))])
    sa, sb, sc = base, b.gep(base, [i64(16 * 16)]), b.gep(base, [i64(16 * 16 + 16 * 8)])

    def at(ptr, r, col, width, dr=0, dc=0):
        return b.gep(ptr, [b.add(b.mul(b.add(r, i64(dr)), i64(width)), b.add(col, i64(dc)))])

    # A: m x k row-major; B: k x n row-major; C: m x n
    for i, reg in enumerate(a):
        row, col = a_coords(kind, i, 0, 0)
        vals = [b.bitcast(reg, F32)] if kind == "tf32" else \
            [half_to_f32(b, reg, kind), half_to_f32(b, b.lshr(reg, lir.Constant(I32, 16)), kind)]
        for h, v in enumerate(vals):
            b.store(v, at(sa, g, _lane_col(b, kind, "a", t), k, row, col + h))
    for i, reg in enumerate(b_regs):
        kk, col = b_coords(kind, i, 0, 0)
        vals = [b.bitcast(reg, F32)] if kind == "tf32" else \
            [half_to_f32(b, reg, kind), half_to_f32(b, b.lshr(reg, lir.Constant(I32, 16)), kind)]
        for h, v in enumerate(vals):
            b.store(v, at(sb, _lane_col(b, kind, "b", t), g, n, kk + h, col))
    for i, v in enumerate(c):
        row, col = c_coords(i, 0, 0)
        b.store(v, at(sc, g, b.shl(t, i64(1)), n, row, col))
    kb.barrier()
    fma = kb.declare("llvm.fma.f32", F32, [F32] * 3)
    d = []
    for i in range(4):
        row, col = c_coords(i, 0, 0)
        r_idx, c_idx = b.add(g, i64(row)), b.add(b.shl(t, i64(1)), i64(col))
        acc = b.load(b.gep(sc, [b.add(b.mul(r_idx, i64(n)), c_idx)]))
        for kk in range(k):
            x = b.load(b.gep(sa, [b.add(b.mul(r_idx, i64(k)), i64(kk))]))
            y = b.load(b.gep(sb, [b.add(i64(kk * n), c_idx)]))
            acc = b.call(fma, [x, y, acc])
        d.append(acc)
    kb.barrier()
    return d


def _lane_col(b, kind, which, t):
    """The lane-dependent part of a fragment coordinate: t (tf32) or 2t (f16/bf16)."""
    return t if kind == "tf32" else b.shl(t, i64(1))
