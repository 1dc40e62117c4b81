"""The host side of one GPU call: device tensors and the run state.

A ``DeviceTensor`` is a device address plus dtype, shape and strides (in
elements, maybe 0 or negative) and the device buffer it lives in (kept
alive by the tensor). Views share their buffer. Device buffers are never
written after the step that fills them, so views, shared variables and
results may share memory freely.

A ``RunState`` holds, while a plan runs, the device tensor and/or the host
value (a small NumPy array: inputs, shapes, host-evaluated sizes) of every
IR value, and launches kernels on a *device* object. A device (CUDA:
``runtime/cuda.py``; CPU emulation: ``emulator.py``) provides:

    schedule                        the Schedule its kernels were built with
    alloc(nbytes) -> buffer         buffer.ptr is its device address
    upload(c_contiguous_array) -> buffer    (may be queued: asynchronous)
    download(ptr, out_array)        fill a C-contiguous host array (waits for queued work)
    copy(dst_ptr, src_ptr, nbytes)  device-to-device copy (queued)
    launch(handle, grid, block, args)   args: one 64-bit int per kernel parameter (queued)
    synchronize(), activate(), release_memory(), memory_stats()
    dlpack_device_type, ordinal, stream_handle, wait_for_stream(s, event), wait_on_stream(s)
    optional: record_event() (CUDA: per-array write events), register_cache(holder)
      (holder.drop_cached(device) when release_memory() wants its buffers back)

Every host-device copy goes through ``upload``/``download`` and every
kernel through ``launch``, so ``RecordingDevice`` (a wrapper counting them)
sees all of a call's traffic.
"""
import operator
import threading

import numpy as np

from ..llvm_util import ITEMSIZE
from .maps import copy_kernel_name
from .shapes import c_strides, is_c_contiguous, numel

Z_GRID_MAX = 65535
SMALL_VALUES_KEPT = 256        # distinct small host values a loaded program keeps on the device
SMALL_VALUE_ELEMENTS = 64      # (as plan.HOST_MAX_ELEMENTS)


# --- symbolic sizes (the AOT C host's dynamic shapes) -------------------------------
class SymInt(int):
    """An int that also carries how it was computed from symbolic dims
    (``expr``): ``('d', k)`` is dim symbol k, an int a constant, ``(op, a,
    b)`` with op in ``+ - * // %`` and ``('neg', a)``. Arithmetic with ints
    and SymInts keeps the expression; a comparison (or ``bool``) returns its
    plain result and, while ``guards(list)`` is active, appends
    ``(op, a, b, result)`` to the list: the branch decisions a recording
    depends on. Anything else (``int()``, NumPy, ``/``, bit operations)
    gives a plain int: a recording that loses a dim's symbol that way is
    caught by comparing recordings at other dims (``runtime/aot/cuda_host.py``)."""

    def __new__(cls, value, expr):
        o = int.__new__(cls, value)
        o.expr = expr
        return o

    def __repr__(self):
        return f"SymInt({int(self)}, {self.expr!r})"

    def _op(self, other, op, fn, swap=False):
        if not isinstance(other, int):
            try:
                other = operator.index(other)       # NumPy ints
            except TypeError:
                return NotImplemented
        a, b = (other, self) if swap else (self, other)
        value = fn(int(a), int(b))
        ea, eb = sym_expr(a), sym_expr(b)
        if op == "*" and (eb == 0 or ea == 0):
            return value
        if op in ("+", "-") and eb == 0:
            return a
        if op == "+" and ea == 0:
            return b
        if op in ("*", "//") and eb == 1:
            return a
        if op == "*" and ea == 1:
            return b
        return SymInt(value, (op, ea, eb))

    def __add__(self, o):
        return self._op(o, "+", operator.add)

    def __radd__(self, o):
        return self._op(o, "+", operator.add, True)

    def __sub__(self, o):
        return self._op(o, "-", operator.sub)

    def __rsub__(self, o):
        return self._op(o, "-", operator.sub, True)

    def __mul__(self, o):
        return self._op(o, "*", operator.mul)

    def __rmul__(self, o):
        return self._op(o, "*", operator.mul, True)

    def __floordiv__(self, o):
        return self._op(o, "//", operator.floordiv)

    def __rfloordiv__(self, o):
        return self._op(o, "//", operator.floordiv, True)

    def __mod__(self, o):
        return self._op(o, "%", operator.mod)

    def __rmod__(self, o):
        return self._op(o, "%", operator.mod, True)

    def __divmod__(self, o):
        return self // o, self % o

    def __neg__(self):
        return SymInt(-int(self), ("neg", self.expr))

    def __pos__(self):
        return self

    def __abs__(self):
        return self if self >= 0 else -self

    def _cmp(self, other, op, fn):
        if not isinstance(other, int):
            try:
                other = operator.index(other)
            except TypeError:
                return NotImplemented
        result = fn(int(self), int(other))
        log = getattr(_GUARDS, "log", None)
        if log is not None:
            log.append((op, self.expr, sym_expr(other), result))
        return result

    def __eq__(self, o):
        return self._cmp(o, "==", operator.eq)

    def __ne__(self, o):
        return self._cmp(o, "!=", operator.ne)

    def __lt__(self, o):
        return self._cmp(o, "<", operator.lt)

    def __le__(self, o):
        return self._cmp(o, "<=", operator.le)

    def __gt__(self, o):
        return self._cmp(o, ">", operator.gt)

    def __ge__(self, o):
        return self._cmp(o, ">=", operator.ge)

    def __bool__(self):
        return self._cmp(0, "!=", operator.ne)

    __hash__ = int.__hash__


