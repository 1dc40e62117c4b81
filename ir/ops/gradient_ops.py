"""An identity whose gradient is stated, not derived: Theano's ``grad_clip``
and ``grad_scale``, and elementwise functions whose derivative formula is
given with them (``xlogx``, ``xlogy0``: their values need a guard at 0
that would spoil a derived gradient).

``grad_override(x, extra...) {kind}`` is the value of operand 0; autodiff
applies the rule of ``kind`` instead of differentiating through it:

- ``clip``  (x, lower, upper): x's gradient is ``clip(g, lower, upper)``;
- ``scale`` (x, multiplier): x's gradient is ``g * multiplier``;
- ``chain`` (y, x1, d1, ..., xn, dn): x_k's gradient is ``g * d_k``
  (elementwise, summed down to x_k's shape) -- ``d_k`` is dy/dx_k, an
  ordinary value, so a second derivative differentiates it; y's own graph
  is not differentiated.

Bounds and multipliers are 0-d and get no gradient. Nothing after autodiff
needs the op: canonicalization replaces it by operand 0.
"""
import numpy as np

from ..autodiff import ZERO, batch_ndim, emitter
from ..types import broadcast_shapes, is_float
from .autodiff_ops import AutodiffOnly


class GradOverride(AutodiffOnly):
    name = "grad_override"
    f16_storage = True
    KINDS = {"clip": 3, "scale": 2, "chain": None}

    def infer(self, op):
        self.check_arity(op)
        kind, ops = op.attrs["kind"], op.operands
        if kind not in self.KINDS:
            raise ValueError(f"grad_override: kind must be one of {sorted(self.KINDS)}, got {kind!r}")
        if not ops:
            raise ValueError("grad_override takes at least one operand")
        y = ops[0].type
        if kind == "chain":
            if len(ops) < 3 or len(ops) % 2 != 1:
                raise ValueError(f"grad_override(chain) takes y and (x, dy/dx) pairs, got "
                                 f"{len(ops)} operands")
            for x, d in zip(ops[1::2], ops[2::2]):
                if not is_float(d.type.dtype):
                    raise TypeError(f"grad_override(chain): derivative {d.type} is not float")
                for v in (x, d):
                    if v.type.ndim > y.ndim or broadcast_shapes(y.shape, v.type.shape) != y.shape:
                        raise ValueError(f"grad_override(chain): {v.type} does not broadcast "
                                         f"to the result {y}")
        else:
            if len(ops) != self.KINDS[kind]:
                raise ValueError(f"grad_override({kind}) takes {self.KINDS[kind]} operands, "
                                 f"got {len(ops)}")
            for v in ops[1:]:
                if v.type.ndim != 0 or not is_float(v.type.dtype):
                    raise TypeError(f"grad_override({kind}): bounds and multipliers are 0-d "
                                    f"floats, got {v.type}")
        return [y]

    def reference(self, op, y, *extra):
        return [np.array(y)]

    def grad(self, op, grads):
        g, e = grads[0], emitter(op)
        kind, ops = op.attrs["kind"], op.operands
        if kind == "clip":
            lower, upper = (e.cast(b, g.dtype) for b in ops[1:])
            return [e("minimum", e("maximum", g, lower), upper), None, None]
        if kind == "scale":
            return [e("mul", g, e.cast(ops[1], g.dtype)), None]
        nb = batch_ndim(op, g)
        out = [None]
        for x, d in zip(ops[1::2], ops[2::2]):
            if not is_float(x.dtype):
                out += [ZERO, None]
                continue
            gx = e("mul", g, e.cast(d, g.dtype))
            gx = e.unbroadcast(gx, x, [ops[0].type.shape], nb)
            out += [e.cast(gx, x.dtype), None]
        return out


OPS = [GradOverride]
