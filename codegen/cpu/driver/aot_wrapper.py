"""The LLVM side of ahead-of-time compilation: C-ABI wrappers around the
native entries, the state struct, and object code for any LLVM target.

For an entry ``NAME`` (a ``codegen.cheader.CEntry``) one LLVM module holds:

    theon_NAME           the native entry of the IR function (internal)
    theon_NAME__shapes   the entry of its shape function (internal)
    NAME                 fills args/meta for theon_NAME from C arguments,
                         calls it, checks the updates' shapes against the
                         fixed state shapes, copies outputs into the
                         caller's buffers and updates into the state, and
                         frees the malloc'd results
    NAME_output_shapes   the same around theon_NAME__shapes; without input
                         data it passes a zeroed scratch element with
                         stride 0 for every array (the shapes do not read it)
    NAME_state_init      memcpy of the initial state from read-only data
    NAME_metadata        the CEntry as JSON, for theon.runtime.load_library

Everything but these four exports gets internal linkage, so several entries
link into one program. Only libc is called: malloc/free (by the entry) and
memcpy (llvm.memcpy).
"""
import difflib
import os
import re
import sys
import tempfile

import llvmlite.binding as llvm
import llvmlite.ir as lir
import numpy as np

from ...cheader import STATE_SHAPE
from ...errors import NEGATIVE_SIZE
from ...llvm_util import I8, I8P, I32, I64, LLTYPE, i32, i64, init_llvm
from ..lower.context import Buf
from ..lower.entry import _emit_results, begin_entry, entry_name, lower_block, lower_function, lower_op, unpack_args
from ..lower.loops import broadcast
from .jit import optimize

ERR_LEN = 5
SCRATCH_BYTES = 64      # >= any element; stride-0 arrays read only this


# --- targets ------------------------------------------------------------------------------
class UnknownTriple(ValueError):
    """LLVM has no target for the triple."""


def host_triple():
    return llvm.get_process_triple()


def create_target_machine(triple=None, cpu=None, features=None, opt_level=3):
    """A target machine for ``triple`` (None: this host) that makes
    position-independent code, so objects link into PIE programs and shared
    libraries. For the host, no ``cpu`` means this machine's CPU and
    features; a ``cpu`` given means its own features (plus ``features``),
    so ``cpu='x86-64'`` makes code for any x86-64. Other triples default to
    the generic CPU. Raises ValueError for an unknown triple."""
    init_llvm(all_targets=True)
    host = triple is None or triple == host_triple()
    triple = triple or host_triple()
    try:
        target = llvm.Target.from_triple(triple)
    except RuntimeError as e:
        raise UnknownTriple(str(e).strip()) from None
    if host and cpu is None:
        cpu = llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten() if features is None else features
    tm, diagnostics = _llvm_stderr(lambda: target.create_target_machine(
        cpu=cpu or "", features=features or "", opt=opt_level, reloc="pic", codemodel="default"))
    if "not a recognized processor" in diagnostics:
        raise ValueError(f"unknown CPU {cpu!r} for {triple}{_suggest(target, cpu)}")
    bad = re.findall(r"'([^']*)' is not a recognized feature", diagnostics)
    if bad:
        raise ValueError(f"unknown target feature{'s' if len(set(bad)) > 1 else ''} "
                         f"{', '.join(sorted(set(bad)))} for {triple} (features look like +avx2,-fma)")
    return tm


def _suggest(target, cpu):
    """'; did you mean ...?' from LLVM's list of the target's CPUs."""
    _, listing = _llvm_stderr(lambda: target.create_target_machine(cpu="help"))
    names = re.findall(r"^\s+([\w.+-]+)\s+- Select the", listing, flags=re.M)
    close = difflib.get_close_matches(cpu or "", names, n=3)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return f"; known CPUs include {', '.join(names[:8])}, ..." if names else ""


