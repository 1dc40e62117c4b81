"""Every registered op states every fact some part of theon asks it, and the
facts hold: the registry walker ``fact_problems`` (also used by
tests/native/test_add_an_op.py) checks one op against

- the output-shape rule (``OpDef.dims``: AOT shape functions, symbolic
  shapes) of every op with results, checked against ``infer`` for
  elementwise ops;
- dynamic operands (``first_dyn``/``size_attr``, ``shape_from_values``);
- ``has_grad`` against the presence of a ``grad`` rule;
- a CPU and a PTX lowering, and for an elementwise op its scalar emitter
  (``codegen/scalar.py``: CPU loops, fused bodies, PTX map kernels) and a
  cost of at least 1;
- reductions: their attributes, a start value per dtype, and the empty
  reduction's value against ``identity``;
- traits against the NumPy reference on random inputs (NaN, infinities and
  signed zeros included): commutative ops commute (bit for bit when
  ``bit_commutative``), associative ops associate on small integers,
  idempotent ops give x for (x, x), ``nonneg="always"`` ops give no
  negative value.
"""
import numpy as np
import pytest

from theon.codegen.cpu.lower.lowering import LOWERINGS as CPU_LOWERINGS
from theon.codegen.ptx.plan import LOWERINGS as PTX_LOWERINGS
from theon.codegen.scalar import SCALAR
from theon.ir.builder import make_op
from theon.ir.core import Function
from theon.ir.dialect import OPS, register_op, unregister_op
from theon.ir.opdef import OpDef
from theon.ir.ops.elementwise import PIECEWISE, Unary, binary, unary
from theon.ir.ops.reduction import Reduce
from theon.ir.types import TensorType
from theon.runtime.aot.shapes import DimGuess

from ..op_helpers import Identity

KIND_DTYPE = {"float": "float64", "int": "int32", "bool": "bool"}
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")
N = 257


def _random(dtype, rng, small=False):
    if dtype == "bool":
        return rng.random(N) < 0.5
    if small:
        return rng.integers(-8, 9, N).astype(dtype)
    if dtype.startswith("int"):
        return rng.integers(-100, 101, N).astype(dtype)
    if dtype.startswith("uint"):
        return rng.integers(0, 201, N).astype(dtype)
    x = rng.normal(0, 10, N)
    x[:8] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-310, -1e300, 1e300]
    rng.shuffle(x)
    return x.astype(dtype)


def _pairs(dtype, rng):
    """Two random operands, then every pair of special values (signed zeros,
    NaN, infinities; for ints the extremes; for bools all four pairs)."""
    x, y = _random(dtype, rng), _random(dtype, rng)
    if dtype == "bool":
        special = np.array([False, True])
    elif dtype.startswith("int"):
        info = np.iinfo(dtype)
        special = np.array([0, 1, -1, info.min, info.max], dtype)
    else:
        special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.5], dtype)
    sx, sy = np.meshgrid(special, special)
    return np.concatenate([x, sx.ravel()]), np.concatenate([y, sy.ravel()])


def _same(a, b, bits=False):
    a, b = np.asarray(a), np.asarray(b)
    if bits:
        return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == \
            np.ascontiguousarray(b).tobytes()
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _elementwise_op(opdef, dtype, shapes):
    f = Function("f", [TensorType(dtype, s) for s in shapes], [f"a{i}" for i in range(len(shapes))])
    try:
        return make_op(opdef.name, f.args)
    except (TypeError, ValueError):
        return None         # not an op of operands of one dtype (where, cast)


