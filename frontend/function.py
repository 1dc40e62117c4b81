"""``theon.function``: compile a graph into a native callable.

    f = theon.function([x, y], [x + y, x * y], updates=[(w, w + x.sum())])

Steps: check the arguments; clone the graph into an IR Function
(``build.build_function``, givens substituted); refuse unused inputs
(unless told otherwise); run the mode's passes; verify; compile natively;
wrap in a ``runtime.function.Function`` that checks inputs, calls native
code and applies the updates.

Theano's interface on top (``frontend/io.py``, ``frontend/compiled.py``):
``theon.In`` inputs with defaults, names and state, ``theon.Out``, dict
outputs, ``output_subset``, default updates of shared variables,
``f.maker.fgraph``, ``f.copy``, pickling.
"""
import contextlib
import gc
import re
import sys
import threading
import warnings

from ..config import config
from ..ir.builder import make_op
from ..ir.core import Value
from ..runtime import pipeline
from ..runtime.convert import InputSpec, to_dtype
from ..runtime.debug import DebugChecker, add_intermediates
from ..runtime.function import Function, fast_path_signature
from ..runtime.mode import get_mode
from ..runtime.profiling import ProfileStats
from .build import build_function
from .io import _label, as_in, as_out
from .variable import TensorVariable

UNUSED_CHOICES = ("raise", "warn", "ignore")


class UnusedInputError(ValueError):
    """An input no output or update depends on (on_unused_input='raise')."""


def _check_inputs(inputs):
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"theon.function: inputs must be a list of variables (even of one: [x]), "
                        f"got {type(inputs).__name__}")
    for i, v in enumerate(inputs):
        if not isinstance(v, Value):
            raise TypeError(f"theon.function: inputs[{i}] must be a symbolic variable such as "
                            f"T.vector('x'), got {type(v).__name__} {v!r:.60}")
        if getattr(v, "is_shared", False):
            raise TypeError(f"theon.function: inputs[{i}] ({_label(v)}) is a shared variable; shared "
                            "variables are implicit inputs, leave them out of inputs")
        if v.owner is not None:
            raise TypeError(f"theon.function: inputs[{i}] ({_label(v)}) is computed by {v.owner.name}; "
                            "inputs must be free variables like T.matrix('a')")
    return list(inputs)


def _check_outputs(outputs):
    """(list of output variables, whether the call returns one array, the
    sorted keys of dict outputs or None)."""
    if outputs is None:
        return [], False, None
    keys = None
    if isinstance(outputs, dict):
        for k in outputs:
            if not isinstance(k, str):
                raise TypeError(f"theon.function: the keys of dict outputs must be str, got {k!r}")
        keys = sorted(outputs)
        outputs = [outputs[k] for k in keys]
    single = not isinstance(outputs, (list, tuple))
    outs = [as_out(o)[0] for o in ([outputs] if single else list(outputs))]
    for i, v in enumerate(outs):
        if not isinstance(v, Value):
            where = "outputs" if single else f"outputs[{keys[i]!r}]" if keys else f"outputs[{i}]"
            raise TypeError(f"theon.function: {where} must be a symbolic variable, "
                            f"got {type(v).__name__} {v!r:.60}")
    return outs, single, keys


def _pairs(value, what):
    """A list of (key, value) pairs from a dict or a sequence of pairs."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"theon.function: {what} must be a dict or a list of (variable, expression) "
                        f"pairs, got {type(value).__name__}")
    pairs = []
    for i, item in enumerate(value):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"theon.function: {what}[{i}] must be a (variable, expression) pair, got {item!r:.60}")
        pairs.append(tuple(item))
    return pairs


def _as_expression(value, like, what):
    """``value`` if symbolic, else a constant of ``like``'s dtype."""
    if isinstance(value, Value):
        return value
    arr = to_dtype(value, like.type.np_dtype, what)
    return make_op("constant", [], {"value": arr}, value_cls=TensorVariable).result


def _check_updates(updates):
    checked = []
    for shared, expr in updates:
        if not getattr(shared, "is_shared", False):
            raise TypeError(f"theon.function: update target {_label(shared)} is not a shared variable "
                            "(make it with theon.shared)")
        what = f"the update of shared variable {_label(shared)}"
        expr = _as_expression(expr, shared, what)
        if expr.type.dtype != shared.type.dtype or expr.type.ndim != shared.type.ndim:
            raise TypeError(
                f"theon.function: {what} has type {expr.type} ({expr.type.dtype}, {expr.type.ndim}-d) "
                f"but the shared variable is {shared.type} ({shared.type.dtype}, {shared.type.ndim}-d); "
                f"an update must have the shared variable's dtype and ndim (cast it with "
                f".astype('{shared.type.dtype}'))")
        checked.append((shared, expr))
    return checked


