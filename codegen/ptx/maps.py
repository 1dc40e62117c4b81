"""Map kernels: one output element per loop step, over a grid-stride loop.

A ``MapProgram`` says what one element is: loads of the inputs, then scalar
ops computed with the CPU backend's emitters (``SCALAR``), then one store.
A fused group of elementwise ops, a copy, a broadcast (``alloc``) and an
in-place increment (``inc_subtensor``) are all map programs.

Each program gets two kernels:

    NAME_c(n, out0, out1, ..., in0, s0, in1, s1, ...)
        contiguous: element i of output j is out_j[i], of input k in_k[i*s_k]
        (s_k 1: same shape, C-contiguous; 0: one element broadcast; or any
        flat stride). When every s_k is 0 or 1 and every pointer is 128-bit
        aligned, a thread step is ``vector_width`` elements: 128-bit vector
        loads and stores (broadcast elements splat), a scalar tail.
    NAME_s(n, d0..d{nd-1}, out0, os0_0.., out1, ..., in0, s0_0.., in1, ...)
        strided: every operand has its own strides in elements (0 along
        broadcast dims, maybe negative) over the output dims d; a thread's
        multi-index starts from one decomposition of its first i and then
        moves by the grid stride with carries (``IndexWalker``): no
        integer division per element.

All outputs of one launch have the same shape (a fused op's iteration space).

The host picks ``_c`` when every operand allows it, else ``_s``.
"""
import llvmlite.ir as lir

from ...ir.types import is_float, is_unsigned
from .. import half
from ..llvm_util import I32, I64, ITEMSIZE, LLTYPE
from ..scalar import SCALAR, ScalarCtx
from .kernel import KernelSpec, i64


class MapProgram:
    """``steps``: (op name, operand refs, operand dtype, result dtype, op or
    None); a ref below ``len(in_dtypes)`` is an input, else a step result.
    ``results``: the refs stored, one per output. Op name "constant" is a
    0-d constant op (its value attribute)."""

    def __init__(self, in_dtypes, out_dtypes, steps=(), results=(0,)):
        self.in_dtypes = tuple(in_dtypes)
        self.out_dtypes = tuple(out_dtypes)
        self.steps = tuple(steps)
        self.results = tuple(results)
        if len(self.out_dtypes) != len(self.results):
            raise ValueError("MapProgram: one dtype per result")

    @classmethod
    def copy(cls, dtype):
        return cls((dtype,), (dtype,))

    @classmethod
    def add(cls, dtype):
        """in0 + in1 with ``add``'s semantics (bool: or)."""
        return cls((dtype, dtype), (dtype,), [("add", (0, 1), dtype, dtype, None)], (2,))

    @classmethod
    def of_ops(cls, inputs, ops, results):
        """The program of elementwise/constant ``ops`` (in order) reading
        ``inputs`` (Values) and storing ``results`` (Values)."""
        refs = {v: k for k, v in enumerate(inputs)}
        steps = []
        for o in ops:
            r = o.results[0]
            if o.name == "constant":
                steps.append(("constant", (), r.type.dtype, r.type.dtype, o))
            else:
                steps.append((o.name, tuple(refs[v] for v in o.operands), operand_dtype(o), r.type.dtype, o))
            refs[r] = len(inputs) + len(steps) - 1
        return cls([v.type.dtype for v in inputs], [v.type.dtype for v in results], steps,
                   [refs[v] for v in results])

    def single(self, j):
        """The program computing only result ``j``."""
        return MapProgram(self.in_dtypes, (self.out_dtypes[j],), self.steps, (self.results[j],))

    def key(self):
        """Equal keys compute equal values (kernels may be shared)."""
        steps = tuple((name, refs, i, o, op.attrs["value"].tobytes() if name == "constant" else None)
                      for name, refs, i, o, op in self.steps)
        return (self.in_dtypes, self.out_dtypes, steps, self.results)

    def describe(self):
        names = [f"in{k}" for k in range(len(self.in_dtypes))]
        for opname, refs, _, _, op in self.steps:
            if opname == "constant":
                names.append(repr(op.attrs["value"][()].item()))
            else:
                names.append(f"{opname}({', '.join(names[r] for r in refs)})")
        return ", ".join(names[r] for r in self.results)

    def evaluate(self, kb, loaded):
        """The LLVM values of the results for one element."""
        vals = list(loaded)
        for opname, refs, in_dtype, out_dtype, op in self.steps:
            if opname == "constant":
                x = op.attrs["value"][()]
                ty = LLTYPE[out_dtype]
                vals.append(half.constant(x) if out_dtype == "float16" else
                            lir.Constant(ty, float(x) if is_float(out_dtype) else int(x)))
                continue
            sc = ScalarCtx(kb, op, in_dtype, out_dtype)
            vals.append(SCALAR[opname](sc, [vals[r] for r in refs]))
        return [vals[r] for r in self.results]