def _llvm_stderr(fn):
    """(fn(), what LLVM wrote meanwhile to the process's stdout/stderr):
    LLVM reports unknown CPUs and features by printing, not by failing."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            result = fn()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        tmp.seek(0)
        return result, tmp.read().decode(errors="replace")


def finish_module(llvm_ir, tm, exports, opt_level=3, source_name=None):
    """Parse, verify, internalize all but ``exports``, and optimize for
    ``tm``; returns the binding module ready for ``emit_object``."""
    if source_name:
        llvm_ir = f'source_filename = "{source_name}"\n' + llvm_ir
    mod = llvm.parse_assembly(llvm_ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    for fn in mod.functions:
        if not fn.is_declaration and fn.name not in exports:
            fn.linkage = "internal"
    for gv in mod.global_variables:
        if not gv.is_declaration and gv.name not in exports:
            gv.linkage = "internal"
    optimize(mod, tm, opt_level)
    mod.verify()
    return mod


# --- the state struct ------------------------------------------------------------------------
def layout_state(entry, target_data):
    """Set each state field's byte offset and the struct's size/alignment
    as the target's C ABI lays ``NAME_state`` out (LLVM's data layout)."""
    offset, align = 0, 1
    for f in entry.state:
        ty = LLTYPE[f.dtype]
        a = ty.get_abi_alignment(target_data)
        offset = -(-offset // a) * a
        f.offset = offset
        offset += f.c_size * ty.get_abi_size(target_data)
        align = max(align, a)
    entry.state_size = -(-offset // align) * align if entry.state else 0
    entry.state_align = align


def _initial_state_bytes(entry, little_endian):
    data = bytearray(entry.state_size)
    order = "<" if little_endian else ">"
    for f in entry.state:
        if f.initial is None:
            continue
        arr = np.ascontiguousarray(f.initial, dtype=np.dtype(f.dtype).newbyteorder(order))
        raw = arr.reshape(f.shape).tobytes(order="C")
        data[f.offset:f.offset + len(raw)] = raw
    return data


# --- module-level helpers ------------------------------------------------------------------------
class _Module:
    def __init__(self, module):
        self.module = module

    def declare(self, name, ret, args):
        if name in self.module.globals:
            return self.module.globals[name]
        return lir.Function(self.module, lir.FunctionType(ret, args), name=name)

    def memcpy(self, b, dst, src, nbytes):
        fn = self.declare("llvm.memcpy.p0i8.p0i8.i64", lir.VoidType(), [I8P, I8P, I64, lir.IntType(1)])
        b.call(fn, [b.bitcast(dst, I8P), b.bitcast(src, I8P), nbytes, lir.Constant(lir.IntType(1), 0)])

    def free(self, b, ptr):
        b.call(self.declare("free", lir.VoidType(), [I8P]), [ptr])

    def constant_bytes(self, name, data, align=16):
        data = bytes(data) or b"\0"
        ty = lir.ArrayType(I8, len(data))
        gv = lir.GlobalVariable(self.module, ty, name=self.module.get_unique_name(name))
        gv.initializer = lir.Constant(ty, bytearray(data))
        gv.global_constant = True
        gv.linkage = "private"
        gv.align = align
        return gv


# --- argument packing ------------------------------------------------------------------------------
class _Call:
    """Builds the args/meta/results arrays of one native entry call."""

    def __init__(self, mod, b, func, entry, values, scratch=None):
        self.mod, self.b, self.func, self.entry = mod, b, func, entry
        self.values = values            # {('input', k) | ('dim', (k, d)) | ('state',): LLVM value}
        self.scratch = scratch          # i8* to zeros: arrays passed with stride 0

    def _array(self, ptr, dims):
        """meta entries (dims, then strides) of a C-contiguous array, or of
        the scratch element broadcast to ``dims`` when scratch is set."""
        b = self.b
        if self.scratch is not None:
            return self.scratch, list(dims) + [i64(0)] * len(dims)
        strides, acc = [], i64(1)
        for d in reversed(dims):
            strides.insert(0, acc)
            acc = _mul(b, acc, d)
        return ptr, list(dims) + strides

    def pack(self):
        b, entry = self.b, self.entry
        n_args = len(self.func.args)
        args = _alloca_array(b, I8P, n_args, "args")
        meta_values = []
        for k, a in enumerate(entry.inputs):
            dims = [i64(s) if s is not None else self.values[("dim", (k, d))] for d, s in enumerate(a.shape)]
            value = self.values.get(("input", k))
            if a.ndim == 0 and value is not None:
                if a.dtype == "bool":       # C may pass any nonzero byte for true
                    value = b.zext(b.icmp_unsigned("!=", value, lir.Constant(I8, 0)), I8)
                slot = _entry_alloca(b, value.type, f"{a.name}.slot")
                b.store(value, slot)
                value = slot
            ptr, meta = self._array(value, dims)
            b.store(b.bitcast(ptr, I8P), b.gep(args, [i64(k)]))
            meta_values += meta
        state = self.values.get(("state",))
        for j, f in enumerate(entry.state):
            ptr = b.gep(state, [i64(f.offset)]) if state is not None else None
            ptr, meta = self._array(ptr, [i64(s) for s in f.shape])
            b.store(b.bitcast(ptr, I8P), b.gep(args, [i64(len(entry.inputs) + j)]))
            meta_values += meta
        meta = _alloca_array(b, I64, len(meta_values), "meta")
        for k, v in enumerate(meta_values):
            b.store(v, b.gep(meta, [i64(k)]))
        return args, meta

    def call(self, impl):
        """Call ``impl``; returns (status i64, results i8**, result_dims i64*)."""
        b = self.b
        args, meta = self.pack()
        ret = self.func.return_op
        n_res = len(ret.operands)
        results = _alloca_array(b, I8P, n_res, "results")
        rdims = _alloca_array(b, I64, sum(v.type.ndim for v in ret.operands), "result_dims")
        err = _alloca_array(b, I64, ERR_LEN, "err")
        status = b.call(impl, [args, meta, results, rdims, err, lir.Constant(I64.as_pointer(), None)],
                        name="status")
        return status, results, rdims


def _entry_alloca(b, ty, name, count=None):
    """An alloca in the function's entry block."""
    saved = b.block
    b.position_at_start(b.function.entry_basic_block)
    slot = b.alloca(ty, size=count, name=name)
    b.position_at_end(saved)
    return slot


