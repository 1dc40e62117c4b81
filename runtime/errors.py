"""Native error codes -> Python exceptions that say what went wrong.

A failing entry returns a code from ``codegen/errors.py`` and fills
``err``: err[0] is the index of the failing op in the compiled IR
Function's body, err[1..4] the code's details. The message names the op,
traces its operands back to the function's inputs and shared variables,
and gives the sizes involved, e.g.

    dot/matmul shape mismatch: input 'a' has shape (3, 4) and input 'b' has
    shape (5, 2): inner dims 4 and 5 differ
"""
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
    where = f"{op.name} (op #{index} of @{func.name})"
    d1, d2, d3, d4 = err[1], err[2], err[3], err[4]
    ctx = _context(op, func, arrays)
    if code == codes.SHAPE_MISMATCH:
        return ValueError(
            f"shape mismatch in {where}: operands cannot be broadcast together: "
            f"{_operand(op, d4, func, arrays)} has size {d2} in dim {d1} of the result, but another "
            f"operand has size {d3}. Operands: {ctx}")
    if code == codes.MATMUL_MISMATCH:
        a, b = (describe_value(v, func, arrays) for v in op.operands[:2])
        return ValueError(f"dot/matmul shape mismatch in {where}: {a} and {b}: "
                          f"inner dims {d1} and {d2} differ")
    if code == codes.INDEX_ERROR:
        return IndexError(f"index {d2} is out of bounds for axis {d1} with size {d3} "
                          f"({where} of {ctx})")
    if code == codes.RESHAPE_ERROR:
        target = tuple("?" if s is not None and not isinstance(s, int) else s
                       for s in op.attrs.get("shape", ()))
        wanted = f" (requested {d2} elements)" if d2 >= 0 else ""
        return ValueError(f"cannot reshape an array of size {d1} into shape {target}{wanted}: "
                          f"{where} of {ctx}")
    if code == codes.EMPTY_REDUCTION:
        return ValueError(f"{where}: reduction over the empty axis {d1} has no identity; operand: {ctx}")
    if code == codes.ZERO_STEP:
        return ValueError(f"slice step cannot be zero (axis {d1}) in {where} of {ctx}")
    if code == codes.NEGATIVE_SIZE:
        return ValueError(f"negative dimension {d2} at position {d1} in {where}; operands: {ctx}")
    if code == codes.OUT_OF_MEMORY:
        return MemoryError(f"out of memory allocating {d1} bytes in {where}")
    if code == codes.DIMSHUFFLE_DROP:
        return ValueError(f"{where} drops axis {d1} of size {d2} (only dims of size 1 can be "
                          f"dropped); operand: {ctx}")
    if code == codes.CONCAT_MISMATCH:
        return ValueError(f"{where}: {_operand(op, d4, func, arrays)} has size {d2} in dim {d1}, "
                          f"expected {d3} (all operands must agree except on the concatenation axis)")
    if code == codes.ARANGE_ZERO_STEP:
        return ValueError(f"arange step cannot be zero in {where}; operands: {ctx}")
    if code in codes.NAMES:
        return ValueError(f"{codes.NAMES[code]} in {where}; operands: {ctx}; details {list(err[1:5])}")
    return NativeError(f"native code failed with unknown code {code} in {where}; details {list(err[1:5])}")
