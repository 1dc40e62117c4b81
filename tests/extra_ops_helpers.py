"""The table of sorting / extra_ops cases both tiers run: tests/ir
(reference interpreter) and tests/native (compiled code) compare each case's
graph with NumPy on the same inputs.

A case is (id, build(*vars) -> outputs, numpy(*arrays) -> outputs, arrays):
the vars are symbolic inputs of the arrays' dtypes with every dim unknown.
"""
import numpy as np

import theon.tensor as T

RNG = np.random.default_rng(1234)


def _floats(shape, dtype, special=True):
    a = RNG.standard_normal(shape) * 10
    if special and a.size >= 8:
        flat = a.reshape(-1)
        flat[:7] = [np.nan, np.inf, -np.inf, 0.0, -0.0, np.nan, 5.0]
        RNG.shuffle(flat)
    return a.astype(dtype)


def _ints(shape, dtype, low=-50, high=50):
    info = np.iinfo(dtype)
    return RNG.integers(max(low, info.min), min(high, info.max), shape, endpoint=True).astype(dtype)


def _data(shape, dtype):
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if dtype.startswith("float"):
        return _floats(shape, dtype)
    return _ints(shape, dtype, -100, 100)


def _dup(shape, dtype):
    """Data with many repeated values (stability, unique)."""
    if dtype.startswith("float"):
        a = RNG.integers(-3, 4, shape).astype(dtype)
        if a.size > 4:
            a.reshape(-1)[::5] = np.nan
        return a
    return _ints(shape, dtype, -3, 3)


DTYPES = ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
SHAPES = [(0,), (1,), (7,), (33,), (200,), (70000,), (5, 40), (40, 5), (3, 4, 50), (0, 3), (4, 0)]


def sort_cases():
    """Per dtype and shape one case: sort and argsort along every axis and flattened."""
    cases = []
    for dtype in DTYPES:
        for shape in SHAPES:
            if shape == (70000,) and dtype in ("int16", "bool"):
                continue
            axes = [None] + list(range(-1, len(shape) - 1 if len(shape) > 1 else 0))
            a = _dup(shape, dtype) if dtype != "bool" and shape == (200,) else _data(shape, dtype)
            cases.append((f"sort-{dtype}-{'x'.join(map(str, shape))}",
                          lambda x, axes=axes: [f(x, axis=ax) for ax in axes for f in (T.sort, T.argsort)],
                          lambda a, axes=axes: [f(a, axis=ax, kind="stable") for ax in axes
                                                for f in (np.sort, np.argsort)],
                          [a]))
    return cases


def _cum(dtype):
    return RNG.integers(-3, 4, (6, 7)).astype(dtype) if dtype != "bool" else RNG.random((6, 7)) < 0.5


