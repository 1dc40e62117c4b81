"""The rewrite driver: rules matched at one op at a time, applied from a
worklist until none matches (MLIR's greedy pattern driver, in small).

A rule is data -- one line of pattern text, parsed once (``rules(text)``)::

    mul-one:    mul(x, 1) -> x
    pow-two:    pow(x, 2) -> mul(x, x)
    sub-self:   sub(x, x) -> 0              if int(x)

or, for the hard cases, a Python function ``fn(rw, op) -> bool`` wrapped in
``PyRule``, which changes the IR only through the ``Rewriter`` ``rw``.

Pattern text: ``name(args)`` matches an op of that name whose operands match
``args`` (in either order for commutative ops); a lower-case identifier is a
variable (used twice, it must be the same value); a number matches a value
known to hold only that number (a constant, or an alloc/dimshuffle of one).
Template text: a variable is the matched value, ``name(args)`` builds an op,
a number inside an op is a 0-d constant of the root's dtype, and a number
alone is that number broadcast to the root's shape. Guards after ``if``
(comma separated): ``float(x)``, ``int(x)`` (int or bool), ``nonneg(x)``
(never below zero), or the name of a bool option of the pass
(``fast-math``) that must be true.

A data rule's replacement is used only when its dtype and symbolic shape
equal the root's (``passes/symbolic.py``): a rule never changes a result's
shape or broadcasting.

Every change goes through the Rewriter: it inserts new ops before the op
being rewritten, redirects uses, erases ops that became dead, and puts the
ops whose inputs changed back on the worklist.
"""
import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..ir.builder import make_op
from ..ir.core import DYN, is_splat
from ..ir.dialect import OPS, ops_where
from ..ir.opdef import const_value, value_nonneg
from ..ir.types import is_float, is_unsigned
from .dce import is_dead
from .symbolic import SymbolicShapes, alive

INVALID = (TypeError, ValueError, IndexError)   # what type inference raises for a bad op


class RewriteError(RuntimeError):
    """The rules did not converge (a cycle between rules)."""


# --- the rewriter --------------------------------------------------------------------
class Rewriter:
    """The one way rules change a function's body."""

    def __init__(self, func, options=None, shapes=None):
        self.func = func
        self.options = options
        self.shapes = shapes or SymbolicShapes()
        self.anchor = None          # new ops go right before this op, in its block
        self.queue = deque()
        self.queued = set()
        self.changes = 0

    @property
    def block(self):
        """The block being rewritten: the anchor's (the function body or a
        region's block). Regions are isolated from above, so a rule sees and
        creates values of this block only."""
        return self.func.body if self.anchor is None else self.anchor.parent

    # worklist
    def push(self, op):
        if op is not None and op not in self.queued and op.parent is not None:
            self.queue.append(op)
            self.queued.add(op)

    def push_users(self, value):
        for user, _ in value.uses:
            self.push(user)

    def pop(self):
        op = self.queue.popleft()
        self.queued.discard(op)
        return op

    # creating
    def insert(self, op):
        """Insert a floating op before the anchor (it takes the anchor's
        source location, ir/location.py, unless it has one)."""
        if op.loc is None:
            op.loc = self.anchor.loc
        self.block.insert_before(self.anchor, op)
        self.push(op)
        return op

    def create(self, name, *operands, **attrs):
        """The single result of a new ``name`` op before the anchor."""
        return self.insert(make_op(name, operands, attrs)).result

    def const(self, value, dtype):
        return self.create("constant", value=np.array(value, dtype=dtype))

    def dim(self, v, k):
        """Dim ``k`` of ``v`` as an int, or a 0-d int64 value computing it."""
        d = self.shapes.dims(v)[k]
        if isinstance(d, int):
            return d
        if len(d) == 1:
            atom = next(iter(d))
            if atom[0] == "int" and alive(atom[1], self.block) and atom[1].dtype == "int64":
                return atom[1]
            if atom[0] == "dim" and alive(atom[1], self.block) and atom[1].owner is not self.anchor:
                return self.create("subtensor", self.create("shape", atom[1]), idx=(atom[2],))
        if v.owner is self.anchor:
            return None
        return self.create("subtensor", self.create("shape", v), idx=(k,))

    def splat(self, value, like):
        """``value`` broadcast to the shape of ``like`` (dtype of ``like``), or
        None when that shape cannot be computed before the anchor."""
        dims = [self.dim(like, k) for k in range(like.ndim)]
        if any(d is None for d in dims):
            return None
        c = self.const(value, like.dtype)
        if like.ndim == 0:
            return c
        spec = tuple(d if isinstance(d, int) else DYN for d in dims)
        return self.create("alloc", c, *[d for d in dims if not isinstance(d, int)], shape=spec)

    # changing
    def replace(self, op, new_values):
        """Every use of ``op``'s results now uses ``new_values``; ``op`` goes."""
        if not isinstance(new_values, (list, tuple)):
            new_values = [new_values]
        for old, new in zip(op.results, new_values):
            if new is old:
                continue
            self.push_users(old)
            old.replace_all_uses_with(new)
            if new.name is None:
                new.name = old.name       # keep the user's names readable
            if new.owner is not None:
                self.push(new.owner)
        self.changes += 1
        self.erase_if_dead(op)

    def erase_if_dead(self, op):
        """Erase ``op`` if nothing uses it, then its operands' owners likewise."""
        stack = [op]
        while stack:
            op = stack.pop()
            if op.parent is None or not is_dead(op):
                continue
            owners = [v.owner for v in op.operands]
            op.parent.remove(op)
            self.queued.discard(op)
            stack.extend(o for o in owners if o is not None)


