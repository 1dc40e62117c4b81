"""Compilation modes: which passes run, where code runs, what is checked.

    theon.function(..., mode='FAST_RUN')        all passes, native code (default)
    theon.function(..., mode='FAST_COMPILE')    fewer passes, faster LLVM -O1
    theon.function(..., mode='DEBUG')           FAST_RUN, then every op's native
                                                result is checked against its
                                                NumPy reference on every call
    theon.function(..., mode=theon.Mode(optimizer='fast_run', profile=True))
    theon.function(..., mode=NanGuardMode(nan_is_error=True))   (theon.compile.nanguardmode)

As in Theano, ``mode.including(...)``, ``excluding(...)`` and
``requiring(...)`` select passes by tag: a pass's tags are its name (with
``-`` or ``_``), the pipelines it belongs to (``fast_run``,
``fast_compile``) and the names of the Theano optimizations it stands for
(``fusion``, ``merge``, ``constant_folding``, ...); unknown tags select
nothing, as in Theano. With ``mode=None``, ``theon.config.mode`` is used and
``config.optimizer_including/excluding/requiring`` (``:``-separated tags)
are applied to it.
"""
from ..config import config
from .pipeline import PIPELINES, resolve_pipeline

DEVICES = ("cpu", "cuda")

# Theano optimizer names (config.optimizer / Mode(optimizer=...)) -> theon pipelines
OPTIMIZER_ALIASES = {
    "o1": "fast_compile", "o2": "fast_run", "o3": "fast_run", "o4": "fast_run", "unsafe": "fast_run",
    "merge": ("cse",), "stabilize": ("canonicalize", "stabilize"),
}
# Theano's linker names: accepted (theon has one linker, native code)
LINKERS = ("cvm", "vm", "c", "py", "c|py", "c|py_nogc", "cvm_nogc", "vm_nogc", "c&py", "numba", "jax")
# pass name -> the Theano optimization tags it stands for
PASS_TAGS = {
    "fuse-elementwise": ("fusion", "local_elemwise_fusion", "elemwise_fusion",
                         "composite_elemwise_fusion", "FusionOptimizer"),
    "cse": ("merge", "merge1", "merge2", "MergeOptimizer"),
    "constant-fold": ("constant_folding", "topo_constant_folding"),
    "simplify-shapes": ("ShapeOpt", "shape", "local_shape_to_shape_i"),
    "canonicalize": ("canonicalize", "algebraic"),
    "stabilize": ("stabilize", "specialize", "uncanonicalize"),
    "dce": ("dce", "remove_unused"),
    "scan-hoist": ("scan", "scanOp_pushout_nonseqs_ops", "scan_pushout_nonseqs_ops"),
    "scan-batch": ("scan", "scanOp_pushout_seqs_ops", "scan_pushout_dot1"),
    "scan-merge": ("scan", "scanOp_merge", "scan_merge"),
    "scan-ring": ("scan", "scanOp_save_mem", "scan_save_mem"),
    "conv-epilogue": ("conv_fusion", "local_conv_bias_activation"),
    "conv-pool": ("conv_fusion", "conv_pool_fusion", "local_conv_pool"),
    # Theano's GemmOptimizer rewrote z - a*dot(x, y) into gemm(z, -a, x, y, 1): theon's SGD-update epilogue
    "gemm-epilogue": ("gemm_optimizer", "BlasOpt", "inplace_gemm"),
}


def _base(entry):
    """The pass name of a pipeline entry (``fuse-elementwise{min-ops=256}``
    -> ``fuse-elementwise``)."""
    return entry.split("{", 1)[0].strip()


def pass_tags(name):
    """The tags of pass ``name``, a pipeline entry with or without options
    (see the module docstring)."""
    name = _base(name)
    tags = {name, name.replace("-", "_")}
    tags.update(PASS_TAGS.get(name, ()))
    for pipeline, names in PIPELINES.items():
        if name in {_base(n) for n in names}:
            tags.add(pipeline)
    return tags


def _optimizer_passes(optimizer):
    if optimizer == "default":
        optimizer = config.optimizer
    if optimizer in (None, "None"):
        return None, ()
    if isinstance(optimizer, str):
        alias = OPTIMIZER_ALIASES.get(optimizer.lower())
        if alias is not None:
            return optimizer, resolve_pipeline(alias)
    return optimizer, resolve_pipeline(optimizer)


