"""legalize-f16: float16 arithmetic becomes float32 arithmetic between casts.

float16 is a storage dtype for theon's backends: NumPy itself computes a
float16 ufunc in float32 and rounds each result to float16. This pass
rewrites every op that computes with float16 operands or results into the
same op on float32 values::

    %r = exp(%x) : tensor<?xf16>
      ->
    %0 = cast(%x) {dtype = "float32"} : tensor<?xf32>
    %1 = exp(%0) : tensor<?xf32>
    %r = cast(%1) {dtype = "float16"} : tensor<?xf16>

Each op's result is rounded to float16 where the op stood, so a chain of
ops rounds op by op exactly as NumPy does (a float16 -> float32 cast is
exact, so the computation in float32 of one op is NumPy's). Reductions
(``sum``, ``prod``) accumulate in float32 and round once: NumPy sums a
contiguous float16 lane pairwise in float32 too, but reduces across rows
(``x.sum(axis=0)`` of a C-ordered matrix) by adding row after row with a
float16 result each time, which theon does not imitate (its result is the
more accurate one; the ``sum``/``prod`` references in ``ir/ops/reduction.py``
define float16 reductions the same way). ``matmul`` accumulates in float32
and rounds once, as NumPy's float16 matmul/dot loops.

Kept in float16: ops whose ``f16_storage`` fact says they only move
element bits (views, copies, concatenation, plain scatters, ``shape``,
``constant``, terminators), every ``cast`` (codegen converts float16 to
and from every dtype itself: ``codegen/half.py``), region ops themselves
(their bodies are legalized), and with ``target=gpu`` a ``matmul`` of two
float16 operands, which the GPU plan runs on the f16 tensor-core kernel
(float32 accumulation, float16 result). An op attribute ``dtype`` equal to
``float16`` (random draws) becomes ``float32`` with the op.

The pipelines run it before fusion (``runtime/pipeline.py``); the backends
run ``legalize(func, target)`` again before lowering, which changes
nothing unless float16 arithmetic is left (an empty pipeline, or a
pipeline without this pass).
"""
import dataclasses

from ..ir.builder import make_op
from .manager import Pass

F16, F32 = "float16", "float32"
TARGETS = ("cpu", "gpu")


def _keeps(op, target):
    """``op`` may stay as it is on ``target``."""
    d = op.opdef
    if op.name == "cast" or d.f16_storage or d.value_from_shapes or op.regions:
        return True
    if target == "gpu" and op.name == "matmul":
        return all(v.dtype == F16 for v in op.operands)
    return False


def needs_legalizing(op, target="cpu"):
    """``op`` computes with a float16 operand or result on ``target``."""
    if not any(v.dtype == F16 for v in op.operands) and not any(r.dtype == F16 for r in op.results):
        return False
    return not _keeps(op, target)


def _legalize_op(block, op):
    """Replace ``op`` by casts up, the op in float32, casts down (the new
    ops go before ``op``; its results' uses move over). Returns ``op``."""
    up = {}
    operands = []
    for v in op.operands:
        if v.dtype == F16:
            if v not in up:
                c = make_op("cast", [v], {"dtype": F32})
                c.loc = op.loc
                block.insert_before(op, c)
                up[v] = c.result
            v = up[v]
        operands.append(v)
    attrs = dict(op.attrs)
    if attrs.get("dtype") == F16:
        attrs["dtype"] = F32
    try:
        new = make_op(op.name, operands, attrs)
    except (TypeError, ValueError) as e:
        raise TypeError(f"legalize-f16: {op.name} does not support float16 operands or results "
                        f"and cannot compute them in float32 ({e})") from None
    new.loc = op.loc
    block.insert_before(op, new)
    for old, r in zip(op.results, new.results):
        want = old.type.with_dtype(F32) if old.dtype == F16 else old.type
        if r.dtype != want.dtype:
            raise TypeError(f"legalize-f16: {op.name} in float32 gives {r.type}, not {want} "
                            f"(float16 is not supported by {op.name})")
        r.name = old.name
        if old.dtype == F16:
            down = make_op("cast", [r], {"dtype": F16})
            down.loc = op.loc
            block.insert_before(op, down)
            r = down.result
            r.name = old.name
        old.replace_all_uses_with(r)
    return op


def _f16_source(v):
    """The float16 value ``v`` is an exact float32 copy of (``cast`` up), or None."""
    op = v.owner
    if op is not None and op.name == "cast" and v.dtype == F32 and op.operands[0].dtype == F16:
        return op.operands[0]
    return None


def _raisable(op):
    """``op`` is cast{float16}(matmul(cast{float32}(a:f16), cast{float32}(b:f16)))
    with the product used only there: a float16 product as the CPU
    legalized it, which the GPU runs on the f16 tensor-core kernel (same
    value: float32 accumulation, one rounding)."""
    if op.name != "cast" or op.results[0].dtype != F16:
        return None
    mm = op.operands[0].owner
    if mm is None or mm.name != "matmul" or len(mm.results[0].uses) != 1 or mm.parent is not op.parent:
        return None
    sources = [_f16_source(v) for v in mm.operands]
    return (mm, sources) if all(s is not None for s in sources) else None


def _raise_product(block, op, mm, sources):
    new = make_op("matmul", sources, dict(mm.attrs))
    new.loc = mm.loc
    block.insert_before(op, new)
    new.results[0].name = op.results[0].name
    op.results[0].replace_all_uses_with(new.results[0])
    gone = [op, mm]
    ups = {v.owner for v in mm.operands}
    gone += [c for c in ups if all(user in gone for user, _ in c.results[0].uses)]
    return gone


def legalize_block(block, target="cpu"):
    """Legalize the ops of ``block`` and of the regions inside it; returns
    the number of ops rewritten. On the GPU, float16 products the CPU
    legalization wrote as float32 products between casts become float16
    products again."""
    done = []
    count = 0
    for op in list(block.ops):
        for region in op.regions:
            count += legalize_block(region, target)
        if needs_legalizing(op, target):
            done.append(_legalize_op(block, op))
            count += 1
        elif target == "gpu" and _raisable(op):
            done += _raise_product(block, op, *_raisable(op))
            count += 1
    block.remove_all(done)
    return count


def is_legal(func, target="cpu"):
    """No op of ``func`` (nested bodies included) computes in float16."""
    return not any(needs_legalizing(op, target) or (target == "gpu" and _raisable(op)) for op in func.walk())


def legalize(func, target="cpu"):
    """``func`` legalized in place (a no-op when it already is); returns
    the number of ops rewritten. The backends' entry point."""
    if target not in TARGETS:
        raise ValueError(f"legalize-f16: target must be one of {TARGETS}, got {target!r}")
    if is_legal(func, target):
        return 0
    return legalize_block(func.body, target)


def legalized(func, target="cpu"):
    """``func`` itself when it is legal for ``target``, else a legalized copy."""
    if is_legal(func, target):
        return func
    copy = func.clone()
    legalize_block(copy.body, target)
    return copy


@dataclasses.dataclass
class LegalizeF16(Pass):
    """float16 arithmetic -> float32 arithmetic with casts at its edges;
    ``target=gpu`` keeps float16 matrix products (tensor cores)."""
    name = "legalize-f16"
    target: str = "cpu"

    def run(self, func):
        legalize(func, self.target)
