"""``aot-compile --target cuda [--sm sm_80]``: PTX and a launch description.

Per entry NAME (``compile_cuda_entry``):

    NAME.ptx            every kernel of the entry (LLVM's NVPTX back end;
                        NVIDIA's ``ptxas --gpu-name SM`` accepts it), loadable
                        with ``cuModuleLoadData``
    NAME.launch.json    the launch description: the entry's arguments and
                        results, every kernel with its parameter order, the
                        schedule (block sizes, tiles), and the plan's steps in
                        order with their grid/block rules and what the host
                        computes between launches (shapes, checks, views)
    NAME.<state>.bin    the initial value of each shared variable (raw C-order
                        array, little-endian), listed in the JSON

    NAME.h, NAME_cuda.c, NAME_cuda.h   the C host (``cuda_host.py``): the CPU
                        entry's ABI running the entry through the CUDA driver
                        API (``cc main.c NAME_cuda.c -lcuda``); written with
                        obj/header when the entry allows it (static input
                        shapes, no data-dependent host step), else a note

``--emit`` picks among ptx (the default, also what obj and header select),
host (the C host: an error when the entry cannot have one), llvm (NAME.ll,
the NVPTX LLVM IR) and ir (NAME.theon); shared needs a host linker and is
refused.
"""
import json
import os
import sys

import numpy as np

from ...codegen.cheader import entry_name_problem
from ...codegen.ptx import DEFAULT_SM, PtxModule
from ...codegen.ptx.plan import Plan
from ...codegen.ptx.target import PTX_TRIPLE, check_sm, nvptx_available
from ...ir.printer import print_function
from .build import BuildError

CUDA_EMITS = ("ptx", "obj", "header", "llvm", "ir", "asm", "host")


def setup_cuda_target(target, options):
    """Make ``target`` (an aot ``Target``) a GPU target: ``is_gpu``, ``sm``."""
    sm = getattr(options, "sm", None) or DEFAULT_SM
    try:
        check_sm(sm)
    except ValueError as e:
        raise BuildError(f"--sm {sm}: {e}") from None
    if not nvptx_available():
        raise BuildError("--target cuda: this llvmlite has no NVPTX back end")
    bad = [k for k in options.emit if k not in CUDA_EMITS]
    if bad:
        raise BuildError(f"--emit {','.join(bad)} is not available for --target cuda "
                             f"(choose from {','.join(CUDA_EMITS)})")
    target.is_gpu = True
    target.is_host = False
    target.sm = sm
    target.triple = PTX_TRIPLE
    target.little_endian = True
    target.machine = None


def compile_cuda_entry(entry, options, target):
    """Write the files of ``entry`` for the GPU; returns their paths."""
    from .build import run_passes
    problem = entry_name_problem(entry.name)
    if problem:
        raise BuildError(f"cannot export an entry named {entry.name!r}: {problem}; rename the variable")
    func = entry.func if entry.gpu_func is None or options.pipeline is not None else entry.gpu_func
    func.name = entry.name
    func = run_passes(entry, func, options, "gpu")
    try:
        compiled = PtxModule(Plan(func), sm=target.sm, opt_level=options.opt_level)
    except NotImplementedError as e:
        raise BuildError(f"{entry.name}: cannot compile for the GPU: {e}") from None
    emit = set(options.emit)
    out, name = options.outdir, entry.name
    written = []

    def write(filename, data):
        path = os.path.join(out, filename)
        mode = "wb" if isinstance(data, bytes) else "w"
        try:
            with open(path, mode) as f:
                f.write(data)
        except OSError as e:
            raise BuildError(f"cannot write {path}: {e.strerror or e}") from None
        written.append(path)

    if emit & {"ptx", "obj", "header", "asm", "host"}:
        write(f"{name}.ptx", compiled.ptx)
        description = compiled.describe(ptx_file=f"{name}.ptx")
        description["entry"] = _entry_info(entry)
        for state in description["entry"]["shared"]:
            value = state.pop("value", None)
            if value is not None:
                write(state["file"], np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes())
        if emit & {"obj", "header", "host"}:
            description["c_host"] = _c_host(entry, func, compiled, options, write, "host" in emit)
        write(f"{name}.launch.json", json.dumps(description, indent=1) + "\n")
    if "llvm" in emit:
        write(f"{name}.ll", compiled.llvm_ir)
    if "ir" in emit:
        write(f"{name}.theon", print_function(func))
    return written


def _c_host(entry, func, compiled, options, write, required):
    """Write NAME.h, NAME_cuda.c and NAME_cuda.h (``cuda_host.py``); returns
    their names, or why the entry has none (an error with ``--emit host``)."""
    from .cuda_host import HostRefused, c_host_files
    try:
        files = c_host_files(entry, func, compiled, options)
    except HostRefused as e:
        if required:
            raise
        print(f"aot-compile: note: no C host file for {entry.name}: {e}", file=options.log or sys.stderr)
        return {"emitted": False, "reason": str(e)}
    for filename, text in files.items():
        write(filename, text)
    return {"emitted": True, "files": list(files)}


def _entry_info(entry):
    shared = []
    for j, (label, value) in enumerate(zip(entry.shared_labels, entry.shared_values)):
        item = {"name": label}
        if value is not None:
            value = np.asarray(value)
            item.update(dtype=value.dtype.name, shape=list(value.shape),
                        file=f"{entry.name}.state{j}_{_file_label(label)}.bin", value=value)
        shared.append(item)
    return {"name": entry.name, "inputs": list(entry.input_labels),
            "outputs": list(entry.output_labels), "single_output": entry.single_output,
            "shared": shared}


def _file_label(label):
    text = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(label or "state"))
    return text or "state"
