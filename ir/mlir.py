"""Export to MLIR's generic form (``theon-opt --emit=mlir``).

The output uses only MLIR's builtin types and attributes and the ``func``
dialect, so LLVM's ``mlir-opt --allow-unregistered-dialect`` parses it
(the attribute dictionary of ``func.func`` is on one line)::

    "builtin.module"() ({
      "func.func"() ({
      ^bb0(%arg0: tensor<?x3xf32>, %arg1: tensor<3xf32>):
        %0 = "theon.add"(%arg0, %arg1) : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
        "func.return"(%0) : (tensor<?x3xf32>) -> ()
      }) {arg_attrs = [{}, {theon.shared = "w"}],
          function_type = (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>, sym_name = "f"} : () -> ()
    }) : () -> ()

Mapping: each op is ``"theon.<name>"`` with its attributes; a dense
constant is ``dense<...> : tensor<...>``; ``?`` in an attribute list (a
dynamic operand) is the string ``"?"``, ``none`` is ``unit``; floats that
MLIR has no decimal for (inf, nan) are hex bit patterns; ``u8`` is ``ui8``.
A shared argument carries ``{theon.shared = "<name>"}``; the return of a
function with updates carries ``{theon.updates = [...]}``.
"""
import numpy as np

from .printer import SCALAR_TEXT, attr_kind, nested_elements
from .types import TensorType

INDENT = "  "
_ELEMENT_TYPES = {"bool": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
                  "uint8": "ui8", "uint16": "ui16", "uint32": "ui32", "uint64": "ui64", "float16": "f16",
                  "float32": "f32", "float64": "f64"}
_BITS = {np.dtype("float16"): (np.uint16, 4), np.dtype("float32"): (np.uint32, 8),
         np.dtype("float64"): (np.uint64, 16)}


def module_to_mlir(module):
    """The whole module as one ``builtin.module`` in generic form."""
    lines = ['"builtin.module"() ({']
    for func in module.functions:
        lines += function_lines(func, INDENT)
    lines.append("}) : () -> ()")
    return "\n".join(lines) + "\n"


def function_to_mlir(func):
    """One function as a ``func.func`` op in generic form."""
    return "\n".join(function_lines(func, "")) + "\n"


def mlir_type(t):
    dims = "".join(("?" if d is None else str(d)) + "x" for d in t.shape)
    return f"tensor<{dims}{_ELEMENT_TYPES[t.dtype]}>"


def function_lines(func, indent):
    names = _Names()
    args = ", ".join(f"{names.arg(a)}: {mlir_type(a.type)}" for a in func.args)
    lines = [f'{indent}"func.func"() ({{', f"{indent}^bb0({args}):"]
    for op in func.body.ops:
        lines += _op_lines(op, names, indent + INDENT)
    ret = func.return_op
    attrs = {"function_type": _function_type([a.type for a in func.args],
                                             [v.type for v in ret.operands]),
             "sym_name": _string(func.name)}
    if any(func.arg_attrs):
        attrs["arg_attrs"] = "[" + ", ".join(_arg_attrs(a) for a in func.arg_attrs) + "]"
    lines.append(f"{indent}}}) {_dict(attrs)} : () -> ()")
    return lines


