"""``aot-compile --target cuda``: the C host file (``NAME_cuda.c``).

Besides the PTX, an entry gets a C implementation of the CPU entry's ABI
(``NAME.h``: the same ``NAME_state`` struct, ``NAME_state_init``, ``NAME``,
``NAME_output_shapes``, ``NAME_metadata``) that runs the entry on a GPU
through the CUDA driver API, with no Python and no CUDA toolkit (link
with ``-lcuda``)::

    cc main.c NAME_cuda.c -lcuda

``NAME_cuda.h`` adds ``NAME_cuda_init(ordinal)`` (optional: the first call
initializes GPU 0), ``NAME_cuda_release()`` and ``NAME_cuda_error()`` (the
last failing driver call). Initialization: ``cuInit``, the device's
primary context (``cuDevicePrimaryCtxRetain``, shared with other CUDA
users), ``cuModuleLoadData`` of the embedded PTX, ``cuModuleGetFunction``
per kernel, one ``cuMemAlloc`` per device buffer (inputs, state, results,
intermediates, constants; sizes are fixed) and the constants uploaded. A
call: the inputs and the state struct's fields to the device
(``cuMemcpyHtoD``), every kernel launch with parameters built at
initialization, the outputs and updated state fields back
(``cuMemcpyDtoH``, which waits for the kernels).

The launch sequence is the plan's for the entry's shapes, recorded at
compile time (``codegen/ptx/specialize.record_trace``), so the C host
needs static input shapes; the state's shapes are those of the initial
values. What cannot be recorded is refused at compile time with the
reason: dynamic input dims, steps that read device data on the host
(data-dependent sizes, checked exponents, scans with data-dependent trip
counts, ...), host side effects (print), inputs whose values the host
reads (sizes, indices).
"""
import numpy as np

from ...codegen.ptx import GPU_SCHEDULE
from ...codegen.ptx.shapes import PlanError, c_strides
from ...codegen.ptx.specialize import NotSpecializable, record_trace
from .build import BuildError

CUDA_ERROR_STATUS = 200     # THEON_ERR_CUDA: a CUDA driver call failed (NAME_cuda_error says which)
BYTES_PER_LINE = 24


class HostRefused(BuildError):
    """The entry cannot get a C host file (the message says why)."""


def c_host_files(entry, func, compiled, options):
    """{file name: text} of the C host of ``entry`` (IR ``func`` after the
    passes, ``compiled`` its PtxModule); HostRefused when it has none."""
    from ...codegen.cheader import render_header
    from ...codegen.cpu.driver import aot_wrapper
    from ...codegen.llvm_util import init_llvm
    from .build import make_interface, state_fields
    import llvmlite.binding as llvm
    state = state_fields(entry, func)
    init_llvm()
    machine = llvm.Target.from_default_triple().create_target_machine()
    centry = make_interface(entry, func, state, options, llvm.get_default_triple())
    aot_wrapper.layout_state(centry, machine.target_data)
    trace = record_entry(compiled.plan, centry)
    c_text, h_text = emit_c_host(centry, compiled.plan, trace, compiled.ptx)
    n = entry.name
    return {f"{n}.h": render_header(centry, object_name=f"{n}_cuda.c"), f"{n}_cuda.c": c_text,
            f"{n}_cuda.h": h_text}


