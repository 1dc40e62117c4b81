"""The IR verifier: is a Function well formed?

Checks, for every op (nested regions included):
* SSA dominance: each operand is an argument of the function (a block
  argument of its region) or a result of an earlier op of the same block;
* regions are isolated from above: no op in a region uses a value defined
  outside it (pass it as an operand of the region's op instead);
* region structure: as many regions as the op class declares
  (``OpDef.num_regions``), each one Block owned by the op, ending with the
  class's ``terminator`` (which appears nowhere else in it), with block
  arguments of the types ``OpDef.region_arg_types`` gives (a ``?`` may
  stand for a known size: passes refine operand types, not block arguments);
* the op's arity and required attributes, attribute value types, and its
  type inference (``opdef.infer``), whose errors become VerifyErrors;
* declared result types agree with inference: the same number of results,
  dtype and ndim, and a static dim equal to the inferred one where both are
  known (a declared ``?`` may stand for an inferred size, and vice versa);
* ``opdef.verify(op)``;
* the body ends with exactly one ``return`` (none elsewhere, none in regions);
* use lists match the operands exactly (parents and result indices too).
"""
from collections import Counter

import numpy as np

from .core import DYN, Block

_SCALAR_ATTR_TYPES = (bool, int, float, str, np.dtype)


class VerifyError(ValueError):
    """Malformed IR. ``str()`` names the function, the op's index in the
    body, the op's name, and the op's source location when it has one."""

    def __init__(self, reason, func=None, op=None, op_index=None, where=None):
        self.reason = reason
        self.func = func
        self.func_name = getattr(func, "name", None)
        self.op = op
        self.op_index = op_index
        self.loc = getattr(op, "loc", None) if op is not None else None
        if where is None:
            where = f"@{self.func_name}" if func is not None else "IR"
            if op is not None:
                where += f" op {op_index} ({op.name})" if op_index is not None else f" ({op.name})"
        self.where = where
        self.detail = f"{where}: {reason}"
        text = self.detail
        if self.loc is not None:        # (file, line, col) from IR text, or a SourceLoc (file, line)
            text = ":".join(str(part) for part in self.loc) + f": {text}"
        super().__init__(text)


def verify_module(module):
    seen = set()
    for func in module.functions:
        if func.name in seen:
            raise VerifyError(f"function @{func.name} is defined twice in the module", func)
        seen.add(func.name)
        verify_function(func)


def verify_function(func):
    """Raise VerifyError if ``func`` is malformed; return None otherwise."""
    _check_signature(func)
    defined = _all_defined(func)
    _Checker(func, defined).block(func.body, {id(a) for a in func.args}, prefix="")
    ops = func.body.ops
    if not ops or ops[-1].name != "return":
        last = f"its last op is {ops[-1].name}" if ops else "it is empty"
        raise VerifyError(f"the body must end with return, but {last}", func)
    _check_uses(func, defined)


def _check_signature(func):
    if not isinstance(func.name, str) or not func.name:
        raise VerifyError(f"function name must be a non-empty string, got {func.name!r}", func)
    if len(func.arg_attrs) != len(func.args):
        raise VerifyError(f"{len(func.args)} arguments but {len(func.arg_attrs)} arg_attrs", func)
    for i, (arg, attrs) in enumerate(zip(func.args, func.arg_attrs)):
        if arg.owner is not None or arg.index != i:
            raise VerifyError(f"argument {i} has owner {arg.owner} and index {arg.index}", func)
        shared = attrs.get("shared")
        if "shared" in attrs and not isinstance(shared, str):
            raise VerifyError(f"argument {i}: 'shared' must be a string, got {shared!r}", func)


def _all_defined(func):
    """id(value) -> value, for every value the function defines."""
    out = {id(a): a for a in func.args}
    for op in func.walk():
        for region in op.regions:
            out.update((id(a), a) for a in region.args)
        out.update((id(r), r) for r in op.results)
    return out


