"""Data-dependent bad input of the random streams, checked in native code
(PROBABILITY_ERROR, ``ir/ops/random.py`` ``check_probabilities``): a tensor
``p`` of binomial outside [0, 1] (NaN too), ``pvals`` / choice's ``p``
rows not summing to 1, weighted choice without replacement of more than
the non-zero weights; each a ValueError naming the argument, run in a
subprocess (a crash there fails the test, it does not take pytest down).
And weighted sampling without replacement (``random_choice``): native ==
reference, chi-squared against the exact probabilities of ordered pairs."""
import itertools

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

import theon
import theon.tensor as T
from theon.frontend.basic import apply_op
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.sandbox.rng_mrg import MRG_RandomStreams
from theon.tensor.shared_randomstreams import RandomStreams

BAD_INPUT = r"""
import json, numpy as np, theon, theon.tensor as T
from theon.tensor.shared_randomstreams import RandomStreams
from theon.sandbox.rng_mrg import MRG_RandomStreams
s, m = RandomStreams(seed=1), MRG_RandomStreams(seed=2)
p, pf, P, Pf = T.dvector("p"), T.fvector("pf"), T.dmatrix("P"), T.fmatrix("Pf")
cases = {
    "binomial": (theon.function([p], s.binomial(size=(2, 4), p=p)), [np.array([0.1, 0.2, 1.5, 0.3])]),
    "binomial_nan": (theon.function([p], s.binomial(p=p)), [np.array([0.1, np.nan])]),
    "binomial_neg_f32": (theon.function([pf], s.binomial(p=pf, dtype="float32")), [np.array([-0.25, 0.5], np.float32)]),
    "binomial_ok": (theon.function([p], s.binomial(p=p)), [np.array([0.0, 1.0, 0.5])]),
    "multinomial_sum": (theon.function([P], s.multinomial(n=3, pvals=P)), [np.array([[0.5, 0.5], [0.3, 0.6]])]),
    "multinomial_range": (theon.function([P], s.multinomial(pvals=P)), [np.array([[1.5, -0.5]])]),
    "multinomial_f32_ok": (theon.function([Pf], s.multinomial(pvals=Pf)),
                           [(np.exp(np.arange(12.0)) / np.exp(np.arange(12.0)).sum()).astype(np.float32)[None]]),
    "mrg_multinomial": (theon.function([P], m.multinomial(pvals=P)), [np.array([[0.2, 0.2]])]),
    "choice_sum": (theon.function([p], s.choice(size=5, a=3, p=p)), [np.array([0.2, 0.2, 0.2])]),
    "choice_wo_sum": (theon.function([p], s.choice(size=2, a=3, p=p, replace=False)), [np.array([0.5, 0.5, 0.5])]),
    "choice_wo_few": (theon.function([p], s.choice(size=3, a=4, p=p, replace=False)), [np.array([0.5, 0.5, 0, 0])]),
    "mrg_choice_wo_few": (theon.function([P], m.choice(size=2, p=P, replace=False)), [np.array([[0.5, 0.5, 0], [1.0, 0, 0]])]),
    "choice_length": (theon.function([p], s.choice(size=2, a=3, p=p)), [np.array([0.25] * 4)]),
    "choice_wo_length": (theon.function([p], s.choice(size=2, a=3, p=p, replace=False)), [np.array([0.5, 0.5])]),
    "choice_wo_ok": (theon.function([p], s.choice(size=2, a=4, p=p, replace=False)), [np.array([0.5, 0.5, 0, 0])]),
}
out = {}
for name, (f, args) in cases.items():
    try:
        got = f(*args)
        out[name] = ["ok", np.asarray(got).tolist()]
    except Exception as e:
        out[name] = [type(e).__name__, str(e).splitlines()[0]]
print(json.dumps(out))
"""


