"""theon: an ahead-of-time tensor compiler for Python, in the tradition of Theano.

    import theon, theon.tensor as T
    x = T.vector('x'); f = theon.function([x], (x * 2).sum())

Theano programs run with ``import theon as theano``. The main names:

    function(inputs, outputs, updates=..., givens=..., mode=...)
                    compile a graph into a callable running native code
    shared(value, name=None)
                    a variable whose value persists between calls (updates)
    grad(cost, wrt) the symbolic gradient of a scalar cost (reverse mode)
    scan(fn, sequences=..., outputs_info=..., n_steps=...)
                    a loop over steps, compiled into the function (also map,
                    reduce, foldl, foldr)
    Mode(optimizer=..., device=...)
                    which passes run (FAST_RUN, FAST_COMPILE, ...) and where
    config          settings (floatX, device, mode, cache_dir), from THEON_FLAGS

Modules: ``theon.tensor`` (the DSL, ``T``), ``theon.tensor.nnet``,
``theon.printing`` (debugprint, pp, dump), ``theon.gradient``,
``theon.ifelse``. The command-line tools are ``theon-opt`` (run IR passes)
and ``aot-compile`` (object files and C headers). README.md, installed with
the package, walks through them.

Submodules are imported lazily so ``import theon`` stays fast.
"""
import importlib

from .config import config  # noqa: F401

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "function": ("theon.frontend.function", "function"),
    "shared": ("theon.frontend.shared", "shared"),
    "SharedVariable": ("theon.frontend.shared", "SharedVariable"),
    "Mode": ("theon.runtime.mode", "Mode"),
    "In": ("theon.frontend.io", "In"),
    "Out": ("theon.frontend.io", "Out"),
    "compile": ("theon.compile", None),
    "pp": ("theon.printing", "pp"),
    "grad": ("theon.gradient", "grad"),
    "scan": ("theon.frontend.scan", "scan"),
    "map": ("theon.frontend.scan", "map"),
    "reduce": ("theon.frontend.scan", "reduce"),
    "foldl": ("theon.frontend.scan", "foldl"),
    "foldr": ("theon.frontend.scan", "foldr"),
    "scan_checkpoints": ("theon.frontend.scan", "scan_checkpoints"),
    "scan_module": ("theon.scan_module", None),
    "ifelse": ("theon.ifelse", None),
    "Rop": ("theon.gradient", "Rop"),
    "Lop": ("theon.gradient", "Lop"),
    "clone": ("theon.graph.basic", "clone"),
    "Variable": ("theon.graph.basic", "Variable"),
    "Constant": ("theon.graph.basic", "Constant"),
    "Apply": ("theon.graph.basic", "Apply"),
    "graph": ("theon.graph", None),
    "gof": ("theon.gof", None),
    "scalar": ("theon.scalar", None),
    "tensor": ("theon.tensor", None),
    "printing": ("theon.printing", None),
    "gradient": ("theon.gradient", None),
    "ir": ("theon.ir", None),
    "passes": ("theon.passes", None),
    "codegen": ("theon.codegen", None),
    "runtime": ("theon.runtime", None),
    "gpuarray": ("theon.gpuarray", None),               # device arrays (runtime/gpuarray.py)
    "cuda": ("theon.runtime.cuda", None),               # the CUDA driver, release_memory()
    "frontend": ("theon.frontend", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'theon' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