def extra_cases():
    cases = []
    for dtype in ["float32", "float64", "int32", "int8", "uint8", "bool"]:
        a = _cum(dtype)
        for axis in (None, 0, 1, -1):
            cases.append((f"cumsum-{dtype}-{axis}", lambda x, axis=axis: [T.cumsum(x, axis), x.cumprod(axis)],
                          lambda a, axis=axis: [np.cumsum(a, axis), np.cumprod(a, axis)], [a]))
        cases.append((f"diff-{dtype}", lambda x: [T.diff(x), T.diff(x, n=2, axis=0), T.diff(x, n=0)],
                      lambda a: [np.diff(a), np.diff(a, n=2, axis=0), np.diff(a, n=0)], [a]))
        cases.append((f"repeat-{dtype}", lambda x: [T.repeat(x, 3, axis=1), x.repeat(2), T.repeat(x, 0, axis=0),
                                                    T.repeat(x, [0, 1, 2, 3, 0, 2], axis=0)],
                      lambda a: [np.repeat(a, 3, axis=1), np.repeat(a, 2), np.repeat(a, 0, axis=0),
                                 np.repeat(a, [0, 1, 2, 3, 0, 2], axis=0)], [a]))
    big = np.arange(1000.0).reshape(40, 25)
    cases.append(("cumsum-big-axis0", lambda x: [T.cumsum(x, 0), T.cumprod(x[:3] / 1000 + 1, 1)],
                  lambda a: [np.cumsum(a, 0), np.cumprod(a[:3] / 1000 + 1, 1)], [big]))
    cases.append(("cumsum-empty", lambda x: [T.cumsum(x, 0), T.cumsum(x, 1), T.cumprod(x)],
                  lambda a: [np.cumsum(a, 0), np.cumsum(a, 1), np.cumprod(a)], [np.zeros((0, 3))]))
    r = RNG.integers(0, 4, 6).astype("int32")
    cases.append(("repeat-symbolic", lambda x, k: [T.repeat(x, k, axis=0), T.repeat(x[:, 0], 2)],
                  lambda a, k: [np.repeat(a, k, axis=0), np.repeat(a[:, 0], 2)],
                  [_floats((6, 3), "float64"), r]))
    for dtype in ["int64", "int32", "uint8", "int8"]:
        x = _ints(30, dtype, 0, 9)
        w = RNG.standard_normal(30)
        cases.append((f"bincount-{dtype}", lambda x, w: [T.bincount(x), T.bincount(x, w), T.bincount(x, minlength=20),
                                                         T.bincount(x, T.cast(w, "float32"), minlength=3)],
                      lambda x, w: [np.bincount(x), np.bincount(x, w), np.bincount(x, minlength=20),
                                    np.bincount(x, w.astype("float32"), minlength=3).astype("float32")], [x, w]))
    cases.append(("bincount-empty", lambda x: [T.bincount(x), T.bincount(x, minlength=4)],
                  lambda x: [np.bincount(x), np.bincount(x, minlength=4)], [np.zeros(0, "int64")]))
    for dtype in ["float64", "float32", "int32", "int64", "uint8"]:
        s = np.sort(_dup(40, dtype))
        v = _dup((3, 5), dtype)
        cases.append((f"searchsorted-{dtype}", lambda s, v: [T.searchsorted(s, v), T.searchsorted(s, v, side="right"),
                                                             s.searchsorted(v[0])],
                      lambda s, v: [np.searchsorted(s, v), np.searchsorted(s, v, side="right"),
                                    np.searchsorted(s, v[0])], [s, v]))
    unsorted = _floats(30, "float64")
    cases.append(("searchsorted-sorter", lambda a, v: [T.searchsorted(a, v, sorter=T.argsort(a))],
                  lambda a, v: [np.searchsorted(a, v, sorter=np.argsort(a))], [unsorted, _floats(9, "float64", False)]))
    cases.append(("searchsorted-empty", lambda a, v: [T.searchsorted(a, v)],
                  lambda a, v: [np.searchsorted(a, v)], [np.zeros(0), np.ones(3)]))
    for dtype in ["float64", "float32", "int32", "uint8"]:
        a = _dup((4, 9), dtype)
        cases.append((f"unique-{dtype}",
                      lambda x: list(T.unique(x, True, True, True)) + [T.unique(x)],
                      lambda a: list(np.unique(a, True, True, True)) + [np.unique(a)], [a]))
    cases.append(("unique-empty", lambda x: list(T.unique(x, True, True, True)),
                  lambda a: list(np.unique(a, True, True, True)), [np.zeros(0)]))
    # unique along an axis: the distinct slices, sorted lexicographically (rows with NaN all distinct)
    for dtype, shape, axes in [("float64", (9, 3), (0, 1, -1)), ("float32", (3, 8, 2), (0, 1, 2)),
                               ("int32", (12, 2), (0, 1)), ("uint8", (2, 7), (1,)), ("bool", (10, 3), (0,)),
                               ("float64", (0, 3), (0, 1)), ("float64", (4, 0), (0, 1)), ("int64", (11,), (0,))]:
        a = _dup(shape, dtype) if dtype != "bool" else _data(shape, dtype)
        if dtype == "float64" and a.size:
            a.reshape(-1)[1::7] = -0.0
        for ax in axes:
            cases.append((f"unique-axis{ax}-{dtype}-{'x'.join(map(str, shape))}",
                          lambda x, ax=ax: list(T.unique(x, True, True, True, axis=ax)) + [T.unique(x, axis=ax)],
                          lambda a, ax=ax: list(np.unique(a, True, True, True, axis=ax)) + [np.unique(a, axis=ax)],
                          [a]))
    cond = np.array([True, False, True, True, False])
    cases.append(("compress", lambda c, x: [T.compress(c, x, axis=0), T.compress(c[:3], x, axis=1),
                                            T.compress(c, x), x.compress(c[:2], axis=1)],
                  lambda c, x: [np.compress(c, x, axis=0), np.compress(c[:3], x, axis=1), np.compress(c, x),
                                np.compress(c[:2], x, axis=1)], [cond, _floats((5, 4), "float64")]))

    def filled(a, v, offset=None):
        a = a.copy()
        if offset is None:
            np.fill_diagonal(a, v)
            return a
        n, m = a.shape
        for i in range(n):
            if 0 <= i + offset < m:
                a[i, i + offset] = v
        return a
    for shape in [(4, 4), (6, 3), (3, 6), (3, 3, 3), (0, 0)]:
        a = _floats(shape, "float64", False)
        cases.append((f"fill_diagonal-{shape}", lambda x, v: [T.fill_diagonal(x, v)],
                      lambda a, v: [filled(a, v)], [a, np.float64(7.5)]))
    for offset in [-5, -2, 0, 1, 3, 7]:
        a = _floats((4, 6), "float64", False)
        cases.append((f"fill_diagonal_offset-{offset}",
                      lambda x, v, o: [T.fill_diagonal_offset(x, v, o), T.fill_diagonal_offset(x.T, v, o)],
                      lambda a, v, o: [filled(a, v, int(o)), filled(a.T, v, int(o))],
                      [a, np.float64(-1.0), np.int64(offset)]))
    y = np.array([3, 0, 1, 4, 4], dtype="int32")
    cases.append(("to_one_hot", lambda y: [T.to_one_hot(y, 6), T.to_one_hot(y, 5, dtype="int32")],
                  lambda y: [np.eye(6)[y].astype(_floatx()), np.eye(5, dtype="int32")[y]], [y]))
    i, j = np.array([[0, 2], [3, 1]]), np.array([4, 0])
    cases.append(("ravel_multi_index", lambda i, j: [T.ravel_multi_index((i, j), (4, 5)),
                                                     T.ravel_multi_index((i, j), (4, 5), order="F"),
                                                     T.ravel_multi_index((i + 5, j - 7), (4, 5), mode="wrap"),
                                                     T.ravel_multi_index((i + 5, j - 7), (4, 5), mode="clip")],
                  lambda i, j: [np.ravel_multi_index((i, j), (4, 5)), np.ravel_multi_index((i, j), (4, 5), order="F"),
                                np.ravel_multi_index((i + 5, j - 7), (4, 5), mode="wrap"),
                                np.ravel_multi_index((i + 5, j - 7), (4, 5), mode="clip")], [i, j]))
    a = _floats((5, 6), "float64", False)
    cases.append(("topk", lambda x: [T.topk(x, 2), T.argtopk(x, -3, axis=0), T.topk(x, 6), T.argtopk(x, 1, axis=None)]
                  + list(T.topk_and_argtopk(x, -1, idx_dtype="int32")),
                  lambda a: [-np.sort(-a, 1)[:, :2], np.argsort(a, 0, kind="stable")[:3], -np.sort(-a, 1),
                             np.argsort(a, None)[::-1][:1], np.sort(a, 1)[:, :1],
                             np.argsort(a, 1)[:, :1].astype("int32")], [a]))
    for m in [0, 1, 2, 5, 8]:
        cases.append((f"bartlett-{m}", lambda m: [T.extra_ops.bartlett(m)], lambda m: [np.bartlett(int(m))],
                      [np.int64(m)]))
    flat = np.array([[0, 7, 59], [13, 22, 1]])
    cases.append(("unravel_index", lambda f: list(T.unravel_index(f, (3, 4, 5)))
                  + list(T.unravel_index(f, (3, 4, 5), order="F")),
                  lambda f: list(np.unravel_index(f, (3, 4, 5))) + list(np.unravel_index(f, (3, 4, 5), order="F")),
                  [flat]))
    return cases


