"""Pickling compiled functions, graphs and shared variables; deepcopy.

A pickled function carries its IR (before the passes), its shared
variables and its options; loading recompiles it. Functions are loaded in
a fresh interpreter and must give the same results as the originals."""
import copy
import pickle

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import In

MODE = "FAST_COMPILE"


def _training_functions():
    """A logistic-regression step (shared state, updates, givens) and a
    predictor sharing its weights."""
    rng = np.random.default_rng(0)
    data = theon.shared(rng.normal(size=(8, 3)), name="data")
    w = theon.shared(rng.normal(size=3), name="w")
    b = theon.shared(np.float64(0.1), name="b")
    x = T.matrix("x")
    y = T.vector("y")
    i = T.lscalar("i")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean()
    gw, gb = theon.grad(cost, [w, b])
    train = theon.function([i, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)],
                           givens={x: data[i:i + 4]}, mode=MODE)
    predict = theon.function([x], p > 0.5, mode=MODE)
    return train, predict, (w, b, data)


def test_pickled_functions_in_a_fresh_process(tmp_path, run_json):
    train, predict, (w, b, data) = _training_functions()
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    train(0, labels)                            # some state before pickling
    blob = pickle.dumps({"train": train, "predict": predict})
    path = tmp_path / "f.pkl"
    path.write_bytes(blob)
    expected_costs = [float(train(k % 2 * 4, labels)) for k in range(5)]
    expected_w = w.get_value().tolist()
    probe = np.random.default_rng(1).normal(size=(6, 3))
    expected_pred = predict(probe).tolist()
    out = run_json(f"""
        import json, pickle
        import numpy as np
        fs = pickle.loads(open({str(path)!r}, 'rb').read())
        train, predict = fs['train'], fs['predict']
        labels = np.array([1.0, 0.0, 1.0, 0.0])
        costs = [float(train(k % 2 * 4, labels)) for k in range(5)]
        w = [s for s in train.shared if s.name == 'w'][0]
        same = any(s is w for s in predict.shared)
        probe = np.random.default_rng(1).normal(size=(6, 3))
        print(json.dumps({{"costs": costs, "w": w.get_value().tolist(), "same": same,
                          "pred": predict(probe).tolist()}}))
    """)
    np.testing.assert_allclose(out["costs"], expected_costs, rtol=1e-12)
    np.testing.assert_allclose(out["w"], expected_w, rtol=1e-12)
    assert out["same"], "w must stay one shared variable across the two pickled functions"
    assert out["pred"] == expected_pred


def test_pickled_state_inputs_dict_outputs_and_defaults(tmp_path, run_json):
    x, s = T.scalars("x", "s")
    a = T.vector("a")
    f = theon.function([a, x, In(s, value=1.0, update=s * x)], {"sum": a.sum() * s, "scaled": a * x},
                       mode=MODE)
    f([1.0, 2.0], 2.0)
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps(f))
    expected = [f([1.0, 2.0], 3.0)["sum"].item() for _ in range(3)]
    out = run_json(f"""
        import json, pickle
        f = pickle.loads(open({str(path)!r}, 'rb').read())
        got = [f([1.0, 2.0], 3.0)["sum"].item() for _ in range(3)]
        print(json.dumps({{"got": got, "s": float(f["s"]), "keys": sorted(f([1.0], x=1.0))}}))
    """)
    assert out["got"] == expected
    assert out["s"] == float(f["s"])
    assert out["keys"] == ["scaled", "sum"]


