"""The GPU plan's steps for ``conv``, ``conv_grad_input`` and
``conv_grad_weight`` (``ir/ops/conv.py``), 1-3 spatial dims: direct
convolution, a thread per result element (a grid-stride loop), no atomics.

- ``conv``: a thread per output ``y[n, o, p...]`` sums over its group's
  input channels and the kernel taps whose input position lies inside the
  image (the valid tap range per dim is computed, no per-element test);
- ``conv_grad_input``: a thread per input element gathers from the output
  positions whose windows hold it (per dim the taps ``u`` with
  ``0 <= pos + pad - u*dilation <= (out-1)*stride``, and a divisibility test
  when stride > 1), over its group's output channels;
- ``conv_grad_weight``: a thread per filter element sums over the batch and
  the output positions whose tap lies inside the image.

``flip`` maps tap ``u`` to filter index ``k-1-u``. Stride, dilation, groups
and flip are compile-time constants of a kernel; sizes and the resolved
padding are parameters. Operands are made C-contiguous first; the host
checks the shapes with the CPU's codes (``CONV_CHANNELS``, ``CONV_GROUPS``,
``CONV_SIZE``, ``CONV_SHAPE``, ``NEGATIVE_SIZE``) before launching.
"""
import llvmlite.ir as lir

from .. import errors as codes
from ...ir.dialect import OPS
from ...ir.ops.conv import ACTIVATION_OPS, resolve_pad
from ..scalar import SCALAR, ScalarCtx
from ..llvm_util import LLTYPE, i64, smax, smin
from . import shapes as sh
from .kernel import KernelSpec
from .steps import Step

_SIZES = ("n", "c", "oc", "cg", "ocg")


def _name(kind, dtype, nd, attrs):
    tag = "_".join("x".join(str(v) for v in attrs[a]) for a in ("stride", "dilation"))
    return f"theon_{kind}_{dtype}_{nd}d_{tag}_g{attrs['groups']}" + ("_f" if attrs["flip"] else "")


def _floordiv(b, a, d):
    """floor(a / d) for an i64 ``a`` of any sign and an int constant d >= 1."""
    if d == 1:
        return a
    neg = b.icmp_signed("<", a, i64(0))
    return b.sdiv(b.select(neg, b.sub(a, i64(d - 1)), a), i64(d))


def _span(b, low, high, d, count):
    """[first, stop): the j in [0, count) with low <= j * d <= high."""
    first = smax(b, _floordiv(b, b.add(low, i64(d - 1)), d), i64(0))
    stop = smin(b, b.add(_floordiv(b, high, d), i64(1)), count)
    return first, smax(b, stop, first)


