"""stabilize: IR text in, IR text out, one rule per case."""
from ..pass_helpers import rule_tests

V = "tensor<?xf64>"
F = "tensor<4xf64>"      # same static size: the factors broadcast nothing
M = "tensor<?x?xf64>"
ONE = "%one = constant() {value = dense<1.0>} : tensor<f64>"

CASES = {
    # sigmoids written by hand, and what autodiff makes of them
    "hand-sigmoid": ("%a: tensor<?xf64>",
                     [ONE, f"%0 = neg(%a) : {V}", f"%1 = exp(%0) : {V}", f"%2 = add(%one, %1) : {V}",
                      f"%y = div(%one, %2) : {V}", "return(%y)"],
                     [f"%y = sigmoid(%a) : {V}", "return(%y)"]),
    "exp-over-one-plus-exp": ("%a: tensor<?xf64>",
                              [ONE, f"%0 = exp(%a) : {V}", f"%1 = add(%0, %one) : {V}",
                               f"%y = div(%0, %1) : {V}", "return(%y)"],
                              [f"%y = sigmoid(%a) : {V}", "return(%y)"]),
    "one-minus-sigmoid": ("%a: tensor<?xf64>", [ONE, f"%0 = sigmoid(%a) : {V}", f"%y = sub(%one, %0) : {V}",
                                                "return(%y)"],
                          [f"%0 = neg(%a) : {V}", f"%y = sigmoid(%0) : {V}", "return(%y)"]),
    "sigmoid-times-exp-of-minus": ("%a: tensor<4xf64>, %g: tensor<4xf64>",
                                   [f"%0 = sigmoid(%a) : {F}", f"%1 = neg(%a) : {F}", f"%2 = exp(%1) : {F}",
                                    f"%3 = mul(%g, %0) : {F}", f"%y = mul(%3, %2) : {F}", "return(%y)"],
                                   [f"%0 = neg(%a) : {F}", f"%1 = sigmoid(%0) : {F}", f"%y = mul(%g, %1) : {F}",
                                    "return(%y)"]),
    "sigmoid-difference": ("%a: tensor<4xf64>, %g: tensor<4xf64>",
                           [f"%0 = sigmoid(%a) : {F}", f"%1 = mul(%g, %0) : {F}", f"%2 = mul(%1, %0) : {F}",
                            f"%y = sub(%1, %2) : {F}", "return(%y)"],
                           [f"%0 = sigmoid(%a) : {F}", f"%1 = neg(%a) : {F}", f"%2 = sigmoid(%1) : {F}",
                            f"%3 = mul(%g, %0) : {F}", f"%y = mul(%3, %2) : {F}", "return(%y)"]),
    # g * exp(x) / sum(exp(x)): the gradient of log(sum(exp(x))) -> g * softmax, max-shifted
    "softmax-products": ("%a: tensor<?x?xf64>, %g: tensor<?x?xf64>",
                         [f"%e = exp(%a) : {M}", "%s = sum(%e) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                          f"%0 = mul(%g, %e) : {M}", f"%y = div(%0, %s) : {M}", "return(%y)"],
                         ["%0 = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                          f"%1 = sub(%a, %0) : {M}", f"%2 = exp(%1) : {M}",
                          "%3 = sum(%2) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                          f"%4 = div(%2, %3) : {M}", f"%y = mul(%g, %4) : {M}", "return(%y)"]),
    "log1p": ("%a: tensor<?xf64>", [ONE, f"%0 = add(%one, %a) : {V}", f"%y = log(%0) : {V}", "return(%y)"],
              [f"%y = log1p(%a) : {V}", "return(%y)"]),
    "log1m": ("%a: tensor<?xf64>", [ONE, f"%0 = sub(%one, %a) : {V}", f"%y = log(%0) : {V}", "return(%y)"],
              [f"%0 = neg(%a) : {V}", f"%y = log1p(%0) : {V}", "return(%y)"]),
    "expm1": ("%a: tensor<?xf64>", [ONE, f"%0 = exp(%a) : {V}", f"%y = sub(%0, %one) : {V}", "return(%y)"],
              [f"%y = expm1(%a) : {V}", "return(%y)"]),
    "log-sigmoid": ("%a: tensor<?xf64>", [f"%0 = sigmoid(%a) : {V}", f"%y = log(%0) : {V}", "return(%y)"],
                    [f"%0 = neg(%a) : {V}", f"%1 = softplus(%0) : {V}", f"%y = neg(%1) : {V}", "return(%y)"]),
    "log-one-minus-sigmoid": ("%a: tensor<?xf64>",
                              [ONE, f"%0 = sigmoid(%a) : {V}", f"%1 = sub(%one, %0) : {V}",
                               f"%y = log(%1) : {V}", "return(%y)"],
                              [f"%0 = softplus(%a) : {V}", f"%y = neg(%0) : {V}", "return(%y)"]),
    "softplus": ("%a: tensor<?xf64>", [ONE, f"%0 = exp(%a) : {V}", f"%1 = add(%0, %one) : {V}",
                                       f"%y = log(%1) : {V}", "return(%y)"],
                 [f"%y = softplus(%a) : {V}", "return(%y)"]),
    # log(softmax) as the DSL builds it becomes log_softmax: x - max - log(sum)
    "log-softmax": ("%a: tensor<?x?xf64>",
                    [f"%m = max(%a) {{axes = [1], keepdims = true}} : tensor<?x1xf64>",
                     f"%x = sub(%a, %m) : {M}", f"%e = exp(%x) : {M}",
                     "%s = sum(%e) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                     f"%p = div(%e, %s) : {M}", f"%y = log(%p) : {M}", "return(%y)"],
                    ["%m = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                     f"%x = sub(%a, %m) : {M}", f"%e = exp(%x) : {M}",
                     "%s = sum(%e) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                     "%0 = log(%s) : tensor<?x1xf64>", f"%y = sub(%x, %0) : {M}", "return(%y)"]),
    "logsumexp-shift": ("%a: tensor<?x?xf64>",
                        [f"%e = exp(%a) : {M}", "%s = sum(%e) {axes = [1], keepdims = false} : tensor<?xf64>",
                         f"%y = log(%s) : {V}", "return(%y)"],
                        ["%0 = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                         "%1 = constant() {value = dense<inf>} : tensor<f64>",
                         "%2 = abs(%0) : tensor<?x1xf64>",
                         "%3 = eq(%2, %1) : tensor<?x1xi1>",
                         "%4 = constant() {value = dense<0.0>} : tensor<f64>",
                         "%5 = where(%3, %4, %0) : tensor<?x1xf64>",
                         f"%6 = sub(%a, %5) : {M}", f"%7 = exp(%6) : {M}",
                         "%8 = sum(%7) {axes = [1], keepdims = false} : tensor<?xf64>",
                         f"%9 = log(%8) : {V}", f"%10 = dimshuffle(%5) {{pattern = [0]}} : {V}",
                         f"%y = add(%9, %10) : {V}", "return(%y)"]),
    "softmax-shift": ("%a: tensor<?x?xf64>",
                      [f"%e = exp(%a) : {M}", "%s = sum(%e) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                       f"%y = div(%e, %s) : {M}", "return(%y)"],
                      ["%0 = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                       f"%1 = sub(%a, %0) : {M}", f"%2 = exp(%1) : {M}",
                       "%3 = sum(%2) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                       f"%y = div(%2, %3) : {M}", "return(%y)"]),
    # the gradient of log(p) is g/p; multiplied back by p it is g, even where p is 0
    "cancel": ("%g: tensor<4xf64>, %p: tensor<4xf64>",
               [f"%0 = div(%g, %p) : {F}", f"%y = mul(%0, %p) : {F}", "return(%y)"],
               ["return(%g)"]),
    "cancel-through-a-quotient": ("%g: tensor<4xf64>, %e: tensor<4xf64>, %s: tensor<4xf64>",
                                  [f"%p = div(%e, %s) : {F}", f"%0 = div(%g, %p) : {F}",
                                   f"%1 = div(%0, %s) : {F}", f"%y = mul(%1, %e) : {F}", "return(%p, %y)"],
                                  [f"%p = div(%e, %s) : {F}", "return(%p, %g)"]),
    "cancel-keeps-sign-and-rest": ("%g: tensor<4xf64>, %z: tensor<4xf64>, %w: tensor<4xf64>",
                                   [f"%0 = div(%g, %z) : {F}", f"%1 = neg(%0) : {F}",
                                    f"%2 = mul(%z, %w) : {F}", f"%y = mul(%1, %2) : {F}", "return(%y)"],
                                   [f"%0 = mul(%g, %w) : {F}", f"%y = neg(%0) : {F}", "return(%y)"]),
    "constant-factors-merge": ("%a: tensor<?xf64>",
                               ["%h = constant() {value = dense<0.5>} : tensor<f64>",
                                "%t = constant() {value = dense<6.0>} : tensor<f64>",
                                f"%0 = mul(%a, %h) : {V}", f"%y = mul(%0, %t) : {V}", "return(%y)"],
                               ["%0 = constant() {value = dense<3.0>} : tensor<f64>",
                                f"%y = mul(%a, %0) : {V}", "return(%y)"]),
    "distribute-to-cancel": ("%g: tensor<4xf64>, %p: tensor<4xf64>, %b: tensor<4xf64>",
                             [f"%0 = div(%g, %p) : {F}", f"%1 = add(%0, %b) : {F}",
                              f"%y = mul(%1, %p) : {F}", "return(%y)"],
                             [f"%0 = mul(%b, %p) : {F}", f"%y = add(%g, %0) : {F}", "return(%y)"]),
}


KEPT = {
    # 2 + exp(x) is no sigmoid's denominator; 1 + exp(x) above the line stays
    "two-plus-exp": ("%a: tensor<?xf64>",
                     ["%two = constant() {value = dense<2.0>} : tensor<f64>", f"%0 = exp(%a) : {V}",
                      f"%1 = add(%0, %two) : {V}", f"%y = div(%0, %1) : {V}", "return(%y)"]),
    "one-plus-exp-above": ("%a: tensor<?xf64>, %g: tensor<?xf64>",
                           [ONE, f"%0 = exp(%a) : {V}", f"%1 = add(%0, %one) : {V}",
                            f"%y = mul(%g, %1) : {V}", "return(%y)"]),
    # the DSL's softmax and logsumexp already subtract the max
    "shifted-softmax": ("%a: tensor<?x?xf64>",
                        ["%m = max(%a) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                         f"%x = sub(%a, %m) : {M}", f"%e = exp(%x) : {M}",
                         "%s = sum(%e) {axes = [1], keepdims = true} : tensor<?x1xf64>",
                         f"%y = div(%e, %s) : {M}", "return(%y)"]),
    # x/x is NaN for 0, inf and NaN: a quotient that would cancel to a constant stays
    "self-quotient": ("%a: tensor<?xf64>", [f"%y = div(%a, %a) : {V}", "return(%y)"]),
    # nothing cancels
    "plain-quotient": ("%a: tensor<?xf64>, %b: tensor<?xf64>",
                       [f"%0 = div(%a, %b) : {V}", f"%y = mul(%0, %a) : {V}", "return(%y)"]),
    # p broadcasts g (1 element) to p's size: dropping p would change the shape
    "cancel-that-would-shrink": ("%g: tensor<1xf64>, %p: tensor<?xf64>",
                                 [f"%0 = div(%g, %p) : {V}", f"%y = mul(%0, %p) : {V}", "return(%y)"]),
    # (g/p + b) is used twice: distributing would compute it again
    "distribute-shared-sum": ("%g: tensor<?xf64>, %p: tensor<?xf64>, %b: tensor<?xf64>",
                              [f"%0 = div(%g, %p) : {V}", f"%1 = add(%0, %b) : {V}",
                               f"%y = mul(%1, %p) : {V}", "return(%y, %1)"]),
}


test_rule, test_not_rewritten = rule_tests("stabilize", CASES, KEPT)
