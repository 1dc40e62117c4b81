"""GPU functions run and agree with NumPy (and the CPU backend).

Every test runs on two devices:

* ``cuda``: a real GPU through the CUDA driver (``runtime/cuda.py``);
  skipped, with the reason, where there is no libcuda or no GPU;
* ``emulated``: the same launch plans and kernel specs compiled for this
  CPU (``codegen/ptx/emulator.py``: a thread per GPU thread, pthread
  barriers, grids capped so every grid-stride loop iterates), which checks
  the host plan and the kernels' logic everywhere.

A GPU function is made from a compiled CPU function (``from_function``),
so both run the same optimized IR; results are compared with NumPy
references written here and with the CPU results.
"""
import numpy as np
import pytest

import theon
import theon.tensor as T
import theon.tensor.nnet as NN
from theon.codegen.ptx.emulator import EmulatedDevice
from theon.runtime.gpu_function import GpuFunction, from_function

RNG = np.random.default_rng(7)


_SHARED = {}


def on_gpu(device, inputs, outputs, share=None, **kwargs):
    """(CPU function, GPU function) of the same graph. With ``share`` (a key
    naming the graph), compiled once per device and key: parametrized cases
    that build the same graph and vary only the data share the compile."""
    if share is not None and (device, share) in _SHARED:
        return _SHARED[device, share]
    f = theon.function(inputs, outputs, **kwargs)
    pair = f, from_function(f, device)
    if share is not None:
        _SHARED[device, share] = pair
    return pair


def tol(dtype, device):
    if np.dtype(dtype) == np.float32:
        return 2e-5 if isinstance(device, EmulatedDevice) else 1e-4
    return 1e-12 if isinstance(device, EmulatedDevice) else 1e-10


