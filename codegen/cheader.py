"""The C interface of an ahead-of-time compiled entry: its model and its header.

``CEntry`` says what a C program sees of one entry ``NAME``: the input and
output arrays, the dimension parameters, the shared state struct and which
of its fields the entry updates. ``render_header`` writes ``NAME.h`` from
it; ``codegen/cpu/driver/aot_wrapper.py`` emits the matching LLVM functions; the
same model travels as JSON inside the object (``NAME_metadata()``) so
``theon.runtime.load_library`` can call a shared library built from it.

The ABI, for an entry ``NAME`` (see docs/aot.md)::

    typedef struct NAME_state { double w[3]; double b; } NAME_state;
    void NAME_state_init(NAME_state *state);
    int  NAME(NAME_state *state,
              const double *x, int64_t x_dim0,     (array input, then its dynamic dims)
              double lr,                           (0-d input, by value)
              double *out0);                       (outputs: caller-provided buffers)
    int  NAME_output_shapes(int64_t x_dim0, int64_t *out0_shape);
    const char *NAME_metadata(void);

Arrays are C-contiguous; dims are int64_t; static dims are not parameters.
Functions return 0 (THEON_OK) or an error code and write nothing on error.
"""
import json
import re
from dataclasses import dataclass, field

import numpy as np

from . import errors

C_TYPES = {
    "bool": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
    "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
    "float32": "float", "float64": "double",
    # float16: the IEEE binary16 bit pattern in a uint16_t (C has no portable
    # half type; _Float16 where the compiler has it has the same layout)
    "float16": "uint16_t",
}

# Returned when an update would change a state array's shape, which is fixed
# at compile time (the native codes of codegen/errors.py stay below 100).
STATE_SHAPE = 100

_C_SUFFIX = {errors.INDEX_ERROR: "INDEX", errors.RESHAPE_ERROR: "RESHAPE"}   # else the Python name
STATUS_CODES = ([("THEON_OK", errors.OK, "success")]
                + [(f"THEON_ERR_{_C_SUFFIX.get(code, name)}", code, errors.NAMES[code])
                   for code, name in sorted((v, n) for n, v in vars(errors).items()
                                            if n.isupper() and isinstance(v, int) and v in errors.NAMES)]
                + [("THEON_ERR_STATE_SHAPE", STATE_SHAPE, "an update would change the fixed shape of a state array")])


def status_message(code):
    """The text of a status code (as theon_strerror in the header)."""
    for _, value, text in STATUS_CODES:
        if value == code:
            return text
    return f"unknown error code {code}"


# --- C identifiers ------------------------------------------------------------------------
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while _Bool _Complex _Imaginary bool true false
    alignas alignof and and_eq asm catch class compl constexpr const_cast decltype delete
    dynamic_cast explicit export friend mutable namespace new noexcept not not_eq nullptr
    operator or or_eq private protected public reinterpret_cast static_assert static_cast
    template this thread_local throw try typeid typename using virtual wchar_t xor xor_eq
""".split())

# Names an exported entry must not take: the C library and libm (the object
# links against both), and the names in this header.
C_LIBRARY_NAMES = frozenset("""
    main malloc calloc realloc free memcpy memmove memset memcmp strlen abort exit atexit
    printf fprintf sprintf snprintf puts putchar getchar fopen fclose fread fwrite qsort rand
    srand time clock clock_gettime errno assert signal raise system getenv
    exp exp2 expm1 log log2 log10 log1p pow sqrt cbrt sin cos tan asin acos atan atan2 sinh cosh
    tanh asinh acosh atanh erf erfc tgamma lgamma floor ceil round trunc rint fabs fmod fmin fmax
    fma hypot remainder modf frexp ldexp nan
    int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t size_t theon_strerror
