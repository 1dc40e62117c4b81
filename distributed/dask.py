"""theon functions on Dask (extra ``theon[dask]``: ``dask[array]`` and ``distributed``).

A compiled function (what ``theon.function`` returns) is an ordinary Dask
kernel. It pickles as its IR before the passes plus its shared variables'
values (``frontend/compiled.py``), and a process that loads it compiles it
once: the second load of the same function reuses the first one's code
(the per-process load memo), and a fresh worker process finds the
optimized IR and the object code in theon's on-disk cache. So these work
as they are::

    y = da.map_blocks(f, x, dtype=...)            # any scheduler
    fut = client.submit(f, batch)                  # distributed workers
    futs = client.map(f, batches)

``map_batches(f, *args, batch_axis=0)`` evaluates ``f`` over Dask arrays
chunked along a batch axis and returns Dask arrays::

    from dask.distributed import Client
    from theon.distributed.dask import map_batches
    client = Client("tcp://scheduler:8786")        # or Client(LocalCluster(...))
    x = da.from_zarr(...)                          # (n, 784), chunked along axis 0
    probs = map_batches(predict, x).compute()       # predict = theon.function([x], p)

What it does, per argument of ``f`` (inputs in order; inputs with defaults
may be left out at the end):

- a Dask array is *batched*: split along its batch axis (``batch_axis``,
  one int for every Dask array or one entry per argument, None for a Dask
  array passed whole); every other axis is rechunked to one chunk
  (``rechunk=False`` makes a chunked non-batch axis an error instead: a
  function that reduces over that axis would see only a part of it).
  All batched arrays have the same length along their batch axis; they
  are split at the first one's chunk boundaries.
- a NumPy array or a scalar is passed whole to every block (converted to
  the input's dtype when the graph is built; a bad one fails then, with
  the function's own message).
- the shared variables' values are captured when ``map_batches`` is
  called (the graph holds a copy of ``f``); later ``set_value`` calls do
  not change the result. Functions with updates are refused: updating
  per-block copies of shared state has no meaning.

The outputs' dtypes come from the function's output types; their shapes
come from the IR's type inference, run twice on the input IR with the
argument types made concrete and two different batch lengths: an
output axis whose size follows the batch length is the output's batch
axis, the blocks are concatenated along it (``out_batch_axis`` overrides
it, one int or one entry per output). An output that does not keep the
batch axis (``f`` reduces over it, or its size depends on the batch length
in another way) is an error when the graph is built. Sizes inference
cannot tell stay unknown (NaN chunks); every block checks its outputs'
batch lengths at run time.

Returns one Dask array for a function with one output, a tuple for a
list of outputs, a dict for dict outputs.
"""
import copy
import hashlib
import math
import numbers
import pickle

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as e:      # pragma: no cover - the extra is not installed
    raise ImportError("theon.distributed.dask needs Dask: pip install 'theon[dask]' "
                      "(dask[array] and distributed)") from e

__all__ = ["map_batches"]