def _alloca_array(b, ty, n, name):
    return _entry_alloca(b, ty, name, i64(max(n, 1)))


def _mul(b, x, y):
    if isinstance(x, lir.Constant) and isinstance(y, lir.Constant):
        return i64(int(x.constant) * int(y.constant))
    return b.mul(x, y)


def _result_dims(func):
    """Per result of ``func``: its offset in result_dims."""
    offsets, off = [], 0
    for v in func.return_op.operands:
        offsets.append(off)
        off += v.type.ndim
    return offsets


def _free_results(mod, b, results, n):
    for k in range(n):
        mod.free(b, b.load(b.gep(results, [i64(k)])))


def _return_if_error(b, status):
    with b.if_then(b.icmp_signed("!=", status, i64(0)), likely=False):
        b.ret(b.trunc(status, I32))


def _check_dims(b, params):
    """Return THEON_ERR_NEGATIVE_SIZE if any dim parameter is negative."""
    bad = lir.Constant(lir.IntType(1), 0)
    for kind, value in params:
        if kind == "dim":
            bad = b.or_(bad, b.icmp_signed("<", value, i64(0)))
    with b.if_then(bad, likely=False):
        b.ret(i32(NEGATIVE_SIZE))


def _state_checks(entry, func):
    """[(update value position among results, state field)] whose shape is
    not statically the field's fixed shape: checked after each call."""
    n_out = func.num_outputs
    checks = []
    for j, (value, (_, s)) in enumerate(zip(func.return_op.operands[n_out:], entry.updates)):
        field = entry.state[s]
        if tuple(value.type.shape) != tuple(field.shape):
            checks.append((n_out + j, field))
    return checks