def test_pickle_in_process_keeps_identity_and_options():
    w = theon.shared(np.arange(3.0), name="w")
    v = T.vector("v")
    f = theon.function([v], (v * w).sum(), updates=[(w, w + 1)], mode=MODE, name="step")
    g = theon.function([v], v + w, mode=MODE)
    f2, g2, w2 = pickle.loads(pickle.dumps([f, g, w]))
    assert f2.shared[0] is g2.shared[0] is w2
    assert w2 is not w and w2.name == "w"
    assert f2.name == "step" and f2.mode.pipeline == f.mode.pipeline
    f2([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(g2([0.0, 0.0, 0.0]), np.arange(3.0) + 1)
    np.testing.assert_array_equal(w.get_value(), np.arange(3.0))       # the original is untouched


def test_pickle_graphs_and_shared_variables():
    x = T.matrix("x")
    w = theon.shared(np.ones((3, 2)), name="w")
    h = T.tanh(T.dot(x, w))
    h.name = "hidden"
    y = (h ** 2).sum()
    h2, y2, x2, w2 = pickle.loads(pickle.dumps([h, y, x, w]))
    assert h2.name == "hidden" and x2.name == "x" and w2.name == "w"
    # identity inside one pickle: y2's graph uses h2, x2 and w2 themselves
    assert y2.owner.operands[0].owner.operands[0] is h2
    assert h2.owner.operands[0].owner.operands == [x2, w2]
    f = theon.function([x2], y2, mode=MODE)
    a = np.random.default_rng(2).normal(size=(4, 3))
    assert np.isclose(f(a), (np.tanh(a @ np.ones((3, 2))) ** 2).sum())
    np.testing.assert_array_equal(w2.get_value(), w.get_value())


def test_pickle_keeps_tags_and_user_attributes():
    x = T.vector("x")
    x.tag.test_value = np.array([1.0, 2.0])
    x._keras_shape = (None, 2)
    x2 = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(x2.tag.test_value, [1.0, 2.0])
    assert x2._keras_shape == (None, 2)


def test_deepcopy_of_compiled_functions():
    w = theon.shared(np.zeros(2), name="w")
    v = T.vector("v")
    f = theon.function([v], w.sum(), updates=[(w, w + v)], mode=MODE)
    g = copy.deepcopy(f)
    g([1.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [0.0, 0.0])
    assert g([0.0, 0.0]) == 3.0
    # two functions deep-copied together still share their copy of w
    f1 = theon.function([v], (v + w).sum(), mode=MODE)
    a, b = copy.deepcopy([f, f1])
    a([1.0, 1.0])
    assert b([0.0, 0.0]) == 2.0


def test_pickled_function_of_a_big_graph_does_not_recurse():
    x = T.vector("x")
    y = x
    for k in range(600):            # deeper than the recursion limit allows for nested pickling
        y = y * 1.0001 + 0.5 if k % 2 else T.tanh(y)
    f = theon.function([x], y, mode=MODE)
    f2 = pickle.loads(pickle.dumps(f))
    a = np.array([0.1, -0.3])
    np.testing.assert_array_equal(f2(a), f(a))


def test_unpicklable_version_is_refused():
    from theon.frontend.compiled import load_function
    with pytest.raises(ValueError, match="version"):
        load_function({"version": 99})


def test_pickle_graphs_with_region_ops():
    ifelse = pytest.importorskip("theon.ifelse").ifelse
    a, b = T.scalars("a", "b")
    z = ifelse(T.lt(a, b), a * 2, b * 3) + 1
    z2, a2, b2 = pickle.loads(pickle.dumps([z, a, b]))
    f = theon.function([a2, b2], z2, mode=MODE)
    assert f(1.0, 2.0) == 3.0 and f(3.0, 2.0) == 7.0
    if not hasattr(theon, "scan"):
        return
    x = T.vector("x")
    res, _ = theon.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    res2, x2 = pickle.loads(pickle.dumps([res, x]))
    g = theon.function([x2], res2[-1], mode=MODE)
    assert g([1.0, 2.0, 3.0]) == 6.0
    h = pickle.loads(pickle.dumps(theon.function([x], res, mode=MODE)))
    np.testing.assert_array_equal(h([1.0, 2.0, 3.0]), [1.0, 3.0, 6.0])