def _elementwise_problems(opdef, say):
    if not isinstance(opdef.num_operands, int):
        say("an elementwise op needs a fixed num_operands")
        return
    if opdef.name not in SCALAR:
        say("no scalar emitter in codegen/scalar.py SCALAR (register_scalar): CPU loops, fused "
            "bodies and PTX map kernels lower elementwise ops with it")
    if not opdef.cost >= 1:
        say(f"cost {opdef.cost!r} < 1: an elementwise op costs at least an add")
    rng = np.random.default_rng(0)
    n, built = opdef.num_operands, False
    for kind in getattr(opdef, "kinds", ()):
        dtype = KIND_DTYPE[kind]
        shapes = [(N,)] + [(1,)] * (n - 1)
        op = _elementwise_op(opdef, dtype, shapes)
        if op is None:
            continue
        built = True
        dims = opdef.dims(op, DimGuess(dict(zip(op.operands, shapes))))
        if dims is None or tuple(dims[0]) != op.results[0].type.shape:
            say(f"output-shape rule gives {dims} for operand shapes {shapes}, infer {op.results[0].type.shape}")
        op = _elementwise_op(opdef, dtype, [(N,)] * n)
        ref = lambda *args: opdef.reference(op, *args)[0]  # noqa: E731
        try:
            _check_traits(opdef, ref, dtype, n, rng, say)
        except Exception as e:  # noqa: BLE001 - a reference that fails is a finding
            say(f"its reference fails on random {dtype} operands: {type(e).__name__}: {e}")
    if not built and (opdef.commutative or opdef.associative or opdef.idempotent or opdef.nonneg == "always"):
        say("traits declared but no operands of one dtype to check them on")


def _check_traits(opdef, ref, dtype, n, rng, say):
    if n == 2:
        x, y = _pairs(dtype, rng)
        if opdef.commutative and not _same(ref(x, y), ref(y, x)):
            say(f"declared commutative but its reference does not commute ({dtype})")
        if opdef.bit_commutative and not _same(ref(x, y), ref(y, x), bits=True):
            say(f"declared bit_commutative but its reference does not commute bit for bit ({dtype})")
        if opdef.idempotent and not _same(ref(x, x), x):
            say(f"declared idempotent but f(x, x) != x ({dtype})")
        if opdef.associative:
            a, b, c = (_random(dtype, rng, small=True) for _ in range(3))
            if not _same(ref(ref(a, b), c), ref(a, ref(b, c))):
                say(f"declared associative but its reference does not associate ({dtype})")
    if opdef.nonneg == "always":
        r = ref(*[_random(dtype, rng) for _ in range(n)])
        if np.any(r < 0):
            say(f"declared nonneg='always' but its reference gives a value below zero ({dtype})")


def _reduction_problems(opdef, say):
    for a in ("axes", "keepdims"):
        if a not in opdef.required_attrs:
            say(f"a reduction needs the attribute {a!r}")
    for dtype in DTYPES:
        try:
            start = np.asarray(opdef.start(dtype))
        except Exception as e:  # noqa: BLE001 - reported as the missing fact
            say(f"no start value for {dtype} (OpDef.start): {type(e).__name__}: {e}")
            return
        if start.shape != () or start.dtype != np.dtype(dtype):
            say(f"start({dtype}) is {start!r}, not a 0-d {dtype}")
        if opdef.identity is not None and start != np.asarray(opdef.identity).astype(dtype):
            say(f"start({dtype}) {start} is not the identity {opdef.identity}")
    f = Function("f", [TensorType("float64", (0,))], ["x"])
    try:
        op = make_op(opdef.name, f.args, {"axes": (0,), "keepdims": False})
    except ValueError:
        if opdef.identity is not None:
            say("has an identity but refuses an empty reduction")
        return
    if opdef.identity is None:
        say("accepts an empty reduction but has no identity")
    elif opdef.reference(op, np.zeros(0))[0] != opdef.identity:
        say(f"the empty reduction is not the identity {opdef.identity}")