def record_entry(plan, centry):
    """The Trace of ``plan`` for ``centry``'s static shapes; HostRefused
    when the entry needs what a C host recorded at compile time cannot do."""
    dynamic = [f"{a.name} (dim {d})" for a in centry.inputs for d, s in enumerate(a.shape) if s is None]
    if dynamic:
        raise HostRefused(f"{centry.name}: the C host is specialized to static shapes, but these input "
                          f"dims are dynamic: {', '.join(dynamic)}; give the inputs static shapes "
                          "(T.tensor(dtype, shape=(...)))")
    inputs = [np.zeros(a.shape, dtype=a.dtype) for a in centry.inputs]
    shared = [np.zeros(f.shape, dtype=f.dtype) for f in centry.state]
    try:
        trace = record_trace(plan, GPU_SCHEDULE, inputs, shared)
    except PlanError as e:
        raise HostRefused(f"{centry.name}: the plan fails for the entry's static shapes "
                          f"(error code {e.code} at op {e.op_index})") from None
    except NotSpecializable as e:
        kinds = sorted({s.kind for s in plan.steps})
        raise HostRefused(f"{centry.name}: the C host cannot run this plan: {e}; its steps are of the kinds "
                          f"{', '.join(kinds)} (a step reading device data on the host -- data-dependent "
                          "sizes, checked integer exponents, scans with data-dependent trip counts, host "
                          "regions -- or with a host side effect has no C version)") from None
    if trace.value_reads:
        names = [centry.inputs[k].name for k in sorted(trace.value_reads) if k < len(centry.inputs)]
        raise HostRefused(f"{centry.name}: the plan reads the values of inputs {', '.join(names)} on the host "
                          "(sizes or indices); the C host has no C version of those steps")
    return trace


def _bytes_literal(data):
    lines = []
    for k in range(0, len(data), BYTES_PER_LINE):
        lines.append("    " + ",".join(str(b) for b in data[k:k + BYTES_PER_LINE]) + ",")
    return lines or ["    0,"]


