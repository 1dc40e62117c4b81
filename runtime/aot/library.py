"""Calling an ahead-of-time compiled shared library from Python.

    f = theon.runtime.load_library("out/libtrain.so")
    loss = f(x, y, 0.1)          # NumPy in, NumPy out, like the theon.function
    f.get_state("w")             # the library's state struct, as arrays

The library describes itself (``NAME_metadata()`` returns the CEntry as
JSON), so nothing but the .so is needed. A call converts each input as
``theon.function`` does, makes it C-contiguous, asks ``NAME_output_shapes``
for the output shapes, allocates the outputs and calls ``NAME`` through
ctypes: the same code a C program links.
"""
import ctypes
import json
import os

import numpy as np

from ...codegen import errors as codes
from ...codegen.cheader import CEntry, status_message
from ...config import config
from ..convert import shape_text, to_dtype

_SCALAR_CTYPES = {
    "bool": ctypes.c_uint8, "int8": ctypes.c_int8, "int16": ctypes.c_int16, "int32": ctypes.c_int32,
    "int64": ctypes.c_int64, "uint8": ctypes.c_uint8, "uint16": ctypes.c_uint16, "uint32": ctypes.c_uint32,
    "uint64": ctypes.c_uint64, "float32": ctypes.c_float, "float64": ctypes.c_double,
    "float16": ctypes.c_uint16,         # the bit pattern (codegen/cheader.py)
}
_EXCEPTIONS = {codes.INDEX_ERROR: IndexError, codes.ADV_INDEX_ERROR: IndexError, codes.MASK_MISMATCH: IndexError,
               codes.INDEX_RANGE: IndexError,
               codes.LINALG_NOT_PD: np.linalg.LinAlgError, codes.LINALG_SINGULAR: np.linalg.LinAlgError,
               codes.LINALG_COMPLEX: np.linalg.LinAlgError, codes.LINALG_NO_CONVERGENCE: np.linalg.LinAlgError,
               codes.OUT_OF_MEMORY: MemoryError}


def load_library(path, name=None):
    """The entry of the shared library at ``path`` (made by ``aot-compile
    --emit shared``) as a Python callable. ``name`` defaults to the file
    name without ``lib`` and ``.so``."""
    return AotFunction(path, name)


def _entry_name(path):
    base = os.path.basename(path)
    base = base.split(".so")[0] if ".so" in base else os.path.splitext(base)[0]
    return base[3:] if base.startswith("lib") else base


def _parse_metadata(raw):
    """The CEntry of an entry's metadata bytes; ValueError saying what is
    wrong when they are not the JSON theon's aot-compile writes."""
    if raw is None:
        raise ValueError("it returned NULL")
    try:
        d = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"it is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(d, dict):
        raise ValueError(f"it is JSON {type(d).__name__}, not an object")
    if d.get("abi") != "theon-aot-1":
        raise ValueError(f"its abi is {d.get('abi')!r}, not 'theon-aot-1'")
    entry = CEntry.from_json(d)
    _check_entry(entry)
    return entry


def _check_shape(shape, what, dynamic):
    if not isinstance(shape, tuple) or any(
            not (s is None and dynamic) and (not isinstance(s, int) or isinstance(s, bool) or s < 0)
            for s in shape):
        raise ValueError(f"{what} has the shape {list(shape)!r}")


def _check_entry(entry):
    """Types and ranges of every field of a CEntry read from a library."""
    if not isinstance(entry.name, str):
        raise ValueError(f"the entry name {entry.name!r} is not a string")
    for kind, arrays in (("input", entry.inputs), ("output", entry.outputs)):
        for a in arrays:
            what = f"{kind} {a.name!r}"
            if not isinstance(a.name, str) or a.dtype not in _SCALAR_CTYPES:
                raise ValueError(f"{what} has the dtype {a.dtype!r}; expected one of {sorted(_SCALAR_CTYPES)}")
            _check_shape(a.shape, what, dynamic=True)
            if kind == "input" and any(s is None for s in a.shape) and (
                    len(a.dim_names) != len(a.shape)
                    or any(s is None and not isinstance(n, str) for s, n in zip(a.shape, a.dim_names))):
                raise ValueError(f"{what} has a dynamic dim without a name")
    size = entry.state_size
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"the state size {size!r} is not a byte count")
    for f in entry.state:
        what = f"state field {f.name!r}"
        if f.dtype not in _SCALAR_CTYPES:
            raise ValueError(f"{what} has the dtype {f.dtype!r}")
        _check_shape(f.shape, what, dynamic=False)
        if not isinstance(f.offset, int) or isinstance(f.offset, bool) or f.offset < 0 \
                or f.offset + f.nbytes > size:
            raise ValueError(f"{what} (offset {f.offset!r}, {f.nbytes} bytes) lies outside the "
                             f"{size}-byte state")
    for u in entry.updates:
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in u) or \
                not all(0 <= k < len(entry.state) for k in u[-1:]):
            raise ValueError(f"the update {list(u)!r} names no state field")
    for flag in ("shapes_need_data", "single_output"):
        if not isinstance(getattr(entry, flag), bool):
            raise ValueError(f"{flag} is {getattr(entry, flag)!r}, not a bool")
    if entry.single_output and len(entry.outputs) != 1:
        raise ValueError(f"single_output with {len(entry.outputs)} outputs")