# --- rules ---------------------------------------------------------------------------
class PyRule:
    """A rule with a Python body: ``fn(rw, op) -> bool`` (True: it rewrote)."""

    def __init__(self, name, roots, fn):
        self.name = name
        # op names it looks at, () for every op, or a predicate on OpDef
        # (a trait: the ops registered when the rules run that have it)
        self.roots = roots if callable(roots) else tuple(roots)
        self.fn = fn

    def apply(self, rw, op):
        return self.fn(rw, op)

    def __repr__(self):
        return f"<rule {self.name}>"


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple


class Rule:
    """A data rule: ``pattern -> template if guards``."""

    def __init__(self, name, pattern, template, guards=(), options=()):
        self.name = name
        self.pattern = pattern
        self.template = template
        self.guards = tuple(guards)     # (predicate name, variable name)
        self.options = tuple(options)   # pass option names that must be true
        self.roots = (pattern.name,)
        # ops the root's operands must come from (in some order) for a match
        self.operand_ops = tuple(a.name for a in pattern.args if isinstance(a, Op))

    def __repr__(self):
        return f"<rule {self.name}>"

    def apply(self, rw, op):
        for opt in self.options:
            if not getattr(rw.options, opt, False):
                return False
        if self.operand_ops:        # a quick miss before the matcher
            owners = [v.owner.name for v in op.operands if v.owner is not None]
            if not all(name in owners for name in self.operand_ops):
                return False
        root = op.results[0]
        for env in match(self.pattern, root, {}):
            if all(GUARDS[g](env[v]) for g, v in self.guards):
                new = self._build(rw, op, env)
                if new is not None:
                    rw.replace(op, new)
                    return True
        return False

    def _build(self, rw, op, env):
        root = op.results[0]
        t = self.template
        if isinstance(t, Var):
            new = env[t.name]
            return new if rw.shapes.same(new, root) else None
        if isinstance(t, Num):
            return rw.splat(t.value, root)
        floating = []
        new = _instantiate(t, env, root.dtype, floating)
        if new is None or not rw.shapes.same(new, root):
            return None
        for f in floating:
            rw.insert(f)
        return new


def _instantiate(t, env, dtype, floating):
    """Build the template as floating ops (appended to ``floating`` in order)."""
    if isinstance(t, Var):
        return env[t.name]
    if isinstance(t, Num):
        op = make_op("constant", (), {"value": np.array(t.value, dtype=dtype)})
        floating.append(op)
        return op.result
    args = [_instantiate(a, env, dtype, floating) for a in t.args]
    try:
        op = make_op(t.name, args)
    except INVALID:
        return None
    floating.append(op)
    return op.result


def match(p, v, env):
    """Every binding env (a dict) under which pattern ``p`` matches value ``v``."""
    if isinstance(p, Var):
        bound = env.get(p.name)
        if bound is None:
            yield {**env, p.name: v}
        elif bound is v:
            yield env
        return
    if isinstance(p, Num):
        if splat_value(v) == p.value:
            yield env
        return
    op = v.owner
    if op is None or op.name != p.name or len(op.operands) != len(p.args) or len(op.results) != 1:
        return
    orders = [op.operands]
    if op.opdef.commutative and len(op.operands) == 2:
        orders.append(op.operands[::-1])
    for operands in orders:
        yield from _match_all(p.args, operands, env)


def _match_all(pats, values, env):
    if not pats:
        yield env
        return
    for e in match(pats[0], values[0], env):
        yield from _match_all(pats[1:], values[1:], e)


def splat_value(v):
    """The one number every element of ``v`` is known to hold, else None."""
    dtype = v.type.np_dtype
    while v.owner is not None and (v.owner.opdef.moves_elements or v.owner.name == "cast"):
        if v.owner.name == "cast" and not is_float(v.dtype) and is_float(v.owner.operands[0].dtype):
            return None       # float -> int truncates and saturates
        v = v.owner.operands[0]
    c = const_value(v)
    if c is None or c.size == 0:
        return None
    if c.ndim == 0:             # the common case, without NumPy's reductions
        first = c[()]
        if first != first:      # NaN: as np.all(c == first) below
            return None
    else:
        first = c.flat[0]
        if not is_splat(c) and not np.all(c == first):
            return None
    if c.dtype == dtype:
        return first.item()
    with np.errstate(all="ignore"):
        return np.array(first).astype(dtype).item()     # as cast to v's dtype


# --- guards --------------------------------------------------------------------------
nonneg = value_nonneg        # the guard: ir/opdef.py


