"""The IR's text form (MLIR-like). ``ir/parser.py`` reads it back, and
``parse(print(m))`` prints identically.

Grammar (``//`` starts a comment that runs to the end of the line)::

    module    := func*
    func      := 'func' '@' NAME '(' [arg (',' arg)*] ')' '{' op* '}'
    arg       := VALUE ':' type [attrs]
    op        := [VALUE (',' VALUE)* '='] OPNAME '(' [VALUE (',' VALUE)*] ')'
                 [regions] [attrs] [':' type (',' type)*]
    regions   := '(' region (',' region)* ')'
    region    := '{' '^bb' '(' [VALUE ':' type (',' VALUE ':' type)*] ')' ':' op* '}'
    attrs     := '{' KEY '=' attr (',' KEY '=' attr)* '}'          keys sorted
    attr      := INT | FLOAT | 'true' | 'false' | 'none' | '?' | STRING
               | '[' [attr (',' attr)*] ']' | 'dense' '<' elems '>' [':' type]
    type      := 'tensor' '<' (DIM 'x')* DTYPE '>'         DIM is an int or '?'

* ``VALUE`` is ``%name`` when the Value's ``.name`` is an identifier
  (``[A-Za-z_][A-Za-z0-9_.]*``) that no other value of the function carries,
  else ``%N``, numbered in the order the text shows the values (arguments,
  then each op's results before its regions). One namespace covers a
  function and the regions inside it.
* ``NAME`` (a function) is an identifier or a quoted string.
* Floats print as Python's ``repr`` (``1.0``, ``1e-05``, ``inf``, ``-inf``,
  ``nan``, ``-0.0``), so they always read back as floats, bit for bit.
  Strings print as JSON strings. ``?`` is ``DYN``. Tuples print as lists.
* ``dense<...>`` (a numpy array) holds the nested lists of its elements
  (0-d: the bare element; bool: true/false). Its dtype and shape are the
  op's single result type (``constant``); when they differ from it, the
  array's own type follows: ``dense<[1, 2]> : tensor<2xi64>``. float32
  elements print as their shortest float32 repr when that reads back
  exactly, else as the float64 repr of the exact value; a NaN whose bits are
  not the dtype's default quiet NaN prints as its hex bit pattern
  (``0x7FC00001``), which the parser reinterprets for float dtypes.
* Operations with regions (``fused``, any op whose class declares
  ``num_regions``) print each region as one block, generically::

      %r = fused(%a) ({
        ^bb(%x: tensor<f32>):
          %0 = exp(%x) : tensor<f32>
          yield(%0)
      }) {attr = 1} : tensor<?xf32>

  The block label is always ``^bb`` with a (possibly empty) argument list.
  Region bodies are isolated from above: they use only their block
  arguments and their own values (the verifier rejects anything else).
"""
import json
import re

import numpy as np

from .core import DYN, is_splat
from .location import SourceLoc
from .types import TensorType

INDENT = "  "
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")

_CANONICAL_NAN_BITS = {
    np.dtype("float16"): np.array(np.nan, np.float16).view(np.uint16).item(),
    np.dtype("float32"): np.array(np.nan, np.float32).view(np.uint32).item(),
    np.dtype("float64"): np.array(np.nan, np.float64).view(np.uint64).item(),
}
_BITS_VIEW = {np.dtype("float16"): (np.uint16, 4), np.dtype("float32"): (np.uint32, 8), np.dtype("float64"): (np.uint64, 16)}


def print_module(module):
    """The text of every function of ``module``, separated by blank lines."""
    return "\n".join(print_function(f) for f in module.functions)


def print_function(func, locations=False):
    """The text of one function, ending with a newline; with
    ``locations``, each op built by user code ends in ``loc("file":line)``."""
    names = _Namer(func)
    args = ", ".join(_format_arg(names, v, attrs) for v, attrs in zip(func.args, func.arg_attrs))
    lines = [f"func @{format_symbol(func.name)}({args}) {{"]
    for op in func.body.ops:
        lines.append(_format_op(names, op, INDENT, locations))
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_op(op, func=None):
    """One operation's line (names taken from ``func`` when given)."""
    return _format_op(_Namer(func), op, "")


