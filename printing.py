"""``theon.printing``: look at graphs and compiled functions.

    debugprint(var_or_function, file=None)       indented text tree
    pydotprint(var_or_function, outfile='graph.png')   Graphviz picture
    dump(f, stage)                               a compiled function's text at
                                                 'input', 'optimized', 'llvm',
                                                 'asm' (or 'ptx', later)
"""
import os
import shutil
import subprocess
import sys

import numpy as np

from .ir.core import Function as IRFunction
from .ir.core import Value

STAGES = ("input", "optimized", "llvm", "asm", "ptx")
PICTURE_FORMATS = ("png", "svg", "pdf")


# --- what to print ----------------------------------------------------------------
def _compiled(obj):
    """The runtime Function behind ``obj``, or None."""
    from .runtime.function import Function
    return obj if isinstance(obj, Function) else None


def _roots(obj):
    """(root values, per-root note, IR function or None) for anything printable."""
    compiled = _compiled(obj)
    if compiled is None and isinstance(getattr(obj, "func", None), IRFunction):
        obj = obj.func                  # f.maker.fgraph (frontend/compiled.py FunctionGraph)
    func = compiled.ir if compiled is not None else obj if isinstance(obj, IRFunction) else None
    if func is not None:
        ret = func.return_op
        n_out = func.num_outputs
        notes = [f"output {k}" for k in range(n_out)]
        notes += [f"update of {func.arg_attrs[t].get('shared', t)!r}" for t in ret.attrs.get("updates", ())]
        return list(ret.operands), notes, func
    values = [obj] if isinstance(obj, Value) else list(obj) if isinstance(obj, (list, tuple)) else None
    if values is None or not all(isinstance(v, Value) for v in values):
        raise TypeError(f"expected a variable, a list of variables or a compiled theon function, "
                        f"got {type(obj).__name__}")
    return values, [None] * len(values), None


# --- debugprint ----------------------------------------------------------------------
def _id_text(n):
    """Theano-style ids: A..Z, BA, BB, ..."""
    digits = []
    while True:
        n, r = divmod(n, 26)
        digits.append(chr(ord("A") + r))
        if n == 0:
            return "".join(reversed(digits))


def _attr_text(op):
    if op.name == "constant":
        value = op.attrs["value"]
        if value.size <= 8:
            return "{" + repr(value.tolist()) + "}"
        return "{" + f"shape={value.shape}" + "}"
    from .ir.ops.fused import SCHEDULE_ATTRS      # they schedule code: not shown
    shown = sorted((k, v) for k, v in op.attrs.items() if k not in SCHEDULE_ATTRS)
    if not shown:
        return ""
    return "{" + ", ".join(f"{k}={v}" for k, v in shown) + "}"


IDS = ("CHAR", "id", "int", "")


class _TreePrinter:
    def __init__(self, func, print_type=False, ids="CHAR", depth=-1, stop_on_name=False, used_ids=None):
        if ids not in IDS:
            raise ValueError(f"debugprint: ids must be one of {IDS}, got {ids!r}")
        self.func = func
        self.ids = used_ids if used_ids is not None else {}
        self.lines = []
        self.print_type = print_type
        self.id_kind = ids
        self.depth = depth
        self.stop_on_name = stop_on_name

    def _ident(self, v):
        if v not in self.ids:
            n = len(self.ids)
            self.ids[v] = (_id_text(n) if self.id_kind == "CHAR" else str(n) if self.id_kind == "int"
                           else str(id(v)) if self.id_kind == "id" else "")
        return self.ids[v]

    def _label(self, v):
        shown = v in self.ids
        ident = self._ident(v)
        tail = f" [id {ident}]" if self.id_kind else ""
        if self.print_type:
            tail += f" <{v.type}>"
        if v.owner is None:
            name, shared = v.name, getattr(v, "is_shared", False)
            if self.func is not None and v.index < len(self.func.args) and self.func.args[v.index] is v:
                attrs = self.func.arg_attrs[v.index]
                shared = "shared" in attrs
                name = attrs.get("shared", name)
            mark = " (shared)" if shared else ""
            return f"{name or 'input'}{tail}{mark}", True
        name = f" '{v.name}'" if v.name else ""
        op = v.owner
        which = f".{v.index}" if len(op.results) > 1 else ""
        label = op.name
        if op.name == "fused":
            from .ir.ops.fused import summary
            label = summary(op)
        return f"{label}{which}{_attr_text(op)}{tail}{name}", shown

    def print_tree(self, root, note):
        stack = [(root, "", note, 0)]
        while stack:
            v, prefix, note, level = stack.pop()
            label, shown = self._label(v)
            suffix = f"   ({note})" if note else ""
            self.lines.append(f"{prefix}{label}{' ...' if shown and v.owner is not None else ''}{suffix}")
            if shown or v.owner is None:
                continue
            if self.depth >= 0 and level + 1 >= self.depth:
                continue
            if self.stop_on_name and level > 0 and v.name:
                continue
            child_prefix = prefix + " |"
            for o in reversed(v.owner.operands):
                stack.append((o, child_prefix, None, level + 1))


