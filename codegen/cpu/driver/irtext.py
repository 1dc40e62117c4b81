"""The LLVM IR text of a lowered module, each global printed once.

    text = ModuleText(module, entry)
    text.kernels()          tier 0: the functions besides the entry defined
                            since the last call, exported (None: none new)
    text.glue()             tier 0: the entry, every kernel declared
    text.whole()            the module as it is, exactly ``str(module)``:
                            what the full pipeline compiles (tier 1)
    text.unchanged()        whether every kernel printed by ``kernels()``
                            still has the instructions it had then

Printing an llvmlite module costs about as much as building it (a few
microseconds per instruction), so every global is printed once, on first
use, and all texts are assembled from those pieces.

The split. The *glue* is the entry function: argument unpacking, shape
checks, allocation, and the calls into the loops; thousands of
instructions that each run once per call. The *kernels* are every other
function the module defines (outlined loop workers, GEMM, math helpers):
little code, where the time goes. LLVM's -O0 code generation (FastISel)
costs a tenth of its -O1 code generation per instruction, so tier 0
compiles the glue at -O0 without IR passes and the kernels with the quick
pipeline, as objects loaded into one engine (``jit.LoadedObject``).
Lowering creates every kernel whole (a worker when its op is lowered, a
helper on first use) and never changes it afterwards, so ``kernels()``
can be called while the entry is still being lowered: compile.py compiles
each batch on the LLVM thread as soon as it is printed (``unchanged()``
checks the assumption before the objects are used).

What crosses the cuts links by name: in a kernels text every function and
every mutable global it defines has external linkage; the other texts
declare them (a kernels text only those its functions name). Names are
unique within a module, and the objects of a module get an engine of
their own, whose symbols resolve before the process's, so equal names in
other modules never meet. Constant globals and external declarations are
copied into every text (LLVM drops what a text does not use); metadata
nodes only into the texts whose functions refer to them. Each batch of a
long graph holding every earlier kernel's declaration and alias scopes
made the batches' texts, and LLVM's parsing of them, quadratic in the op
count.
"""
import itertools
import re

import llvmlite.ir as lir


