"""The plan step of a matrix product (``gemm.py`` kernels), and the plan's
epilogue fusion.

Epilogue fusion (``gemm_epilogues``, called by ``Plan.build``): when a
matmul's result has one use, by an elementwise group of the plan (a map
group) or by a single-stage ``fused`` op without reductions, that
elementwise program becomes the matmul kernel's epilogue: one launch
computes ``relu(x @ W + b)`` and the product is never stored. The fused
step stands where the group's root stood (every input of the group exists
by then) and its description lists the ops it absorbed and the program.
When at run time the group's inputs broadcast the product to a larger
shape, the step runs the plain product and then the group's own kernels.

Kernel choice per call (``GemmStep.run``): float16 always on the f16
tensor-core kernel (``mma.sync`` m16n8k16, float32 accumulation, the
result rounded to float16 in the store, before any epilogue:
``f16_epilogue``); float32 with TF32 allowed
(``theon.config.gpu_allow_tf32``, env THEON_GPU_TF32=1; off by default as
in PyTorch) and both M and N >= 16: the tensor-core kernel; otherwise the
CUDA-core kernel whose tile variant fits the shape (``simt_variant``). A
tensor-core product is the warpgroup ``wgmma`` kernel (``gemm_wgmma.py``)
when the program runs on sm_90a (the loaded program's or the device's
``sm``; the kernel is built empty for other architectures), else
``mma.sync``.
"""
from ...ir.ops.fused import reduce_kinds
from . import shapes as sh
from .gemm import GemmEpilogue, mma_kernel, mma_tile, simt_kernel, simt_tiles, simt_variant, splitk_reduce_kernel
from .gemm_wgmma import SM90A, wgmma_kernel, wgmma_tile
from .maps import MapProgram
from .steps import FusedStep, MapStep, Step, checks_exponent

TF32_MIN_SIDE = 16          # smaller M or N: CUDA cores (a 16-row mma tile would be mostly empty)
SPLITK_MIN_SLICE = 256      # split-K: at least this much of K per slice
SPLITK_MAX = 32             # split-K: at most this many slices