def test_bad_probabilities_are_value_errors_naming_the_argument(run_json):
    got = run_json(BAD_INPUT)
    want = {
        "binomial": r"binomial: p must be in \[0, 1\], but element 2 \(in C order\) is 1\.5",
        "binomial_nan": r"binomial: p must be in \[0, 1\], but element 1 .* is nan",
        "binomial_neg_f32": r"binomial: p must be in \[0, 1\], but element 0 .* is -0\.25",
        "multinomial_sum": r"multinomial: each distribution of pvals .* must sum to 1, but distribution 1 sums to 0\.9",
        "multinomial_range": r"multinomial: pvals must be in \[0, 1\], but element 0 .* is 1\.5",
        "mrg_multinomial": r"multinomial: each distribution of pvals .* distribution 0 sums to 0\.4",
        "choice_sum": r"choice: each distribution of p .* sums to 0\.6",
        "choice_wo_sum": r"choice: each distribution of p .* sums to 1\.5",
        "choice_wo_few": r"choice: cannot take 3 elements without replacement: p has only 2 non-zero",
        "choice_length": r"cannot reshape an array of size 4 into shape \(3,\).* computed from input 'p'",
        "choice_wo_length": r"cannot reshape an array of size 2 into shape \(3,\)",
        "mrg_choice_wo_few": r"choice: cannot take 2 elements without replacement: p has only 1 non-zero",
    }
    for name, pattern in want.items():
        kind, text = got[name]
        assert kind == "ValueError" and re.search(pattern, text), (name, got[name])
    assert got["binomial_ok"][0] == "ok" and got["binomial_ok"][1][:2] == [0, 1]
    assert got["multinomial_f32_ok"][0] == "ok" and sum(got["multinomial_f32_ok"][1][0]) == 1
    assert got["choice_wo_ok"][0] == "ok" and sorted(got["choice_wo_ok"][1]) == [0, 1]


def test_checks_pass_probabilities_within_tolerance():
    s = RandomStreams(seed=5)
    P = T.dmatrix("P")
    f = theon.function([P], s.multinomial(n=1, pvals=P))
    rows = np.array([[0.3, 0.3, 0.4 + 5e-7], [1.0, 0.0, 0.0]])          # 5e-7 < 3 * 1e-6
    assert f(rows).sum() == 2
    with pytest.raises(ValueError, match="sums to 1.00001"):
        f(np.array([[0.3, 0.3, 0.40001]]))


# --- weighted choice without replacement --------------------------------------------------------
def _ordered_pair_probabilities(w):
    w = np.asarray(w) / np.sum(w)
    return {(i, j): w[i] * w[j] / (1 - w[i]) for i, j in itertools.permutations(range(len(w)), 2)}


def test_weighted_choice_without_replacement_chi_squared_on_ordered_pairs():
    w = [0.1, 0.2, 0.3, 0.4]
    n = 24000
    m = MRG_RandomStreams(seed=41)
    P = T.dmatrix("P")
    pairs = theon.function([P], m.choice(size=2, p=P, replace=False))(np.tile(w, (n, 1)))
    assert pairs.shape == (n, 2) and np.all(pairs[:, 0] != pairs[:, 1])
    exact = _ordered_pair_probabilities(w)
    counts = np.zeros(len(exact))
    keys = list(exact)
    index = {k: i for i, k in enumerate(keys)}
    for a, b in pairs:
        counts[index[(a, b)]] += 1
    probs = np.array([exact[k] for k in keys])
    chi2 = ((counts - n * probs) ** 2 / (n * probs)).sum()
    assert chi2 < 31.26                                       # 11 dof, alpha 1e-3
    with_replacement_like = np.full(len(keys), 1 / len(keys))   # the test can fail
    assert ((counts - n * with_replacement_like) ** 2 / (n * with_replacement_like)).sum() > 31.26
    # inclusion probabilities: P(i in the sample) = sum of the ordered pairs holding i
    incl = np.array([sum(v for k, v in exact.items() if i in k) for i in range(4)])
    seen = np.bincount(pairs.ravel(), minlength=4) / n
    np.testing.assert_allclose(seen, incl, atol=4 * np.sqrt(incl * (1 - incl) / n).max())


