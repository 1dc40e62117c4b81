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
    NAME_bf  a block per (output, chunk of terms): each thread keeps UNROLL
             independent accumulators (UNROLL loads in flight; 128-bit
             vector loads when the chunk is one contiguous aligned run of
             every input), then a block reduction with warp shuffles
             (``KernelBuilder.block_reduce``); final values
    NAME_bp  the same, writing the partial of each of S chunks (M x S); S
             is sized so that M x S blocks fill the device (``splits``)
    NAME_b2  a block per output reducing its S partials; final

Term indices advance with an ``IndexWalker`` (no division per term). The
order of combination is fixed by the schedule: results are deterministic
(no atomics).

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
from ..llvm_util import I32, I64, ITEMSIZE, LLTYPE
from ..accumulate import ReduceSpec
from .kernel import KernelSpec, i64

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


UNROLL = 4          # independent accumulators (loads in flight) per thread
VECTOR_BYTES = 16   # 128-bit loads where the terms are contiguous and aligned


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
        b = self.kb.b
        new = combine(self.kb, self.spec, self.load(), (v, vi))
        b.store(new[0], self.v)
        if self.i is not None:
            b.store(new[1], self.i)

    def load(self):
        b = self.kb.b
        return b.load(self.v), (b.load(self.i) if self.i is not None else None)


def combine(kb, spec, a, c):
    """The combination of (value, index or None) pairs ``a`` and ``c``."""
    b = kb.b
    if not is_arg(spec):
        return spec.combine(kb, a[0], c[0]), None
    take = spec.better(kb, c[0], c[1], a[0], a[1])
    return b.select(take, c[0], a[0]), b.select(take, c[1], a[1])


def _identity(spec):
    return (spec.identity(), i64(INDEX_NONE)) if is_arg(spec) else (spec.identity(),)


def _block_result(kb, spec, accs, width):
    """The block's combination of every thread's accumulators (in thread 0
    at least): the thread's accumulators in a fixed order, then warp
    shuffles and one value per warp (``KernelBuilder.block_reduce``)."""
    v = accs[0].load()
    for acc in accs[1:]:
        v = combine(kb, spec, v, acc.load())
    vals = v if is_arg(spec) else (v[0],)

    def comb(a, c):
        r = combine(kb, spec, (a[0], a[1] if len(a) > 1 else None), (c[0], c[1] if len(c) > 1 else None))
        return r if is_arg(spec) else (r[0],)
    out = kb.block_reduce(vals, comb, _identity(spec), width)
    return out[0], (out[1] if is_arg(spec) else None)


