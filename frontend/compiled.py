"""The object ``theon.function`` returns, with Theano's interface.

``CompiledFunction`` (CPU) and ``CompiledGpuFunction`` are the runtime's
function classes (``runtime/function.py``, ``runtime/gpu_function.py``)
plus what Theano programs use:

    f(1.0, y=2.0)              inputs by position or by In/variable name;
                               In(value=...) defaults; In(update=...) state
    f(..., output_subset=[0])  only some outputs (a list, or a dict for dict outputs)
    f['s'], f['s'] = 3.0       an input's default / state value (also f.value[...],
                               f.container[...].value; keys: name, variable, position)
    f.maker.fgraph             the compiled graph: inputs, outputs, toposort(), ...
    f.copy(share_memory=False, swap={old_shared: new_shared}, delete_updates=False)
    f.trust_input              accepted (theon always checks its inputs)
    pickle.dumps(f)            the IR before the passes, the shared variables and
                               the options; loading recompiles (the compile cache
                               makes that fast); shared variables pickled together
                               stay one variable; a process loading the same
                               function again reuses its compiled code (``_LOAD_MEMO``)
    copy.deepcopy(f)           a copy with copied shared variables

A plain function (no In options, no dict outputs) keeps the runtime's
native fast path unchanged.
"""
import copy as _copy
import hashlib
import threading

import numpy as np

from ..runtime.function import Function
from .io import In, Out


class Signature:
    """What the caller sees: the In objects, the user's outputs and options."""

    def __init__(self, name, ins, n_outputs, single, output_keys, allow_input_downcast, trust_input):
        self.name = name
        self.ins = list(ins)
        self.n_outputs = n_outputs
        self.single = single
        self.output_keys = output_keys
        self.allow_input_downcast = allow_input_downcast
        self.trust_input = trust_input


class Container:
    """The stored value of one input with a default (or state)."""

    __slots__ = ("value", "name")

    def __init__(self, value, name=None):
        self.value = value
        self.name = name

    def __repr__(self):
        return f"<Container {self.name or ''}: {self.value!r}>"


class FunctionGraph:
    """Theano's view of a compiled graph: the optimized IR function.

    ``inputs`` are the function's arguments (the inputs, then the shared
    variables), ``outputs`` the return values (outputs, then update values),
    ``toposort()`` the ops in execution order, each with ``.op``,
    ``.inputs`` and ``.outputs``."""

    def __init__(self, func):
        self.func = func

    @property
    def inputs(self):
        return list(self.func.args)

    @property
    def outputs(self):
        return list(self.func.return_op.operands)

    def toposort(self):
        return [op for op in self.func.body.ops if op.name != "return"]

    @property
    def apply_nodes(self):
        return set(self.toposort())

    @property
    def variables(self):
        found = set(self.func.args)
        for op in self.toposort():
            found.update(op.results)
        return found

    def clients(self, var):
        """[(op, operand index)] for each use of ``var`` (the return op is 'output')."""
        return [("output" if op.name == "return" else op, i) for op, i in var.uses]

    def __str__(self):
        from ..ir.printer import print_function
        return print_function(self.func)

    def __repr__(self):
        return f"<FunctionGraph @{self.func.name}: {len(self.toposort())} ops>"


class FunctionMaker:
    """``f.maker``: how ``f`` was made (``fgraph``, ``inputs``, ``outputs``, ``mode``)."""

    def __init__(self, fn):
        self.fgraph = FunctionGraph(fn.ir)
        self.inputs = list(fn._sig.ins)
        self.outputs = [Out(v) for v in fn.outputs[:fn._sig.n_outputs]]
        self.mode = fn.mode
        self.profile = fn.profile
        self.accept_inplace = False
        self.on_unused_input = (fn._recipe or {}).get("on_unused_input", "raise")


class _Mapping:
    """``f.value`` / ``f.container``: dict-like access by name, variable or position."""

    def __init__(self, fn, containers):
        self._fn = fn
        self._containers = containers

    def __getitem__(self, key):
        c = self._fn._container(key)
        return c if self._containers else c.value

    def __setitem__(self, key, value):
        if self._containers:
            raise TypeError("f.container is read-only; set f.value[key] or f[key]")
        self._fn[key] = value

    def __contains__(self, key):
        try:
            self._fn._position(key)
        except KeyError:
            return False
        return True

    def keys(self):
        return [i.name if i.name else i.variable for i in self._fn._sig.ins]


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