def conv_kernel(name, kind, dtype, nd, attrs):
    """NAME(a, b, out, n, c, oc, cg, ocg, then per spatial dim i, k, o, pad):
    ``out`` (new, C-contiguous) = kind(a, b), all C-contiguous."""
    stride, dil, flip = attrs["stride"], attrs["dilation"], attrs["flip"]
    pa, pb, po = OPS[kind].roles
    args = [(pa, dtype), (pb, dtype), (po, dtype)] + [(s, "i64") for s in _SIZES]
    for d in range(nd):
        args += [(f"i{d}", "i64"), (f"k{d}", "i64"), (f"o{d}", "i64"), (f"p{d}", "i64")]
    activation = attrs.get("activation")          # conv_bias: then the bias and its stride (0 or 1)
    if activation is not None:
        args += [("bias", dtype), ("bstride", "i64")]
        kind = "conv"
    ty = LLTYPE[dtype]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        n, c, oc, cg, ocg = (p[s] for s in _SIZES)
        isz, ksz, osz, pad = ([p[f"{s}{d}"] for d in range(nd)] for s in "ikop")

        def tap(u, d):              # filter index of tap u (an involution)
            return b.sub(b.sub(ksz[d], i64(1)), u) if flip else u

        def flat(base, sizes, idx):  # C-order offset of idx within a block of sizes, after base
            off = base
            for s, j in zip(sizes, idx):
                off = b.add(b.mul(off, s), j)
            return off

        def nest(d, ranges, body, idx=()):
            """Loops over ranges[d] = (first, stop); calls body(indices)."""
            if d == len(ranges):
                body(list(idx))
                return
            with kb.loop(ranges[d][0], ranges[d][1], 1, f"j{d}") as j:
                nest(d + 1, ranges, body, idx + (j,))

        acc = kb.slot(ty, "acc")
        total = {"conv": [n, oc] + osz, "conv_grad_input": [n, c] + isz, "conv_grad_weight": [oc, cg] + ksz}[kind]
        count = total[0]
        for v in total[1:]:
            count = b.mul(count, v)
        with kb.grid_stride(count, "e") as e:
            idx = kb.decompose(e, total)
            b.store(lir.Constant(ty, 0.0), acc)

            def add(aoff, boff):
                av = b.load(b.gep(p[pa], [aoff]))
                bv = b.load(b.gep(p[pb], [boff]))
                b.store(b.fadd(b.load(acc), b.fmul(av, bv)), acc)

            if kind == "conv":
                ni, oi, pos = idx[0], idx[1], idx[2:]
                xc0 = b.mul(b.udiv(oi, ocg), cg)
                base = [b.sub(b.mul(pos[d], i64(stride[d])), pad[d]) for d in range(nd)]
                spans = [_span(b, b.sub(i64(0), base[d]), b.sub(b.sub(isz[d], i64(1)), base[d]), dil[d], ksz[d])
                         for d in range(nd)]

                def body(j):
                    ci, us = j[0], j[1:]
                    xpos = [b.add(base[d], b.mul(us[d], i64(dil[d]))) for d in range(nd)]
                    add(flat(b.add(b.mul(ni, p["c"]), b.add(xc0, ci)), isz, xpos),
                        flat(b.add(b.mul(oi, cg), ci), ksz, [tap(us[d], d) for d in range(nd)]))
                nest(0, [(i64(0), cg)] + spans, body)
            elif kind == "conv_grad_input":
                ni, xc, pos = idx[0], idx[1], idx[2:]
                g = b.udiv(xc, cg)
                ci = b.sub(xc, b.mul(g, cg))
                q = [b.add(pos[d], pad[d]) for d in range(nd)]
                last = [b.mul(b.sub(osz[d], i64(1)), i64(stride[d])) for d in range(nd)]
                spans = [_span(b, b.sub(q[d], last[d]), q[d], dil[d], ksz[d]) for d in range(nd)]
                o0 = b.mul(g, ocg)

                def inner(d, oi, us):
                    if d == nd:
                        ys = [b.sdiv(b.sub(q[k], b.mul(us[k], i64(dil[k]))), i64(stride[k])) for k in range(nd)]
                        add(flat(b.add(b.mul(ni, oc), oi), osz, ys),
                            flat(b.add(b.mul(oi, cg), ci), ksz, [tap(us[k], k) for k in range(nd)]))
                        return
                    with kb.loop(spans[d][0], spans[d][1], 1, f"u{d}") as u:
                        if stride[d] == 1:
                            inner(d + 1, oi, us + [u])
                            return
                        num = b.sub(q[d], b.mul(u, i64(dil[d])))
                        with kb.if_(b.icmp_signed("==", b.srem(num, i64(stride[d])), i64(0))):
                            inner(d + 1, oi, us + [u])

                with kb.loop(o0, b.add(o0, ocg), 1, "oc") as oi:
                    inner(0, oi, [])
            else:
                oi, ci, ts = idx[0], idx[1], idx[2:]
                xc = b.add(b.mul(b.udiv(oi, ocg), cg), ci)
                us = [tap(ts[d], d) for d in range(nd)]
                # x position p*stride - pad + u*dil inside [0, i)
                off = [b.sub(b.mul(us[d], i64(dil[d])), pad[d]) for d in range(nd)]
                spans = [_span(b, b.sub(i64(0), off[d]), b.sub(b.sub(isz[d], i64(1)), off[d]), stride[d], osz[d])
                         for d in range(nd)]

                def body(j):
                    ni, ps = j[0], j[1:]
                    xpos = [b.add(b.mul(ps[d], i64(stride[d])), off[d]) for d in range(nd)]
                    add(flat(b.add(b.mul(ni, c), xc), isz, xpos), flat(b.add(b.mul(ni, oc), oi), osz, ps))
                nest(0, [(i64(0), n)] + spans, body)
            out = b.load(acc)
            if activation is not None:            # conv_bias's epilogue: + bias[o], activation
                out = b.fadd(out, b.load(b.gep(p["bias"], [b.mul(idx[1], p["bstride"])])))
                if activation != "identity":
                    fn, extra = ACTIVATION_OPS[activation]
                    out = SCALAR[fn](ScalarCtx(kb, None, dtype, dtype), [out] + [lir.Constant(ty, float(c))
                                                                                for c in extra])
            b.store(out, b.gep(p[po], [e]))
    return KernelSpec(name, args, emit, f"{kind} stride {stride} dilation {dil} groups {attrs['groups']} "
                                        f"flip {flip} ({dtype})")


