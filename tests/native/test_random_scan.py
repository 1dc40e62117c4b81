"""Random draws inside ``theon.scan``: each draw's stream state is a
loop-carried value of the loop (advanced once per step, its value after
the last step returned in scan's updates and made its default update), so
every step draws new numbers, defined exactly by the state: step t of a
call draws Philox with the counter advanced t times. Checked against the
reference definition, an RBM's exact stationary distribution (Gibbs chain),
finite differences (reparameterized normals), 1 vs 2 threads, and an AOT
object run from C."""
import itertools
import json
import runpy
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

import theon
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.ops.random import normal_from_blocks, philox_blocks, uniform_from_blocks
from theon.tensor.shared_randomstreams import RandomStreams


def _uniforms(state, n, dtype="float64"):
    per = 4 if dtype == "float32" else 2
    return uniform_from_blocks(philox_blocks(state, -(-n // per)), dtype)[:n].astype(dtype)


def _normals(state, n, dtype="float64"):
    per = 4 if dtype == "float32" else 2
    return normal_from_blocks(philox_blocks(state, -(-n // per)), dtype)[:n].astype(dtype)


def test_each_step_draws_from_the_state_advanced_once_per_step():
    s = RandomStreams(seed=21)
    h0 = T.dvector("h0")
    hs, upd = theon.scan(lambda h: h + s.uniform((3,)), outputs_info=[h0], n_steps=5)
    (state, final), = upd.items()
    assert s.updates() == [(state, final)] and state.default_update is final
    start = state.get_value().copy()
    f = theon.function([h0], hs, updates=upd)
    for call in range(3):
        got = f(np.zeros(3))
        u = np.stack([_uniforms([start[0], start[1] + 5 * call + t], 3) for t in range(5)])
        np.testing.assert_array_equal(got, np.cumsum(u, axis=0))
        assert state.get_value().tolist() == [start[0], start[1] + 5 * (call + 1)]
    # without updates=: the default update is the value after the loop, too
    g = theon.function([h0], hs)
    got = g(np.zeros(3))
    u = np.stack([_uniforms([start[0], start[1] + 15 + t], 3) for t in range(5)])
    np.testing.assert_array_equal(got, np.cumsum(u, axis=0))
    assert state.get_value()[1] == start[1] + 20
    frozen = theon.function([h0], hs, no_default_updates=True)
    np.testing.assert_array_equal(frozen(np.zeros(3)), frozen(np.zeros(3)))


def test_same_seed_same_chain_and_seed_restarts():
    def build(seed):
        s = RandomStreams(seed=seed)
        v0 = T.dvector("v0")
        out, upd = theon.scan(lambda v: s.normal((4,), avg=0.5 * v), outputs_info=[v0], n_steps=6)
        return s, theon.function([v0], out, updates=upd)
    s1, f1 = build(5)
    _, f2 = build(5)
    _, f3 = build(6)
    a = f1(np.ones(4))
    assert len({tuple(r) for r in a}) == 6                  # every step new numbers
    np.testing.assert_array_equal(a, f2(np.ones(4)))
    assert not np.any(a == f3(np.ones(4)))
    b = f1(np.ones(4))
    assert not np.any(a == b)                               # the next call goes on
    s1.seed(5)
    np.testing.assert_array_equal(f1(np.ones(4)), a)


def _rbm_exact(W, b, c):
    """p(v) of the RBM with energy -v.c - h.b - v.W.h, over all binary v."""
    vs = np.array(list(itertools.product([0, 1], repeat=W.shape[0])), float)
    logp = vs @ c + np.log1p(np.exp(vs @ W + b)).sum(1)
    p = np.exp(logp - logp.max())
    return vs, p / p.sum()


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_rbm_gibbs_chain_samples_the_exact_distribution(mode):
    rng = np.random.default_rng(1)
    W, b, c = rng.normal(0, 1.0, (3, 2)), rng.normal(0, 0.5, 2), rng.normal(0, 0.5, 3)
    s = RandomStreams(seed=17)
    Ws, bs, cs = theon.shared(W, "W"), theon.shared(b, "b"), theon.shared(c, "c")
    v0 = T.dmatrix("v0")

    def gibbs(v):
        h = s.binomial(size=(v.shape[0], 2), p=T.nnet.sigmoid(T.dot(v, Ws) + bs), dtype="float64")
        return s.binomial(size=v.shape, p=T.nnet.sigmoid(T.dot(h, Ws.T) + cs), dtype="float64")
    chain, upd = theon.scan(gibbs, outputs_info=[v0], n_steps=15)
    f = theon.function([v0], chain[-1], updates=upd, mode=mode)
    chains = 6000
    v = f(np.zeros((chains, 3)))
    vs, p = _rbm_exact(W, b, c)
    codes = (v @ (2 ** np.arange(2, -1, -1))).astype(int)        # the row index of itertools.product
    counts = np.bincount(codes, minlength=8)
    chi2 = ((counts - chains * p) ** 2 / (chains * p)).sum()
    assert chi2 < 24.32                                     # 7 dof, alpha 1e-3
    uniform = ((counts - chains / 8) ** 2 / (chains / 8)).sum()
    assert uniform > 24.32                                  # the test can fail


def test_stochastic_rnn_noise_is_the_reference_draw_per_step():
    s = RandomStreams(seed=8)
    x = T.dmatrix("x")
    W = theon.shared(np.random.default_rng(2).normal(0, 0.4, (3, 3)), "W")

    def step(x_t, h):
        eps = s.normal((3,))
        return [T.tanh(T.dot(h, W) + x_t + 0.1 * eps), eps]
    (hs, eps), upd = theon.scan(step, sequences=[x], outputs_info=[T.zeros((3,)), None])
    state = s.updates()[0][0]
    start = state.get_value().copy()
    f = theon.function([x], [hs, eps], updates=upd)
    xv = np.random.default_rng(3).normal(size=(7, 3))
    got_h, got_e = f(xv)
    want_e = np.stack([_normals([start[0], start[1] + t], 3) for t in range(7)])
    np.testing.assert_allclose(got_e, want_e, rtol=1e-12, atol=1e-12)
    h, Wv = np.zeros(3), W.get_value()
    for t in range(7):
        h = np.tanh(h @ Wv + xv[t] + 0.1 * got_e[t])
        np.testing.assert_allclose(got_h[t], h, rtol=1e-12, atol=1e-12)
    assert state.get_value()[1] == start[1] + 7


def test_gradient_through_scan_with_reparameterized_normals():
    s = RandomStreams(seed=4)
    mu, sig, h0 = T.dvector("mu"), T.dvector("sig"), T.dvector("h0")

    def step(h, mu, sig):
        return T.tanh(h * 0.9 + s.normal((3,), avg=mu, std=sig) + s.uniform((3,), low=-sig, high=sig))
    hs, _ = theon.scan(step, outputs_info=[h0], non_sequences=[mu, sig], n_steps=5)
    cost = (hs ** 2).sum()
    f = theon.function([h0, mu, sig], [cost] + theon.grad(cost, [h0, mu, sig]), no_default_updates=True)
    x = [np.array([0.3, -0.2, 0.1]), np.array([0.1, 0.2, -0.3]), np.array([0.5, 0.6, 0.7])]
    _, *grads = f(*x)
    eps = 1e-6
    for k in range(3):
        num = np.zeros(3)
        for i in range(3):
            up = [a.copy() for a in x]
            dn = [a.copy() for a in x]
            up[k][i] += eps
            dn[k][i] -= eps
            num[i] = (f(*up)[0] - f(*dn)[0]) / (2 * eps)
        np.testing.assert_allclose(grads[k], num, rtol=1e-6, atol=1e-8)


def test_nested_scan_chains_advance_inside_and_outside():
    s = RandomStreams(seed=9)
    v0 = T.dvector("v0")

    def outer(v):
        inner, inner_upd = theon.scan(lambda w: w + s.uniform((2,)), outputs_info=[v], n_steps=3)
        return inner[-1], inner_upd
    out, upd = theon.scan(outer, outputs_info=[v0], n_steps=4)
    state = s.updates()[0][0]
    start = state.get_value().copy()
    f = theon.function([v0], out, updates=upd)
    got = f(np.zeros(2))
    u = np.stack([_uniforms([start[0], start[1] + t], 2) for t in range(12)])
    np.testing.assert_array_equal(got, np.cumsum(u, axis=0)[2::3])
    assert state.get_value()[1] == start[1] + 12


def test_zero_steps_leave_the_state():
    s = RandomStreams(seed=2)
    n = T.lscalar("n")
    hs, upd = theon.scan(lambda h: h + s.uniform((2,)), outputs_info=[T.zeros((2,))], n_steps=n)
    f = theon.function([n], hs, updates=upd)
    state = s.updates()[0][0]
    before = state.get_value().copy()
    assert f(0).shape == (0, 2)
    np.testing.assert_array_equal(state.get_value(), before)
    assert f(3).shape == (3, 2) and state.get_value()[1] == before[1] + 3


THREADS_CODE = """
import os, json
os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:{threads}]))
import numpy as np, theon, theon.tensor as T
from theon.tensor.shared_randomstreams import RandomStreams
s = RandomStreams(seed=31)
v0 = T.dmatrix("v0")
def step(v):
    z = s.normal(size=v.shape, dtype="float64")
    return v * 0.5 + z * s.binomial(size=v.shape, p=0.5, dtype="float64")
out, upd = theon.scan(step, outputs_info=[v0], n_steps=3)
f = theon.function([v0], out.sum(axis=(1, 2)), updates=upd)
x = np.zeros((300, 400))
print(json.dumps([f(x).tolist(), f(x).tolist(), len(os.sched_getaffinity(0))]))
"""


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_same_numbers_with_one_and_two_threads(run_json):
    one = run_json(THREADS_CODE.replace("{threads}", "1"))
    two = run_json(THREADS_CODE.replace("{threads}", "2"))
    assert one[2] == 1 and two[2] == 2
    assert one[:2] == two[:2]
    assert one[0] != one[1]


# --- AOT: an object with a Gibbs chain, run from C --------------------------------------------------
C_SOURCE = """
import numpy as np, theon, theon.tensor as T
from theon.tensor.shared_randomstreams import RandomStreams
srng = RandomStreams(seed=11)
W = theon.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
v0 = T.dvector("v0")
def gibbs(v):
    h = srng.binomial(size=(3,), p=T.nnet.sigmoid(T.dot(v, W)), dtype="float64")
    return [srng.binomial(size=(4,), p=T.nnet.sigmoid(T.dot(W, h)), dtype="float64"), srng.normal((2,))]
(chain, z), upd = theon.scan(gibbs, outputs_info=[v0, None], n_steps=6)
gibbs_chain = theon.function([v0], [chain, z], updates=upd)
"""

C_MAIN = r'''
#include <stdio.h>
#include "gibbs_chain.h"
int main(void) {
    gibbs_chain_state st;
    double v0[4] = {1, 0, 1, 0}, chain[24], z[12];
    gibbs_chain_state_init(&st);
    for (int call = 0; call < 3; call++) {
        int rc = gibbs_chain(&st, v0, 4, chain, z);
        if (rc) { printf("error %s\n", theon_strerror(rc)); return 1; }
        for (int i = 0; i < 24; i++) printf("%.17g ", chain[i]);
        for (int i = 0; i < 12; i++) printf("%.17g ", z[i]);
        printf("\n");
    }
    return 0;
}
'''


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_aot_gibbs_chain_run_from_c_equals_the_jit(tmp_path):
    from theon.runtime.aot_cli import main
    src = tmp_path / "gibbs_model.py"
    src.write_text(C_SOURCE)
    assert main([str(src), "-o", str(tmp_path), "--emit", "obj,header"]) == 0
    (tmp_path / "main.c").write_text(C_MAIN)
    exe = tmp_path / "main"
    cc = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(tmp_path), str(tmp_path / "main.c"),
                         str(tmp_path / "gibbs_chain.o"), "-lm", "-lpthread", "-o", str(exe)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    model = runpy.run_path(str(src), run_name="c_reference")
    assert len(lines) == 3
    seen = []
    for line in lines:
        values = np.array([float(v) for v in line.split()])
        chain, z = model["gibbs_chain"](np.array([1.0, 0.0, 1.0, 0.0]))
        np.testing.assert_array_equal(values[:24], chain.ravel())
        np.testing.assert_allclose(values[24:], z.ravel(), rtol=1e-13, atol=1e-13)
        seen.append(json.dumps(values.tolist()))
    assert len(set(seen)) == 3


# --- random steps, sizes and states: native == reference (hypothesis) --------------------------------
_SCANS = {}


def _scan_fn(kind, dtype):
    """One compiled scan per (distribution, dtype): n_steps and the draw's
    size symbolic, the stream state an explicit input of the reference."""
    if (kind, dtype) not in _SCANS:
        s = RandomStreams(seed=0)
        n, k = T.lscalar("n"), T.lscalar("k")

        def step(acc):
            z = getattr(s, kind)((k,), dtype=dtype)
            return acc + z.sum()
        out, upd = theon.scan(step, outputs_info=[T.zeros((), dtype=dtype)], n_steps=n)
        f = theon.function([n, k], out, updates=upd)
        func, _ = build_function([n, k], [out], list(upd.items()))
        _SCANS[(kind, dtype)] = (f, func, s.updates()[0][0])
    return _SCANS[(kind, dtype)]


@settings(max_examples=25, deadline=None)
@given(kind=hst.sampled_from(["uniform", "normal"]), dtype=hst.sampled_from(["float32", "float64"]),
       n=hst.integers(0, 6), k=hst.integers(0, 9), key=hst.integers(-2 ** 63, 2 ** 63 - 1),
       counter=hst.integers(-2 ** 63, 2 ** 63 - 8))
def test_random_scans_native_equal_the_reference(kind, dtype, n, k, key, counter):
    f, func, state = _scan_fn(kind, dtype)
    start = np.array([key, counter], np.int64)
    (want,), ((_, new),) = evaluate(func, [np.int64(n), np.int64(k), start])
    state.set_value(start)
    got = f(n, k)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(k, 1))
    assert state.get_value().tolist() == new.tolist() == [key, counter + n]