class _TheanoAPI:
    """The Theano interface shared by the CPU and GPU function classes."""

    def _setup_api(self, sig, containers, recipe, ctor_kw):
        self._sig = sig
        self._containers = containers           # per input: Container or None
        self._recipe = recipe                   # how theon.function was called (None after loading)
        self._ctor_kw = ctor_kw
        self.trust_input = sig.trust_input
        ins = sig.ins
        self._state = [(k, containers[k]) for k, i in enumerate(ins) if i.update is not None]
        names, dup = {}, set()
        for k, i in enumerate(ins):
            if i.name:
                if i.name in names:
                    dup.add(i.name)
                names[i.name] = k
        self._names = {n: k for n, k in names.items() if n not in dup}
        self._ambiguous = dup
        self._simple = (not self._state and sig.output_keys is None
                        and all(c is None for c in containers) and not any(i.implicit for i in ins))

    @property
    def maker(self):
        return FunctionMaker(self)

    @property
    def value(self):
        return _Mapping(self, containers=False)

    @property
    def container(self):
        return _Mapping(self, containers=True)

    # --- argument binding --------------------------------------------------------------
    def _bind(self, args, kwargs):
        ins, containers = self._sig.ins, self._containers
        n = len(ins)
        if len(args) > n:
            raise TypeError(f"{self._label}() takes at most {n} input(s) but {len(args)} were given")
        bound = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            pos = self._names.get(key)
            if pos is None:
                if key in self._ambiguous:
                    raise TypeError(f"{self._label}(): several inputs are named {key!r}; "
                                    "pass it by position")
                unnamed = sum(1 for i in ins if not i.name)
                raise TypeError(
                    f"{self._label}(): unknown input or state {key!r}. The function has "
                    f"{len(self._names)} named input(s) ({', '.join(sorted(self._names)) or 'none'})"
                    + (f" and {unnamed} unnamed input(s), which cannot be given by keyword "
                       "(give them a name, e.g. T.scalar('x') or In(x, name='x'))" if unnamed else ""))
            if bound[pos] is not _MISSING:
                raise TypeError(f"{self._label}() got multiple values for input {key!r}")
            bound[pos] = value
        missing = []
        for k, i in enumerate(ins):
            if bound[k] is _MISSING:
                if containers[k] is None:
                    missing.append(self._specs[k].what)
                else:
                    bound[k] = containers[k].value
            elif i.implicit:
                raise TypeError(f"{self._label}(): {self._specs[k].what} is implicit "
                                "(In(..., implicit=True)) and cannot be given")
        if missing:
            raise TypeError(f"{self._label}() is missing required input(s): {', '.join(missing)}")
        return bound

    def _shape(self, results, output_subset):
        """The user's view of the compiled outputs (all outputs, as a list)."""
        sig = self._sig
        n = sig.n_outputs
        for (k, c), v in zip(self._state, results[n:]):
            c.value = v
        outs = results[:n]
        if output_subset is not None:
            if not isinstance(output_subset, (list, tuple)):
                raise TypeError(f"output_subset must be a list of output indices, got {output_subset!r}")
            for i in output_subset:
                if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not 0 <= i < n:
                    raise ValueError(f"output_subset: {i!r} is not an output index in 0..{n - 1}")
        if sig.output_keys is not None:
            keys = sig.output_keys
            pick = range(n) if output_subset is None else output_subset
            return {keys[i]: outs[i] for i in pick}
        if output_subset is not None:
            return [outs[i] for i in output_subset]
        if sig.single:
            return outs[0]
        return outs

    def _invoke(self, raw, args, kwargs, output_subset):
        bound = self._bind(args, kwargs)
        results = raw(*bound)
        if self._single:
            results = [results]
        return self._shape(results, output_subset)

    # --- stored values ------------------------------------------------------------------
    def _position(self, key):
        ins = self._sig.ins
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= key < len(ins):
                raise KeyError(key)
            return int(key)
        if isinstance(key, str):
            if key in self._names:
                return self._names[key]
            raise KeyError(key)
        for k, i in enumerate(ins):
            if i.variable is key:
                return k
        raise KeyError(key)

    def _container(self, key):
        k = self._position(key)
        c = self._containers[k]
        if c is None:
            raise KeyError(f"input {key!r} has no stored value (give it one with In(..., value=...))")
        return c

    def __getitem__(self, key):
        return self._container(key).value

    def __setitem__(self, key, value):
        c = self._container(key)
        c.value = _owned(self._specs[self._position(key)].convert(value))

    def __contains__(self, key):
        try:
            self._position(key)
        except KeyError:
            return False
        return True

    def get_shared(self):
        """The shared variables the function reads (Theano's ``Function.get_shared``)."""
        return list(self.shared)

    def free(self):
        """Theano frees intermediate storage here; theon keeps none between calls."""

    def sync_shared(self):
        """Theano synchronizes GPU shared storage here; theon's updates are already applied."""

    # --- copies -------------------------------------------------------------------------
    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None, profile=None):
        """A new function running the same code.

        share_memory: True: the same shared variables and stored input
                      values; False: copies of them (updates of one function
                      do not change the other's state)
        swap:         {shared variable: another of the same type} to use instead
        delete_updates: drop the updates (recompiles)
        """
        if delete_updates or profile is not None:
            return self._recompiled(share_memory, swap, delete_updates, name, profile)
        swap = self._check_swap(swap)
        mapping = {}
        for s in self.shared:
            if s in swap:
                mapping[s] = swap[s]
            else:
                mapping[s] = s if share_memory else clone_shared(s)
        containers = (list(self._containers) if share_memory
                      else [None if c is None else Container(c.value.copy(), c.name) for c in self._containers])
        return self._rebuild(mapping, containers, name)

    def _check_swap(self, swap):
        swap = dict(swap or {})
        for old, new in swap.items():
            if old not in self.shared:
                raise ValueError(f"copy: swap key {old!r} is not a shared variable of this function")
            if not getattr(new, "is_shared", False):
                raise TypeError(f"copy: swap value for {old!r} must be a shared variable, got {new!r}")
            if new.type.dtype != old.type.dtype or new.type.ndim != old.type.ndim:
                raise TypeError(f"copy: swap value {new!r} has type {new.type}, but {old!r} has "
                                f"{old.type}: dtype and ndim must match")
        return swap

    def _rebuild(self, mapping, containers, name=None):
        kw = dict(self._ctor_kw)
        kw["shared"] = [mapping.get(s, s) for s in self.shared]
        kw["updates"] = [(mapping.get(s, s), e) for s, e in self.updates]
        if name is not None:
            kw["name"] = name
        new = type(self).__new__(type(self))
        type(self).__init__(new, api=(self._sig, containers, self._recipe), **kw)
        return new

    def _recompiled(self, share_memory, swap, delete_updates, name, profile):
        if self._recipe is None:
            raise NotImplementedError("copy(delete_updates=True or profile=...) of a function loaded "
                                      "from a pickle is not supported")
        from .function import function
        r = dict(self._recipe)
        swap = self._check_swap(swap)
        if not share_memory:
            for s in self.shared:
                swap.setdefault(s, clone_shared(s))
        givens = dict(r["givens"])
        givens.update(swap)
        updates = [] if delete_updates else [(swap.get(s, s), e) for s, e in r["updates"]]
        return function(r["inputs"], self._user_outputs_spec(), updates=updates, givens=givens,
                        allow_input_downcast=r["allow_input_downcast"], mode=self.mode,
                        profile=profile if profile is not None else r["profile"],
                        name=name if name is not None else r["name"],
                        on_unused_input="ignore", no_default_updates=True,
                        trust_input=self.trust_input)

    def _user_outputs_spec(self):
        outs = self._recipe["outputs"]
        if self._sig.output_keys is not None:
            return dict(zip(self._sig.output_keys, outs))
        if self._sig.single:
            return outs[0]
        return list(outs)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        mapping = {s: _copy.deepcopy(s, memo) for s in self.shared}
        containers = [None if c is None else Container(c.value.copy(), c.name) for c in self._containers]
        return self._rebuild(mapping, containers)

    # --- pickling -------------------------------------------------------------------------
    def __reduce__(self):
        from ..ir.printer import print_function
        sig = self._sig
        payload = {
            "version": 1,
            "ir": print_function(self.input_ir()),
            "name": self.name,
            "ins": [(i.variable, i.name, i.update is not None, i.implicit, i.mutable, i.borrow)
                    for i in sig.ins],
            "values": [None if c is None else c.value for c in self._containers],
            "shared": list(self.shared),
            "n_outputs": sig.n_outputs,
            "single": sig.single,
            "output_keys": sig.output_keys,
            "allow_input_downcast": sig.allow_input_downcast,
            "trust_input": self.trust_input,
            "mode": self.mode,
            "profile": self.profile is not None,
        }
        return (load_function, (payload,))