def format_symbol(name):
    return name if IDENT_RE.match(name) else json.dumps(name)


# --- value names ---------------------------------------------------------------
def _function_values(func):
    """Every value a function defines, in the order the text shows them."""
    yield from func.args
    for op in func.body.ops:
        yield from _op_values(op)


def _op_values(op):
    """Results first, then the regions: the order the text shows them."""
    yield from op.results
    for region in op.regions:
        yield from region.args
        for inner in region.ops:
            yield from _op_values(inner)


class _Namer:
    """Assigns each value its text name: its own name when that is a unique
    identifier, else the next number."""

    def __init__(self, func=None):
        values = list(_function_values(func)) if func is not None else []
        self.names = {}         # id(value) -> text
        self.keep = values      # the values named, so their ids stay unique
        self.next_number = 0
        counts = {}
        for v in values:
            if v.name is not None and IDENT_RE.match(str(v.name)):
                counts[v.name] = counts.get(v.name, 0) + 1
        for v in values:
            if counts.get(v.name) == 1:
                self.names[id(v)] = f"%{v.name}"
            else:
                self._number(v)

    def _number(self, v):
        self.names[id(v)] = f"%{self.next_number}"
        self.next_number += 1

    def __getitem__(self, v):
        # Values the function does not define (broken IR) get a number on
        # first sight, so the text still shows which value is meant.
        if id(v) not in self.names:
            self.keep.append(v)
            self._number(v)
        return self.names[id(v)]


def drop_clashing_names(func):
    """Clear the name of every non-argument value whose name the printer
    would replace by a number (shared with another value, or not an
    identifier), so that the function prints the same before and after a
    print/parse round trip that gives the arguments their names back
    (``runtime/cache.optimize_cached``): a name shared with an argument
    would otherwise move the numbering, and with it every key hashed from
    the text. Argument names stay (they are the user's)."""
    values = list(_function_values(func))
    counts = {}
    for v in values:
        if v.name is not None and IDENT_RE.match(str(v.name)):
            counts[v.name] = counts.get(v.name, 0) + 1
    args = {id(a) for a in func.args}
    for v in values:
        if id(v) not in args and v.name is not None and counts.get(v.name) != 1:
            v.name = None
    return func


# --- operations ------------------------------------------------------------------
def _format_arg(names, v, attrs):
    text = f"{names[v]}: {v.type}"
    if attrs:
        text += " " + format_attr_dict(attrs)
    return text


def _format_op(names, op, indent, locations=False):
    head = ""
    if op.results:
        head = ", ".join(names[r] for r in op.results) + " = "
    text = f"{indent}{head}{op.name}({', '.join(names[v] for v in op.operands)})"
    if op.regions:
        text += " (" + ", ".join(_format_region(names, r, indent, locations) for r in op.regions) + ")"
    if op.attrs:
        text += " " + format_attr_dict(op.attrs, op)
    if op.results:
        text += " : " + ", ".join(str(r.type) for r in op.results)
    if locations and isinstance(op.loc, SourceLoc):
        text += f" loc({json.dumps(op.loc.filename)}:{op.loc.line})"
    return text


def _format_region(names, block, indent, locations=False):
    args = ", ".join(f"{names[v]}: {v.type}" for v in block.args)
    lines = ["{", f"{indent}{INDENT}^bb({args}):"]
    for op in block.ops:
        lines.append(_format_op(names, op, indent + INDENT * 2, locations))
    lines.append(indent + "}")
    return "\n".join(lines)


# --- attributes --------------------------------------------------------------------
def format_attr_dict(attrs, op=None):
    items = []
    for key in sorted(attrs):
        k = key if IDENT_RE.match(key) else json.dumps(key)
        items.append(f"{k} = {format_attr(attrs[key], op, key)}")
    return "{" + ", ".join(items) + "}"


