"""theon functions on Dask: map_batches over chunked Dask arrays (on a
2-process LocalCluster and the threaded scheduler), compiled functions as
map_blocks / blockwise kernels and in client.submit / client.map, one
compile per worker process, bad input, and a worker that dies mid-graph.

The cluster is one module-scoped LocalCluster (2 worker processes, one
thread each); the tests skip only where dask or distributed cannot be
imported."""
import os
import pickle
import sys

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.frontend import compiled

# The repository root is the theon package, so its folder distributed/ (theon.distributed)
# shadows Dask's top-level package ``distributed`` while the root is on sys.path (pytest run
# from the root puts it there). Dask's package is imported, and the cluster's worker processes
# (which inherit sys.path) run, with the root left out of sys.path; theon itself is found
# through its installation.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _without_repo_root():
    return [p for p in sys.path if os.path.abspath(p or os.curdir) != REPO]


_saved_path = sys.path[:]
sys.path[:] = _without_repo_root()
try:
    da = pytest.importorskip("dask.array", reason="dask[array] is not installed (pip install 'theon[dask]')")
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed",
                                      reason="distributed is not installed (pip install 'theon[dask]')")
finally:
    sys.path[:] = _saved_path
from theon.distributed.dask import map_batches  # noqa: E402

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

RNG = np.random.default_rng(19)
W = RNG.standard_normal((5, 4))
B = RNG.standard_normal(4)


def mlp_reference(x, w, b, scale):
    h = np.tanh(x.astype(np.float64) @ w + b) * scale
    return h, (h * h).sum(axis=1)


def make_mlp(dtype="float64"):
    """A function of a batch x (n, 5), a broadcast bias (4,) and a scalar,
    with a captured weight: two outputs keeping the batch axis."""
    x = T.matrix("x", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    scale = T.scalar("scale", dtype=dtype)
    w = theon.shared(W.astype(dtype), name="w")
    h = T.tanh(T.dot(x, w) + b) * scale
    return theon.function([x, b, scale], [h, (h * h).sum(axis=1)], name="mlp"), w


@pytest.fixture(scope="module")
def client():
    import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])    # workers need not import this file
    saved = sys.path[:]
    sys.path[:] = _without_repo_root()      # also for workers restarted after a death (see the top)
    try:
        cluster, c = _start_cluster()
        try:
            yield c
        finally:
            c.close()
            cluster.close()
    finally:
        sys.path[:] = saved
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _start_cluster(attempts=2):
    """A 2-process LocalCluster and its client, once both workers have
    joined: a cluster whose worker processes never came up (seen once on a
    loaded machine) would make every compute wait forever. A second try
    gets a fresh cluster; after it the error says what the scheduler saw."""
    for attempt in range(attempts):
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster)
        try:
            c.wait_for_workers(2, timeout=120)
            return cluster, c
        except (TimeoutError, OSError) as e:
            seen = sorted(c.scheduler_info().get("workers", {}))
            c.close()
            cluster.close()
            if attempt == attempts - 1:
                raise RuntimeError(f"the LocalCluster's 2 worker processes did not join in 120 s "
                                   f"(the scheduler saw {seen})") from e


def compute(client, *collections, timeout=300):
    """``client.compute(..., sync=True)`` that fails after ``timeout`` seconds
    instead of waiting forever for workers that are gone."""
    futures = client.compute(list(collections))
    distributed.wait(futures, timeout=timeout)
    return client.gather(futures)


def load_counts():
    return dict(compiled.LOAD_COUNTS)


def workers(client):
    return sorted(client.scheduler_info()["workers"])


# --- on the cluster --------------------------------------------------------------------------
@pytest.mark.slow
def test_map_batches_on_local_cluster(client):
    f, w = make_mlp()
    x = RNG.standard_normal((103, 5))
    dx = da.from_array(x, chunks=(20, 2))           # split along the feature axis too: rechunked
    before = client.run(load_counts)
    h, s = map_batches(f, dx, B, 0.5)
    assert h.shape == (103, 4) and s.shape == (103,) and h.dtype == np.float64
    assert h.chunks[0] == dx.chunks[0] and h.chunks[1] == (4,)
    got_h, got_s = compute(client, h, s)
    ref_h, ref_s = mlp_reference(x, W, B, 0.5)
    np.testing.assert_allclose(got_h, ref_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-12, atol=1e-12)
    after = client.run(load_counts)
    # six blocks, two worker processes: each loads the function at most once
    for addr in after:
        assert after[addr]["compiled"] - before[addr]["compiled"] <= 1, (before, after)