def _shape_differs(b, rdims, offset, shape):
    bad = lir.Constant(lir.IntType(1), 0)
    for d, size in enumerate(shape):
        got = b.load(b.gep(rdims, [i64(offset + d)]))
        bad = b.or_(bad, b.icmp_signed("!=", got, i64(size)))
    return bad


# --- the exported functions --------------------------------------------------------------------------
def _param_types(entry, params):
    types = []
    for kind, _, obj in params:
        if kind == "state":
            types.append(I8P)
        elif kind == "input":
            types.append(LLTYPE[obj.dtype] if obj.ndim == 0 else LLTYPE[obj.dtype].as_pointer())
        elif kind == "dim":
            types.append(I64)
        elif kind == "output":
            types.append(LLTYPE[obj.dtype].as_pointer())
        elif kind == "shape":
            types.append(I64.as_pointer())
    return types


def _function(mod, name, entry, params):
    fn = lir.Function(mod.module, lir.FunctionType(I32, _param_types(entry, params)), name=name)
    fn.attributes.add("nounwind")
    values, by_kind = {}, []
    for (kind, decl, obj), arg in zip(params, fn.args):
        arg.name = decl.replace("*", " ").split()[-1]
        if kind == "state":
            values[("state",)] = arg
        elif kind == "input":
            values[("input", entry.inputs.index(obj))] = arg
        elif kind == "dim":
            values[("dim", obj)] = arg
        elif kind == "output":
            values[("output", entry.outputs.index(obj))] = arg
        elif kind == "shape":
            values[("shape", obj)] = arg
        by_kind.append((kind, arg))
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    return fn, b, values, by_kind


def _emit_entry(mod, entry, func, impl):
    fn, b, values, params = _function(mod, entry.name, entry, entry.entry_params())
    _check_dims(b, params)
    status, results, rdims = _Call(mod, b, func, entry, values).call(impl)
    _return_if_error(b, status)
    offsets = _result_dims(func)
    n_res = len(func.return_op.operands)
    bad = lir.Constant(lir.IntType(1), 0)
    for pos, field in _state_checks(entry, func):
        bad = b.or_(bad, _shape_differs(b, rdims, offsets[pos], field.shape))
    with b.if_then(bad, likely=False):
        _free_results(mod, b, results, n_res)
        b.ret(i32(STATE_SHAPE))
    for k, out in enumerate(entry.outputs):
        nbytes = i64(out.itemsize)
        for d in range(out.ndim):
            nbytes = _mul(b, nbytes, i64(out.shape[d]) if out.shape[d] is not None
                          else b.load(b.gep(rdims, [i64(offsets[k] + d)])))
        mod.memcpy(b, values[("output", k)], b.load(b.gep(results, [i64(k)])), nbytes)
    n_out = len(entry.outputs)
    for j, (_, s) in enumerate(entry.updates):
        field = entry.state[s]
        dst = b.gep(values[("state",)], [i64(field.offset)])
        mod.memcpy(b, dst, b.load(b.gep(results, [i64(n_out + j)])), i64(field.nbytes))
    _free_results(mod, b, results, n_res)
    b.ret(i32(0))
    return fn


def _emit_shapes(mod, entry, shapes_func, impl, shape_results):
    """``NAME_output_shapes``. ``shape_results`` names each result of the
    shape function: ('output', k), ('update', state field index) to check
    against the field's fixed shape, or ('checked', field index): static."""
    fn, b, values, params = _function(mod, f"{entry.name}_output_shapes", entry, entry.shape_params())
    _check_dims(b, params)
    scratch = None
    if not entry.shapes_need_data:
        scratch = b.bitcast(mod.constant_bytes("scratch", bytes(SCRATCH_BYTES), align=64), I8P)
    status, results, _ = _Call(mod, b, shapes_func, entry, values, scratch).call(impl)
    _return_if_error(b, status)
    n_res = len(shape_results)
    bad = lir.Constant(lir.IntType(1), 0)
    for r, (kind, index) in enumerate(shape_results):
        if kind == "update":
            dims = b.bitcast(b.load(b.gep(results, [i64(r)])), I64.as_pointer())
            bad = b.or_(bad, _shape_differs(b, dims, 0, entry.state[index].shape))
    with b.if_then(bad, likely=False):
        _free_results(mod, b, results, n_res)
        b.ret(i32(STATE_SHAPE))
    for r, (kind, index) in enumerate(shape_results):
        out = entry.outputs[index] if kind == "output" else None
        if out is not None and out.ndim:
            mod.memcpy(b, values[("shape", index)], b.load(b.gep(results, [i64(r)])), i64(8 * out.ndim))
    _free_results(mod, b, results, n_res)
    b.ret(i32(0))
    return fn


