"""Passes, pipelines and the pass manager (mlir-opt style).

A pass is a small dataclass: a class attribute ``name`` (kebab-case, its
command-line name), one field per option, and ``run(func)`` that changes one
``ir.Function`` in place. The registry ``theon.passes.PASSES`` maps names to
pass classes; a pipeline is text naming passes in order, with options::

    canonicalize,cse,fuse-elementwise{max-ops=16, vectorize=false},dce

Option keys are the field names, with ``-`` for ``_``; values are converted
to the field's type (int, float, bool, str).
"""
import dataclasses
import re
import sys
import time
from typing import ClassVar

from ..ir.core import Function, Module
from ..ir.printer import print_function, print_module
from ..ir.verifier import VerifyError, verify_function


@dataclasses.dataclass
class Pass:
    name: ClassVar[str] = None

    def run(self, func):
        raise NotImplementedError(f"pass {self.name}: run")

    def run_on_module(self, module):
        for func in module.functions:
            self.run(func)

    def __str__(self):
        return format_pass(self)


class BlockPass(Pass):
    """A pass that is one function over blocks, with no options: subclasses
    set ``rewrite = staticmethod(f)``, where ``f(block)`` changes the block
    (and the blocks of the regions inside it) in place."""
    rewrite: ClassVar = None

    def run(self, func):
        self.rewrite(func.body)


# --- pipeline text ---------------------------------------------------------------
_NAME_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*")
_OPTION_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(\"[^\"]*\"|[^,}\s]*)\s*")


def parse_pipeline(text, registry=None):
    """The passes of a pipeline text like ``cse,dce{opt=1}``, instantiated.
    Raises ValueError naming an unknown pass or option and the known ones."""
    if registry is None:
        from . import PASSES as registry
    passes = []
    i = 0
    text = text.strip()
    while i < len(text):
        m = _NAME_RE.match(text, i)
        if m is None:
            raise ValueError(f"bad pass pipeline {text!r}: expected a pass name at column {i + 1}")
        name, i = m.group(1), m.end()
        cls = registry.get(name)
        if cls is None:
            raise ValueError(f"unknown pass {name!r}; known passes: {', '.join(sorted(registry))}")
        options = {}
        if text.startswith("{", i):
            options, i = _parse_options(text, i + 1, cls)
        passes.append(cls(**options))
        i = _skip_space(text, i)
        if i < len(text):
            if text[i] != ",":
                raise ValueError(f"bad pass pipeline {text!r}: expected ',' at column {i + 1}, "
                                 f"got {text[i]!r}")
            i += 1
            if _skip_space(text, i) >= len(text):
                raise ValueError(f"bad pass pipeline {text!r}: it ends with ','")
    return passes


def _skip_space(text, i):
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _parse_options(text, i, cls):
    """Options ``key=value`` separated by commas or spaces, up to ``}``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    options = {}
    while True:
        i = _skip_space(text, i)
        if text.startswith("}", i):
            return options, i + 1
        m = _OPTION_RE.match(text, i)
        if m is None:
            raise ValueError(f"bad options for pass {cls.name!r} at column {i + 1} of {text!r}: "
                             "expected key=value or '}'")
        key, raw, i = m.group(1), m.group(2), m.end()
        field = fields.get(key.replace("-", "_"))
        if field is None:
            known = ", ".join(f.name.replace("_", "-") for f in fields.values()) or "(none)"
            raise ValueError(f"pass {cls.name!r} has no option {key!r}; its options: {known}")
        options[field.name] = _convert(cls.name, key, raw, field)
        if text.startswith(",", i):
            i += 1


def _convert(passname, key, raw, field):
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        raw = raw[1:-1]
    try:
        if kind == "bool":
            low = raw.lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return low in ("true", "1")
        if kind == "int":
            return int(raw, 0)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"pass {passname!r}: option {key!r} expects {kind}, got {raw!r}") from None
    return raw


def format_pass(p):
    """Pipeline text of one pass, options that differ from the defaults included."""
    opts = []
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        opts.append(f"{f.name.replace('_', '-')}={text}")
    return p.name + ("{" + ", ".join(opts) + "}" if opts else "")


def format_pipeline(passes):
    return ",".join(format_pass(p) for p in passes)


# --- running -------------------------------------------------------------------------
class PassManager:
    """Runs passes in order on a Module (every function) or one Function."""

    def __init__(self, passes, verify_each=False, print_ir_after_all=False, print_ir_after=(),
                 time_passes=False, out=None):
        self.passes = parse_pipeline(passes) if isinstance(passes, str) else list(passes)
        for p in self.passes:
            if not isinstance(p, Pass):
                raise TypeError(f"PassManager: {p!r} is not a Pass")
        self.verify_each = verify_each
        self.print_ir_after_all = print_ir_after_all
        self.print_ir_after = set(print_ir_after)
        self.time_passes = time_passes
        self.out = out
        self.timings = []       # [(pass name, seconds)] of the last run

    def run(self, unit):
        if not isinstance(unit, (Module, Function)):
            raise TypeError(f"PassManager.run takes a Module or a Function, got {type(unit).__name__}")
        self.timings = []
        if self.verify_each:
            self._verify(unit, "the input")
        for p in self.passes:
            start = time.perf_counter()
            if isinstance(unit, Module):
                p.run_on_module(unit)
            else:
                p.run(unit)
            self.timings.append((p.name, time.perf_counter() - start))
            if self.verify_each:
                self._verify(unit, f"pass {p.name!r}")
            if self.print_ir_after_all or p.name in self.print_ir_after:
                self._write(f"// -----// IR Dump After {p.name} //----- //\n{_text(unit)}\n")
        if self.time_passes:
            self._write(format_timings(self.timings))
        return unit

    def _verify(self, unit, after):
        functions = unit.functions if isinstance(unit, Module) else [unit]
        for func in functions:
            try:
                verify_function(func)
            except VerifyError as e:
                raise VerifyError(f"{e.reason} (after {after})", e.func, e.op, e.op_index,
                                  where=e.where) from None

    def _write(self, text):
        (self.out or sys.stderr).write(text)


def run_pipeline(unit, pipeline, **options):
    """Run a pipeline (text or a list of passes) on a Module or Function."""
    return PassManager(pipeline, **options).run(unit)


def _text(unit):
    return print_module(unit) if isinstance(unit, Module) else print_function(unit)


def format_timings(timings):
    total = sum(t for _, t in timings)
    rule = "===" + "-" * 73 + "==="
    lines = [rule, "Pass execution timing report".center(79).rstrip(), rule,
             f"  Total Execution Time: {total:.4f} seconds", "",
             "  ----Wall Time----  ----Name----"]
    for name, t in timings:
        lines.append(f"  {t:8.4f} ({_percent(t, total):5.1f}%)  {name}")
    lines.append(f"  {total:8.4f} (100.0%)  Total")
    return "\n".join(lines) + "\n"


def _percent(t, total):
    return 100.0 * t / total if total > 0 else 0.0
