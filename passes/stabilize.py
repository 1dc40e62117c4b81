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
    sigmoid-products in a product: exp(t)/(1+exp(t)) -> sigmoid(t), 1/(1+exp(t))
                     -> sigmoid(-t), sigmoid(x)*exp(-x) and sigmoid(x)/exp(x) ->
                     sigmoid(-x) (Theano's local_exp_over_1_plus_exp,
                     local_sigm_times_exp): the hand-written sigmoid and the
                     gradient autodiff builds from it
                     exp(a)/(exp(a)+exp(b)) -> sigmoid(a - b)
    one-minus-sigmoid  1 - sigmoid(x) -> sigmoid(-x) (local_1msigmoid)
    log-add-exp      log(exp(a) + exp(b)) -> max(a, b) + log1p(exp(-|a-b|))
                     (local_log_add)
    sigmoid-difference a - a*sigmoid(x) -> a*sigmoid(-x) (the quotient rule on
                     exp(z)/(1+exp(z)), exact where sigmoid is near 1)
    softmax-products in a product: exp(x) / sum(exp(x), axes) -> the max-shifted
                     softmax (a hand-written softmax; the gradients of
                     log(sum(exp(x))) and of a hand-written softmax), helped by
                     dimshuffle-of-exp-quotient and sum-of-exp-quotient, which
                     move sum(exp(x)) out of a broadcast and out of a sum along
                     the axes it is constant on