def debugprint(obj, depth=-1, print_type=False, file=None, ids="CHAR", stop_on_name=False, done=None,
               print_storage=False, print_clients=False, used_ids=None):
    """Print the graph of a variable (or list of them) or of a compiled
    function as an indented tree, as Theano's debugprint: op name and
    attributes, a [id X] per value (a value printed before shows its id and
    '...'), the value's name; graph inputs print by name (or 'input'),
    shared variables with '(shared)'.

    depth:        levels to print (-1: all)
    print_type:   also print each value's type
    file:         None (stdout), a writable file, or 'str' to get the text back
    ids:          'CHAR' (A, B, ...), 'int', 'id' (Python ids) or '' (none)
    stop_on_name: do not expand named values below the roots
    done, used_ids: a dict shared between calls keeps ids consistent
    print_storage, print_clients: accepted (theon has nothing to add)
    """
    if isinstance(depth, str) and file is None:         # debugprint(x, 'str')
        depth, file = -1, depth
    roots, notes, func = _roots(obj)
    printer = _TreePrinter(func, print_type=print_type, ids=ids, depth=depth, stop_on_name=stop_on_name,
                           used_ids=used_ids if used_ids is not None else done)
    for root, note in zip(roots, notes):
        printer.print_tree(root, note)
    text = "\n".join(printer.lines) + "\n"
    if file == "str":
        return text
    out = sys.stdout if file is None else file
    out.write(text)
    return None


# --- pp -----------------------------------------------------------------------------
def _constant_text(value):
    if value.ndim == 0:
        return f"TensorConstant{{{value.item()!r}}}"
    if value.size <= 8:
        return f"TensorConstant{{{value.tolist()!r}}}"
    return f"TensorConstant{{shape={value.shape}}}"


def pp(obj):
    """A one-line expression for a variable (Theano's ``theano.pp``), e.g.
    ``((x + y) * TensorConstant{2.0})``: infix operators in parentheses,
    other ops as ``name{attributes}(operands)``; a named intermediate value
    prints as its name. A compiled function prints its outputs, one a line."""
    compiled = _compiled(obj)
    if compiled is not None:
        return "\n".join(_pp(v) for v in compiled.outputs)
    if isinstance(obj, (list, tuple)):
        return "\n".join(pp(v) for v in obj)
    if not isinstance(obj, Value):
        raise TypeError(f"pp: expected a variable or a compiled function, got {type(obj).__name__}")
    return _pp(obj)


def _pp(root):
    memo = {}
    stack = [(root, False)]
    while stack:                      # iterative: deep graphs do not hit the recursion limit
        v, ready = stack.pop()
        if v in memo:
            continue
        op = v.owner
        if op is None:
            memo[v] = v.name or f"<{v.type}>"
            continue
        if v is not root and v.name:
            memo[v] = v.name
            continue
        if op.name == "constant":
            memo[v] = v.name or _constant_text(op.attrs["value"])
            continue
        if not ready:
            stack.append((v, True))
            stack.extend((o, False) for o in op.operands if o not in memo)
            continue
        args = [memo[o] for o in op.operands]
        if op.opdef.infix is not None and len(args) == 2:
            memo[v] = f"({args[0]} {op.opdef.infix} {args[1]})"
        elif op.name == "neg" and len(args) == 1:
            memo[v] = f"-{args[0]}"
        else:
            which = f".{v.index}" if len(op.results) > 1 else ""
            memo[v] = f"{op.name}{_attr_text(op)}({', '.join(args)}){which}"
    return memo[root]


pprint = pp


# --- pydotprint -------------------------------------------------------------------
def _free_inputs(values):
    """The graph inputs (owner-less, not shared) ``values`` depend on."""
    found, seen, stack = [], set(), list(values)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is None:
            if not getattr(v, "is_shared", False):
                found.append(v)
            continue
        stack.extend(v.owner.operands)
    return sorted(found, key=lambda v: v.id)


def ir_function_of(obj):
    """The IR Function to draw for ``obj`` (a graph is built, not optimized)."""
    roots, _, func = _roots(obj)
    if func is not None:
        return func
    from .frontend.build import build_function
    return build_function(_free_inputs(roots), roots, name="graph")[0]


