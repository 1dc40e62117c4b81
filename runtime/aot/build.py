"""Compiling entries ahead of time: IR -> C interface -> object files.

Per entry ``NAME`` (``compile_entry``), top to bottom:

    passes      the -p pipeline (default: none for Python entries, which
                their mode optimized already; FAST_RUN's for IR files)
    interface   the CEntry: C names, dynamic dims, state fields and shapes
    shapes      the shape function, and whether shapes need input data
    llvm        codegen/cpu/driver/aot_wrapper.py: entry + wrappers, one module
    target      verify, internalize, optimize for the target machine
    files       NAME.o NAME.h (default), libNAME.so, NAME.ll NAME.s NAME.theon
"""
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ...codegen.cheader import CArray, CEntry, CStateField, c_identifier, entry_name_problem, render_header
from ...ir.printer import print_function
from ...ir.verifier import VerifyError, verify_function
from .shapes import fix_arg_shapes, shape_function, shape_only_ops, symbolic_shapes, value_dependent_args
from .source import SourceError

EMITS = ("obj", "header", "shared", "llvm", "asm", "ir")
DEFAULT_EMIT = ("obj", "header")
GPU_TARGETS = ("cuda", "ptx", "nvptx", "nvptx64")


class BuildError(Exception):
    """A problem compiling an entry, reported as one message."""


@dataclass
class Options:
    outdir: str
    target: str = "host"                # 'host' or an LLVM triple
    cpu: str = None
    features: str = None
    emit: tuple = DEFAULT_EMIT
    opt_level: int = 3
    pipeline: str = None                # theon passes, e.g. 'cse,dce'
    print_ir_after_all: bool = False
    log: object = None                  # file for --print-ir-after-all dumps (stderr)
    source: str = ""
    cc: str = field(default_factory=lambda: os.environ.get("CC", "cc"))


class Target:
    """The LLVM target machine of a build (made once)."""

    def __init__(self, options):
        from ...codegen.cpu.driver import aot_wrapper
        name = options.target
        if name.lower() in GPU_TARGETS or name.lower().startswith("nvptx"):
            from .ptx import setup_cuda_target      # PTX + launch description (runtime/aot/ptx.py)
            setup_cuda_target(self, options)
            return
        self.is_host = name in ("host", "native", aot_wrapper.host_triple())
        triple = None if self.is_host else name
        try:
            self.machine = aot_wrapper.create_target_machine(triple, options.cpu, options.features,
                                                             options.opt_level)
        except aot_wrapper.UnknownTriple as e:
            raise BuildError(f"--target {name}: unknown target ({e}); give 'host' or an LLVM "
                             "triple such as x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu") from None
        except ValueError as e:
            raise BuildError(f"--cpu/--features: {e}") from None
        self.triple = self.machine.triple
        self.little_endian = str(self.machine.target_data).startswith("e")
        if "shared" in options.emit and not self.is_host:
            raise BuildError(f"--emit shared links with this host's system linker; it is not available "
                             f"for --target {name} (emit obj and link it on the target)")


# --- the C interface -----------------------------------------------------------------------------
def state_fields(entry, func):
    """The state struct's fields: one per shared argument, its shape fixed
    to the initial value's (IR sources: the argument's static shape)."""
    n_in = len(entry.input_labels)
    fields, taken = [], set()
    for j, (label, value, arg) in enumerate(zip(entry.shared_labels, entry.shared_values, func.args[n_in:])):
        name = c_identifier(label, f"s{j}", taken)
        if value is None:
            if None in arg.type.shape:
                raise BuildError(f"{entry.name}: shared argument {label!r} has the dynamic type "
                                 f"{arg.type}; in an IR source, shared arguments need static shapes "
                                 "(the state struct has fixed-size arrays)")
            shape = tuple(arg.type.shape)
        else:
            shape = tuple(int(d) for d in np.shape(value))
            if not arg.type.accepts_shape(shape):
                raise BuildError(f"{entry.name}: shared variable {label!r} holds shape {shape}, "
                                 f"which its type {arg.type} does not accept")
        fields.append(CStateField(name, arg.type.dtype, shape, label, value))
    return fields


