"""DEBUG mode: native code checked against the NumPy references.

The compiled variant of a DEBUG function returns, between its outputs and
its update values, every intermediate result. After each native call:

1. every op's native result is compared with its NumPy reference
   (``op.opdef.reference``) evaluated on the op's *native* inputs, so a
   mismatch points at the one op whose lowering is wrong;
2. the outputs and update values are compared with the reference
   evaluation of the function *before* the passes (``ir.interpreter``),
   which catches a pass that changed the meaning of the graph.

A difference beyond the dtype's tolerance, or a NaN where the reference
has none, raises DebugModeError naming the op, its inputs and the worst
mismatch. The references only check; the values returned are native.
"""
import numpy as np

from ..ir.core import Operation
from ..ir.interpreter import evaluate
from .errors import describe_value

# dtype -> (rtol, atol) for float results; integer and bool results are exact.
# float16: a few ulps (2**-10): native code rounds once where NumPy's float16 reductions
# round per row (passes/legalize_f16.py)
TOLERANCES = {"float16": (4e-3, 1e-4), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-12)}


class DebugModeError(Exception):
    """Native code and the NumPy reference disagree."""


def add_intermediates(func):
    """Make ``func`` also return every op result (after its outputs);
    returns [(op, [result position per op result])]."""
    ret = func.return_op
    n_out = func.num_outputs
    outputs, updates = list(ret.operands[:n_out]), list(ret.operands[n_out:])
    checked, extra = [], []
    for op in func.body.ops[:-1]:
        positions = list(range(n_out + len(extra), n_out + len(extra) + len(op.results)))
        extra.extend(op.results)
        checked.append((op, positions))
    func.body.remove(ret)
    func.body.append(Operation(ret.opdef, outputs + extra + updates, ret.attrs))
    return checked


def worst_mismatch(native, ref, scale=None):
    """None if ``native`` matches ``ref``, else a description of the worst element."""
    native, ref = np.asarray(native), np.asarray(ref)
    if native.shape != ref.shape:
        return f"native shape {native.shape} but reference shape {ref.shape}"
    if native.dtype != ref.dtype:
        return f"native dtype {native.dtype} but reference dtype {ref.dtype}"
    if native.size == 0:
        return None
    if native.dtype.kind != "f":
        bad = native != ref
        if not bad.any():
            return None
        k = np.unravel_index(int(np.argmax(bad)), bad.shape)
        return f"at index {tuple(int(i) for i in k)}: native {native[k]!r}, reference {ref[k]!r}"
    new_nan = np.isnan(native) & ~np.isnan(ref)
    if new_nan.any():
        k = np.unravel_index(int(np.argmax(new_nan)), new_nan.shape)
        return (f"native produced NaN where the reference has none ({int(new_nan.sum())} elements), "
                f"first at index {tuple(int(i) for i in k)} (reference {ref[k]!r})")
    rtol, atol = TOLERANCES[native.dtype.name]
    with np.errstate(all="ignore"):
        bound = np.abs(ref) if scale is None else np.maximum(np.abs(ref), np.abs(scale))
        err = np.abs(native.astype(np.float64) - ref.astype(np.float64))
        same = (native == ref) | (np.isnan(native) & np.isnan(ref))
        bad = ~same & ~(err <= atol + rtol * bound)
    if not bad.any():
        return None
    err = np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0)
    k = np.unravel_index(int(np.argmax(err)), err.shape)
    return (f"{int(bad.sum())} of {native.size} elements differ; worst at index "
            f"{tuple(int(i) for i in k)}: native {native[k]!r}, reference {ref[k]!r} "
            f"(abs error {err[k]:.3g}, rtol {rtol:g}, atol {atol:g})")


def _op_text(index, op, func):
    if op.name == "fused":
        from ..ir.ops.fused import summary
        return f"op #{index} {summary(op)} of @{func.name}"
    return f"op #{index} {op.name}{dict(op.attrs) if op.attrs and op.name != 'constant' else ''} of @{func.name}"


class DebugChecker:
    """Checks one DEBUG function's native results on every call."""

    def __init__(self, func, checked, n_outputs, input_func):
        self.func = func                # the compiled variant (with intermediates)
        self.checked = checked
        self.n_outputs = n_outputs
        self._input_func = input_func   # callable -> the IR before the passes
        self._original = None

    def check(self, args, results):
        """Raise DebugModeError if any op (or the whole function) disagrees."""
        func = self.func
        env = dict(zip(func.args, args))
        for op, positions in self.checked:
            for r, p in zip(op.results, positions):
                env[r] = results[p]
        for index, (op, _) in enumerate(self.checked):   # checked ops are body.ops in order
            self._check_op(index, op, env, args)
        self._check_whole(args, results)

    def _check_op(self, index, op, env, args):
        ins = [env[v] for v in op.operands]
        inputs = "; ".join(describe_value(v, self.func, args) for v in op.operands) or "none"
        try:
            refs = op.opdef.reference(op, *ins)
            # ops that sum many terms (OpDef.accumulates, fused reductions):
            # their tolerance scales with the sum of |terms|
            scales = op.opdef.magnitude(op, *ins)
        except Exception as e:  # noqa: BLE001 - any reference failure is a finding
            raise DebugModeError(
                f"DEBUG: {_op_text(index, op, self.func)} ran natively, but its NumPy reference "
                f"failed on the same inputs ({type(e).__name__}: {e}); inputs: {inputs}") from e
        for k, (r, ref) in enumerate(zip(op.results, refs)):
            ref = np.asarray(ref).astype(r.type.np_dtype, copy=False)
            scale = None if scales is None else np.asarray(scales[k], dtype=np.float64)
            problem = worst_mismatch(env[r], ref, scale)
            if problem:
                raise DebugModeError(
                    f"DEBUG: native result {k} of {_op_text(index, op, self.func)} : {r.type} "
                    f"does not match its NumPy reference: {problem}; inputs: {inputs}")

    def _check_whole(self, args, results):
        if self._original is None:
            self._original = self._input_func()
        original = self._original
        try:
            outs, updates = evaluate(original, args)
        except Exception as e:  # noqa: BLE001 - any reference failure is a finding
            raise DebugModeError(
                f"DEBUG: @{self.func.name} ran natively, but the reference evaluation of the graph "
                f"before the passes failed ({type(e).__name__}: {e})") from e
        n = self.n_outputs
        n_upd = len(updates)
        native = results[:n] + (results[len(results) - n_upd:] if n_upd else [])
        labels = [f"output {k}" for k in range(n)] + [
            f"the update of {original.arg_attrs[t].get('shared', t)!r}" for t, _ in updates]
        for label, got, ref in zip(labels, native, outs + [u for _, u in updates]):
            problem = worst_mismatch(got, np.asarray(ref))
            if problem:
                raise DebugModeError(
                    f"DEBUG: {label} of @{self.func.name} differs from the reference evaluation of "
                    f"the graph before the passes (a pass changed its meaning?): {problem}")