def assert_same(got, want, rtol=1e-12, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def check(device, inputs, outputs, args, *more_args, rtol=None, atol=0.0, refs=None, share=None, **kwargs):
    """GPU results equal CPU results (and ``refs`` when given) for ``args``
    and each of ``more_args`` (other argument lists: one compile for all);
    returns the GPU results of the last."""
    f, g = on_gpu(device, inputs, outputs, share=share, **kwargs)
    if not isinstance(outputs, (list, tuple)):
        refs = None if refs is None else [refs]
    for one in (args,) + more_args:
        want = f(*one)
        got = g(*one)
        if not isinstance(outputs, (list, tuple)):
            got, want = [got], [want]
        for k, (a, b) in enumerate(zip(got, want)):
            r = tol(b.dtype, device) if rtol is None else rtol
            assert_same(a, b, rtol=r, atol=atol)
            if refs is not None:
                assert_same(a, np.asarray(refs[k], dtype=b.dtype), rtol=max(r, 1e-6), atol=atol)
    return got


# --- elementwise ---------------------------------------------------------------------------------
UNARY = ["neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh",
         "arctan", "sigmoid", "softplus", "erf", "floor", "ceil", "round"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_float_functions(device, dtype):
    x = T.tensor(dtype, shape=(None, None), name="x")
    fns = {"sigmoid": NN.sigmoid, "softplus": NN.softplus}
    outs = [fns.get(n, getattr(T, n, None))(x) for n in UNARY]
    data = np.concatenate([RNG.standard_normal(41) * 3, [0.0, -0.0, 1e-30, 88.0, -100.0, 700.0, np.inf,
                                                         -np.inf, np.nan, 0.5, 1.5, 2.5, -2.5]])
    a = data.astype(dtype).reshape(-1, 3).T
    with np.errstate(all="ignore"):
        check(device, [x], outs, [a])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8", "uint8", "int64"])
def test_binary_ops_with_broadcasting(device, dtype):
    a = T.tensor(dtype, shape=(None, None), name="a")
    b = T.tensor(dtype, shape=(None,), name="b")
    outs = [a + b, a - b, a * b, a // b, a % b, T.maximum(a, b), T.minimum(a, b),
            T.eq(a, b), T.neq(a, b), T.lt(a, b), T.le(a, b), T.gt(a, b), T.ge(a, b),
            T.where(T.gt(a, b), a, b)]
    if dtype.startswith("float"):
        outs += [a / b, a ** b]
    else:
        outs += [a & b, a | b, a ^ b, ~a, a ** T.maximum(T.minimum(b, 3), 0)]   # int ** negative int raises, as NumPy
    if dtype == "uint8":
        av = RNG.integers(0, 256, (5, 7)).astype(dtype)
        bv = RNG.integers(0, 256, 7).astype(dtype)
    elif dtype.startswith("int"):
        av = RNG.integers(-100, 100, (5, 7)).astype(dtype)
        bv = np.array([3, -4, 0, 7, -1, 2, 0], dtype=dtype)
    else:
        av = (RNG.standard_normal((5, 7)) * 4).astype(dtype)
        bv = np.array([1.5, -2.0, 0.0, 3.0, np.nan, -0.5, np.inf], dtype=dtype)
        av = np.abs(av) if dtype == "float64" else av
    with np.errstate(all="ignore"):
        check(device, [a, b], outs, [av, bv])
    # a dim of unknown size that is 1 at run time broadcasts
    with np.errstate(all="ignore"):
        check(device, [a, b], outs[:3], [av[:1], bv])


def test_bool_logic_and_casts(device):
    x = T.matrix("x")
    m = T.gt(x, 0)
    n = T.lt(x, 0.5)
    outs = [T.and_(m, n), T.or_(m, n), T.xor(m, n), T.not_(m), m.astype("int8"), x.astype("int32"),
            x.astype("uint8"), x.astype("float32"), (x * 1e10).astype("int16"), m.astype("float64"),
            x.astype("bool")]
    a = np.array([[-1.5, 0.0, 0.25, 3.7], [np.nan, 1e30, -1e30, 255.5]])
    check(device, [x], outs, [a])


def test_strided_and_transposed_inputs(device):
    x = T.matrix("x")
    y = T.matrix("y")
    out = T.exp(x) * y.T + 1.0
    base = RNG.standard_normal((6, 8))
    ybase = RNG.standard_normal((10, 12))
    check(device, [x, y], out, [base[::2, 1:7], ybase[1:7, ::-4]],
          [base[::-2, 1:7].T.copy().T, ybase[1:7, ::-4].copy()])


def test_fused_chain_writes_one_result(device):
    x, y = T.vectors("x", "y")
    out = T.tanh(x * y + T.exp(-x)) / (1 + y * y)
    f, g = on_gpu(device, [x, y], out, mode="FAST_COMPILE")
    kernels = [s for s in g.plan.steps if s.kernels()]
    assert len(kernels) == 1 and kernels[0].kind == "elementwise" and len(kernels[0].ops) >= 5
    a, b = RNG.standard_normal(300), RNG.standard_normal(300)
    assert_same(g(a, b), f(a, b))


# --- reductions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_reductions_over_axes(device, dtype):
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    outs = [x.sum(), x.sum(axis=0), x.sum(axis=(0, 2)), x.sum(axis=1, keepdims=True), x.max(axis=2),
            x.min(axis=(1, 2)), x.prod(axis=1), x.max(), T.argmax(x, axis=1), T.argmin(x, axis=0),
            T.argmax(x), T.argmin(x, axis=2, keepdims=True)]
    if dtype.startswith("int"):
        a = RNG.integers(-3, 4, (4, 5, 6)).astype(dtype)
    else:
        a = RNG.standard_normal((4, 5, 6)).astype(dtype)
    check(device, [x], outs, [a], [a.transpose(2, 0, 1)[:, ::-1]])


@pytest.mark.parametrize("shape,axis", [((3, 5000), 1), ((5000, 3), 0), ((20000,), 0), ((2, 3000, 2), 1),
                                        ((4000, 40), 1), ((40, 4000), None)])
def test_long_reductions_split_in_two_passes(device, shape, axis):
    x = T.tensor("float32", shape=(None,) * len(shape), name="x")
    a = RNG.standard_normal(shape).astype("float32")
    a.flat[len(a.flat) // 3] = 50.0
    outs = [x.sum(axis=axis), x.max(axis=axis), T.argmax(x, axis=axis), T.argmin(x, axis=axis)]
    got = check(device, [x], outs, [a], rtol=1e-5, share=("long", len(shape), axis))
    np.testing.assert_allclose(got[0], a.astype(np.float64).sum(axis=axis), rtol=1e-5, atol=1e-4)
    assert_same(got[2], np.argmax(a, axis=axis))


def test_argmax_ties_and_nans(device):
    x = T.matrix("x")
    a = np.array([[1.0, 3.0, 3.0, 0.0], [np.nan, 2.0, np.nan, 5.0], [-np.inf, -np.inf, -np.inf, -np.inf],
                  [2.0, 2.0, 2.0, 2.0]])
    refs = [np.argmax(a, axis=1), np.argmin(a, axis=1), np.max(a, axis=1), np.min(a, axis=0)]
    check(device, [x], [T.argmax(x, axis=1), T.argmin(x, axis=1), x.max(axis=1), x.min(axis=0)], [a],
          refs=refs)


def test_bool_and_empty_reductions(device):
    x = T.matrix("x")
    m = T.gt(x, 0)
    outs = [T.sum(m, axis=1), m.sum(), x.sum(axis=0), x.prod(axis=1)]
    check(device, [x], outs, [RNG.standard_normal((3, 4))], [np.zeros((0, 4))])
    f, g = on_gpu(device, [x], x.max(axis=0))
    with pytest.raises(ValueError) as cpu_err:
        f(np.zeros((0, 3)))
    with pytest.raises(ValueError) as gpu_err:
        g(np.zeros((0, 3)))
    assert str(gpu_err.value) == str(cpu_err.value)


# --- matrix products ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (17, 33, 9), (64, 16, 64), (70, 5, 130), (3, 0, 4)])
def test_matmul(device, dtype, m, k, n):
    a = T.tensor(dtype, shape=(None, None), name="a")
    b = T.tensor(dtype, shape=(None, None), name="b")
    if dtype == "int32":
        av, bv = RNG.integers(-5, 5, (m, k)).astype(dtype), RNG.integers(-5, 5, (k, n)).astype(dtype)
    else:
        av, bv = RNG.standard_normal((m, k)).astype(dtype), RNG.standard_normal((k, n)).astype(dtype)
    r = 1e-4 if dtype == "float32" else 1e-12
    check(device, [a, b], [T.dot(a, b), T.dot(b.T, a.T)], [av, bv], rtol=r, atol=r,
          refs=[av @ bv, bv.T @ av.T], share=("matmul", dtype))


def test_matmul_vectors_batches_and_views(device):
    a3 = T.tensor3("a3")
    b2 = T.matrix("b2")
    v = T.vector("v")
    outs = [T.matmul(a3, b2), T.dot(v, b2), T.dot(b2, b2.T[:, :1]).sum(), T.matmul(v, b2.T.T), T.dot(b2, v[:3])]
    av = RNG.standard_normal((3, 5, 4))
    bv = RNG.standard_normal((4, 3))
    vv = RNG.standard_normal(4)
    check(device, [a3, b2, v], outs, [av, bv, vv], rtol=1e-12, atol=1e-12,
          refs=[av @ bv, vv @ bv, (bv @ bv.T[:, :1]).sum(), vv @ bv, bv @ vv[:3]])
    f, g = on_gpu(device, [b2, v], T.dot(b2, v))
    with pytest.raises(ValueError) as cpu_err:
        f(bv, np.ones(5))
    with pytest.raises(ValueError) as gpu_err:
        g(bv, np.ones(5))
    assert str(gpu_err.value) == str(cpu_err.value)


# --- views and data movement -------------------------------------------------------------------------------
def test_views_indexing_and_data_ops(device):
    x = T.matrix("x")
    i = T.lscalar("i")
    b = T.lscalar("b")
    outs = [x[i * b:(i + 1) * b], x[:, 0], x[::-1], x.T.reshape((-1,)), x.flatten(), x.dimshuffle(1, "x", 0),
            T.set_subtensor(x[1:, ::2], 5.0), T.inc_subtensor(x[:, -1], x[:, 0]), T.concatenate([x, 2 * x], axis=1),
            T.alloc(x[0], 3, x.shape[1]), T.arange(i, b * 4, 2), T.zeros_like(x), x.shape, T.stack([x[0], x[1]]),
            T.arange(0.5, 3.0, 0.25)]
    a = RNG.standard_normal((5, 4))
    check(device, [x, i, b], outs, [a, 1, 2], [a.T[:, ::-1], 0, 2])


def test_index_errors_match_the_cpu(device):
    x = T.vector("x")
    i = T.lscalar("i")
    y = T.vector("y")
    for outs, args in [(x[i], [np.ones(3), 5, np.ones(2)]), (x + y, [np.ones(3), 0, np.ones(2)]),
                       (x.reshape((i, -1)), [np.ones(6), 4, np.ones(2)])]:
        f, g = on_gpu(device, [x, i, y], outs, on_unused_input="ignore")
        with pytest.raises((IndexError, ValueError)) as cpu_err:
            f(*args)
        with pytest.raises(type(cpu_err.value)) as gpu_err:
            g(*args)
        assert str(gpu_err.value) == str(cpu_err.value)


def test_dynamic_size_from_device_data(device):
    """A size computed from tensor data is read back from the device."""
    x = T.vector("x")
    n = T.cast(T.sum(T.gt(x, 0)), "int64")
    out = T.alloc(x.max(), n, 2)
    a = np.array([1.0, -2.0, 3.0, 4.0])
    check(device, [x], out, [a], refs=np.full((3, 2), 4.0))


# --- shared variables and training ------------------------------------------------------------------------------
def test_updates_and_shared_values(device):
    w = theon.shared(np.arange(3.0), name="w")
    c = theon.shared(np.int64(0), name="count")
    x = T.vector("x")
    f = theon.function([x], (w * x).sum(), updates=[(w, w + x), (c, c + 1)])
    g = from_function(f, device)
    assert_same(g(np.ones(3)), np.float64(3.0))
    assert_same(w.get_value(), np.arange(3.0) + 1)
    assert int(c.get_value()) == 1
    w.set_value(np.zeros(3))
    assert_same(g(np.full(3, 2.0)), np.float64(0.0))
    assert_same(w.get_value(), np.full(3, 2.0))
    f(np.ones(3))                       # the CPU function sees the GPU update, and vice versa
    assert_same(w.get_value(), np.full(3, 3.0))
    assert_same(g(np.ones(3)), np.float64(9.0))
    assert int(c.get_value()) == 4
    # a failed call changes no shared variable
    with pytest.raises(ValueError):
        g(np.ones(4))
    assert_same(w.get_value(), np.full(3, 4.0))


def test_seed_example(device):
    w = theon.shared(1.0)
    x = T.scalar("x")
    mul = from_function(theon.function([x], updates=[(w, w * x)]), device)
    assert mul(4) == []
    assert_same(w.get_value(), np.array(4.0))


def _numpy_mlp_step(X, Y, W1, b1, W2, b2, lr):
    z1 = X @ W1 + b1
    h = np.maximum(z1, 0)
    z2 = h @ W2 + b2
    z2 = z2 - z2.max(axis=1, keepdims=True)
    p = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = -np.log(p[np.arange(n), Y]).sum() / n
    d2 = p.copy()
    d2[np.arange(n), Y] -= 1
    d2 /= n
    gW2, gb2 = h.T @ d2, d2.sum(axis=0)
    dh = d2 @ W2.T * (z1 > 0)
    gW1, gb1 = X.T @ dh, dh.sum(axis=0)
    return loss, [W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_training_step(device, dtype):
    n, d, hdim, k, lr = 50, 12, 20, 4, 0.5
    X = RNG.standard_normal((n, d)).astype(dtype)
    Y = RNG.integers(0, k, n)
    init = [(RNG.standard_normal((d, hdim)) * 0.3).astype(dtype), np.zeros(hdim, dtype),
            (RNG.standard_normal((hdim, k)) * 0.3).astype(dtype), np.zeros(k, dtype)]
    params = [theon.shared(v.copy(), name=nm) for v, nm in zip(init, ["W1", "b1", "W2", "b2"])]
    W1, b1, W2, b2 = params
    x = T.tensor(dtype, shape=(None, d), name="x")
    y = T.lvector("y")
    p = NN.softmax(T.dot(NN.relu(T.dot(x, W1) + b1), W2) + b2)
    loss = NN.categorical_crossentropy(p, y).sum() * np.asarray(1.0 / n, dtype=dtype)
    grads = theon.grad(loss, params)
    f = theon.function([x, y], loss, updates=[(v, v - np.asarray(lr, dtype) * g) for v, g in zip(params, grads)])
    g = from_function(f, device)
    r = 2e-4 if dtype == "float32" else 1e-9
    ref = [v.astype(np.float64) for v in init]
    for _ in range(3):
        loss_ref, ref = _numpy_mlp_step(X.astype(np.float64), Y, *ref, lr)
        got = g(X, Y)
        assert got.dtype == np.dtype(dtype) and got.shape == ()
        np.testing.assert_allclose(got, loss_ref, rtol=r)
        for v, want in zip(params, ref):
            np.testing.assert_allclose(v.get_value(), want, rtol=r, atol=r)


def test_fused_ops_from_the_fusion_pass(device):
    """IR with ``fused`` ops (elementwise groups and fused reductions)."""
    from theon.passes.fusion import FuseElementwise
    from theon.ir.verifier import verify_function
    x = T.matrix("x")
    s = x - x.max(axis=1, keepdims=True)
    outs = [T.exp(s) / T.exp(s).sum(axis=1, keepdims=True), (T.exp(x) * 2).sum(axis=0), T.log1p(x * x)]
    f = theon.function([x], outs)
    FuseElementwise().run(f.ir)
    verify_function(f.ir)
    assert any(op.name == "fused" for op in f.ir.body.ops)
    g = from_function(f, device)
    a = RNG.standard_normal((33, 70))
    for got, want in zip(g(a), f(a)):
        assert_same(got, want, rtol=1e-12)


def test_profile_summary(device, capsys):
    x = T.vector("x")
    f = theon.function([x], T.exp(x).sum(), profile=True)
    g = from_function(f, device)
    g(np.ones(100))
    g(np.ones(100))
    g.profile.summary()
    out = capsys.readouterr().out
    assert "calls: 2" in out and ("sum" in out or "fused" in out)
    assert sum(g.profile.buffer) > 0


def test_gpu_function_api(device):
    x = T.vector("x")
    g = from_function(theon.function([x], 2 * x, name="double"), device)
    assert isinstance(g, GpuFunction) and isinstance(g, theon.runtime.function.Function)
    assert_same(g(x=np.ones(2)), np.full(2, 2.0))
    with pytest.raises(TypeError, match="takes 1 input"):
        g(np.ones(2), np.ones(2))
    assert ".entry theon_double" in theon.printing.dump(g, "ptx")
    assert "theon_double" in theon.printing.dump(g, "llvm")
