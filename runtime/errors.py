"""Native error codes -> Python exceptions that say what went wrong.

A failing entry returns a code from ``codegen/errors.py`` and fills
``err``: err[0] is the index of the failing op in the compiled IR
Function's body, err[1..4] the code's details. The message names the op,
traces its operands back to the function's inputs and shared variables,
and gives the sizes involved, e.g.

    dot/matmul shape mismatch: input 'a' has shape (3, 4) and input 'b' has
    shape (5, 2): inner dims 4 and 5 differ
"""
import math
import struct
import numpy as np

from ..codegen import errors as codes


class NativeError(RuntimeError):
    """A native error code this runtime does not know (a backend bug)."""


def _arg_label(func, index):
    name = func.args[index].name
    attrs = func.arg_attrs[index]
    if "shared" in attrs:
        return f"shared variable {attrs['shared']!r}"
    return f"input {name!r}" if name else f"input #{index}"


def _sources(value, func, limit=6):
    """The function arguments ``value`` is computed from, in argument order."""
    seen, found, stack = set(), set(), [value]
    while stack:
        v = stack.pop()
        if v.owner is None:
            found.add(v.index)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.extend(v.owner.operands)
    labels = [_arg_label(func, i) for i in sorted(found)]
    if len(labels) > limit:
        labels = labels[:limit] + ["..."]
    return labels


def describe_value(value, func, arrays):
    """'input 'x' with shape (3, 4)' or 'the result of mul (from input 'x')'."""
    if value.owner is None and value.index < len(func.args) and func.args[value.index] is value:
        shape = arrays[value.index].shape if value.index < len(arrays) else value.type.shape
        return f"{_arg_label(func, value.index)} with shape {tuple(shape)}"
    src = _sources(value, func)
    origin = f" computed from {', '.join(src)}" if src else " (a constant expression)"
    static = value.type.shape
    shape = f" of static shape {tuple(static)}" if None not in static else ""
    return f"the result of {value.owner.name}{shape}{origin}"


def _context(op, func, arrays):
    data = op.opdef.data_operands(op)
    return "; ".join(describe_value(v, func, arrays) for v in data)


def _operand(op, k, func, arrays):
    if 0 <= k < len(op.operands):
        return describe_value(op.operands[k], func, arrays)
    return f"operand {k}"


def native_error(code, err, func, arrays):
    """The exception for a nonzero entry ``code`` with details ``err``;
    its message ends with the line of user code that built the failing op
    (and, with ``theon.config.exception_verbosity='high'``, the op's graph)."""
    exc = _error_for(code, err, func, arrays)
    ops = func.body.ops
    if exc.args and isinstance(exc.args[0], str) and 0 <= err[0] < len(ops):
        exc.args = (exc.args[0] + op_origin(ops[err[0]], verbose=True),) + exc.args[1:]
    return exc


def op_origin(op, verbose=False):
    """Text naming the user code that built ``op`` ('' if unknown); with
    ``verbose``, Theano's hints and (exception_verbosity='high') the op's
    graph."""
    from ..config import config
    from ..ir.location import op_locations
    locs = op_locations(op)
    text = ""
    if len(locs) == 1:
        text = f"\nThe op was built at:\n  {locs[0].describe()}"
    elif locs:
        text = "\nThe ops fused into this one were built at:" + "".join(f"\n  {loc.describe()}" for loc in locs)
    if not verbose:
        return text
    if not locs:
        text += ("\nHINT: the line that built this op is not known (it was made by a pass or by "
                 "theon.grad); compiling with theon.config.optimizer='None' keeps the graph as written.")
    if config.exception_verbosity == "high":
        from ..printing import debugprint
        text += "\nDebugprint of the failing op:\n" + debugprint(list(op.results), file="str", print_type=True)
    else:
        text += "\nHINT: set theon.config.exception_verbosity='high' for a debugprint of this op."
    return text


