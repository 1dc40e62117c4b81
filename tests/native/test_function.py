"""theon.function: the SPEC's seed examples, argument handling, updates,
givens, input conversion and layouts, modes and profiling."""
import io
import warnings

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import function, shared


# --- SPEC seed examples ------------------------------------------------------------
def test_multiple_outputs():
    a, b = T.matrix("a"), T.matrix("b")
    diff = a - b
    f = function([a, b], [diff, abs(diff), diff ** 2])
    out = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    assert isinstance(out, list) and len(out) == 3
    np.testing.assert_array_equal(out[0], [[1, 0], [-1, -2]])
    np.testing.assert_array_equal(out[1], [[1, 0], [1, 2]])
    np.testing.assert_array_equal(out[2], [[1, 0], [1, 4]])


def test_seed_mul_update():
    w = shared(1.0)
    x = T.scalar("x")
    mul = function([x], updates=[(w, w * x)])
    assert mul(4) == []
    v = w.get_value()
    assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == np.float64
    assert repr(v) == "array(4.)"          # NumPy's repr of array(4.0)
    mul(0.5)
    assert w.get_value() == 2.0


def test_single_output_returns_an_array_not_a_list():
    x = T.vector("x")
    f = function([x], x * 2)
    out = f([1.0, 2.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [2.0, 4.0])


def test_list_of_one_output_returns_a_list():
    x = T.vector("x")
    out = function([x], [x * 2])([1.0])
    assert isinstance(out, list) and len(out) == 1


def test_accumulator_and_givens():
    state = shared(0)
    inc = T.iscalar("inc")
    accumulator = function([inc], state, updates=[(state, state + inc)])
    assert accumulator(1) == 0
    assert accumulator(300) == 1
    assert state.get_value() == 301
    foo = T.lscalar("foo")
    fn_of_state = state * 2 + inc
    skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
    assert skip_shared(1, 3) == 7
    assert state.get_value() == 301          # givens never touch the shared variable


def test_givens_dict_with_slice_of_shared_data():
    data = shared(np.arange(10.0), name="data")
    x = T.vector("x")
    i = T.lscalar("i")
    f = function([i], x.sum(), givens={x: data[i * 3:(i + 1) * 3]})
    assert f(0) == 0 + 1 + 2
    assert f(2) == 6 + 7 + 8


def test_givens_does_not_change_the_users_graph():
    x, y = T.vector("x"), T.vector("y")
    z = x + 1
    f = function([y], z, givens=[(x, y * 10)])
    np.testing.assert_array_equal(f([1.0]), [11.0])
    g = function([x], z)
    np.testing.assert_array_equal(g([1.0]), [2.0])


# --- argument checking -------------------------------------------------------------------
def test_inputs_must_be_a_list():
    x = T.vector("x")
    with pytest.raises(TypeError, match="list"):
        function(x, x * 2)


def test_inputs_tuple_is_accepted():
    x = T.vector("x")
    np.testing.assert_array_equal(function((x,), x * 2)([1.0]), [2.0])


def test_input_must_be_a_variable():
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        function([np.zeros(3)], None)


def test_shared_variable_cannot_be_an_input():
    w = shared(np.zeros(2), name="w")
    with pytest.raises(TypeError, match="shared"):
        function([w], w * 2)


def test_unused_input_raises_by_default():
    x, y = T.vector("x"), T.vector("y")
    with pytest.raises(ValueError, match="'y'.*on_unused_input"):
        function([x, y], x * 2)


def test_unused_input_warn():
    x, y = T.vector("x"), T.vector("y")
    with pytest.warns(UserWarning, match="'y'"):
        f = function([x, y], x * 2, on_unused_input="warn")
    np.testing.assert_array_equal(f([1.0], [5.0, 6.0]), [2.0])


def test_unused_input_ignore():
    x, y = T.vector("x"), T.vector("y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = function([x, y], x * 2, on_unused_input="ignore")
    np.testing.assert_array_equal(f([1.0], [5.0]), [2.0])


def test_bad_on_unused_input_value():
    x = T.vector("x")
    with pytest.raises(ValueError, match="on_unused_input"):
        function([x], x, on_unused_input="sometimes")


def test_missing_input_is_an_error():
    x, y = T.vector("x"), T.vector("y")
    with pytest.raises(ValueError, match="'y'"):
        function([x], x + y)


def test_no_outputs_returns_empty_list():
    x = T.vector("x")
    f = function([x], None, on_unused_input="ignore")
    assert f([1.0]) == []


def test_keyword_arguments_by_input_name():
    x, y = T.vector("x"), T.vector("y")
    f = function([x, y], x - y)
    np.testing.assert_array_equal(f(y=[1.0], x=[3.0]), [2.0])
    with pytest.raises(TypeError, match="'z'"):
        f(x=[1.0], z=[2.0])


# --- updates ----------------------------------------------------------------------------
def test_updates_as_dict_and_list():
    a = shared(np.float64(1.0), name="a")
    b = shared(np.float64(10.0), name="b")
    x = T.scalar("x")
    f = function([x], [], updates={a: a + x, b: b * x})
    f(2.0)
    assert (a.get_value(), b.get_value()) == (3.0, 20.0)
    g = function([x], [], updates=[(a, a - x), (b, b - x)])
    g(1.0)
    assert (a.get_value(), b.get_value()) == (2.0, 19.0)


def test_updates_are_applied_all_at_once():
    a = shared(np.array([1.0, 2.0]), name="a")
    b = shared(np.array([3.0, 4.0]), name="b")
    swap = function([], updates=[(a, b), (b, a)])
    swap()
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    swap()
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])


