"""From a freshly built IR Function to native code, stage by stage.

    optimize   run the mode's pass pipeline (FAST_RUN, FAST_COMPILE, ...)
    verify     the IR verifier, after the passes
    compile    the backend: theon.codegen.cpu.compile_function
               (``prefetch_native`` first starts what it needs in the background)

The pass lists below are the only place that says which passes a mode
runs. A named pass the pass registry does not (yet) have is skipped.
"""
import importlib

PIPELINES = {
    # the scan passes after the first cse: equal n_steps and invariants are one value
    "fast_run": ("canonicalize", "cse", "scan-hoist", "scan-batch", "scan-merge", "region-reuse", "scan-prune",
                 "scan-ring", "simplify-shapes", "stabilize", "legalize-f16", "canonicalize", "cse", "conv-epilogue",
                 "conv-pool", "gemm-epilogue", "fuse-elementwise", "dce"),
    # FAST_COMPILE keeps one loop per op, except in very large bodies: there
    # fusion's outlined loops keep lowering and LLVM linear in the op count
    "fast_compile": ("constant-fold", "cse", "legalize-f16", "fuse-elementwise{min-ops=256}", "dce"),
    "none": (),
}


def _module(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:   # the module exists but one of its imports is missing
            raise
        return None


def pass_registry():
    """{pass name: pass class}: ``theon.passes.PASSES``, or {} if absent."""
    passes = _module("theon.passes")
    registry = getattr(passes, "PASSES", None)
    return registry if isinstance(registry, dict) else {}


def available(names):
    """The names of ``names`` the pass registry has, in order."""
    registry = pass_registry()
    return tuple(n for n in names if n.split("{", 1)[0].strip() in registry)


def resolve_pipeline(spec):
    """The pass names of a pipeline spec: a PIPELINES key, pass names
    separated by commas, or a list of names."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        key = spec.lower()
        if key in PIPELINES:
            return PIPELINES[key]
        return tuple(s.strip() for s in spec.split(",") if s.strip())
    if isinstance(spec, (list, tuple)):
        for s in spec:
            if not isinstance(s, str):
                raise TypeError(f"pass pipeline entries must be pass names (str), got {s!r}")
        return tuple(spec)
    raise TypeError(f"optimizer must be one of {sorted(PIPELINES)}, a 'pass1,pass2' string or a "
                    f"list of pass names, got {spec!r}")


def optimize(func, names):
    """Run the passes ``names`` (those registered) on ``func``; returns the
    optimized Function (the passes may change ``func`` in place)."""
    names = available(names)
    if not names:
        return func
    from .cache import optimize_cached
    return optimize_cached(func, names, _run_passes)


def _run_passes(func, names):
    from ..passes import run_pipeline
    result = run_pipeline(func, ",".join(names))
    return func if result is None else result


def for_target(names, target):
    """The pipeline ``names`` for a backend (``cpu`` or ``gpu``): a plain
    ``legalize-f16`` entry gets the target (the GPU keeps float16 matrix
    products for its tensor cores), and so do ``gemm-epilogue`` and
    ``conv-pool`` (CPU epilogues)."""
    if target == "cpu":
        return tuple(names)
    return tuple(f"{n.strip()}{{target={target}}}" if n.strip() in ("legalize-f16", "gemm-epilogue", "conv-pool") else n
                 for n in names)


def needs_gpu_ir(func):
    """Whether a CPU-optimized ``func`` must be optimized again from its input
    IR for the GPU: it computes with float16 (the CPU's legalize-f16 made its
    float16 products float32 ones; the GPU keeps them for its tensor cores), or
    a CPU pass made an op the GPU plan has no kernel for (gemm-epilogue's)."""
    from ..codegen.ptx.plan import LOWERINGS
    from ..codegen.ptx.unsupported_step import NotOnGpuStep
    return any(v.dtype == "float16" or LOWERINGS.get(op.name) is NotOnGpuStep
               for op in func.walk() for v in op.results)


def legalize(func, target):
    """``func`` with no float16 arithmetic left for ``target``'s backend
    (in place; nothing changes when the pipeline ran ``legalize-f16``)."""
    from ..passes.legalize_f16 import legalize as run
    run(func, target)
    return func


def verify(func):
    verifier = _module("theon.ir.verifier")
    if verifier is not None:
        verifier.verify_function(func)


def prefetch_native():
    """Start what every native compile of this process needs (the runtime
    library) in the background, before the graph is built. The fast path's
    C-API symbols are bound first: LLVM calls made here while the LLVM
    thread compiles would wait for it."""
    from .native import cpu_compiler, fast_support
    fast_support()
    cpu_compiler().prefetch_runtime_library()


def prefetch_wrapper(sig):
    """Start compiling the call wrapper of signature ``sig`` in the
    background (None: no fast path)."""
    if sig is not None:
        from .native import cpu_compiler
        cpu_compiler().prefetch_wrapper(sig)


def compile_native(func, profile=False, opt_level=3):
    from .native import cpu_compiler
    return cpu_compiler().compile_function(func, profile=profile, opt_level=opt_level)