def _check_givens(givens):
    out = {}
    for var, rep in givens:
        if not isinstance(var, Value):
            raise TypeError(f"theon.function: givens keys must be symbolic variables, got {var!r:.60}")
        out[var] = _as_expression(rep, var, f"the givens replacement for {_label(var)}")
    return out


def _ir_name(name):
    if name is None:
        return "f"
    if not isinstance(name, str):
        raise TypeError(f"theon.function: name must be a str or None, got {type(name).__name__}")
    ident = re.sub(r"\W", "_", name)
    return ident if ident and not ident[0].isdigit() else "f_" + ident


def _check_unused(func, inputs, policy):
    if policy == "ignore":
        return
    for i, (var, arg) in enumerate(zip(inputs, func.args)):
        if arg.uses:
            continue
        message = (f"theon.function: input {i} ({_label(var)}) is not used by any output or update. "
                   "Pass on_unused_input='warn' to make this a warning, or 'ignore' to allow it.")
        if policy == "raise":
            raise UnusedInputError(message)
        warnings.warn(message, UserWarning, stacklevel=3)


# While compiling: no cyclic garbage collection (a compile allocates some
# 10^5 small objects, graph, IR and llvmlite values, that mostly live until
# it ends and that the collector would traverse again and again, a tenth of
# a cold compile; they are collected once, afterwards), and a short GIL
# switch interval (LLVM compiles on another thread, codegen/cpu/driver/compile.py,
# and needs the GIL back after each of its calls into LLVM: at the default
# 5 ms it would wait longer for the GIL than LLVM works). Nested and
# concurrent compiles share one setting, restored when the last one ends.
COMPILE_SWITCH_INTERVAL = 0.0002
_compiling_lock = threading.Lock()
_compiling_depth = 0
_compiling_saved = None


@contextlib.contextmanager
def _compiling():
    global _compiling_depth, _compiling_saved
    with _compiling_lock:
        if _compiling_depth == 0:
            _compiling_saved = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            sys.setswitchinterval(min(_compiling_saved[1], COMPILE_SWITCH_INTERVAL))
        _compiling_depth += 1
    try:
        yield
    finally:
        with _compiling_lock:
            _compiling_depth -= 1
            if _compiling_depth == 0:
                gc_enabled, interval = _compiling_saved
                sys.setswitchinterval(interval)
                if gc_enabled:
                    gc.enable()


def function(inputs, outputs=None, updates=None, givens=None, allow_input_downcast=None, mode=None,
             profile=None, name=None, on_unused_input=None, no_default_updates=False,
             accept_inplace=False, rebuild_strict=True, trust_input=False):
    """Compile ``outputs`` (and ``updates``) as a function of ``inputs``.

    inputs:  a list of variables, ``theon.In`` objects or Theano's tuple
             shortcuts (``(x, default)``, ``((s, update), initial)``)
    outputs: a variable, a list, a dict of str -> variable (the call
             returns a dict), ``theon.Out`` objects, or None (returns [])
    no_default_updates: True, or a list of shared variables whose
             ``default_update`` is not applied
    accept_inplace, rebuild_strict: accepted (theon's user graphs hold no
             in-place ops; givens must keep the type)
    Returns a callable compiled function (see ``frontend/compiled.py``).
    """
    with _compiling():
        return _function(inputs, outputs, updates, givens, allow_input_downcast, mode, profile, name,
                         on_unused_input, no_default_updates, trust_input)


def _default_updates(roots, update_pairs, givens, no_default_updates):
    """Pairs (shared, shared.default_update) for the shared variables the
    graph reads that have a default update and no explicit one."""
    if no_default_updates is True:
        return []
    skip = set(no_default_updates or ())
    explicit = {s for s, _ in update_pairs}
    added, seen, stack = [], set(), list(roots)
    while stack:
        v = stack.pop()
        v = givens.get(v, v)
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is not None:
            stack.extend(v.owner.operands)
            continue
        default = getattr(v, "default_update", None) if getattr(v, "is_shared", False) else None
        if default is not None and v not in explicit and v not in skip:
            explicit.add(v)
            added.append((v, default))
            stack.append(default)
    return added