class _Checker:
    def __init__(self, func, defined):
        self.func = func
        self.defined = defined
        self.top_index = None

    def fail(self, reason, op, where):
        raise VerifyError(reason, self.func, op, self.top_index, where=where) from None

    def block(self, block, visible, prefix, outer=frozenset(), owner=None):
        """Check ``block``: ``visible`` holds its arguments, ``outer`` the
        values of the enclosing scopes (which it must not use), ``owner`` the
        op whose region it is (None for the function body)."""
        visible = set(visible)
        nested = owner is not None
        for i, op in enumerate(block.ops):
            if not nested:
                self.top_index = i
            where = f"@{self.func.name} {prefix}op {i} ({op.name})"
            if op.parent is not block:
                self.fail("op's parent is not the block that holds it", op, where)
            self.operands(op, visible, outer, owner, where)
            if op.name == "return":
                if nested:
                    self.fail("return is not allowed inside a region", op, where)
                if i != len(block.ops) - 1:
                    self.fail(f"return must be the last op of the body, but {len(block.ops) - 1 - i} "
                              "ops follow it", op, where)
            self.region_structure(op, where)
            for r, region in enumerate(op.regions):
                self.block(region, {id(a) for a in region.args}, f"{prefix}op {i} ({op.name}) region {r} ",
                           outer | visible, op)
                if not nested:
                    self.top_index = i
            self.op(op, where)
            visible.update(id(r) for r in op.results)

    def region_structure(self, op, where):
        opdef = op.opdef
        want, got = opdef.num_regions, len(op.regions)
        if want is None and got == 0:
            self.fail(f"{op.name} needs at least one region, got none", op, where)
        if want is not None and got != want:
            self.fail(f"{op.name} takes {want} region{'' if want == 1 else 's'}, got {got}", op, where)
        term = opdef.terminator
        for r, region in enumerate(op.regions):
            label = f"region {r} of {op.name}"
            if not isinstance(region, Block):
                self.fail(f"{label} must be one Block, got {type(region).__name__}", op, where)
            if region.parent is not op:
                self.fail(f"region {r}'s parent is not this op", op, where)
            if term is not None:
                ops = region.ops
                if not ops or ops[-1].name != term:
                    last = f"its last op is {ops[-1].name}" if ops else "it is empty"
                    self.fail(f"{label} must end with {term}, but {last}", op, where)
                for k, inner in enumerate(ops[:-1]):
                    if inner.name == term:
                        self.fail(f"{label}: {term} must be its last op, but op {k} of {len(ops)} is a {term}",
                                  op, where)
            try:
                types = opdef.region_arg_types(op, r)
            except Exception as e:  # a malformed op may break it in any way
                self.fail(_reason(e), op, where)
            if types is None:
                continue
            if len(types) != len(region.args):
                self.fail(f"{label} has {len(region.args)} block arguments, expected {len(types)}", op, where)
            for k, (arg, t) in enumerate(zip(region.args, types)):
                if not _at_most_as_precise(arg.type, t):
                    self.fail(f"{label}: block argument {k} is {arg.type}, expected {t}", op, where)

    def operands(self, op, visible, outer, owner, where):
        for j, v in enumerate(op.operands):
            if id(v) in visible:
                continue
            label = f"operand {j} ({_label(v)})"
            if id(v) in outer:
                self.fail(f"{label} is defined outside the region of {owner.name}: region bodies are "
                          f"isolated from above (pass the value as an operand of {owner.name} and use "
                          "its block argument)", op, where)
            if id(v) in self.defined:
                self.fail(f"{label} is used before its definition (or outside its region)", op, where)
            self.fail(f"{label} is not defined in @{self.func.name}", op, where)

    def op(self, op, where):
        opdef = op.opdef
        try:
            opdef.check_arity(op)
            for key, value in op.attrs.items():
                _check_attr(op.name, key, value)
            inferred = opdef.infer(op)
        except Exception as e:  # a malformed op may break inference in any way
            self.fail(_reason(e), op, where)
        self.results(op, inferred, where)
        try:
            opdef.verify(op)
        except Exception as e:
            self.fail(_reason(e), op, where)

    def results(self, op, inferred, where):
        if len(inferred) != len(op.results):
            self.fail(f"{op.name} has {len(inferred)} results, but {len(op.results)} are declared", op, where)
        for k, (r, t) in enumerate(zip(op.results, inferred)):
            if r.owner is not op or r.index != k:
                self.fail(f"result {k} has a wrong owner or index ({r.index})", op, where)
            if not _agrees(r.type, t):
                self.fail(f"result {k} is declared {r.type} but inference gives {t}", op, where)


def _agrees(declared, inferred):
    if declared.dtype != inferred.dtype or declared.ndim != inferred.ndim:
        return False
    return all(d is None or i is None or d == i for d, i in zip(declared.shape, inferred.shape))


def _at_most_as_precise(declared, expected):
    """``declared`` may stand for ``expected``: the same dtype and ndim, and
    each dim either ``?`` or the expected one (a block argument may know less
    about its operand than the operand's type, never more)."""
    return declared.dtype == expected.dtype and declared.accepts_shape(expected.shape)


def _check_attr(opname, key, value):
    if value is None or value is DYN or isinstance(value, _SCALAR_ATTR_TYPES):
        return
    if isinstance(value, tuple):
        for v in value:
            _check_attr(opname, key, v)
        return
    if isinstance(value, np.ndarray):
        if value.flags.writeable:
            raise ValueError(f"{opname}: attribute {key!r} holds a writable array (must be read-only)")
        return
    raise TypeError(f"{opname}: attribute {key!r} has a value of unsupported type "
                    f"{type(value).__name__}: {value!r}")


def _reason(e):
    if isinstance(e, (TypeError, ValueError, IndexError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _label(v):
    return f"%{v.name}: {v.type}" if v.name else str(v.type)


def _check_uses(func, defined):
    expected = Counter()
    for op in func.walk():
        for i, v in enumerate(op.operands):
            expected[(id(v), id(op), i)] += 1
    actual = Counter()
    for v in defined.values():
        for op, i in v.uses:
            actual[(id(v), id(op), i)] += 1
            if i >= len(op.operands) or op.operands[i] is not v:
                raise VerifyError(f"use list of {_label(v)} names operand {i} of {op.name}, "
                                  "which is another value", func, op)
    if expected != actual:
        missing = expected - actual
        extra = actual - expected
        raise VerifyError(f"use lists disagree with operands: {sum(missing.values())} uses missing, "
                          f"{sum(extra.values())} stale uses (an op was changed or removed "
                          "without Block/Operation methods)", func)
