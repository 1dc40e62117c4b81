"""Lowering of ``fused`` (``ir/ops/fused.py``): one loop nest over the
iteration space evaluates the region with the SCALAR emitters per element,
stores every elementwise result and accumulates every reduced one, so no
intermediate value touches memory.

In the entry, before any loop: the operands' broadcast (checked), the
empty-axis checks of max/min, and every allocation. The loops themselves
live in workers (``parallel.py``) that split the outermost loop across
threads when the op's schedule says so. The loop orders:

* *flat*: at run time every operand is C-contiguous with the iteration
  space (or a static scalar): one unit-stride loop over all elements.
  Elementwise results, and reductions over every axis.
* *nd, elementwise*: dims in order, the outermost split across threads;
  the innermost loop has a unit-stride copy (vectorized) and a strided one.
* *inner reduction* (the last axis is reduced): the kept dims outside (the
  first one split), the reduced dims inside, last innermost; each reduced
  result lives in a register while the inner loop runs. Float sums add in
  blocks of ``BLOCK`` (``reassoc``: vectorized) combined with Kahan
  compensation, float32 in float64, as ``reduction.py``. With no kept dim
  (reduce over all) the first reduced dim is split and each thread's
  partial lands in a stack array that the entry combines in order.
* *stages* (several regions, always rows): per row, each stage's reduced
  loops run in turn, its reductions becoming the next stages' arguments;
  a heavy value two stages compute (softmax's ``exp(x - max)``) is kept
  per row in a scratch buffer by the first and loaded by the later ones
  (``plan_row_cache``), so the row is read from memory once and ``exp``
  runs once per element.
* *outer reduction* (the last axis is kept): accumulators shaped like the
  result are updated while walking the space in order; the outermost dim
  is split, and when it is reduced every thread has its own accumulators,
  combined in order afterwards.

Loads and stores carry scoped ``noalias`` metadata (results are fresh
buffers, never aliasing the operands or each other), so the loop
vectorizer needs no run-time alias checks however many operands there are.
"""
import llvmlite.ir as lir
import numpy as np

from ....ir.ops.fused import REDUCERS, iteration_shape, reduce_kinds, stage_results
from ....ir.types import TensorType
from ...errors import EMPTY_REDUCTION
from ...llvm_util import is_const
from .context import I1, I8P, I32, I64, ITEMSIZE, LLTYPE, i64
from .elementwise import operand_dtype
from .loops import broadcast, unit_stride_versions
from .parallel import MAX_THREADS, outline, parallel_for, plan_parts, run_parts
from ...accumulate import BLOCK, Accumulator, ReduceSpec
from ... import half
from ...scalar import SCALAR, ScalarCtx


def lower_fused(ctx, op, bufs):
    return _Fused(ctx, op, bufs).lower()


def lower_yield(ctx, op, bufs):
    raise RuntimeError("yield is lowered with its fused op, never on its own")


def is_zero(v):
    return is_const(v, 0)


class _Result:
    """One result: its buffer, and for a reduction its spec and accumulators."""

    def __init__(self, index, kind, dtype, buf):
        self.index = index              # position among its region's yielded values
        self.kind = kind                # None or sum/prod/max/min
        self.buf = buf
        self.spec = ReduceSpec(kind, dtype) if kind else None
        self.acc = None                 # outer: accumulator Buf (maybe buf itself)
        self.private = False            # outer: one accumulator copy per part
        self.partials = None            # reduce-all: [MAX_THREADS] acc, comp arrays

    @property
    def kahan(self):
        return self.spec is not None and self.spec.kahan


class _Stage:
    """One region and the results it yields."""

    def __init__(self, region, results):
        self.region = region
        self.results = results
        self.elementwise = [r for r in results if r.kind is None]
        self.reduced = [r for r in results if r.kind is not None]
        self.stores = []        # [(region value, _Cached)] this stage writes to its row cache
        self.loads = []         # [(region value, _Cached)] this stage reads instead of computing
        for k, r in enumerate(results):
            r.index = k