def fact_problems(opdef):
    """What ``opdef`` fails to state, or states wrongly (a list of messages)."""
    problems = []
    name = opdef.name

    def say(msg):
        problems.append(f"{name}: {msg}")

    if OPS.get(name) is not opdef:
        say("not the op registered under its name")
    if opdef.num_results != 0 and type(opdef).dims is OpDef.dims:
        say("no output-shape rule (OpDef.dims): AOT shape functions and symbolic shapes need one")
    if opdef.first_dyn is not None:
        if not isinstance(opdef.first_dyn, int) or opdef.first_dyn < 0:
            say(f"first_dyn must be a non-negative int, got {opdef.first_dyn!r}")
        if opdef.size_attr not in opdef.required_attrs:
            say("dynamic operands (first_dyn) need the attribute size_attr holding their ?s")
    elif opdef.size_attr is not None:
        say("size_attr without first_dyn")
    if bool(opdef.has_grad) != callable(getattr(opdef, "grad", None)):
        say(f"has_grad is {opdef.has_grad} but it {'lacks' if opdef.has_grad else 'has'} a grad rule")
    if opdef.nonneg not in (None, "always", "all", "any"):
        say(f"nonneg must be None, 'always', 'all' or 'any', got {opdef.nonneg!r}")
    if not isinstance(opdef.cost, (int, float)) or opdef.cost < 0:
        say(f"cost must be a number >= 0, got {opdef.cost!r}")
    if opdef.bit_commutative and not opdef.commutative:
        say("bit_commutative but not commutative")
    if (opdef.commutative or opdef.associative or opdef.idempotent or opdef.infix) and opdef.num_operands != 2:
        say("commutative/associative/idempotent/infix are facts of binary ops")
    if opdef.autodiff_only and not (opdef.moves_elements and opdef.has_grad):
        say("an autodiff_only op is the value of operand 0 (moves_elements) with a gradient rule")
    if opdef.reduces and opdef.arg_reduces:
        say("reduces and arg_reduces exclude each other")
    if opdef.num_results != 0:
        if name not in CPU_LOWERINGS:
            say("no CPU lowering (codegen/cpu/lower/lowering.py LOWERINGS)")
        if name not in PTX_LOWERINGS:
            say("no PTX lowering (codegen/ptx/plan.py LOWERINGS)")
    if opdef.elementwise:
        _elementwise_problems(opdef, say)
    if opdef.reduces:
        _reduction_problems(opdef, say)
    if opdef.arg_reduces and not {"axis", "keepdims"} <= set(opdef.required_attrs):
        say("an arg reduction needs the attributes axis and keepdims")
    return problems


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_states_its_facts(name):
    assert fact_problems(OPS[name]) == []


def test_the_lists_this_replaced_agree_with_the_facts():
    """The facts give exactly the lists passes and codegen kept before (so
    behaviour did not change), with one unification: maximum/minimum are
    commutative (pattern matching tries both orders, as rewrite.py did) but
    not bit_commutative (canonicalize never swapped them: maximum(-0.0, 0.0)
    is 0.0, maximum(0.0, -0.0) is -0.0)."""
    from theon.ir.dialect import OP_CLASSES
    own = {cls.name: OPS[cls.name] for cls in OP_CLASSES if not OPS[cls.name].random}  # random ops came later

    def where(pred):
        return {n for n, d in own.items() if pred(d)}
    assert where(lambda d: d.commutative) == {"add", "mul", "maximum", "minimum", "eq", "ne", "and", "or", "xor"}
    assert where(lambda d: d.bit_commutative) == {"add", "mul", "eq", "ne", "and", "or", "xor"}
    assert where(lambda d: d.nonneg == "always") == {"exp", "sqrt", "abs", "sigmoid", "softplus", "exp2", "cosh",
                                                     "arccos", "arccosh", "erfc"}
    assert where(lambda d: d.nonneg == "any") == {"maximum"}
    assert where(lambda d: d.nonneg == "all") == {"mul", "div", "add", "minimum", "sum", "prod", "max", "min",
                                                  "alloc", "dimshuffle", "reshape", "sum_to"}
    assert where(lambda d: d.reduces) == {"sum", "prod", "max", "min"}
    special = {"erfinv": 32, "trigamma": 16, "psi": 16, "gammaln": 24, "gamma": 16, "arctan2": 16}
    pools = ("pool", "pool_grad", "pool_grad_grad", "pool_grad_mask")       # a window per output
    linalg = ("cholesky", "solve", "solve_triangular", "matrix_inverse", "det", "eigvalsh", "eigh_vectors",
              "qr_q", "qr_r", "svd_s", "svd_u", "svd_vt", "pinv", "eigvals", "eig_vectors")
    math8 = ("exp2", "sinh", "cosh", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "erfc")
    assert where(lambda d: d.cost > 1) == {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "arctan",
                                           "sigmoid", "softplus", "erf", "pow", "div", "sqrt", "floordiv", "mod",
                                           *math8, *special, *pools}
    assert {n: d.cost for n, d in own.items() if d.cost != 1} == {
        **{n: 8 for n in ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "arctan", "sigmoid",
                          "softplus", "erf", "floordiv", "mod", *math8)}, "pow": 16, "div": 4, "sqrt": 4,
        "constant": 0, **special, **{n: 4 for n in pools}}
    assert {n: d.first_dyn for n, d in own.items() if d.first_dyn is not None} == {
        "reshape": 1, "alloc": 1, "sum_to": 1, "subtensor": 1, "set_subtensor": 2, "inc_subtensor": 2,
        "nonzero": 1, "conv_grad_input": 2, "conv_grad_weight": 2}
    assert where(lambda d: d.shape_from_values) == {"arange", "nonzero", "bincount", "repeat"}
    assert where(lambda d: d.accumulates) == {"sum", "matmul", "matmul_update", "sum_to", "conv", "conv_bias", "conv_grad_input",
                                              "conv_grad_weight", "conv_pool", *pools, *linalg}


