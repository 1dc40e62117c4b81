"""conv-epilogue: a convolution's channel bias and activation become one
``conv_bias`` op (``ir/ops/conv.py``), so the backend adds the bias and
applies the activation while the result leaves the GEMM's chunk buffer (the
result is written once, not written, read and written again).

    %y = conv(%x, %w) {...}                      %z = conv_bias(%x, %w, %b) {..., activation = "identity"}
    %bb = dimshuffle(%b) {pattern = ["x", 0, "x", "x"]}        ->
    %z = add(%y, %bb)
    %h = tanh(%z)                                 %h = conv_bias(%x, %w, %b) {..., activation = "tanh"}

``conv-bias``: add(conv, channel bias) where nothing else reads the conv
result's elements (``shape`` users move to the fused result); ``conv-activation``: tanh / sigmoid / maximum(., 0) (relu) of an
identity conv_bias used only there. Runs in fast_run before
fuse-elementwise (the rest of an elementwise chain still fuses after it).
"""
from ..ir.builder import make_op
from ..ir.ops.conv import CONV_ATTRS, EPILOGUE_ROOTS, activation_of, channel_bias
from .manager import Pass
from .rewrite import INVALID, PyRule, apply_rules, splat_value


def _only_user(v, op):
    """``op`` is the one op that reads ``v``'s elements (``shape`` ops read
    only its shape, which the fused result shares)."""
    return all(user is op or user.name == "shape" for user, _ in v.uses)


def conv_bias(rw, op):
    found = channel_bias(op)
    if found is None:
        return False
    y, b = found
    conv = y.owner
    if not _only_user(y, op) or conv.parent is not op.parent:
        return False
    attrs = {a: conv.attrs[a] for a in CONV_ATTRS}
    try:
        new = make_op("conv_bias", [conv.operands[0], conv.operands[1], b], dict(attrs, activation="identity"))
    except INVALID:
        return False
    rw.insert(new)
    rw.replace(op, new.result)
    rw.replace(conv, new.result)          # its shape users
    return True


def conv_activation(rw, op):
    found = activation_of(op, lambda v: splat_value(v) == 0)
    if found is None:
        return False
    act, z = found
    cb = z.owner
    if cb is None or cb.name != "conv_bias" or cb.attrs["activation"] != "identity" or not _only_user(z, op) \
            or cb.parent is not op.parent:
        return False
    new = make_op("conv_bias", list(cb.operands), dict(cb.attrs, activation=act))
    rw.insert(new)
    rw.replace(op, new.result)
    rw.replace(cb, new.result)            # its shape users
    return True


RULES = [PyRule("conv-bias", ("add",), conv_bias),
         PyRule("conv-activation", lambda d: d.name in EPILOGUE_ROOTS, conv_activation)]


class ConvEpilogue(Pass):
    """conv -> add(channel bias) -> activation as one conv_bias op (see the module doc)."""
    name = "conv-epilogue"

    def run(self, func):
        apply_rules(func, RULES, self)
