"""Numerical stabilization: rewrites that keep results finite and accurate
where the plain formula overflows, underflows or cancels.

    STABLE           data rules (``passes/patterns.py``): log(1+x) -> log1p(x),
                     exp(x)-1 -> expm1(x), log(sigmoid x) -> -softplus(-x),
                     log(1-sigmoid x) -> -softplus(x), log(exp(x)/s) -> x - log(s)
                     (so log(softmax) becomes log_softmax and cross-entropy on a
                     softmax is x - max - log(sum(exp(x - max))))
    logsumexp-shift  log(sum(exp(x))) -> m + log(sum(exp(x - m))), m = max(x)
                     (0 where m is infinite)
    softmax-shift    exp(x)/sum(exp(x)) -> exp(x - m)/sum(exp(x - m))
    cancel           a product/quotient tree where a factor appears above and
                     below the line loses it: (a/p)*p -> a, (g/(e/s))/s*e -> g;
                     its constant factors become one: (x*0.5)*2 -> x. Something
                     must remain: x/x stays (IEEE: NaN for 0, inf, NaN)
    distribute       (u + v)*w -> u*w + v*w when u*w cancels (gradients of log)

The last two make gradients finite: the gradient of log(p) is g/p, which
autodiff multiplies back by p's own derivative (for a softmax, by exp(x)),
so g/p * p is g -- even where p underflowed to 0, where the unsimplified
graph computes 0 * inf = NaN. These rewrites change rounding (they are
what makes the result accurate), never the mathematical value.
"""
from dataclasses import dataclass

import numpy as np

from ..ir.builder import make_op
from ..ir.opdef import const_value
from ..ir.types import is_float
from .manager import Pass
from .patterns import STABLE
from .rewrite import INVALID, PyRule, apply_rules

MAX_FACTORS = 32


# --- products and quotients ------------------------------------------------------------
class Monomial:
    """A product of values with integer exponents and a sign, read off a
    tree of mul/div/neg ops."""

    def __init__(self):
        self.sign = 1
        self.order = []       # values in the order first met
        self.exps = {}
        self.above, self.below = set(), set()
        self.steps = 0
        self.merged = None    # the product of merged constant factors

    def add(self, v, power):
        stack = [(v, power)]
        while stack:
            w, p = stack.pop()
            op = w.owner
            if (op is not None and op.name in ("mul", "div", "neg") and is_float(w.dtype)
                    and self.steps < MAX_FACTORS):
                self.steps += 1
                if op.name == "neg":
                    self.sign = -self.sign
                    stack.append((op.operands[0], p))
                else:
                    a, b = op.operands
                    stack.append((b, -p if op.name == "div" else p))
                    stack.append((a, p))
                continue
            if w not in self.exps:
                self.order.append(w)
                self.exps[w] = 0
            self.exps[w] += p
            (self.above if p > 0 else self.below).add(w)
        return self

    @property
    def cancels(self):
        return bool(self.above & self.below)

    def remaining(self):
        """The non-constant factors left after cancelling."""
        return [v for v in self.order if self.exps[v] and const_value(v) is None]

    def constants(self):
        """The constant factors (exponent not 0)."""
        return [v for v in self.order if self.exps[v] and const_value(v) is not None]

    def merge_constants(self, dtype):
        """Replace the constant factors by their product, as one array
        (None if they multiply to exactly 1); returns whether any merged."""
        consts = self.constants()
        numerator = any(self.exps[v] > 0 for v in self.order if v not in consts)
        if len(consts) < 2 and not (consts and numerator and np.all(const_value(consts[0]) == 1)):
            return False
        total = np.ones((), dtype=np.float64)
        if any(abs(self.exps[v]) != 1 for v in consts):
            return False
        with np.errstate(all="ignore"):
            for v in consts:
                c = const_value(v).astype(np.float64)
                total = total * c if self.exps[v] > 0 else total / c
            merged = np.asarray(total).astype(dtype)
        if not np.all(np.isfinite(merged) & (merged != 0)):
            return False      # x*1e-200*1e-200 is inf for x = inf; x*0 would be NaN
        for v in consts:
            self.exps[v] = 0
        self.merged = None if np.all(total == 1) else merged
        return True

    def build(self, dtype, floating):
        """The product as floating ops (appended to ``floating``)."""
        def emit(name, *operands):
            op = make_op(name, operands)
            floating.append(op)
            return op.result

        def product(values):
            out = None
            for v in values:
                out = v if out is None else emit("mul", out, v)
            return out

        num = [v for v in self.order for _ in range(max(self.exps[v], 0))]
        den = [v for v in self.order for _ in range(max(-self.exps[v], 0))]
        if self.merged is not None:
            c = make_op("constant", (), {"value": self.merged})
            floating.append(c)
            num.append(c.result)
        value = product(num)
        if value is None:
            c = make_op("constant", (), {"value": np.array(1, dtype=dtype)})
            floating.append(c)
            value = c.result
        if den:
            value = emit("div", value, product(den))
        if self.sign < 0:
            value = emit("neg", value)
        return value


