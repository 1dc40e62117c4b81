"""Run DSL graphs with the NumPy reference interpreter and compare with NumPy.

``run`` builds an IR Function from the graph (``build_function``), verifies
it, evaluates it with ``ir.interpreter.evaluate`` and checks every result
against its variable's static type (dtype and known dims).
"""
import numpy as np

import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.interpreter import evaluate
from theon.ir.verifier import verify_function


def run(inputs, outputs, *values):
    """Values of ``outputs`` (one variable or a list) for input ``values``."""
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    func, shared = build_function(list(inputs), outs)
    assert not shared
    verify_function(func)
    arrays = []
    for var, value in zip(inputs, values, strict=True):
        a = np.asarray(value)
        assert a.dtype == var.type.np_dtype, f"test feeds {a.dtype} to {var.type}"
        assert var.type.accepts_shape(a.shape), f"test feeds shape {a.shape} to {var.type}"
        arrays.append(a)
    results, _ = evaluate(func, arrays)
    for r, o in zip(results, outs):
        assert o.type.accepts_shape(r.shape), f"static type {o.type} but run-time shape {r.shape}"
    return results[0] if single else results


def assert_same(got, expected, rtol=None, atol=0.0):
    """Same dtype, same shape, close values (NaNs and infs must match)."""
    expected = np.asarray(expected)
    got = np.asarray(got)
    assert got.dtype == expected.dtype, f"dtype {got.dtype}, NumPy gives {expected.dtype}"
    assert got.shape == expected.shape, f"shape {got.shape}, NumPy gives {expected.shape}"
    if rtol is None:
        rtol = 1e-5 if got.dtype == np.float32 else 1e-12
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def assert_all_same(got, expected, tol32=1e-5, tol64=1e-12):
    """``assert_same`` on each pair of two equally long result lists, with
    rtol = atol = ``tol32`` for float32 results and ``tol64`` for the others."""
    got, expected = list(got), list(expected)
    assert len(got) == len(expected), f"{len(got)} results, {len(expected)} expected"
    for g, e in zip(got, expected):
        tol = tol32 if np.asarray(g).dtype == np.float32 else tol64
        assert_same(g, e, rtol=tol, atol=tol)


def softmax_over(x, axes):
    """A softmax over several ``axes`` of a symbolic ``x``, built from DSL ops."""
    e = T.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def check(inputs, output, values, expected, **tol):
    """``run`` then ``assert_same``."""
    assert_same(run(inputs, output, *values), expected, **tol)


def rand(shape, dtype="float64", seed=0, low=-3, high=3):
    """Deterministic test data of ``dtype``."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        lo = 0 if np.dtype(dtype).kind == "u" else low
        return rng.integers(lo, high + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)