def geometry(attrs, xshape, wshape):
    """Check the input/filter shapes as the CPU does (PlanError with its
    codes and details); (sizes n, c, oc, cg, ocg; per dim (i, k, o, pad))."""
    g = attrs["groups"]
    n, c = xshape[:2]
    oc, cg = wshape[:2]
    if c != cg * g:
        raise sh.PlanError(codes.CONV_CHANNELS, [c, cg * g, cg, g])
    if oc % g:
        raise sh.PlanError(codes.CONV_GROUPS, [oc, g])
    dims = []
    for d in range(len(xshape) - 2):
        i, k, dl, s = xshape[2 + d], wshape[2 + d], attrs["dilation"][d], attrs["stride"][d]
        p = resolve_pad(attrs["pad"][d], k, dl)
        padded, dk = i + 2 * p, dl * (k - 1) + 1
        if not (k >= 1 and padded >= dk):
            raise sh.PlanError(codes.CONV_SIZE, [d, padded, dk, k])
        dims.append((i, k, (padded - dk) // s + 1, p))
    return (n, c, oc, cg, oc // g), dims


class ConvStep(Step):
    kind = "conv"

    def __init__(self, index, op, prefix):
        super().__init__(index, op, prefix)
        self.dtype = op.results[0].type.dtype
        self.nd = op.results[0].type.ndim - 2
        self.attrs = {a: op.attrs[a] for a in ("pad", "stride", "dilation", "groups", "flip")}
        self.name = _name(op.name, self.dtype, self.nd, self.attrs)
        if op.name == "conv_bias":
            self.attrs["activation"] = op.attrs["activation"]
            self.name += "_" + op.attrs["activation"]

    def kernels(self):
        return [conv_kernel(self.name, self.op.name, self.dtype, self.nd, self.attrs)]

    def run(self, state):
        op = self.op
        a = state.contiguous(state.tensor(op.operands[0]))
        b = state.contiguous(state.tensor(op.operands[1]))
        extra = []
        if "shape" not in op.attrs:                  # conv, conv_bias (the gradients state a shape)
            sizes, dims = geometry(self.attrs, a.shape, b.shape)
            out_shape = sizes[:1] + sizes[2:3] + tuple(o for _, _, o, _ in dims)
            if op.name == "conv_bias":
                bias = state.contiguous(state.tensor(op.operands[2]))
                if bias.shape[0] not in (1, sizes[2]):
                    raise sh.PlanError(codes.SHAPE_MISMATCH, [1, bias.shape[0], sizes[2], 2])
                extra = [bias.ptr, 0 if bias.shape[0] == 1 else 1]
        else:
            given = sh.alloc_dims(sh.resolve(op.attrs["shape"], state.dyn_ints(op.operands[2:])))
            gy = a if op.name == "conv_grad_input" else b
            xs, ws = (given, b.shape) if op.name == "conv_grad_input" else (a.shape, given)
            sizes, dims = geometry(self.attrs, xs, ws)
            want = (sizes[0], sizes[2]) + tuple(o for _, _, o, _ in dims)
            for axis, (have, w) in enumerate(zip(gy.shape, want)):
                if have != w:
                    raise sh.PlanError(codes.CONV_SHAPE, [axis, have, w])
            out_shape = given
        out = state.alloc(a.dtype, tuple(out_shape))
        state.env[op.results[0]] = out
        if out.numel:
            flat = [v for dim in dims for v in dim]
            block = state.schedule.block
            state.launch(self.name, state.grid_1d(out.numel, block), (block, 1, 1),
                         [a.ptr, b.ptr, out.ptr] + list(sizes) + flat + extra)

    def describe(self, names):
        d = super().describe(names)
        pa, pb, po = self.op.opdef.roles
        d["launches"] = [{"kernel": self.name, "block": "[block, 1, 1]",
                          "grid": f"[min(ceil(numel({po}) / block), max_grid), 1, 1]",
                          "args": f"{pa}, {pb} (C-contiguous), {po} (new), batch, channels, out channels, "
                                  "channels per group, out channels per group, then per spatial dim the "
                                  "input, filter and output sizes and the resolved padding"}]
        return d


LOWERINGS = {"conv": ConvStep, "conv_bias": ConvStep, "conv_grad_input": ConvStep, "conv_grad_weight": ConvStep}
