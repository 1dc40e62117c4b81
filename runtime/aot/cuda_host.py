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
per kernel. A call: the dims are checked (``NAME__select``: negative dims,
then the equalities the plan requires, with the CPU entry's error codes,
e.g. THEON_ERR_SHAPE_MISMATCH), a launch sequence is chosen, its device
buffers are made large enough (``cuMemAlloc`` on first use or when the
dims grew; kept), the inputs and the state struct's fields go to the
device (``cuMemcpyHtoD``), every kernel is launched with its arguments and
grid computed in C from the dims, and the outputs and updated state
fields come back (``cuMemcpyDtoH``, which waits for the kernels).
``NAME_output_shapes`` computes the output shapes the same way.

Dynamic dims. The launch sequence is the plan's, recorded at compile time
(``codegen/ptx/specialize.record_trace``) on an address-only device with
each dynamic dim a ``SymInt`` (``codegen/ptx/state.py``): every size,
stride, offset, grid and kernel argument the plan computes from it
carries its expression, and every comparison the plan makes on it (a
variant choice, a grid cap, a broadcast check) is a *guard*. Dims the plan
requires to be equal are learned first: recorded with a distinct value per
dim, a PlanError naming two of them (SHAPE_MISMATCH, MATMUL_MISMATCH, ...)
makes them one class and becomes a C check returning that code. Then a
variant is recorded at several dims (``SAMPLES``); the C host runs the
first variant whose guards hold for the call's dims, and returns
THEON_ERR_CUDA_SHAPES (201) when none does. A variant is kept only when
its guards pin the dims to one value, or its expressions evaluated at
other dims where its guards hold give exactly the recording at those dims
(so no size went through host data that loses the symbols); an entry with
no variant covering more than single dims is refused with the reason (a
size the host computes from a shape and uploads as data, e.g. a mean's
divisor over a dynamic axis). Also refused, with the reason: steps that
read device data on the host (data-dependent sizes, checked exponents,
scans with data-dependent trip counts, ...), host side effects (print),
inputs whose values the host reads (sizes, indices).
"""
import functools
import itertools

import numpy as np

from ...codegen import errors as codes
from ...codegen.ptx import GPU_SCHEDULE
from ...codegen.ptx.shapes import PlanError, c_strides
from ...codegen.ptx.specialize import NotSpecializable, record_trace
from ...codegen.ptx.state import SymInt, eval_expr, sym_expr
from .build import BuildError

CUDA_ERROR_STATUS = 200     # THEON_ERR_CUDA: a CUDA driver call failed (NAME_cuda_error says which)
SHAPES_ERROR_STATUS = 201   # THEON_ERR_CUDA_SHAPES: dims none of the recorded launch sequences covers
BYTES_PER_LINE = 24


class HostRefused(BuildError):
    """The entry cannot get a C host file (the message says why)."""


def c_host_files(entry, func, compiled, options):
    """{file name: text} of the C host of ``entry`` (IR ``func`` after the
    passes, ``compiled`` its PtxModule); HostRefused when it has none."""
    from ...codegen.cheader import render_header
    centry, host = prepare(entry, func, compiled.plan, options)
    c_text, h_text = emit_c_host(centry, compiled.plan, host, compiled.ptx)
    n = entry.name
    return {f"{n}.h": render_header(centry, object_name=f"{n}_cuda.c"), f"{n}_cuda.c": c_text,
            f"{n}_cuda.h": h_text}


def prepare(entry, func, plan, options):
    """(CEntry with its state layout, (dims, variants) from ``record_entry``)."""
    from ...codegen.cpu.driver import aot_wrapper
    from ...codegen.llvm_util import init_llvm
    from .build import _shapes, make_interface, state_fields
    import llvmlite.binding as llvm
    state = state_fields(entry, func)
    init_llvm()
    machine = llvm.Target.from_default_triple().create_target_machine()
    centry = make_interface(entry, func, state, options, llvm.get_default_triple())
    _shapes(entry, func, centry)            # the outputs' documented shapes
    centry.shapes_need_data = False         # (an entry whose shapes need data is refused below)
    aot_wrapper.layout_state(centry, machine.target_data)
    return centry, record_entry(plan, centry)


# --- recording at symbolic dims -------------------------------------------------------------------------
UNIFY_VALUES = (37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127)
SAMPLES = (37, 1031, 1, 2, 5, 0, 65537)     # the dims (class c: + 2c) variants are recorded at first
MAX_VARIANTS = 24


GRID = (0, 1, 2, 5, 37, 1031, 65537)     # per class, combined, for up to 3 classes


def _candidates(n_cls):
    """The dims tried, as one value per class: SAMPLES (class c: + 2c), the
    combinations of GRID (classes apart), then every dim up to 64 and a
    geometric sweep to 2**24; each is recorded unless a variant covers it."""
    if not n_cls:
        return [[]]
    sweep, x = list(range(65)), 64.0
    while x < 1 << 24:
        x *= 1.3
        sweep.append(int(x))
    out = [[b + 2 * c for c in range(n_cls)] for b in SAMPLES]
    if 1 < n_cls <= 3:
        out += [list(v) for v in itertools.product(GRID, repeat=n_cls)]
    return out + [[b + 2 * c for c in range(n_cls)] for b in sweep]
TWINS = (2, 4, 6)                       # a variant is checked against a recording at its dims + one of these


class _Dims:
    """The dynamic input dims of an entry, grouped into classes that the
    plan requires to be equal (learned from its PlanErrors: ``checks``)."""

    def __init__(self, centry):
        self.centry = centry
        self.dims = [(k, d) for k, a in enumerate(centry.inputs) for d, s in enumerate(a.shape) if s is None]
        self.parent = list(range(len(self.dims)))
        self.checks = []                # (error code, dim index, dim index): C checks, in order

    def find(self, i):
        while self.parent[i] != i:
            i = self.parent[i]
        return i

    def classes(self):
        return sorted({self.find(i) for i in range(len(self.dims))})

    def class_of(self):
        """dim index -> class number (the position of its representative)."""
        reps = self.classes()
        return [reps.index(self.find(i)) for i in range(len(self.dims))]

    def inputs(self, values):
        """(dtype, shape) per input, dynamic dims SymInts of their class
        (``values[c]``: class c's sample value)."""
        cls = self.class_of()
        at = {dim: n for n, dim in enumerate(self.dims)}
        out = []
        for k, a in enumerate(self.centry.inputs):
            shape = []
            for d, s in enumerate(a.shape):
                if s is None:
                    c = cls[at[(k, d)]]
                    shape.append(SymInt(values[c], ("d", c)))
                else:
                    shape.append(int(s))
            out.append((a.dtype, tuple(shape)))
        return out

    def name(self, i):
        k, d = self.dims[i]
        return self.centry.inputs[k].dim_names[d]


class _Variant:
    """One recorded launch sequence, valid where its guards hold."""

    def __init__(self, trace, guards, dims_at):
        self.trace, self.guards, self.dims_at = trace, guards, dims_at


def _guard_set(log):
    out = []
    seen = set()
    for g in log:
        if g[1] == g[2]:            # x op x: the same for every dims
            continue
        key = repr(g)
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def select(variants, values):
    """The index of the variant the C host runs at dims ``values`` (one per
    class), or None (THEON_ERR_CUDA_SHAPES): ``NAME__select``'s rule."""
    return next((k for k, v in enumerate(variants) if _holds(v.guards, values)), None)


def _holds(guard_list, values):
    ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
           "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return all(ops[op](eval_expr(a, values), eval_expr(b, values)) == result for op, a, b, result in guard_list)


def record_entry(plan, centry):
    """The entry's launch sequences (``_Variant``s) at symbolic dims and the
    dims' classes; HostRefused when the entry needs what a C host recorded
    at compile time cannot do."""
    dims = _Dims(centry)
    shared = [np.zeros(f.shape, dtype=f.dtype) for f in centry.state]

    def record(values):
        log = []
        trace = record_trace(plan, GPU_SCHEDULE, dims.inputs(values), shared, log)
        return trace, _guard_set(log)

    # 1. which dims must be equal: distinct sample values per class until the plan accepts them
    failure = None
    for _ in range(len(dims.dims) + 1):
        reps = dims.classes()
        values = [UNIFY_VALUES[c % len(UNIFY_VALUES)] for c in range(len(reps))]
        try:
            record(values)
            failure = None
            break
        except PlanError as e:
            failure = e
            hit = [c for c, v in enumerate(values) if v in e.details]
            if len(hit) < 2:
                break
            a, b = reps[hit[0]], reps[hit[1]]
            dims.parent[b] = a
            dims.checks.append((e.code, a, b))
        except NotSpecializable as e:
            raise _refusal(plan, centry, e) from None
    if failure is not None:
        raise HostRefused(f"{centry.name}: the plan fails for every sample of the input dims "
                          f"(error code {failure.code} at op {failure.op_index})")
    # 2. a variant per distinct set of branch decisions, each checked against a recording at other dims
    n_cls = len(dims.classes())
    variants, errors, dropped = [], [], []
    for values in _candidates(n_cls):
        if any(_holds(g, values) for g in [v.guards for v in variants] + dropped):
            continue
        if len(variants) >= MAX_VARIANTS:
            break
        try:
            trace, guard_list = record(values)
        except PlanError as e:
            errors.append((values, e))
            continue
        except NotSpecializable as e:
            raise _refusal(plan, centry, e) from None
        if trace.value_reads:
            raise _refusal(plan, centry, "reads input values")
        variant = _Variant(trace, guard_list, values)
        if n_cls and not _pinned(guard_list, n_cls) and not _validated(variant, record, centry, plan, n_cls):
            dropped.append(guard_list)
            continue
        variants.append(variant)
    if n_cls and all(_pinned(v.guards, n_cls) for v in variants):
        raise HostRefused(f"{centry.name}: the plan's sizes follow the input dims through host data the C host "
                          "cannot compute (a value computed from a shape, e.g. a mean's divisor, or a shape "
                          "read as data): its launch sequences hold only at the dims they were recorded at")
    return dims, variants


def _fixed(guard_list):
    """The dim classes the guards fix to one value."""
    return {a[1] for op, a, b, r in guard_list if isinstance(a, tuple) and a[0] == "d" and isinstance(b, int)
            and (op, r) in (("==", True), ("!=", False))}


def _pinned(guard_list, n_cls):
    """True when the guards fix every dim class to one value (nothing to check elsewhere)."""
    return len(_fixed(guard_list)) == n_cls


def _refusal(plan, centry, e):
    kinds = sorted({s.kind for s in plan.steps})
    return HostRefused(f"{centry.name}: the C host cannot run this plan: {e}; its steps are of the kinds "
                       f"{', '.join(kinds)} (a step reading device data on the host -- data-dependent "
                       "sizes, checked integer exponents, scans with data-dependent trip counts, host "
                       "regions -- or with a host side effect has no C version)")


def _validated(variant, record, centry, plan, n_cls):
    """True when ``variant``, evaluated at other dims where its guards hold,
    is exactly the recording at those dims (every size the plan computes
    followed the dims symbolically); False when no such dims were found
    (the variant is dropped); HostRefused when they differ."""
    want = _Program(centry, plan, variant.trace)
    fixed = _fixed(variant.guards)
    for twin in TWINS:
        values = [v if c in fixed else v + twin for c, v in enumerate(variant.dims_at)]
        if not _holds(variant.guards, values):
            continue
        try:
            trace, _ = record(values)
        except (PlanError, NotSpecializable):
            continue
        got = _Program(centry, plan, trace)
        if want.concrete(values) != got.concrete(values):
            raise HostRefused(f"{centry.name}: a size the plan computes from the input dims passes through host "
                              "data the C host cannot follow (its recordings at two sets of dims differ beyond "
                              "the dims)")
        return True
    return False


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
    """The device buffers of one variant: one per argument region used,
    result slot, arena slot and constant, each with its size (an expression
    of the dims); every recorded address maps to (buffer index, byte offset)."""

    def __init__(self, trace, n_args):
        self.sizes = []             # bytes per buffer (expressions)
        self.what = []
        self.ranges = []            # (lo, hi, buffer index) of recorded addresses
        self.of_region = {}
        used = set(trace.used_args)
        for k, t in enumerate(trace.arg_tensors):
            if t is not None and k in used:
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
        self.sizes.append(sym_expr(nbytes))
        self.what.append(what)
        if addr is not None:
            self.ranges.append((int(addr), int(addr) + max(int(nbytes), 0), len(self.sizes) - 1))
        return len(self.sizes) - 1

    def locate(self, p):
        q = int(p)
        inside = [r for r in self.ranges if r[0] <= q < r[1]] or [r for r in self.ranges if r[0] <= q <= r[1]]
        if len({r[2] for r in inside}) != 1:
            raise HostRefused(f"the recorded address {q:#x} is in {len(inside)} device buffers")
        lo, _, b = inside[0]
        return b, sym_expr(p - lo)


class _Program:
    """What the C host does for one variant, with sizes, grids and kernel
    arguments as expressions of the dims (``concrete(dims)``: all evaluated,
    for comparing recordings)."""

    def __init__(self, centry, plan, trace):
        n_in = len(centry.inputs)
        n_args = n_in + len(centry.state)
        self.bufs = bufs = _Buffers(trace, n_args)
        if trace.copies:
            raise HostRefused(f"{centry.name}: the plan copies device memory directly (no C version)")
        self.kernels = list(dict.fromkeys(ln.name for ln in trace.launches))
        kidx = {k: j for j, k in enumerate(self.kernels)}
        self.launches = []
        for ln in trace.launches:
            spec = plan.kernels[ln.name]
            patched = {pos: (r, off) for pos, r, off in ln.patches}
            params = []
            for pos, ((_, kind), a) in enumerate(zip(spec.params, ln.args)):
                if kind == "i64":
                    params.append(("int", sym_expr(a)))
                elif pos in patched:
                    r, off = patched[pos]
                    params.append(("buf", bufs.of_region[r], sym_expr(off)))
                else:
                    params.append(("buf",) + bufs.locate(a))
            self.launches.append((kidx[ln.name], tuple(sym_expr(g) for g in ln.grid), tuple(ln.block), params,
                                  ln.name))
        self.inputs = [(k, bufs.of_region[k], bufs.sizes[bufs.of_region[k]])
                       for k in range(n_in) if k in bufs.of_region]
        self.state_in = [(s, bufs.of_region[n_in + s]) for s in range(len(centry.state))
                         if n_in + s in bufs.of_region]
        self.results = []           # ('host', bytes) or ('buf', buffer, offset, shape)
        for j, res in enumerate(trace.results):
            kind = res[0]
            if kind == "host":
                a = np.ascontiguousarray(res[2])
                self.results.append(("host", a.tobytes(), tuple(a.shape)))
                continue
            if kind == "fixed":
                t = res[2]
                b, off = bufs.locate(t.ptr)
                shape, strides = t.shape, t.strides
            else:
                _, _, r, off, dtype, shape, strides = res
                b, off = bufs.of_region[r], sym_expr(off)
            if tuple(map(int, strides)) != tuple(map(int, c_strides(shape))) and int(np.prod(
                    [int(d) for d in shape])) > 1:
                raise HostRefused(f"{centry.name}: result {j} is not C-contiguous on the device")
            self.results.append(("buf", b, off, tuple(sym_expr(d) for d in shape)))

    def concrete(self, values):
        ev = functools.partial(_eval_tree, values=values)
        return (ev(self.bufs.sizes), [bytes(d) for _, d in self.bufs.constants], self.kernels,
                ev([lx[:4] for lx in self.launches]), ev(self.inputs), self.state_in, ev(self.results))


def _eval_tree(x, values):
    """Every expression inside nested tuples/lists ``x`` evaluated."""
    if isinstance(x, list):
        return [_eval_tree(e, values) for e in x]
    if isinstance(x, tuple):
        if x and x[0] in ("d", "neg", "+", "-", "*", "//", "%") and len(x) in (2, 3) and not (
                x[0] == "d" and not isinstance(x[1], int)):
            return eval_expr(x, values)
        return tuple(_eval_tree(e, values) for e in x)
    return x


def cexpr(e):
    """C text (int64_t arithmetic) of a SymInt expression; dims are D[c]."""
    if isinstance(e, (int, np.integer)):
        return f"{int(e)}LL" if int(e) >= 0 else f"({int(e)}LL)"
    op = e[0]
    if op == "d":
        return f"D[{e[1]}]"
    if op == "neg":
        return f"(-{cexpr(e[1])})"
    a, b = cexpr(e[1]), cexpr(e[2])
    if op == "//":
        return f"theon__fdiv({a}, {b})"
    if op == "%":
        return f"theon__fmod({a}, {b})"
    return f"({a} {op} {b})"


def _cguard(g):
    op, a, b, result = g
    text = f"{cexpr(a)} {op} {cexpr(b)}"
    return f"({text})" if result else f"!({text})"


_DRIVER_DECLS = [
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


def emit_c_host(centry, plan, host, ptx):
    """(NAME_cuda.c text, NAME_cuda.h text) for ``centry`` (a CEntry with
    its state layout), its plan, its recorded variants (``record_entry``)
    and the PTX."""
    dims, variants = host
    n = centry.name
    n_out = len(centry.outputs)
    progs = [_Program(centry, plan, v.trace) for v in variants]
    kernels = list(dict.fromkeys(k for p in progs for k in p.kernels))
    cls = dims.class_of()
    n_dims, n_cls = len(dims.dims), len(dims.classes())
    g = f"{n}__g"
    L = [f"/* {n}_cuda.c -- the theon entry `{n}` on a GPU through the CUDA driver API.",
         " * Generated by theon's aot-compile --target cuda; do not edit.",
         f" * Build: cc main.c {n}_cuda.c -lcuda   (no CUDA toolkit needed)",
         f" * {len(variants)} launch sequence(s), chosen per call by the input dims; device buffers",
         " * are allocated on first use and grown when larger dims need more.",
         " */",
         "#include <stddef.h>", "#include <stdint.h>", "#include <string.h>",
         f'#include "{n}.h"', f'#include "{n}_cuda.h"', ""] + _DRIVER_DECLS
    L.append(f"static const char {n}__ptx[] =")
    L += _c_string(ptx)
    L[-1] += ";"
    L.append(f"static const char *const {n}__kernels[{max(len(kernels), 1)}] = {{")
    L += [f'    "{k}",' for k in kernels] or ['    ""']
    L.append("};")
    for v, prog in enumerate(progs):
        for j, (b, data) in enumerate(prog.bufs.constants):
            L.append(f"static const unsigned char {n}__v{v}_const{j}[{max(len(data), 1)}] = {{")
            L += _bytes_literal(data)
            L.append("};")
        for j, res in enumerate(prog.results):
            if res[0] == "host":
                L.append(f"static const unsigned char {n}__v{v}_host{j}[{max(len(res[1]), 1)}] = {{")
                L += _bytes_literal(res[1])
                L.append("};")
    L += ["", "static struct {", "    int ready;", "    CUdevice device;", "    CUcontext context;",
          "    CUmodule module;", f"    CUfunction fn[{max(len(kernels), 1)}];"]
    for v, prog in enumerate(progs):
        nb = max(len(prog.bufs.sizes), 1)
        L += [f"    CUdeviceptr buf{v}[{nb}];", f"    size_t cap{v}[{nb}];", f"    int consts{v};"]
    L += ["    const char *failed;", f"}} {g};", "",
          f"#define CHECK(call) do {{ if ((call) != 0) {{ {g}.failed = #call; return THEON_ERR_CUDA; }} }} while (0)",
          "",
          "/* Python's floor division and modulo (sizes are computed as the plan computes them). */",
          "static inline int64_t theon__fdiv(int64_t a, int64_t b) {",
          "    if (b == 0) return 0;",
          "    int64_t q = a / b;",
          "    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;",
          "}",
          "static inline int64_t theon__fmod(int64_t a, int64_t b) {",
          "    if (b == 0) return 0;",
          "    int64_t r = a % b;",
          "    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;",
          "}", "",
          "/* A device buffer of at least `need` bytes (kept; reallocated when too small). */",
          "static CUresult theon__ensure(CUdeviceptr *buf, size_t *cap, int64_t need) {",
          "    size_t want = need > 0 ? (size_t)need : 1;",
          "    if (*cap >= want) return 0;",
          "    if (*buf) { cuMemFree_v2(*buf); *buf = 0; *cap = 0; }",
          "    CUresult rc = cuMemAlloc_v2(buf, want);",
          "    if (rc == 0) *cap = want;",
          "    return rc;",
          "}", "",
          f"const char *{n}_cuda_error(void) {{ return {g}.failed; }}", "",
          f"int {n}_cuda_init(int ordinal) {{",
          f"    if ({g}.ready) return THEON_OK;",
          "    CHECK(cuInit(0));",
          f"    CHECK(cuDeviceGet(&{g}.device, ordinal));",
          f"    CHECK(cuDevicePrimaryCtxRetain(&{g}.context, {g}.device));",
          f"    CHECK(cuCtxSetCurrent({g}.context));",
          f"    CHECK(cuModuleLoadData(&{g}.module, {n}__ptx));",
          f"    for (int k = 0; k < {len(kernels)}; k++)",
          f"        CHECK(cuModuleGetFunction(&{g}.fn[k], {g}.module, {n}__kernels[k]));",
          f"    {g}.ready = 1;", "    return THEON_OK;", "}", "",
          f"void {n}_cuda_release(void) {{",
          f"    if (!{g}.ready) return;"]
    for v, prog in enumerate(progs):
        L.append(f"    for (int k = 0; k < {len(prog.bufs.sizes)}; k++) if ({g}.buf{v}[k]) cuMemFree_v2({g}.buf{v}[k]);")
    L += [f"    cuModuleUnload({g}.module);", f"    cuDevicePrimaryCtxRelease_v2({g}.device);",
          f"    memset(&{g}, 0, sizeof {g});", "}", ""]
    # the dims: classes, the plan's checks, the variant whose guards hold
    L += ["/* The dims' classes D (dims the plan requires equal share one), checked as the CPU",
          " * entry checks them; returns the launch sequence to run, or minus an error code. */",
          f"static int {n}__select(const int64_t *dims, int64_t *D) {{"]
    if not n_dims:
        L.append("    (void)dims; (void)D;")
    for i in range(n_dims):
        L.append(f"    if (dims[{i}] < 0) return -THEON_ERR_NEGATIVE_SIZE;  /* {dims.name(i)} */")
    reps = dims.classes()
    for c, r in enumerate(reps):
        L.append(f"    D[{c}] = dims[{r}];  /* {dims.name(r)} */")
    for code, a, b in dims.checks:
        L.append(f"    if (dims[{a}] != dims[{b}]) return -{code};  /* {dims.name(a)} vs {dims.name(b)}: "
                 f"{codes.NAMES.get(code, code)} */")
    for v, variant in enumerate(variants):
        conds = [_cguard(x) for x in variant.guards] or ["1"]
        L.append(f"    if ({(' &&' + chr(10) + '        ').join(conds)})")
        L.append(f"        return {v};  /* recorded at dims {variant.dims_at} */")
    L += [f"    return -THEON_ERR_CUDA_SHAPES;", "}", ""]
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
    dim_args = [dims.name(i) for i in range(n_dims)]
    dims_init = f"    int64_t dims[{max(n_dims, 1)}] = {{{', '.join(dim_args) or '0'}}};"
    params = [p[1] for p in centry.entry_params()]
    call_args = [p[1].replace("*", " ").split()[-1] for p in centry.entry_params()]
    for v, prog in enumerate(progs):
        L += _emit_variant(centry, prog, v, params, g, [kernels.index(k) for k in prog.kernels])
    # the entry
    L.append(f"int {n}({', '.join(params) or 'void'}) {{")
    L.append(f"    if (!{g}.ready) {{ int rc = {n}_cuda_init(0); if (rc) return rc; }}")
    L.append(dims_init)
    L.append(f"    int64_t D[{max(n_cls, 1)}];")
    L.append(f"    int v = {n}__select(dims, D);")
    L.append("    switch (v) {")
    for v in range(len(progs)):
        L.append(f"    case {v}: return {n}__run{v}({', '.join(call_args + ['D'])});")
    L += ["    default: return -v;", "    }", "}", ""]
    # output shapes
    sparams = centry.shape_params()
    L.append(f"int {n}_output_shapes({', '.join(p[1] for p in sparams) or 'void'}) {{")
    L.append(dims_init)
    L.append(f"    int64_t D[{max(n_cls, 1)}];")
    L.append(f"    int v = {n}__select(dims, D);")
    L.append("    if (v < 0) return -v;")
    L.append("    (void)D;")
    for v, prog in enumerate(progs):
        lines = []
        for p in sparams:
            if p[0] != "shape":
                continue
            res = prog.results[p[2]]
            shape = res[2] if res[0] == "host" else res[3]
            for d, e in enumerate(shape):
                lines.append(f"        {centry.outputs[p[2]].name}_shape[{d}] = {cexpr(e)};")
        if lines:
            L.append(f"    if (v == {v}) {{")
            L += lines
            L.append("    }")
    L += ["    return THEON_OK;", "}", ""]
    meta = centry.metadata_json().replace("\\", "\\\\").replace('"', '\\"')
    L += [f'const char *{n}_metadata(void) {{ return "{meta}"; }}', ""]
    return "\n".join(L), _header(centry)


def _emit_variant(centry, prog, v, params, g, fn_index):
    """The C function running launch sequence ``v`` (``prog``) for dims D
    (``fn_index``: the module-wide function of each of prog's kernels)."""
    n = centry.name
    n_out = len(centry.outputs)
    bufs = prog.bufs
    B, C = f"{g}.buf{v}", f"{g}.cap{v}"
    names = [p.replace("*", " ").split()[-1] for p in params]
    L = [f"static int {n}__run{v}({', '.join(params + ['const int64_t *D'])}) {{",
         "    " + " ".join(f"(void){x};" for x in names + ["D"])]
    for res, (_, s_) in zip(prog.results[n_out:], centry.updates):
        shape = res[2] if res[0] == "host" else res[3]
        fixed = centry.state[s_].shape
        if len(shape) != len(fixed):
            raise HostRefused(f"{n}: an update has {len(shape)} dims, its state field {len(fixed)}")
        conds = [f"{cexpr(e)} != {int(d)}LL" for e, d in zip(shape, fixed) if not isinstance(e, int)]
        if any(isinstance(e, int) and e != d for e, d in zip(shape, fixed)):
            conds = ["1"]
        if conds:
            L.append(f"    if ({' || '.join(conds)}) return THEON_ERR_STATE_SHAPE;")
    consts = {b for b, _ in bufs.constants}
    for b, size in enumerate(bufs.sizes):
        if b not in consts:
            L.append(f"    CHECK(theon__ensure(&{B}[{b}], &{C}[{b}], {cexpr(size)}));  /* {bufs.what[b]} */")
    if bufs.constants:
        L.append(f"    if (!{g}.consts{v}) {{")
        for j, (b, data) in enumerate(bufs.constants):
            L.append(f"        CHECK(theon__ensure(&{B}[{b}], &{C}[{b}], {len(data)}));")
            if data:
                L.append(f"        CHECK(cuMemcpyHtoD_v2({B}[{b}], {n}__v{v}_const{j}, {len(data)}));")
        L += [f"        {g}.consts{v} = 1;", "    }"]
    for k, b, size in prog.inputs:
        arr = centry.inputs[k]
        src = f"&{arr.name}" if arr.ndim == 0 else arr.name
        L.append(f"    if ({cexpr(size)} > 0) CHECK(cuMemcpyHtoD_v2({B}[{b}], {src}, (size_t){cexpr(size)}));")
    for s, b in prog.state_in:
        f = centry.state[s]
        if f.nbytes:
            L.append(f"    CHECK(cuMemcpyHtoD_v2({B}[{b}], &state->{f.name}, {f.nbytes}));")
    width = max((len(p) for _, _, _, p, _ in prog.launches), default=0)
    if prog.launches:
        L += [f"    uint64_t a[{max(width, 1)}];", f"    void *p[{max(width, 1)}];",
              f"    for (int k = 0; k < {max(width, 1)}; k++) p[k] = &a[k];"]
    for kernel, grid, block, prm, name in prog.launches:
        L.append(f"    /* {name} */")
        for pos, x in enumerate(prm):
            if x[0] == "int":
                L.append(f"    a[{pos}] = (uint64_t){cexpr(x[1])};")
            else:
                L.append(f"    a[{pos}] = (uint64_t)({B}[{x[1]}] + {cexpr(x[2])});")
        gx, gy, gz = (f"(unsigned){cexpr(e)}" for e in grid)
        L.append(f"    CHECK(cuLaunchKernel({g}.fn[{fn_index[kernel]}], {gx}, {gy}, {gz}, {block[0]}, {block[1]}, "
                 f"{block[2]}, 0, 0, p, 0));")

    def fetch(res, dst, itemsize, j):
        if res[0] == "host":
            return [f"    memcpy({dst}, {n}__v{v}_host{j}, {len(res[1])});"] if res[1] else []
        nbytes = f"({_numel_c(res[3])} * {itemsize})"
        return [f"    if ({nbytes} > 0) CHECK(cuMemcpyDtoH_v2({dst}, {B}[{res[1]}] + {cexpr(res[2])}, "
                f"(size_t){nbytes}));"]

    for j, out in enumerate(centry.outputs):
        L += fetch(prog.results[j], out.name, out.itemsize, j)
    updates = prog.results[n_out:]
    if updates:
        # all at once: into a scratch copy first, so a failure changes no state
        L.append(f"    static unsigned char next[{max(sum(centry.state[s].nbytes for _, s in centry.updates), 1)}];")
        at, spots = 0, []
        for j, (res, (_, s)) in enumerate(zip(updates, centry.updates)):
            f = centry.state[s]
            L += fetch(res, f"next + {at}", f.itemsize if hasattr(f, "itemsize") else
                       f.nbytes // max(int(np.prod(f.shape)), 1), n_out + j)
            spots.append((f, at))
            at += f.nbytes
        for f, at in spots:
            if f.nbytes:
                L.append(f"    memcpy(&state->{f.name}, next + {at}, {f.nbytes});")
    L += ["    return THEON_OK;", "}", ""]
    return L


def _numel_c(shape):
    return " * ".join(cexpr(d) for d in shape) or "1LL"


def _header(centry):
    n = centry.name
    guard = f"THEON_AOT_{n.upper()}_CUDA_H"
    return "\n".join([
        f"/* {n}_cuda.h -- the GPU extras of {n}_cuda.c (the entry's ABI is {n}.h).",
        f" * Unlike the CPU object, {n}_cuda.c keeps one set of device buffers (grown for larger dims): calls of",
        f" * {n} must not run concurrently. Link with -lcuda. */",
        f"#ifndef {guard}", f"#define {guard}", "",
        "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
        f"/* Returned when a CUDA driver call fails; {n}_cuda_error() names it. */",
        f"#define THEON_ERR_CUDA {CUDA_ERROR_STATUS}", "",
        f"/* Returned for input dims none of the C host's recorded launch sequences covers",
        f" * (dims that agree with each other but that the plan runs differently). */",
        f"#define THEON_ERR_CUDA_SHAPES {SHAPES_ERROR_STATUS}", "",
        f"/* Load the module on GPU `ordinal` (buffers are allocated by the calls; the first",
        f" * call of {n} does it for GPU 0). Returns THEON_OK or THEON_ERR_CUDA. */",
        f"int {n}_cuda_init(int ordinal);", "",
        "/* Free the device buffers and the module, release the primary context. */",
        f"void {n}_cuda_release(void);", "",
        "/* The driver call that failed last (NULL: none). */",
        f"const char *{n}_cuda_error(void);", "",
        "#ifdef __cplusplus", "}", "#endif", f"#endif  /* {guard} */", ""])

