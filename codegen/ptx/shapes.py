"""Host-side shape rules of the GPU path: Python ints in, Python ints out.

A GPU function computes every shape, stride and index on the host before
it launches anything, from the inputs' shapes and the values of dynamic
size/index operands. The rules match the CPU backend's run-time checks
(``codegen/cpu``): a violation raises ``PlanError`` with the same error
code and details (``codegen/errors.py``), so the runtime reports it with
the same message (``runtime/errors.native_error``).
"""
from ...ir.core import substitute_dyn
from .. import errors as codes


class PlanError(Exception):
    """A run-time check failed: ``code`` and ``details`` as in native code;
    ``op_index`` is the failing op (set by the step when it knows it)."""

    def __init__(self, code, details=(), op_index=None):
        super().__init__(f"{codes.NAMES.get(code, code)}: {list(details)}")
        self.code = code
        self.details = [int(d) for d in details][:4]
        self.op_index = op_index


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def c_strides(shape):
    """C-contiguous strides (elements) of ``shape``."""
    strides, acc = [0] * len(shape), 1
    for k in range(len(shape) - 1, -1, -1):
        strides[k] = acc
        acc *= shape[k]
    return tuple(strides)


def is_c_contiguous(shape, strides):
    """Dense row-major (size-1 dims may have any stride; empty counts)."""
    if 0 in shape:
        return True
    acc = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1 and stride != acc:
            return False
        acc *= size
    return True


def resolve(entries, values):
    """Replace each ``?`` in a (nested) attribute by the next of ``values`` (as ints)."""
    return substitute_dyn(entries, [int(v) for v in values])


# --- broadcasting ------------------------------------------------------------------------
def broadcast(shapes):
    """NumPy broadcasting; SHAPE_MISMATCH (axis, size, expected, operand)."""
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(nd):
        size = 1
        for s in shapes:
            k = axis - (nd - len(s))
            if k >= 0 and s[k] != 1:
                size = s[k]
        for j, s in enumerate(shapes):
            k = axis - (nd - len(s))
            if k >= 0 and s[k] not in (1, size):
                raise PlanError(codes.SHAPE_MISMATCH, [axis, s[k], size, j])
        out.append(size)
    return tuple(out)


def broadcast_strides(shape, strides, out_shape, operand=0):
    """Strides reading a tensor of ``shape`` broadcast to ``out_shape``
    (0 along broadcast dims); SHAPE_MISMATCH when it does not fit."""
    lead = len(out_shape) - len(shape)
    if lead < 0:
        raise PlanError(codes.SHAPE_MISMATCH, [0, len(shape), len(out_shape), operand])
    out = [0] * lead
    for d, (size, stride) in enumerate(zip(shape, strides)):
        want = out_shape[lead + d]
        if size == 1:
            out.append(0)
        elif size == want:
            out.append(stride)
        else:
            raise PlanError(codes.SHAPE_MISMATCH, [lead + d, size, want, operand])
    return tuple(out)


# --- views ---------------------------------------------------------------------------------
def dimshuffle(shape, strides, pattern):
    kept = [p for p in pattern if p != "x"]
    for d, size in enumerate(shape):
        if d not in kept and size != 1:
            raise PlanError(codes.DIMSHUFFLE_DROP, [d, size])
    return (tuple(1 if p == "x" else shape[p] for p in pattern),
            tuple(0 if p == "x" else strides[p] for p in pattern))