def clone_shared(var):
    """A new shared variable like ``var`` (same class, name, flags and
    attributes) holding a copy of its value."""
    new = var.copy_variable()
    new.__dict__.update(var.__dict__)
    return new


def _owned(arr):
    return np.array(arr, copy=True) if isinstance(arr, np.ndarray) else arr


class CompiledFunction(_TheanoAPI, Function):
    """A compiled CPU function (``runtime.function.Function``) with Theano's interface."""

    def __init__(self, *, api, **kw):
        self._setup_api(*api, ctor_kw=kw)
        Function.__init__(self, **kw)
        if not self._simple:
            self._raw = self._call
            self._call = self._api_call

    def _api_call(self, *args, output_subset=None, **kwargs):
        return self._invoke(self._raw, args, kwargs, output_subset)

    def _call_python(self, *args, output_subset=None, **kwargs):
        out = Function._call_python(self, *args, **kwargs)
        if output_subset is None:
            return out
        return self._shape([out] if self._single else out, output_subset)


def _gpu_class():
    from ..runtime.gpu_function import GpuFunction

    class CompiledGpuFunction(_TheanoAPI, GpuFunction):
        """A compiled GPU function with Theano's interface."""

        def __init__(self, *, api, **kw):
            self._setup_api(*api, ctor_kw=kw)
            GpuFunction.__init__(self, **kw)

        def __call__(self, *args, output_subset=None, **kwargs):
            if self._simple and output_subset is None:
                return GpuFunction.__call__(self, *args, **kwargs)
            if self._simple:
                out = GpuFunction.__call__(self, *args, **kwargs)
                return self._shape([out] if self._single else out, output_subset)
            return self._invoke(lambda *a: GpuFunction.__call__(self, *a), args, kwargs, output_subset)

    return CompiledGpuFunction


