"""theon.function as Theano 1.0 documents it: In/Out, defaults, keywords,
state, dict outputs, output_subset, default updates, f.maker.fgraph,
f.copy, trust_input (the examples of Theano's io.txt and function docs)."""
import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import In, Out

MODE = "FAST_COMPILE"


def fn(*args, **kwargs):
    kwargs.setdefault("mode", MODE)
    return theon.function(*args, **kwargs)


def test_in_default_values_and_keywords():
    x, y, w = T.dscalars("x", "y", "w")
    f = fn([x, In(y, value=1), In(w, value=2, name="w_by_name")], (x + y) * w)
    assert f(33) == 68.0
    assert f(33, 2) == 70.0
    assert f(33, 0, 1) == 33.0
    assert f(33, w_by_name=1) == 34.0
    assert f(33, w_by_name=1, y=0) == 33.0
    assert f(x=33) == 68.0                       # a variable's name is its keyword
    with pytest.raises(TypeError, match="unknown input or state 'w'"):
        f(33, w=1)                              # the In's name replaces the variable's
    with pytest.raises(TypeError, match="missing required input"):
        f()
    with pytest.raises(TypeError, match="multiple values"):
        f(1, 2, y=3)


def test_unnamed_input_cannot_be_a_keyword():
    x = T.scalar()
    y = T.scalar("y")
    f = fn([x, y], x + y)
    with pytest.raises(TypeError, match="'z'"):
        f(1.0, z=1.0)
    g = fn([x, In(y, value=1.0)], x + y)
    with pytest.raises(TypeError, match="1 unnamed input"):
        g(y=2.0, z=1.0)


def test_state_input_with_update_as_in_theano_docs():
    u, x, s = T.scalars("u", "x", "s")
    inc = fn([u, In(x, value=3), In(s, update=(s + x * u), value=10.0)], [])
    assert inc(5) == []
    assert float(inc[s]) == 25.0
    inc(3, 4)
    assert float(inc[s]) == 37.0
    assert float(inc[x]) == 3.0                  # the override of x was only for that call
    inc(3, 4, 7)
    assert float(inc[s]) == 19.0
    inc[s] = 10
    assert float(inc["s"]) == 10.0
    assert float(inc.value[s]) == 10.0 and float(inc.container[s].value) == 10.0
    inc.value["s"] = 99.0
    inc(1, 0)
    assert float(inc["s"]) == 99.0


def test_tuple_shortcuts():
    x = T.scalar()
    y, z, w = T.scalar("y"), T.scalar("z"), T.scalar("w")
    f = fn([x, y, In(z, value=42), ((w, w + x), 0)], x + y + z)
    assert f(1, 2) == 45.0
    assert f(1, y=2) == 45.0
    assert float(f["w"]) == 2.0
    assert f(1, 2, 3) == 6.0
    assert f(1, 2, w=400) == 45.0
    assert float(f["w"]) == 401.0


def test_implicit_input_cannot_be_given():
    x, s = T.scalars("x", "s")
    f = fn([x, In(s, value=1.0, update=s * 2, implicit=True)], x + s)
    assert f(1.0) == 2.0 and f(1.0) == 3.0
    with pytest.raises(TypeError, match="implicit"):
        f(1.0, 5.0)


def test_in_bad_arguments():
    with pytest.raises(TypeError, match="symbolic variable"):
        In(3.0)
    x = T.scalar("x")
    with pytest.raises(ValueError, match="initial value"):
        In(x, update=x + 1)


def test_in_mutable_borrow_and_out_borrow_give_the_same_values():
    x = T.dmatrix("x")
    f = fn([In(x, mutable=True, borrow=True)], [x + x, Out((x + x).T, borrow=True)])
    a = np.arange(4.0).reshape(2, 2)
    r1, r2 = f(a)
    np.testing.assert_array_equal(r1, a + a)
    np.testing.assert_array_equal(r2, (a + a).T)
    np.testing.assert_array_equal(a, np.arange(4.0).reshape(2, 2))     # input not written
    single = fn([x], Out(x * 3))
    np.testing.assert_array_equal(single(a), a * 3)


def test_dict_outputs_and_output_subset():
    a = T.vector("a")
    f = fn([a], {"total": a.sum(), "double": a * 2, "max": a.max()})
    v = np.array([1.0, -2.0, 5.0])
    out = f(v)
    assert set(out) == {"total", "double", "max"}
    assert out["total"] == v.sum() and out["max"] == 5.0
    np.testing.assert_array_equal(out["double"], v * 2)
    # output_subset indexes the sorted keys, as in Theano
    sub = f(v, output_subset=[0])
    assert list(sub) == ["double"]
    g = fn([a], [a.sum(), a * 2, a.min()])
    r = g(v, output_subset=[2, 0])
    assert len(r) == 2 and r[0] == -2.0 and r[1] == v.sum()
    with pytest.raises(ValueError, match="output_subset"):
        g(v, output_subset=[3])