def _error_for(code, err, func, arrays):
    index = err[0]
    ops = func.body.ops
    if not 0 <= index < len(ops):
        return NativeError(f"native code of @{func.name} failed with code {code} "
                           f"({codes.NAMES.get(code, 'unknown')}) at unknown op index {index}")
    op = ops[index]
    fields = _Fields(op, func, arrays, err)
    if code == codes.PROBABILITY_ERROR:      # the message names the sampler's argument (its own text)
        from ..ir.ops.random import probability_error
        exc = probability_error(err)
        return type(exc)(f"{exc.args[0]} ({fields['where']})")
    if code in _MESSAGES:
        exc, template = _MESSAGES[code]
        return exc(template.format_map(fields))
    if code in codes.NAMES:
        return ValueError(f"{codes.NAMES[code]} in {fields['where']}; operands: {fields['ctx']}; "
                          f"details {list(err[1:5])}")
    return NativeError(f"native code failed with unknown code {code} in {fields['where']}; "
                       f"details {list(err[1:5])}")


class _Fields(dict):
    """What a message template may name, each computed when first named:
    d1..d4 (err[1..4]), where, ctx (the operands), operand (operand d4),
    a and b (the first two operands), target and wanted (reshape), nbytes."""

    def __init__(self, op, func, arrays, err):
        super().__init__(d1=err[1], d2=err[2], d3=err[3], d4=err[4],
                         where=f"{op.name} (op #{err[0]} of @{func.name})")
        self.op, self.func, self.arrays = op, func, arrays

    def __missing__(self, key):
        op, func, arrays = self.op, self.func, self.arrays
        if key == "ctx":
            value = _context(op, func, arrays)
        elif key == "operand":
            value = _operand(op, self["d4"], func, arrays)
        elif key in ("a", "b"):
            value = _operand(op, "ab".index(key), func, arrays)
        elif key == "target":
            value = tuple("?" if s is not None and not isinstance(s, int) else s
                          for s in op.attrs.get("shape", ()))
        elif key == "wanted":
            value = f" (requested {self['d2']} elements)" if self["d2"] >= 0 else ""
        elif key == "nbytes":
            value = _byte_count(self["d1"], self["d2"])
        else:
            raise KeyError(key)
        self[key] = value
        return value


def _byte_count(exact, approx_bits):
    """Text of an allocation's size from OUT_OF_MEMORY's details: err[1] the
    bytes (-1: beyond 64 bits, or a negative dim), err[2] the bytes as the
    bits of a double (0 where a backend does not give it)."""
    if exact >= 0:
        return f"{exact} bytes ({exact / 2 ** 30:.3g} GiB)"
    approx = struct.unpack("<d", struct.pack("<q", approx_bits))[0]
    if approx < 0:
        return "a negative number of bytes (a negative dimension)"
    if approx > 0 and math.isfinite(approx):
        return f"about {approx:.4g} bytes, more than a 64-bit size can hold"
    return "more bytes than a 64-bit size can hold"


