"""The GPU plan's steps for ``pool`` and ``pool_grad`` (``ir/ops/pool.py``).

``pool``: one thread per output element (a grid-stride loop): its window's
bounds per pooled dim (``codegen/poolwin.py``, the CPU's arithmetic), a
loop nest over the window, max or sum, the average's count. ``pool_grad``
gathers instead of scattering (no atomics, deterministic): one thread per
input element, looping over the outputs whose windows hold it
(``poolwin.covering``) and adding their ``gz`` (max: where the element
equals the window's maximum ``z``; averages: divided by the count).
Operands are made C-contiguous first; the host checks the sizes
(``POOL_WINDOW``, ``SHAPE_MISMATCH``) before launching.
"""
from .. import errors as codes
from ...ir.ops.pool import neibs_uncovered, out_size, pool_params
from ..llvm_util import LLTYPE, i64
from ..poolwin import add, covering, fill, max_, window
from . import shapes as sh
from .kernel import KernelSpec
from .steps import Step


def _name(kind, dtype, params, grad_lead):
    ws, stride, pad, ib, mode = params
    tag = "_".join("x".join(str(v) for v in t) for t in (ws, stride, pad))
    return f"theon_{kind}_{dtype}_{mode}_{'ib' if ib else 'pb'}_{tag}" + ("_b" if grad_lead else "")


def _dim_params(nd):
    out = []
    for d in range(nd):
        out += [(f"n{d}", "i64"), (f"m{d}", "i64")]
    return out


def pool_kernel(name, dtype, params, grad_grad=False):
    """NAME(x, z, images, n0, m0, n1, m1[, n2, m2]): z = pool(x), both C-contiguous;
    with ``grad_grad``: NAME(x, z, ggx, out, images, ximages, dims...): out =
    pool_grad_grad(x, z, ggx), the sum of ggx where x equals its window's max z."""
    ws, stride, pad, _, mode = params
    nd = len(ws)
    if grad_grad:
        args = [("x", dtype), ("z", dtype), ("ggx", dtype), ("out", dtype), ("images", "i64"),
                ("ximages", "i64")]
    else:
        args = [("x", dtype), ("out", dtype), ("images", "i64")]
    args += _dim_params(nd)

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        n = [p[f"n{d}"] for d in range(nd)]
        m = [p[f"m{d}"] for d in range(nd)]
        total = p["images"]
        for v in m:
            total = b.mul(total, v)
        isize, osize = n[0], m[0]
        for v in n[1:]:
            isize = b.mul(isize, v)
        for v in m[1:]:
            osize = b.mul(osize, v)
        acc = kb.slot(LLTYPE[dtype], "acc")
        with kb.grid_stride(total, "o") as o:
            idx = kb.decompose(o, [p["images"]] + m)
            wins = [window(b, idx[1 + d], n[d], ws[d], stride[d], pad[d], mode) for d in range(nd)]
            b.store(fill(dtype, "sum" if grad_grad else mode), acc)
            base = b.mul(idx[0], isize)
            if grad_grad:
                ximg = b.urem(idx[0], p["ximages"])
                xbase = b.mul(ximg, isize)
                zmax = b.load(b.gep(p["z"], [b.add(b.mul(ximg, osize), b.sub(o, b.mul(idx[0], osize)))]))

            def nest(d, off):
                if d == nd:
                    old = b.load(acc)
                    if grad_grad:
                        a = b.load(b.gep(p["x"], [b.add(xbase, off)]))
                        hit = b.fcmp_ordered("==", a, zmax) if dtype.startswith("float") else \
                            b.icmp_signed("==", a, zmax)
                        gv = b.load(b.gep(p["ggx"], [b.add(base, off)]))
                        b.store(add(b, dtype, old, b.select(hit, gv, fill(dtype, "sum"))), acc)
                        return
                    a = b.load(b.gep(p["x"], [b.add(base, off)]))
                    b.store(max_(b, dtype, a, old) if mode == "max" else add(b, dtype, a, old), acc)
                    return
                with kb.loop(wins[d][0], wins[d][1], 1, f"w{d}") as c:
                    nest(d + 1, b.add(b.mul(off, n[d]), c) if d else c)
            nest(0, i64(0))
            v = b.load(acc)
            if mode.startswith("average") and not grad_grad:
                count = wins[0][2]
                for w in wins[1:]:
                    count = b.mul(count, w[2])
                v = b.fdiv(v, b.sitofp(count, LLTYPE[dtype]))
            b.store(v, b.gep(p["out"], [o]))
    what = "pool_grad_grad" if grad_grad else "pool"
    return KernelSpec(name, args, emit, f"{what} {mode} ws {ws} stride {stride} pad {pad} ({dtype})")


