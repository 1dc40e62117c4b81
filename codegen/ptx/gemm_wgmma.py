"""Hopper warpgroup tensor-core kernels (``wgmma.mma_async``, sm_90a).

A warpgroup is 4 consecutive warps (128 threads, ``tid / 128``); one
``wgmma.mma_async.sync.aligned.m64nNkK`` multiplies a 64 x K piece of A by a
K x N piece of B, both read from shared memory through 64-bit *matrix
descriptors*, and adds it to a 64 x N f32 accumulator held in registers:

    kind "tf32": m64nNk8  .f32.tf32.tf32   (float32 staged with cvt.rna.tf32.f32)
    kind "f16":  m64nNk16 .f32.f16.f16     (uint16 patterns)
    kind "bf16": m64nNk16 .f32.bf16.bf16

Accumulator fragment (PTX ISA, "wgmma .m64nNk*: matrix D"): thread with
warp w of its warpgroup and lane l (g = l >> 2, t = l & 3) holds, in
register 4j + q (j < N/8, q < 4), D[16w + g + 8*(q >> 1)][8j + 2t + (q & 1)]
(``d_coords``).

Shared-memory layout: no swizzle (the "interleaved" canonical layout,
swizzle mode 0), both operands K-major (A as [m][k], B as [n][k]; the only
layout TF32 allows, and imm-trans-a/b = 0 for 16-bit). The unit is the
*core matrix*: 8 rows x 16 bytes (8 x 4 tf32, 8 x 8 halves) stored as 128
contiguous bytes, row after row. Element (r, k) of an operand whose
descriptor has start address S, leading byte offset LBO (between core
matrices adjacent along K) and stride byte offset SBO (adjacent along M or
N) is at byte

    S + (r / 8) * SBO + (k*size / 16) * LBO + (r % 8) * 16 + (k*size) % 16

Descriptor bits (PTX ISA, "Matrix Descriptor Format"): 0-13 start address
>> 4 (shared window address), 16-29 LBO >> 4, 32-45 SBO >> 4, 49-51 base
offset (0), 62-63 swizzle mode (0: none). The kernels store core matrices
along K next to each other (LBO = 128) and a row group of 8 after the
previous one (SBO = 128 * BK*size/16), so a staged tile is one contiguous
run and the staging store of position p is element p of the buffer: every
warp writes 128 contiguous bytes per store, conflict-free.

``PtxTarget`` emits inline PTX (``wgmma.fence``, ``mma_async``,
``commit_group``, ``wait_group``, and ``fence.proxy.async.shared::cta``
between the threads' shared stores and the barrier, so the async proxy
that reads the operands sees them). ``HostTarget`` (the emulator) computes
the same product synchronously: every thread decodes both descriptors the
way the hardware does and sums its own accumulator elements from shared
memory (no scratch, no barrier: the operands are already in shared
memory). On the host the start address is relative to the kernel's one
staging array (``smem``), on the GPU it is the shared-window address.
"""
from dataclasses import dataclass

import llvmlite.ir as lir

from ..llvm_util import I32, I64, i64
from .gemm_mma import F32, half_to_f32
from .kernel import KernelSpec

KSTEP = {"tf32": 8, "f16": 16, "bf16": 16}
ELEM_BYTES = {"tf32": 4, "f16": 2, "bf16": 2}
CORE_BYTES = 128            # one core matrix: 8 rows x 16 bytes
SM90A = ("sm_90a",)         # architectures with wgmma (the "a" features are not forward compatible)


def supports_wgmma(target):
    """Whether kernels built for ``target`` may use wgmma (the emulator always can)."""
    return target.name == "host" or getattr(target, "sm", None) in SM90A


def d_coords(i, warp, g, t):
    """(row, col) of the 64 x N accumulator held by register ``i``."""
    return 16 * warp + g + 8 * ((i & 3) >> 1), 8 * (i >> 2) + 2 * t + (i & 1)


def descriptor_fields(desc):
    """{start, lbo, sbo, base_offset, swizzle} (bytes) of a descriptor value."""
    return {"start": (desc & 0x3FFF) << 4, "lbo": ((desc >> 16) & 0x3FFF) << 4,
            "sbo": ((desc >> 32) & 0x3FFF) << 4, "base_offset": (desc >> 49) & 7, "swizzle": desc >> 62}