def test_outputs_see_values_before_updates():
    w = shared(np.array([1.0, 2.0]), name="w")
    f = function([], w * 1, updates=[(w, w + 1)])
    np.testing.assert_array_equal(f(), [1.0, 2.0])
    np.testing.assert_array_equal(f(), [2.0, 3.0])


def test_update_target_must_be_shared():
    x = T.vector("x")
    with pytest.raises(TypeError, match="shared"):
        function([x], [], updates=[(x, x * 2)])


def test_update_type_mismatch_is_a_compile_time_type_error():
    w = shared(np.zeros(3, np.float32), name="w")
    x = T.dvector("x")
    with pytest.raises(TypeError, match="'w'.*float64.*float32|'w'.*float32.*float64"):
        function([x], [], updates=[(w, x)])
    m = T.fmatrix("m")
    with pytest.raises(TypeError, match="'w'"):
        function([m], [], updates=[(w, m)])


def test_update_with_a_python_constant():
    w = shared(np.float64(5.0), name="w")
    f = function([], [], updates=[(w, 0.0)])
    f()
    assert w.get_value() == 0.0


# --- outputs are fresh --------------------------------------------------------------------
def test_outputs_are_fresh_arrays():
    w = shared(np.array([1.0, 2.0]), name="w")
    x = T.vector("x")
    f = function([x], [x, w + 0, w * 1], updates=[(w, w * 1)])
    xin = np.array([5.0, 6.0])
    out = f(xin)
    assert not np.shares_memory(out[0], xin)
    assert not np.shares_memory(out[1], out[2])
    for o in out:
        assert o.flags.writeable and o.flags.c_contiguous
        assert not np.shares_memory(o, w.get_value(borrow=True))
    out[1][:] = -1.0
    out[2][:] = -1.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])
    again = f(xin)
    np.testing.assert_array_equal(again[1], [1.0, 2.0])
    np.testing.assert_array_equal(xin, [5.0, 6.0])


def test_output_memory_survives_the_function():
    x = T.vector("x")
    f = function([x], x * 3)
    out = f(np.arange(1000.0))
    del f
    import gc
    gc.collect()
    assert out[999] == 2997.0


# --- input conversion ---------------------------------------------------------------------
def test_int_arrays_into_float_inputs():
    x = T.dvector("x")
    f = function([x], x * 2)
    np.testing.assert_array_equal(f(np.array([1, 2], np.int32)), [2.0, 4.0])
    np.testing.assert_array_equal(f(np.array([1, 2], np.int64)), [2.0, 4.0])
    y = T.fvector("y")
    g = function([y], y * 2)
    np.testing.assert_array_equal(g(np.array([1, 2], np.int16)), [2.0, 4.0])
    with pytest.raises(TypeError, match="'y'.*int64"):
        g(np.array([1, 2], np.int64))          # int64 -> float32 is not safe


def test_python_scalars_and_lists():
    x = T.dmatrix("x")
    s = T.lscalar("s")
    f = function([x, s], x * s)
    np.testing.assert_array_equal(f([[1, 2], [3, 4]], 2), [[2.0, 4.0], [6.0, 8.0]])
    with pytest.raises(TypeError, match="'s'"):
        f([[1.0]], 2.5)


def test_allow_input_downcast_none_allows_python_floats_to_floatx_only(floatx):
    floatx("float32")
    x = T.vector("x")                        # float32
    f = function([x], x * 2)
    np.testing.assert_allclose(f([0.1, 0.2]), np.array([0.2, 0.4], np.float32))
    s = T.scalar("s")
    g = function([s], s * 2)
    assert g(0.1).dtype == np.float32
    with pytest.raises(TypeError, match="'x'.*float64"):
        f(np.array([0.1, 0.2]))             # a float64 array is not downcast