def reshape(in_shape, entries):
    """Target dims of a reshape with at most one -1; RESHAPE_ERROR (size, wanted)."""
    size = numel(in_shape)
    entries = [int(e) for e in entries]
    if sum(1 for e in entries if e == -1) > 1 or any(e < -1 for e in entries):
        raise PlanError(codes.RESHAPE_ERROR, [size, -1])
    known = numel([e for e in entries if e != -1])
    if -1 in entries:
        if known == 0 or size % known:
            raise PlanError(codes.RESHAPE_ERROR, [size, known])
        return tuple(size // known if e == -1 else e for e in entries)
    if known != size:
        raise PlanError(codes.RESHAPE_ERROR, [size, known])
    return tuple(entries)


def index_view(shape, strides, idx, dyn):
    """(offset, shape, strides) of basic indexing ``x[idx]``: INDEX_ERROR
    (axis, index, size) and ZERO_STEP (axis) as the CPU backend."""
    entries = resolve(idx, dyn)
    offset, out_shape, out_strides = 0, [], []
    for axis, e in enumerate(entries):
        n, stride = shape[axis], strides[axis]
        if isinstance(e, tuple):
            start, stop, step = e
            if step == 0:
                raise PlanError(codes.ZERO_STEP, [axis])
            r = range(*slice(start, stop, step).indices(n))
            if len(r):
                offset += r.start * stride
            out_shape.append(len(r))
            out_strides.append(stride * (1 if step is None else step))
        else:
            i = e + n if e < 0 else e
            if not 0 <= i < n:
                raise PlanError(codes.INDEX_ERROR, [axis, e, n])
            offset += i * stride
    return (offset, tuple(out_shape) + tuple(shape[len(entries):]),
            tuple(out_strides) + tuple(strides[len(entries):]))


# --- creation and reshaping of data -------------------------------------------------------------
def alloc_dims(entries):
    dims = tuple(int(d) for d in entries)
    for pos, d in enumerate(dims):
        if d < 0:
            raise PlanError(codes.NEGATIVE_SIZE, [pos, d])
    return dims


def sum_to(g_shape, target):
    """(result dims, reduced axes of g) of sum_to(g) {shape = target}."""
    dims = alloc_dims(target)
    lead = len(g_shape) - len(dims)
    axes = list(range(lead))
    for i, d in enumerate(dims):
        gd = g_shape[lead + i]
        if d == 1 and gd != 1:
            axes.append(lead + i)
        elif d != gd:
            raise PlanError(codes.SHAPE_MISMATCH, [lead + i, gd, d, 0])
    return dims, tuple(axes)


def concatenate(shapes, axis):
    first = shapes[0]
    for k, s in enumerate(shapes[1:], start=1):
        for d in range(len(s)):
            if d != axis and s[d] != first[d]:
                raise PlanError(codes.CONCAT_MISMATCH, [d, s[d], first[d], k])
    out = list(first)
    out[axis] = sum(s[axis] for s in shapes)
    return tuple(out)


def arange_length(start, stop, step):
    """NumPy's arange length for 0-d arrays of one dtype."""
    if step == 0:
        raise PlanError(codes.ARANGE_ZERO_STEP)
    if start.dtype.kind == "f":
        import numpy as np
        with np.errstate(all="ignore"):
            q = float(np.ceil(np.float64((stop - start) / step)))
        if q != q:
            raise PlanError(codes.ARANGE_LENGTH)
        if q >= 2.0 ** 62:
            raise PlanError(codes.OUT_OF_MEMORY, [-1])
        return max(int(q), 0)
    lo, hi, st = int(start), int(stop), int(step)
    return len(range(lo, hi, st))


# --- reductions and products -------------------------------------------------------------------------
def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def check_nonempty(shape, axes):
    for a in axes:
        if shape[a] == 0:
            raise PlanError(codes.EMPTY_REDUCTION, [a])


def collapse(dims):
    """Merge neighbouring (size, strides) dims that every operand walks as
    one (outer stride == inner size * inner stride, per operand); drop
    size-1 dims. ``strides`` holds one stride per operand."""
    out = []
    for size, strides in dims:
        if size == 1:
            continue
        if out and all(o == size * s for o, s in zip(out[-1][1], strides)):
            out[-1] = (out[-1][0] * size, tuple(strides))
        else:
            out.append((size, tuple(strides)))
    return out


def matmul_operands(a_shape, a_strides, b_shape, b_strides):
    """(M, N, K, sam, sak, sbk, sbn, batch dims, a batch strides, b batch
    strides, result shape) of np.matmul semantics; checks the inner dims
    (MATMUL_MISMATCH) and broadcasts the batch dims (SHAPE_MISMATCH)."""
    if len(a_shape) == 1:
        m, sam, ka, sak = 1, 0, a_shape[0], a_strides[0]
    else:
        m, sam, ka, sak = a_shape[-2], a_strides[-2], a_shape[-1], a_strides[-1]
    if len(b_shape) == 1:
        kb, sbk, n, sbn = b_shape[0], b_strides[0], 1, 0
    else:
        kb, sbk, n, sbn = b_shape[-2], b_strides[-2], b_shape[-1], b_strides[-1]
    if ka != kb:
        raise PlanError(codes.MATMUL_MISMATCH, [ka, kb])
    a_batch, b_batch = tuple(a_shape[:-2]), tuple(b_shape[:-2])
    batch = broadcast([a_batch, b_batch])
    bsa = broadcast_strides(a_batch, a_strides[:len(a_batch)], batch, 0)
    bsb = broadcast_strides(b_batch, b_strides[:len(b_batch)], batch, 1)
    result = batch + ((m,) if len(a_shape) > 1 else ()) + ((n,) if len(b_shape) > 1 else ())
    return m, n, ka, sam, sak, sbk, sbn, batch, bsa, bsb, result