def _function(inputs, outputs, updates, givens, allow_input_downcast, mode, profile, name, on_unused_input,
              no_default_updates=False, trust_input=False):
    if on_unused_input is None:
        on_unused_input = config.on_unused_input
    if on_unused_input not in UNUSED_CHOICES:
        raise ValueError(f"theon.function: on_unused_input must be one of {UNUSED_CHOICES}, "
                         f"got {on_unused_input!r}")
    if allow_input_downcast not in (None, True, False):
        raise TypeError(f"theon.function: allow_input_downcast must be None, True or False, "
                        f"got {allow_input_downcast!r}")
    if not isinstance(inputs, (list, tuple)):
        _check_inputs(inputs)
    ins = [as_in(item, i) for i, item in enumerate(inputs)]
    input_vars = _check_inputs([i.variable for i in ins])
    outputs, single, output_keys = _check_outputs(outputs)
    update_pairs = _check_updates(_pairs(updates, "updates"))
    given = _check_givens(_pairs(givens, "givens"))
    state = [(k, i) for k, i in enumerate(ins) if i.update is not None]
    state_outputs = [_check_updates([(_StateTarget(i.variable), i.update)])[0][1] for _, i in state]
    compiled_outputs = outputs + state_outputs
    update_pairs += _check_updates(_default_updates(compiled_outputs + [u for _, u in update_pairs],
                                                    update_pairs, given, no_default_updates))
    mode = get_mode(mode)
    ir_name = _ir_name(name)
    if not mode.on_gpu():
        pipeline.prefetch_native()

    def build():
        return build_function(input_vars, compiled_outputs, update_pairs, given, name=ir_name)

    func, shared = build()
    _check_unused(func, input_vars, on_unused_input)
    from .compiled import Signature, assemble
    sig = Signature(name=name, ins=ins, n_outputs=len(outputs), single=single, output_keys=output_keys,
                    allow_input_downcast=allow_input_downcast, trust_input=trust_input)
    recipe = dict(inputs=list(inputs), outputs=outputs, updates=update_pairs, givens=given,
                  allow_input_downcast=allow_input_downcast, name=name, on_unused_input=on_unused_input,
                  profile=profile)
    return assemble(sig, func, lambda: build()[0], input_vars, compiled_outputs, update_pairs, shared,
                    mode, profile, recipe=recipe)


class _StateTarget:
    """Stands for a stateful input in the update type check."""
    is_shared = True

    def __init__(self, var):
        self.type = var.type
        self.name = var.name


def compile_ir(func, make_input_ir, input_vars, specs, outputs, single, update_pairs, shared, mode,
               profile, name, cls_cpu, cls_gpu, extra):
    """Optimize, verify and compile the input IR ``func``; construct the
    compiled function object (``cls_cpu`` or ``cls_gpu`` with ``extra``
    keyword arguments)."""
    ir_name = func.name
    target = "gpu" if mode.on_gpu() else "cpu"
    func = pipeline.legalize(pipeline.optimize(func, pipeline.for_target(mode.pipeline, target)), target)
    pipeline.verify(func)
    do_profile = bool(mode.profile if profile is None else profile)
    if mode.on_gpu():
        return cls_gpu(
            name=name, inputs=input_vars, outputs=outputs, single_output=single, updates=update_pairs,
            shared=shared, specs=specs, ir=func, mode=mode, input_ir=make_input_ir,
            profile=ProfileStats(name or ir_name, func) if do_profile else None, **extra)
    debug = None
    # a checking mode (NanGuardMode's make_checker, DEBUG's DebugChecker) sees every intermediate
    checker = getattr(mode, "make_checker", None) or (DebugChecker if mode.debug else None)
    if checker is not None:
        checked = add_intermediates(func)
        pipeline.verify(func)
        debug = checker(func, checked, len(outputs), make_input_ir)
    if not do_profile and debug is None:       # the fast path's wrapper compiles while the graph is lowered
        pipeline.prefetch_wrapper(fast_path_signature(func, specs, shared, [s for s, _ in update_pairs],
                                                      len(outputs), single))
    native = pipeline.compile_native(func, profile=do_profile, opt_level=mode.opt_level)
    return cls_cpu(
        name=name, inputs=input_vars, outputs=outputs, single_output=single, updates=update_pairs,
        shared=shared, specs=specs, ir=func, native=native, mode=mode, input_ir=make_input_ir,
        profile=ProfileStats(name or ir_name, func) if do_profile else None, debug=debug, **extra)


def make_specs(ins, input_vars, allow_input_downcast):
    specs = [InputSpec(i, v, allow_input_downcast, config.floatX) for i, v in enumerate(input_vars)]
    for spec, i in zip(specs, ins):
        spec.name = i.name
        if i.name:
            spec.label = repr(i.name)
            spec.what = f"input {spec.label} (argument {spec.position})"
    return specs
