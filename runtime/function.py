"""The callable that ``theon.function`` returns.

A call: convert and check every argument (``InputSpec.convert``; nothing
native runs on a bad argument), read the shared variables' current
storage, pack data pointers and meta (dims, then strides in elements) per
the native entry ABI, call the native entry, turn an error code into an
exception, wrap each malloc'd result as a fresh NumPy array, and only then
replace the storage of every updated shared variable, all at once.
Everything that does not depend on the arguments is precomputed here.

Two implementations of that call, with the same behaviour:

    fast path     a C function generated for the call signature
                  (codegen/cpu/driver/pywrap.py): for arguments that are already
                  ndarrays of the right dtype, ndim, static dims and layout,
                  the whole call runs in native code (about a microsecond)
    Python path   ``_call_python``: everything else (lists, scalars, casts,
                  keywords, errors) -- the fast path hands such calls to it

DEBUG and profiled functions always take the Python path. A big function
may start on quickly compiled code; when the fully optimized code arrives
(codegen/cpu/driver/tierup.py), the next call switches to it (``_tier_up``).

Threads: a call that updates shared variables holds the update lock of
each of them (``update_lock``; taken in the variables' creation order, so
two functions updating overlapping sets never deadlock) from reading
their storage to replacing it, so concurrent updates are never lost.
Calls that update nothing take no lock and run fully concurrently (they
read each shared variable's storage once, before or after an update).
"""
import ctypes
import threading
import time
import weakref

import numpy as np

from .errors import native_error
from .native import ERR_LEN, FastCall, ResultSpec, entry_point, fast_support, free_results, wrap_result

_VoidP = ctypes.c_void_p
_Int64 = ctypes.c_int64