def element_byte(r, k, size, lbo, sbo):
    """Byte offset of element (r, k) from the start address (no swizzle, K-major)."""
    kb = k * size
    return (r // 8) * sbo + (kb // 16) * lbo + (r % 8) * 16 + kb % 16


def make_descriptor(kb, addr, lbo, sbo):
    """The descriptor (i64) of a no-swizzle operand at shared byte address ``addr`` (i64)."""
    b = kb.b
    for v in (lbo, sbo):
        if v % 16 or v >> 18:
            raise ValueError(f"wgmma descriptor: byte offset {v} is not a multiple of 16 below 2^18")
    start = b.lshr(b.and_(addr, i64(0x3FFFF)), i64(4))
    return b.or_(start, i64(((lbo >> 4) << 16) | ((sbo >> 4) << 32)))


def smem_address(kb, ptr, smem):
    """The address a descriptor holds for ``ptr`` inside the staging array ``smem``."""
    b = kb.b
    addr = b.ptrtoint(ptr, I64)
    if kb.target.name == "host":
        addr = b.sub(addr, b.ptrtoint(smem, I64))
    return addr


# --- PTX ---------------------------------------------------------------------------------------
def _ptx_void(kb, text):
    kb.b.asm(lir.FunctionType(lir.VoidType(), []), text, "~{memory}", [], True)


def fence(kb):
    """``wgmma.fence``: order this thread's register writes (the accumulators)
    before the wgmmas that follow."""
    if kb.target.name == "ptx":
        _ptx_void(kb, "wgmma.fence.sync.aligned;")


def commit(kb):
    if kb.target.name == "ptx":
        _ptx_void(kb, "wgmma.commit_group.sync.aligned;")


def wait(kb, pending=0):
    """``wgmma.wait_group pending``: at most ``pending`` committed groups still run."""
    if kb.target.name == "ptx":
        _ptx_void(kb, f"wgmma.wait_group.sync.aligned {int(pending)};")


def proxy_fence(kb):
    """``fence.proxy.async.shared::cta``: this thread's generic shared-memory
    stores become visible to the async proxy (wgmma operand reads)."""
    if kb.target.name == "ptx":
        _ptx_void(kb, "fence.proxy.async.shared::cta;")


def wgmma(kb, kind, n, a_desc, b_desc, acc, smem):
    """One warpgroup ``wgmma.mma_async`` m64 x n x KSTEP[kind] (always
    accumulating: scale-d = 1): returns the n/2 new accumulator values."""
    if len(acc) != n // 2 or n % 8 or not 8 <= n <= 256:
        raise ValueError(f"wgmma: N={n} needs N/2 accumulators, N a multiple of 8 in [8, 256]")
    if kb.target.name == "host":
        return _host_wgmma(kb, kind, n, a_desc, b_desc, acc, smem)
    nacc = n // 2
    regs = ", ".join(f"${j}" for j in range(nacc))
    tail = ", 1, 1, 1, 0, 0;" if kind in ("f16", "bf16") else ", 1, 1, 1;"
    asm = (f"wgmma.mma_async.sync.aligned.m64n{n}k{KSTEP[kind]}.f32.{kind}.{kind} "
           f"{{{regs}}}, ${nacc}, ${nacc + 1}" + tail)
    constraints = ",".join(["=f"] * nacc + ["l", "l"] + [str(j) for j in range(nacc)] + ["~{memory}"])
    fty = lir.FunctionType(lir.LiteralStructType([F32] * nacc), [I64, I64] + [F32] * nacc)
    r = kb.b.asm(fty, asm, constraints, [a_desc, b_desc] + list(acc), True)
    return [kb.b.extract_value(r, j) for j in range(nacc)]


# --- host (emulator) ------------------------------------------------------------------------------
def _host_wgmma(kb, kind, n, a_desc, b_desc, acc, smem):
    b = kb.b
    size = ELEM_BYTES[kind]
    wtid = b.and_(kb.sreg("tid"), i64(127))
    warp, lane = b.lshr(wtid, i64(5)), b.and_(wtid, i64(31))
    g, t = b.lshr(lane, i64(2)), b.and_(lane, i64(3))
    base = b.ptrtoint(smem, I64)

    def fields(desc):
        f = lambda sh: b.shl(b.and_(b.lshr(desc, i64(sh)), i64(0x3FFF)), i64(4))     # noqa: E731
        return b.add(base, f(0)), f(16), f(32)

    (a0, albo, asbo), (b0, blbo, bsbo) = fields(a_desc), fields(b_desc)

    def row_part(start, sbo, r):        # start + (r / 8) * SBO + (r % 8) * 16
        return b.add(start, b.add(b.mul(b.lshr(r, i64(3)), sbo), b.shl(b.and_(r, i64(7)), i64(4))))

    def load(addr):
        if kind == "tf32":
            return b.load(b.inttoptr(addr, F32.as_pointer()), align=4)
        h = b.load(b.inttoptr(addr, lir.IntType(16).as_pointer()), align=2)
        return half_to_f32(b, b.zext(h, I32), kind)

    slots = [kb.slot(F32, f"wg_acc{j}") for j in range(len(acc))]
    for s, v in zip(slots, acc):
        b.store(v, s)
    fma = kb.declare("llvm.fma.f32", F32, [F32] * 3)
    # this thread's rows (2) and columns (n/4) of D; their operand rows' byte parts
    rows = [b.add(b.add(b.mul(warp, i64(16)), g), i64(8 * h)) for h in range(2)]
    cols = [b.add(b.shl(t, i64(1)), i64(8 * j + e)) for j in range(n // 8) for e in range(2)]
    with kb.loop(i64(0), i64(KSTEP[kind]), i64(1), "wk") as k:
        kbyte = b.mul(k, i64(size))
        kpart = (b.lshr(kbyte, i64(4)), b.and_(kbyte, i64(15)))
        a_vals = [load(b.add(row_part(a0, asbo, r), b.add(b.mul(kpart[0], albo), kpart[1]))) for r in rows]
        b_vals = [load(b.add(row_part(b0, bsbo, c), b.add(b.mul(kpart[0], blbo), kpart[1]))) for c in cols]
        for i, s in enumerate(slots):
            j, q = i >> 2, i & 3
            x, y = a_vals[q >> 1], b_vals[2 * j + (q & 1)]
            b.store(b.call(fma, [x, y, b.load(s)]), s)
    return [b.load(s) for s in slots]


# --- the kernel ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WgmmaTile:
    bm: int
    bn: int             # the wgmma N
    bk: int
    warpgroups: int     # each computes 64 rows x bn

    @property
    def threads(self):
        return 128 * self.warpgroups


def wgmma_tile(sch, kind):
    """128 x 128 (2 warpgroups, m64n128) on the GPU schedule, BK 16 (tf32) or
    32 (16-bit): 32 KiB of double-buffered operands; 64 x 32 (1 warpgroup,
    m64n32, BK 16) for small (emulator) schedules."""
    if sch.mm_bm >= 128 and sch.mm_bn >= 128:
        return WgmmaTile(128, 128, 16 if kind == "tf32" else 32, 2)
    return WgmmaTile(64, 32, 16, 1)


def staged_positions(kb, rows, bk, kind, threads):
    """(row, k) of the elements a thread stages from a rows x bk operand tile,
    in core-matrix order: the element staged e-th by thread tid is element
    ``tid + e*threads`` of the buffer (see the module docstring)."""
    b = kb.b
    kc = 16 // ELEM_BYTES[kind]                 # elements per 16-byte core-matrix row
    per_cm, nkg = 8 * kc, bk // kc
    if threads % per_cm or (rows * bk) % threads or bk % kc or rows % 8:
        raise ValueError(f"wgmma staging: {rows}x{bk} {kind} tile does not split over {threads} threads")
    tid = kb.sreg("tid")
    w, cm0 = b.urem(tid, i64(per_cm)), b.udiv(tid, i64(per_cm))
    r_in, kk = b.udiv(w, i64(kc)), b.urem(w, i64(kc))
    out = []
    for e in range(rows * bk // threads):
        cm = b.add(cm0, i64(e * threads // per_cm))
        rg, kg = b.udiv(cm, i64(nkg)), b.urem(cm, i64(nkg))
        out.append((b.add(b.shl(rg, i64(3)), r_in), b.add(b.mul(kg, i64(kc)), kk)))
    return out


def _emit_wgmma(kind, nb, epilogue):
    from .gemm import _Frame, _Pipeline, _fetch, _launch_bounds, _opaque

    def emit(kb, sch):
        b, p = kb.b, kb.p
        if not supports_wgmma(kb.target):
            return              # built for another architecture: never launched there (GemmStep)
        tile = wgmma_tile(sch, kind)
        half = kind in ("f16", "bf16")
        bm, bn, bk, threads = tile.bm, tile.bn, tile.bk, tile.threads
        _launch_bounds(kb, threads, 1)
        size, kstep = ELEM_BYTES[kind], KSTEP[kind]
        st = lir.IntType(16) if half else I32
        src_zero = lir.Constant(lir.IntType(16), 0) if half else lir.Constant(F32, 0.0)
        per_buf = (bm + bn) * bk                        # elements: A (bm x bk) then B (bn x bk)
        smem = kb.shared(st, 2 * per_buf, "wg_smem")
        lbo, sbo = CORE_BYTES, CORE_BYTES * bk * size // 16
        tid = kb.sreg("tid")
        wg, wtid = b.lshr(tid, i64(7)), b.and_(tid, i64(127))
        warp, lane = b.lshr(wtid, i64(5)), b.and_(wtid, i64(31))
        g, t = b.lshr(lane, i64(2)), b.and_(lane, i64(3))
        acc = [kb.slot(F32, f"acc{j}") for j in range(bn // 2)]
        pos_a = staged_positions(kb, bm, bk, kind, threads)
        pos_b = staged_positions(kb, bn, bk, kind, threads)
        na = len(pos_a)
        frame = _Frame(kb, nb, bm, bn, epilogue)

        def tile_body(row0, col0):
            for s in acc:
                b.store(lir.Constant(F32, 0.0), s)

            def fetch(k0):
                k0 = _opaque(kb, k0)
                return _fetch(kb, p["A"], frame.off_a, pos_a, zero=src_zero,
                              rows=(row0, p["M"], p["sam"]), cols=(k0, frame.k_len, p["sak"])) + \
                    _fetch(kb, p["B"], frame.off_b, pos_b, zero=src_zero,
                           rows=(col0, p["N"], p["sbn"]), cols=(k0, frame.k_len, p["sbk"]))

            def put(buf, regs):
                at0 = b.add(b.mul(buf, i64(per_buf)), tid)
                for e, v in enumerate(regs):
                    off = e * threads if e < na else bm * bk + (e - na) * threads
                    b.store(v if half else kb.tf32(v), b.gep(smem, [b.add(at0, i64(off))]))

            def compute(buf):
                fence(kb)
                a_at = b.add(b.mul(buf, i64(per_buf)), b.mul(wg, i64(64 * bk)))      # this warpgroup's rows
                a_addr = smem_address(kb, b.gep(smem, [a_at]), smem)
                b_addr = smem_address(kb, b.gep(smem, [b.add(b.mul(buf, i64(per_buf)), i64(bm * bk))]), smem)
                vals = [b.load(s) for s in acc]
                for ks in range(bk // kstep):
                    dk = i64(ks * kstep * size // 16 * lbo)          # core matrices along K
                    vals = wgmma(kb, kind, bn, make_descriptor(kb, b.add(a_addr, dk), lbo, sbo),
                                 make_descriptor(kb, b.add(b_addr, dk), lbo, sbo), vals, smem)
                commit(kb)
                for s, v in zip(acc, vals):
                    b.store(v, s)

            def settle():
                wait(kb, 0)
                proxy_fence(kb)

            in_ty = lir.IntType(16) if half else F32
            _Pipeline(kb, fetch, put, compute, [in_ty] * (na + len(pos_b)), settle).run(frame.k_len, bk)
            r_base = b.add(row0, b.mul(wg, i64(64)))
            for i, s in enumerate(acc):
                r, c = d_coords(i, 0, 0, 0)
                row = b.add(r_base, b.add(b.add(b.mul(warp, i64(16)), g), i64(r)))
                col = b.add(col0, b.add(b.shl(t, i64(1)), i64(c)))
                frame.store(row, col, b.load(s))

        frame.walk(tile_body)
    return emit


def wgmma_kernel(name, kind, nb, epilogue=None, out_dtype="float32"):
    """Warpgroup tensor-core kernel (tile ``wgmma_tile(schedule, kind)``),
    parameters as ``gemm.mma_kernel``. Built for a target without wgmma
    (``supports_wgmma``) its body is empty: the plan launches it only on
    sm_90a."""
    from .gemm import gemm_params
    in_dtype = "uint16" if kind in ("f16", "bf16") else "float32"
    out = epilogue.out_dtype if epilogue is not None else out_dtype
    ep = f", epilogue {epilogue.describe()}" if epilogue is not None else ""
    return KernelSpec(name, gemm_params(in_dtype, out, nb, epilogue), _emit_wgmma(kind, nb, epilogue),
                      f"matmul {kind} warpgroup tensor cores (wgmma m64n*k{KSTEP[kind]}, sm_90a), "
                      f"batch-dims={nb}{ep}", barriers=True)