def make_interface(entry, func, state, options, triple):
    """The CEntry of ``entry`` compiled as ``func`` with ``state`` fields."""
    n_in = len(entry.input_labels)
    taken = {entry.name, "state", f"{entry.name}_state"}
    inputs = []
    for k, (label, arg) in enumerate(zip(entry.input_labels, func.args[:n_in])):
        name = c_identifier(label, f"in{k}", taken)
        dims = tuple(c_identifier(f"{name}_dim{d}", f"{name}_dim{d}", taken) if s is None else None
                     for d, s in enumerate(arg.type.shape))
        inputs.append(CArray(name, arg.type.dtype, tuple(arg.type.shape), label, dims))
    outputs = []
    for k, (label, v) in enumerate(zip(entry.output_labels, func.outputs)):
        name = c_identifier(label, f"out{k}", taken)
        taken.add(f"{name}_shape")
        outputs.append(CArray(name, v.type.dtype, tuple(v.type.shape), label))
    updates = []
    for arg_index in func.return_op.attrs.get("updates", ()):
        s = arg_index - n_in
        state[s].updated = True
        updates.append((len(updates), s))
    return CEntry(name=entry.name, inputs=inputs, outputs=outputs, state=state, updates=updates,
                  single_output=entry.single_output, source=os.path.basename(options.source),
                  target=triple, zero_state=entry.from_ir and bool(state))


# --- the IR ----------------------------------------------------------------------------------------
def parse_passes(options, from_ir, backend="cpu"):
    """The passes to run on an entry: -p, else the default for its source."""
    from ...passes import parse_pipeline
    from ..pipeline import PIPELINES, available, for_target
    text = options.pipeline
    if text is None:
        text = ",".join(for_target(available(PIPELINES["fast_run"]), backend)) if from_ir else ""
    try:
        return parse_pipeline(text)
    except ValueError as e:
        raise BuildError(f"-p/--pass-pipeline: {e}") from None


def run_passes(entry, func, options, backend="cpu"):
    from ...passes import PassManager
    from ..pipeline import legalize
    passes = parse_passes(options, entry.from_ir, backend)
    if passes:
        PassManager(passes, print_ir_after_all=options.print_ir_after_all, out=options.log).run(func)
    legalize(func, backend)         # float16 arithmetic, whatever -p ran (passes/legalize_f16.py)
    try:
        verify_function(func)
    except VerifyError as e:
        raise BuildError(f"{entry.name}: invalid IR after the passes: {e}") from None
    return func


# --- one entry ---------------------------------------------------------------------------------------
def compile_entry(entry, options, target):
    """Write the files of ``entry``; returns their paths."""
    if getattr(target, "is_gpu", False):
        from .ptx import compile_cuda_entry
        return compile_cuda_entry(entry, options, target)
    from ...codegen.cpu.driver import aot_wrapper
    from ...codegen.cpu import rtlib
    problem = entry_name_problem(entry.name)
    if problem:
        raise BuildError(f"cannot export an entry named {entry.name!r}: {problem}; rename the variable")
    func = entry.func
    func.name = entry.name
    state = state_fields(entry, func)
    try:
        fix_arg_shapes(func, [None] * len(entry.input_labels) + [f.shape for f in state])
    except ValueError as e:
        raise BuildError(f"{entry.name}: the state does not fit the IR: {e}") from None
    func = run_passes(entry, func, options)
    centry = make_interface(entry, func, state, options, target.triple)
    shapes_func, results = _shapes(entry, func, centry)
    aot_wrapper.layout_state(centry, target.machine.target_data)
    try:
        module = aot_wrapper.emit_aot_module(centry, func, shapes_func, results, target.little_endian,
                                             shape_only=shape_only_ops(shapes_func))
    except NotImplementedError as e:
        raise BuildError(f"{entry.name}: cannot compile: {e}") from None
    rtlib.define_into(module)       # the runtime library's bodies, internal to this object
    llvm_module = aot_wrapper.finish_module(str(module), target.machine, aot_wrapper.exported_names(centry),
                                            options.opt_level, source_name=f"{entry.name}.theon")
    return _write_files(entry, centry, func, llvm_module, options, target)


