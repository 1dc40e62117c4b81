"""PTX emission: every op class lowers to PTX that NVIDIA's ptxas accepts.

Each test builds IR functions (every elementwise op for every dtype it
takes, every reduction, matrix products, views, data movement, ``fused``
ops), emits their launch plan's kernels for ``nvptx64-nvidia-cuda`` and
assembles the PTX with ``ptxas --gpu-name sm_80``. Emission always runs;
assembling is skipped only where ptxas is absent. Also here: the lowering
table covers the dialect, ``dump(f, 'ptx')``, ``aot-compile --target
cuda``, and the CUDA driver bindings against a stub libcuda.
"""
import ctypes
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.codegen.ptx import compile_ptx
from theon.codegen.ptx.plan import LOWERINGS, NOT_LOWERED, Plan
from theon.ir.builder import Builder
from theon.ir.core import DYN, Function
from theon.ir.dialect import OPS
from theon.ir.types import TensorType

PTXAS = shutil.which("ptxas")
needs_ptxas = pytest.mark.skipif(PTXAS is None, reason="ptxas (CUDA toolkit) is not on PATH")


def assemble(ptx, tmp_path, sm="sm_80"):
    """Run ptxas on ``ptx``; fails the test with its message on an error."""
    if PTXAS is None:
        return
    path = tmp_path / "kernels.ptx"
    path.write_text(ptx)
    proc = subprocess.run([PTXAS, "--gpu-name", sm, "-o", os.devnull, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"ptxas --gpu-name {sm} rejected the PTX:\n{proc.stderr[-4000:]}"


def make(arg_types, build, name="f"):
    f = Function(name, [TensorType(d, s) for d, s in arg_types], [f"a{i}" for i in range(len(arg_types))])
    b = Builder(f.body)
    outs = build(b, *f.args)
    b.create("return", list(outs) if isinstance(outs, (list, tuple)) else [outs])
    return f


def emit_and_assemble(func, tmp_path, sm="sm_80"):
    compiled = compile_ptx(func, sm=sm)
    assert f".target {sm}" in compiled.ptx
    for name in compiled.kernel_names:
        assert f".entry {name}(" in compiled.ptx, name
    assemble(compiled.ptx, tmp_path, sm)
    return compiled


# --- the lowering table -----------------------------------------------------------------------
def test_every_op_has_a_ptx_lowering():
    missing = sorted(n for n in OPS if n not in LOWERINGS and n not in NOT_LOWERED)
    assert not missing, f"ops without a PTX lowering in codegen/ptx/plan.py: {missing}"
    assert not sorted(n for n in LOWERINGS if n not in OPS)


def test_nvptx_target_is_available():
    import llvmlite.binding as llvm
    from theon.codegen.ptx.target import PTX_TRIPLE, nvptx_available
    assert nvptx_available()
    llvm.Target.from_triple(PTX_TRIPLE)


# --- elementwise ---------------------------------------------------------------------------------------
KIND_DTYPES = {"float": ["float32", "float64"], "int": ["int8", "int16", "int32", "int64", "uint8"],
               "bool": ["bool"]}


def _elementwise_cases(dtype):
    kind = "float" if dtype.startswith("float") else "bool" if dtype == "bool" else "int"
    names = []
    for name, opdef in OPS.items():
        if opdef.elementwise and name not in ("cast", "where") and kind in opdef.kinds:
            names.append(name)
    return names


@pytest.mark.parametrize("dtype", KIND_DTYPES["float"] + KIND_DTYPES["int"] + KIND_DTYPES["bool"])
def test_elementwise_ops_assemble(dtype, tmp_path):
    names = _elementwise_cases(dtype)

    def build(b, x, y, c):
        outs = []
        for name in names:
            n = OPS[name].num_operands
            outs.append(b(name, *([x, y][:n])))
        outs.append(b("where", c, x, y))
        for target in ("bool", "int8", "uint8", "int32", "int64", "float32", "float64"):
            outs.append(b("cast", x, dtype=target))
        return outs

    func = make([(dtype, (None, None)), (dtype, (None,)), ("bool", (None, 1))], build)
    compiled = emit_and_assemble(func, tmp_path)
    assert "libdevice" not in compiled.ptx and "__nv_" not in compiled.ptx


def test_transcendental_math_is_inlined(tmp_path):
    """theon's vecmath is compiled in: no libdevice, no calls."""
    func = make([("float32", (None,)), ("float64", (None,))],
                lambda b, x, y: [b(n, v) for n in ("exp", "log", "tanh", "erf", "sin", "sigmoid")
                                 for v in (x, y)] + [b("pow", x, x), b("mod", y, y)])
    compiled = emit_and_assemble(func, tmp_path)
    assert "__nv_" not in compiled.ptx
    assert "call.uni" not in compiled.ptx and "\tcall " not in compiled.ptx


# --- reductions, matmul ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "int8", "uint8", "bool"])
def test_reductions_assemble(dtype, tmp_path):
    def build(b, x):
        outs = [b("sum", x, axes=(1,), keepdims=False), b("max", x, axes=(0, 2), keepdims=True),
                b("min", x, axes=(0, 1, 2), keepdims=False), b("prod", x, axes=(2,), keepdims=False),
                b("argmax", x, axis=1, keepdims=False), b("argmin", x, axis=None, keepdims=False)]
        return outs

    emit_and_assemble(make([(dtype, (None, None, None))], build), tmp_path)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "int8", "uint8"])