class _Cached:
    """A value an earlier stage computes and later stages need again: kept
    per row in a scratch buffer (one row per thread, in L1/L2)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.buf = None


def _value_keys(block):
    """id(value) -> a key equal for values computed alike from the same
    block arguments (stage k's arguments extend stage j's, j < k)."""
    keys = {id(a): ("arg", i) for i, a in enumerate(block.args)}
    for op in block.ops[:-1]:
        attrs = tuple(sorted((k, v.dtype.str + v.tobytes().hex() if isinstance(v, np.ndarray) else repr(v))
                             for k, v in op.attrs.items()))
        keys[id(op.results[0])] = (op.name, attrs, tuple(keys[id(v)] for v in op.operands),
                                   op.results[0].type.dtype)
    return keys


def plan_row_cache(stages):
    """Mark, in each later stage, the heavy values an earlier stage computes
    too: the earlier one stores them per row, the later one loads them."""
    first = {}              # key -> (stage, value)
    cached = {}             # key -> _Cached
    for k, stage in enumerate(stages):
        block = stage.region
        keys = _value_keys(block)
        ops = block.ops[:-1]
        shared = {id(op.results[0]) for op in ops if keys[id(op.results[0])] in first}
        heavy = set()
        for op in ops:
            # ops costlier than an add (OpDef.cost) are worth keeping rather than computing again
            if op.opdef.cost > 1 or any(id(v) in heavy for v in op.operands):
                heavy.add(id(op.results[0]))
        needed = {id(v) for op in block.ops for v in op.operands
                  if op.name == "yield" or id(op.results[0]) not in shared}
        for op in ops:
            r = op.results[0]
            key = keys[id(r)]
            if id(r) in shared and id(r) in needed and id(r) in heavy:
                if key not in cached:
                    cached[key] = _Cached(r.type.dtype)
                    producer, value = first[key]
                    producer.stores.append((value, cached[key]))
                stage.loads.append((r, cached[key]))
        for op in ops:
            first.setdefault(keys[id(op.results[0])], (stage, op.results[0]))
    return list(cached.values())


class _Fused:
    def __init__(self, ctx, op, bufs):
        self.ctx = ctx
        self.op = op
        self.bufs = bufs
        self.kinds = reduce_kinds(op)
        self.axes = tuple(op.attrs.get("axes", ()))
        self.keep = op.attrs.get("keepdims", False)
        self.schedule = (op.attrs.get("parallel", 0), op.attrs.get("threads", 0))
        self.scopes = None

    # --- the entry: checks, allocation, dispatch ---------------------------------------
    def lower(self):
        ctx, op = self.ctx, self.op
        shape = iteration_shape(op)
        space_t = TensorType("int8", shape)
        self.dims, self.strides = broadcast(ctx, space_t, self.bufs, [v.type for v in op.operands])
        self.nd = len(shape)
        for a in self.axes:
            if any(k is not None and REDUCERS[k].identity is None for k in self.kinds):
                ctx.check(ctx.b.icmp_signed("!=", self.dims[a], i64(0)), EMPTY_REDUCTION, [i64(a)])
        self.results = [self._allocate(k, kind, r) for k, (kind, r) in enumerate(zip(self.kinds, op.results))]
        self.stages = [_Stage(region, [self.results[i] for i in indices])
                       for region, indices in zip(op.regions, stage_results(op))]
        self.elementwise = [r for r in self.results if r.kind is None]
        self.reduced = [r for r in self.results if r.kind is not None]
        self.cache = plan_row_cache(self.stages) if len(self.stages) > 1 else []
        self.scope = {id(r): k for k, r in enumerate(self.elementwise + self.reduced + self.cache)}
        self.scopes = _AliasScopes(ctx.module, f"{ctx.fn.name}.op{ctx.op_index}", len(self.scope))
        if len(self.stages) > 1:        # the verifier asks for rows: the last axis reduced, one kept
            self._inner()
        elif self.nd == 0:
            self._scalar()
        elif not self.reduced or not self.axes:
            self._elementwise()
        elif len(self.axes) == self.nd:
            self._reduce_all()
        elif self.nd - 1 in self.axes:
            self._inner()
        else:
            self._outer()
        return [r.buf for r in self.results]

    def _allocate(self, k, kind, value):
        ctx = self.ctx
        dtype = value.type.dtype
        if kind is None or not self.axes:
            buf = ctx.alloc(dtype, self.dims, name="fused")
            _huge_pages(ctx, buf, ctx.product(self.dims), ITEMSIZE[dtype])
            return _Result(k, None if not self.axes else kind, dtype, buf)
        shape = [i64(1) if d in self.axes else self.dims[d]
                 for d in range(self.nd) if self.keep or d not in self.axes]
        return _Result(k, kind, dtype, ctx.alloc(dtype, shape, name=kind))

    def _scalar(self):
        """A 0-d iteration space: no loop."""
        self._point(self.ctx, self.stages[0], [buf.ptr for buf in self.bufs], [r.buf.ptr for r in self.elementwise])

    def _contiguous(self):
        """i1: every operand is C-contiguous over the iteration space (size-1
        dims may have any stride) or statically a scalar."""
        ctx, b = self.ctx, self.ctx.b
        contig = ctx.contiguous_strides(self.dims)
        ok = lir.Constant(I1, 1)
        for strides in self.strides:
            if all(is_zero(s) for s in strides):
                continue
            for d, s in enumerate(strides):
                good = b.or_(b.icmp_signed("==", s, contig[d]), b.icmp_signed("==", self.dims[d], i64(1)))
                ok = b.and_(ok, good)
        return ok

    def _elementwise(self):
        ctx, b = self.ctx, self.ctx.b
        total = ctx.product(self.dims)
        if self.nd == 1:
            self._run_parallel("nd", self.dims[0], total, self._emit_nd)
            return
        with b.if_else(self._contiguous(), likely=True) as (flat, strided):
            with flat:
                self._run_parallel("flat", total, total, self._emit_flat)
            with strided:
                self._run_parallel("nd", self.dims[0], total, self._emit_nd)

    def _reduce_all(self):
        """Every axis reduced: per-thread partials, combined here in order."""
        ctx, b = self.ctx, self.ctx.b
        total = ctx.product(self.dims)
        with ctx.at_entry():
            for r in self.reduced:
                arr = lir.ArrayType(r.spec.acc_type, MAX_THREADS)
                r.partials = (b.gep(b.alloca(arr, name="partial"), [i64(0), i64(0)]),
                              b.gep(b.alloca(arr, name="partial.comp"), [i64(0), i64(0)]))
        parts_slot = ctx.slot(I64, "parts")
        if self.nd == 1:
            b.store(self._run_parallel("nd", self.dims[0], total, self._emit_inner), parts_slot)
        else:
            with b.if_else(self._contiguous(), likely=True) as (flat, strided):
                with flat:
                    b.store(self._run_parallel("flat", total, total, self._emit_flat), parts_slot)
                with strided:
                    b.store(self._run_parallel("nd", self.dims[self.axes[0]], total, self._emit_inner),
                            parts_slot)
        parts = b.load(parts_slot)
        for r in self.reduced:
            acc = _Accumulator(ctx, r.spec)
            acc.reset()
            with ctx.loop(parts, "part") as t:
                value = b.load(b.gep(r.partials[0], [t]))
                if r.kahan:
                    acc.kahan_add(b.fsub(value, b.load(b.gep(r.partials[1], [t]))))
                else:
                    acc.combine(value)
            b.store(acc.value(), r.buf.ptr)

    def _inner(self):
        ctx = self.ctx
        kept = [d for d in range(self.nd) if d not in self.axes]
        n, work = self.dims[kept[0]], ctx.product(self.dims)
        if not self.cache:
            self._run_parallel("inner", n, work, self._emit_inner)
            return
        parts = plan_parts(ctx, n, work, self.schedule)
        row = ctx.product([self.dims[d] for d in self.axes])
        for c in self.cache:
            c.buf = ctx.alloc(c.dtype, [parts, row], name="rowcache")
        worker, data = self._outline("inner", self._emit_inner)
        run_parts(ctx, worker, data, n, parts)

    def _outer(self):
        """Accumulators shaped like the results. When the outermost dim is
        reduced, each part accumulates into its own copy (``parts`` of them,
        allocated here) and the copies are combined in order afterwards."""
        ctx, b = self.ctx, self.ctx.b
        kept = [d for d in range(self.nd) if d not in self.axes]
        kept_dims = [self.dims[d] for d in kept]
        n_out = ctx.product(kept_dims)
        total = ctx.product(self.dims)
        private = 0 in self.axes
        parts = plan_parts(ctx, self.dims[0], total, self.schedule) if private else None
        for r in self.reduced:
            if private:
                r.acc = ctx.alloc(r.spec.acc_dtype, [parts] + kept_dims, name="acc")
                r.private = True
            else:
                r.acc = r.buf if r.spec.acc_dtype == r.spec.dtype else ctx.alloc(r.spec.acc_dtype, kept_dims,
                                                                                    name="acc")
                with ctx.loop(n_out, "init") as i:
                    b.store(r.spec.identity(), b.gep(r.acc.ptr, [i]))
        worker, data = self._outline("outer", self._emit_nd)
        if private:
            run_parts(ctx, worker, data, self.dims[0], parts)
        else:
            parallel_for(ctx, worker, data, self.dims[0], total, self.schedule)
        for r in self.reduced:
            if private:
                with ctx.loop(parts, "part", start=i64(1)) as t:
                    other = b.gep(r.acc.ptr, [b.mul(t, n_out)])
                    with ctx.loop(n_out, "comb") as i:
                        p = b.gep(r.acc.ptr, [i])
                        b.store(r.spec.combine(ctx, b.load(p), b.load(b.gep(other, [i]))), p)
            if r.acc is not r.buf:
                with ctx.loop(n_out, "fin") as i:
                    v = b.load(b.gep(r.acc.ptr, [i]))
                    b.store(r.spec.finish(ctx, v), b.gep(r.buf.ptr, [i]))

    # --- workers ---------------------------------------------------------------------------
    def _captured(self):
        values = list(self.dims)
        for buf, strides in zip(self.bufs, self.strides):
            values += [buf.ptr] + list(strides)
        for r in self.results:
            values.append(r.buf.ptr)
            if r.acc is not None:
                values.append(r.acc.ptr)
            if r.partials is not None:
                values += list(r.partials)
        values += [c.buf.ptr for c in self.cache if c.buf is not None]
        return values

    def _outline(self, name, emit):
        return outline(self.ctx, f"fused{self.ctx.op_index}.{name}", self._captured(),
                       lambda w, lo, hi, part, inner: emit(_View(self, w, inner), lo, hi, part))

    def _run_parallel(self, name, n, work, emit):
        worker, data = self._outline(name, emit)
        return parallel_for(self.ctx, worker, data, n, work, self.schedule)

    def _emit_flat(self, v, lo, hi, part):
        """One unit-stride loop over [lo, hi) of the flattened space."""
        ins = [(ptr, i64(0) if all(is_zero(s) for s in strides) else i64(1))
               for ptr, strides in zip(v.in_ptrs, v.in_strides)]
        outs = [(ptr, i64(1)) for ptr in v.out_ptrs]
        accs = v.accumulators(self.stages[0])
        v.run(lo, hi, ins, outs, accs, "flat", self.stages[0])
        v.store_partials(accs, part)

    def _emit_nd(self, v, lo, hi, part):
        """All dims in order, dim 0 over [lo, hi); elementwise results and
        outer reductions (accumulators indexed by the kept dims)."""
        nd = self.nd
        out_strides = v.w.contiguous_strides(v.dims)
        ptrsets = [(p, s) for p, s in zip(v.in_ptrs, v.in_strides)]
        ptrsets += [(p, out_strides) for p in v.out_ptrs]
        ptrsets += [(p, s) for p, s in zip(v.private_accumulators(part), v.acc_strides())]
        n_in, n_out = len(v.in_ptrs), len(v.out_ptrs)

        def leaf(bases, _):
            last = nd - 1
            sets = [(p, s[last]) for p, (_, s) in zip(bases, ptrsets)]
            start, stop = (lo, hi) if nd == 1 else (i64(0), v.dims[last])
            v.run(start, stop, sets[:n_in], sets[n_in:n_in + n_out], [], "nd", self.stages[0],
                  acc_ptrs=sets[n_in + n_out:])

        v.nest([(d, lo, hi) if d == 0 else (d, None, None) for d in range(nd - 1)], ptrsets, leaf)

    def _emit_inner(self, v, lo, hi, part):
        """Kept dims outside (the first over [lo, hi)), reduced dims inside;
        with no kept dim, the first reduced dim is the split one."""
        nd = self.nd
        kept = [d for d in range(nd) if d not in self.axes]
        red = [d for d in range(nd) if d in self.axes]
        out_strides = v.w.contiguous_strides(v.dims)
        ptrsets = [(p, s) for p, s in zip(v.in_ptrs, v.in_strides)]
        ptrsets += [(p, out_strides) for p in v.out_ptrs]
        n_in = len(v.in_ptrs)
        kept_strides = v.w.contiguous_strides([v.dims[d] for d in kept])
        split = kept[0] if kept else red[0]
        b = v.w.b
        first_cache = len(ptrsets)
        if self.cache:
            row_strides = v.w.contiguous_strides([v.dims[d] for d in red])
            strides = [i64(0)] * nd
            for d, st in zip(red, row_strides):
                strides[d] = st
            row = v.w.product([v.dims[d] for d in red])
            ptrsets += [(b.gep(v.inner(c.buf.ptr), [b.mul(part, row)]), strides) for c in self.cache]

        def bounds(d):
            return (d, lo, hi) if d == split else (d, None, None)

        def kept_leaf(bases, kidx):
            off = i64(0)
            for i, s in zip(kidx, kept_strides):
                off = b.add(off, b.mul(i, s))
            row = []            # the reduced values of the stages so far, for this row
            for stage in self.stages:
                accs = v.accumulators(stage)
                outs = [n_in + self.elementwise.index(r) for r in stage.elementwise]

                def red_leaf(inner_bases, _, stage=stage, accs=accs, outs=outs, row=list(row)):
                    last = nd - 1
                    sets = [(p, s[last]) for p, (_, s) in zip(inner_bases, ptrsets)]
                    start, stop = (lo, hi) if split == last else (i64(0), v.dims[last])
                    cached = {id(c): sets[first_cache + k] for k, c in enumerate(self.cache)}
                    v.run(start, stop, sets[:n_in], [sets[k] for k in outs], accs, "red", stage, extra=row,
                          cached=cached)

                v.nest([bounds(d) for d in red[:-1]], ptrsets, red_leaf, bases)
                if not kept:
                    v.store_partials(accs, part)
                    return
                values = [acc.value() for acc in accs]
                for r, value in zip(stage.reduced, values):
                    self.scopes.mark_store(b.store(value, b.gep(v.inner(r.buf.ptr), [off])), self.scope[id(r)])
                row += values

        v.nest([bounds(d) for d in kept], ptrsets, kept_leaf)

    # --- one point of the iteration space ----------------------------------------------------
    def _point(self, w, stage, in_ptrs, out_ptrs, extra=(), rows=None):
        """Evaluate ``stage``'s region at one point (``extra``: the row's
        reduced values of earlier stages; ``rows``: pointers into the row
        caches): load the operands, store the stage's elementwise results
        and the values it caches; returns its yielded values."""
        b = w.b
        args = []
        for p in in_ptrs:
            ld = b.load(p)
            self.scopes.mark_load(ld)
            args.append(ld)
        known = {}
        for value, c in stage.loads:
            ld = b.load(rows[id(c)])
            self.scopes.mark(ld, self.scope[id(c)])
            known[id(value)] = ld
        env = evaluate_region(w, stage.region, args + list(extra), known)
        ys = [env[id(v)] for v in stage.region.ops[-1].operands]
        for r, p in zip(stage.elementwise, out_ptrs):
            self.scopes.mark_store(b.store(ys[r.index], p), self.scope[id(r)])
        for value, c in stage.stores:
            self.scopes.mark_store(b.store(env[id(value)], rows[id(c)]), self.scope[id(c)])
        return ys


class _View:
    """What a worker sees of a fused op: its copies of the captured values."""

    def __init__(self, fused, w, inner):
        self.f = fused
        self.w = w
        self.inner = inner
        self.dims = [inner(d) for d in fused.dims]
        self.in_ptrs = [inner(buf.ptr) for buf in fused.bufs]
        self.in_strides = [[inner(s) for s in strides] for strides in fused.strides]
        self.out_ptrs = [inner(r.buf.ptr) for r in fused.elementwise]
        self.acc_ptrs = [inner(r.acc.ptr) for r in fused.reduced if r.acc is not None]

    def acc_strides(self):
        """Outer reductions: each accumulator's strides over the whole space."""
        f = self.f
        kept = [d for d in range(f.nd) if d not in f.axes]
        ks = self.w.contiguous_strides([self.dims[d] for d in kept])
        strides = [i64(0)] * f.nd
        for d, s in zip(kept, ks):
            strides[d] = s
        return [strides for r in f.reduced if r.acc is not None]

    def private_accumulators(self, part):
        """Outer reductions: each accumulator's base for this part (its own
        copy, set to the identity here, when the outermost dim is reduced)."""
        f, b = self.f, self.w.b
        kept = [self.dims[d] for d in range(f.nd) if d not in f.axes]
        n_out = self.w.product(kept)
        out = []
        for r, p in zip([r for r in f.reduced if r.acc is not None], self.acc_ptrs):
            if r.private:
                p = b.gep(p, [b.mul(part, n_out)])
                with self.w.loop(n_out, "init") as i:
                    b.store(r.spec.identity(), b.gep(p, [i]))
            out.append(p)
        return out

    def accumulators(self, stage):
        accs = [_Accumulator(self.w, r.spec) for r in stage.reduced]
        for acc in accs:
            acc.reset()
        return accs

    def store_partials(self, accs, part):
        b = self.w.b
        for r, acc in zip(self.f.reduced, accs):
            b.store(b.load(acc.acc), b.gep(self.inner(r.partials[0]), [part]))
            comp = b.load(acc.comp) if acc.comp is not None else r.spec.identity()
            b.store(comp, b.gep(self.inner(r.partials[1]), [part]))

    def nest(self, levels, ptrsets, leaf, bases=None, idx=()):
        """Loops over ``levels`` ((dim, lo, hi); lo None: the whole dim),
        advancing each pointer set; ``leaf(bases, indices)`` innermost."""
        b = self.w.b
        bases = [p for p, _ in ptrsets] if bases is None else bases
        if not levels:
            leaf(bases, list(idx))
            return
        (d, lo, hi), rest = levels[0], levels[1:]
        stop = self.dims[d] if hi is None else hi
        with self.w.loop(stop, f"d{d}", start=lo) as i:
            moved = [p if is_zero(s[d]) else b.gep(p, [b.mul(i, s[d])]) for p, (_, s) in zip(bases, ptrsets)]
            self.nest(rest, ptrsets, leaf, moved, idx + (i,))

    def run(self, lo, hi, ins, outs, accs, name, stage, acc_ptrs=(), extra=(), cached=None):
        """The innermost loop over [lo, hi): ``ins``/``outs``/``acc_ptrs`` are
        (pointer, stride); ``accs`` the register accumulators of the
        reduced results of ``stage``; ``extra`` the row values its region
        takes after the operands. A unit-stride copy runs when every stride
        is 1 (or a static 0)."""
        b = self.w.b
        cached = cached or {}
        strides = [s for _, s in list(ins) + list(outs) + list(acc_ptrs) + list(cached.values())]
        job = (ins, outs, accs, acc_ptrs, stage, extra, cached)
        unit_stride_versions(b, strides, lambda unit: self._blocks(
            lo, hi, job, f"{name}.vec" if unit else f"{name}.str", unit=unit))

    def _blocks(self, lo, hi, job, name, unit):
        """Float sums add ``BLOCK`` elements at a time into a partial that is
        then Kahan-added; other accumulators take every element directly."""
        w, b = self.w, self.w.b
        accs = job[2]
        if not any(acc.spec.kahan for acc in accs):
            self._loop(lo, hi, job, name, unit)
            return
        nblocks = b.sdiv(b.add(b.sub(hi, lo), i64(BLOCK - 1)), i64(BLOCK))
        with w.loop(nblocks, f"{name}.blk") as k:
            start = b.add(lo, b.mul(k, i64(BLOCK)))
            stop = b.add(start, i64(BLOCK))
            stop = b.select(b.icmp_signed("<", stop, hi), stop, hi)
            for acc in accs:
                acc.begin_block()
            self._loop(start, stop, job, name, unit, block_start=start)
            for acc in accs:
                acc.end_block(b.sub(stop, start))

    def _loop(self, lo, hi, job, name, unit, block_start=None):
        w, b = self.w, self.w.b
        f = self.f
        ins, outs, accs, acc_ptrs, stage, extra, cached = job

        def at(p, s, j):
            if is_zero(s):
                return p
            return b.gep(p, [j if unit else b.mul(j, s)])

        with w.loop(hi, name, start=lo) as j:
            rows = {key: at(p, s, j) for key, (p, s) in cached.items()}
            ys = f._point(w, stage, [at(p, s, j) for p, s in ins], [at(p, s, j) for p, s in outs], extra, rows)
            for r, acc in zip(stage.reduced, accs):
                acc.add(ys[r.index], reassoc=True, at=None if block_start is None else b.sub(j, block_start))
            outer = [r for r in stage.reduced if r.acc is not None]
            for r, (p, s) in zip(outer, acc_ptrs):
                ptr = at(p, s, j)
                ld = b.load(ptr)
                f.scopes.mark(ld, f.scope[id(r)])
                value = r.spec.combine(w, ld, _widen(w, r.spec, ys[r.index]))
                f.scopes.mark_store(b.store(value, ptr), f.scope[id(r)])


