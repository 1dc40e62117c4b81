"""Graphviz text of IR functions (``theon-opt --emit=dot``, ``pydotprint``).

Arguments are ellipses (shared variables filled yellow), ops are boxes that
show the op name and its attributes (large constants elided), edges carry
the value's type, and the returned values end in filled ellipses: blue
``output N`` for outputs, pink ``update <shared name>`` for update values.
"""
from .printer import format_attr

MAX_ATTR_CHARS = 40
MAX_DENSE_ELEMENTS = 8


def function_to_dot(func, edge_label=None):
    """A ``digraph`` of one function; ``edge_label(value)`` gives the text
    of each edge (default: the value's type)."""
    lines = [f"digraph {_quote(func.name)} {{", "  rankdir=TB;",
             '  node [fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];']
    lines += _body(func, "", "  ", edge_label)
    lines.append("}")
    return "\n".join(lines) + "\n"


def module_to_dot(module, name="module"):
    """One ``digraph`` with a cluster per function."""
    lines = [f"digraph {_quote(name)} {{", "  rankdir=TB;",
             '  node [fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];']
    for i, func in enumerate(module.functions):
        lines.append(f"  subgraph {_quote(f'cluster_{i}')} {{")
        lines.append(f"    label={_quote('@' + func.name)};")
        lines += _body(func, f"f{i}_", "    ")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _body(func, prefix, indent, edge_label=None):
    lines = []
    source = {}             # id(value) -> (node id, label prefix)
    for i, (arg, attrs) in enumerate(zip(func.args, func.arg_attrs)):
        node = f"{prefix}arg{i}"
        name = arg.name or f"arg{i}"
        if "shared" in attrs:
            label = f"{name} (shared {attrs['shared']})"
            lines.append(f"{indent}{_quote(node)} [shape=ellipse, style=filled, fillcolor=lightyellow, "
                         f"label={_quote(label)}];")
        else:
            lines.append(f"{indent}{_quote(node)} [shape=ellipse, label={_quote(name)}];")
        source[id(arg)] = node
    for i, op in enumerate(func.body.ops):
        node = f"{prefix}op{i}"
        for r in op.results:
            source[id(r)] = node
        if op.name == "return":
            lines += _returns(func, op, prefix, indent, source, edge_label)
            continue
        lines.append(f"{indent}{_quote(node)} [shape=box, label={_quote(_op_label(op))}];")
        lines += _edges(op, node, indent, source, edge_label)
    return lines


def _returns(func, op, prefix, indent, source, edge_label=None):
    lines = []
    n_out = len(op.operands) - len(op.attrs.get("updates", ()))
    targets = op.attrs.get("updates", ())
    for j, v in enumerate(op.operands):
        node = f"{prefix}out{j}"
        if j < n_out:
            label, color = f"output {j}", "lightblue"
        else:
            t = targets[j - n_out]
            shared = func.arg_attrs[t].get("shared", f"arg{t}") if 0 <= t < len(func.args) else f"arg{t}"
            label, color = f"update {shared}", "pink"
        lines.append(f"{indent}{_quote(node)} [shape=ellipse, style=filled, fillcolor={color}, "
                     f"label={_quote(label)}];")
        lines.append(_edge(v, node, indent, source, None, edge_label))
    return lines


def _edges(op, node, indent, source, edge_label=None):
    return [_edge(v, node, indent, source, j if len(op.operands) > 1 else None, edge_label)
            for j, v in enumerate(op.operands)]


def _edge(v, node, indent, source, operand=None, edge_label=None):
    src = source.get(id(v), "undefined")
    label = str(v.type) if edge_label is None else edge_label(v)
    if v.owner is not None and len(v.owner.results) > 1:
        label = f"#{v.index} {label}"
    if operand is not None:
        label = f"{operand}: {label}"
    return f"{indent}{_quote(src)} -> {_quote(node)} [label={_quote(label)}];"


def _op_label(op):
    lines = [op.name]
    for key in sorted(op.attrs):
        value = op.attrs[key]
        if hasattr(value, "shape") and value.size > MAX_DENSE_ELEMENTS:
            text = f"dense<{'x'.join(map(str, value.shape))}x{value.dtype}>"
        else:
            text = format_attr(value, op, key)
        if len(text) > MAX_ATTR_CHARS:
            text = text[:MAX_ATTR_CHARS - 3] + "..."
        lines.append(f"{key}={text}")
    for r, region in enumerate(op.regions):
        lines.append(f"region {r}: {len(region.ops)} ops")
    return "\n".join(lines)


def _quote(text):
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'
