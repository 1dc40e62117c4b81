"""theon's native runtime library: process-wide native functions that
compiled code calls (the persistent thread pool, the buffer cache).

Every function of the library is named ``theon_rt_<what>`` and emitted with
llvmlite by a *part*: a callable ``emit(module)`` registered with
``@part``. A part defines its functions with ``define(module, name, ftype)``
(which returns None when the module already has a body for the name) and
keeps its state in module globals named ``theon_rt.<what>`` (internal).

Compiled code uses the library through ``declare(module, name, ftype)``;
how the call resolves depends on where the code runs:

* **JIT** (``theon.function``): the library is one LLVM module compiled once
  per process (at -O0 when the on-disk cache lacks it, whose quick build
  the tier-up helper stores: ``driver.compile.runtime_library_object``) and
  loaded by ``driver.rtload.ensure_loaded()``, which registers every ``theon_rt_*`` function with
  ``llvm.add_symbol``. Entry objects, compiled now or read back from the
  cache, resolve their declarations against those addresses, so the whole
  process shares one pool and one buffer cache. ``driver.jit.LoadedObject`` calls
  ``ensure_loaded()`` before loading any object.
* **AOT** (``aot-compile``): ``define_into(module)`` emits the bodies of the
  library into the entry's own module with internal linkage, so the object
  a C program links needs nothing from theon.
"""
import llvmlite.ir as lir

PREFIX = "theon_rt_"
_PARTS = []


def part(emit):
    """Register ``emit(module)`` as a part of the library (decorator)."""
    _PARTS.append(emit)
    return emit


def declare(module, name, ftype):
    """The function ``name`` of the library in ``module`` (a declaration
    unless the module defines it)."""
    if not name.startswith(PREFIX):
        raise ValueError(f"runtime library functions are named {PREFIX}*, not {name!r}")
    fn = module.globals.get(name)
    if fn is None:
        fn = lir.Function(module, ftype, name=name)
    elif fn.function_type != ftype:
        raise TypeError(f"{name}: declared as {fn.function_type}, used as {ftype}")
    return fn


def define(module, name, ftype, linkage=""):
    """A function to emit the body of, or None when ``module`` already has
    it (parts may be emitted into a module that defines some of them)."""
    fn = declare(module, name, ftype)
    if fn.blocks:
        return None
    if linkage:
        fn.linkage = linkage
    return fn


def state(module, name, ty, init=None):
    """The module global ``theon_rt.<name>`` (internal), created once."""
    full = f"theon_rt.{name}"
    gv = module.globals.get(full)
    if gv is None:
        gv = lir.GlobalVariable(module, ty, name=full)
        gv.linkage = "internal"
        gv.initializer = init if init is not None else lir.Constant(ty, None)
    return gv


def libc(module, name, ret, params):
    """The declaration of a C library function (or LLVM intrinsic) in ``module``."""
    fn = module.globals.get(name)
    return fn if fn is not None else lir.Function(module, lir.FunctionType(ret, params), name=name)


def internal(module, name, ftype):
    """A module-internal helper of a part: (function, True) to emit, or
    (function, False) when the module already has it."""
    fn = module.globals.get(name)
    if fn is not None:
        return fn, False
    fn = lir.Function(module, ftype, name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    return fn, True


def internal_body(module, name, ftype, arg_names=()):
    """(function, Body to emit it with) for a module-internal helper, or
    (function, None) when the module already has it (``internal``)."""
    fn, new = internal(module, name, ftype)
    return fn, (Body(fn, arg_names) if new else None)


class Body:
    """A function of the library being emitted: a builder at its new entry
    block, its arguments named ``arg_names``, named blocks, mutable locals."""

    def __init__(self, fn, arg_names=()):
        self.fn = fn
        for a, n in zip(fn.args, arg_names):
            a.name = n
        self.b = lir.IRBuilder(fn.append_basic_block("entry"))

    def block(self, name):
        return self.fn.append_basic_block(name)

    def at(self, block):
        self.b.position_at_end(block)

    def var(self, init, name):
        """A mutable local (an alloca SROA turns into a register) set to ``init``."""
        b = self.b
        saved = b.block
        b.position_at_start(self.fn.entry_basic_block)
        slot = b.alloca(init.type, name=name)
        b.position_at_end(saved)
        b.store(init, slot)
        return slot


def _import_parts():
    """The modules whose import registers the parts."""
    from . import alloc, pool  # noqa: F401


def emit_module(module=None):
    """An llvmlite module defining the whole library (``module``: add to it)."""
    _import_parts()
    if module is None:
        module = lir.Module(name="theon_rt")
    for emit in _PARTS:
        emit(module)
    return module


def define_into(module):
    """AOT: give ``module`` the bodies of the library, internal to it."""
    emit_module(module)
    for gv in module.globals.values():
        if isinstance(gv, lir.Function) and gv.name.startswith(PREFIX) and gv.blocks:
            gv.linkage = "internal"
    return module


def library_names(module):
    return [f.name for f in module.functions if f.name.startswith(PREFIX) and f.blocks]
