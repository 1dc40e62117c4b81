"""``NanGuardMode``: stop at the first op that produces a NaN, an Inf or a huge value.

    from theon.compile.nanguardmode import NanGuardMode
    f = theon.function([x], y, mode=NanGuardMode(nan_is_error=True, inf_is_error=True,
                                                 big_is_error=True))

As Theano 1.0's NanGuardMode: every float input of the function and every
op's result is checked on each call; the first bad value raises
AssertionError naming the op (the line of user code that built it, when
known), its inputs and the bad values. "Big" means an absolute value above
1e10. The compiled code is the mode's ordinary native code made to return
every intermediate result (``runtime.debug.add_intermediates``, as DEBUG
mode does); the values returned are unchanged.
"""
import numpy as np

from ..runtime.debug import _op_text
from ..runtime.errors import describe_value
from ..runtime.mode import Mode

BIG = 1e10


def _problems(arr, nan, inf, big):
    """The list of problems in ``arr`` (empty when it is fine)."""
    arr = np.asarray(arr)
    if arr.dtype.kind != "f" or arr.size == 0:
        return []
    found = []
    if nan and np.isnan(arr).any():
        found.append(f"NaN detected ({int(np.isnan(arr).sum())} of {arr.size} elements)")
    if inf and np.isinf(arr).any():
        found.append(f"Inf detected ({int(np.isinf(arr).sum())} of {arr.size} elements)")
    if big:
        with np.errstate(invalid="ignore"):
            finite = np.abs(arr[np.isfinite(arr)])
        if finite.size and finite.max() > BIG:
            found.append(f"Big value detected (max abs {float(finite.max()):.3g} > {BIG:g})")
    return found


class NanGuardChecker:
    """Checks the inputs and every intermediate result of one function."""

    def __init__(self, mode, func, checked, n_outputs):
        self.flags = (mode.nan_is_error, mode.inf_is_error, mode.big_is_error)
        self.func = func
        self.checked = checked
        self.n_outputs = n_outputs

    def check(self, args, results):
        func = self.func
        for k, (arg, a) in enumerate(zip(func.args, args)):
            found = _problems(a, *self.flags)
            if found:
                raise AssertionError(f"NanGuardMode: {'; '.join(found)} in {describe_value(arg, func, args)} "
                                     f"of @{func.name}, before any op ran")
        env = dict(zip(func.args, args))
        for index, (op, positions) in enumerate(self.checked):
            for r, p in zip(op.results, positions):
                env[r] = results[p]
            for k, r in enumerate(op.results):
                found = _problems(env[r], *self.flags)
                if found:
                    raise AssertionError(self._message(index, op, k, found, env, args))

    def _message(self, index, op, k, found, env, args):
        from ..runtime.errors import op_origin
        ins = "; ".join(describe_value(v, self.func, args) + _summary(env.get(v))
                        for v in op.operands) or "none"
        where = op_origin(op)
        return (f"NanGuardMode: {'; '.join(found)} in result {k} of {_op_text(index, op, self.func)}; "
                f"its inputs: {ins}{where}")


def _summary(arr):
    if arr is None:
        return ""
    arr = np.asarray(arr)
    if arr.dtype.kind != "f" or arr.size == 0:
        return ""
    with np.errstate(invalid="ignore"):
        return (f" (min {np.nanmin(arr) if not np.isnan(arr).all() else np.nan:.3g}, "
                f"max {np.nanmax(arr) if not np.isnan(arr).all() else np.nan:.3g}, "
                f"{int(np.isnan(arr).sum())} NaN)")


class NanGuardMode(Mode):
    """A Mode that raises AssertionError at the first op producing NaN
    (``nan_is_error``), Inf (``inf_is_error``) or an absolute value above
    1e10 (``big_is_error``); None means True. Other arguments as Mode."""

    def __init__(self, nan_is_error=None, inf_is_error=None, big_is_error=None, optimizer="default",
                 linker=None, **kwargs):
        super().__init__(optimizer=optimizer, linker=linker, **kwargs)
        self.nan_is_error = True if nan_is_error is None else bool(nan_is_error)
        self.inf_is_error = True if inf_is_error is None else bool(inf_is_error)
        self.big_is_error = True if big_is_error is None else bool(big_is_error)

    def _fields(self):
        fields = super()._fields()
        fields.update(nan_is_error=self.nan_is_error, inf_is_error=self.inf_is_error,
                      big_is_error=self.big_is_error)
        return fields

    def make_checker(self, func, checked, n_outputs, input_ir):
        """The per-call checker (``frontend.function.compile_ir`` asks for it)."""
        return NanGuardChecker(self, func, checked, n_outputs)

    def __repr__(self):
        return (f"NanGuardMode(nan_is_error={self.nan_is_error}, inf_is_error={self.inf_is_error}, "
                f"big_is_error={self.big_is_error}, optimizer={','.join(self.pipeline)!r})")