_GUARDS = threading.local()


def sym_expr(x):
    """The expression of a SymInt, or the plain int of anything else."""
    return x.expr if type(x) is SymInt else int(x)


def as_int(x):
    """``x`` as an int, keeping a SymInt (NumPy ints become Python ints)."""
    return x if type(x) is SymInt else int(x)


class guards:
    """``with guards(log):`` SymInt comparisons of this thread append to ``log``."""

    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.saved = getattr(_GUARDS, "log", None)
        _GUARDS.log = self.log
        return self.log

    def __exit__(self, *exc):
        _GUARDS.log = self.saved


def eval_expr(expr, dims):
    """The value of SymInt expression ``expr`` for dim symbols ``dims``."""
    if isinstance(expr, int):
        return expr
    op = expr[0]
    if op == "d":
        return dims[expr[1]]
    if op == "neg":
        return -eval_expr(expr[1], dims)
    a, b = eval_expr(expr[1], dims), eval_expr(expr[2], dims)
    if op in ("//", "%") and b == 0:
        return 0
    return {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
            "%": operator.mod}[op](a, b)


class DeviceTensor:
    """``event``: the device's event recorded after the work that wrote the
    tensor (``CudaDevice.record_event``), or None when unknown (then "all
    the work queued so far" stands for it); views share it."""
    __slots__ = ("buffer", "ptr", "dtype", "shape", "strides", "event")

    def __init__(self, buffer, ptr, dtype, shape, strides, event=None):
        self.buffer = buffer
        self.ptr = ptr
        self.dtype = dtype
        self.shape = tuple(shape)
        self.strides = tuple(strides)
        self.event = event

    @property
    def itemsize(self):
        return ITEMSIZE[self.dtype]

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def numel(self):
        return numel(self.shape)

    @property
    def c_contiguous(self):
        return is_c_contiguous(self.shape, self.strides)

    def view(self, offset=0, shape=None, strides=None):
        """A view ``offset`` elements in, with new dims and strides."""
        return DeviceTensor(self.buffer, self.ptr + offset * self.itemsize, self.dtype,
                            self.shape if shape is None else shape,
                            self.strides if strides is None else strides, self.event)

    def __repr__(self):
        return f"<DeviceTensor {self.dtype}{list(self.shape)} strides={list(self.strides)} at {self.ptr:#x}>"


