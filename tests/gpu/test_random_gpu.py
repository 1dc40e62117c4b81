"""Random streams on the GPU path (emulated device; a real GPU when there
is one): the same numbers as the CPU function from the same states, the
states advanced by the GPU call, and a dropout mask fused after the draw."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.gpu_function import from_function
from theon.tensor.shared_randomstreams import RandomStreams


def test_gpu_draws_the_cpu_numbers(device):
    s = RandomStreams(seed=21)
    x = T.fmatrix("x")
    mask = s.binomial(size=x.shape, p=0.5, dtype="float32")
    outs = [s.uniform((5, 3), dtype="float32"), s.normal((1001,), dtype="float64"), x * mask]
    f = theon.function([x], outs)
    g = from_function(f, device)
    states = [st for st, _ in s.updates()]
    start = [st.get_value() for st in states]
    xv = np.ones((4, 6), np.float32)
    got = g(xv)
    after_gpu = [st.get_value() for st in states]
    for st, v in zip(states, start):
        st.set_value(v)
    want = f(xv)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert got[0].tobytes() == want[0].tobytes()
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(got[2], want[2])
    for v0, v1, st in zip(start, after_gpu, states):
        assert v1.tolist() == [v0[0], v0[1] + 1]              # the GPU call advanced the counter
        assert st.get_value().tolist() == v1.tolist()          # ... as the CPU call did
    assert not np.array_equal(g(xv)[0], got[0])


def _draw_func(opname, dtype):
    from theon.ir.builder import Builder
    from theon.ir.core import DYN, Function
    from theon.ir.types import TensorType
    f = Function("f", [TensorType("int64", (None,)), TensorType("int64", ())], ["state", "n"])
    b = Builder(f.body)
    r = b.create(opname, list(f.args), {"shape": (DYN,), "dtype": dtype}).results[0]
    b.create("return", [r])
    return f


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opname", ["random_uniform", "random_normal"])
def test_kernel_assembles_and_matches_the_reference(opname, dtype, tmp_path):
    import os
    import shutil
    import subprocess
    from theon.codegen.ptx import compile_ptx
    from theon.codegen.ptx.plan import Plan
    func = _draw_func(opname, dtype)
    compiled = compile_ptx(func)
    assert any(".entry theon_random_" in line for line in compiled.ptx.splitlines())
    ptxas = shutil.which("ptxas")
    if ptxas:
        path = tmp_path / "k.ptx"
        path.write_text(compiled.ptx)
        proc = subprocess.run([ptxas, "--gpu-name", "sm_80", "-o", os.devnull, str(path)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert Plan(func).steps[0].kind == "random"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_odd_sizes_and_large_states_match_the_reference(device, dtype):
    from theon.ir.interpreter import evaluate
    s = RandomStreams(seed=0)
    n = T.lscalar("n")
    f = theon.function([n], [s.uniform((n,), dtype=dtype), s.normal((n, 3), dtype=dtype)],
                       no_default_updates=True)
    g = from_function(f, device)
    states = [st for st, _ in s.updates()]
    for value in ([-1, -1], [2 ** 62 + 5, 2 ** 40 + 3], [0, 0]):
        for st in states:
            st.set_value(np.array(value, np.int64))
        for size in (0, 1, 5, 7, 1001):
            got = g(size)
            want = evaluate(f.ir, [np.int64(size)] + [st.get_value() for st in states])[0]
            assert got[0].tobytes() == np.asarray(want[0]).tobytes()
            np.testing.assert_allclose(got[1], want[1], rtol=2e-6 if dtype == "float32" else 1e-13,
                                       atol=2e-6 if dtype == "float32" else 1e-13)


def test_gpu_permutations_match_the_cpu(device, tmp_path):
    import os
    import shutil
    import subprocess
    from theon.codegen.ptx import compile_ptx
    s = RandomStreams(seed=9)
    x = T.dmatrix("x")
    f = theon.function([x], [s.permutation(size=(7,), n=13), s.shuffle_row_elements(x)], no_default_updates=True)
    g = from_function(f, device)
    xv = np.arange(20.0).reshape(4, 5)
    for a, b in zip(g(xv), f(xv)):
        np.testing.assert_array_equal(a, b)
    ptxas = shutil.which("ptxas")
    if ptxas:
        path = tmp_path / "perm.ptx"
        path.write_text(compile_ptx(f.ir).ptx)
        proc = subprocess.run([ptxas, "--gpu-name", "sm_80", "-o", os.devnull, str(path)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]


def test_gpu_scan_with_draws_in_its_step_matches_the_cpu(device):
    """A scan runs as host steps on the GPU path: the draws in its body
    give the CPU function's numbers, and the carried state advances once
    per step on both."""
    s = RandomStreams(seed=23)
    v0 = T.dvector("v0")

    def step(v):
        return [s.binomial(size=(4,), p=T.nnet.sigmoid(v), dtype="float64") + s.normal((4,)) * 0.1]
    chain, upd = theon.scan(step, outputs_info=[v0], n_steps=5)
    f = theon.function([v0], chain, updates=upd)
    g = from_function(f, device)
    state = s.updates()[0][0]
    start = [st.get_value() for st, _ in s.updates()]
    got = g(np.zeros(4))
    after_gpu = [st.get_value() for st, _ in s.updates()]
    for (st, _), v in zip(s.updates(), start):
        st.set_value(v)
    want = f(np.zeros(4))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    assert len({tuple(r) for r in got}) == 5
    for v0_, v1, (st, _) in zip(start, after_gpu, s.updates()):
        assert v1.tolist() == [v0_[0], v0_[1] + 5] == st.get_value().tolist()
    assert state.get_value()[1] == start[0][1] + 5


def test_gpu_checks_probabilities_and_draws_weighted_choices_as_the_cpu(device):
    s = RandomStreams(seed=29)
    p, P = T.dvector("p"), T.dmatrix("P")
    f = theon.function([p, P], [s.binomial(p=p), s.choice(size=(2,), a=4, p=p, replace=False),
                                s.multinomial(n=4, pvals=P)])
    g = from_function(f, device)
    states = [st for st, _ in s.updates()]
    start = [st.get_value() for st in states]
    args = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([[0.5, 0.5], [0.9, 0.1]])]
    got = g(*args)
    for st, v in zip(states, start):
        st.set_value(v)
    want = f(*args)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"binomial: p must be in \[0, 1\], but element 3"):
        g(np.array([0.1, 0.2, 0.3, 1.4]), args[1])
    with pytest.raises(ValueError, match="multinomial: each distribution of pvals"):
        g(args[0], np.array([[0.5, 0.4]]))