def test_matmul_assembles(dtype, tmp_path):
    def build(b, a, c, v, t):
        return [b("matmul", a, c), b("matmul", v, c), b("matmul", a, v), b("matmul", t, c)]

    func = make([(dtype, (None, None)), (dtype, (None, None)), (dtype, (None,)), (dtype, (2, None, None, None))],
                build)
    compiled = emit_and_assemble(func, tmp_path)
    assert ".shared" in compiled.ptx and "bar.sync" in compiled.ptx


# --- views and data movement ---------------------------------------------------------------------------------
def test_views_and_data_ops_assemble(tmp_path):
    def build(b, x, i, v):
        k = b("constant", value=np.array(2, dtype=np.int64))
        return [
            b("dimshuffle", x, pattern=(1, "x", 0)),
            b("reshape", x, i, shape=(DYN, -1)),
            b("subtensor", x, i, idx=((None, DYN, 2), 0)),
            b("set_subtensor", x, v, i, idx=((DYN, None, None),)),
            b("inc_subtensor", x, v, idx=((None, None, -1),)),
            b("concatenate", x, x, axis=0),
            b("alloc", v, i, k, shape=(DYN, DYN, 4)),
            b("arange", i, k, k),
            b("arange", b("cast", i, dtype="float32"), b("constant", value=np.array(9.0, np.float32)),
              b("constant", value=np.array(0.5, np.float32))),
            b("shape", x),
            b("stop_gradient", x, kind="zero"),
            b("sum_to", x, i, shape=(DYN, 1)),
            b("constant", value=np.arange(6.0).reshape(2, 3)),
        ]

    emit_and_assemble(make([("float64", (None, 4)), ("int64", ()), ("float64", (4,))], build), tmp_path)


def test_fused_ops_assemble(tmp_path):
    from theon.passes.fusion import FuseElementwise
    x = T.matrix("x")
    s = x - x.max(axis=1, keepdims=True)
    f = theon.function([x], [T.exp(s) / T.exp(s).sum(axis=1, keepdims=True), T.log1p(x * x), (x * 2).sum()])
    FuseElementwise().run(f.ir)
    assert any(op.name == "fused" for op in f.ir.body.ops)
    compiled = emit_and_assemble(f.ir, tmp_path)
    assert any("fused" in n for n in compiled.kernel_names)


