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
    with ctx.at_entry():
        ts = b.alloca(ts_ty, name="ts")
    b.call(clock, [lir.Constant(I32, 1), ts])
    sec = b.load(b.gep(ts, [lir.Constant(I32, 0), lir.Constant(I32, 0)]))
    nsec = b.load(b.gep(ts, [lir.Constant(I32, 0), lir.Constant(I32, 1)]))
    return b.add(b.mul(sec, i64(1_000_000_000)), nsec)


def lower_function(func, module=None, profile=False, allocator="rt", after_op=None):
    """Emit ``theon_<func.name>`` into ``module`` (a new one if None);
    returns (module, the entry function).
    ``allocator``: 'rt' (JIT: theon's caching allocator) or 'libc' (AOT:
    malloc/free), see ``context.ALLOCATORS``. ``after_op(module, entry)``
    is called after each op is lowered (compile.py compiles the functions
    already complete meanwhile)."""
    module = module or lir.Module(name=func.name)
    fnty = lir.FunctionType(I64, [I8P.as_pointer(), I64.as_pointer(), I8P.as_pointer(),
                                  I64.as_pointer(), I64.as_pointer(), I64.as_pointer()])
    fn = lir.Function(module, fnty, name=entry_name(func))
    args_p, meta_p, res_p, rdims_p, err_p, prof_p = fn.args
    for a, n in zip(fn.args, ("args", "meta", "results", "result_dims", "err", "prof")):
        a.name = n
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    ctx = LowerCtx(module, fn, b, err_p, allocator=allocator)
    b.store(i64(0), ctx.status)

    env = {}
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
        env[arg] = Buf(ptr, t.dtype, shape, strides)

    ops = func.body.ops
    for index, op in enumerate(ops):
        if op.name == "return":
            break
        ctx.op_index = index
        lower = LOWERINGS.get(op.name)
        if lower is None:
            raise NotImplementedError(f"CPU codegen: no lowering for op {op.name!r}")
        t0 = _timer(ctx) if profile else None
        outs = lower(ctx, op, [env[v] for v in op.operands])
        if len(outs) != len(op.results):
            raise RuntimeError(f"lowering of {op.name} returned {len(outs)} buffers for {len(op.results)} results")
        for r, buf in zip(op.results, outs):
            env[r] = buf
        if profile:
            _accumulate(ctx, prof_p, index, t0)
        if after_op is not None:
            after_op(module, fn)

    _emit_results(ctx, func, env, res_p, rdims_p)
    b.branch(ctx.cleanup_block)
    ctx.finish()
    return module, fn


def _accumulate(ctx, prof_p, index, t0):
    b = ctx.b
    dt = b.sub(_timer(ctx), t0)
    with b.if_then(b.icmp_unsigned("!=", prof_p, lir.Constant(prof_p.type, None))):
        slot = b.gep(prof_p, [i64(index)])
        b.store(b.add(b.load(slot), dt), slot)


def _emit_results(ctx, func, env, res_p, rdims_p):
    """Store each result's buffer and dims; copy views, inputs, and buffers
    already handed out, so results never alias anything. All copies are made
    before anything is released, so a failed copy leaks nothing."""
    b = ctx.b
    outs, taken = [], set()
    for j, v in enumerate(func.return_op.operands):
        buf = env[v]
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