# --- the walker finds what is missing ------------------------------------------------------------
class NoShapeRule(Identity):
    name = "test.no_shape_rule"


class GradClaim(Unary):
    name = "test.grad_claim"
    has_grad = True             # but no grad rule
    np_fn = staticmethod(np.negative)


class EmptyReduce(Reduce):
    name = "test.empty_reduce"
    np_fn = staticmethod(np.max)        # neither identity nor start


class Wrong(OpDef):
    name = "test.wrong"


BROKEN = {
    NoShapeRule: ["no output-shape rule", "no CPU lowering", "no PTX lowering"],
    binary("test.fake_commutative", np.subtract, commutative=True, bit_commutative=True):
        ["no scalar emitter", "declared commutative but its reference does not commute",
         "does not commute bit for bit"],
    binary("test.fake_associative", np.subtract, associative=True, commutative=True):
        ["declared associative but its reference does not associate"],
    binary("test.fake_idempotent", np.add, idempotent=True): ["declared idempotent"],
    unary("test.fake_nonneg", np.negative, nonneg="always"): ["below zero"],
    unary("test.free", np.cos, PIECEWISE, cost=0.5): ["cost 0.5 < 1"],
    GradClaim: ["has_grad is True but it lacks a grad rule"],
    EmptyReduce: ["no start value for bool"],
    type("Misfit", (Unary,), {"name": "test.misfit", "np_fn": staticmethod(np.cos), "first_dyn": 1,
                              "nonneg": "sometimes", "associative": True}):
        ["need the attribute size_attr", "nonneg must be", "facts of binary ops"],
}


@pytest.fixture
def registered():
    added = []

    def add(cls):
        register_op(cls)
        added.append(cls.name)
        return OPS[cls.name]
    yield add
    for name in added:
        unregister_op(name)


@pytest.mark.parametrize("cls", list(BROKEN), ids=lambda c: c.name)
def test_the_walker_reports_a_missing_or_wrong_fact(cls, registered):
    problems = fact_problems(registered(cls))
    for expected in BROKEN[cls]:
        assert any(expected in p for p in problems), (expected, problems)


def test_register_op_refuses_bad_classes(registered):
    with pytest.raises(ValueError, match="already defined"):
        register_op(type("Again", (Unary,), {"name": "exp"}))
    with pytest.raises(TypeError, match="OpDef subclass"):
        register_op(object)
    with pytest.raises(ValueError, match="has no name"):
        register_op(type("Nameless", (OpDef,), {}))
    with pytest.raises(ValueError, match="dialect's own ops"):
        unregister_op("exp")
    registered(Wrong)
    assert "test.wrong" in OPS


def test_reduction_start_values():
    assert OPS["sum"].start("float32") == 0 and OPS["prod"].start("int8") == 1
    assert OPS["max"].start("float64") == -np.inf and OPS["min"].start("float32") == np.inf
    assert OPS["max"].start("uint8") == 0 and OPS["min"].start("uint8") == 255
    assert OPS["max"].start("int16") == -2 ** 15 and OPS["min"].start("int64") == 2 ** 63 - 1
    assert OPS["max"].start("bool") == np.False_ and OPS["min"].start("bool") == np.True_


def test_the_dialects_op_classes_are_found_by_their_names():
    """pickle (theon.function pickling, multiprocessing) finds each op class
    under its module and name, data-defined ones included."""
    import pickle
    from theon.ir.dialect import OP_CLASSES
    for cls in OP_CLASSES:
        assert type(pickle.loads(pickle.dumps(OPS[cls.name]))) is cls, cls.name