""".split())

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# names a parameter or field must not take: the header uses them as types
_HEADER_TYPES = frozenset(set(C_TYPES.values()) | {"uint16_t", "uint32_t", "uint64_t", "size_t"})


def entry_name_problem(name):
    """Why ``name`` cannot be an exported C function name, or None."""
    if not _IDENT_RE.match(name):
        return "it is not a C identifier (ASCII letters, digits and '_', not starting with a digit)"
    if name in C_KEYWORDS:
        return "it is a C/C++ keyword"
    if name in C_LIBRARY_NAMES:
        return "it would clash with the C library function of that name"
    if name.startswith("theon_") or name.startswith("THEON_"):
        return "names starting with 'theon_' are reserved for theon's own symbols"
    return None


def c_identifier(label, fallback, taken):
    """A C identifier for ``label`` (a user's name, or None), unique in ``taken``
    (a set it is added to): ``label`` sanitized, else ``fallback``."""
    base = re.sub(r"\W", "_", label, flags=re.ASCII) if label else ""
    if (not base or base[0].isdigit() or base in C_KEYWORDS or base in _HEADER_TYPES
            or base.startswith("theon_") or base.startswith("THEON_")):
        base = fallback
    name, k = base, 1
    while name in taken or name in C_KEYWORDS:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


# --- the model -------------------------------------------------------------------------------
class _CTyped:
    """What a C-side array knows of its ``dtype`` and ``shape``."""

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def ctype(self):
        return C_TYPES[self.dtype]

    @property
    def itemsize(self):
        return np.dtype(self.dtype).itemsize


@dataclass
class CArray(_CTyped):
    """An input or output at the C boundary. ``shape`` holds ints (static)
    and None (dynamic); ``dim_names`` the C parameter of each dynamic dim
    (inputs only; None where static)."""
    name: str
    dtype: str
    shape: tuple
    label: str = None                   # the Python-side name, for documentation
    dim_names: tuple = ()
    doc_shape: tuple = None             # outputs: dims as ints, input dim names or None

    def shape_text(self):
        dims = [self.dim_names[d] if (self.dim_names and self.shape[d] is None) else
                ("?" if self.shape[d] is None else str(self.shape[d])) for d in range(self.ndim)]
        return "(" + ", ".join(dims) + ("," if self.ndim == 1 else "") + ")"

    def to_json(self):
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "label": self.label, "dim_names": list(self.dim_names)}

    @classmethod
    def from_json(cls, d):
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d.get("label"), tuple(d["dim_names"]))


@dataclass
class CStateField(_CTyped):
    """One shared variable as a fixed-size field of ``NAME_state``."""
    name: str
    dtype: str
    shape: tuple                        # fixed ints: the value's shape at compile time
    label: str = None                   # the shared variable's name
    initial: object = None              # np.ndarray, or None: zeros (IR sources)
    updated: bool = False
    offset: int = None                  # byte offset in the struct, set for a target

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def c_size(self):
        """Elements of the C field: a dim of size 0 is declared [1] (C has no
        empty arrays)."""
        return int(np.prod([max(d, 1) for d in self.shape], dtype=np.int64)) if self.shape else 1

    def initial_bytes(self):
        """The field's initial value as little/big-endian-native C bytes."""
        if self.initial is None:
            return bytes(self.nbytes)
        arr = np.ascontiguousarray(self.initial, dtype=np.dtype(self.dtype))
        return arr.reshape(self.shape).tobytes(order="C")

    def to_json(self):
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "label": self.label, "updated": self.updated, "offset": self.offset}

    @classmethod
    def from_json(cls, d):
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d.get("label"), None,
                   d["updated"], d["offset"])


@dataclass
class CEntry:
    """Everything the C side of one entry needs. ``updates`` pairs, per
    update value of the IR function (in order), the index of the state field
    it replaces. ``shapes_need_data``: some output shape depends on input
    values, so ``NAME_output_shapes`` takes the entry's inputs and state."""
    name: str
    inputs: list
    outputs: list
    state: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    shapes_need_data: bool = False
    single_output: bool = False
    source: str = ""
    target: str = ""
    zero_state: bool = False            # the source had no values for the state
    state_size: int = 0                 # sizeof(NAME_state) on the target
    state_align: int = 1

    @property
    def state_type(self):
        return f"{self.name}_state"

    @property
    def updates_state(self):
        return bool(self.updates)

    def to_json(self):
        return {"abi": "theon-aot-1", "name": self.name,
                "inputs": [a.to_json() for a in self.inputs],
                "outputs": [a.to_json() for a in self.outputs],
                "state": [f.to_json() for f in self.state],
                "updates": [list(u) for u in self.updates],
                "shapes_need_data": self.shapes_need_data, "single_output": self.single_output,
                "source": self.source, "target": self.target, "zero_state": self.zero_state,
                "state_size": self.state_size, "state_align": self.state_align}

    def metadata_json(self):
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, d):
        if d.get("abi") != "theon-aot-1":
            raise ValueError(f"unknown theon AOT ABI {d.get('abi')!r}")
        return cls(d["name"], [CArray.from_json(a) for a in d["inputs"]],
                   [CArray.from_json(a) for a in d["outputs"]],
                   [CStateField.from_json(f) for f in d["state"]],
                   [tuple(u) for u in d["updates"]], d["shapes_need_data"], d["single_output"],
                   d.get("source", ""), d.get("target", ""), d.get("zero_state", False),
                   d["state_size"], d["state_align"])

    # --- the C parameter lists (shared with aot_wrapper.py) ---------------------------
    def entry_params(self):
        """[(kind, C declaration, object)] of ``NAME(...)`` in order; kind is
        'state', 'input' (array pointer or 0-d value), 'dim' (object: (input
        index, dim)) or 'output'."""
        params = []
        if self.state:
            const = "" if self.updates_state else "const "
            params.append(("state", f"{const}{self.state_type} *state", None))
        params.extend(self._input_params())
        for out in self.outputs:
            params.append(("output", f"{out.ctype} *{out.name}", out))
        return params

    def shape_params(self):
        """[(kind, C declaration, object)] of ``NAME_output_shapes(...)``:
        the dynamic dims (or, when shapes need data, the state and inputs),
        then an ``int64_t *<output>_shape`` per output that is not 0-d."""
        if self.shapes_need_data:
            params = []
            if self.state:
                params.append(("state", f"const {self.state_type} *state", None))
            params.extend(self._input_params())
        else:
            params = [p for p in self._input_params() if p[0] == "dim"]
        for k, out in enumerate(self.outputs):
            if out.ndim:
                params.append(("shape", f"int64_t *{out.name}_shape", k))
        return params

    def _input_params(self):
        params = []
        for k, a in enumerate(self.inputs):
            if a.ndim == 0:
                params.append(("input", f"{a.ctype} {a.name}", a))
                continue
            params.append(("input", f"const {a.ctype} *{a.name}", a))
            for d, size in enumerate(a.shape):
                if size is None:
                    params.append(("dim", f"int64_t {a.dim_names[d]}", (k, d)))
        return params


