"""Map kernels: one output element per loop step, over a grid-stride loop.

A ``MapProgram`` says what one element is: loads of the inputs, then scalar
ops computed with the CPU backend's emitters (``SCALAR``), then one store.
A fused group of elementwise ops, a copy, a broadcast (``alloc``) and an
in-place increment (``inc_subtensor``) are all map programs.

Each program gets two kernels:

    NAME_c(n, out, in0, s0, in1, s1, ...)
        contiguous: element i of the output is out[i], of input k in_k[i*s_k]
        with s_k 1 (same shape, C-contiguous) or 0 (one element broadcast).
    NAME_s(n, d0..d{nd-1}, out, os0.., in0, s0_0.., in1, ...)
        strided: i is decomposed over the output dims d; every operand has
        its own strides in elements (0 along broadcast dims, maybe negative).

The host picks ``_c`` when every operand allows it, else ``_s``.
"""
from ...ir.types import is_float
from ..cpu.scalar import SCALAR, ScalarCtx
from .kernel import KernelSpec, i64


class MapProgram:
    """``steps``: (op name, operand refs, operand dtype, result dtype, op or
    None); a ref below ``len(in_dtypes)`` is an input, else a step result."""

    def __init__(self, in_dtypes, out_dtype, steps=(), result=0):
        self.in_dtypes = tuple(in_dtypes)
        self.out_dtype = out_dtype
        self.steps = tuple(steps)
        self.result = result

    @classmethod
    def copy(cls, dtype):
        return cls((dtype,), dtype)

    @classmethod
    def add(cls, dtype):
        """in0 + in1 with ``add``'s semantics (bool: or)."""
        return cls((dtype, dtype), dtype, [("add", (0, 1), dtype, dtype, None)], 2)

    def describe(self):
        names = [f"in{k}" for k in range(len(self.in_dtypes))]
        for opname, refs, _, _, _ in self.steps:
            names.append(f"{opname}({', '.join(names[r] for r in refs)})")
        return names[self.result]

    def evaluate(self, kb, loaded):
        vals = list(loaded)
        for opname, refs, in_dtype, out_dtype, op in self.steps:
            sc = ScalarCtx(kb, op, in_dtype, out_dtype)
            vals.append(SCALAR[opname](sc, [vals[r] for r in refs]))
        return vals[self.result]


def contiguous_params(prog):
    params = [("n", "i64"), ("out", prog.out_dtype)]
    for k, dtype in enumerate(prog.in_dtypes):
        params += [(f"in{k}", dtype), (f"s{k}", "i64")]
    return params


def strided_params(prog, nd):
    params = [("n", "i64")] + [(f"d{d}", "i64") for d in range(nd)]
    params += [("out", prog.out_dtype)] + [(f"os{d}", "i64") for d in range(nd)]
    for k, dtype in enumerate(prog.in_dtypes):
        params += [(f"in{k}", dtype)] + [(f"s{k}_{d}", "i64") for d in range(nd)]
    return params


def _emit_contiguous(prog):
    def emit(kb, schedule):
        b, p = kb.b, kb.p
        with kb.grid_stride(p["n"]) as i:
            loaded = [b.load(b.gep(p[f"in{k}"], [b.mul(i, p[f"s{k}"])]), name=f"v{k}")
                      for k in range(len(prog.in_dtypes))]
            b.store(prog.evaluate(kb, loaded), b.gep(p["out"], [i]))
    return emit


def _emit_strided(prog, nd):
    def emit(kb, schedule):
        b, p = kb.b, kb.p
        dims = [p[f"d{d}"] for d in range(nd)]
        with kb.grid_stride(p["n"]) as i:
            idx = kb.decompose(i, dims)
            loaded = []
            for k in range(len(prog.in_dtypes)):
                off = kb.offset(idx, [p[f"s{k}_{d}"] for d in range(nd)])
                loaded.append(b.load(b.gep(p[f"in{k}"], [off]), name=f"v{k}"))
            out = b.gep(p["out"], [kb.offset(idx, [p[f"os{d}"] for d in range(nd)])])
            b.store(prog.evaluate(kb, loaded), out)
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
            ext = b.zext if dtype == "uint8" else b.sext
            first = start if ty.width == 64 else ext(start, i64(0).type)
            delta = step if ty.width == 64 else ext(step, i64(0).type)
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