def test_output_subset_on_a_function_with_defaults():
    a = T.vector("a")
    b = T.scalar("b")
    g = fn([a, In(b, value=2.0)], [a.sum() * b, a * b])
    r = g([1.0, 2.0], output_subset=[1])
    np.testing.assert_array_equal(r[0], [2.0, 4.0])


def test_default_updates_and_no_default_updates():
    a = T.scalar("a")
    counter = theon.shared(np.float64(0.0), name="counter")
    counter.default_update = counter + 1
    f = fn([a], a + counter)
    assert f(1.0) == 1.0 and f(1.0) == 2.0
    assert float(counter.get_value()) == 2.0
    g = fn([a], a + counter, no_default_updates=True)
    g(1.0)
    assert float(counter.get_value()) == 2.0
    h = fn([a], a + counter, no_default_updates=[counter])
    h(1.0)
    assert float(counter.get_value()) == 2.0
    # an explicit update wins over the default one
    k = fn([a], a + counter, updates=[(counter, counter + 10)])
    k(0.0)
    assert float(counter.get_value()) == 12.0


def test_accept_inplace_and_rebuild_strict_are_accepted():
    a = T.vector("a")
    f = fn([a], a * 2, accept_inplace=True, rebuild_strict=True)
    np.testing.assert_array_equal(f([1.0, 2.0]), [2.0, 4.0])


def test_maker_fgraph_structure():
    x = T.vector("x")
    w = theon.shared(np.ones(3), name="w")
    y = T.exp(x * w).sum()
    f = fn([x], y, updates=[(w, w * 2)])
    fg = f.maker.fgraph
    assert fg.inputs[0].name == "x" and len(fg.inputs) == 2        # the shared variable too
    assert len(fg.outputs) == 2                                     # output, then the update
    nodes = fg.toposort()
    names = [n.op.name for n in nodes]
    assert "exp" in names and "sum" in names and "mul" in names
    assert fg.apply_nodes == set(nodes)
    seen = set(fg.inputs)
    for node in nodes:                       # a topological order: operands come first
        assert all(i in seen for i in node.inputs)
        seen.update(node.outputs)
    assert fg.outputs[0] in fg.variables and set(fg.inputs) <= fg.variables
    assert f.maker.inputs[0].variable is x
    assert f.maker.mode is f.mode


def test_copy_share_memory_and_swap():
    a = T.vector("a")
    w = theon.shared(np.ones(2), name="w")
    f = fn([a], (a * w).sum(), updates=[(w, w + a)])
    c = f.copy()                              # own copy of w
    assert c([1.0, 1.0]) == 2.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 1.0])
    np.testing.assert_array_equal(c.shared[0].get_value(), [2.0, 2.0])
    s = f.copy(share_memory=True)
    s([1.0, 1.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
    v = theon.shared(np.zeros(2), name="v")
    sw = f.copy(swap={w: v})
    assert sw([1.0, 1.0]) == 0.0
    np.testing.assert_array_equal(v.get_value(), [1.0, 1.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
    nd = f.copy(delete_updates=True)
    assert nd([1.0, 1.0]) == 4.0 and nd([1.0, 1.0]) == 4.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
    with pytest.raises(TypeError, match="dtype and ndim"):
        f.copy(swap={w: theon.shared(np.zeros((2, 2)))})


def test_copy_keeps_state_separate():
    x, s = T.scalars("x", "s")
    f = fn([x, In(s, value=0.0, update=s + x)], s)
    f(1.0)
    g = f.copy()
    g(5.0)
    assert float(f["s"]) == 1.0 and float(g["s"]) == 6.0
    h = f.copy(share_memory=True)
    h(2.0)
    assert float(f["s"]) == 3.0


def test_get_shared_free_and_sync_shared():
    w = theon.shared(np.ones(2), name="w")
    a = T.vector("a")
    f = fn([a], a * w)
    assert f.get_shared() == [w]
    f.free()
    f.sync_shared()
    np.testing.assert_array_equal(f([2.0, 3.0]), [2.0, 3.0])


def test_trust_input_attribute():
    a = T.vector("a")
    f = fn([a], a + 1)
    assert f.trust_input is False
    f.trust_input = True
    np.testing.assert_array_equal(f(np.array([1.0])), [2.0])
    assert fn([a], a + 1, trust_input=True).trust_input is True


def test_plain_function_keeps_the_fast_path():
    a = T.vector("a")
    f = fn([a], a + 1)
    assert f._call is not f._call_python or f._fast is None
    assert f._simple


def test_theano_import_paths():
    import theon.compile
    from theon.compile.io import In as In2
    assert In2 is In and theon.compile.function is theon.function
    assert theon.compile.Mode is theon.Mode
