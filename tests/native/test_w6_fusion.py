"""W6's training step pieces: ``sum_to`` that aliases its input when the
run-time shapes already match, and the MLP step against NumPy."""
import numpy as np
import pytest

from theon.codegen.cpu import compile_function
from theon.ir.core import DYN

from ..native_helpers import check_against_reference, make_func, run_native


def _sum_to_then_scale(b, g, n, m):
    s = b.create("sum_to", [g, n, m], {"shape": (DYN, DYN)}).result
    return [s, b.create("mul", [s, s]).result]


@pytest.mark.parametrize("order", ["C", "T"])
def test_sum_to_same_shape_view_and_reduce(order):
    """Equal run-time dims (a view, any strides) and broadcast targets (a
    reduction) through one compiled function; the returned view is a copy."""
    f = make_func([("float32", (None, None)), ("int64", ()), ("int64", ())], _sum_to_then_scale)
    compiled = compile_function(f)
    rng = np.random.default_rng(3)
    for shape, (n, m) in [((5, 7), (5, 7)), ((5, 7), (1, 7)), ((5, 7), (5, 1)), ((5, 7), (1, 1)),
                          ((1, 7), (1, 7)), ((0, 7), (0, 7))]:
        g = rng.standard_normal(shape[::-1] if order == "T" else shape).astype(np.float32)
        g = g.T if order == "T" else g
        before = g.copy()
        s, sq = run_native(f, [g, n, m], compiled=compiled)
        want = g.astype(np.float64).sum(axis=tuple(d for d in range(2) if (n, m)[d] == 1 and shape[d] != 1),
                                        keepdims=True)
        np.testing.assert_allclose(s, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sq, want * want, rtol=1e-4, atol=1e-5)
        s[...] = 42                     # the result is the caller's own memory
        np.testing.assert_array_equal(g, before)
        check_against_reference(f, [g, n, m])


def test_mlp_step_matches_numpy():
    from theon.bench import mlp
    params = mlp.init_params(seed=4)
    step, shared = mlp.theon_step(params)
    ref = mlp.NumpyStep(params)
    for seed in (1, 2):
        X, Y = mlp.batch(seed)
        cost = step(X, Y)
        want = ref(X, Y)
        np.testing.assert_allclose(cost, want, rtol=1e-4)
        for s, p in zip(shared, ref.params):
            np.testing.assert_allclose(s.get_value(), p, rtol=1e-4, atol=1e-5)


# --- gemm-epilogue: matmul_update -------------------------------------------------
def _sgd(lr, op="sub", order="pk"):
    def build(b, a, m, w):
        p = b.create("matmul", [a, m]).result
        k = b.create("constant", [], {"value": np.asarray(lr, a.type.np_dtype)}).result
        s = b.create("mul", [p, k] if order == "pk" else [k, p]).result
        return b.create(op, [w, s] if op == "sub" or order == "pk" else [s, w]).result
    return build


def _epilogue(f):
    from theon.passes import run_pipeline
    g = run_pipeline(f, "gemm-epilogue")
    return f if g is None else g


CASES = [  # (M, K, N), W's shape, W transposed
    ((256, 300, 40), None, False),     # blocked, two K slices, edge tiles
    ((64, 96, 512), None, True),       # blocked, W's columns strided (edge path)
    ((13, 7, 21), None, False),        # edge tiles only
    ((3, 4, 5), None, False),          # the row-update loop
    ((9, 16, 1), None, False),         # the dot loop
    ((512, 256, 64), None, False),     # threaded
    ((40, 64, 48), (1, 48), False),    # W broadcast along rows
    ((40, 64, 48), (40, 1), False),    # ... along columns
    ((1, 64, 48), (7, 48), False),     # the product broadcasts up: plain product and a loop
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_matmul_update_matches_unfused(dtype, case):
    (m, k, n), wshape, wt = case
    wshape = wshape or (m, n)
    for op, order in (("sub", "pk"), ("add", "kp")):
        types = [(dtype, (None, None))] * 3
        plain = make_func(types, _sgd(0.1, op, order))
        fused = _epilogue(make_func(types, _sgd(0.1, op, order)))
        assert [o.name for o in fused.body.ops].count("matmul_update") == 1
        rng = np.random.default_rng(m * n + k)
        a = rng.standard_normal((m, k)).astype(dtype)
        bm = rng.standard_normal((k, n)).astype(dtype)
        w = rng.standard_normal(wshape[::-1] if wt else wshape).astype(dtype)
        w = w.T if wt else w
        got = run_native(fused, [a, bm, w])[0]
        want = run_native(plain, [a, bm, w])[0]
        ref = w.astype(np.float64) + (-0.1 if op == "sub" else 0.1) * (a.astype(np.float64) @ bm)
        tol = 2e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(k))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(k))
        check_against_reference(fused, [a, bm, w], rtol=tol, atol=tol * np.sqrt(k))


def test_gemm_epilogue_leaves_shared_products_and_broadcast_scales():
    def shared_product(b, a, m, w):
        p = b.create("matmul", [a, m]).result
        k = b.create("constant", [], {"value": np.asarray(0.5, np.float32)}).result
        s = b.create("mul", [p, k]).result
        return [b.create("sub", [w, s]).result, p]

    def vector_scale(b, a, m, w, v):
        p = b.create("matmul", [a, m]).result
        return b.create("sub", [w, b.create("mul", [p, v]).result]).result

    types = [("float32", (None, None))] * 3
    for f in (make_func(types, shared_product), make_func(types + [("float32", (None,))], vector_scale)):
        assert "matmul_update" not in [o.name for o in _epilogue(f).body.ops]


def test_matmul_update_shape_mismatch_is_an_error():
    from theon.codegen.errors import MATMUL_MISMATCH
    from ..native_helpers import NativeError
    f = _epilogue(make_func([("float32", (None, None))] * 3, _sgd(0.1)))
    with pytest.raises(NativeError) as e:
        run_native(f, [np.ones((4, 3), np.float32), np.ones((5, 6), np.float32), np.ones((4, 6), np.float32)])
    assert e.value.code == MATMUL_MISMATCH
    with pytest.raises(NativeError):
        run_native(f, [np.ones((4, 3), np.float32), np.ones((3, 6), np.float32), np.ones((5, 6), np.float32)])