class AotFunction:
    """One AOT entry loaded from a shared library, with its own state."""

    def __init__(self, path, name=None):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"load_library: {path}: no such file")
        self.path = path
        self.name = name or _entry_name(path)
        self._lib = ctypes.CDLL(os.path.abspath(path))
        try:
            meta_fn = getattr(self._lib, f"{self.name}_metadata")
        except AttributeError:
            raise ValueError(f"load_library: {path} has no theon entry {self.name!r} "
                             f"(no symbol {self.name}_metadata); pass name=...") from None
        meta_fn.restype = ctypes.c_char_p
        meta_fn.argtypes = []
        try:
            self.entry = _parse_metadata(meta_fn())
            self._fn = self._function(self.name, self.entry.entry_params())
            self._shapes = self._function(f"{self.name}_output_shapes", self.entry.shape_params())
            if self.entry.state:
                getattr(self._lib, f"{self.name}_state_init")
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"load_library: {path}: {self.name}_metadata() does not describe a theon "
                             f"entry this runtime can call: {e}") from None
        n_words = max(-(-self.entry.state_size // 8), 1)
        self._state = (ctypes.c_int64 * n_words)()        # 8-byte aligned, like a C struct
        self.reset_state()

    def _function(self, symbol, params):
        fn = getattr(self._lib, symbol)
        fn.restype = ctypes.c_int
        types = []
        for kind, _, obj in params:
            if kind == "input" and obj.ndim == 0:
                types.append(_SCALAR_CTYPES[obj.dtype])
            elif kind == "dim":
                types.append(ctypes.c_int64)
            else:
                types.append(ctypes.c_void_p)
        fn.argtypes = types
        return fn

    # --- state -----------------------------------------------------------------------------
    def reset_state(self):
        """Set the state to its initial values (``NAME_state_init``)."""
        if self.entry.state:
            init = getattr(self._lib, f"{self.name}_state_init")
            init.restype = None
            init.argtypes = [ctypes.c_void_p]
            init(ctypes.addressof(self._state))

    def _field(self, name):
        for f in self.entry.state:
            if name in (f.name, f.label):
                return f
        raise KeyError(f"{self.name} has no state field {name!r}; its fields: "
                       f"{', '.join(f.name for f in self.entry.state) or 'none'}")

    def _view(self, f):
        base = np.ctypeslib.as_array(self._state).view(np.uint8)
        return base[f.offset:f.offset + f.nbytes].view(np.dtype(f.dtype)).reshape(f.shape)

    def get_state(self, name):
        """A copy of the state field ``name`` (C field name or shared variable name)."""
        return self._view(self._field(name)).copy()

    def set_state(self, name, value):
        f = self._field(name)
        arr = to_dtype(value, np.dtype(f.dtype), f"state field {f.name!r}", None, config.floatX)
        if arr.shape != f.shape:
            raise ValueError(f"state field {f.name!r} has the fixed shape {f.shape}, got {arr.shape}")
        self._view(f)[...] = arr

    @property
    def state(self):
        """{field name: copy of its value}"""
        return {f.name: self.get_state(f.name) for f in self.entry.state}

    # --- calling ----------------------------------------------------------------------------
    def __call__(self, *args):
        entry = self.entry
        if len(args) != len(entry.inputs):
            raise TypeError(f"{self.name}() takes {len(entry.inputs)} input(s) "
                            f"({', '.join(a.name for a in entry.inputs) or 'none'}) but {len(args)} were given")
        arrays = [self._convert(a, v) for a, v in zip(entry.inputs, args)]
        state = ctypes.addressof(self._state)
        input_args = []
        for a, arr in zip(entry.inputs, arrays):
            scalar = arr.view(np.uint16) if a.dtype == "float16" else arr     # passed as its bits
            input_args.append(scalar[()].item() if a.ndim == 0 else arr.ctypes.data)
            input_args.extend(arr.shape[d] for d, s in enumerate(a.shape) if s is None)
        shape_arrays = [np.zeros(o.ndim, np.int64) for o in entry.outputs]
        shape_args = [shape_arrays[k].ctypes.data for k, o in enumerate(entry.outputs) if o.ndim]
        if entry.shapes_need_data:
            lead = ([state] if entry.state else []) + input_args
        else:
            lead = [v for (kind, _, _), v in zip(self._input_kinds(), input_args) if kind == "dim"]
        self._check(self._shapes(*lead, *shape_args))
        outs = [np.empty(tuple(int(d) for d in s), dtype=np.dtype(o.dtype))
                for o, s in zip(entry.outputs, shape_arrays)]
        self._check(self._fn(*([state] if entry.state else []), *input_args,
                             *[o.ctypes.data for o in outs]))
        if entry.single_output:
            return outs[0]
        return outs

    def _input_kinds(self):
        return [p for p in self.entry.entry_params() if p[0] in ("input", "dim")]

    def _convert(self, a, value):
        what = f"input {a.name!r} of {self.name}"
        arr = to_dtype(value, np.dtype(a.dtype), what, None, config.floatX)
        if arr.ndim != a.ndim:
            raise TypeError(f"{what} must be {a.ndim}-d with shape {shape_text(a.shape)}; got shape {arr.shape}")
        for d, s in enumerate(a.shape):
            if s is not None and arr.shape[d] != s:
                raise ValueError(f"{what} has static shape {shape_text(a.shape)}, got {arr.shape}")
        return np.ascontiguousarray(arr)

    def _check(self, code):
        if code:
            exc = _EXCEPTIONS.get(code, ValueError)
            raise exc(f"{self.name}: {status_message(code)} (theon status code {code})")

    def __repr__(self):
        return f"<theon AOT entry {self.name} from {self.path}>"