def map_batches(f, *args, batch_axis=0, out_batch_axis=None, rechunk=True, name=None):
    """Evaluate the theon function ``f`` over Dask arrays split along their
    batch axis; see the module docstring. ``name`` prefixes the Dask keys."""
    _check_function(f)
    n_in = len(f.inputs)
    if len(args) > n_in:
        raise TypeError(f"map_batches: {_fname(f)} takes {n_in} inputs, got {len(args)} arguments")
    containers = getattr(f, "_containers", [None] * n_in)
    for k in range(len(args), n_in):
        if containers[k] is None:
            raise TypeError(f"map_batches: {_fname(f)} takes {n_in} inputs and input {k} "
                            f"({_what(f, k)}) has no default; got {len(args)} arguments")
    axes = _batch_axes(batch_axis, args)
    prepared = [_prepare(f, k, a, axes[k], rechunk) for k, a in enumerate(args)]
    batched = [p for p in prepared if p.axis is not None]
    if not batched:
        raise TypeError("map_batches: no argument is a batched Dask array (give at least one "
                        "dask.array.Array and a batch_axis that is not None for it)")
    _align(f, batched)
    chunks = batched[0].array.chunks[batched[0].axis]
    for p in batched:
        static = f._specs[p.k].static_shape[p.axis]
        if static is not None and any(c != static for c in chunks):
            raise ValueError(f"map_batches: {_what(f, p.k)} has a fixed size {static} along its batch axis "
                             f"{p.axis} but the batches have {sorted(set(chunks))} rows")

    probes, probe_types = _output_types(f, prepared, containers)
    out_types = probe_types[0]
    out_axes, out_dims = _output_layout(out_types, probe_types[1], probes, out_batch_axis, batched[0].axis)

    fn = copy.deepcopy(f)       # the shared variables' values as they are now
    token = hashlib.sha256(pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()[:32]
    prefix = name or f"theon-{_safe(getattr(f, 'name', None) or 'function')}"
    fn_key = dask.delayed(fn, pure=True, name=f"{prefix}-fn-{token}")
    layout = _Layout(batched[0].position, batched[0].axis, out_axes, out_dims, _fname(f))

    pairs, next_index = [], [1]

    def fresh():
        next_index[0] += 1
        return next_index[0]

    for p in prepared:
        if p.array is None:
            pairs += [p.value, None]
        else:
            ind = tuple(0 if d == p.axis else fresh() for d in range(p.array.ndim))
            pairs += [p.array, ind]
    # concatenate=False: a whole (one-chunk) axis arrives as a one-element list, which
    # _run_block unwraps; concatenate=True would copy every block
    blocks = da.blockwise(_run_block, (0,), fn_key, None, layout, None, *pairs, concatenate=False,
                          align_arrays=False, dtype=object, meta=np.empty((0,), dtype=object),
                          name=f"{prefix}-run-{token}")

    outs = []
    for j, (t, a, dims) in enumerate(zip(out_types, out_axes, out_dims)):
        dtype = np.dtype(t.dtype)
        out_chunks = tuple(chunks if d == a else (math.nan if dims[d] is None else dims[d],)
                           for d in range(t.ndim))
        outs.append(da.map_blocks(_pick, blocks, j, chunks=out_chunks, dtype=dtype,
                                  new_axis=[d for d in range(t.ndim) if d != a],
                                  meta=np.empty((0,) * t.ndim, dtype=dtype),
                                  name=f"{prefix}-out{j}-{token}"))
    keys = getattr(getattr(f, "_sig", None), "output_keys", None)
    if keys is not None:
        return dict(zip(keys, outs))
    if f._single:
        return outs[0]
    return tuple(outs)


# --- checking the arguments ------------------------------------------------------------------
class _Arg:
    def __init__(self, k, position, array, value, axis):
        self.k, self.position, self.array, self.value, self.axis = k, position, array, value, axis


def _fname(f):
    return f"theon function {f.name!r}" if getattr(f, "name", None) else "the theon function"


def _what(f, k):
    return f._specs[k].what


def _safe(text):
    return "".join(c if c.isalnum() or c in "_." else "_" for c in str(text))[:40]


def _check_function(f):
    from ..runtime.function import Function
    if not isinstance(f, Function):
        raise TypeError(f"map_batches: f must be a compiled theon function (theon.function), got "
                        f"{type(f).__name__}")
    if f.updates:
        names = ", ".join(repr(getattr(s, "name", None) or str(s)) for s, _ in f.updates)
        raise ValueError(f"map_batches: {_fname(f)} updates shared variables ({names}); each block "
                         "would update its own copy. Compile the evaluation without updates "
                         "(f.copy(delete_updates=True)) and run the updates yourself")
    state = [k for k, _ in getattr(f, "_state", ())]
    if state:
        raise ValueError(f"map_batches: {_fname(f)} keeps state in input {state[0]} ({_what(f, state[0])}, "
                         "In(update=...)); each block would update its own copy")


def _batch_axes(batch_axis, args):
    if batch_axis is None or isinstance(batch_axis, numbers.Integral):
        return [batch_axis if isinstance(a, da.Array) else None for a in args]
    if not isinstance(batch_axis, (list, tuple)) or len(batch_axis) != len(args):
        raise TypeError(f"map_batches: batch_axis must be an int, None or a list with one entry per "
                        f"argument ({len(args)}), got {batch_axis!r}")
    for k, (b, a) in enumerate(zip(batch_axis, args)):
        if b is not None and not isinstance(b, numbers.Integral):
            raise TypeError(f"map_batches: batch_axis[{k}] must be an int or None, got {b!r}")
        if b is not None and not isinstance(a, da.Array):
            raise TypeError(f"map_batches: batch_axis[{k}] is {b} but argument {k} is a "
                            f"{type(a).__name__}, not a Dask array: wrap it with dask.array.from_array "
                            f"to split it into batches, or give None to pass it whole to every block")
    return list(batch_axis)


def _prepare(f, k, a, axis, rechunk):
    spec = f._specs[k]
    if isinstance(a, da.Array):
        if a.ndim != spec.ndim:
            raise ValueError(f"map_batches: argument {k} ({spec.what}) must be a {spec.ndim}-d array "
                             f"({f.inputs[k].type}), got a {a.ndim}-d Dask array of shape {a.shape}")
        if any(math.isnan(s) for s in a.shape):
            raise ValueError(f"map_batches: argument {k} ({spec.what}) has unknown chunk sizes "
                             f"{a.chunks}; call its compute_chunk_sizes() first")
        # the input's dtype rules (and error), checked on a small array of this dtype
        spec.convert(np.zeros(tuple(1 if s is None else s for s in spec.static_shape), dtype=a.dtype))
        if axis is not None:
            if not -a.ndim <= axis < a.ndim:
                raise ValueError(f"map_batches: batch_axis {axis} is out of range for argument {k} "
                                 f"({spec.what}), a {a.ndim}-d array")
            axis %= a.ndim
        for d in range(a.ndim):
            if d != axis and spec.static_shape[d] is not None and spec.static_shape[d] != a.shape[d]:
                raise ValueError(f"map_batches: argument {k} ({spec.what}) has {a.shape[d]} elements along "
                                 f"axis {d}; the input's type {f.inputs[k].type} needs {spec.static_shape[d]}")
        split = [d for d in range(a.ndim) if d != axis and len(a.chunks[d]) > 1]
        if split and not rechunk:
            where = "passed whole (batch_axis None)" if axis is None else f"split only along its batch axis {axis}"
            raise ValueError(f"map_batches: argument {k} ({spec.what}) is chunked along axis {split[0]} "
                             f"({a.chunks[split[0]]}) but is {where}: each block of the function sees "
                             "whole non-batch axes (a reduction over such an axis would see a part of "
                             "it). Rechunk it, or pass rechunk=True")
        if split:
            a = a.rechunk({d: -1 for d in split})
        return _Arg(k, k, a, None, axis)
    if dask.is_dask_collection(a):
        raise TypeError(f"map_batches: argument {k} ({spec.what}) is a {type(a).__name__}; map_batches "
                        "takes Dask arrays, NumPy arrays and scalars")
    value = spec.convert(a)       # the function's own conversion and error for a bad value
    return _Arg(k, k, None, value, None)


def _align(f, batched):
    first = batched[0]
    n = first.array.shape[first.axis]
    for p in batched[1:]:
        if p.array.shape[p.axis] != n:
            raise ValueError(f"map_batches: {_what(f, p.k)} has {p.array.shape[p.axis]} rows along its batch "
                             f"axis {p.axis} but {_what(f, first.k)} has {n} along axis {first.axis}")
        want = first.array.chunks[first.axis]
        if p.array.chunks[p.axis] != want:
            p.array = p.array.rechunk({p.axis: want})


# --- output types and layout -----------------------------------------------------------------
_SHAPE_PIPELINE = "simplify-shapes,constant-fold,simplify-shapes"


def _output_types(f, prepared, containers):
    """(two probe batch lengths, the output types inferred for each)."""
    from ..ir.types import TensorType
    from ..passes import run_pipeline
    from ..passes.shapes import refine_types

    def shape_of(k):
        for p in prepared:
            if p.k == k:
                return (p.array if p.array is not None else p.value).shape, p.axis
        return np.shape(containers[k].value), None

    n_in = len(f.inputs)
    shapes = [shape_of(k) for k in range(n_in)]
    shared_shapes = [np.shape(s.get_value(borrow=True)) for s in f.shared]
    known = [d for s, a in shapes for i, d in enumerate(s) if i != a] + [d for s in shared_shapes for d in s]
    base = max(known + [1])
    results = []
    for probe in (base + 1, base + 2):
        func = f.input_ir()
        for arg, (shape, axis) in zip(func.args, shapes + [(s, None) for s in shared_shapes]):
            shape = tuple(probe if d == axis else n for d, n in enumerate(shape))
            if len(shape) == arg.type.ndim:
                arg.type = TensorType(arg.type.dtype, shape)
        try:        # shapes -> constants -> static sizes -> types
            refine_types(func)
            func = run_pipeline(func, _SHAPE_PIPELINE) or func
            refine_types(func)
        except Exception:  # noqa: BLE001 - sizes it cannot infer stay unknown (checked per block)
            func = f.input_ir()
        results.append([v.type for v in func.outputs[:f._n_outputs]])
    return (base + 1, base + 2), results


def _output_layout(out_types, out_types2, probes, out_batch_axis, in_axis):
    """Per output: its batch axis and its other sizes (None: unknown), from
    its types for the batch lengths ``probes``."""
    n = len(out_types)
    if out_batch_axis is None or isinstance(out_batch_axis, numbers.Integral):
        given = [out_batch_axis] * n
    elif isinstance(out_batch_axis, (list, tuple)) and len(out_batch_axis) == n:
        given = list(out_batch_axis)
    else:
        raise TypeError(f"map_batches: out_batch_axis must be an int, None or a list with one entry per "
                        f"output ({n}), got {out_batch_axis!r}")
    p1, p2 = probes
    axes, dims = [], []
    for j, (t1, t2, a) in enumerate(zip(out_types, out_types2, given)):
        follows = [d for d in range(t1.ndim) if t1.shape[d] == p1 and t2.shape[d] == p2]
        fixed = [d for d in range(t1.ndim) if t1.shape[d] is not None and t1.shape[d] == t2.shape[d]]
        other = [d for d in range(t1.ndim) if d not in follows and t1.shape[d] is not None
                 and t2.shape[d] is not None and t1.shape[d] != t2.shape[d]]
        what = f"output {j} ({t1.dtype}, {t1.ndim}-d)"
        if a is not None:
            if not isinstance(a, numbers.Integral) or not -max(t1.ndim, 1) <= a < max(t1.ndim, 1) \
                    or t1.ndim == 0:
                raise ValueError(f"map_batches: out_batch_axis {a!r} is not an axis of {what}")
            a %= t1.ndim
            if a in fixed:
                raise ValueError(f"map_batches: out_batch_axis {a} of {what} has the fixed size "
                                 f"{t1.shape[a]}, not the batch length")
        elif follows:
            a = in_axis if in_axis in follows else follows[0]
        elif t1.ndim == 0 or len(fixed) == t1.ndim:
            raise ValueError(f"map_batches: {what} does not keep the batch axis (its shape "
                             f"{tuple(t1.shape)} does not depend on the batch length): the function "
                             "reduces over the batch, so its blocks cannot be concatenated; reduce "
                             "the outputs of map_batches instead")
        elif in_axis < t1.ndim:
            a = in_axis           # unknown: checked by every block
        else:
            raise ValueError(f"map_batches: cannot tell which axis of {what} is its batch axis; "
                             "give out_batch_axis")
        bad = [d for d in follows + other if d != a]
        if bad:
            raise ValueError(f"map_batches: axis {bad[0]} of {what} changes with the batch length but is "
                             f"not its batch axis {a}: the function mixes the batch with other axes")
        axes.append(a)
        dims.append(tuple(t1.shape[d] if d in fixed else None for d in range(t1.ndim)))
    return axes, dims


# --- the tasks -------------------------------------------------------------------------------
class _Layout:
    """What a block task needs besides the blocks (pickled into the graph once)."""

    def __init__(self, position, axis, out_axes, out_dims, fname):
        self.position, self.axis, self.out_axes, self.out_dims, self.fname = position, axis, out_axes, out_dims, fname


def _run_block(fn, layout, *blocks):
    blocks = [_unwrap(b) for b in blocks]
    rows = np.shape(blocks[layout.position])[layout.axis]
    result = fn(*blocks)
    keys = getattr(getattr(fn, "_sig", None), "output_keys", None)
    if keys is not None:
        result = [result[k] for k in keys]
    elif fn._single:
        result = [result]
    for j, (r, a, dims) in enumerate(zip(result, layout.out_axes, layout.out_dims)):
        shape = np.shape(r)
        if len(shape) <= a or shape[a] != rows:
            raise ValueError(f"map_batches: output {j} of {layout.fname} has shape {shape} for a block of "
                             f"{rows} rows; its batch axis {a} must have {rows} elements (does the "
                             "function reduce over the batch? give out_batch_axis)")
        for d, n in enumerate(dims):
            if n is not None and shape[d] != n:
                raise ValueError(f"map_batches: output {j} of {layout.fname} has shape {shape}; "
                                 f"expected {n} elements along axis {d}")
    return tuple(result)


def _unwrap(block):
    while isinstance(block, list):      # one block per whole axis (see map_batches)
        (block,) = block
    return block


def _pick(block, j):
    return block[j]