HUGE_MIN_BYTES = 1 << 22


def _huge_pages(ctx, buf, n, itemsize):
    """madvise(MADV_HUGEPAGE) a large buffer (as NumPy does): far fewer page
    faults when it is first written. A call of one helper per module (the
    entry of a long graph makes thousands of buffers: two instructions each
    instead of a branch and a dozen); nothing when the size is statically
    small."""
    nbytes = ctx.mul(n, i64(itemsize))
    if isinstance(nbytes, lir.Constant) and int(nbytes.constant) < HUGE_MIN_BYTES:
        return
    b = ctx.b
    b.call(_huge_pages_helper(ctx), [b.bitcast(buf.ptr, I8P), nbytes])


def _huge_pages_helper(ctx):
    """``void theon.huge_pages(i8 *p, i64 nbytes)``: madvise the whole pages
    of [p, p + nbytes) when nbytes >= HUGE_MIN_BYTES."""
    name = "theon.huge_pages"
    fn = ctx.module.globals.get(name)
    if fn is not None:
        return fn
    madvise = ctx.declare("madvise", I32, [I8P, I64, I32])
    fn = lir.Function(ctx.module, lir.FunctionType(lir.VoidType(), [I8P, I64]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    raw, nbytes = fn.args
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    with b.if_then(b.icmp_signed(">=", nbytes, i64(HUGE_MIN_BYTES)), likely=False):
        p = b.ptrtoint(raw, I64)
        start = b.and_(b.add(p, i64(4095)), i64(~4095))
        length = b.sub(nbytes, b.sub(start, p))
        b.call(madvise, [b.inttoptr(start, I8P), length, lir.Constant(I32, 14)])
    b.ret_void()
    return fn


# --- accumulators, region evaluation, alias scopes ---------------------------------------------
def _widen(ctx, spec, v):
    if spec.acc_dtype != spec.dtype:
        return ctx.b.fpext(v, spec.acc_type)
    return v


class _Accumulator(Accumulator):
    """A reduced value held in registers (allocas SROA promotes): plain
    combining, or for float sums blocks of reassociating adds (in float64
    for float32, as ``reduction.py``) whose sums are Kahan-added.

    The float32 terms of a block are first stored to a small stack array
    (``scratch``, in L1) and summed in float64 by a loop of their own: the
    loop computing them then has only float32 values and vectorizes at the
    full float32 width instead of the float64 one."""

    def __init__(self, ctx, spec):
        super().__init__(ctx, spec)
        self.part = ctx.slot(spec.acc_type, "part") if spec.kahan else None
        self.scratch = None
        if spec.kahan and spec.acc_dtype != spec.dtype:
            self.scratch = ctx.slot(lir.ArrayType(LLTYPE[spec.dtype], BLOCK), "terms")

    def begin_block(self):
        if self.part is not None:
            self.ctx.b.store(self.spec.identity(), self.part)

    def end_block(self, n):
        """Add the block's ``n`` terms (from ``scratch``) and Kahan-add the sum."""
        if self.part is None:
            return
        b = self.ctx.b
        if self.scratch is not None:
            with self.ctx.loop(n, "terms") as k:
                term = b.load(b.gep(self.scratch, [i64(0), k]))
                self._add_widened(_widen(self.ctx, self.spec, term), True)
        self.kahan_add(b.load(self.part))

    def add(self, v, reassoc=False, at=None):
        """Take one (unwidened) element; ``at`` is its index in the block."""
        b = self.ctx.b
        if self.scratch is not None and at is not None:
            b.store(v, b.gep(self.scratch, [i64(0), at]))
            return
        self._add_widened(_widen(self.ctx, self.spec, v), reassoc)

    def _add_widened(self, v, reassoc):
        b = self.ctx.b
        slot = self.part if self.part is not None else self.acc
        b.store(self.spec.combine(self.ctx, b.load(slot), v, reassoc), slot)


def evaluate_region(ctx, block, args, known=None):
    """id(region value) -> its LLVM value for one element (``args``: one
    value per block argument; ``known``: values given, not computed)."""
    env = {id(a): v for a, v in zip(block.args, args)}
    env.update(known or {})
    for inner in block.ops[:-1]:
        r = inner.results[0]
        if id(r) in env:
            continue
        if inner.name == "constant":
            env[id(r)] = _constant(inner.attrs["value"], r.type.dtype)
            continue
        emit = SCALAR.get(inner.name)
        if emit is None:
            raise NotImplementedError(f"fused: no scalar emitter for {inner.name}")
        sc = ScalarCtx(ctx, inner, operand_dtype(inner), r.type.dtype)
        env[id(r)] = emit(sc, [env[id(v)] for v in inner.operands])
    return env


def _constant(value, dtype):
    ty = LLTYPE[dtype]
    x = value[()]
    if dtype == "float16":
        return half.constant(x)
    if isinstance(ty, (lir.FloatType, lir.DoubleType)):
        return lir.Constant(ty, float(x))
    return lir.Constant(ty, int(x))


class _AliasScopes:
    """Scoped-noalias metadata: one scope per result buffer; operand loads
    alias none of them, and results do not alias each other."""

    def __init__(self, module, name, n):
        self.module = module
        self.n = n
        if n == 0:
            return
        md = lir.MetaDataString
        domain = module.add_metadata([md(module, f"{name}.domain")])
        self.scopes = [module.add_metadata([md(module, f"{name}.out{k}"), domain]) for k in range(n)]
        self.all = module.add_metadata(self.scopes)
        self.own = [module.add_metadata([s]) for s in self.scopes]
        self.others = [module.add_metadata([s for j, s in enumerate(self.scopes) if j != k])
                       for k in range(n)]

    def mark_load(self, instr):
        if self.n:
            instr.set_metadata("noalias", self.all)

    def mark(self, instr, k):
        instr.set_metadata("alias.scope", self.own[k])
        if self.n > 1:
            instr.set_metadata("noalias", self.others[k])

    mark_store = mark


LOWERINGS = {"fused": lower_fused, "yield": lower_yield}