def _floatx():
    import theon
    return theon.config.floatX


def noncontiguous_cases():
    """Strided / transposed views: sort, argsort, cumsum on them."""
    a = _floats((30, 40), "float32")
    return [("strided", lambda x: [T.sort(x[::2, ::-3], axis=0), T.argsort(x.T, axis=1), T.cumsum(x[::3].T, 1),
                                   T.cumprod(x[::-4, 1:3] / 10, 0), T.repeat(x.T[::5], 2, axis=1)],
             lambda a: [np.sort(a[::2, ::-3], axis=0, kind="stable"), np.argsort(a.T, axis=1, kind="stable"),
                        np.cumsum(a[::3].T, 1), np.cumprod(a[::-4, 1:3] / np.float32(10), 0),
                        np.repeat(a.T[::5], 2, axis=1)], [a])]


def symbolic_inputs(arrays):
    return [T.tensor(np.asarray(a).dtype.name, shape=(None,) * np.ndim(a)) for a in arrays]


def assert_matches(got, expected, case_id):
    assert len(got) == len(expected), case_id
    for k, (g, e) in enumerate(zip(got, expected)):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape, (case_id, k, g.shape, e.shape)
        if e.dtype == np.uint64 and not _has_uint64():
            e = e.astype(np.int64)          # theon without uint64 accumulates uint8 in int64
        assert g.dtype == e.dtype, (case_id, k, g.dtype, e.dtype)
        if e.dtype.kind == "f":
            # sums of products (batched dots) cancel: an absolute floor scaled by the result's magnitude
            finite = np.abs(e[np.isfinite(e)])
            scale = float(finite.max()) if finite.size else 0.0
            f64 = e.dtype == np.float64
            np.testing.assert_allclose(g, e, rtol=1e-6 if f64 else 1e-5, atol=(1e-12 if f64 else 2e-6) * scale,
                                       err_msg=f"{case_id} #{k}")
        else:
            np.testing.assert_array_equal(g, e, err_msg=f"{case_id} #{k}")


def _has_uint64():
    from theon.frontend.basic import canonical_dtype
    try:
        return canonical_dtype("uint64") == "uint64"
    except TypeError:
        return False