def _cancels(m):
    """A factor cancels, and something other than constants is left."""
    return m.cancels and bool(m.remaining())


def _commit(rw, op, floating, new):
    if not rw.shapes.same(new, op.results[0]):
        return False
    for f in floating:
        rw.insert(f)
    rw.replace(op, new)
    return True


def cancel(rw, op):
    root = op.results[0]
    if not is_float(root.dtype):
        return False
    m = Monomial().add(root, 1)
    merged = m.merge_constants(root.dtype)
    if not (_cancels(m) or merged and m.remaining()):
        return False          # x/x stays: it is NaN for 0, inf and NaN (IEEE)
    floating = []
    return _commit(rw, op, floating, m.build(root.dtype, floating))


def distribute(rw, op):
    """(u ± v) * w  or  (u ± v) / w  ->  u*w ± v*w  when one term cancels."""
    if not is_float(op.results[0].dtype):
        return False
    power = -1 if op.name == "div" else 1
    sides = [(0, 1)] if op.name == "div" else [(0, 1), (1, 0)]
    for i, j in sides:
        s, w = op.operands[i], op.operands[j]
        inner = s.owner
        if inner is None or inner.name not in ("add", "sub") or len(s.uses) != 1:
            continue
        if not any(_cancels(Monomial().add(t, 1).add(w, power)) for t in inner.operands):
            continue
        floating = []
        try:
            terms = [make_op(op.name, [t, w]) for t in inner.operands]
            new = make_op(inner.name, [t.result for t in terms])
        except INVALID:
            continue
        floating += terms + [new]
        if _commit(rw, op, floating, new.result):
            return True
    return False


# --- max subtraction -----------------------------------------------------------------------
def _from_max(v, depth=4):
    op = v.owner
    if op is None or depth == 0:
        return False
    if op.name == "max":
        return True
    if op.name in ("where", "dimshuffle", "alloc", "neg"):
        return any(_from_max(o, depth - 1) for o in op.operands)
    return False


def _shifted(x):
    """x is already ``something - max(...)``."""
    op = x.owner
    return op is not None and op.name == "sub" and _from_max(op.operands[1])


def _sum_of_exp(v):
    """(x, sum op) if v is sum(exp(x)) over some axes, else None."""
    s = v.owner
    if s is None or s.name != "sum":
        return None
    e = s.operands[0].owner
    if e is None or e.name != "exp" or _shifted(e.operands[0]):
        return None
    return e.operands[0], s


def logsumexp_shift(rw, op):
    found = _sum_of_exp(op.operands[0])
    if found is None:
        return False
    x, s = found
    axes, keep = s.attrs["axes"], s.attrs["keepdims"]
    if not axes:
        return False
    m = rw.create("max", x, axes=axes, keepdims=True)
    inf = rw.const(np.inf, x.dtype)
    m = rw.create("where", rw.create("eq", rw.create("abs", m), inf), rw.const(0, x.dtype), m)
    shifted = rw.create("exp", rw.create("sub", x, m))
    out = rw.create("log", rw.create("sum", shifted, axes=axes, keepdims=keep))
    if not keep:
        m = rw.create("dimshuffle", m, pattern=tuple(i for i in range(x.ndim) if i not in axes))
    rw.replace(op, rw.create("add", out, m))
    return True


def softmax_shift(rw, op):
    e, s = op.operands
    found = _sum_of_exp(s)
    if found is None or e is not found[1].operands[0] or not found[1].attrs["keepdims"]:
        return False
    x, total = found
    axes = total.attrs["axes"]
    m = rw.create("max", x, axes=axes, keepdims=True)
    shifted = rw.create("exp", rw.create("sub", x, m))
    rw.replace(op, rw.create("div", shifted, rw.create("sum", shifted, axes=axes, keepdims=True)))
    return True


STABILIZE = STABLE + [
    PyRule("logsumexp-shift", ("log",), logsumexp_shift),
    PyRule("softmax-shift", ("div",), softmax_shift),
    PyRule("cancel", ("mul", "div"), cancel),
    PyRule("distribute", ("mul", "div"), distribute),
]


@dataclass
class Stabilize(Pass):
    """Numerically stable forms (see the module doc)."""
    name = "stabilize"

    def run(self, func):
        apply_rules(func, STABILIZE, self)