def _shapes(entry, func, centry):
    """The shape function and what its results are; sets whether shapes
    need input data and the outputs' documented shapes."""
    n_out = func.num_outputs
    update_values = func.return_op.operands[n_out:]
    checked = [j for j, (_, s) in enumerate(centry.updates)
               if tuple(update_values[j].type.shape) != centry.state[s].shape]
    shapes_func, results = shape_function(func, f"{entry.name}__shapes", set(checked))
    roots = list(func.return_op.operands)
    centry.shapes_need_data = bool(value_dependent_args(func, roots))
    results = [(kind, centry.updates[i][1] if kind != "output" else i) for kind, i in results]
    arg_dims = [tuple(a.dim_names[d] if s is None else s for d, s in enumerate(a.shape)) for a in centry.inputs]
    arg_dims += [f.shape for f in centry.state]
    for out, dims in zip(centry.outputs, symbolic_shapes(func, arg_dims, func.outputs)):
        out.doc_shape = dims
    return shapes_func, results


def _write_files(entry, centry, func, llvm_module, options, target):
    emit, out, name = set(options.emit), options.outdir, entry.name
    written = []

    def path(filename):
        p = os.path.join(out, filename)
        written.append(p)
        return p

    obj_bytes = None
    if "obj" in emit or "shared" in emit:
        obj_bytes = target.machine.emit_object(llvm_module)
    if "obj" in emit:
        _write(path(f"{name}.o"), obj_bytes)
    if "header" in emit:
        _write(path(f"{name}.h"), render_header(centry).encode())
    if "llvm" in emit:
        _write(path(f"{name}.ll"), str(llvm_module).encode())
    if "asm" in emit:
        _write(path(f"{name}.s"), target.machine.emit_assembly(llvm_module).encode())
    if "ir" in emit:
        _write(path(f"{name}.theon"), print_function(func).encode())
    if "shared" in emit:
        _link_shared(options.cc, obj_bytes, path(f"lib{name}.so"))
    return written


def _write(path, data):
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise BuildError(f"cannot write {path}: {e.strerror or e}") from None


def _link_shared(cc, obj_bytes, so_path):
    if shutil.which(cc) is None:
        raise BuildError(f"--emit shared needs a C compiler driver to link ({cc!r} not found; set CC)")
    with tempfile.TemporaryDirectory(prefix="theon-aot-") as tmp:
        obj = os.path.join(tmp, "entry.o")
        with open(obj, "wb") as f:
            f.write(obj_bytes)
        proc = subprocess.run([cc, "-shared", "-o", so_path, obj, "-lm"], capture_output=True, text=True)
    if proc.returncode:
        raise BuildError(f"linking {so_path} failed ({cc} -shared): {proc.stderr.strip()}")


def select_entries(entries, names, source):
    """The entries to build: all, or those named (in the order named)."""
    if not entries:
        raise SourceError(f"{source}: no entries: define theon functions at module level "
                          "(f = theon.function(...)) or give an IR file with func definitions")
    if not names:
        return entries
    by_name = {e.name: e for e in entries}
    picked = []
    for n in names:
        if n not in by_name:
            raise SourceError(f"{source}: no entry named {n!r}; its entries are: "
                              f"{', '.join(sorted(by_name))}")
        if by_name[n] not in picked:
            picked.append(by_name[n])
    return picked