GUARDS = {
    "float": lambda v: is_float(v.dtype),
    "int": lambda v: not is_float(v.dtype),
    "signed": lambda v: not is_unsigned(v.dtype),
    "nonneg": nonneg,
}


# --- rule text -----------------------------------------------------------------------
_TOKEN_RE = re.compile(r"\s*(->|-?inf\b|nan\b|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[A-Za-z_][A-Za-z0-9_.-]*|[(),])")


def rules(text):
    """The data rules of ``text``: one ``name: pattern -> template [if guards]``
    per line; ``#`` starts a comment."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(_parse_rule(line))
        except ValueError as e:
            raise ValueError(f"rule line {lineno} {line!r}: {e}") from None
    return out


def _parse_rule(line):
    name, sep, rest = line.partition(":")
    if not sep:
        raise ValueError("expected 'name: pattern -> template'")
    lhs, sep, rhs = rest.partition("->")
    if not sep:
        raise ValueError("expected '->'")
    rhs, _, guard_text = rhs.partition(" if ")
    pattern = _parse_term(lhs)
    template = _parse_term(rhs)
    if not isinstance(pattern, Op):
        raise ValueError("a pattern must start with an op")
    variables = _variables(pattern)
    missing = _variables(template) - variables
    if missing:
        raise ValueError(f"template uses unbound {sorted(missing)}")
    guards, options = [], []
    for g in filter(None, (s.strip() for s in guard_text.split(","))):
        m = re.fullmatch(r"([a-z]+)\((\w+)\)", g)
        if m:
            if m.group(1) not in GUARDS or m.group(2) not in variables:
                raise ValueError(f"unknown guard {g!r}")
            guards.append((m.group(1), m.group(2)))
        elif re.fullmatch(r"[a-z][a-z0-9-]*", g):
            options.append(g.replace("-", "_"))
        else:
            raise ValueError(f"bad guard {g!r}")
    return Rule(name.strip(), pattern, template, guards, options)


def _parse_term(text):
    tokens = _tokens(text)
    term, i = _term(tokens, 0)
    if i != len(tokens):
        raise ValueError(f"unexpected {tokens[i]!r}")
    return term


def _tokens(text):
    tokens, i = [], 0
    text = text.strip()
    while i < len(text):
        m = _TOKEN_RE.match(text, i)
        if m is None or not m.group(1):
            raise ValueError(f"bad character {text[i]!r}")
        tokens.append(m.group(1))
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
    return tokens


def _term(tokens, i):
    if i >= len(tokens):
        raise ValueError("unexpected end")
    tok = tokens[i]
    if re.fullmatch(r"-?inf|nan|-?\d.*", tok):
        return Num(float(tok) if any(c in tok for c in ".eni") else int(tok)), i + 1
    if i + 1 < len(tokens) and tokens[i + 1] == "(":
        if tok not in OPS:
            raise ValueError(f"unknown op {tok!r}")
        args, i = [], i + 2
        while tokens[i] != ")":
            arg, i = _term(tokens, i)
            args.append(arg)
            if tokens[i] == ",":
                i += 1
        return Op(tok, tuple(args)), i + 1
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", tok):
        raise ValueError(f"bad variable {tok!r}")
    return Var(tok), i + 1


def _variables(t):
    if isinstance(t, Var):
        return {t.name}
    if isinstance(t, Op):
        return set().union(*[_variables(a) for a in t.args]) if t.args else set()
    return set()


# --- the driver -------------------------------------------------------------------------
def apply_rules(func, rule_list, options=None, shapes=None, max_rewrites=None):
    """Apply ``rule_list`` to ``func`` until no rule matches; erase dead ops.
    Returns the number of rewrites. Rules are tried in list order.

    Every block is rewritten: the body and, nested, each region's block
    (one worklist; a rule's new ops go into the block of the op it
    rewrites). Ops with regions, and ops without results (terminators),
    are never roots."""
    by_root, anywhere = {}, []
    for r in rule_list:
        if r.roots:
            for name in ops_where(r.roots) if callable(r.roots) else r.roots:
                by_root.setdefault(name, []).append(r)
        else:
            anywhere.append(r)
    rw = Rewriter(func, options, shapes)
    for op in func.walk():
        rw.push(op)
    limit = max_rewrites if max_rewrites is not None else 50 * len(rw.queue) + 1000
    while rw.queue:
        op = rw.pop()
        if op.regions or not op.results or not _in_function(op, func):
            continue
        if is_dead(op):
            rw.erase_if_dead(op)
            continue
        rw.anchor = op
        for rule in by_root.get(op.name, []) + anywhere:
            if rule.apply(rw, op):
                if rw.changes > limit:
                    raise RewriteError(f"@{func.name}: no fixed point after {rw.changes} rewrites "
                                       f"(last rule: {rule.name})")
                break
    rw.anchor = None
    return rw.changes


def _in_function(op, func):
    """``op`` is still in ``func`` (not erased, nor inside an erased op)."""
    while op is not None:
        block = op.parent
        if block is None:
            return False
        if block is func.body:
            return True
        op = block.parent
    return False


def is_const(v):
    return const_value(v) is not None