def splitk_plan(sch, tiles, k, bk):
    """(nsplit, ksplit) of a product with ``tiles`` block tiles (all batches)
    and inner size ``k``: split K when the tiles fill less than half of the
    device's multiprocessors (``sch.sm_count``) and K has at least two
    slices of ``SPLITK_MIN_SLICE``: into ceil(sm_count / tiles) slices (at
    most ``SPLITK_MAX``, at least SPLITK_MIN_SLICE each), each a multiple
    of the K tile ``bk``. 64x64 @ K=65536 on 132 SMs: 32 slices of 2048."""
    if tiles * 2 > sch.sm_count or k < 2 * SPLITK_MIN_SLICE:
        return 1, k
    nsplit = min(SPLITK_MAX, -(-sch.sm_count // tiles), k // SPLITK_MIN_SLICE)
    ksplit = -(-(-(-k // nsplit)) // bk) * bk
    return -(-k // ksplit), ksplit


def f16_epilogue(epilogue):
    """The epilogue of a float16 product on the f16 tensor-core kernel,
    whose accumulator is float32: the product rounded to float16 (the IR's
    matmul result), then ``epilogue``'s program (None: stored as it is)."""
    if epilogue is None:
        return GemmEpilogue(MapProgram(("float32",), ("float16",), [("cast", (0,), "float32", "float16", None)],
                                       (1,)), (0,))
    prog, n = epilogue.program, len(epilogue.program.in_dtypes)

    def ref(r):
        return n if r in epilogue.acc else r + 1 if r >= n else r
    steps = [("cast", (epilogue.acc[0],), "float32", "float16", None)]
    steps += [(name, tuple(ref(r) for r in refs), i, o, op) for name, refs, i, o, op in prog.steps]
    in_dtypes = ["float32" if k in epilogue.acc else d for k, d in enumerate(prog.in_dtypes)]
    program = MapProgram(in_dtypes, prog.out_dtypes, steps, [ref(r) for r in prog.results])
    return GemmEpilogue(program, epilogue.acc, epilogue.ops)


def _single_use(v):
    uses = list(v.uses)
    return uses[0][0] if len(uses) == 1 else None


def gemm_epilogues(ops, group_of, groups):
    """{matmul op: (root op, absorbed ops)} for every matmul whose result
    feeds exactly one elementwise group or elementwise ``fused`` op."""
    found = {}
    for op in ops:
        if op.name != "matmul":
            continue
        user = _single_use(op.results[0])
        if user is None:
            continue
        if user in group_of:
            root = group_of[user]
            members = groups[root]
            if any(checks_exponent(o) for o in members):
                continue
            found[op] = (root, list(members))
        elif user.name == "fused" and len(user.regions) == 1 and len(user.results) == 1 \
                and all(k is None for k in reduce_kinds(user)):
            found[op] = (user, [user])
    return found


class GemmStep(Step):
    kind = "matmul"

    def __init__(self, index, op, prefix, tf32=False, epilogue=None, op_indices=None):
        """``epilogue``: (root op, absorbed ops) from ``gemm_epilogues``;
        ``op_indices``: op -> index (the fallback's error reports)."""
        super().__init__(index, op, prefix)
        a, b = (v.type for v in op.operands)
        self.has_m, self.has_n = a.ndim > 1, b.ndim > 1
        self.nb = op.results[0].type.ndim - self.has_m - self.has_n
        self.dtype = op.results[0].type.dtype
        self.tf32 = bool(tf32) and self.dtype == "float32"
        self.f16 = self.dtype == "float16"          # always the f16 tensor-core kernel
        self.plain = f"theon_matmul_{self.dtype}_{self.nb}b"     # shared by equal plain products
        self.epilogue = self.fallback = None
        self.absorbed = []
        if epilogue is not None:
            root, members = epilogue
            self.absorbed = members
            r = op.results[0]
            if root.name == "fused":
                self.fallback = FusedStep(op_indices.get(root, index), root, f"{prefix}_ep")
                program, inputs = self.fallback._map_program(), list(root.operands)
            else:
                self.fallback = MapStep(op_indices.get(root, index), members, f"{prefix}_ep")
                self.fallback.op_indices = {o: op_indices.get(o, index) for o in members}
                program, inputs = self.fallback.program, self.fallback.inputs
            self.epilogue = GemmEpilogue(program, [k for k, v in enumerate(inputs) if v is r], members)
            self.extra_values = [inputs[k] for k in self.epilogue.extras]
            self.result = root.results[0]
            self.name = f"{prefix}_matmul_ep"
            self.kind = "matmul+epilogue"
        else:
            self.result = op.results[0]
            self.name = self.plain

    def _names(self, base):
        if self.f16:
            return {"f16": f"{base}_f16", "wgmma_f16": f"{base}_wgmma_f16"}
        names = {v: f"{base}_{v}" for v in ("full", "rows", "cols")}
        if self.tf32:
            names["tf32"] = f"{base}_tf32"
            names["wgmma_tf32"] = f"{base}_wgmma_tf32"
        return names

    def _specs(self, base, epilogue, variants=("full", "rows", "cols")):
        names = self._names(base)
        if self.f16:        # float16: f32 accumulation on tensor cores, any shape (edges zero-filled)
            return [mma_kernel(names["f16"], "f16", self.nb, f16_epilogue(epilogue)),
                    wgmma_kernel(names["wgmma_f16"], "f16", self.nb, f16_epilogue(epilogue))]
        specs = [simt_kernel(names[v], self.dtype, self.nb, v, epilogue) for v in variants]
        if self.tf32 and len(variants) > 1:
            specs.append(mma_kernel(names["tf32"], "tf32", self.nb, epilogue))
            specs.append(wgmma_kernel(names["wgmma_tf32"], "tf32", self.nb, epilogue))
        return specs

    def kernels(self):
        """Tile sizes come from the schedule the kernels are built with. The
        unfused fallback of an epilogue step has only the ``full`` product
        (any shape; it runs rarely) to keep compile times down."""
        reduce = [] if self.f16 else [splitk_reduce_kernel(self.reduce_name, self.dtype)]
        if self.epilogue is None:
            return self._specs(self.plain, None) + reduce
        return self._specs(self.name, self.epilogue) + self._specs(self.plain, None, ("full",)) + \
            self.fallback.kernels() + reduce

    @property
    def reduce_name(self):
        return f"theon_splitk_reduce_{self.dtype}"

    def _pick(self, sch, m, n, only_full=False, sm=None):
        if self.f16:
            if sm in SM90A:
                return "wgmma_f16", wgmma_tile(sch, "f16")
            return "f16", mma_tile(sch, "f16")
        if only_full:
            return "full", simt_tiles(sch, self.dtype)["full"]
        if self.tf32 and min(m, n) >= TF32_MIN_SIDE:
            if sm in SM90A:
                return "wgmma_tf32", wgmma_tile(sch, "tf32")
            return "tf32", mma_tile(sch, "tf32")
        v = simt_variant(sch, m, n, self.dtype)
        return v, simt_tiles(sch, self.dtype)[v]

    def run(self, state):
        a, b = (state.tensor(v) for v in self.op.operands)
        m, n, k, sam, sak, sbk, sbn, batch, bsa, bsb, shape = sh.matmul_operands(
            a.shape, a.strides, b.shape, b.strides)
        extras = None
        if self.epilogue is not None:
            extras = [state.tensor(v) for v in self.extra_values]
            try:
                if sh.broadcast([shape] + [t.shape for t in extras]) != tuple(shape):
                    extras = None
            except sh.PlanError:
                extras = None           # the fallback reports the group's own error
        fused = extras is not None
        sm = getattr(state.loaded, "sm", None) or getattr(state.device, "sm", None)
        nbatch = sh.numel(batch)
        pick = self._plan_launch(state.schedule, m, n, k, nbatch, sm, fused)
        if pick[2] > 1 and fused:       # split-K: the plain product, then the group's kernels
            fused, extras = False, None
            pick = self._plan_launch(state.schedule, m, n, k, nbatch, sm, fused)
        dtype = self.result.type.dtype if fused else self.dtype
        out = state.alloc(dtype, shape)
        if out.numel:
            self._launch(state, self.name if fused else self.plain, out, a, b,
                         (m, n, k, sam, sak, sbk, sbn, batch, bsa, bsb, shape), extras, pick)
        if fused:
            state.env[self.result] = out
        else:
            state.env[self.op.results[0]] = out
            if self.fallback is not None:
                try:
                    self.fallback.run(state)
                except sh.PlanError as e:
                    if e.op_index is None:
                        e.op_index = self.fallback.index        # the group's op, not the matmul
                    raise

    def _plan_launch(self, sch, m, n, k, nbatch, sm, fused):
        """(variant, tile, nsplit, ksplit) of one call (``splitk_plan``; float16
        products never split: their partials would be rounded)."""
        variant, tile = self._pick(sch, m, n, only_full=not fused and self.epilogue is not None, sm=sm)
        if self.f16:
            return variant, tile, 1, k
        tiles = -(-m // tile.bm) * -(-n // tile.bn) * nbatch
        return (variant, tile) + splitk_plan(sch, tiles, k, tile.bk)

    def _launch(self, state, base, out, a, b, dims, extras, pick):
        m, n, k, sam, sak, sbk, sbn, batch, bsa, bsb, shape = dims
        variant, tile, nsplit, ksplit = pick
        nbatch = sh.numel(batch)
        dest = out if nsplit == 1 else state.alloc(self.dtype, (nsplit,) + tuple(shape))
        args = [a.ptr, b.ptr, dest.ptr, m, n, k, sam, sak, sbk, sbn, nbatch, nsplit, ksplit]
        for d in range(self.nb):
            args += [batch[d], bsa[d], bsb[d]]
        for t in extras or ():
            st = sh.broadcast_strides(t.shape, t.strides, shape)
            row = st[self.nb] if self.has_m else 0
            col = st[-1] if self.has_n else 0
            args += [t.ptr, row, col, *st[:self.nb]]
        grid = (-(-n // tile.bn), -(-m // tile.bm), nbatch * nsplit)
        state.launch(self._names(base)[variant], grid, (tile.threads, 1, 1), args)
        if nsplit > 1:
            block = state.schedule.block
            grid = (max(1, min(-(-out.numel // block), state.schedule.fill_blocks)), 1, 1)
            state.launch(self.reduce_name, grid, (block, 1, 1), [dest.ptr, out.ptr, out.numel, nsplit])

    def describe(self, names):
        d = super().describe(names)
        sizes = "full: mm_bm x mm_bn; rows (M small): mm_bm/4 x mm_bn; cols (N small): mm_bm x mm_bn/4"
        launch = {"kernel": " | ".join(self._names(self.name).values()),
                  "variant": "tf32 (tensor cores: wgmma on sm_90a, else mma.sync) when TF32 is allowed and "
                             f"M, N >= 16, else the CUDA-core tile variant ({sizes})",
                  "block": "[threads of the variant's tile, 1, 1]",
                  "grid": "[min(ceil(N / tile cols), max_grid), min(ceil(M / tile rows), max_grid), "
                          "min(nbatch * nsplit, 65535)]",
                  "split_k": "when the block tiles fill < half the SMs and K >= 2 * SPLITK_MIN_SLICE: nsplit "
                             "partial products (K slices, a multiple of the K tile) into a workspace, then "
                             f"{self.reduce_name} sums them in slice order" if not self.f16 else "never (float16)",
                  "args": "A, B, C (new, C-contiguous), M, N, K, A's row/col strides, B's row/col "
                          "strides, nbatch, nsplit, ksplit, then per batch dim: size, A stride, B stride (0 where "
                          "broadcast); a 1-d A is 1 x K, a 1-d B is K x 1"}
        if self.epilogue is not None:
            d["results"] = [names[self.result]]
            d["fuses"] = sorted(self.fallback.op_indices.values()) if isinstance(self.fallback, MapStep) \
                else [self.fallback.index]
            d["epilogue"] = self.epilogue.describe()
            d["epilogue_operands"] = [names[v] for v in self.extra_values]
            launch["args"] += "; then per epilogue input: pointer, row, column and batch strides"
            d["launches"] = [launch, {"what": "only when the epilogue's inputs broadcast the product to a "
                                              "larger shape: the plain product, then the group's kernels",
                                      "kernel": next(iter(self._names(self.plain).values()))}]
        else:
            d["launches"] = [launch]
        d["tf32"] = self.tf32
        return d