@pytest.mark.slow
def test_mlp_training_step_assembles_for_several_architectures(tmp_path):
    x = T.fmatrix("x")
    y = T.lvector("y")
    w = theon.shared(np.zeros((5, 3), dtype="float32"), name="w")
    b = theon.shared(np.zeros(3, dtype="float32"), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    loss = T.nnet.categorical_crossentropy(p, y).sum()
    gw, gb = theon.grad(loss, [w, b])
    f = theon.function([x, y], loss, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    from theon.runtime import pipeline
    # the GPU's own pipeline (the CPU's makes the updates CPU GEMM epilogues)
    ir = pipeline.legalize(pipeline.optimize(f.input_ir(), pipeline.for_target(f.mode.pipeline, "gpu")), "gpu")
    for sm in ("sm_75", "sm_86", "sm_90"):
        emit_and_assemble(ir, tmp_path, sm=sm)


def test_plan_fuses_elementwise_chains():
    x = T.vector("x")
    f = theon.function([x], T.exp(x) * 2 + T.sin(x))
    plan = Plan(f.ir)
    kinds = [s.kind for s in plan.steps if s.kernels()]
    assert kinds in (["elementwise"], ["fused"]), kinds     # (FAST_RUN may run fuse-elementwise)
    f = theon.function([x], T.exp(x) * 2 + T.sin(x), mode="FAST_COMPILE")
    assert [s.kind for s in Plan(f.ir).steps if s.kernels()] == ["elementwise"]


def test_host_evaluates_only_sizes():
    """Indices computed from inputs run on the host; data never does."""
    x = T.vector("x")
    i = T.lscalar("i")
    f = theon.function([x, i], T.exp(x[i * 2:(i + 1) * 2]) + i)
    plan = Plan(f.ir)
    host = {op.name for op in plan.host_ops}
    assert host <= {"mul", "add", "constant", "cast", "shape", "subtensor", "fused"}, host
    assert all(all(not o.type.ndim for o in op.operands) for op in plan.host_ops if op.name == "fused")
    assert all(s.kind != "host" or s.op.results[0].type.ndim <= 1 for s in plan.steps)


# --- printing and aot-compile ---------------------------------------------------------------------------------
def test_dump_ptx_of_a_cpu_function(tmp_path):
    x = T.fvector("x")
    f = theon.function([x], T.tanh(x).sum(), name="th")
    text = theon.printing.dump(f, "ptx")
    assert ".target sm_80" in text and ".entry theon_th_" in text
    assemble(text, tmp_path)


MODEL = '''
import numpy as np
import theon
import theon.tensor as T
w = theon.shared(np.linspace(-1, 1, 6).reshape(3, 2), name="w")
x = T.matrix("x")
loss = (T.tanh(T.dot(x, w)) ** 2).sum()
step = theon.function([x], loss, updates=[(w, w - 0.1 * theon.grad(loss, w))])
'''


def test_aot_compile_cuda_writes_ptx_and_launch_description(tmp_path):
    from theon.runtime.aot.build import Options, Target
    from theon.runtime.aot.ptx import compile_cuda_entry
    from theon.runtime.aot.source import load_entries
    src = tmp_path / "model.py"
    src.write_text(MODEL)
    out = tmp_path / "out"
    out.mkdir()
    options = Options(outdir=str(out), target="cuda", emit=("obj", "header", "llvm", "ir"), source=str(src))
    options.sm = "sm_80"
    target = Target(options)
    assert target.is_gpu and target.sm == "sm_80"
    (entry,) = load_entries(str(src))
    written = {os.path.basename(p) for p in compile_cuda_entry(entry, options, target)}
    assert {"step.ptx", "step.launch.json", "step.ll", "step.theon", "step.state0_w.bin"} <= written
    ptx = (out / "step.ptx").read_text()
    assemble(ptx, tmp_path)
    desc = json.loads((out / "step.launch.json").read_text())
    assert desc["ptx"] == "step.ptx" and desc["sm"] == "sm_80"
    assert desc["entry"]["shared"][0]["shape"] == [3, 2]
    for name, kernel in desc["kernels"].items():
        assert f".entry {name}(" in ptx
        assert all(len(p) == 2 for p in kernel["params"])
    assert any("matmul" in s["name"] for s in desc["steps"])
    assert np.array_equal(np.fromfile(out / "step.state0_w.bin", dtype="<f8").reshape(3, 2),
                          np.linspace(-1, 1, 6).reshape(3, 2))


def test_aot_compile_cuda_rejects_bad_options(tmp_path):
    from theon.runtime.aot.build import BuildError, Options, Target
    options = Options(outdir=str(tmp_path), target="cuda", emit=("shared",))
    with pytest.raises(BuildError, match="shared"):
        Target(options)
    options = Options(outdir=str(tmp_path), target="cuda")
    options.sm = "volta"
    with pytest.raises(BuildError, match="sm_80"):
        Target(options)


# --- the CUDA driver bindings ---------------------------------------------------------------------------------
def test_cuda_unavailable_is_reported_clearly():
    from theon.runtime import cuda
    if cuda.cuda_available():
        pytest.skip("a CUDA GPU is present")
    reason = cuda.unavailable_reason()
    assert reason
    with pytest.raises(cuda.CudaUnavailableError, match="CUDA is not available"):
        cuda.default_device()
    from theon.runtime.gpu_function import from_function
    x = T.vector("x")
    with pytest.raises(cuda.CudaUnavailableError):
        from_function(theon.function([x], x + 1))


def test_ptx_arch_choice():
    from theon.runtime.cuda import ptx_arch
    assert ptx_arch(8, 0) == "sm_80" and ptx_arch(8, 6) == "sm_86" and ptx_arch(9, 0) == "sm_90a"
    assert ptx_arch(12, 0) == "sm_90" and ptx_arch(7, 5) == "sm_75"


STUB_LIBCUDA = r'''
#include <stdlib.h>
#include <string.h>
typedef unsigned long long CUdeviceptr;
static int inited, n_expect;
static long long last[128];
static unsigned last_dims[6];
int cuInit(unsigned f) { inited = 1; return 0; }
int cuDriverGetVersion(int *v) { *v = 12000; return 0; }
int cuDeviceGetCount(int *c) { if (!inited) return 3; *c = 1; return 0; }
int cuDeviceGet(int *d, int o) { if (o) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Stub GPU", len); return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) { *v = a == 75 ? 8 : a == 76 ? 6 : 0; return 0; }
int cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1234; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { return 0; }
int cuCtxSetCurrent(void *c) { return c == (void *)0x1234 ? 0 : 201; }
int cuCtxSynchronize(void) { return 0; }
int cuModuleLoadDataEx(void **m, const char *img, unsigned n, int *opt, void **val) {
  if (!strstr(img, ".entry")) {
    for (unsigned i = 0; i < n; i++) if (opt[i] == 5) strcpy((char *)val[i], "ptxas fatal: stub saw no kernels");
    return 218;
  }
  *m = strdup(img); return 0;
}
int cuModuleGetFunction(void **f, void *m, const char *name) {
  if (!strstr((const char *)m, name)) return 500;
  *f = strdup(name); return 0;
}
int cuModuleUnload(void *m) { free(m); return 0; }
int cuMemAlloc_v2(CUdeviceptr *p, size_t n) { void *q = malloc(n); if (!q) return 2; *p = (CUdeviceptr)q; return 0; }
int cuMemFree_v2(CUdeviceptr p) { free((void *)p); return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 1 << 20; *t = 1 << 21; return 0; }
int cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { memcpy((void *)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { memcpy(d, (void *)s, n); return 0; }
int cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { memcpy((void *)d, s, n); return 0; }
int cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) { memcpy(d, (void *)s, n); return 0; }
int cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { memcpy((void *)d, (void *)s, n); return 0; }
int cuStreamCreate(void **s, unsigned f) { *s = (void *)0x5678; return 0; }
int cuStreamDestroy_v2(void *s) { return 0; }
int cuStreamSynchronize(void *s) { return s == (void *)0x5678 ? 0 : 400; }
int cuStreamWaitEvent(void *s, void *e, unsigned f) { return 0; }
int cuEventCreate(void **e, unsigned f) { *e = (void *)0x9abc; return 0; }
int cuEventRecord(void *e, void *s) { return 0; }
int cuEventDestroy_v2(void *e) { return 0; }
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned sh, void *st, void **params, void **extra) {
  if (strcmp((const char *)f, "boom") == 0) return 719;
  for (int i = 0; i < n_expect; i++) last[i] = *(long long *)params[i];
  last_dims[0] = gx; last_dims[1] = gy; last_dims[2] = gz; last_dims[3] = bx; last_dims[4] = by; last_dims[5] = bz;
  return 0;
}
int cuGetErrorName(int e, const char **s) {
  *s = e == 218 ? "CUDA_ERROR_INVALID_PTX" : e == 719 ? "CUDA_ERROR_LAUNCH_FAILED" : e == 500 ? "CUDA_ERROR_NOT_FOUND"
     : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuGetErrorString(int e, const char **s) { *s = "stub error text"; return 0; }
void stub_expect(int n) { n_expect = n; }
long long stub_param(int i) { return last[i]; }
unsigned stub_dim(int i) { return last_dims[i]; }
'''


@pytest.fixture(scope="module")
def stub_driver(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler to build the stub libcuda")
    d = tmp_path_factory.mktemp("stubcuda")
    (d / "stub.c").write_text(STUB_LIBCUDA)
    so = d / "libcuda_stub.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(d / "stub.c")], check=True)
    from theon.runtime.cuda import Driver
    lib = ctypes.CDLL(str(so))
    lib.stub_param.restype = ctypes.c_longlong
    lib.stub_dim.restype = ctypes.c_uint
    drv = Driver(lib)
    drv.call("cuInit", 0)
    return drv, lib


def test_driver_bindings_against_a_stub_libcuda(stub_driver):
    from theon.runtime.cuda import CudaDevice, CudaError
    drv, lib = stub_driver
    dev = CudaDevice(0, drv=drv)
    assert dev.name == "Stub GPU" and dev.compute_capability == (8, 6) and dev.sm == "sm_86"
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    buf = dev.upload(a)
    out = np.empty_like(a)
    dev.download(buf.ptr, out)
    assert np.array_equal(out, a)
    ptr = buf.ptr
    del buf                                  # back to the pool, then reused
    assert dev.alloc(a.nbytes).ptr == ptr
    module = dev.load_ptx(".entry k(\n)")
    fn = ctypes.c_void_p()
    drv.call("cuModuleGetFunction", ctypes.byref(fn), module, b"k")
    lib.stub_expect(3)
    dev.launch(fn, (4, 2, 1), (256, 1, 1), [ptr, -7, (1 << 40) + 3])
    assert [lib.stub_param(i) for i in range(3)] == [ptr, -7, (1 << 40) + 3]
    assert [lib.stub_dim(i) for i in range(6)] == [4, 2, 1, 256, 1, 1]
    with pytest.raises(CudaError, match="CUDA_ERROR_INVALID_PTX") as err:
        dev.load_ptx("// nothing here")
    assert "stub saw no kernels" in str(err.value) and err.value.code == 218
    with pytest.raises(CudaError, match="cuModuleGetFunction failed with CUDA_ERROR_NOT_FOUND"):
        drv.call("cuModuleGetFunction", ctypes.byref(fn), module, b"missing")
    drv.call("cuModuleGetFunction", ctypes.byref(fn), dev.load_ptx(".entry boom("), b"boom")
    with pytest.raises(CudaError, match="cuLaunchKernel failed with CUDA_ERROR_LAUNCH_FAILED"):
        dev.launch(fn, (1, 1, 1), (1, 1, 1), [])
    assert dev.memory_info() == (1 << 20, 1 << 21)
    dev.trim()