# --- the header ----------------------------------------------------------------------------------
_INLINE_VALUES = 16     # initial values of up to this many elements are listed in the header


def _comment(text):
    return text.replace("*/", "* /")


def _c_value(x, dtype):
    if dtype in ("float16", "float32", "float64"):
        x = float(x)
        if np.isnan(x):
            return "nan"
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    return str(int(x))


def _initial_text(f, zero_state):
    if zero_state or f.initial is None:
        return "zeros (the IR source has no values)" if zero_state else "zeros"
    flat = np.asarray(f.initial).reshape(-1)
    if flat.size <= _INLINE_VALUES:
        values = ", ".join(_c_value(x, f.dtype) for x in flat)
        return "{" + values + "}" if f.ndim else values
    return f"{flat.size} values, in {f.name}.o's read-only data"


def _shape_tuple(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _doc_shape(a):
    dims = a.doc_shape if a.doc_shape is not None else a.shape
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _array_decl(f):
    dims = "".join(f"[{max(d, 1)}]" for d in f.shape)
    return f"{f.ctype} {f.name}{dims};"


def _declare(ret, name, params):
    decls = [p[1] for p in params] or ["void"]
    head = f"{ret} {name}("
    lines, line = [], head
    for k, d in enumerate(decls):
        piece = d + ("," if k < len(decls) - 1 else ");")
        if len(line) + len(piece) + 1 > 96 and line != head:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece + " "
    lines.append(line.rstrip())
    return lines


def _status_block():
    lines = ["#ifndef THEON_AOT_STATUS_CODES", "#define THEON_AOT_STATUS_CODES",
             "/* Status codes returned by every theon AOT function (0: success). */"]
    width = max(len(n) for n, _, _ in STATUS_CODES)
    for name, value, text in STATUS_CODES:
        lines.append(f"#define {name.ljust(width)} {value:>3}  /* {text} */")
    lines += ["", "/* A short description of a status code. */",
              "static inline const char *theon_strerror(int code) {",
              "    switch (code) {"]
    for name, _, text in STATUS_CODES:
        lines.append(f"    case {name}: return \"{text}\";")
    lines += ["    default: return \"unknown theon error code\";", "    }", "}", "#endif", ""]
    return lines


def _guard(name):
    return "THEON_AOT_" + re.sub(r"\W", "_", name).upper() + "_H"


def _has_float16(entry):
    return any(a.dtype == "float16" for a in (*entry.inputs, *entry.outputs, *entry.state))


def render_header(entry, object_name=None):
    """The text of ``NAME.h`` for ``entry`` (a CEntry with its state layout set)."""
    n = entry.name
    obj = object_name or f"{n}.o"
    out = [f"/* {n}.h -- the C interface of the theon entry `{n}`.",
           " *",
           _comment(f" * Generated by theon's aot-compile from {entry.source or 'a theon function'}"
                    f" for the target {entry.target or 'host'}; do not edit."),
           f" * Link it:  cc main.c {obj} -lm      (no Python, no theon library)",
           " *",
           " * Conventions: arrays are C-contiguous (row-major), dims are int64_t, 0-d",
           " * inputs are passed by value; static dims are fixed below and are not parameters.",
           " * Outputs go into caller-provided buffers with room for the shapes",
           f" * {n}_output_shapes reports. Every function returns THEON_OK (0) or an error",
           " * code, and on error writes no output and changes no state. A call is",
           " * reentrant; calls sharing one state struct must not run concurrently.",
           *([" * float16 values (arrays and 0-d inputs) are uint16_t holding the IEEE",
              " * binary16 bit pattern (the layout of _Float16 / numpy.float16)."]
             if _has_float16(entry) else []),
           " */",
           f"#ifndef {_guard(n)}", f"#define {_guard(n)}", "",
           "#include <stdint.h>", "",
           "#ifdef __cplusplus", "extern \"C\" {", "#endif", ""]
    out += _status_block()
    if entry.state:
        out += _state_block(entry)
    out += _entry_block(entry)
    out += _shapes_block(entry)
    out += [f"/* A JSON description of this interface (theon.runtime.load_library reads it). */",
            f"const char *{n}_metadata(void);", "",
            "#ifdef __cplusplus", "}  /* extern \"C\" */", "#endif", "",
            f"#endif  /* {_guard(n)} */", ""]
    return "\n".join(out)


def _state_block(entry):
    n, t = entry.name, entry.state_type
    lines = [f"/* The shared state of `{n}`: one fixed-size array per shared variable, its",
             " * shape fixed to the variable's shape when the entry was compiled."]
    if entry.updates_state:
        lines.append(f" * {n} replaces the fields marked `updated` after each successful call,")
        lines.append(" * all at once (as the Python call updates its shared variables).")
    lines.append(" */")
    lines.append(f"typedef struct {t} {{")
    for f in entry.state:
        what = _comment(f"shared variable '{f.label or f.name}', {f.dtype}, shape {_shape_tuple(f.shape)}"
                        f"{', updated' if f.updated else ', read only'}; initial: "
                        f"{_initial_text(f, entry.zero_state)}")
        lines.append(f"    {_array_decl(f)}  /* {what} */")
    lines.append(f"}} {t};")
    lines.append(f"/* Fails to compile if this compiler lays the struct out unlike the target's ABI. */")
    lines.append(f"typedef char {t}_layout_matches_target[sizeof({t}) == {entry.state_size} ? 1 : -1];")
    lines.append("")
    source = ("zeros (the IR source holds no values)" if entry.zero_state
              else f"the initial values baked into {n}.o")
    lines.append(f"/* Fill *state with {source}. */")
    lines.append(f"void {n}_state_init({t} *state);")
    lines.append("")
    return lines


def _entry_block(entry):
    n = entry.name
    lines = [f"/* Run `{n}`."]
    for k, a in enumerate(entry.inputs):
        head = "inputs: " if k == 0 else "        "
        kind = "by value" if a.ndim == 0 else f"shape {a.shape_text()}"
        lines.append(_comment(f" *   {head}{a.name}: {a.dtype} {kind}"
                              + (f" (input '{a.label}')" if a.label and a.label != a.name else "")))
    for k, a in enumerate(entry.outputs):
        head = "outputs: " if k == 0 else "         "
        shape = "one element" if a.ndim == 0 else f"shape {_doc_shape(a)}"
        lines.append(_comment(f" *   {head}{a.name}: {a.dtype}, {shape}"))
    if entry.state:
        reads = ", ".join(f.name for f in entry.state)
        lines.append(f" *   state:   reads {reads}")
        if entry.updates_state:
            lines.append(" *            updates " + ", ".join(f.name for f in entry.state if f.updated)
                         + " (only after success)")
    if not entry.inputs and not entry.outputs and not entry.state:
        lines.append(" *   (no inputs, outputs or state)")
    lines.append(" */")
    lines += _declare("int", n, entry.entry_params())
    lines.append("")
    return lines


def _shapes_block(entry):
    n = entry.name
    if entry.shapes_need_data:
        lines = [f"/* The output shapes of `{n}` for these inputs. Some output shape depends on",
                 " * input values (not only on dims), so this takes the same arguments as the",
                 " * entry (at most about the cost of a call; it writes only the shapes)."]
    else:
        lines = [f"/* The output shapes of `{n}` for these input dims. The shapes depend only on",
                 " * dims: no input data is read and no elementwise work is done. It checks the",
                 " * dims too: an error code here (e.g. THEON_ERR_SHAPE_MISMATCH) is what the",
                 " * entry would return."]
    for out in entry.outputs:
        if out.ndim:
            lines.append(f" *   {out.name}_shape: {out.ndim} int64_t, gets {_doc_shape(out)}")
    if not any(o.ndim for o in entry.outputs):
        lines.append(" *   (every output is 0-d: this only checks the dims)")
    lines.append(" */")
    lines += _declare("int", f"{n}_output_shapes", entry.shape_params())
    lines.append("")
    return lines