def flat_stride(strides, shape):
    """1 if ``strides`` walk ``shape`` in C order, 0 if all 0, else None."""
    if all(s == 0 for s in strides):
        return 0
    if is_c_contiguous(shape, strides) and 0 not in shape:
        return 1
    return None


class LoadedProgram:
    """A plan's kernels loaded on a device: kernel handles by name, and the
    device tensors of its constants (uploaded on first use, then reused)."""

    def __init__(self, plan):
        self.plan = plan
        self.handles = {}
        self._constants = {}
        self._small = {}
        self._ptx = None

    def kernel(self, name):
        try:
            return self.handles[name]
        except KeyError:
            raise RuntimeError(f"GPU program of @{self.plan.func.name} has no kernel {name!r}") from None

    def constant(self, op, make):
        t = self._constants.get(op)
        if t is None:
            t = self._constants[op] = make()
        return t

    def drop_cached(self, device=None):
        """Forget the device tensors of constants and small values (made
        again on first use; buffers in use elsewhere stay alive)."""
        self._constants = {}
        self._small = {}

    def small_value(self, array, make):
        """The device tensor of a small host-computed value (a shape, a
        size): uploaded once per distinct value, then reused by every call
        (device buffers are never written after their step)."""
        key = (array.dtype.str, array.shape, array.tobytes())
        cache = self._small
        t = cache.get(key)
        if t is None:
            if len(cache) >= SMALL_VALUES_KEPT:
                cache.pop(next(iter(cache)))
            t = cache[key] = make()
        return t