def _emit_state_init(mod, entry, little_endian):
    fn = lir.Function(mod.module, lir.FunctionType(lir.VoidType(), [I8P]), name=f"{entry.name}_state_init")
    fn.attributes.add("nounwind")
    fn.args[0].name = "state"
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    init = mod.constant_bytes("state_init", _initial_state_bytes(entry, little_endian))
    mod.memcpy(b, fn.args[0], b.bitcast(init, I8P), i64(entry.state_size))
    b.ret_void()
    return fn


def _emit_metadata(mod, entry):
    fn = lir.Function(mod.module, lir.FunctionType(I8P, []), name=f"{entry.name}_metadata")
    fn.attributes.add("nounwind")
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    text = mod.constant_bytes("metadata", entry.metadata_json().encode() + b"\0", align=1)
    b.ret(b.bitcast(text, I8P))
    return fn


# --- the shape function -------------------------------------------------------------------------------
def lower_shape_function(func, module, shape_only=frozenset()):
    """Emit ``theon_<func.name>`` like ``entry.lower_function`` (same ABI),
    except that each elementwise op in ``shape_only`` (ops whose result
    values nothing reads: only their shapes matter) computes just its
    broadcast dims, with the same checks as its real lowering, and yields a
    zeroed scratch element with stride 0 instead of a computed array."""
    fn, ctx = begin_entry(func, module, "libc")
    args_p, meta_p, res_p, rdims_p, _, _ = fn.args
    b = ctx.b
    scratch = _Module(module).constant_bytes("scratch", bytes(SCRATCH_BYTES), align=64)

    def lower(ctx, op, bufs):
        if op not in shape_only:
            return lower_op(ctx, op, bufs)
        out_t = op.results[0].type
        dims, _ = broadcast(ctx, out_t, bufs, [v.type for v in op.operands])
        ptr = b.bitcast(scratch, LLTYPE[out_t.dtype].as_pointer())
        return [Buf(ptr, out_t.dtype, dims, [i64(0)] * len(dims))]

    results = lower_block(ctx, func.body, unpack_args(ctx, func, args_p, meta_p), lower=lower)
    _emit_results(ctx, results, res_p, rdims_p)
    b.branch(ctx.cleanup_block)
    ctx.finish()
    return fn


def exported_names(entry):
    names = [entry.name, f"{entry.name}_output_shapes", f"{entry.name}_metadata"]
    if entry.state:
        names.append(f"{entry.name}_state_init")
    return names


def emit_aot_module(entry, func, shapes_func, shape_results, little_endian=True, shape_only=frozenset()):
    """The llvmlite module of one entry (see the module docstring).
    ``func`` and ``shapes_func`` are IR Functions whose names differ;
    ``entry``'s state layout must already be set (``layout_state``);
    ``shape_only``: ops of ``shapes_func`` for ``lower_shape_function``."""
    module = lir.Module(name=entry.name)
    mod = _Module(module)
    lower_function(func, module=module, allocator="libc")     # a C program links nothing of theon's
    lower_shape_function(shapes_func, module, shape_only)
    impl = module.globals[entry_name(func)]
    shapes_impl = module.globals[entry_name(shapes_func)]
    _emit_entry(mod, entry, func, impl)
    _emit_shapes(mod, entry, shapes_func, shapes_impl, shape_results)
    if entry.state:
        _emit_state_init(mod, entry, little_endian)
    _emit_metadata(mod, entry)
    return module
