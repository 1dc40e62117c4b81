"""float16 in native CPU code: the legalized graphs against NumPy's float16.

After ``legalize-f16`` the CPU code only loads, stores and converts float16
(``codegen/half.py``: F16C instructions in JIT code where the host has them,
else integer code; never a libcall). Elementwise results are
NumPy's bit for bit where float32 rounds correctly (+ - * / sqrt, casts,
comparisons, data movement); transcendental functions are within one
float16 ulp (theon's float32 vecmath and NumPy's libm may differ by a
float32 ulp, which can move the float16 rounding). Reductions and products
accumulate in float32 and round once: the error bound is half a float16
ulp of the result plus the float32 accumulation error, ``n * 2**-24 *
sum|x|``.
"""
import os
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.runtime.aot_cli import main as aot_main

RNG = np.random.default_rng(1616)
EPS16 = float(np.finfo(np.float16).eps)          # 2**-10: one ulp at 1.0
CC = shutil.which(os.environ.get("CC", "cc"))


def f16(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float16)


def bits(a):
    return np.asarray(a).view(np.uint16)


def assert_bits_equal(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype == np.float16 and got.shape == want.shape
    same = (bits(got) == bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (got[~same][:8], want[~same][:8])


def ulps(got, want):
    """Distance in float16 units in the last place (NaN vs NaN: 0)."""
    g, w = np.asarray(got, np.float16), np.asarray(want, np.float16)

    def ordered(a):
        u = bits(a).astype(np.int32)
        return np.where(u & 0x8000, 0x8000 - u, u)
    d = np.abs(ordered(g) - ordered(w))
    return np.where(np.isnan(g) & np.isnan(w), 0, d)


# --- elementwise -------------------------------------------------------------------------------------
EXACT = [("add", lambda x, y: x + y), ("sub", lambda x, y: x - y), ("mul", lambda x, y: x * y),
         ("div", lambda x, y: x / y), ("max", T.maximum), ("sqrt_abs", lambda x, y: T.sqrt(abs(x))),
         ("floor", lambda x, y: T.floor(x * 4)), ("neg_where", lambda x, y: T.where(x > y, -x, y)),
         ("scalar", lambda x, y: x * 1.5 + 2), ("mixed_int8", lambda x, y, c: x + c)]
NP_EXACT = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b, "max": np.maximum, "sqrt_abs": lambda a, b: np.sqrt(abs(a)),
            "floor": lambda a, b: np.floor(a * np.float16(4)), "neg_where": lambda a, b: np.where(a > b, -a, b),
            "scalar": lambda a, b: a * np.float16(1.5) + np.float16(2),
            "mixed_int8": lambda a, b, c: a + c}


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_exactly_rounded_ops_are_numpy_bit_for_bit(mode):
    x, y, c = T.vector(dtype="float16"), T.vector(dtype="float16"), T.vector(dtype="int8")
    f = theon.function([x, y, c], [fn(x, y, c) if name == "mixed_int8" else fn(x, y) for name, fn in EXACT],
                       mode=mode)
    a = f16(2001, scale=3)
    b = np.concatenate([f16(1995, scale=3), np.array([0, -0.0, np.inf, np.nan, 1e-7, 65504], np.float16)])
    i8 = RNG.integers(-128, 128, 2001).astype(np.int8)
    with np.errstate(all="ignore"):
        for (name, _), got in zip(EXACT, f(a, b, i8)):
            want = NP_EXACT[name](a, b, i8) if name == "mixed_int8" else NP_EXACT[name](a, b)
            assert_bits_equal(got, want)


def test_transcendental_ops_within_one_ulp():
    x = T.vector(dtype="float16")
    ops = [(T.exp, np.exp), (T.log, np.log), (T.tanh, np.tanh), (T.sin, np.sin),
           (T.nnet.sigmoid, lambda a: (1 / (1 + np.exp(-a.astype(np.float64)))).astype(np.float16)),
           (lambda v: v ** 3, lambda a: a ** np.float16(3)), (T.log1p, np.log1p)]
    f = theon.function([x], [fn(x) for fn, _ in ops])
    a = np.concatenate([f16(3000, scale=2), np.array([0, 11.0, -17.0, 1e-5], np.float16)])
    with np.errstate(all="ignore"):
        for (fn, ref), got in zip(ops, f(a)):
            want = ref(a)
            assert got.dtype == np.float16
            assert ulps(got, want).max() <= 1, getattr(fn, "__name__", fn)


def test_no_optimizer_still_legalizes():
    """An empty pipeline: the backend's own legalize-f16 runs (no float16 arithmetic reaches codegen)."""
    x = T.vector(dtype="float16")
    f = theon.function([x], T.exp(x) * x, mode=theon.Mode(optimizer=None))
    a = f16(100)
    assert_bits_equal(f(a), np.exp(a) * a)
    assert any(op.name == "cast" for op in f.ir.body.ops)


# --- casts ------------------------------------------------------------------------------------------
def test_every_float16_widens_exactly():
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    x = T.vector(dtype="float16")
    f = theon.function([x], [T.cast(x, "float32"), T.cast(x, "float64"), T.cast(x, "int16"), T.cast(x, "bool")])
    r32, r64, ri, rb = f(h)
    # NaN payloads too (F16C quiets a signaling NaN, NumPy does not: compare with the quiet bit set)
    nan = np.isnan(h)
    want = h.astype(np.float32).view(np.uint32)
    assert np.array_equal(r32.view(np.uint32)[~nan], want[~nan])
    assert np.array_equal(r32.view(np.uint32)[nan] | 0x400000, want[nan] | 0x400000)
    fin = ~np.isnan(h)
    assert np.array_equal(r64[fin].view(np.uint64), h[fin].astype(np.float64).view(np.uint64))
    assert np.isnan(r64[~fin]).all()
    with np.errstate(all="ignore"):
        small = np.abs(h.astype(np.float32)) < 32768
        assert np.array_equal(ri[small], h[small].astype(np.int16))
    assert np.array_equal(rb, h.astype(bool))


def _rounding_cases(dtype):
    """Random patterns plus every float16 value, its neighbours' midpoints
    (ties), just above and below them, in float32/float64."""
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    h = h[np.isfinite(h)].astype(np.float64)
    nxt = np.nextafter(h.astype(np.float16), np.float16(np.inf)).astype(np.float64)
    mid = (h + nxt) / 2
    wide = np.dtype(dtype)
    tiny = np.finfo(wide).eps
    if wide == np.float32:
        rand = RNG.integers(0, 2 ** 32, 400_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    else:
        rand = RNG.standard_normal(200_000) * 10.0 ** RNG.integers(-10, 7, 200_000)
    vals = np.concatenate([h, mid, mid * (1 + 4 * tiny), mid * (1 - 4 * tiny), [1e-30, -1e30, np.nan, -np.inf]])
    return np.concatenate([vals.astype(wide), rand.astype(wide)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrowing_rounds_to_nearest_even_in_one_step(dtype):
    v = _rounding_cases(dtype)
    x = T.vector(dtype=dtype)
    got = theon.function([x], T.cast(x, "float16"))(v)
    with np.errstate(all="ignore"):
        want = v.astype(np.float16)             # NumPy: one correct rounding (float64 directly)
    assert_bits_equal(got, want)
    if dtype == "float32":                      # NaN payloads as NumPy's (up to the quiet bit: F16C)
        nan = np.isnan(v)
        assert np.array_equal(bits(got)[nan] | 0x200, bits(want)[nan] | 0x200)


def test_integers_narrow_to_float16():
    ints = np.concatenate([np.arange(-70000, 70000, 7), RNG.integers(-2 ** 62, 2 ** 62, 10000),
                           [2 ** 63 - 1, -2 ** 63]]).astype(np.int64)
    u = RNG.integers(0, 2 ** 64 - 1, 1000, dtype=np.uint64)
    x, y = T.vector(dtype="int64"), T.vector(dtype="uint64")
    gi, gu = theon.function([x, y], [T.cast(x, "float16"), T.cast(y, "float16")])(ints, u)
    with np.errstate(all="ignore"):
        assert_bits_equal(gi, ints.astype(np.float16))
        assert_bits_equal(gu, u.astype(np.float16))


# --- reductions and products ---------------------------------------------------------------------------
def _bound(exact, n, mag):
    return np.abs(exact) * EPS16 / 2 + n * 2.0 ** -24 * mag * (1 + EPS16) + 2.0 ** -25


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_reductions_accumulate_in_float32_and_round_once(mode):
    x = T.matrix(dtype="float16")
    f = theon.function([x], [T.sum(x), T.sum(x, axis=0), T.sum(x, axis=1), T.mean(x, axis=0),
                             T.max(x, axis=1), T.argmin(x, axis=0), T.prod(x[:6] * 0.5 + 1, axis=0)], mode=mode)
    a = f16(3000, 24, scale=2)
    s, s0, s1, m0, mx, am, p = f(a)
    a64 = a.astype(np.float64)
    for got, exact, n, mag in [(s, a64.sum(), a.size, np.abs(a64).sum()),
                               (s0, a64.sum(0), 3000, np.abs(a64).sum(0)),
                               (s1, a64.sum(1), 24, np.abs(a64).sum(1)),
                               (m0, a64.mean(0), 3000, np.abs(a64).mean(0))]:
        assert got.dtype == np.float16
        assert np.all(np.abs(got - exact) <= _bound(exact, n, mag))
    # NumPy's own float16 axis-0 sum (row after row, rounded each time) is worse
    assert np.abs(s0 - a64.sum(0)).max() <= np.abs(a.sum(0) - a64.sum(0)).max()
    assert_bits_equal(mx, a.max(1))
    assert np.array_equal(am, a.argmin(0))
    q = a[:6] * np.float16(0.5) + np.float16(1)
    np.testing.assert_allclose(p, q.astype(np.float64).prod(0), rtol=6 * 2.0 ** -24 + EPS16 / 2, atol=2.0 ** -24)


def test_matrix_products_accumulate_in_float32():
    a, b = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    v = T.vector(dtype="float16")
    t3 = T.tensor3(dtype="float16")
    f = theon.function([a, b, v, t3], [T.dot(a, b), T.dot(a, v), T.batched_dot(t3, t3.dimshuffle(0, 2, 1))])
    A, B, V, C = f16(70, 300), f16(300, 33), f16(300), f16(3, 5, 40)
    mm, mv, bd = f(A, B, V, C)
    for got, x, y in [(mm, A, B), (mv, A, V), (bd, C, C.transpose(0, 2, 1))]:
        exact = np.matmul(x.astype(np.float64), y.astype(np.float64))
        mag = np.matmul(np.abs(x.astype(np.float64)), np.abs(y.astype(np.float64)))
        assert got.dtype == np.float16
        assert np.all(np.abs(got - exact) <= _bound(exact, x.shape[-1], mag))
    np.testing.assert_allclose(mm, A @ B, rtol=EPS16, atol=EPS16 * 4)       # NumPy's float16 matmul


# --- gradients, shared variables, training ---------------------------------------------------------------
def test_gradient_of_a_float16_graph_and_a_training_step():
    w0 = (RNG.standard_normal((6, 3)) * 0.3).astype(np.float16)
    w = theon.shared(w0, name="w16")
    x, t = T.matrix(dtype="float16"), T.matrix(dtype="float16")
    loss = T.mean((T.tanh(T.dot(x, w)) - t) ** 2)
    g = theon.grad(loss, w)
    assert g.dtype == loss.dtype == "float16"
    step = theon.function([x, t], [loss, g], updates=[(w, w - np.float16(0.5) * g)])
    X, Y = f16(16, 6), f16(16, 3)
    losses = []
    for _ in range(5):
        wv = w.get_value().astype(np.float64)
        l, gv = step(X, Y)
        z = np.tanh(X.astype(np.float64) @ wv)
        exact = X.astype(np.float64).T @ (2 * (z - Y) * (1 - z ** 2)) / z.size
        # every op rounds to float16: a few ulps of the gradient's scale
        assert gv.dtype == np.float16 and np.abs(gv - exact).max() <= 8 * EPS16 * np.abs(exact).max()
        losses.append(float(l))
        assert w.get_value().dtype == np.float16
    assert losses[-1] < losses[0]


def test_scan_conv_pool_and_data_movement():
    rng_x = f16(5, 4)
    x, h0 = T.matrix(dtype="float16"), T.vector(dtype="float16")
    hs, _ = theon.scan(lambda xt, h: T.tanh(xt + h * np.float16(0.5)), sequences=[x], outputs_info=[h0])
    img, k = T.tensor4(dtype="float16"), T.tensor4(dtype="float16")
    from theon.tensor.signal import pool
    outs = [hs, T.nnet.conv2d(img, k), pool.pool_2d(img, (2, 2), ignore_border=True),
            T.concatenate([x, x[::-1]], axis=1), T.set_subtensor(x[1:3, 0], h0[:2]), x[[4, 0, 2]],
            T.sort(x, axis=0), T.zeros_like(x) + h0, x.T.flatten()]
    f = theon.function([x, h0, img, k], outs)
    H, I, K = f16(4), f16(2, 3, 8, 8), f16(4, 3, 3, 3)
    got = f(rng_x, H, I, K)
    h, ref = H, []
    with np.errstate(all="ignore"):
        for r in rng_x:
            h = np.tanh(r + h * np.float16(0.5))
            ref.append(h)
    assert np.all(ulps(got[0], np.array(ref)) <= 1)
    conv = np.zeros((2, 4, 6, 6))
    for i in range(3):
        for j in range(3):
            conv += np.einsum("bchw,oc->bohw", I[:, :, i:i + 6, j:j + 6].astype(np.float64),
                              K[:, :, 2 - i, 2 - j].astype(np.float64))      # conv2d flips the filters
    assert got[1].dtype == np.float16 and np.abs(got[1] - conv).max() <= 27 * 2.0 ** -24 * 50 + EPS16 * 8
    assert_bits_equal(got[2], I.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))
    assert_bits_equal(got[3], np.concatenate([rng_x, rng_x[::-1]], axis=1))
    s = rng_x.copy()
    s[1:3, 0] = H[:2]
    assert_bits_equal(got[4], s)
    assert_bits_equal(got[5], rng_x[[4, 0, 2]])
    assert_bits_equal(got[6], np.sort(rng_x, axis=0))
    assert_bits_equal(got[7], np.zeros_like(rng_x) + H)
    assert_bits_equal(got[8], rng_x.T.flatten())


def test_bad_inputs_are_clear_errors():
    x = T.vector(dtype="float16")
    f = theon.function([x], x * 2)
    with pytest.raises(TypeError, match=r"dtype float16 and cannot take an array of dtype float32"):
        f(np.ones(3, np.float32))
    assert f([1.0, 2.5]).dtype == np.float16                    # Python floats, as for floatX
    g = theon.function([x], x * 2, allow_input_downcast=True)
    assert_bits_equal(g(np.array([1e5, 0.1])), np.array([np.inf, 0.2], np.float16))


def test_native_code_calls_no_conversion_library():
    x = T.vector(dtype="float16")
    f = theon.function([x], [T.exp(x), T.cast(T.cast(x, "float64") * 3, "float16")])
    code = f.native.llvm_ir + f.native.asm
    for sym in ("__extendhfsf2", "__truncsfhf2", "__truncdfhf2", "__gnu_h2f_ieee", "__gnu_f2h_ieee"):
        assert sym not in code


# --- aot-compile ---------------------------------------------------------------------------------------------
MODEL = textwrap.dedent('''
    import numpy as np
    import theon
    import theon.tensor as T
    w = theon.shared(np.linspace(-1, 1, 4).astype(np.float16), name="w")
    X = T.tensor("float16", shape=(None, 4), name="X")
    lr = T.scalar("lr", dtype="float16")
    loss = T.sum(T.tanh(T.dot(X, w)))
    step = theon.function([X, lr], loss, updates=[(w, w - lr * theon.grad(loss, w))])
''')

DRIVER = textwrap.dedent('''
    #include <stdio.h>
    #include "step.h"
    int main(void) {
        static const uint16_t X[2 * 4] = {XBITS};
        step_state s;
        uint16_t out;
        step_state_init(&s);
        for (int i = 0; i < 3; i++) {
            if (step(&s, X, 2, LRBITS, &out) != THEON_OK) return 1;
            printf("%u", (unsigned)out);
            for (int j = 0; j < 4; j++) printf(" %u", (unsigned)s.w[j]);
            printf("\\n");
        }
        return 0;
    }
''')


def test_aot_entry_uses_uint16_bit_patterns(tmp_path):
    src = tmp_path / "model16.py"
    src.write_text(MODEL)
    out = tmp_path / "out"
    emit = "obj,header" + (",shared" if CC else "")
    assert aot_main([str(src), "-o", str(out), "--emit", emit]) == 0
    header = (out / "step.h").read_text()
    assert "const uint16_t *X" in header and "uint16_t lr" in header and "uint16_t w[4]" in header
    assert "binary16 bit pattern" in header
    obj = (out / "step.o").read_bytes()
    assert b"__extendhfsf2" not in obj and b"__truncsfhf2" not in obj
    if CC is None:
        pytest.skip("no C compiler to link the object with")
    import runpy
    model = runpy.run_path(str(src))
    X = f16(2, 4)
    lr = np.float16(0.125)
    ref = []
    for _ in range(3):
        loss = model["step"](X, lr)
        ref.append([int(bits(loss))] + [int(v) for v in bits(model["w"].get_value())])
    c_file = tmp_path / "main.c"
    c_file.write_text(DRIVER.replace("XBITS", ", ".join(str(int(v)) for v in bits(X).ravel()))
                      .replace("LRBITS", str(int(bits(lr)))))
    exe = tmp_path / "demo"
    proc = subprocess.run([CC, "-std=c99", "-Wall", "-Werror", "-I", str(out), str(c_file), str(out / "step.o"),
                           "-lm", "-lpthread", "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert [[int(v) for v in line.split()] for line in run.stdout.splitlines()] == ref
    lib = theon.runtime.load_library(out / "libstep.so")
    model2 = runpy.run_path(str(src))
    for _ in range(2):
        assert_bits_equal(lib(X, lr), model2["step"](X, lr))
    assert_bits_equal(lib.get_state("w"), model2["w"].get_value())


def test_verify_grad_on_float16_points():
    """Theano 1.0's float16 step (0.1) and tolerance (5e-2): a right gradient
    passes, a gradient scaled by 2 is caught."""
    rng = np.random.default_rng(5)
    pts = [rng.standard_normal((3, 4)).astype(np.float16), (rng.standard_normal((4, 2)) * 0.5).astype(np.float16)]
    theon.gradient.verify_grad(lambda x, w: T.tanh(T.dot(x, w)), pts, rng=rng)
    with pytest.raises(theon.gradient.GradientError):
        theon.gradient.verify_grad(lambda x, w: theon.gradient.grad_scale(T.tanh(T.dot(x, w)), 2.0), pts, rng=rng)