class RunState:
    def __init__(self, loaded, device):
        self.loaded = loaded        # the program loaded on ``device``
        self.device = device
        self.schedule = device.schedule
        self.env = {}               # Value -> DeviceTensor
        self.host = {}              # Value -> np.ndarray

    # --- values ---------------------------------------------------------------------
    def tensor(self, v):
        """The device tensor of ``v`` (uploading its host value once)."""
        t = self.env.get(v)
        if t is None:
            if v not in self.host:
                raise RuntimeError(f"GPU plan: value {v} has neither a device tensor nor a host value")
            a = self.host[v]
            if v.owner is not None and getattr(a, "size", 1) <= SMALL_VALUE_ELEMENTS:
                a = np.asarray(a)
                t = self.loaded.small_value(a, lambda: self.upload(a))
            else:
                t = self.upload(a)
            self.env[v] = t
        return t

    def shape(self, v):
        t = self.env.get(v)
        return t.shape if t is not None else tuple(self.host[v].shape)

    def host_value(self, v):
        """The host value of ``v`` (read back from the device once if needed)."""
        a = self.host.get(v)
        if a is None:
            a = self.download(self.env[v])
            self.host[v] = a
        return a

    def dyn_ints(self, values):
        return [int(self.host_value(v)) for v in values]

    # --- memory ---------------------------------------------------------------------
    def alloc(self, dtype, shape):
        shape = tuple(as_int(d) for d in shape)
        nbytes = numel(shape) * ITEMSIZE[dtype]
        buf = self.device.alloc(nbytes)
        return DeviceTensor(buf, buf.ptr, dtype, shape, c_strides(shape))

    def upload(self, array):
        array = np.asarray(array)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")       # (np.ascontiguousarray would make 0-d 1-d)
        buf = self.device.upload(array)
        return DeviceTensor(buf, buf.ptr, array.dtype.name, array.shape, c_strides(array.shape))

    def download(self, t):
        """A fresh C-contiguous host array with the values of ``t``."""
        src = t if t.c_contiguous else self.contiguous(t)
        out = np.empty(t.shape, dtype=np.dtype(t.dtype))
        if out.size:
            self.device.download(src.ptr, out)
        return out

    def contiguous(self, t):
        """``t`` if C-contiguous, else a contiguous copy."""
        if t.c_contiguous:
            return t
        out = self.alloc(t.dtype, t.shape)
        self.copy(t, out)
        return out

    def copy(self, src, dst, src_strides=None):
        """dst[...] = src[...] (src_strides: src's strides broadcast to dst)."""
        name = copy_kernel_name(dst.dtype, dst.ndim)
        self.launch_map(name, dst, [(src, src.strides if src_strides is None else src_strides)])

    # --- launches --------------------------------------------------------------------
    def launch(self, name, grid, block, args):
        cap = self.schedule.max_grid
        grid = (max(1, min(grid[0], cap)), max(1, min(grid[1], cap)), max(1, min(grid[2], cap, Z_GRID_MAX)))
        try:
            self.device.launch(self.loaded.kernel(name), grid, block, [as_int(a) for a in args])
        except RuntimeError as e:
            if getattr(e, "code", None) is not None and getattr(e, "kernel", None) is None:
                e.kernel = name         # a CudaError: name the kernel (sync_check makes it this one)
                e.args = (f"{e} [in kernel {name}, grid {grid}, block {block}]",)
            raise

    def grid_1d(self, n, block):
        return (-(-n // block), 1, 1)

    def launch_map(self, name, outs, inputs):
        """Launch map kernel ``name`` (``_c`` or ``_s``) writing ``outs``
        (tensors of one shape) from ``inputs``: (tensor, its strides
        broadcast to that shape) pairs."""
        if isinstance(outs, DeviceTensor):
            outs = [outs]
        shape = outs[0].shape
        n = numel(shape)
        if n == 0:
            return
        block = self.schedule.block
        flats = [flat_stride(s, shape) for _, s in inputs]
        if len(shape) == 0 or (all(o.c_contiguous for o in outs) and None not in flats):
            args = [n] + [o.ptr for o in outs]
            for (t, _), f in zip(inputs, flats):
                args += [t.ptr, f if f is not None else 0]
            self.launch(name + "_c", self.grid_1d(n, block), (block, 1, 1), args)
            return
        args = [n, *shape]
        for o in outs:
            args += [o.ptr, *o.strides]
        for t, s in inputs:
            args += [t.ptr, *s]
        self.launch(name + "_s", self.grid_1d(n, block), (block, 1, 1), args)


class RecordingDevice:
    """A device wrapper that counts what a device is asked to do:
    ``launches``, ``uploads``/``upload_bytes`` (host to device),
    ``downloads``/``download_bytes`` (device to host), ``copies``/``copy_bytes``
    (device to device), ``allocs``/``alloc_bytes``; ``kernels`` lists the
    launched handles' names where known. Everything else is the wrapped
    device's. ``reset()`` zeroes the counters; ``counts()`` is a dict."""

    COUNTERS = ("launches", "uploads", "upload_bytes", "downloads", "download_bytes", "copies",
                "copy_bytes", "allocs", "alloc_bytes")

    def __init__(self, device):
        self.__dict__["inner"] = device
        self.reset()

    def reset(self):
        for name in self.COUNTERS:
            self.__dict__[name] = 0

    def counts(self):
        return {name: self.__dict__[name] for name in self.COUNTERS}

    def __getattr__(self, name):
        return getattr(self.__dict__["inner"], name)

    def __setattr__(self, name, value):
        if name in self.COUNTERS:
            self.__dict__[name] = value
        else:
            setattr(self.__dict__["inner"], name, value)

    def alloc(self, nbytes):
        self.__dict__["allocs"] += 1
        self.__dict__["alloc_bytes"] += int(nbytes)
        return self.inner.alloc(nbytes)

    def upload(self, array):
        self.__dict__["uploads"] += 1
        self.__dict__["upload_bytes"] += array.nbytes
        return self.inner.upload(array)

    def download(self, ptr, out):
        self.__dict__["downloads"] += 1
        self.__dict__["download_bytes"] += out.nbytes
        return self.inner.download(ptr, out)

    def copy(self, dst, src, nbytes):
        self.__dict__["copies"] += 1
        self.__dict__["copy_bytes"] += int(nbytes)
        return self.inner.copy(dst, src, nbytes)

    def launch(self, kernel, grid, block, args):
        self.__dict__["launches"] += 1
        return self.inner.launch(kernel, grid, block, args)

    def __repr__(self):
        return f"<RecordingDevice of {self.inner!r}: {self.counts()}>"