class _Terms:
    """Term r of output m: the program evaluated on its inputs there. A
    ``walker`` (``IndexWalker`` over the reduced dims) gives the term's
    multi-index without a division per term."""

    def __init__(self, kb, spec, prog, nd):
        self.kb, self.spec, self.prog = kb, spec, prog
        p = kb.p
        n = len(prog.in_dtypes)
        self.nd = nd
        self.kd = [p[f"kd{d}"] for d in range(nd)]
        self.rd = [p[f"rd{d}"] for d in range(nd)]
        self.ks = [[p[f"ks{k}_{d}"] for d in range(nd)] for k in range(n)]
        self.rs = [[p[f"rs{k}_{d}"] for d in range(nd)] for k in range(n)]

    def base(self, m):
        idx = self.kb.decompose(m, self.kd)
        return [self.kb.offset(idx, ks) for ks in self.ks]

    def value(self, loaded, r):
        kb, b, spec = self.kb, self.kb.b, self.spec
        (v,) = self.prog.evaluate(kb, loaded)
        if spec.acc_dtype != spec.dtype:
            v = b.fpext(v, spec.acc_type)
        return v, (r if is_arg(spec) else None)

    def read(self, bases, r, idx):
        """(value in the accumulator type, index or None) of term ``r`` at
        reduced multi-index ``idx``."""
        kb, b = self.kb, self.kb.b
        loaded = []
        for k, (base, rs) in enumerate(zip(bases, self.rs)):
            loaded.append(b.load(b.gep(kb.p[f"in{k}"], [b.add(base, kb.offset(idx, rs))]), name=f"v{k}"))
        return self.value(loaded, r)

    def width(self):
        """Terms per vector load (128 bits of the widest input)."""
        return max(1, min(8, VECTOR_BYTES // max(ITEMSIZE[d] for d in self.prog.in_dtypes)))

    def contiguous(self, bases, lo, vw):
        """i1: the terms are one run of contiguous elements of every input
        (the reduced dims collapsed to the last one, stride 1) and term
        ``lo`` of each input is aligned for ``vw``-element vector loads."""
        b, p = self.kb.b, self.kb.p
        ok = b.icmp_unsigned("==", lir.Constant(I64, 0), b.urem(lo, i64(vw)))
        for d in range(self.nd - 1):
            ok = b.and_(ok, b.icmp_unsigned("==", self.rd[d], i64(1)))
        for k, (base, rs) in enumerate(zip(bases, self.rs)):
            ok = b.and_(ok, b.icmp_unsigned("==", rs[-1], i64(1)))
            size = ITEMSIZE[self.prog.in_dtypes[k]]
            addr = b.ptrtoint(b.gep(p[f"in{k}"], [b.add(base, lo)]), I64)
            ok = b.and_(ok, b.icmp_unsigned("==", b.and_(addr, i64(size * vw - 1)), i64(0)))
        return ok

    def read_vector(self, bases, r, vw):
        """The ``vw`` terms r.. r+vw-1 of a contiguous run (vector loads)."""
        kb, b = self.kb, self.kb.b
        vecs = []
        for k, base in enumerate(bases):
            ty = LLTYPE[self.prog.in_dtypes[k]]
            vty = lir.VectorType(ty, vw)
            ptr = b.bitcast(b.gep(kb.p[f"in{k}"], [b.add(base, r)]), vty.as_pointer())
            vecs.append(b.load(ptr, name=f"vec{k}", align=ITEMSIZE[self.prog.in_dtypes[k]] * vw))
        return [self.value([b.extract_element(v, lir.Constant(I32, e)) for v in vecs], b.add(r, i64(e)))
                for e in range(vw)]


class _Partials:
    """Term r of output m of the second pass: partial (m, r)."""

    def __init__(self, kb, spec):
        self.kb, self.spec = kb, spec
        self.rd = [kb.p["rd0"]]

    def base(self, m):
        return self.kb.b.mul(m, self.kb.p["ks0"])

    def read(self, base, r, idx=None):
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
        walker = kb.walk(i64(0), terms.rd, "rix")
        one = walker.step_of(i64(1))
        with kb.grid_stride(p["M"], "m") as m:
            base = terms.base(m)
            acc.reset()
            for slot in walker.slots:
                kb.b.store(i64(0), slot)
            with kb.loop(i64(0), p["R"], i64(1), "r") as r:
                acc.add(*terms.read(base, r, walker.index()))
                walker.advance(one)
            _store_result(kb, spec, m, *acc.load(), dst_partial=False)
    return emit


def _strided_terms(kb, terms, base, accs, lo, hi, stride):
    """Terms lo, lo+stride, .. below hi into ``accs`` in turn (one
    independent accumulator per unrolled term: UNROLL loads in flight)."""
    b = kb.b
    u = len(accs)
    walker = kb.walk(lo, terms.rd, "rix")
    step = walker.step_of(stride)
    nxt = kb.slot(I64, "rnext")
    b.store(lo, nxt)
    main_hi = b.sub(hi, b.mul(stride, i64(u - 1)))
    with kb.loop(lo, main_hi, b.mul(stride, i64(u)), "r") as r:
        got = []
        for j in range(u):
            got.append(terms.read(base, b.add(r, b.mul(stride, i64(j))), walker.index()))
            walker.advance(step)
        for acc, t in zip(accs, got):
            acc.add(*t)
        b.store(b.add(r, b.mul(stride, i64(u))), nxt)
    with kb.loop(b.load(nxt), hi, stride, "rt") as r:
        accs[0].add(*terms.read(base, r, walker.index()))
        walker.advance(step)


def _emit_block(spec, prog, nd, dst_partial):
    """prog None: the second pass over partials."""
    def emit(kb, schedule):
        b, p = kb.b, kb.p
        width = schedule.block
        tid, ntid = kb.sreg("tid"), kb.sreg("ntid")
        terms = _Partials(kb, spec) if prog is None else _Terms(kb, spec, prog, nd)
        accs = [_Acc(kb, spec, f"acc{j}") for j in range(UNROLL)]
        vw = terms.width() if prog is not None else 1
        with kb.block_stride(p["M"], "m", "x") as m:
            base = terms.base(m)
            with kb.block_stride(p["S"], "s", "y") as s:
                lo = b.mul(s, p["chunk"])
                hi = kb.min(p["R"], b.add(lo, p["chunk"]))
                for acc in accs:
                    acc.reset()
                if vw > 1:
                    with b.if_else(terms.contiguous(base, lo, vw)) as (vec, other):
                        with vec:
                            _vector_terms(kb, terms, base, accs, lo, hi, vw)
                        with other:
                            _strided_terms(kb, terms, base, accs, b.add(lo, tid), hi, ntid)
                else:
                    _strided_terms(kb, terms, base, accs, b.add(lo, tid), hi, ntid)
                v, vi = _block_result(kb, spec, accs, width)
                with kb.if_(b.icmp_unsigned("==", tid, i64(0))):
                    _store_result(kb, spec, b.add(b.mul(m, p["S"]), s), v, vi, dst_partial)
    return emit


def _vector_terms(kb, terms, base, accs, lo, hi, vw):
    """A contiguous aligned run: thread t loads vectors lo/vw + t, + ntid, ..
    (UNROLL // vw or 1 per step, their terms spread over the accumulators),
    then the < vw last terms one by one."""
    b = kb.b
    tid, ntid = kb.sreg("tid"), kb.sreg("ntid")
    nvec = b.udiv(b.sub(hi, lo), i64(vw))
    end = b.add(lo, b.mul(nvec, i64(vw)))
    per = max(1, len(accs) // vw) if vw < len(accs) else 1
    stride = b.mul(ntid, i64(vw))
    nxt = kb.slot(I64, "vnext")
    start = b.add(lo, b.mul(tid, i64(vw)))
    b.store(start, nxt)
    main_hi = b.sub(end, b.mul(stride, i64(per - 1)))
    with kb.loop(start, main_hi, b.mul(stride, i64(per)), "q") as q:
        got = []
        for j in range(per):
            got += terms.read_vector(base, b.add(q, b.mul(stride, i64(j))), vw)
        for e, t in enumerate(got):
            accs[e % len(accs)].add(*t)
        b.store(b.add(q, b.mul(stride, i64(per))), nxt)
    with kb.loop(b.load(nxt), end, stride, "qt") as q:
        for e, t in enumerate(terms.read_vector(base, q, vw)):
            accs[e % len(accs)].add(*t)
    with kb.loop(b.add(end, tid), hi, ntid, "rt") as r:
        accs[0].add(*terms.read(base, r, [i64(0)] * (terms.nd - 1) + [r]))


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


MAX_SPLITS = 1024
SPLIT_MIN_TERMS = 2 * UNROLL     # terms per thread of a split chunk at least


def splits(schedule, M, R):
    """(S, chunk) of a block reduction of M outputs of R terms: enough
    blocks (M x S) to fill the device (``Schedule.fill_blocks``), chunks of
    at least SPLIT_MIN_TERMS terms per thread, rounded to whole vectors (so
    every chunk starts aligned); deterministic for a given schedule."""
    block = schedule.block
    S = max(1, min(-(-schedule.fill_blocks // M), -(-R // (SPLIT_MIN_TERMS * block)), MAX_SPLITS))
    if S == 1:
        return 1, R
    chunk = -(-R // S)
    chunk = -(-chunk // 8) * 8
    return -(-R // chunk), chunk