def pool_grad_kernel(name, dtype, params):
    """NAME(x, z, gz, gx, images, ximages, n0, m0, ...): gx = pool_grad(x, z, gz),
    one thread per element of gx (images of gz/gx; x and z repeat every ximages)."""
    ws, stride, pad, _, mode = params
    nd = len(ws)
    args = [("x", dtype), ("z", dtype), ("gz", dtype), ("gx", dtype), ("images", "i64"),
            ("ximages", "i64")] + _dim_params(nd)
    ty = LLTYPE[dtype]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        n = [p[f"n{d}"] for d in range(nd)]
        m = [p[f"m{d}"] for d in range(nd)]
        isize, osize = n[0], m[0]
        for v in n[1:]:
            isize = b.mul(isize, v)
        for v in m[1:]:
            osize = b.mul(osize, v)
        total = b.mul(p["images"], isize)
        acc = kb.slot(ty, "acc")
        with kb.grid_stride(total, "e") as e:
            idx = kb.decompose(e, [p["images"]] + n)
            img = idx[0]
            ximg = b.urem(img, p["ximages"])
            xoff = b.sub(e, b.mul(b.sub(img, ximg), isize))
            xv = b.load(b.gep(p["x"], [xoff])) if mode == "max" else None
            ranges = [covering(b, idx[1 + d], m[d], ws[d], stride[d], pad[d]) for d in range(nd)]
            b.store(fill(dtype, "sum"), acc)

            def nest(d, off, count):
                if d == nd:
                    g = b.load(b.gep(p["gz"], [b.add(b.mul(img, osize), off)]))
                    if mode == "max":
                        zv = b.load(b.gep(p["z"], [b.add(b.mul(ximg, osize), off)]))
                        hit = b.fcmp_ordered("==", xv, zv) if dtype.startswith("float") else \
                            b.icmp_signed("==", xv, zv)
                        g = b.select(hit, g, fill(dtype, "sum"))
                    elif mode.startswith("average"):
                        g = b.fdiv(g, b.sitofp(count, ty))
                    b.store(add(b, dtype, b.load(acc), g), acc)
                    return
                first, stop = ranges[d]
                with kb.loop(first, stop, 1, f"j{d}") as j:
                    cnt = count
                    if mode.startswith("average"):
                        cnt = b.mul(count, window(b, j, n[d], ws[d], stride[d], pad[d], mode)[2])
                    nest(d + 1, b.add(b.mul(off, m[d]), j) if d else j, cnt)
            nest(0, i64(0), i64(1))
            b.store(b.load(acc), b.gep(p["gx"], [e]))
    return KernelSpec(name, args, emit, f"pool_grad {mode} ws {ws} stride {stride} pad {pad} ({dtype})")


def _out_dims(op, x_shape):
    ws, stride, pad, ib, _ = params = pool_params(op.attrs)
    nd = len(ws)
    out = []
    for k in range(nd):
        size = x_shape[len(x_shape) - nd + k]
        mk = out_size(size, ws[k], stride[k], pad[k], ib)
        if mk < 0:
            raise sh.PlanError(codes.POOL_WINDOW, [len(x_shape) - nd + k, size + 2 * pad[k], ws[k]])
        out.append(mk)
    return params, out