_MESSAGES = {
    codes.SHAPE_MISMATCH: (ValueError, "shape mismatch in {where}: operands cannot be broadcast together: "
                           "{operand} has size {d2} in dim {d1} of the result, but another operand has "
                           "size {d3}. Operands: {ctx}"),
    codes.MATMUL_MISMATCH: (ValueError, "dot/matmul shape mismatch in {where}: {a} and {b}: "
                            "inner dims {d1} and {d2} differ"),
    codes.INDEX_ERROR: (IndexError, "index {d2} is out of bounds for axis {d1} with size {d3} ({where} of {ctx})"),
    codes.ADV_INDEX_ERROR: (IndexError, "index {d2} is out of bounds for axis {d1} with size {d3}: "
                            "index array {operand} into {a} ({where})"),
    codes.MASK_MISMATCH: (IndexError, "boolean index did not match indexed array along axis {d1}; size of axis "
                          "is {d3} but size of corresponding boolean axis is {d2} ({where} of {ctx})"),
    codes.RESHAPE_ERROR: (ValueError, "cannot reshape an array of size {d1} into shape {target}{wanted}: "
                          "{where} of {ctx}"),
    codes.EMPTY_REDUCTION: (ValueError, "{where}: reduction over the empty axis {d1} has no identity; operand: {ctx}"),
    codes.ZERO_STEP: (ValueError, "slice step cannot be zero (axis {d1}) in {where} of {ctx}"),
    codes.NEGATIVE_SIZE: (ValueError, "negative dimension {d2} at position {d1} in {where}; operands: {ctx}"),
    codes.OUT_OF_MEMORY: (MemoryError, "out of memory allocating {nbytes} in {where}"),
    codes.DIMSHUFFLE_DROP: (ValueError, "{where} drops axis {d1} of size {d2} (only dims of size 1 can be "
                            "dropped); operand: {ctx}"),
    codes.CONCAT_MISMATCH: (ValueError, "{where}: {operand} has size {d2} in dim {d1}, expected {d3} "
                            "(all operands must agree except on the concatenation axis)"),
    codes.ARANGE_ZERO_STEP: (ValueError, "arange step cannot be zero in {where}; operands: {ctx}"),
    codes.INDEX_RANGE: (IndexError, "index {d2} is out of range [0, {d3}) (element {d1} of {a}, {where})"),
    codes.NEGATIVE_VALUE: (ValueError, "{where}: the values of {a} must be non-negative, but element {d1} is {d2}"),
    codes.POOL_WINDOW: (ValueError, "{where}: the pooling window (ws {d3}) is larger than dim {d1} of the "
                        "input (size {d2} with padding) with ignore_border=True; input: {ctx}"),
    codes.NEIBS_COVER: (ValueError, "{where}: images2neibs mode 'valid' needs the patches to cover ten4's dim "
                        "{d1} exactly: size {d2}, neib_shape {d3}, neib_step {d4} (use mode='ignore_borders'); "
                        "ten4: {ctx}"),
    codes.CONV_CHANNELS: (ValueError, "{where}: channel mismatch: the input has {d1} channels, but the filters "
                          "expect {d2} (filters.shape[1] = {d3} x num_groups = {d4}); operands: {ctx}"),
    codes.CONV_GROUPS: (ValueError, "{where}: the filters' {d1} output channels are not a multiple of "
                        "num_groups = {d2}; operands: {ctx}"),
    codes.CONV_SIZE: (ValueError, "{where}: the filter (size {d4}, dilated {d3}) is larger than the padded input "
                      "({d2}) in spatial dim {d1}; operands: {ctx}"),
    codes.CONV_SHAPE: (ValueError, "{where}: the output gradient has size {d2} in dim {d1}, but the input and "
                       "filter shapes give {d3}; operands: {ctx}"),
    codes.INT_NEGATIVE_POWER: (ValueError, "Integers to negative integer powers are not allowed "
                               "({where} of {ctx})"),
    codes.LINALG_SHAPE: (ValueError, "{where}: operand {d1} has size {d3} in dim {d2}, expected {d4} (square "
                         "matrices, b.shape[-2] == a.shape[-1], equal batch dims); operands: {ctx}"),
    codes.LINALG_NOT_PD: (np.linalg.LinAlgError, "{where}: Matrix is not positive definite (the leading minor of "
                          "order {d2} of batch element {d1} is not); operand: {ctx}"),
    codes.LINALG_SINGULAR: (np.linalg.LinAlgError, "{where}: Singular matrix (zero pivot at index {d2} of batch "
                            "element {d1}); operands: {ctx}"),
    codes.LINALG_COMPLEX: (np.linalg.LinAlgError, "{where}: the matrix has complex eigenvalues (a conjugate pair at "
                           "index {d2} of batch element {d1}); theon has no complex dtype, so eig supports real "
                           "spectra only; operand: {ctx}"),
    codes.LINALG_NO_CONVERGENCE: (np.linalg.LinAlgError, "{where}: Eigenvalues did not converge (batch element {d1}; "
                                  "infs or NaNs in the matrix?); operand: {ctx}"),
}