The last two make gradients finite: the gradient of log(p) is g/p, which
autodiff multiplies back by p's own derivative (for a softmax, by exp(x)),
so g/p * p is g -- even where p underflowed to 0, where the unsimplified
graph computes 0 * inf = NaN. These rewrites change rounding (they are
what makes the result accurate), never the mathematical value.
"""
from dataclasses import dataclass

import numpy as np

from ..ir.builder import make_op
from ..ir.core import is_splat, splat, stored_elements
from ..ir.opdef import const_value
from ..ir.types import is_float
from .manager import Pass
from .patterns import STABLE
from .rewrite import INVALID, PyRule, apply_rules, rules, splat_value

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
        if len(consts) < 2 and not (consts and numerator
                                    and np.all(stored_elements(const_value(consts[0])) == 1)):
            return False
        total = np.ones((), dtype=np.float64)
        if any(abs(self.exps[v]) != 1 for v in consts):
            return False
        values = [const_value(v) for v in consts]
        splat_shape = None
        if any(is_splat(c) for c in values):      # splats merge element-wise: never expanded
            if not all(is_splat(c) or c.ndim == 0 for c in values):
                return False
            splat_shape = np.broadcast_shapes(*(c.shape for c in values))
            values = [c.reshape(-1)[0] if is_splat(c) else c for c in values]
        with np.errstate(all="ignore"):
            for v, c in zip(consts, values):
                c = np.asarray(c).astype(np.float64)
                total = total * c if self.exps[v] > 0 else total / c
            merged = np.asarray(total).astype(dtype)
        if not np.all(np.isfinite(merged) & (merged != 0)):
            return False      # x*1e-200*1e-200 is inf for x = inf; x*0 would be NaN
        if splat_shape is not None:
            merged = splat(merged, splat_shape, dtype)
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


# --- sigmoids written by hand (Theano's local_exp_over_1_plus_exp, local_sigm_times_exp) --
def _existing_or_create(rw, name, *operands, **attrs):
    """The result of a ``name(*operands) {attrs}`` op already before the
    anchor, else of a new one (so factors built by different rules are one
    value, and cancel)."""
    pos = None
    for user, _ in operands[0].uses:
        if (user.name == name and user.parent is rw.block and user.attrs == attrs
                and tuple(user.operands) == operands and len(user.results) == 1):
            if pos is None:
                pos = rw.block.index(rw.anchor)
            if rw.block.index(user) < pos:
                return user.results[0]
    return rw.create(name, *operands, **attrs)


def _negated(rw, v):
    """A value equal to -v: neg(x) -> x, sub(a, b) -> sub(b, a), else neg(v)."""
    op = v.owner
    if op is not None and op.name == "neg":
        return op.operands[0]
    if op is not None and op.name == "sub":
        return _existing_or_create(rw, "sub", op.operands[1], op.operands[0])
    return _existing_or_create(rw, "neg", v)


def _is_negation(a, b):
    """a == -b, read off the ops (neg either way, sub with swapped operands)."""
    for u, v in ((a, b), (b, a)):
        if u.owner is not None and u.owner.name == "neg" and u.owner.operands[0] is v:
            return True
    oa, ob = a.owner, b.owner
    return (oa is not None and ob is not None and oa.name == ob.name == "sub"
            and oa.operands[0] is ob.operands[1] and oa.operands[1] is ob.operands[0])


def _one_plus_exp(v):
    """The exp(t) value if v is 1 + exp(t) (either order), else None."""
    op = v.owner
    if op is None or op.name != "add":
        return None
    for a, b in (op.operands, op.operands[::-1]):
        if b.owner is not None and b.owner.name == "exp" and splat_value(a) == 1:
            return b
    return None


def _exp_plus_exp(v):
    """(exp(a), exp(b)) if v is exp(a) + exp(b), else None."""
    op = v.owner
    if op is None or op.name != "add" or not all(_of(o, "exp") for o in op.operands):
        return None
    return tuple(op.operands)


def log_add_exp(rw, op):
    """log(exp(a) + exp(b)) -> max(a, b) + log1p(exp(-|a - b|)) (Theano's
    local_log_add; a + log 2 where a == b, infinities included)."""
    pair = _exp_plus_exp(op.operands[0])
    if pair is None:
        return False
    a, b = (e.owner.operands[0] for e in pair)
    dtype = op.results[0].dtype
    gap = rw.create("neg", rw.create("abs", rw.create("sub", a, b)))
    apart = rw.create("add", rw.create("maximum", a, b), rw.create("log1p", rw.create("exp", gap)))
    same = rw.create("add", a, rw.const(np.log(2.0), dtype))
    new = rw.create("where", rw.create("eq", a, b), same, apart)
    if not rw.shapes.same(new, op.results[0]):
        return False
    rw.replace(op, new)
    return True


def _of(v, name):
    return v.owner is not None and v.owner.name == name


def _factor(m, v, power):
    if v not in m.exps:
        m.order.append(v)
        m.exps[v] = 0
    m.exps[v] += power


def sigmoid_products(rw, op):
    """In a product: exp(t)/(1+exp(t)) -> sigmoid(t), 1/(1+exp(t)) ->
    sigmoid(-t), sigmoid(x)*exp(-x) -> sigmoid(-x), sigmoid(x)/exp(x) ->
    sigmoid(-x). The hand-written sigmoid and the gradients autodiff builds
    from it (exp(-z)/(1+exp(-z))^2...) become sigmoids, finite for any z."""
    root = op.results[0]
    if not is_float(root.dtype):
        return False
    m = Monomial().add(root, 1)
    changed = False
    for f in list(m.order):
        e = _one_plus_exp(f)
        while e is not None and m.exps[f] < 0:
            t = e.owner.operands[0]
            m.exps[f] += 1
            if m.exps.get(e, 0) > 0:
                m.exps[e] -= 1
                _factor(m, _existing_or_create(rw, "sigmoid", t), 1)
            else:
                _factor(m, _existing_or_create(rw, "sigmoid", _negated(rw, t)), 1)
            changed = True
        pair = _exp_plus_exp(f)
        for ea, eb in (pair, pair[::-1]) if pair else ():
            while m.exps[f] < 0 and m.exps.get(ea, 0) > 0:     # e^a/(e^a + e^b) = sigmoid(a - b)
                m.exps[f] += 1
                m.exps[ea] -= 1
                diff = _existing_or_create(rw, "sub", ea.owner.operands[0], eb.owner.operands[0])
                _factor(m, _existing_or_create(rw, "sigmoid", diff), 1)
                changed = True
    for s in list(m.order):
        if not _of(s, "sigmoid"):
            continue
        x = s.owner.operands[0]
        for e in list(m.order):
            if not _of(e, "exp"):
                continue
            t = e.owner.operands[0]
            while m.exps[s] > 0 and ((m.exps[e] > 0 and _is_negation(t, x)) or (m.exps[e] < 0 and t is x)):
                m.exps[s] -= 1
                m.exps[e] += -1 if m.exps[e] > 0 else 1
                _factor(m, _existing_or_create(rw, "sigmoid", _negated(rw, x)), 1)
                changed = True
    if not changed or not m.remaining():
        return False
    m.merge_constants(root.dtype)
    floating = []
    return _commit(rw, op, floating, m.build(root.dtype, floating))


def one_minus_sigmoid(rw, op):
    """1 - sigmoid(x) -> sigmoid(-x) (Theano's local_1msigmoid): exact where
    sigmoid(x) is near 1."""
    one, s = op.operands
    if splat_value(one) != 1 or not _of(s, "sigmoid"):
        return False
    new = _existing_or_create(rw, "sigmoid", _negated(rw, s.owner.operands[0]))
    if not rw.shapes.same(new, op.results[0]):
        return False
    rw.replace(op, new)
    return True


def _signature(m):
    return m.sign, {v: p for v, p in m.exps.items() if p}


def sigmoid_difference(rw, op):
    """a - a*sigmoid(x) -> a*sigmoid(-x), in any order and with any signs
    (a + -(a*sigmoid(x)), a*sigmoid(x) - a -> -(a*sigmoid(-x))): what autodiff
    makes of the quotient rule on a hand-written sigmoid, exact where
    sigmoid(x) is near 1."""
    root = op.results[0]
    if not is_float(root.dtype):
        return False
    signs = (1, -1 if op.name == "sub" else 1)
    for i in (0, 1):
        ma, mb = Monomial().add(op.operands[i], 1), Monomial().add(op.operands[1 - i], 1)
        ma.sign *= signs[i]
        mb.sign *= -signs[1 - i]       # -b: equal to a*sigmoid(x) when it matches
        sign, rest = _signature(ma)
        for s in mb.order:
            if not _of(s, "sigmoid") or mb.exps[s] <= 0:
                continue
            mb.exps[s] -= 1
            same = _signature(mb) == (sign, rest)
            mb.exps[s] += 1
            if same:
                break
        else:
            continue
        _factor(ma, _existing_or_create(rw, "sigmoid", _negated(rw, s.owner.operands[0])), 1)
        floating = []
        if _commit(rw, op, floating, ma.build(root.dtype, floating)):
            return True
    return False


# --- softmaxes written by hand, and their gradients ----------------------------------------
def _keepdims_pattern(ndim, axes):
    """The dimshuffle pattern that puts reduced ``axes`` back as broadcast dims."""
    out, k = [], 0
    for i in range(ndim):
        if i in axes:
            out.append("x")
        else:
            out.append(k)
            k += 1
    return tuple(out)


def _kept_sum(total, pattern=None):
    """(exp value, axes) if ``total`` is sum(exp(x), axes) with the reduced
    axes kept: by keepdims, or (``pattern`` given) by a dimshuffle with that
    pattern; else None."""
    op = total.owner
    if op is None or op.name != "sum" or not op.attrs["axes"]:
        return None
    axes = tuple(op.attrs["axes"])
    if pattern is None:
        if not op.attrs["keepdims"]:
            return None
    elif op.attrs["keepdims"] or tuple(pattern) != _keepdims_pattern(len(pattern), axes):
        return None
    e = op.operands[0]
    if not _of(e, "exp") or _shifted(e.owner.operands[0]):
        return None
    return e, axes


def _exp_total(d):
    """_kept_sum of ``d`` or of what the dimshuffle ``d`` shuffles."""
    if _of(d, "dimshuffle"):
        return _kept_sum(d.owner.operands[0], d.owner.attrs["pattern"])
    return _kept_sum(d)


def _softmax(rw, x, axes):
    """exp(x - max)/sum(exp(x - max)) over ``axes`` (reusing ops already built)."""
    m = _existing_or_create(rw, "max", x, axes=axes, keepdims=True)
    shifted = _existing_or_create(rw, "exp", _existing_or_create(rw, "sub", x, m))
    total = _existing_or_create(rw, "sum", shifted, axes=axes, keepdims=True)
    return _existing_or_create(rw, "div", shifted, total)


def softmax_products(rw, op):
    """In a product: exp(x) / sum(exp(x), axes) (the sum broadcast back over
    ``axes``) -> the max-shifted softmax. Catches softmaxes written by hand
    inside products and the gradients of log(sum(exp(x))) and of a
    hand-written softmax, which are g * exp(x) / sum(exp(x))."""
    root = op.results[0]
    if not is_float(root.dtype):
        return False
    m = Monomial().add(root, 1)
    changed = False
    for d in list(m.order):
        found = _exp_total(d) if m.exps[d] < 0 else None
        while found is not None and m.exps[d] < 0 and m.exps.get(found[0], 0) > 0:
            e, axes = found
            m.exps[d] += 1
            m.exps[e] -= 1
            _factor(m, _softmax(rw, e.owner.operands[0], axes), 1)
            changed = True
    if not changed or not m.remaining():
        return False
    floating = []
    return _commit(rw, op, floating, m.build(root.dtype, floating))


def sum_of_exp_quotient(rw, op):
    """sum(a / sum(exp(x)), axes) -> sum(a, axes) / sum(exp(x)) (keepdims,
    the same axes: the divisor is constant along them), so the gradient of a
    hand-written softmax, exp(x) * sum(-g*p / s), has s beside exp(x)."""
    if not op.attrs["keepdims"] or not is_float(op.results[0].dtype):
        return False
    axes = tuple(op.attrs["axes"])
    m = Monomial().add(op.operands[0], 1)
    out = [d for d in m.order if m.exps[d] and (_exp_total(d) or (None, None))[1] == axes]
    if not out:
        return False
    inner = Monomial()
    inner.sign = m.sign
    for v in m.order:
        if m.exps[v] and v not in out:
            _factor(inner, v, m.exps[v])
    if not inner.remaining():
        return False
    floating = []
    rest = inner.build(op.results[0].dtype, floating)
    for f in floating:
        rw.insert(f)
    total = Monomial()
    _factor(total, rw.create("sum", rest, axes=axes, keepdims=True), 1)
    for d in out:
        _factor(total, d, m.exps[d])
    floating = []
    return _commit(rw, op, floating, total.build(op.results[0].dtype, floating))


def dimshuffle_of_exp_quotient(rw, op):
    """dimshuffle(a / sum(exp(x))) -> dimshuffle(a) / dimshuffle(sum(exp(x)))
    when the dimshuffle only puts reduced axes back: so the product it is
    broadcast into sees the sum below the line (softmax-products). A sum
    already in that form (keepdims) stays below: dimshuffle(a / s) -> dimshuffle(a) / s
    when the dimshuffle only relabels s's broadcast dims."""
    q = op.operands[0]
    if not _of(q, "div") or len(q.uses) != 1 or _exp_total(op.results[0]) is not None:
        return False
    a, total = q.owner.operands
    pattern = op.attrs["pattern"]
    if _kept_sum(total, pattern) is not None:
        total = rw.create("dimshuffle", total, pattern=pattern)
    elif _exp_total(total) is None or total.type.shape != op.results[0].type.shape:
        return False
    new = rw.create("div", rw.create("dimshuffle", a, pattern=pattern), total)
    if not rw.shapes.same(new, op.results[0]):
        return False
    rw.replace(op, new)
    return True


STABILIZE = STABLE + rules("""
    neg-neg:        neg(neg(x)) -> x        # log(sigmoid(-x)) after one-minus-sigmoid
""") + [
    PyRule("sigmoid-products", ("mul", "div"), sigmoid_products),
    PyRule("one-minus-sigmoid", ("sub",), one_minus_sigmoid),
    PyRule("sigmoid-difference", ("add", "sub"), sigmoid_difference),
    PyRule("softmax-products", ("mul", "div"), softmax_products),
    PyRule("dimshuffle-of-exp-quotient", ("dimshuffle",), dimshuffle_of_exp_quotient),
    PyRule("sum-of-exp-quotient", ("sum",), sum_of_exp_quotient),
    PyRule("log-add-exp", ("log",), log_add_exp),
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
