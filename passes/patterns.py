"""Simple algebra as data: the rule tables of canonicalize and stabilize.

Syntax: ``passes/rewrite.py``. Commutative ops match in either operand
order. A rule applies only where its result has the root's dtype and
shape, so ``mul(x, 1) -> x`` leaves ``x * ones((3, 4))`` of a vector alone.

IEEE semantics are kept (``x*0`` stays: it is NaN for NaN or inf), with one
liberty every compiler that folds ``x + 0`` takes: the sign of a zero
result may differ (``-0.0 + 0.0`` is ``+0.0``). Rules that change other
values are behind the ``fast-math`` option.
"""
from .rewrite import rules

ALGEBRA = rules("""
    # identities
    mul-one:        mul(x, 1) -> x
    div-one:        div(x, 1) -> x
    add-zero:       add(x, 0) -> x
    sub-zero:       sub(x, 0) -> x
    pow-one:        pow(x, 1) -> x
    pow-zero:       pow(x, 0) -> 1                  # IEEE: pow(nan, 0) is 1
    max-self:       maximum(x, x) -> x
    min-self:       minimum(x, x) -> x
    # negation
    neg-neg:        neg(neg(x)) -> x
    not-not:        not(not(x)) -> x
    mul-minus-one:  mul(x, -1) -> neg(x)
    div-minus-one:  div(x, -1) -> neg(x)
    zero-sub:       sub(0, x) -> neg(x)
    sub-neg:        sub(x, neg(y)) -> add(x, y)
    add-neg:        add(x, neg(y)) -> sub(x, y)
    neg-sub:        neg(sub(x, y)) -> sub(y, x)
    mul-neg-neg:    mul(neg(x), neg(y)) -> mul(x, y)
    div-neg-neg:    div(neg(x), neg(y)) -> div(x, y)
    abs-neg:        abs(neg(x)) -> abs(x)           if signed(x)   # uint8: -x wraps
    abs-abs:        abs(abs(x)) -> abs(x)
    # powers
    pow-two:        pow(x, 2) -> mul(x, x)
    pow-half:       pow(x, 0.5) -> sqrt(x)          if float(x)   # (pow(-inf, 0.5) is inf)
    pow-minus-one:  pow(x, -1) -> div(1, x)         if float(x)
    # exp and log: log(exp x) is x (exactly, wherever exp does not overflow);
    # exp(log x) is x only where log is defined
    log-exp:        log(exp(x)) -> x
    exp-log:        exp(log(x)) -> x                if nonneg(x)
    exp-log-fast:   exp(log(x)) -> x                if fast-math
    # exact for integers; for floats only under fast-math (NaN, inf)
    sub-self:       sub(x, x) -> 0                  if int(x)
    sub-self-fast:  sub(x, x) -> 0                  if fast-math
    mul-zero:       mul(x, 0) -> 0                  if int(x)
    mul-zero-fast:  mul(x, 0) -> 0                  if fast-math
    div-self-fast:  div(x, x) -> 1                  if fast-math
""")

STABLE = rules("""
    # log(1 - sigmoid x) and log(1 + exp x) before the log1p rules would take them
    log-1m-sigmoid: log(sub(1, sigmoid(x))) -> neg(softplus(x))
    log-sigmoid:    log(sigmoid(x)) -> neg(softplus(neg(x)))
    softplus:       log(add(exp(x), 1)) -> softplus(x)
    log1p-exp:      log1p(exp(x)) -> softplus(x)
    log1p-neg-sig:  log1p(neg(sigmoid(x))) -> neg(softplus(x))
    log1p:          log(add(x, 1)) -> log1p(x)
    log1m:          log(sub(1, x)) -> log1p(neg(x))
    expm1:          sub(exp(x), 1) -> expm1(x)
    expm1-add:      add(exp(x), -1) -> expm1(x)
    # log of a normalized exponential (log(softmax)): x - log(sum)
    log-exp-ratio:  log(div(exp(x), y)) -> sub(x, log(y))
    log-exp:        log(exp(x)) -> x
    sqrt-square:    sqrt(mul(x, x)) -> abs(x)       # x*x may overflow, abs(x) does not
""")