def assemble(sig, func, make_input_ir, input_vars, compiled_outputs, update_pairs, shared, mode, profile,
             recipe=None, values=None):
    """The compiled function for the input IR ``func`` (see frontend/function.py)."""
    from .function import compile_ir, make_specs
    specs = make_specs(sig.ins, input_vars, sig.allow_input_downcast)
    containers = _make_containers(sig, specs, values)
    single = sig.single and len(compiled_outputs) == sig.n_outputs
    # the GPU class (and the GPU code it imports) only when a GPU function is made
    return compile_ir(func, make_input_ir, input_vars, specs, compiled_outputs, single, update_pairs, shared,
                      mode, profile, sig.name, CompiledFunction, lambda **kw: _gpu_class()(**kw),
                      {"api": (sig, containers, recipe)})


def _make_containers(sig, specs, values):
    containers = []
    for k, i in enumerate(sig.ins):
        value = i.value if values is None else values[k]
        containers.append(None if value is None else Container(_owned(specs[k].convert(value)), i.name))
    return containers


# Loading the same function again in one process (a Dask worker unpickling a
# task's function, pickle.loads twice) reuses the first load's compiled code:
# key (_memo_key) -> (the constructor's keywords without the per-object
# ones, [(shared index, update value)]). Only plain CPU Modes (no profile or
# debug checker, whose objects are per function). LOAD_COUNTS counts both.
_LOAD_MEMO = {}
_LOAD_MEMO_SIZE = 128
_LOAD_LOCK = threading.Lock()
LOAD_COUNTS = {"compiled": 0, "reused": 0}
_PER_OBJECT = ("name", "inputs", "shared", "updates", "specs")


