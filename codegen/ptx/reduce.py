"""Reduction kernels: sum/prod/max/min, argmax/argmin, sum_to, and the
reduced results of ``fused`` ops.

The host sees a reduction as M outputs of R terms each over an iteration
space whose dims split into *kept* dims (C order of the output) and
*reduced* dims (C order of the space), collapsed where every input allows
and padded with size-1 dims to the kernel's ndim. Which axes are reduced is
a run-time decision, so ``sum_to`` (whose axes depend on run-time sizes)
uses the same kernels. A term is a scalar program (``MapProgram``, one
result) of the kernel's inputs: the input itself for a plain reduction, a
fused op's region for a fused one; input k of term r of output m is at
``offset(decompose(m, kd), ks_k) + offset(decompose(r, rd), rs_k)``. For
argmax/argmin r is also the term's index (the flat index over the reduced
axes, NumPy's).

Kernels of one reduction (ndim = the iteration space's):

    NAME_t   a thread per output, its terms in order (many small outputs)
    NAME_bf  a block per (output, chunk of terms): threads stride over the
             chunk, then a tree reduction in shared memory; final values
    NAME_bp  the same, writing the partial of each of S chunks (M x S)
    NAME_b2  a block per output reducing its S partials; final

    first pass:  (in0.., dst, [dst_i], M, R, S, chunk, kd0.., rd0..,
                  ks0_0.., rs0_0.., ks1_0.., ...)
    second pass: (src, [src_i], dst, M, R=S, S=1, chunk=S, kd0=M, rd0=S,
                  ks0=S, rs0=1)

Partials are in the accumulator dtype (float64 for float32 sums, as on the
CPU); argmax/argmin partials are (value, index) pairs; ties go to the
smaller index, NaN counting as the extreme.
"""
import llvmlite.ir as lir

from ...ir.dialect import OPS
from ...ir.types import is_float, is_unsigned
from ..llvm_util import LLTYPE
from ..accumulate import ReduceSpec
from .kernel import KernelSpec, i64
from ..llvm_util import I64

INDEX_NONE = (1 << 63) - 1      # index of the identity term of argmax/argmin


