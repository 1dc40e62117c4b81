"""Shape builders (frontend/builders.py) in native code: the shared table of
cases (tests/shape_builders_helpers.py: float32/float64/int/bool dtypes,
positive and negative offsets and shifts, axes, strided and empty inputs)
compiled and compared with NumPy, gradients against finite differences,
bad index values as Python exceptions in a subprocess, and aot-compile."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend.builders import linalg_norm

from ..compile_helpers import shared_function
from ..extra_ops_helpers import assert_matches, symbolic_inputs
from ..shape_builders_helpers import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_compiled_against_numpy(case):
    case_id, build, numpy_fn, arrays = case
    xs = symbolic_inputs(arrays)
    f = shared_function(xs, build(*xs), on_unused_input="ignore")     # 85 cases, 31 distinct graphs
    with np.errstate(all="ignore"):
        expected = numpy_fn(*arrays)
    assert_matches(f(*arrays), expected, case_id)


def test_static_shapes_compile_and_fold():
    x = T.tensor("float64", shape=(3, 4))
    a = np.arange(12.0).reshape(3, 4)
    outs = [T.tile(x, (2, 1)), T.roll(x, -1, 1), T.tril(x), T.diagonal(x, -1), T.eye(3, 4, 1) * x, T.trace(x)]
    got = theon.function([x], outs)(a)
    expected = [np.tile(a, (2, 1)), np.roll(a, -1, 1), np.tril(a), np.diagonal(a, -1), np.eye(3, 4, 1) * a, np.trace(a)]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_symbolic_shift_offset_and_reps():
    x, s, r = T.dmatrix(), T.lscalar(), T.lscalar()
    f = theon.function([x, s, r], [T.roll(x, s, 1), T.roll(x, s), T.diagonal(x, s), T.tril(x, s), T.triu(x, s),
                                   T.tile(x, (r, 2)), T.diag(x[0], s), T.trace(x, s)])
    a = np.arange(20.0).reshape(4, 5)
    for shift in (-7, -1, 0, 2, 5, 13):
        got = f(a, shift, 2)
        exp = [np.roll(a, shift, 1), np.roll(a, shift), np.diagonal(a, shift), np.tril(a, shift), np.triu(a, shift),
               np.tile(a, (2, 2)), np.diag(a[0], shift), np.trace(a, shift)]
        for g, e in zip(got, exp):
            np.testing.assert_array_equal(g, e, err_msg=str(shift))
    empty = f(np.zeros((1, 0)), 3, 0)
    assert empty[0].shape == (1, 0) and empty[5].shape == (0, 0)
    np.testing.assert_array_equal(empty[6], np.zeros((3, 3)))


def test_triangles_and_eye_fuse_into_one_loop():
    """tril/triu/eye are where/compare over aranges: with the elementwise
    work around them they compile to one fused 2-d loop."""
    x = T.dmatrix()
    f = theon.function([x], T.tril(x, 1) * 2 + T.eye(x.shape[0], x.shape[1]) - T.triu(x, 2))
    two_d = [op.name for op in f.ir.body.ops if op.results and op.results[0].type.ndim == 2
             and 1 not in op.results[0].type.shape]          # not the (n, 1) / (1, m) index vectors
    assert two_d == ["fused"], two_d
    a = np.arange(20.0).reshape(4, 5)
    np.testing.assert_array_equal(f(a), np.tril(a, 1) * 2 + np.eye(4, 5) - np.triu(a, 2))


# --- gradients --------------------------------------------------------------------------------
GRADS = [
    ("tile", lambda x: T.tile(x, (2, 3)), (3, 2)),
    ("tile-pad", lambda x: T.tile(x, (2, 1, 2)), (2, 3)),
    ("roll", lambda x: T.roll(x, -2, 1), (3, 4)),
    ("roll-flat", lambda x: T.roll(x, 5), (3, 4)),
    ("tril", lambda x: T.tril(x, -1), (4, 3)),
    ("triu", lambda x: T.triu(x, 1), (3, 4)),
    ("diagonal", lambda x: T.diagonal(x, 1), (3, 4)),
    ("diagonal-axes", lambda x: T.diagonal(x, -1, 2, 0), (3, 2, 4)),
    ("diag-vector", lambda v: T.diag(v, -1), (4,)),
    ("diag-matrix", lambda x: T.diag(x * x), (4, 4)),
    ("trace", lambda x: T.trace(x * x, 1), (4, 4)),
    ("choose", lambda c: T.choose(T.constant(np.array([[0, 2, 1], [1, 1, 0]])), [c[0], c[1], c[2]]), (3, 2, 3)),
    ("choose-tensor", lambda c: T.choose(T.constant(np.array([0, 2, 1, 2])), c), (3, 4)),
    ("stacklists", lambda v: T.stacklists([[v[0], v[1]], [v[2] * v[0], v[1]]]), (3,)),
    ("batched_dot", lambda a: T.batched_dot(a, a.dimshuffle(0, 2, 1)), (2, 3, 4)),
    ("batched_dot-vec", lambda a: T.batched_dot(a, a), (3, 4)),
    ("batched_tensordot", lambda a: T.batched_tensordot(a, a * a, [[1, 2], [2, 1]]), (2, 3, 3)),
    ("norm-2", lambda x: T.norm(x), (3, 4)),
    ("norm-1", lambda x: T.norm(x, 1, axis=0), (3, 4)),
    ("norm-3", lambda x: T.norm(x, 3, axis=1), (3, 4)),
    ("norm-inf", lambda x: T.norm(x, np.inf), (3, 4)),
    ("linalg_norm-1", lambda x: linalg_norm(x, 1), (3, 4)),
    ("linalg_norm-inf", lambda x: linalg_norm(x, -np.inf), (3, 4)),
    ("linalg_norm-fro", lambda x: linalg_norm(x, "fro"), (3, 4)),
]


@pytest.mark.parametrize("name,fn,shape", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_against_finite_differences(name, fn, shape):
    rng = np.random.default_rng(3)
    # distinct magnitudes: max/min/abs are differentiable at the point
    pt = rng.permutation(np.arange(1, np.prod(shape) + 1)).reshape(shape) * 0.37
    pt = pt * rng.choice([-1, 1], shape)
    theon.gradient.verify_grad(fn, [pt], rng=rng)


# --- bad input --------------------------------------------------------------------------------
BAD = [
    ("T.choose(x, [x * 2, x * 3])", "np.array([0, 2])", "IndexError", "out of range"),
    ("T.choose(x, [x * 2, x * 3])", "np.array([-1, 0])", "IndexError", "out of range"),
    ("T.choose(x, T.stack([x, x])[:x[0]])", "np.array([1, 1])", "IndexError", "out of range"),
    ("T.choose(x, [x[:2], x])", "np.array([0, 1, 1])", "ValueError", ""),
    ("T.batched_dot(x.dimshuffle(0, 'x'), x[1:].dimshuffle(0, 'x', 'x'))", "np.array([1, 2, 3])", "ValueError", ""),
]


def test_bad_input_raises(run_json):
    """All cases in one subprocess: each compiled function must raise the
    expected exception (never crash the interpreter)."""
    code = f"""
        import json, numpy as np, theon, theon.tensor as T
        x = T.lvector("x")
        outcome = []
        for expr, value, exc, words in {BAD!r}:
            f = theon.function([x], eval(expr))
            try:
                f(eval(value))
                outcome.append(("no error", ""))
            except Exception as e:
                outcome.append((type(e).__name__, str(e)))
        print(json.dumps(outcome))
    """
    outcome = run_json(code)
    for (expr, value, exc, words), (raised, message) in zip(BAD, outcome, strict=True):
        assert raised == exc and words in message, (expr, value, raised, message)


AOT_SOURCE = """
import theon, theon.tensor as T
x = T.fmatrix("x")
s = T.lscalar("s")
builders = theon.function([x, s], [T.tile(x, (2, 1)), T.roll(x, s, 1), T.tril(x, s), T.triu(x), T.diagonal(x, s),
                                   T.trace(x), T.diag(x[0]), T.eye(s + 2, 3), T.norm(x, 1), x.norm(2),
                                   T.batched_dot(x, x), T.stack(T.mgrid[0:s, 0:2]),
                                   T.choose(T.cast(T.abs(x) > 1, "int64"), [x, -x]),
                                   theon.grad(T.trace(x) + T.sum(T.roll(x, s, 1) * x), x)])