class PoolStep(Step):
    kind = "pool"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        self.params = pool_params(op.attrs)
        self.dtype = op.operands[0].type.dtype
        lead = op.name != "pool" and op.operands[2].type.ndim > op.operands[0].type.ndim
        self.name = _name(op.name, self.dtype, self.params, lead)

    def kernels(self):
        if self.op.name == "pool_grad":
            return [pool_grad_kernel(self.name, self.dtype, self.params)]
        return [pool_kernel(self.name, self.dtype, self.params, self.op.name == "pool_grad_grad")]

    def run(self, state):
        op = self.op
        x = state.contiguous(state.tensor(op.operands[0]))
        params, out = _out_dims(op, x.shape)
        nd = len(out)
        lead = x.shape[:x.ndim - nd]
        img = x.shape[x.ndim - nd:]
        dims = []
        for a, b in zip(img, out):
            dims += [a, b]
        block = state.schedule.block
        if op.name == "pool":
            z = state.alloc(x.dtype, lead + tuple(out))
            state.env[op.results[0]] = z
            if z.numel:
                state.launch(self.name, state.grid_1d(z.numel, block), (block, 1, 1),
                             [x.ptr, z.ptr, sh.numel(lead)] + dims)
            return
        z = state.contiguous(state.tensor(op.operands[1]))
        gz = state.contiguous(state.tensor(op.operands[2]))
        extra = gz.shape[:gz.ndim - x.ndim]
        for k, (have, want) in enumerate(zip(z.shape, lead + tuple(out))):
            if have != want:
                raise sh.PlanError(codes.SHAPE_MISMATCH, [k, have, want, 1])
        g_shape = x.shape if op.name == "pool_grad_grad" else lead + tuple(out)
        for k, (have, want) in enumerate(zip(gz.shape, extra + g_shape)):
            if have != want:
                raise sh.PlanError(codes.SHAPE_MISMATCH, [k, have, want, 2])
        ximages = sh.numel(lead)
        if op.name == "pool_grad_grad":
            res = state.alloc(x.dtype, extra + z.shape)
            state.env[op.results[0]] = res
            if res.numel:
                state.launch(self.name, state.grid_1d(res.numel, block), (block, 1, 1),
                             [x.ptr, z.ptr, gz.ptr, res.ptr, sh.numel(extra) * ximages, max(ximages, 1)] + dims)
            return
        gx = state.alloc(x.dtype, extra + x.shape)
        state.env[op.results[0]] = gx
        if gx.numel:
            state.launch(self.name, state.grid_1d(gx.numel, block), (block, 1, 1),
                         [x.ptr, z.ptr, gz.ptr, gx.ptr, sh.numel(extra) * ximages, max(ximages, 1)] + dims)

    def describe(self, names):
        d = super().describe(names)
        if self.op.name == "pool":
            args = "x (C-contiguous), z (new), images (product of the leading dims), then per pooled dim " \
                   "its input and output sizes"
            grid = "[min(ceil(numel(z) / block), max_grid), 1, 1]"
        elif self.op.name == "pool_grad_grad":
            args = "x, z, ggx (C-contiguous), out (new), images of ggx, images of x, then per pooled dim " \
                   "its input and output sizes"
            grid = "[min(ceil(numel(out) / block), max_grid), 1, 1]"
        else:
            args = "x, z, gz (C-contiguous), gx (new), images of gz, images of x, then per pooled dim its " \
                   "input and output sizes"
            grid = "[min(ceil(numel(gx) / block), max_grid), 1, 1]"
        d["launches"] = [{"kernel": self.name, "block": "[block, 1, 1]", "grid": grid, "args": args}]
        return d


class NeibsCheckStep(Step):
    """``neibs_check``: the host checks the shape (NEIBS_COVER); the result is the operand."""
    kind = "view"

    def run(self, state):
        x = state.tensor(self.op.operands[0])
        bad = neibs_uncovered(x.shape, self.op.attrs["neib_shape"], self.op.attrs["neib_step"])
        if bad:
            raise sh.PlanError(codes.NEIBS_COVER, list(bad))
        state.env[self.op.results[0]] = x


LOWERINGS = {"pool": PoolStep, "pool_grad": PoolStep, "pool_grad_grad": PoolStep, "neibs_check": NeibsCheckStep}