def test_allow_input_downcast_false_is_strict():
    x = T.fvector("x")
    f = function([x], x * 2, allow_input_downcast=False)
    with pytest.raises(TypeError, match="'x'"):
        f([0.1])                             # 0.1 is not exactly a float32
    with pytest.raises(TypeError, match="'x'"):
        f(np.array([0.5]))                   # float64 array
    np.testing.assert_array_equal(f(np.array([0.5], np.float32)), [1.0])


def test_allow_input_downcast_true_casts():
    x = T.fvector("x")
    i = T.bscalar("i")
    f = function([x, i], x * i, allow_input_downcast=True)
    out = f(np.array([0.1, 0.2]), 3.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.array([0.3, 0.6], np.float32), rtol=1e-6)


def test_bad_allow_input_downcast_value():
    x = T.vector("x")
    with pytest.raises(TypeError, match="allow_input_downcast"):
        function([x], x, allow_input_downcast="yes")


@pytest.mark.parametrize("make", [
    lambda a: a.T,
    lambda a: np.asfortranarray(a),
    lambda a: a[::-1],
    lambda a: a[:, ::-2],
    lambda a: a[::2, 1:],
    lambda a: np.broadcast_to(a[:1], a.shape),
], ids=["transposed", "fortran", "neg-rows", "neg-step-cols", "sliced", "zero-stride"])
def test_strided_inputs_work_natively(make):
    m = T.matrix("m")
    f = function([m], m * 2 + 1)
    base = np.arange(24.0).reshape(4, 6)
    view = make(base)
    np.testing.assert_array_equal(f(view), view * 2 + 1)


def test_strided_inputs_are_not_copied():
    from theon.runtime.convert import abi_layout
    base = np.arange(24.0).reshape(4, 6)
    for view in (base.T, base[::-1, ::2], np.asfortranarray(base)):
        assert abi_layout(view) is view


def test_unaligned_and_byteswapped_inputs_are_copied_and_work():
    m = T.vector("m")
    f = function([m], m * 2)
    raw = np.zeros(8 * 4 + 1, np.uint8)
    unaligned = raw[1:].view(np.float64)
    unaligned[:] = [1.0, 2.0, 3.0, 4.0]
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(f(unaligned), [2.0, 4.0, 6.0, 8.0])
    swapped = np.array([1.0, 2.0], dtype=">f8")
    np.testing.assert_array_equal(f(swapped), [2.0, 4.0])
    rec = np.zeros(3, dtype=[("a", np.float64), ("b", np.int8)])
    rec["a"] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(f(rec["a"]), [2.0, 4.0, 6.0])   # stride 9: not a multiple of 8


# --- modes ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE", "DEBUG", None])
def test_modes_compute_the_same(mode):
    x = T.vector("x")
    y = T.vector("y")
    f = function([x, y], [x * y + 1, (x - y).sum()], mode=mode)
    out = f([1.0, 2.0], [3.0, 4.0])
    np.testing.assert_array_equal(out[0], [4.0, 9.0])
    assert out[1] == -4.0


def test_mode_object():
    x = T.vector("x")
    f = function([x], x + x, mode=theon.Mode(optimizer="fast_compile"))
    np.testing.assert_array_equal(f([1.0]), [2.0])
    g = function([x], x + x, mode=theon.Mode(optimizer=None))
    np.testing.assert_array_equal(g([1.0]), [2.0])


def test_unknown_mode():
    x = T.vector("x")
    with pytest.raises(ValueError, match="mode"):
        function([x], x, mode="TURBO")


def _expect_cuda_function(make):
    from theon.runtime.cuda import CudaUnavailableError, cuda_available
    if cuda_available():
        from theon.runtime.gpu_function import GpuFunction
        assert isinstance(make(), GpuFunction)
    else:
        with pytest.raises(CudaUnavailableError, match="CUDA is not available"):
            make()


def test_cuda_device_gives_a_gpu_function_or_a_clear_error():
    x = T.vector("x")
    _expect_cuda_function(lambda: function([x], x * 2, mode=theon.Mode(device="cuda")))


def test_debug_mode_updates_and_shared():
    w = shared(np.array([1.0, 2.0]), name="w")
    x = T.vector("x")
    f = function([x], (w * x).sum(), updates=[(w, w + x)], mode="DEBUG")
    assert f([1.0, 1.0]) == 3.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0])