def _c_string(text):
    out = []
    for line in text.splitlines(keepends=True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        out.append(f'    "{esc}"')
    return out or ['    ""']


class _Buffers:
    """The device buffers of the C host: one per argument region, result
    slot, arena slot and constant; every recorded address maps to
    (buffer index, byte offset)."""

    def __init__(self, trace, n_args):
        self.sizes = []             # bytes per buffer
        self.what = []
        self.ranges = []            # (lo, hi, buffer index) of recorded addresses
        self.of_region = {}
        for k, t in enumerate(trace.arg_tensors):
            if t is not None:
                self.of_region[k] = self._add(t.numel * t.itemsize, f"argument {k}", t.ptr)
        for j, nbytes in enumerate(trace.fresh):
            self.of_region[n_args + j] = self._add(nbytes, f"result buffer {j}", None)
        for addr, nbytes in trace.arena_slots:
            self._add(nbytes, "intermediate", addr)
        self.constants = []
        for addr, data in trace.constants:
            b = self._add(len(data), "constant", addr)
            self.constants.append((b, data))

    def _add(self, nbytes, what, addr):
        self.sizes.append(max(int(nbytes), 1))
        self.what.append(what)
        if addr is not None:
            self.ranges.append((addr, addr + max(int(nbytes), 0), len(self.sizes) - 1))
        return len(self.sizes) - 1

    def locate(self, p):
        inside = [r for r in self.ranges if r[0] <= p < r[1]] or [r for r in self.ranges if r[0] <= p <= r[1]]
        if len({r[2] for r in inside}) != 1:
            raise HostRefused(f"the recorded address {p:#x} is in {len(inside)} device buffers")
        lo, _, b = inside[0]
        return b, p - lo


def emit_c_host(centry, plan, trace, ptx):
    """(NAME_cuda.c text, NAME_cuda.h text) for ``centry`` (a CEntry with
    its state layout), its plan, the recorded trace and the PTX."""
    n = centry.name
    n_in = len(centry.inputs)
    n_args = n_in + len(centry.state)
    bufs = _Buffers(trace, n_args)
    kernels = list(dict.fromkeys(ln.name for ln in trace.launches))
    kidx = {k: j for j, k in enumerate(kernels)}
    launches = []
    for ln in trace.launches:
        spec = plan.kernels[ln.name]
        patched = {pos: (r, off) for pos, r, off in ln.patches}
        params = []
        for pos, ((_, kind), a) in enumerate(zip(spec.params, ln.args)):
            if kind == "i64":
                params.append(("int", int(a)))
            elif pos in patched:
                r, off = patched[pos]
                params.append(("buf", bufs.of_region[r], off))
            else:
                params.append(("buf",) + bufs.locate(int(a)))
        launches.append((kidx[ln.name], ln.grid, ln.block, params, ln.name))
    if trace.copies:
        raise HostRefused(f"{n}: the plan copies device memory directly (no C version)")
    # results: outputs and updates
    outputs, updates = [], []
    n_out = len(centry.outputs)
    for j, res in enumerate(trace.results):
        kind = res[0]
        if kind == "host":
            src = ("host", np.ascontiguousarray(res[2]).tobytes())
        elif kind == "fixed":
            t = res[2]
            src = ("buf",) + bufs.locate(t.ptr) + (t,)
        else:
            _, _, r, off, dtype, shape, strides = res
            if tuple(strides) != tuple(c_strides(shape)) and int(np.prod(shape)) > 1:
                raise HostRefused(f"{n}: result {j} is not C-contiguous on the device")
            src = ("buf", bufs.of_region[r], off, None)
        (outputs if j < n_out else updates).append(src)

    L = []
    L += [f"/* {n}_cuda.c -- the theon entry `{n}` on a GPU through the CUDA driver API.",
          " * Generated by theon's aot-compile --target cuda; do not edit.",
          f" * Build: cc main.c {n}_cuda.c -lcuda   (no CUDA toolkit needed)",
          f" * {len(trace.launches)} kernel launches per call, {len(bufs.sizes)} device buffers allocated once.",
          " */",
          "#include <stddef.h>", "#include <stdint.h>", "#include <string.h>",
          f'#include "{n}.h"', f'#include "{n}_cuda.h"', "",
          "/* The driver API entry points used (declared here: no cuda.h needed). */",
          "typedef int CUresult;", "typedef int CUdevice;", "typedef struct CUctx_st *CUcontext;",
          "typedef struct CUmod_st *CUmodule;", "typedef struct CUfunc_st *CUfunction;",
          "typedef struct CUstream_st *CUstream;", "typedef unsigned long long CUdeviceptr;",
          "CUresult cuInit(unsigned int flags);",
          "CUresult cuDeviceGet(CUdevice *device, int ordinal);",
          "CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev);",
          "CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);",
          "CUresult cuCtxSetCurrent(CUcontext ctx);",
          "CUresult cuModuleLoadData(CUmodule *module, const void *image);",
          "CUresult cuModuleUnload(CUmodule module);",
          "CUresult cuModuleGetFunction(CUfunction *fn, CUmodule module, const char *name);",
          "CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes);",
          "CUresult cuMemFree_v2(CUdeviceptr dptr);",
          "CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes);",
          "CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes);",
          "CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,",
          "                        unsigned bz, unsigned shared_bytes, CUstream stream, void **params, void **extra);",
          ""]
    L.append(f"static const char {n}__ptx[] =")
    L += _c_string(ptx)
    L[-1] += ";"
    L.append(f"static const char *const {n}__kernels[{max(len(kernels), 1)}] = {{")
    L += [f'    "{k}",' for k in kernels] or ['    ""']
    L.append("};")
    L.append(f"static const size_t {n}__sizes[{len(bufs.sizes)}] = {{")
    L += [f"    {s},  /* {w} */" for s, w in zip(bufs.sizes, bufs.what)]
    L.append("};")
    for j, (b, data) in enumerate(bufs.constants):
        L.append(f"static const unsigned char {n}__const{j}[{max(len(data), 1)}] = {{")
        L += _bytes_literal(data)
        L.append("};")
    for j, src in enumerate(outputs + updates):
        if src[0] == "host":
            L.append(f"static const unsigned char {n}__hostres{j}[{max(len(src[1]), 1)}] = {{")
            L += _bytes_literal(src[1])
            L.append("};")
    L += ["",
          "static struct {",
          "    int ready;",
          "    CUdevice device;",
          "    CUcontext context;",
          "    CUmodule module;",
          f"    CUfunction fn[{max(len(kernels), 1)}];",
          f"    CUdeviceptr buf[{len(bufs.sizes)}];",
          f"    uint64_t args[{max(sum(len(p) for _, _, _, p, _ in launches), 1)}];",
          f"    void *params[{max(sum(len(p) for _, _, _, p, _ in launches), 1)}];",
          "    const char *failed;",
          f"}} {n}__g;", "",
          f"#define CHECK(call) do {{ if ((call) != 0) {{ {n}__g.failed = #call; return THEON_ERR_CUDA; }} }} while (0)",
          "",
          f"const char *{n}_cuda_error(void) {{ return {n}__g.failed; }}", "",
          f"int {n}_cuda_init(int ordinal) {{",
          f"    if ({n}__g.ready) return THEON_OK;",
          "    CHECK(cuInit(0));",
          f"    CHECK(cuDeviceGet(&{n}__g.device, ordinal));",
          f"    CHECK(cuDevicePrimaryCtxRetain(&{n}__g.context, {n}__g.device));",
          f"    CHECK(cuCtxSetCurrent({n}__g.context));",
          f"    CHECK(cuModuleLoadData(&{n}__g.module, {n}__ptx));",
          f"    for (int k = 0; k < {len(kernels)}; k++)",
          f"        CHECK(cuModuleGetFunction(&{n}__g.fn[k], {n}__g.module, {n}__kernels[k]));",
          f"    for (int k = 0; k < {len(bufs.sizes)}; k++)",
          f"        CHECK(cuMemAlloc_v2(&{n}__g.buf[k], {n}__sizes[k]));"]
    for j, (b, data) in enumerate(bufs.constants):
        if data:
            L.append(f"    CHECK(cuMemcpyHtoD_v2({n}__g.buf[{b}], {n}__const{j}, {len(data)}));")
    L.append(f"    uint64_t *a = {n}__g.args;")
    L.append(f"    void **p = {n}__g.params;")
    for kernel, grid, block, params, name in launches:
        L.append(f"    /* {name} */")
        for prm in params:
            if prm[0] == "int":
                L.append(f"    *p++ = a; *a++ = (uint64_t){prm[1]}LL;")
            else:
                L.append(f"    *p++ = a; *a++ = (uint64_t)({n}__g.buf[{prm[1]}] + {prm[2]});")
    L += [f"    {n}__g.ready = 1;", "    return THEON_OK;", "}", "",
          f"void {n}_cuda_release(void) {{",
          f"    if (!{n}__g.ready) return;",
          f"    for (int k = 0; k < {len(bufs.sizes)}; k++) cuMemFree_v2({n}__g.buf[k]);",
          f"    cuModuleUnload({n}__g.module);",
          f"    cuDevicePrimaryCtxRelease_v2({n}__g.device);",
          f"    memset(&{n}__g, 0, sizeof {n}__g);",
          "}", ""]
    # the state
    if centry.state:
        t = centry.state_type
        L.append(f"void {n}_state_init({t} *state) {{")
        L.append("    memset(state, 0, sizeof *state);")
        for j, f in enumerate(centry.state):
            data = f.initial_bytes() if not centry.zero_state else bytes(f.nbytes)
            if any(data):
                L.append(f"    {{ static const unsigned char v[{len(data)}] = {{")
                L += ["    " + x for x in _bytes_literal(data)]
                L.append(f"      }}; memcpy(&state->{f.name}, v, sizeof v); }}")
        L += ["}", ""]
    # the entry
    params = [p[1] for p in centry.entry_params()]
    L.append(f"int {n}({', '.join(params) or 'void'}) {{")
    L.append(f"    if (!{n}__g.ready) {{ int rc = {n}_cuda_init(0); if (rc) return rc; }}")
    for k, arr in enumerate(centry.inputs):
        if k not in bufs.of_region:
            continue
        nbytes = int(np.prod(arr.shape, dtype=np.int64)) * arr.itemsize
        src = f"&{arr.name}" if arr.ndim == 0 else arr.name
        if nbytes:
            L.append(f"    CHECK(cuMemcpyHtoD_v2({n}__g.buf[{bufs.of_region[k]}], {src}, {nbytes}));")
    for s, f in enumerate(centry.state):
        r = n_in + s
        if r in bufs.of_region and f.nbytes:
            L.append(f"    CHECK(cuMemcpyHtoD_v2({n}__g.buf[{bufs.of_region[r]}], &state->{f.name}, {f.nbytes}));")
    L.append(f"    void **p = {n}__g.params;")
    for kernel, grid, block, params_, name in launches:
        L.append(f"    CHECK(cuLaunchKernel({n}__g.fn[{kernel}], {grid[0]}, {grid[1]}, {grid[2]}, {block[0]}, "
                 f"{block[1]}, {block[2]}, 0, 0, p, 0)); p += {len(params_)};  /* {name} */")

    def fetch(src, dst, nbytes, j):
        if not nbytes:
            return []
        if src[0] == "host":
            return [f"    memcpy({dst}, {n}__hostres{j}, {nbytes});"]
        return [f"    CHECK(cuMemcpyDtoH_v2({dst}, {n}__g.buf[{src[1]}] + {src[2]}, {nbytes}));"]

    for j, (src, out) in enumerate(zip(outputs, centry.outputs)):
        nbytes = int(np.prod(out.shape, dtype=np.int64)) * out.itemsize
        L += fetch(src, out.name, nbytes, j)
    if updates:
        # all at once: into a scratch copy first, so a failure changes no state
        L.append(f"    static unsigned char next[{max(sum(centry.state[s].nbytes for _, s in centry.updates), 1)}];")
        at = 0
        spots = []
        for j, (src, (_, s)) in enumerate(zip(updates, centry.updates)):
            f = centry.state[s]
            L += fetch(src, f"next + {at}", f.nbytes, n_out + j)
            spots.append((f, at))
            at += f.nbytes
        for f, at in spots:
            if f.nbytes:
                L.append(f"    memcpy(&state->{f.name}, next + {at}, {f.nbytes});")
    L += ["    return THEON_OK;", "}", ""]
    # output shapes (static) and metadata
    sparams = [p[1] for p in centry.shape_params()]
    L.append(f"int {n}_output_shapes({', '.join(sparams) or 'void'}) {{")
    for p in centry.shape_params():
        if p[0] == "shape":
            out = centry.outputs[p[2]]
            for d, size in enumerate(out.shape):
                L.append(f"    {out.name}_shape[{d}] = {int(size) if size is not None else 0};")
        elif p[0] in ("dim", "input", "state"):
            L.append(f"    (void){p[1].split()[-1].lstrip('*')};")
    L += ["    return THEON_OK;", "}", ""]
    meta = centry.metadata_json().replace("\\", "\\\\").replace('"', '\\"')
    L += [f'const char *{n}_metadata(void) {{ return "{meta}"; }}', ""]
    header = _header(centry)
    return "\n".join(L), header


def _header(centry):
    n = centry.name
    guard = f"THEON_AOT_{n.upper()}_CUDA_H"
    return "\n".join([
        f"/* {n}_cuda.h -- the GPU extras of {n}_cuda.c (the entry's ABI is {n}.h).",
        f" * Unlike the CPU object, {n}_cuda.c keeps one set of device buffers: calls of",
        f" * {n} must not run concurrently. Link with -lcuda. */",
        f"#ifndef {guard}", f"#define {guard}", "",
        "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
        f"/* Returned when a CUDA driver call fails; {n}_cuda_error() names it. */",
        f"#define THEON_ERR_CUDA {CUDA_ERROR_STATUS}", "",
        f"/* Load the module and allocate the device buffers on GPU `ordinal` (the first",
        f" * call of {n} does it for GPU 0). Returns THEON_OK or THEON_ERR_CUDA. */",
        f"int {n}_cuda_init(int ordinal);", "",
        "/* Free the device buffers and the module, release the primary context. */",
        f"void {n}_cuda_release(void);", "",
        "/* The driver call that failed last (NULL: none). */",
        f"const char *{n}_cuda_error(void);", "",
        "#ifdef __cplusplus", "}", "#endif", f"#endif  /* {guard} */", ""])