def attr_kind(value):
    """The kind of an attribute value, which each text form (this printer,
    ``ir/mlir.py``) maps to its own syntax: 'dyn', 'none', 'bool', 'int',
    'float', 'str', 'dtype', 'list' or 'array'; None if unsupported."""
    if value is DYN:
        return "dyn"
    if value is None:
        return "none"
    for kind, types in _ATTR_TYPES:
        if isinstance(value, types):
            return kind
    return None


_ATTR_TYPES = (("bool", (bool, np.bool_)), ("int", (int, np.integer)), ("float", (float, np.floating)),
               ("str", str), ("dtype", np.dtype), ("list", (tuple, list)), ("array", np.ndarray))

SCALAR_TEXT = {
    "dyn": lambda v: "?",
    "none": lambda v: "none",
    "bool": lambda v: "true" if v else "false",
    "int": lambda v: str(int(v)),
    "float": lambda v: repr(float(v)),
    "str": json.dumps,
    "dtype": lambda v: json.dumps(v.name),
}


def format_attr(value, op=None, key="?"):
    """Text of one attribute value; ``op`` gives dense arrays their type."""
    kind = attr_kind(value)
    if kind == "list":
        return "[" + ", ".join(format_attr(v, op, key) for v in value) + "]"
    if kind == "array":
        return _format_dense(value, op)
    if kind in SCALAR_TEXT:
        return SCALAR_TEXT[kind](value)
    where = f" of {op.name}" if op is not None else ""
    raise TypeError(f"attribute {key!r}{where} has a value of unsupported type "
                    f"{type(value).__name__}: {value!r}")


def _format_dense(array, op):
    if is_splat(array):            # one element: printed as such, never expanded
        text = "dense<" + _element_formatter(array.dtype)(array.reshape(-1)[0]) + ">"
    else:
        text = "dense<" + format_dense_elements(array) + ">"
    own = TensorType(str(array.dtype), array.shape)
    if op is None or len(op.results) != 1 or op.results[0].type != own:
        text += f" : {own}"
    return text


def format_dense_elements(array):
    fmt = _element_formatter(array.dtype)
    return nested_elements(array, fmt)


def nested_elements(array, fmt):
    """Nested ``[...]`` lists of ``fmt(element)`` (0-d: the bare element)."""
    if array.ndim == 0:
        return fmt(array[()])
    if array.ndim == 1:
        return "[" + ", ".join(fmt(x) for x in array) + "]"
    return "[" + ", ".join(nested_elements(sub, fmt) for sub in array) + "]"


def _element_formatter(dtype):
    if dtype == np.bool_:
        return lambda x: "true" if x else "false"
    if dtype.kind in "iu":
        return lambda x: str(int(x))
    if dtype == np.float32:
        return _format_f32
    if dtype == np.float16:
        return _format_f16
    if dtype == np.float64:
        return _format_f64
    raise TypeError(f"dense arrays of dtype {dtype} are not supported")


def _nan_bits(x, dtype):
    """Hex bit pattern of a NaN that is not the default one, else None."""
    if not np.isnan(x):
        return None
    view, digits = _BITS_VIEW[dtype]
    bits = np.array(x, dtype).view(view).item()
    if bits == _CANONICAL_NAN_BITS[dtype]:
        return None
    return f"0x{bits:0{digits}X}"


def _format_f64(x):
    return _nan_bits(x, np.dtype("float64")) or repr(float(x))


def _format_f32(x):
    return _format_short(x, np.float32)


def _format_f16(x):
    return _format_short(x, np.float16)


def _format_short(x, scalar):
    """A float32/float16 element: its shortest repr in its own dtype when
    that reads back exactly, else the float64 repr of its exact value."""
    hex_bits = _nan_bits(x, np.dtype(scalar))
    if hex_bits:
        return hex_bits
    x = scalar(x)
    short = str(x)
    if np.isnan(x):
        return short
    back = scalar(float(short))
    if back == x and np.signbit(back) == np.signbit(x):
        return short
    return repr(float(x))