def test_debug_mode_catches_a_wrong_reference(monkeypatch):
    from theon.ir.dialect import get_op
    from theon.runtime.debug import DebugModeError
    x = T.vector("x")
    f = function([x], T.exp(x) * 2, mode="DEBUG")
    np.testing.assert_allclose(f([0.0, 1.0]), [2.0, 2 * np.e])
    exp = type(get_op("exp"))
    monkeypatch.setattr(exp, "np_fn", staticmethod(lambda a: np.exp(a) + 1e-3))
    w = shared(np.array([1.0]), name="w")
    g = function([x], T.exp(x) * 2, updates=[(w, w + 1)], mode="DEBUG")
    with pytest.raises(DebugModeError, match="exp") as e:
        g([0.0, 1.0])
    assert "reference" in str(e.value)
    assert w.get_value()[0] == 1.0            # a failed call changes no shared variable


def test_debug_mode_catches_a_new_nan(monkeypatch):
    from theon.ir.dialect import get_op
    from theon.runtime.debug import DebugModeError
    x = T.vector("x")
    f = function([x], T.sqrt(x), mode="DEBUG")
    sqrt = type(get_op("sqrt"))
    monkeypatch.setattr(sqrt, "np_fn", staticmethod(lambda a: np.sqrt(np.abs(a))))
    with pytest.raises(DebugModeError, match="NaN"):
        f([-1.0, 4.0])


def test_worst_mismatch_tolerances():
    from theon.runtime.debug import worst_mismatch
    a = np.array([1.0, 2.0, 3.0])
    assert worst_mismatch(a, a + 1e-12) is None
    assert "index (1,)" in worst_mismatch(a, a + [0, 1e-3, 1e-6])
    assert worst_mismatch(np.array([np.nan]), np.array([np.nan])) is None
    assert "NaN" in worst_mismatch(np.array([np.nan]), np.array([1.0]))
    assert worst_mismatch(np.array([1], np.int64), np.array([2], np.int64)) is not None
    assert "shape" in worst_mismatch(np.zeros(2), np.zeros(3))


# --- profiling -----------------------------------------------------------------------------
def test_profile_summary():
    x = T.vector("x")
    f = function([x], T.exp(x).sum(), profile=True)
    assert f.profile is not None
    for _ in range(3):
        f(np.ones(10000))
    buf = io.StringIO()
    f.profile.summary(file=buf)
    text = buf.getvalue()
    assert "calls: 3" in text
    assert "exp" in text and "sum" in text
    assert "per call" in text
    rows = f.profile.op_times()
    assert sum(ns for _, _, ns in rows) > 0


def test_profile_via_mode_and_default_off():
    x = T.vector("x")
    assert function([x], x * 2).profile is None
    f = function([x], x * 2, mode=theon.Mode(profile=True))
    f([1.0])
    assert f.profile.calls == 1


def test_profile_summary_prints_to_stdout(capsys):
    x = T.vector("x")
    f = function([x], x * 2, profile=True, name="double")
    f([1.0])
    f.profile.summary()
    out = capsys.readouterr().out
    assert "double" in out and "mul" in out


# --- Mode and pipelines ---------------------------------------------------------------
def test_mode_pipelines():
    from theon.runtime.mode import Mode, get_mode
    from theon.runtime.pipeline import PIPELINES
    assert get_mode("FAST_RUN").pipeline == PIPELINES["fast_run"]
    assert get_mode("FAST_COMPILE").pipeline == PIPELINES["fast_compile"]
    assert get_mode("DEBUG").debug and not get_mode("FAST_RUN").debug
    assert Mode(optimizer="cse,dce").pipeline == ("cse", "dce")
    assert Mode(optimizer=None).pipeline == ()
    assert Mode(passes=["dce"]).pipeline == ("dce",)
    assert Mode("cse,dce").excluding("cse").pipeline == ("dce",)
    assert Mode("dce").including("cse").pipeline == ("cse", "dce")      # dead code removal stays last
    m = Mode()
    assert get_mode(m) is m
    with pytest.raises(ValueError, match="device"):
        Mode(device="tpu")
    with pytest.raises(TypeError, match="optimizer"):
        Mode(optimizer=3)


def test_default_mode_follows_config():
    from theon.runtime.mode import get_mode
    saved = theon.config.mode
    try:
        theon.config.mode = "DEBUG"
        assert get_mode(None).debug
    finally:
        theon.config.mode = saved


def test_config_device_cuda_gives_a_gpu_function_or_a_clear_error():
    x = T.vector("x")
    saved = theon.config.device
    try:
        theon.config.device = "cuda"
        _expect_cuda_function(lambda: function([x], x * 2))
    finally:
        theon.config.device = saved


def test_registered_fast_run_passes_run():
    from theon.runtime.pipeline import PIPELINES, available
    assert "dce" in available(PIPELINES["fast_run"])
    x = T.vector("x")
    unused = T.exp(x)          # noqa: F841 - built but not an output
    f = function([x], [x * 2, T.exp(x) + T.exp(x)])
    names = [op.name for op in f.ir.walk()]
    assert names.count("exp") == 1          # cse merged the two exp