def _op_lines(op, names, indent):
    operands = ", ".join(names[v] for v in op.operands)
    sig = _function_type([v.type for v in op.operands], [r.type for r in op.results])
    head = ""
    if op.results:
        head = names.results(op) + " = "
    if op.name == "return":
        attrs = {}
        if op.attrs.get("updates"):
            attrs["theon.updates"] = attr(op.attrs["updates"])
        text = f'{indent}"func.return"({operands})'
        return [text + (f" {_dict(attrs)}" if attrs else "") + f" : {sig}"]
    attrs = {k: attr(v) for k, v in op.attrs.items()}
    text = f'{indent}{head}"theon.{op.name}"({operands})'
    if not op.regions:
        return [text + (f" {_dict(attrs)}" if attrs else "") + f" : {sig}"]
    lines = [text + " ("]
    for i, region in enumerate(op.regions):
        args = ", ".join(f"{names.arg(a, region=True)}: {mlir_type(a.type)}" for a in region.args)
        lines.append(f"{indent}{{")
        lines.append(f"{indent}^bb0({args}):")
        for inner in region.ops:
            lines += _op_lines(inner, names, indent + INDENT)
        lines.append(f"{indent}}}" + ("," if i < len(op.regions) - 1 else ""))
    lines.append(f"{indent}){(' ' + _dict(attrs)) if attrs else ''} : {sig}")
    return lines


class _Names:
    def __init__(self):
        self.names = {}
        self.next_value = 0
        self.next_arg = 0

    def arg(self, v, region=False):
        prefix = "%r" if region else "%arg"
        self.names[id(v)] = f"{prefix}{self.next_arg}"
        self.next_arg += 1
        return self.names[id(v)]

    def results(self, op):
        base = f"%{self.next_value}"
        self.next_value += 1
        if len(op.results) == 1:
            self.names[id(op.results[0])] = base
            return base
        for i, r in enumerate(op.results):
            self.names[id(r)] = f"{base}#{i}"
        return f"{base}:{len(op.results)}"

    def __getitem__(self, v):
        try:
            return self.names[id(v)]
        except KeyError:
            raise ValueError(f"value {v!r} is used before its definition") from None


def _function_type(inputs, outputs):
    ins = "(" + ", ".join(mlir_type(t) for t in inputs) + ")"
    if len(outputs) == 1:
        return f"{ins} -> {mlir_type(outputs[0])}"
    return f"{ins} -> (" + ", ".join(mlir_type(t) for t in outputs) + ")"


def _arg_attrs(attrs):
    return _dict({f"theon.{k}": attr(v) for k, v in sorted(attrs.items())})


def _dict(attrs):
    return "{" + ", ".join(f"{k} = {v}" for k, v in sorted(attrs.items())) + "}"


# --- attributes ----------------------------------------------------------------------------
_SCALAR_TEXT = {**{k: f for k, f in SCALAR_TEXT.items() if k in ("bool", "int")},
                "dyn": lambda v: '"?"', "none": lambda v: "unit", "str": lambda v: _string(v),
                "float": lambda v: _float(float(v), np.dtype("float64"))}


def attr(value):
    """MLIR text of one theon attribute value."""
    kind = attr_kind(value)
    if kind == "list":
        return "[" + ", ".join(attr(v) for v in value) + "]"
    if kind == "array":
        return _dense(value)
    if kind in _SCALAR_TEXT:
        return _SCALAR_TEXT[kind](value)
    raise TypeError(f"no MLIR form for attribute value {value!r}")


def _string(s):
    out = []
    for byte in s.encode("utf-8"):
        ch = chr(byte)
        if 32 <= byte < 127 and ch not in '"\\':
            out.append(ch)
        else:
            out.append(f"\\{byte:02X}")
    return '"' + "".join(out) + '"'


def _float(x, dtype):
    if not np.isfinite(x):
        view, digits = _BITS[dtype]
        bits = np.array(x, dtype).view(view).item()
        return f"0x{bits:0{digits}X}"
    text = repr(float(x))
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + (e + exponent if e else "")


def _dense(array):
    body = _elements(array) if array.size else ""
    return f"dense<{body}> : {mlir_type(TensorType(str(array.dtype), array.shape))}"


def _elements(array):
    if array.dtype == np.bool_:
        fmt = lambda x: "true" if x else "false"  # noqa: E731
    elif array.dtype.kind in "iu":
        fmt = lambda x: str(int(x))  # noqa: E731
    else:
        fmt = lambda x: _float(x, array.dtype)  # noqa: E731
    return nested_elements(array, fmt)