class Mode:
    """How to compile and run a function.

    optimizer: 'fast_run', 'fast_compile', 'None' or None (no passes),
               'default' (theon.config.optimizer), Theano's 'merge', 'o1'..'o4',
               a pass pipeline 'cse,dce', or a list of pass names
    passes:    same as optimizer (wins when both are given)
    device:    'cpu', 'cuda' or 'cuda:N' (GPU N); None means theon.config.device at compile time
    device_outputs: a GPU function returns its outputs as ``theon.gpuarray.GpuArray``
               (left on the device, no copy, no wait) instead of NumPy arrays
    profile:   collect per-op times (``f.profile.summary()``)
    debug:     check every op against its NumPy reference on each call
    opt_level: LLVM optimization level 0..3
    linker:    accepted for Theano compatibility ('cvm', 'c|py', ...): theon
               has one linker, native code
    """

    def __init__(self, optimizer="default", device=None, profile=False, debug=False,
                 opt_level=3, passes=None, linker=None, device_outputs=False):
        if device is not None and device not in DEVICES and not is_gpu_device(device):
            raise ValueError(f"Mode: device must be one of {DEVICES}, 'cuda:N' or None, got {device!r}")
        if not isinstance(opt_level, int) or isinstance(opt_level, bool) or not 0 <= opt_level <= 3:
            raise ValueError(f"Mode: opt_level must be an int in 0..3, got {opt_level!r}")
        if isinstance(optimizer, str) and optimizer in LINKERS and linker is None:
            optimizer, linker = "default", optimizer       # Theano's Mode(linker, optimizer) order
        if isinstance(device, str) and device in LINKERS:
            raise ValueError(f"Mode: {device!r} is a linker name; pass it as linker=")
        self.optimizer, self.pipeline = _optimizer_passes(optimizer if passes is None else passes)
        self.device = device
        self.profile = bool(profile)
        self.debug = bool(debug)
        self.opt_level = opt_level
        self.linker = linker
        self.device_outputs = bool(device_outputs)

    def _fields(self):
        return dict(optimizer=list(self.pipeline), device=self.device, profile=self.profile,
                    debug=self.debug, opt_level=self.opt_level, linker=self.linker,
                    device_outputs=self.device_outputs)

    def _replace(self, **changes):
        fields = self._fields()
        fields.update(changes)
        return type(self)(**fields)

    def clone(self, link_kwargs=None, optimizer="", **kwargs):
        """A copy (Theano's Mode.clone); ``optimizer`` replaces the optimizer."""
        changes = dict(kwargs)
        if optimizer != "":
            changes["optimizer"] = optimizer
        return self._replace(**changes)

    def including(self, *tags):
        """A copy that also runs the passes tagged ``tags`` (a pass name, a
        Theano optimization name, or 'fast_run'/'fast_compile')."""
        names = list(self.pipeline)
        for tag in tags:
            for p in _passes_tagged(tag):
                if _base(p) not in {_base(n) for n in names}:     # already there, maybe with options
                    names.append(p)
        if "dce" in names:                  # dead code goes last
            names = [n for n in names if n != "dce"] + ["dce"]
        return self._replace(optimizer=names)

    def excluding(self, *tags):
        """A copy without the passes that carry any of ``tags``."""
        return self._replace(optimizer=[n for n in self.pipeline if not pass_tags(n) & set(tags)])

    def requiring(self, *tags):
        """A copy running only the passes that carry all of ``tags``."""
        return self._replace(optimizer=[n for n in self.pipeline if set(tags) <= pass_tags(n)])

    def resolved_device(self):
        return self.device or config.device

    def on_gpu(self):
        """True when functions compiled in this mode run on a GPU ('cuda', 'cuda:N')."""
        return is_gpu_device(self.resolved_device())

    def __repr__(self):
        return (f"{type(self).__name__}(optimizer={','.join(self.pipeline)!r}, device={self.device!r}, "
                f"profile={self.profile}, debug={self.debug}, opt_level={self.opt_level})")


def is_gpu_device(name):
    """'cuda' or 'cuda:N'."""
    return isinstance(name, str) and (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()))


def _passes_tagged(tag):
    """Every known pass carrying ``tag``, in FAST_RUN order."""
    from .pipeline import pass_registry
    known = {}
    for entry in list(PIPELINES["fast_run"]) + list(PIPELINES["fast_compile"]) + sorted(pass_registry()):
        known.setdefault(_base(entry), entry)           # the first spelling of each pass
    return [p for p in known.values() if tag in pass_tags(p)]


def _nanguard():
    from ..compile.nanguardmode import NanGuardMode
    return NanGuardMode()


PREDEFINED = {
    "FAST_RUN": lambda: Mode("fast_run"),
    "FAST_COMPILE": lambda: Mode("fast_compile", opt_level=1),
    "DEBUG": lambda: Mode("fast_run", debug=True),
    "DebugMode": lambda: Mode("fast_run", debug=True),
    "DEBUG_MODE": lambda: Mode("fast_run", debug=True),
    "Mode": lambda: Mode("default"),
    "NanGuardMode": _nanguard,
}


def get_mode(mode):
    """The Mode for ``mode``: None (theon.config.mode, with
    config.optimizer_including/excluding/requiring), a name, or a Mode."""
    default = mode is None
    if default:
        mode = config.mode
        if mode == "FAST_RUN":              # the default mode follows config.optimizer
            mode = "Mode"
    if isinstance(mode, Mode):
        result = mode
    elif isinstance(mode, str) and mode in PREDEFINED:
        result = PREDEFINED[mode]()
    else:
        raise ValueError(f"mode must be one of {sorted(PREDEFINED)}, a theon.Mode, or None, got {mode!r}")
    if default:
        for option, method in (("optimizer_excluding", "excluding"), ("optimizer_including", "including"),
                               ("optimizer_requiring", "requiring")):
            tags = [t for t in getattr(config, option).split(":") if t]
            if tags:
                result = getattr(result, method)(*tags)
    return result


def get_default_mode():
    """The mode ``theon.function`` uses when given none (Theano's
    ``theano.compile.mode.get_default_mode()``)."""
    return get_mode(None)