def pydotprint(obj, outfile=None, compact=True, format="png", with_ids=False, high_contrast=True,
               cond_highlight=None, colorCodes=None, max_label_size=70, scan_graphs=False,
               var_with_name_simple=False, print_output_file=True, return_image=False):
    """Draw ``obj`` with Graphviz. The ``.dot`` text is always written (next
    to ``outfile``, default ``graph.<format>``); ``.png``/``.svg``/``.pdf``
    pictures are rendered by the ``dot`` program, and without it a message
    says so. Returns the path of the file it produced (the picture, or the
    ``.dot`` file), or with ``return_image`` the picture's bytes.

    Edges carry the value: its name and type, or with
    ``var_with_name_simple`` only the name of a named value. Theano's other
    options (compact, with_ids, colors, label size, scan_graphs) are
    accepted."""
    from .ir.dot import function_to_dot
    if outfile is None:
        outfile = f"graph.{format}"

    def edge_label(v):
        if v.name and var_with_name_simple:
            return v.name
        return f"{v.name} {v.type}" if v.name else str(v.type)

    stem, ext = os.path.splitext(os.fspath(outfile))
    fmt = ext.lstrip(".").lower()
    if fmt not in PICTURE_FORMATS + ("dot", "gv"):
        raise ValueError(f"pydotprint: outfile must end in .png, .svg, .pdf or .dot, got {outfile!r}")
    dot_path = outfile if fmt in ("dot", "gv") else stem + ".dot"
    with open(dot_path, "w") as fh:
        fh.write(function_to_dot(ir_function_of(obj), edge_label))
    if fmt in ("dot", "gv"):
        return dot_path
    program = shutil.which("dot")
    if program is None and return_image:
        raise RuntimeError("pydotprint: return_image needs the Graphviz 'dot' program, which was not found")
    if program is None:
        print(f"pydotprint: the Graphviz 'dot' program was not found, so {outfile} was not drawn; "
              f"wrote {dot_path} (render it with: dot -T{fmt} {dot_path} -o {outfile})")
        return dot_path
    proc = subprocess.run([program, f"-T{fmt}", dot_path, "-o", outfile], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pydotprint: dot failed on {dot_path}: {proc.stderr.strip()}")
    if return_image:
        with open(outfile, "rb") as fh:
            return fh.read()
    if print_output_file:
        print(f"The output file is available at {outfile}")
    return outfile


# --- dump ---------------------------------------------------------------------------
def _state_shapes(func, compiled):
    """``func.arg_attrs`` with each shared argument's current shape added."""
    attrs = [dict(a) for a in func.arg_attrs]
    shared = [a for a in attrs if "shared" in a]
    for a, var in zip(shared, getattr(compiled, "shared", ())):
        a["shape"] = tuple(int(d) for d in np.shape(var.get_value(borrow=True)))
    return attrs


def dump(f, stage, file=None):
    """The text of compiled function ``f`` at ``stage``: 'input' (IR before
    the passes), 'optimized' (IR after them), 'llvm' (optimized LLVM IR),
    'asm' (host assembly), 'ptx' (the GPU kernels). Written to ``file`` too
    when one is given. In IR text each shared argument records the shape
    its variable holds now (``{shared = "w", shape = [4, 3]}``), which
    ``aot-compile`` uses for the state struct of an IR source."""
    compiled = _compiled(f)
    if compiled is None:
        raise TypeError(f"dump: f must be a compiled function (theon.function(...)), got {type(f).__name__}")
    if stage not in STAGES:
        raise ValueError(f"dump: stage must be one of {STAGES}, got {stage!r}")
    if stage == "ptx":
        from .codegen.ptx import ptx_of
        text = ptx_of(compiled)
        if file is not None:
            file.write(text)
        return text
    if stage in ("input", "optimized"):
        from .ir.printer import print_function
        func = compiled.input_ir() if stage == "input" else compiled.ir
        saved = func.arg_attrs
        func.arg_attrs = _state_shapes(func, compiled)
        try:
            text = print_function(func)
        finally:
            func.arg_attrs = saved
    else:
        text = compiled.native.llvm_ir if stage == "llvm" else compiled.native.asm
    if file is not None:
        file.write(text)
    return text



# --- Print ------------------------------------------------------------------------------
def print_value(message, attrs, value, file=None):
    """What a ``print`` op prints when it runs: ``message attr = ...`` per
    attribute name (called when callable), as Theano's Print."""
    out = sys.stdout if file is None else file
    for attr in attrs:
        item = getattr(value, attr)
        if callable(item):
            item = item()
        out.write(f"{message} {attr} = {item}\n")
    out.flush()


class Print:
    """``Print(message, attrs=('__str__',))(x)``: ``x``, printed each time a
    compiled function computes it (Theano's ``theano.printing.Print``).

    The result is an op of the graph (``print``, ir/ops/debug.py) that runs
    in native code where it stands; use the result for the print to happen
    (a Print whose result nothing uses is not part of the function)."""

    def __init__(self, message="", attrs=("__str__",), global_fn=None):
        if not isinstance(message, str):
            raise TypeError(f"Print: message must be a str, got {type(message).__name__}")
        if isinstance(attrs, str):
            attrs = (attrs,)
        attrs = tuple(attrs)
        if not attrs or not all(isinstance(a, str) and a for a in attrs):
            raise TypeError(f"Print: attrs must be attribute names of a NumPy array, got {attrs!r}")
        if global_fn is not None:
            raise NotImplementedError("Print: global_fn is not supported; the printing runs in "
                                      "compiled code (use attrs to choose what is printed)")
        self.message = message
        self.attrs = attrs

    def __call__(self, x):
        from .frontend.basic import apply_op, as_tensor_variable
        return apply_op("print", as_tensor_variable(x), message=self.message, attrs=self.attrs)

    def __repr__(self):
        return f"Print({self.message!r}, attrs={self.attrs!r})"