def _memo_key(payload):
    from ..config import config
    from ..runtime.mode import Mode
    mode = payload["mode"]
    if (type(mode) is not Mode or payload["profile"] or mode.profile or mode.debug
            or mode.resolved_device() != "cpu"):
        return None
    ins = [(repr(v.type), v.name) + tuple(rest) for v, *rest in payload["ins"]]
    desc = repr((ins, [repr(s.type) for s in payload["shared"]], payload["n_outputs"], payload["single"],
                 payload["output_keys"], payload["allow_input_downcast"], payload["trust_input"], repr(mode),
                 config.floatX))
    return hashlib.sha256(payload["ir"].encode() + b"\0" + desc.encode()).hexdigest()


def _from_memo(hit, sig, input_vars, shared, values):
    from .function import make_specs
    kw, updates = hit
    specs = make_specs(sig.ins, input_vars, sig.allow_input_downcast)
    kw = dict(kw, name=sig.name, inputs=input_vars, shared=shared, specs=specs,
              updates=[(shared[i], value) for i, value in updates])
    new = CompiledFunction.__new__(CompiledFunction)
    CompiledFunction.__init__(new, api=(sig, _make_containers(sig, specs, values), None), **kw)
    return new


def load_function(payload):
    """Rebuild a pickled compiled function (recompiling its IR, or reusing
    the code of an equal function this process loaded before)."""
    if payload.get("version") != 1:
        raise ValueError(f"cannot load a pickled theon function of version {payload.get('version')!r}")
    key = _memo_key(payload)
    if key is None:
        return _load_function(payload, None)
    with _LOAD_LOCK:            # threads loading one function compile it once
        return _load_function(payload, key)


def _load_function(payload, key):
    from ..ir.parser import parse_function
    from .function import _compiling
    text = payload["ir"]
    ins = []
    for variable, name, has_update, implicit, mutable, borrow in payload["ins"]:
        i = In(variable, name=name, autoname=False, mutable=mutable, borrow=borrow)
        i.implicit = implicit
        i.update = True if has_update else None     # marks state; the update is in the IR
        ins.append(i)
    input_vars = [i.variable for i in ins]
    shared = payload["shared"]

    def make_input_ir():
        func = parse_function(text)
        for arg, var in zip(func.args, input_vars):
            arg.name = var.name
        return func

    sig = Signature(payload["name"], ins, payload["n_outputs"], payload["single"], payload["output_keys"],
                    payload["allow_input_downcast"], payload["trust_input"])
    hit = _LOAD_MEMO.get(key) if key is not None else None
    if hit is not None:
        LOAD_COUNTS["reused"] += 1
        return _from_memo(hit, sig, input_vars, shared, payload["values"])
    with _compiling():
        func = make_input_ir()
        n_in = len(input_vars)
        if len(func.args) != n_in + len(shared):
            raise ValueError("pickled theon function: its IR does not match its inputs and shared variables")
        update_index = [arg.index - n_in for arg, _ in func.updates]
        update_pairs = [(shared[i], value) for i, (_, value) in zip(update_index, func.updates)]
        compiled_outputs = list(func.outputs)
        f = assemble(sig, func, make_input_ir, input_vars, compiled_outputs, update_pairs, shared,
                     payload["mode"], payload["profile"], recipe=None, values=payload["values"])
        LOAD_COUNTS["compiled"] += 1
        if key is not None and type(f) is CompiledFunction:
            if len(_LOAD_MEMO) >= _LOAD_MEMO_SIZE:
                _LOAD_MEMO.pop(next(iter(_LOAD_MEMO)))
            kw = {k: v for k, v in f._ctor_kw.items() if k not in _PER_OBJECT}
            _LOAD_MEMO[key] = (kw, [(i, value) for i, (_, value) in zip(update_index, update_pairs)])
        return f
