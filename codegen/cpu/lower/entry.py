"""The native entry point of a Function (the ABI in ARCHITECTURE.md).

    int64_t theon_<name>(void **args, const int64_t *meta, void **results,
                         int64_t *result_dims, int64_t *err, int64_t *prof)

Arguments are unpacked into Bufs (static dims become constants), every op is
lowered in order through ``LOWERINGS``, and each result is handed to the
caller as a fresh C-contiguous buffer of the module's allocator.
"""
import llvmlite.ir as lir

from .context import I8P, I32, I64, LLTYPE, Buf, LowerCtx, i64
from .lowering import LOWERINGS

ENTRY_PREFIX = "theon_"


def entry_name(func):
    return ENTRY_PREFIX + func.name


def _timer(ctx):
    """Monotonic nanoseconds, via clock_gettime(CLOCK_MONOTONIC)."""
    b = ctx.b
    ts_ty = lir.LiteralStructType([I64, I64])
    clock = ctx.declare("clock_gettime", I32, [I32, ts_ty.as_pointer()])
    ts = ctx.slot(ts_ty, "ts")
    b.call(clock, [lir.Constant(I32, 1), ts])
    sec = b.load(b.gep(ts, [lir.Constant(I32, 0), lir.Constant(I32, 0)]))
    nsec = b.load(b.gep(ts, [lir.Constant(I32, 0), lir.Constant(I32, 1)]))
    return b.add(b.mul(sec, i64(1_000_000_000)), nsec)


def begin_entry(func, module, allocator):
    """The entry function ``theon_<func.name>`` (the ABI above) declared in
    ``module``, and a LowerCtx at its first block with status 0."""
    fnty = lir.FunctionType(I64, [I8P.as_pointer(), I64.as_pointer(), I8P.as_pointer(),
                                  I64.as_pointer(), I64.as_pointer(), I64.as_pointer()])
    fn = lir.Function(module, fnty, name=entry_name(func))
    for a, n in zip(fn.args, ("args", "meta", "results", "result_dims", "err", "prof")):
        a.name = n
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    ctx = LowerCtx(module, fn, b, fn.args[4], allocator=allocator)
    b.store(i64(0), ctx.status)
    return fn, ctx


def unpack_args(ctx, func, args_p, meta_p):
    """A Buf per argument of ``func`` from the entry's ``args`` and ``meta``
    arrays (static dims become constants)."""
    b = ctx.b
    bufs = []
    off = 0
    for k, arg in enumerate(func.args):
        t = arg.type
        raw = b.load(b.gep(args_p, [i64(k)]), name=f"arg{k}")
        ptr = b.bitcast(raw, LLTYPE[t.dtype].as_pointer())
        shape, strides = [], []
        for d in range(t.ndim):
            loaded = b.load(b.gep(meta_p, [i64(off + d)]), name=f"arg{k}.d{d}")
            shape.append(i64(t.shape[d]) if t.shape[d] is not None else loaded)
        for d in range(t.ndim):
            strides.append(b.load(b.gep(meta_p, [i64(off + t.ndim + d)]), name=f"arg{k}.s{d}"))
        off += 2 * t.ndim
        bufs.append(Buf(ptr, t.dtype, shape, strides))
    return bufs


def lower_op(ctx, op, bufs):
    """The Bufs of ``op``'s results, lowered through ``LOWERINGS``."""
    lower = LOWERINGS.get(op.name)
    if lower is None:
        raise NotImplementedError(f"CPU codegen: no lowering for op {op.name!r}")
    outs = lower(ctx, op, bufs)
    if len(outs) != len(op.results):
        raise RuntimeError(f"lowering of {op.name} returned {len(outs)} buffers for {len(op.results)} results")
    return outs


def lower_function(func, module=None, profile=False, allocator="rt", after_op=None):
    """Emit ``theon_<func.name>`` into ``module`` (a new one if None);
    returns (module, the entry function).
    ``allocator``: 'rt' (JIT: theon's caching allocator) or 'libc' (AOT:
    malloc/free), see ``context.ALLOCATORS``. ``after_op(module, entry)``
    is called after each op is lowered (compile.py compiles the functions
    already complete meanwhile)."""
    module = module or lir.Module(name=func.name)
    fn, ctx = begin_entry(func, module, allocator)
    args_p, meta_p, res_p, rdims_p, err_p, prof_p = fn.args
    b = ctx.b
    args = unpack_args(ctx, func, args_p, meta_p)

    def before(index, op):
        return _timer(ctx) if profile else None

    def after(index, op, t0):
        if profile:
            _accumulate(ctx, prof_p, index, t0)
        if after_op is not None:
            after_op(module, fn)

    results = lower_block(ctx, func.body, args, before=before, after=after)
    _emit_results(ctx, results, res_p, rdims_p)
    b.branch(ctx.cleanup_block)
    ctx.finish()
    return module, fn


def _accumulate(ctx, prof_p, index, t0):
    b = ctx.b
    dt = b.sub(_timer(ctx), t0)
    with b.if_then(b.icmp_unsigned("!=", prof_p, lir.Constant(prof_p.type, None))):
        slot = b.gep(prof_p, [i64(index)])
        b.store(b.add(b.load(slot), dt), slot)


def lower_block(ctx, block, args, before=None, after=None, lower=lower_op):
    """Lower the ops of ``block`` into ``ctx`` (a ``LowerCtx``, its builder
    where the code goes) with ``args`` the Bufs of the block's arguments;
    returns the Bufs of its terminator's operands. Region ops lower their
    bodies with it. ``before(index, op)`` runs before each op is lowered and
    ``after(index, op, what before returned)`` after it (profiling, tier 0).
    ``lower(ctx, op, bufs)`` lowers one op (default ``lower_op``: the
    table); ``ctx.op_index`` names the op being lowered in error reports."""
    if len(args) != len(block.args):
        raise ValueError(f"lower_block: the block has {len(block.args)} arguments, {len(args)} Bufs given")
    env = dict(zip(block.args, args))
    ops = block.ops
    term = block.terminator
    for index, op in enumerate(ops):
        if op is term:
            break
        ctx.op_index = index
        token = before(index, op) if before is not None else None
        outs = lower(ctx, op, [env[v] for v in op.operands])
        for r, buf in zip(op.results, outs):
            env[r] = buf
        if after is not None:
            after(index, op, token)
    return [env[v] for v in term.operands] if term is not None else []


def _emit_results(ctx, bufs, res_p, rdims_p):
    """Store each result's buffer and dims; copy views, inputs, and buffers
    already handed out, so results never alias anything. All copies are made
    before anything is released, so a failed copy leaks nothing."""
    b = ctx.b
    outs, taken = [], set()
    for j, buf in enumerate(bufs):
        if buf.slot is not None and buf.contiguous and buf.slot not in taken:
            out = buf
        else:
            out = ctx.alloc(buf.dtype, buf.shape, name=f"result{j}")
            ctx.copy(buf, out)
        taken.add(out.slot)
        outs.append(out)
    off = 0
    for j, out in enumerate(outs):
        ctx.release(out)
        b.store(b.bitcast(out.ptr, I8P), b.gep(res_p, [i64(j)]))
        for d, size in enumerate(out.shape):
            b.store(size, b.gep(rdims_p, [i64(off + d)]))
        off += out.ndim