class Function:
    """A compiled theon function: ``f(*inputs)`` -> outputs.

    Attributes: ``name``, ``inputs`` (the input variables), ``outputs``
    (the output variables), ``updates`` ([(shared, expression)]), ``mode``,
    ``ir`` (the compiled IR Function), ``input_ir()`` (the IR before the
    passes, rebuilt on each call), ``native`` (the backend's compiled
    object: ``.llvm_ir``, ``.asm``), ``profile`` (ProfileStats or None).
    """

    def __init__(self, *, name, inputs, outputs, single_output, updates, shared, specs, ir,
                 native, mode, input_ir, profile=None, debug=None):
        self._set_signature(name, inputs, outputs, single_output, updates, shared, specs, ir,
                            mode, input_ir, profile)
        self.native = native
        self._debug = debug
        results = ir.return_op.operands
        self._result_specs = tuple(ResultSpec(v.type) for v in results)
        self._n_results = len(results)
        self._n_dims = max(sum(v.type.ndim for v in results), 1)
        self._n_meta = max(2 * sum(a.type.ndim for a in ir.args), 1)
        self._n_args = max(len(ir.args), 1)
        self._prof = profile.buffer if profile is not None else None
        self._fast = None
        if profile is None and debug is None:
            # first: its wrapper is built while the native code may still be compiling
            self._fast = self._make_fast_path()
        self._entry = entry_point(native.address)
        self._call = self._call_python if self._fast is None else self._fast.callable

    def _set_signature(self, name, inputs, outputs, single_output, updates, shared, specs, ir,
                       mode, input_ir, profile):
        """What every theon function (CPU or GPU) knows of its signature."""
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.updates = list(updates)
        self.shared = list(shared)          # shared variables, in argument order
        self.mode = mode
        self.ir = ir
        self.profile = profile
        self.input_ir = input_ir            # () -> the IR before the passes (rebuilt)
        self._specs = tuple(specs)
        self._n_inputs = len(specs)
        self._positions = {s.name: s.position for s in specs if s.name}
        self._single = single_output
        self._n_outputs = len(outputs)
        self._update_targets = tuple(s for s, _ in updates)
        self._update_locks = update_locks(self._update_targets)

    # --- calling ---------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self.native.pending is not None:
            self._tier_up()
        if not self._update_locks:
            return self._call(*args, **kwargs)
        return self._locked(self._call, args, kwargs)

    def _locked(self, call, args, kwargs):
        """``call(*args, **kwargs)`` holding the update lock of every shared
        variable this function updates (module docstring, Threads)."""
        locks = self._update_locks
        if len(locks) == 1:
            with locks[0]:
                return call(*args, **kwargs)
        for lock in locks:
            lock.acquire()
        try:
            return call(*args, **kwargs)
        finally:
            for lock in reversed(locks):
                lock.release()

    def _tier_up(self):
        """Switch to the fully optimized code the background compile produced."""
        address = self.native.adopt_pending()
        if address:
            self._entry = entry_point(address)
            if self._fast is not None:
                self._fast.set_entry(address)

    def _make_fast_path(self):
        """The native fast path for this function, or None where it cannot
        be used (unknown interpreter or NumPy layout, unusual signature)."""
        sig = fast_path_signature(self.ir, self._specs, self.shared, self._update_targets,
                                  self._n_outputs, self._single)
        if sig is None:
            return None
        from .native import cpu_compiler
        wrapper = cpu_compiler().compile_wrapper(sig)
        return FastCall(wrapper, self.native.address, self._call_python,
                        [a.type.dtype for a in self.ir.args], self.shared,
                        [s.dtype for s in self._result_specs], keepalive=self.native)

    def _call_python(self, *args, **kwargs):
        arrays = self._convert_inputs(args, kwargs)
        for var in self.shared:
            arrays.append(var._storage)
        results = self._run(arrays)
        if self._debug is not None:
            self._debug.check(arrays, results)
            n_upd = len(self._update_targets)
            results = results[:self._n_outputs] + (results[len(results) - n_upd:] if n_upd else [])
        n = self._n_outputs
        for var, value in zip(self._update_targets, results[n:]):
            var._storage = value
        if self._single:
            return results[0]
        return results[:n]

    def _run(self, arrays):
        """Call native code on checked arrays; returns every result array."""
        ptrs = (_VoidP * self._n_args)(*[a.__array_interface__["data"][0] for a in arrays])
        meta_values = []
        for a in arrays:
            if a.ndim:
                itemsize = a.itemsize
                meta_values.extend(a.shape)
                meta_values.extend([s // itemsize for s in a.strides])
        meta = (_Int64 * self._n_meta)(*meta_values)
        results = (_VoidP * self._n_results)()
        dims = (_Int64 * self._n_dims)()
        err = (_Int64 * ERR_LEN)()
        if self._prof is None:
            code = self._entry(ptrs, meta, results, dims, err, None)
        else:
            start = time.perf_counter_ns()
            code = self._entry(ptrs, meta, results, dims, err, self._prof)
            self.profile.record_call(time.perf_counter_ns() - start)
        if code:
            raise native_error(code, list(err), self.ir, arrays)
        out = []
        offset = 0
        try:
            for k, spec in enumerate(self._result_specs):
                end = offset + spec.ndim
                out.append(wrap_result(results[k], tuple(dims[offset:end]), spec))
                offset = end
        except BaseException:
            free_results(results[len(out):], self._n_results - len(out))
            raise
        return out

    def _convert_inputs(self, args, kwargs):
        """The inputs of a call (positional ``args``, named ``kwargs``) as
        checked arrays, in input order (``InputSpec.convert``)."""
        if kwargs:
            args = self._bind_keywords(args, kwargs)
        if len(args) != self._n_inputs:
            raise TypeError(self._count_message(len(args)))
        return [spec.convert(a) for spec, a in zip(self._specs, args)]

    def _bind_keywords(self, args, kwargs):
        """Positional arguments from ``args`` plus inputs given by name."""
        bound = list(args) + [_MISSING] * (self._n_inputs - len(args))
        if len(args) > self._n_inputs:
            raise TypeError(self._count_message(len(args) + len(kwargs)))
        for key, value in kwargs.items():
            pos = self._positions.get(key)
            if pos is None:
                raise TypeError(f"{self._label}() got an unexpected keyword argument {key!r}; "
                                f"its named inputs are {sorted(self._positions)}")
            if bound[pos] is not _MISSING:
                raise TypeError(f"{self._label}() got multiple values for input {key!r}")
            bound[pos] = value
        missing = [self._specs[i].what for i, v in enumerate(bound) if v is _MISSING]
        if missing:
            raise TypeError(f"{self._label}() is missing {', '.join(missing)}")
        return bound

    @property
    def _label(self):
        return f"theon function {self.name!r}" if self.name else "theon function"

    def _count_message(self, got):
        names = ", ".join(s.label for s in self._specs) or "none"
        return (f"{self._label}() takes {self._n_inputs} input(s) ({names}) "
                f"but {got} were given")

    def __repr__(self):
        return f"<theon.Function {self.name or '@' + self.ir.name}: {self._n_inputs} inputs>"


_update_locks = {}              # Value.id of a shared variable -> its update lock
_update_locks_guard = threading.Lock()


def update_lock(var):
    """The lock every call updating shared variable ``var`` holds across its
    read-compute-replace of ``var``'s storage (re-entrant: converting an
    argument may run user code that calls another theon function)."""
    key = var.id
    lock = _update_locks.get(key)
    if lock is None:
        with _update_locks_guard:
            lock = _update_locks.get(key)
            if lock is None:
                lock = _update_locks[key] = threading.RLock()
                weakref.finalize(var, _update_locks.pop, key, None)
    return lock


def update_locks(targets):
    """The update locks of the shared variables ``targets``, once each, in
    one global order (creation order of the variables)."""
    unique = {v.id: v for v in targets}
    return tuple(update_lock(unique[k]) for k in sorted(unique))


def fast_path_signature(ir, specs, shared, update_targets, n_outputs, single):
    """The ``pywrap.WrapperSig`` of the fast path of a function compiled
    from ``ir`` (inputs described by ``specs``, then the ``shared``
    variables; ``update_targets`` the shared variables its updates
    replace), or None where the fast path cannot be used. Needs nothing
    native, so ``theon.function`` can start compiling the wrapper early."""
    support = fast_support()
    if support is None:
        return None
    from ..codegen.cpu.driver.pywrap import ArgSig, WrapperSig
    layout, _ = support
    n_inputs = len(specs)
    args = []
    for k, arg in enumerate(ir.args):
        t = arg.type
        itemsize = np.dtype(t.dtype).itemsize
        if itemsize & (itemsize - 1):
            return None
        shape = tuple(t.shape)
        if k < n_inputs:
            spec = specs[k]
            if spec.ndim != t.ndim or spec.dtype != np.dtype(t.dtype):
                return None
            shape = tuple(s if s is not None else n for s, n in zip(shape, spec.static_shape))
            if any(s is not None and n is not None and s != n for s, n in zip(shape, spec.static_shape)):
                return None
        args.append(ArgSig(t.ndim, shape, itemsize, k >= n_inputs))
    if len(args) != n_inputs + len(shared):
        return None
    results = ir.return_op.operands
    shared_index = {id(v): i for i, v in enumerate(shared)}
    targets = tuple(shared_index.get(id(v), -1) for v in update_targets)
    if -1 in targets or len(results) != n_outputs + len(targets):
        return None
    return WrapperSig(args=tuple(args), result_ndims=tuple(v.type.ndim for v in results),
                      n_outputs=n_outputs, single=single, update_targets=targets, layout=layout)


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()