class ModuleText:
    """The text of one lowered module; ``entry`` is its glue function."""

    def __init__(self, module, entry):
        self.module = module
        self.entry = entry
        self._texts = {}            # id(global) -> its text, printed once
        self._refs = {}             # id(global) -> the metadata nodes its text refers to (when any)
        self._nodes = {}            # metadata node number -> its text, printed once
        self._names = {}            # id(global) -> the names of the globals its text refers to
        self._declarations = {}     # id(kernel) -> its external declaration, printed once
        self._defined = {}          # id(kernel) -> (kernel, its size when a kernels text defined it)
        self._defined_size = 0      # instructions in those kernels
        self._scanned = 0           # module globals new_instructions has looked at
        self._pending = {}          # id(kernel) -> kernel: functions it found, in no kernels text yet

    @property
    def instructions(self):
        """LLVM instructions in the module."""
        return sum(_size(fn)[1] for fn in self.module.functions)

    def _text(self, gv):
        text = self._texts.get(id(gv))
        if text is None:
            text = self._texts[id(gv)] = str(gv)
            refs = _metadata_refs(text)
            if refs:
                self._refs[id(gv)] = refs
        return text

    def _assemble(self, pieces, defined=None):
        """A module text of ``pieces``; with its metadata, or (``defined``:
        the globals whose texts are among the pieces) only the metadata
        they refer to, directly or through other metadata."""
        module = self.module
        lines = [f'; ModuleID = "{module.name}"', f'target triple = "{module.triple}"',
                 f'target datalayout = "{module.data_layout}"', ""]
        lines += [t.get_declaration() for t in module.get_identified_types().values()]
        lines += pieces
        if defined is None:
            lines += module._get_metadata_lines()       # noqa: SLF001 - the printer's own metadata lines
        else:
            lines += self._metadata_lines(defined)
        return "\n".join(lines)

    def _metadata_lines(self, defined):
        """The module's named metadata and the numbered metadata that they or
        the texts of ``defined`` refer to. Each kernel's loads and stores
        carry alias-scope metadata of their own: a text holding every node
        of the module made each batch's text (and LLVM's parsing of it)
        grow with the ops lowered so far, the batches quadratic in all."""
        module = self.module
        nodes = module.metadata
        named = [f"!{name} = !{{ {', '.join(v.get_reference() for v in md.operands)} }}"
                 for name, md in module.namedmetadata.items()]      # as llvmlite prints them
        stack = [i for line in named for i in _metadata_refs(line)]
        for gv in defined:
            stack.extend(self._refs.get(id(gv), ()))
        seen = set()
        while stack:
            i = stack.pop()
            if i in seen or i >= len(nodes):
                continue
            seen.add(i)
            stack.extend(self._node_refs(i))
        return named + [self._node_text(i) for i in sorted(seen)]

    def _node_text(self, i):
        text = self._nodes.get(i)
        if text is None:
            node = self.module.metadata[i]
            if node.name != str(i):
                raise AssertionError(f"metadata node {i} is named !{node.name}")
            text = self._nodes[i] = str(node)
        return text

    def _node_refs(self, i):
        return _metadata_refs(self._node_text(i))

    def whole(self):
        """The text of the whole module (the same as ``str(module)``)."""
        return self._assemble([self._text(gv) for gv in self.module.globals.values()])

    def _crossing(self, gv):
        """Whether ``gv`` is a kernel: defined in a kernels text, linked to by name."""
        if gv is self.entry:
            return False
        if isinstance(gv, lir.Function):
            return not gv.is_declaration
        return isinstance(gv, lir.GlobalVariable) and not gv.global_constant

    def kernels(self):
        """A text defining the kernels no earlier call defined, declaring the
        others (never prints the entry); None when no function is new."""
        new = [gv for gv in self.module.globals.values()
               if self._crossing(gv) and id(gv) not in self._defined]
        if not any(isinstance(gv, lir.Function) for gv in new):
            return None
        fresh = {id(gv) for gv in new}
        pieces, defined, declared = [], [], []
        for gv in self.module.globals.values():
            if gv is self.entry:
                continue
            if id(gv) in fresh:
                pieces.append(_exported(gv, self._text(gv)))
                defined.append(gv)
                size = self._defined[id(gv)] = (gv, _size(gv))
                self._defined_size += size[1][1]
                self._pending.pop(id(gv), None)
            elif self._crossing(gv):
                pieces.append(None)
                declared.append(gv)
            else:
                pieces.append(self._text(gv))
                defined.append(gv)
        return self._assemble(self._declare_used(pieces, declared, defined), defined)

    def _declare_used(self, pieces, declared, defined):
        """``pieces`` with each None (a kernel of ``declared``, in order)
        replaced by its declaration when a text of ``defined`` names it, else
        dropped: declaring every earlier kernel in each batch made the
        batches quadratic in the kernels (LLVM parsed them all)."""
        used = set()
        for gv in defined:
            used |= self._globals_named(gv)
        kernels = iter(declared)
        out = []
        for piece in pieces:
            if piece is None:
                gv = next(kernels)
                if gv.name in used or not _PLAIN_NAME.fullmatch(gv.name):
                    out.append(self._declaration(gv))
            else:
                out.append(piece)
        return out

    def _globals_named(self, gv):
        """The names of the globals the text of ``gv`` refers to (``@name``)."""
        names = self._names.get(id(gv))
        if names is None:
            names = self._names[id(gv)] = {a or b for a, b in _GLOBAL_REF.findall(self._text(gv))}
        return names

    def _declaration(self, gv):
        """A kernel's declaration, printed once (every later text declares it:
        printing it each time made the batches quadratic in the kernels)."""
        text = self._declarations.get(id(gv))
        if text is None:
            text = self._declarations[id(gv)] = _declaration(gv)
        return text

    @property
    def defined_instructions(self):
        """Instructions in the kernels the kernels texts so far defined."""
        return self._defined_size

    def new_instructions(self):
        """Instructions in the functions the next ``kernels()`` would define.
        Called after every lowered op: it looks only at the globals added
        since its last call (a scan of the whole module each time made
        lowering quadratic in the op count), and sizes the few found."""
        globals_ = self.module.globals
        if len(globals_) > self._scanned:
            for gv in itertools.islice(globals_.values(), self._scanned, None):
                if (isinstance(gv, lir.Function) and gv is not self.entry and not gv.is_declaration
                        and id(gv) not in self._defined):
                    self._pending[id(gv)] = gv
            self._scanned = len(globals_)
        return sum(_size(gv)[1] for gv in self._pending.values())

    def glue(self):
        """The glue's text: the entry, with every kernel declared."""
        pieces, defined = [], []
        for gv in self.module.globals.values():
            if self._crossing(gv):
                pieces.append(self._declaration(gv))
            else:
                pieces.append(self._text(gv))
                defined.append(gv)
        return self._assemble(pieces, defined)

    def unchanged(self):
        """Whether every kernel a kernels text defined is still as it was
        (its blocks and instructions; lowering never edits one, this
        catches a lowering that starts to)."""
        return all(_size(gv) == size for gv, size in self._defined.values())

    def restart(self):
        """Forget what was printed and defined (llvmlite's cached strings
        too), so that the next ``kernels()`` defines every kernel anew."""
        for gv in self.module.globals.values():
            gv._clear_string_cache()             # noqa: SLF001 - llvmlite caches str() per value
        self._texts.clear()
        self._refs.clear()
        self._nodes.clear()
        self._names.clear()
        self._declarations.clear()
        self._defined.clear()
        self._defined_size = 0
        self._scanned = 0
        self._pending.clear()


_METADATA_REF = re.compile(r"!(\d+)")
_GLOBAL_REF = re.compile(r'@"((?:[^"\\]|\\.)*)"|@([-\w.$]+)')
_PLAIN_NAME = re.compile(r"[-\w.$]+")          # printed as it is (others: always declared)


def _metadata_refs(text):
    """The numbers of the metadata nodes ``text`` refers to (``!12``); a
    match inside a string only brings one more node along."""
    return {int(m) for m in _METADATA_REF.findall(text)}


def _size(gv):
    """(blocks, instructions) of a function; (0, 0) for anything else."""
    blocks = getattr(gv, "blocks", None)
    if not blocks:
        return 0, 0
    return len(blocks), sum(len(block.instructions) for block in blocks)


def _with_external_linkage(gv, describe):
    saved = gv.linkage
    gv.linkage = ""
    try:
        buf = []
        describe(buf)
        return "".join(buf)
    finally:
        gv.linkage = saved


def _exported(gv, text):
    """``text`` (the definition of ``gv``) with external linkage."""
    if isinstance(gv, lir.Function):
        prototype = _with_external_linkage(gv, gv.descr_prototype)
        return prototype + text[text.index("\n") + 1:]
    return f"{gv.get_reference()} = " + _with_external_linkage(gv, gv.descr)


def _declaration(gv):
    """An external declaration of the function or global variable ``gv``."""
    if isinstance(gv, lir.Function):
        return "declare" + _with_external_linkage(gv, gv.descr_prototype)[len("define"):]
    return f"{gv.get_reference()} = external global {gv.value_type}\n"