def test_weighted_choice_in_a_scan_and_from_values():
    s = RandomStreams(seed=42)
    p = T.dvector("p")
    values = T.dvector("values")
    draws, upd = theon.scan(lambda: s.choice(size=(3,), a=5, p=p, replace=False), n_steps=4000)
    f = theon.function([p], draws, updates=upd)
    w = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    got = f(w)
    assert got.shape == (4000, 3) and all(len(set(r)) == 3 for r in got)
    first = np.bincount(got[:, 0], minlength=5)
    chi2 = ((first - 4000 * w) ** 2 / (4000 * w)).sum()
    assert chi2 < 18.47                                       # the first pick is a plain draw from w (4 dof)
    assert not np.array_equal(f(w), got)
    g = theon.function([values, p], s.choice(size=(2, 2), a=values, p=p, replace=False))
    v = g(np.array([10.0, 20.0, 30.0, 40.0, 50.0]), w)
    assert v.shape == (2, 2) and len(set(v.ravel())) == 4 and set(v.ravel()) <= {10.0, 20.0, 30.0, 40.0, 50.0}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weighted_choice_native_equals_reference(dtype):
    rng = np.random.default_rng(7)
    for seed in range(6):
        s = RandomStreams(seed=seed)
        p = T.vector("p", dtype=dtype)
        out = s.choice(size=(int(rng.integers(1, 9)),), a=12, p=p, replace=False)
        f = theon.function([p], out, no_default_updates=True)
        w = rng.random(12)
        w[rng.random(12) < 0.2] = 0
        w = (w / w.sum()).astype(dtype)
        state = s.updates()[0][0]
        func, _ = build_function([p], [out], [])
        want = evaluate(func, [w, state.get_value()])[0][0]
        got = f(w)
        np.testing.assert_array_equal(got, want)


_CHECKS = {}


def _check_fn(normalized, dtype, ndim):
    key = (normalized, dtype, ndim)
    if key not in _CHECKS:
        x = T.TensorType(dtype, (None,) * ndim)("p")
        arg = "multinomial: pvals" if normalized else "binomial: p"
        out = apply_op("check_probabilities", x, arg=arg, normalized=normalized) * 1
        _CHECKS[key] = (theon.function([x], out), build_function([x], [out], [])[0])
    return _CHECKS[key]


@settings(max_examples=60, deadline=None)
@given(normalized=hst.booleans(), dtype=hst.sampled_from(["float32", "float64"]),
       shape=hst.lists(hst.integers(0, 5), min_size=1, max_size=3),
       bad=hst.sampled_from([None, "high", "negative", "nan", "sum"]), seed=hst.integers(0, 2 ** 31))
def test_native_check_reports_what_the_reference_reports(normalized, dtype, shape, bad, seed):
    """Random arrays, valid or with one bad element / row: native code and
    the reference accept the same arrays and name the same element, row
    and value (a strided, transposed view too)."""
    rng = np.random.default_rng(seed)
    p = rng.random(shape)
    if normalized:
        p = p / np.where(p.sum(-1, keepdims=True) > 0, p.sum(-1, keepdims=True), 1)
    p = p.astype(dtype)
    if p.size and bad is not None:
        i = tuple(rng.integers(0, s) for s in shape)
        p[i] = {"high": 1.25, "negative": -0.5, "nan": np.nan, "sum": p[i] * 0.5}[bad]
    f, func = _check_fn(normalized, dtype, len(shape))
    for arr in (p, np.ascontiguousarray(p.T).T if p.ndim > 1 else p[::-1]):
        try:
            want = evaluate(func, [arr])[0][0]
            err = None
        except ValueError as e:
            err = str(e)
        if err is None:
            np.testing.assert_array_equal(f(arr), want)
        else:
            with pytest.raises(ValueError) as got:
                f(arr)
            assert str(got.value).startswith(err), (str(got.value), err)