def test_client_submit_and_map_reuse_the_compiled_code(client):
    f, w = make_mlp()
    addr = workers(client)[0]
    batches = [RNG.standard_normal((n, 5)) for n in (3, 7, 1)]
    before = client.run(load_counts, workers=[addr])[addr]
    futs = [client.submit(f, xb, B, 2.0, workers=[addr], pure=False) for xb in batches]
    futs += client.map(f, batches, [B] * 3, [2.0] * 3, workers=[addr], pure=False)
    distributed.wait(futs, timeout=300)
    results = client.gather(futs)
    after = client.run(load_counts, workers=[addr])[addr]
    for (h, s), xb in zip(results, batches + batches):
        ref_h, ref_s = mlp_reference(xb, W, B, 2.0)
        np.testing.assert_allclose(h, ref_h, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s, ref_s, rtol=1e-12, atol=1e-12)
    # six tasks each carrying the pickled function: the worker compiled it once at most
    assert after["compiled"] - before["compiled"] <= 1, (before, after)


def _die_once(block, marker):
    """Kill this worker process the first time any block runs."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return block
    os.close(fd)
    os._exit(1)


@pytest.mark.slow
def test_worker_death_is_retried(client, tmp_path):
    f, w = make_mlp()
    x = RNG.standard_normal((60, 5))
    marker = str(tmp_path / "died")
    dx = da.from_array(x, chunks=(15, 5)).map_blocks(_die_once, marker, meta=np.empty((0, 0)))
    h, s = map_batches(f, dx, B, 1.5)
    got_h, got_s = compute(client, h, s)
    assert os.path.exists(marker)                   # a worker did die
    ref_h, ref_s = mlp_reference(x, W, B, 1.5)
    np.testing.assert_allclose(got_h, ref_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-12, atol=1e-12)
    client.wait_for_workers(2, timeout=60)


# --- threaded scheduler ----------------------------------------------------------------------
def test_compiled_function_as_map_blocks_and_blockwise_kernel():
    x = T.matrix("x")
    v = T.vector("v")
    f = theon.function([x, v], T.exp(-x * x) + v)
    a = RNG.standard_normal((50, 6))
    vec = RNG.standard_normal(6)
    da_a = da.from_array(a, chunks=(7, 6))
    ref = np.exp(-a * a) + vec
    with dask.config.set(scheduler="threads", num_workers=2):
        y = da.map_blocks(f, da_a, vec, dtype=np.float64).compute()
        z = da.blockwise(f, "ij", da_a, "ij", vec, None, dtype=np.float64).compute()
    np.testing.assert_allclose(y, ref, rtol=1e-13)
    np.testing.assert_allclose(z, ref, rtol=1e-13)


def test_map_batches_threaded_captures_shared_values_and_outputs():
    f, w = make_mlp("float32")
    x = RNG.standard_normal((40, 5)).astype(np.float32)
    h, s = map_batches(f, da.from_array(x, chunks=11), B.astype(np.float32), 1.0)
    w.set_value(np.zeros((5, 4), np.float32))       # after the graph was built: not seen
    with dask.config.set(scheduler="threads", num_workers=2):
        got_h, got_s = dask.compute(h, s)
    assert got_h.dtype == np.float32 and h.dtype == np.float32
    ref_h, ref_s = mlp_reference(x, W, B, 1.0)
    np.testing.assert_allclose(got_h, ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-4, atol=1e-4)


def test_map_batches_other_batch_axis_dict_outputs_and_dask_broadcast():
    # time-major (t, n, k): the batch is axis 1; the outputs' batch axes are found by shape inference
    x = T.tensor3("x")
    m = T.matrix("m")
    y = T.dot(x, m)                                 # (t, n, j)
    f = theon.function([x, m], {"last": y[-1], "mean": y.mean(axis=0), "swapped": y.dimshuffle(1, 0, 2)})
    a = RNG.standard_normal((3, 22, 4))
    mat = RNG.standard_normal((4, 2))
    out = map_batches(f, da.from_array(a, chunks=(1, 5, 2)), da.from_array(mat, chunks=2),
                      batch_axis=[1, None])
    assert set(out) == {"last", "mean", "swapped"}
    assert out["last"].chunks == ((5, 5, 5, 5, 2), (2,))
    assert out["swapped"].chunks == ((5, 5, 5, 5, 2), (3,), (2,))
    with dask.config.set(scheduler="threads"):
        got = dask.compute(out)[0]
    ref = a @ mat
    np.testing.assert_allclose(got["last"], ref[-1], rtol=1e-12)
    np.testing.assert_allclose(got["mean"], ref.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got["swapped"], ref.transpose(1, 0, 2), rtol=1e-12)


def test_map_batches_leaves_defaults_to_the_function():
    x = T.matrix("x")
    s = T.scalar("s")
    f = theon.function([x, theon.In(s, value=3.0)], x * s)
    a = RNG.standard_normal((9, 2))
    y = map_batches(f, da.from_array(a, chunks=4))
    np.testing.assert_array_equal(y.compute(scheduler="sync"), a * 3.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=6), st.integers(1, 4))
def test_map_batches_any_chunking_matches_numpy(chunks, cols):
    x = T.matrix("x")
    f = theon.function([x], [T.nnet.softmax(x), x.max(axis=1)])
    a = RNG.standard_normal((sum(chunks), cols))
    p, mx = map_batches(f, da.from_array(a, chunks=(tuple(chunks), cols)))
    with dask.config.set(scheduler="sync"):
        got_p, got_mx = dask.compute(p, mx)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got_p, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(got_mx, a.max(axis=1))


# --- pickling: one compile per process -------------------------------------------------------
def test_unpickling_twice_reuses_code_with_own_state():
    x = T.vector("x")
    w = theon.shared(np.arange(3.0), name="w")
    total = theon.shared(0.0, name="total")
    f = theon.function([x], x * w, updates=[(total, total + x.sum())])
    data = pickle.dumps(f)
    before = load_counts()
    g1, g2 = pickle.loads(data), pickle.loads(data)
    after = load_counts()
    assert after["compiled"] - before["compiled"] <= 1 and after["reused"] - before["reused"] >= 1
    assert g1.native is g2.native                   # one compiled code ...
    assert g1.shared[0] is not g2.shared[0]         # ... and separate shared variables
    g1(np.ones(3))
    g1(np.ones(3))
    np.testing.assert_array_equal(g2(np.full(3, 2.0)), [0.0, 2.0, 4.0])
    assert g1.shared[1].get_value() == 6.0 and g2.shared[1].get_value() == 6.0
    assert total.get_value() == 0.0
    g1.shared[0].set_value(np.ones(3))
    np.testing.assert_array_equal(g2(np.ones(3)), [0.0, 1.0, 2.0])


# --- bad input -------------------------------------------------------------------------------
def bad_inputs():
    f, w = make_mlp()
    dx = da.from_array(RNG.standard_normal((10, 5)), chunks=(4, 5))
    return f, dx


def test_bad_arguments_name_the_argument():
    f, dx = bad_inputs()
    with pytest.raises(TypeError, match="no argument is a batched Dask array"):
        map_batches(f, np.ones((10, 5)), B, 1.0)
    with pytest.raises(TypeError, match="argument 1 is a ndarray, not a Dask array"):
        map_batches(f, dx, B, 1.0, batch_axis=[0, 0, None])
    with pytest.raises(TypeError, match="takes Dask arrays, NumPy arrays and scalars"):
        map_batches(f, dx, dask.delayed(B), 1.0)
    with pytest.raises(ValueError, match=r"argument 0 .*'x'.* must be a 2-d array.*3-d Dask array"):
        map_batches(f, dx[:, :, None], B, 1.0)
    with pytest.raises(TypeError, match="takes 3 inputs, got 4"):
        map_batches(f, dx, B, 1.0, 2.0)
    with pytest.raises(TypeError, match="input 2 .* has no default"):
        map_batches(f, dx, B)
    with pytest.raises(ValueError, match="batch_axis 2 is out of range"):
        map_batches(f, dx, B, 1.0, batch_axis=2)
    with pytest.raises(ValueError, match=r"'b'.*has 3 rows along its batch axis 0 but .*'x'.* has 10"):
        map_batches(f, dx, da.from_array(np.ones(3)), 1.0, batch_axis=0)
    with pytest.raises(TypeError, match="must be a compiled theon function"):
        map_batches(np.tanh, dx)
    with pytest.raises(Exception, match="'b'"):     # the function's own conversion error
        map_batches(f, dx, np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        map_batches(f, dx[dx[:, 0] > 0], B, 1.0)


def test_bad_functions_and_layouts():
    f, dx = bad_inputs()
    with pytest.raises(ValueError, match=r"chunked along axis 1 .* split only along its batch axis 0"):
        map_batches(f, da.from_array(np.ones((10, 5)), chunks=(5, 2)), B, 1.0, rechunk=False)
    with pytest.raises(ValueError, match=r"argument 1 .* chunked along axis 0 .* passed whole"):
        map_batches(f, dx, da.from_array(B, chunks=2), 1.0, batch_axis=[0, None, None], rechunk=False)
    s = T.scalar("s")
    x = T.matrix("x")
    with pytest.raises(ValueError, match=r"keeps state in input 1 .*'s'"):
        map_batches(theon.function([x, theon.In(s, value=0.0, update=s + 1)], x * s), dx)
    x = T.matrix("x")
    total = theon.shared(0.0, name="total")
    with pytest.raises(ValueError, match="updates shared variables .*'total'"):
        map_batches(theon.function([x], x + 1, updates=[(total, total + x.sum())]), dx)
    with pytest.raises(ValueError, match="output 0 .* does not keep the batch axis"):
        map_batches(theon.function([x], x.sum(axis=0)), dx)
    with pytest.raises(ValueError, match="output 0 .* does not keep the batch axis"):
        map_batches(theon.function([x], x.sum()), dx)
    with pytest.raises(ValueError, match="axis 1 of output 0 .* changes with the batch length"):
        map_batches(theon.function([x], T.outer(x[:, 0], x[:, 0])), dx)
    with pytest.raises(ValueError, match="out_batch_axis 1 of output 0 .* fixed size 5"):
        map_batches(theon.function([x], x * 2), dx, out_batch_axis=1)