"""


def test_aot_compile(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "builders.py"
    src.write_text(AOT_SOURCE)
    r = subprocess.run([sys.executable, "-m", "theon.runtime.aot_cli", str(src), "-o", str(tmp_path),
                        "--emit", "header,shared"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    g = theon.runtime.load_library(tmp_path / "libbuilders.so")
    a = (np.random.default_rng(0).standard_normal((4, 5)) * 2).astype("float32")
    for s in (-2, 1, 3):
        got = g(a, s)
        exp = [np.tile(a, (2, 1)), np.roll(a, s, 1), np.tril(a, s), np.triu(a), np.diagonal(a, s), np.trace(a),
               np.diag(a[0]), np.eye(s + 2, 3), np.abs(a).sum(), np.sqrt((a * a).sum()),
               (a * a).sum(1), np.mgrid[0:max(s, 0), 0:2], np.choose((np.abs(a) > 1).astype(int), [a, -a]),
               np.eye(4, 5) + np.roll(a, s, 1) + np.roll(a, -s, 1)]
        for k, (x, e) in enumerate(zip(got, exp)):
            assert np.asarray(x).shape == np.shape(e), (s, k)
            np.testing.assert_allclose(x, e, rtol=1e-5, atol=1e-5, err_msg=f"shift {s} output {k}")


# --- random inputs (hypothesis) -----------------------------------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_COMPILED = {}


def _random_fn(dtype):
    """One compiled function per dtype; shift, offset and reps are inputs."""
    if dtype not in _COMPILED:
        x = T.tensor(dtype, shape=(None, None))
        s, k, r = T.lscalar(), T.lscalar(), T.lscalar()
        outs = [T.roll(x, s, 0), T.roll(x, s, 1), T.roll(x, s), T.tril(x, k), T.triu(x, k), T.diagonal(x, k),
                T.diagonal(x, k, 1, 0), T.tile(x, (r, 2)), T.diag(x.flatten()[:5], k), T.eye(x.shape[0], x.shape[1], k)]
        if dtype != "bool":
            outs.append(T.trace(x, k))
        _COMPILED[dtype] = theon.function([x, s, k, r], outs)
    return _COMPILED[dtype]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(["float32", "float64", "int32", "uint8", "bool"]), rows=st.integers(0, 9),
       cols=st.integers(0, 9), shift=st.integers(-25, 25), k=st.integers(-12, 12), reps=st.integers(0, 3),
       transpose=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_random_arrays_against_numpy(dtype, rows, cols, shift, k, reps, transpose, seed):
    rng = np.random.default_rng(seed)
    a = (rng.integers(-9, 10, (rows, cols)) if dtype != "bool" else rng.random((rows, cols)) < 0.5).astype(dtype)
    if transpose:
        a = a.T                                    # a non-contiguous input
    got = _random_fn(dtype)(a, shift, k, reps)
    expected = [np.roll(a, shift, 0), np.roll(a, shift, 1), np.roll(a, shift), np.tril(a, k), np.triu(a, k),
                np.diagonal(a, k), np.diagonal(a, k, 1, 0), np.tile(a, (reps, 2)), np.diag(a.flatten()[:5], k),
                np.eye(a.shape[0], a.shape[1], k)]
    if dtype != "bool":
        expected.append(np.trace(a, k))
    for n, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.shape == e.shape, (n, g.shape, e.shape)
        np.testing.assert_array_equal(g, e.astype(g.dtype) if n == 9 else e, err_msg=f"output {n}")