class ArgSpec:
    """How argmax/argmin compare (value, index) pairs."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype
        self.acc_dtype = dtype
        self.pred = ">" if name == "argmax" else "<"

    @property
    def acc_type(self):
        return LLTYPE[self.dtype]

    def identity(self):
        ty, dtype, top = self.acc_type, self.dtype, self.name == "argmin"
        if is_float(dtype):
            return lir.Constant(ty, float("inf") if top else float("-inf"))
        if is_unsigned(dtype):
            return lir.Constant(ty, (1 if dtype == "bool" else -1) if top else 0)   # -1: all ones
        bits = ty.width
        return lir.Constant(ty, (1 << (bits - 1)) - 1 if top else -(1 << (bits - 1)))

    def better(self, kb, v, vi, best, best_i):
        """i1: (v, vi) replaces (best, best_i)."""
        b = kb.b
        earlier = b.icmp_signed("<", vi, best_i)
        if is_float(self.dtype):
            v_nan = b.fcmp_unordered("uno", v, v)
            best_nan = b.fcmp_unordered("uno", best, best)
            wins = b.or_(b.fcmp_ordered(self.pred, v, best),
                         b.and_(b.fcmp_ordered("==", v, best), earlier))
            neither = b.and_(b.not_(v_nan), b.not_(best_nan))
            return b.or_(b.and_(neither, wins), b.and_(v_nan, b.or_(b.not_(best_nan), earlier)))
        cmp = b.icmp_unsigned if is_unsigned(self.dtype) else b.icmp_signed
        return b.or_(cmp(self.pred, v, best), b.and_(b.icmp_signed("==", v, best), earlier))


def reduce_spec(opname, dtype):
    if OPS[opname].arg_reduces:
        return ArgSpec(opname, dtype)
    return ReduceSpec("sum" if opname == "sum_to" else opname, dtype)


def is_arg(spec):
    return isinstance(spec, ArgSpec)


def final_dtype(spec):
    return "int64" if is_arg(spec) else spec.dtype


def reduce_params(spec, prog, nd, dst_partial):
    """Parameters of a first-pass kernel reading the terms ``prog`` computes."""
    params = [(f"in{k}", dtype) for k, dtype in enumerate(prog.in_dtypes)]
    params += _dst_params(spec, dst_partial)
    params += [("M", "i64"), ("R", "i64"), ("S", "i64"), ("chunk", "i64")]
    params += [(f"kd{d}", "i64") for d in range(nd)] + [(f"rd{d}", "i64") for d in range(nd)]
    for k in range(len(prog.in_dtypes)):
        params += [(f"ks{k}_{d}", "i64") for d in range(nd)] + [(f"rs{k}_{d}", "i64") for d in range(nd)]
    return params


def partial_params(spec):
    """Parameters of the second pass over the M x S partials."""
    params = [("src", spec.acc_dtype)] + ([("src_i", "int64")] if is_arg(spec) else [])
    params += _dst_params(spec, False)
    return params + [(n, "i64") for n in ("M", "R", "S", "chunk", "kd0", "rd0", "ks0", "rs0")]


def _dst_params(spec, dst_partial):
    if not dst_partial:
        return [("dst", final_dtype(spec))]
    return [("dst", spec.acc_dtype)] + ([("dst_i", "int64")] if is_arg(spec) else [])


class _Acc:
    """The running value (and index) of one thread, in stack slots."""

    def __init__(self, kb, spec, name):
        self.kb, self.spec = kb, spec
        self.v = kb.slot(spec.acc_type, f"{name}.v")
        self.i = kb.slot(I64, f"{name}.i") if is_arg(spec) else None

    def reset(self):
        self.kb.b.store(self.spec.identity(), self.v)
        if self.i is not None:
            self.kb.b.store(i64(INDEX_NONE), self.i)

    def add(self, v, vi=None):
        kb, b = self.kb, self.kb.b
        cur = b.load(self.v)
        if self.i is None:
            b.store(self.spec.combine(kb, cur, v), self.v)
            return
        cur_i = b.load(self.i)
        take = self.spec.better(kb, v, vi, cur, cur_i)
        b.store(b.select(take, v, cur), self.v)
        b.store(b.select(take, vi, cur_i), self.i)

    def load(self):
        b = self.kb.b
        return b.load(self.v), (b.load(self.i) if self.i is not None else None)


class _Terms:
    """Term r of output m: the program evaluated on its inputs there."""

    def __init__(self, kb, spec, prog, nd):
        self.kb, self.spec, self.prog = kb, spec, prog
        p = kb.p
        n = len(prog.in_dtypes)
        self.kd = [p[f"kd{d}"] for d in range(nd)]
        self.rd = [p[f"rd{d}"] for d in range(nd)]
        self.ks = [[p[f"ks{k}_{d}"] for d in range(nd)] for k in range(n)]
        self.rs = [[p[f"rs{k}_{d}"] for d in range(nd)] for k in range(n)]

    def base(self, m):
        idx = self.kb.decompose(m, self.kd)
        return [self.kb.offset(idx, ks) for ks in self.ks]

    def read(self, bases, r):
        """(value in the accumulator type, index or None)."""
        kb, b, spec = self.kb, self.kb.b, self.spec
        idx = kb.decompose(r, self.rd)
        loaded = []
        for k, (base, rs) in enumerate(zip(bases, self.rs)):
            loaded.append(b.load(b.gep(kb.p[f"in{k}"], [b.add(base, kb.offset(idx, rs))]), name=f"v{k}"))
        (v,) = self.prog.evaluate(kb, loaded)
        if spec.acc_dtype != spec.dtype:
            v = b.fpext(v, spec.acc_type)
        return v, (r if is_arg(spec) else None)


class _Partials:
    """Term r of output m of the second pass: partial (m, r)."""

    def __init__(self, kb, spec):
        self.kb, self.spec = kb, spec

    def base(self, m):
        return self.kb.b.mul(m, self.kb.p["ks0"])

    def read(self, base, r):
        b, p = self.kb.b, self.kb.p
        off = b.add(base, b.mul(r, p["rs0"]))
        v = b.load(b.gep(p["src"], [off]), name="partial")
        vi = b.load(b.gep(p["src_i"], [off])) if is_arg(self.spec) else None
        return v, vi


def _store_result(kb, spec, at, v, vi, dst_partial):
    b, p = kb.b, kb.p
    if dst_partial:
        b.store(v, b.gep(p["dst"], [at]))
        if vi is not None:
            b.store(vi, b.gep(p["dst_i"], [at]))
    elif is_arg(spec):
        b.store(vi, b.gep(p["dst"], [at]))
    else:
        b.store(spec.finish(kb, v), b.gep(p["dst"], [at]))


def _emit_thread(spec, prog, nd):
    def emit(kb, schedule):
        p = kb.p
        terms = _Terms(kb, spec, prog, nd)
        acc = _Acc(kb, spec, "acc")
        with kb.grid_stride(p["M"], "m") as m:
            base = terms.base(m)
            acc.reset()
            with kb.loop(i64(0), p["R"], i64(1), "r") as r:
                acc.add(*terms.read(base, r))
            _store_result(kb, spec, m, *acc.load(), dst_partial=False)
    return emit


def _emit_block(spec, prog, nd, dst_partial):
    """prog None: the second pass over partials."""
    def emit(kb, schedule):
        b, p = kb.b, kb.p
        width = schedule.block
        tid = kb.sreg("tid")
        terms = _Partials(kb, spec) if prog is None else _Terms(kb, spec, prog, nd)
        acc = _Acc(kb, spec, "acc")
        sv = kb.shared(spec.acc_type, width, "sv")
        si = kb.shared(I64, width, "si") if is_arg(spec) else None
        with kb.block_stride(p["M"], "m", "x") as m:
            base = terms.base(m)
            with kb.block_stride(p["S"], "s", "y") as s:
                lo = b.mul(s, p["chunk"])
                hi = kb.min(p["R"], b.add(lo, p["chunk"]))
                acc.reset()
                with kb.loop(b.add(lo, tid), hi, kb.sreg("ntid"), "r") as r:
                    acc.add(*terms.read(base, r))
                v, vi = acc.load()
                b.store(v, b.gep(sv, [tid]))
                if si is not None:
                    b.store(vi, b.gep(si, [tid]))
                kb.barrier()
                half = width // 2
                while half >= 1:
                    with kb.if_(b.icmp_unsigned("<", tid, i64(half))):
                        mine, theirs = b.gep(sv, [tid]), b.gep(sv, [b.add(tid, i64(half))])
                        b.store(b.load(mine), acc.v)
                        if si is not None:
                            b.store(b.load(b.gep(si, [tid])), acc.i)
                            acc.add(b.load(theirs), b.load(b.gep(si, [b.add(tid, i64(half))])))
                        else:
                            acc.add(b.load(theirs))
                        v, vi = acc.load()
                        b.store(v, mine)
                        if si is not None:
                            b.store(vi, b.gep(si, [tid]))
                    kb.barrier()
                    half //= 2
                with kb.if_(b.icmp_unsigned("==", tid, i64(0))):
                    v = b.load(sv)
                    vi = b.load(si) if si is not None else None
                    _store_result(kb, spec, b.add(b.mul(m, p["S"]), s), v, vi, dst_partial)
                kb.barrier()        # sv is reused by the next (m, s)
    return emit


def reduce_kernels(name, opname, prog, nd):
    """The four kernel specs of reducing the terms ``prog`` computes (a
    single-result MapProgram) over an iteration space of ``nd`` dims."""
    spec = reduce_spec(opname, prog.out_dtypes[0])
    doc = f"{opname} of {prog.describe()}"
    return [
        KernelSpec(f"{name}_t", reduce_params(spec, prog, nd, False), _emit_thread(spec, prog, nd), doc),
        KernelSpec(f"{name}_bf", reduce_params(spec, prog, nd, False), _emit_block(spec, prog, nd, False), doc,
                   barriers=True),
        KernelSpec(f"{name}_bp", reduce_params(spec, prog, nd, True), _emit_block(spec, prog, nd, True), doc,
                   barriers=True),
        KernelSpec(f"{name}_b2", partial_params(spec), _emit_block(spec, None, 1, False), doc, barriers=True),
    ]