def operand_dtype(op):
    """The dtype an elementwise op computes in (where: its branches')."""
    return op.operands[-1].type.dtype if op.name == "where" else op.operands[0].type.dtype


def contiguous_params(prog):
    params = [("n", "i64")] + [(f"out{j}", dt) for j, dt in enumerate(prog.out_dtypes)]
    for k, dtype in enumerate(prog.in_dtypes):
        params += [(f"in{k}", dtype), (f"s{k}", "i64")]
    return params


def strided_params(prog, nd):
    params = [("n", "i64")] + [(f"d{d}", "i64") for d in range(nd)]
    for j, dtype in enumerate(prog.out_dtypes):
        params += [(f"out{j}", dtype)] + [(f"os{j}_{d}", "i64") for d in range(nd)]
    for k, dtype in enumerate(prog.in_dtypes):
        params += [(f"in{k}", dtype)] + [(f"s{k}_{d}", "i64") for d in range(nd)]
    return params


VECTOR_BYTES = 16           # 128-bit loads and stores


def vector_width(prog):
    """Elements per thread step of the vector path of ``NAME_c``: 128 bits
    of the widest operand (at most 8), 1 when that is not worth it."""
    widest = max(ITEMSIZE[d] for d in prog.in_dtypes + prog.out_dtypes)
    return max(1, min(8, VECTOR_BYTES // widest))


def _emit_contiguous(prog):
    n_in = len(prog.in_dtypes)
    vw = vector_width(prog)

    def scalar(kb, start):
        b, p = kb.b, kb.p
        first, step = kb.grid_first_step()
        with kb.loop(b.add(start, first), p["n"], step, "i") as i:
            loaded = [b.load(b.gep(p[f"in{k}"], [b.mul(i, p[f"s{k}"])]), name=f"v{k}") for k in range(n_in)]
            for j, value in enumerate(prog.evaluate(kb, loaded)):
                b.store(value, b.gep(p[f"out{j}"], [i]))

    def vector(kb):
        """Thread steps of vw elements: 128-bit loads of the stride-1
        inputs, broadcast elements splat, 128-bit stores; the < vw last
        elements by the scalar loop."""
        b, p = kb.b, kb.p
        nvec = b.udiv(p["n"], i64(vw))
        splats = []
        for k in range(n_in):
            splats.append(b.load(p[f"in{k}"], name=f"b{k}"))     # used only when s_k is 0
        first, step = kb.grid_first_step()
        with kb.loop(first, nvec, step, "q") as q:
            at = b.mul(q, i64(vw))
            cols = [_vector_or_splat(kb, k, dtype, at, vw, splats[k]) for k, dtype in enumerate(prog.in_dtypes)]
            vals = [lir.Constant(lir.VectorType(LLTYPE[d], vw), None) for d in prog.out_dtypes]
            for e in range(vw):
                for j, value in enumerate(prog.evaluate(kb, [c[e] for c in cols])):
                    vals[j] = b.insert_element(vals[j], value, lir.Constant(I32, e))
            for j, dtype in enumerate(prog.out_dtypes):
                vty = lir.VectorType(LLTYPE[dtype], vw)
                ptr = b.bitcast(b.gep(p[f"out{j}"], [at]), vty.as_pointer())
                b.store(vals[j], ptr, align=ITEMSIZE[dtype] * vw)
        return b.mul(nvec, i64(vw))

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        if vw == 1:
            scalar(kb, i64(0))
            return
        ok = lir.Constant(lir.IntType(1), 1)
        for j, dtype in enumerate(prog.out_dtypes):
            ok = b.and_(ok, _aligned(b, p[f"out{j}"], ITEMSIZE[dtype] * vw))
        for k, dtype in enumerate(prog.in_dtypes):
            unit = b.and_(b.icmp_unsigned("==", p[f"s{k}"], i64(1)), _aligned(b, p[f"in{k}"], ITEMSIZE[dtype] * vw))
            ok = b.and_(ok, b.or_(b.icmp_unsigned("==", p[f"s{k}"], i64(0)), unit))
        with b.if_else(ok) as (aligned, other):
            with aligned:
                done = vector(kb)
                scalar(kb, done)
            with other:
                scalar(kb, i64(0))
    return emit


def _vector_or_splat(kb, k, dtype, at, vw, splat):
    """The vw elements of input k from ``at``: one vector load when its
    stride is 1, its one broadcast element ``splat`` when it is 0."""
    b, p = kb.b, kb.p
    fn = b.function
    pre = b.block
    load_bb, join = fn.append_basic_block(f"vec{k}"), fn.append_basic_block(f"vec{k}.join")
    b.cbranch(b.icmp_unsigned("==", p[f"s{k}"], i64(0)), join, load_bb)
    b.position_at_end(load_bb)
    vty = lir.VectorType(LLTYPE[dtype], vw)
    vec = b.load(b.bitcast(b.gep(p[f"in{k}"], [at]), vty.as_pointer()), name=f"vec{k}", align=ITEMSIZE[dtype] * vw)
    parts = [b.extract_element(vec, lir.Constant(I32, e)) for e in range(vw)]
    b.branch(join)
    b.position_at_end(join)
    out = []
    for e in range(vw):
        phi = b.phi(LLTYPE[dtype], name=f"v{k}_{e}")
        phi.add_incoming(splat, pre)
        phi.add_incoming(parts[e], load_bb)
        out.append(phi)
    return out


def _aligned(b, ptr, nbytes):
    return b.icmp_unsigned("==", b.and_(b.ptrtoint(ptr, I64), i64(nbytes - 1)), i64(0))


def _emit_strided(prog, nd):
    def emit(kb, schedule):
        b, p = kb.b, kb.p
        dims = [p[f"d{d}"] for d in range(nd)]
        first, step = kb.grid_first_step()
        walker = kb.walk(first, dims)           # divisions once per thread, not per element
        step_idx = walker.step_of(step)
        with kb.loop(first, p["n"], step, "i"):
            idx = walker.index()
            loaded = []
            for k in range(len(prog.in_dtypes)):
                off = kb.offset(idx, [p[f"s{k}_{d}"] for d in range(nd)])
                loaded.append(b.load(b.gep(p[f"in{k}"], [off]), name=f"v{k}"))
            for j, value in enumerate(prog.evaluate(kb, loaded)):
                out = b.gep(p[f"out{j}"], [kb.offset(idx, [p[f"os{j}_{d}"] for d in range(nd)])])
                b.store(value, out)
            walker.advance(step_idx)
    return emit


def map_kernels(name, prog, nd):
    """The kernel specs ``NAME_c`` and (for nd >= 1) ``NAME_s`` of ``prog``."""
    doc = prog.describe()
    specs = [KernelSpec(f"{name}_c", contiguous_params(prog), _emit_contiguous(prog), doc)]
    if nd:
        specs.append(KernelSpec(f"{name}_s", strided_params(prog, nd), _emit_strided(prog, nd), doc))
    return specs


def copy_kernel_name(dtype, nd):
    return f"theon_copy_{dtype}_{nd}d"


def copy_kernels(dtype, nd):
    return map_kernels(copy_kernel_name(dtype, nd), MapProgram.copy(dtype), nd)


# --- arange ---------------------------------------------------------------------------
def arange_kernel(name, dtype):
    """NAME(out, n, start, step): out[i] = start + i*delta as NumPy fills it
    (floats: out[0] = start, out[1] = start + step, then start + i*delta
    with delta = (start + step) - start; ints: start + i*step, wrapping)."""
    params = [("out", dtype), ("n", "i64"), ("start", dtype), ("step", dtype)]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        start, step = b.load(p["start"], name="start"), b.load(p["step"], name="step")
        ty = start.type
        if is_float(dtype):
            delta = b.fsub(b.fadd(start, step), start, name="delta")
        else:
            ext = b.zext if is_unsigned(dtype) else b.sext
            first = start if ty.width == 64 else ext(start, I64)
            delta = step if ty.width == 64 else ext(step, I64)
        with kb.grid_stride(p["n"]) as i:
            if is_float(dtype):
                val = b.fadd(start, b.fmul(b.sitofp(i, ty), delta))
                val = b.select(b.icmp_signed("==", i, i64(1)), b.fadd(start, step), val)
                val = b.select(b.icmp_signed("==", i, i64(0)), start, val)
            else:
                val = b.add(first, b.mul(i, delta))
                if ty.width != 64:
                    val = b.trunc(val, ty)
            b.store(val, b.gep(p["out"], [i]))
    return KernelSpec(name, params, emit, f"arange {dtype}")
