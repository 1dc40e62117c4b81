"""Data-parallel training over MPI (extra ``theon[mpi]``: mpi4py and an MPI library).

    train = theon.function([x, y], loss, updates=[(w, w - lr * g) ...])   # as usual
    step = DataParallel(train)          # every rank, same program
    step.broadcast_parameters()         # rank 0's initial values everywhere
    for xb, yb in batches:              # the global batch ...
        loss = step(xb, yb)             # ... each rank takes its rows
    # or step.local(x_shard, y_shard): each rank passes its own shard

Launch: ``mpirun -np 4 python train.py`` or ``srun -n 4 python train.py``.

How a step runs (``DataParallel.local``):
1. ``@f_grad`` (``split.py``) on this rank's shard: the outputs and the
   gradients (the values the update needs that differ between ranks);
2. the gradients are copied into one contiguous buffer per dtype, in
   buckets of ``bucket_bytes``; each bucket's nonblocking ``Iallreduce``
   (in place, MPI_SUM) starts as soon as it is filled, then the sum is
   divided by the number of ranks. With ``deterministic=True`` each bucket
   is ``Iallgather``-ed instead and every rank sums the ranks' buffers in
   rank order: the result does not depend on MPI's reduction algorithm, is
   bit-identical on every rank, and equals ``DataParallel(train, comm=None,
   shards=N, deterministic=True)`` in one process;
3. ``@f_apply`` on the averaged buffers (zero-copy views) updates the shared
   variables: every rank applies the same update, so they stay equal.
0-d float outputs (the loss) are averaged in the same buffer.

Faults. Every wait is a loop of ``MPI_Test`` with a timeout (``timeout``
seconds, default 60), never a blocking call; each rank also posts a receive
on a private communicator for failure notices. A rank whose step fails, or
whose program dies of an uncaught exception (``sys.excepthook`` is wrapped
while a ``DataParallel`` exists), sends its error to the others and calls
``MPI_Abort``; the others raise ``DistributedError("rank 1 failed: ...")``
at once. A rank that stops without a word (killed, hung, left the loop)
makes the others raise ``DistributedError`` when the timeout expires (mpirun
itself aborts the job when a rank is killed). At the first step the ranks
compare a hash of the step's IR and the shapes of their shards and
gradients; any difference is a ``DistributedError`` on every rank that
lists what each rank had.
"""
import atexit
import hashlib
import os
import sys
import threading
import time
import traceback

import numpy as np

from ..ir.printer import print_function
from .split import split_step

DEFAULT_TIMEOUT = 60.0
FAULT_TAG = 7301
FAULT_BYTES = 8192


class DistributedError(RuntimeError):
    """A failure of the distributed job: another rank failed or stopped, or
    the ranks disagree on the function or on shapes."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "theon.distributed.mpi needs mpi4py and an MPI library: pip install 'theon[mpi]' "
            f"(with e.g. apt-get install openmpi-bin libopenmpi-dev); importing it failed: {e}") from None
    return MPI


def _mpi_type(dtype):
    """The predefined MPI datatype of a NumPy dtype (reductions need a predefined one)."""
    MPI = _mpi()
    table = {"f4": MPI.FLOAT, "f8": MPI.DOUBLE, "i1": MPI.INT8_T, "i2": MPI.INT16_T, "i4": MPI.INT32_T,
             "i8": MPI.INT64_T, "u1": MPI.UINT8_T, "u2": MPI.UINT16_T, "u4": MPI.UINT32_T,
             "u8": MPI.UINT64_T, "b1": MPI.C_BOOL}
    key = np.dtype(dtype).str[1:]
    if key not in table:
        raise TypeError(f"theon.distributed: no MPI datatype for dtype {np.dtype(dtype)}")
    return table[key]


# --- waiting with a timeout and failure notices -----------------------------------------
class _Channel:
    """A private duplicate of the communicator for failure notices: a receive
    from any rank stays posted; ``notify`` sends one to every other rank."""

    def __init__(self, comm, timeout, startup_timeout):
        MPI = _mpi()
        self.MPI = MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = startup_timeout
        self.comm = None
        self._recv = None
        self.notified = self.remote_failure = False
        new, req = comm.Idup()          # collective: a rank that never gets here must not hang us
        self.wait([req], "creating the failure-notice communicator (every rank constructs DataParallel)")
        self.comm = new
        self.timeout = timeout
        self._buf = bytearray(FAULT_BYTES)
        self._recv = self.comm.Irecv([self._buf, MPI.BYTE], source=MPI.ANY_SOURCE, tag=FAULT_TAG)
        self._status = MPI.Status()
        atexit.register(self.close)

    def check(self):
        """Raise the failure another rank reported, if one did."""
        if self._recv is not None and self._recv.Test(self._status):
            self._recv = None
            self.remote_failure = True
            count = self._status.Get_count(self.MPI.BYTE)
            message = bytes(self._buf[:count]).decode("utf-8", "replace")
            raise DistributedError(f"rank {self.rank}: rank {self._status.Get_source()} failed: {message}")

    def notify(self, message, grace=2.0):
        """Tell every other rank that this one failed (once); waits at most
        ``grace`` seconds for the notices to leave."""
        if self.notified or self.remote_failure or self.size == 1 or self.comm is None:
            return
        self.notified = True
        data = message.encode("utf-8", "replace")[:FAULT_BYTES]
        try:
            reqs = [self.comm.Isend([data, self.MPI.BYTE], dest=r, tag=FAULT_TAG)
                    for r in range(self.size) if r != self.rank]
            deadline = time.monotonic() + grace
            while not self.MPI.Request.Testall(reqs) and time.monotonic() < deadline:
                time.sleep(0.001)
        except self.MPI.Exception:      # a rank already gone: the others learn of it from mpirun
            pass

    def wait(self, reqs, what):
        """Complete ``reqs``, raising DistributedError when another rank
        reports a failure or ``timeout`` seconds pass."""
        MPI = self.MPI
        start = time.monotonic()
        spins = 0
        while not MPI.Request.Testall(reqs):
            self.check()
            elapsed = time.monotonic() - start
            if elapsed > self.timeout:
                raise DistributedError(
                    f"rank {self.rank}: {what} did not complete within {self.timeout:g} s: another rank "
                    "stopped taking part (it died, hangs, or left the training loop early)")
            spins += 1
            if spins > 50:          # a short spin, then sleep: the other ranks may share our cores
                time.sleep(min(0.001, 1e-5 * spins))

    def close(self):
        if self._recv is not None:
            try:
                self._recv.Cancel()
                self._recv.Wait()
            except Exception:  # noqa: BLE001 - finalizing; nothing left to report to
                pass
            self._recv = None


_live = []                   # the channels of the DataParallel objects alive (for the excepthook)
_hook_lock = threading.Lock()
_saved_hook = None


def _excepthook(kind, value, tb):
    """Uncaught exception on a rank: print it, tell the other ranks, abort the job."""
    channels = list(_live)
    if not channels:
        return (_saved_hook or sys.__excepthook__)(kind, value, tb)
    ch = channels[0]
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write(f"[theon.distributed rank {ch.rank}/{ch.size}] {text}")
    sys.stderr.flush()
    if not ch.remote_failure:
        ch.notify(f"{kind.__name__}: {value}")      # (once: a failed step has already sent it)
        time.sleep(0.5)         # let the others report the notice before the job is torn down
    ch.MPI.COMM_WORLD.Abort(1)


def _install_hook(channel):
    global _saved_hook
    with _hook_lock:
        if not _live:
            _saved_hook = sys.excepthook
            sys.excepthook = _excepthook
        _live.append(channel)


def _remove_hook(channel):
    with _hook_lock:
        if channel in _live:
            _live.remove(channel)
        if not _live and sys.excepthook is _excepthook:
            sys.excepthook = _saved_hook or sys.__excepthook__


# --- the data-parallel step ---------------------------------------------------------------
class _Bucket:
    __slots__ = ("dtype", "start", "stop", "req", "gathered")

    def __init__(self, dtype, start, stop):
        self.dtype, self.start, self.stop = dtype, start, stop
        self.req = None
        self.gathered = None


class DataParallel:
    """A compiled training step run data-parallel on the ranks of ``comm``.

    train:          a ``theon.function`` with updates (plain inputs)
    comm:           an mpi4py communicator (default ``MPI.COMM_WORLD``)
    shards:         instead of comm: one process runs this many shards in turn
                    and reduces them as that many ranks would (no MPI needed)
    batch_inputs:   the inputs ``step(...)`` splits along axis 0 (positions,
                    names or variables); default: every input of 1 or more dims
    deterministic:  reduce by gathering and summing in rank order (bit-identical
                    on every rank and run; memory: ranks x gradient size)
    reduce:         "mean" (the gradients of a mean loss) or "sum"
    average_outputs: average 0-d float outputs over the ranks (else each rank's own)
    timeout:        seconds any collective may wait for the other ranks
    bucket_bytes:   size of the buffer slices whose reductions start one by one
    abort_on_error: an uncaught exception on this rank notifies the others and
                    calls MPI_Abort (``sys.excepthook``; until ``close()``)
    startup_timeout: seconds the construction and the first step may wait
                    (ranks compile at different speeds)
    broadcast:      give every rank rank 0's values of the updated shared
                    variables now (``broadcast_parameters``)
    """

    def __init__(self, train, comm=None, *, shards=None, batch_inputs=None, deterministic=False,
                 reduce="mean", average_outputs=True, timeout=DEFAULT_TIMEOUT, bucket_bytes=4 << 20,
                 abort_on_error=True, startup_timeout=300.0, broadcast=True):
        from ..frontend.compiled import CompiledFunction
        if not isinstance(train, CompiledFunction):
            raise TypeError(f"DataParallel: train must be a compiled theon.function with updates (CPU), "
                            f"got {type(train).__name__}")
        if train._state or train._sig.output_keys is not None:
            raise TypeError("DataParallel: train must have plain inputs and a list of outputs "
                            "(no In(update=...) state, no dict outputs)")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"DataParallel: timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(bucket_bytes, int) and bucket_bytes > 0):
            raise ValueError(f"DataParallel: bucket_bytes must be a positive int, got {bucket_bytes!r}")
        self.train = train
        self.deterministic = bool(deterministic)
        self.reduce = reduce
        self.average_outputs = bool(average_outputs)
        self.timeout = float(timeout)
        self._startup_timeout = max(self.timeout, float(startup_timeout))
        self.bucket_bytes = bucket_bytes
        use_mpi = comm is not None or shards is None
        self._channel = None
        if use_mpi and shards is not None:
            raise ValueError("DataParallel: give comm (MPI ranks) or shards (one process), not both")
        if not use_mpi and not (isinstance(shards, int) and not isinstance(shards, bool) and shards >= 1):
            raise ValueError(f"DataParallel: shards must be an int >= 1, got {shards!r}")
        self._build(train, batch_inputs)       # first: ranks may compile at different speeds
        if use_mpi:
            MPI = _mpi()
            self.comm = MPI.COMM_WORLD if comm is None else comm
            self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
            self._channel = _Channel(self.comm, self.timeout, self._startup_timeout)
            if abort_on_error:
                _install_hook(self._channel)
            if broadcast:
                self.broadcast_parameters(0)
        else:
            self.comm, self.rank, self.size = None, 0, shards
        self.steps = 0
        self.stats = {"grad_s": 0.0, "reduce_s": 0.0, "apply_s": 0.0, "steps": 0}
        self._layout = None

    # --- compiling the two parts ----------------------------------------------------------
    def _build(self, train, batch_inputs):
        from ..frontend.compiled import Signature, assemble
        from ..frontend.io import In
        from ..frontend.types import tensor
        func = train.input_ir()
        self.ir_text = print_function(func)
        self.ir_hash = hashlib.blake2b(self.ir_text.encode(), digest_size=16).digest()
        plan = split_step(func, self.reduce)
        self.plan = plan
        mode = train.mode
        inputs = list(train.inputs)
        shared = list(train.shared)

        def compile_part(part, input_vars, part_shared, n_outputs):
            pristine = part.clone()
            n_in = len(input_vars)
            updates = [(part_shared[a.index - n_in], v) for a, v in part.updates]
            sig = Signature(part.name, [In(v, autoname=False) for v in input_vars], n_outputs, False, None,
                            None, False)
            return assemble(sig, part, pristine.clone, input_vars, list(part.outputs), updates, part_shared,
                            mode, None)

        self.grad_fn = compile_part(plan.grad.clone(), inputs, shared, len(plan.grad.outputs))
        grad_vars = [tensor(t.dtype, shape=t.shape, name=f"g{k}") for k, t in enumerate(plan.reduced)]
        n_in = len(inputs)
        apply_shared = [shared[i - n_in] for i in plan.targets]
        self.apply_fn = compile_part(plan.apply.clone(), grad_vars, apply_shared, 0)
        self.shared = shared
        self.parameters = apply_shared           # what the step updates: broadcast and checkpoint these
        self.n_outputs = plan.n_outputs
        self._batch = self._batch_positions(inputs, batch_inputs)
        self._inputs = inputs
        if self.deterministic:
            # bit-reproducible from the first step: the fully optimized code (the quick tier-0
            # code that runs while it compiles in the background may round differently)
            from ..codegen.cpu.driver import tierup
            tierup.wait(self._startup_timeout)

    @staticmethod
    def _batch_positions(inputs, batch_inputs):
        if batch_inputs is None:
            return [k for k, v in enumerate(inputs) if v.type.ndim >= 1]
        out = []
        for item in batch_inputs:
            for k, v in enumerate(inputs):
                if item is v or item == k or (isinstance(item, str) and v.name == item):
                    out.append(k)
                    break
            else:
                names = ", ".join(repr(v.name) for v in inputs)
                raise ValueError(f"DataParallel: batch_inputs entry {item!r} is not an input of the step "
                                 f"(its inputs: {names})")
        return out

    # --- calling ----------------------------------------------------------------------------
    def __call__(self, *args):
        """One step on the global batch ``args``: this rank takes its rows of
        each batch input (axis 0, equal shares)."""
        args = list(args)
        n = None
        for k in self._batch:
            if k >= len(args):
                break
            a = np.asarray(args[k])
            label = repr(self._inputs[k].name) if self._inputs[k].name else f"input {k}"
            if a.ndim == 0:
                raise ValueError(f"DataParallel: batch input {label} is 0-d; it must have a batch axis 0")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ValueError(f"DataParallel: batch input {label} has {a.shape[0]} rows, but the others "
                                 f"have {n}; the batch inputs must agree on axis 0")
            args[k] = a
        if n is not None and n % self.size:
            raise ValueError(f"DataParallel: the global batch has {n} rows, not divisible by the {self.size} "
                             f"{'ranks' if self.comm is not None else 'shards'}; give a multiple of {self.size}")
        if self.comm is None:
            shards = [self._shard(args, n, r) for r in range(self.size)]
            return self._step(shards)
        return self._step([self._shard(args, n, self.rank)])

    def _shard(self, args, n, r):
        out = list(args)
        if n is not None:
            m = n // self.size
            for k in self._batch:
                if k < len(out):
                    out[k] = out[k][r * m:(r + 1) * m]
        return out

    def local(self, *args):
        """One step where ``args`` is this rank's own shard (with comm=None:
        a list of the shards' argument tuples)."""
        if self.comm is None:
            if len(args) != 1 or not isinstance(args[0], (list, tuple)) or len(args[0]) != self.size:
                raise TypeError(f"DataParallel.local without MPI takes one list of {self.size} argument "
                                "tuples, one per shard")
            return self._step([list(a) for a in args[0]])
        return self._step([list(args)])

    def _step(self, shard_args):
        ch = self._channel
        try:
            t0 = time.perf_counter()
            results = [self.grad_fn(*a) for a in shard_args]
            t1 = time.perf_counter()
            if self._layout is None:
                self._layout = self._make_layout(results[0])
                if ch is not None:
                    self._handshake(shard_args[0], results[0])
            outs = self._reduce(results)
            t2 = time.perf_counter()
            self.apply_fn(*self._views)
            t3 = time.perf_counter()
        except DistributedError as e:
            if ch is not None:
                ch.notify(str(e))
            raise
        except Exception as e:
            if ch is not None:
                ch.notify(f"{type(e).__name__} in step {self.steps}: {e}")
            raise
        st = self.stats
        st["grad_s"] += t1 - t0
        st["reduce_s"] += t2 - t1
        st["apply_s"] += t3 - t2
        st["steps"] += 1
        self.steps += 1
        if self.n_outputs == 1:
            return outs[0]
        return outs

    def _reduced_values(self, result):
        n = self.n_outputs
        values = list(result[n:])
        if self.average_outputs:
            values += [result[k] for k in self._avg_outputs]
        return values

    def _make_layout(self, result):
        """One flat buffer per dtype, each value's slice, and the buckets."""
        n = self.n_outputs
        self._avg_outputs = [k for k in range(n) if np.ndim(result[k]) == 0
                             and np.asarray(result[k]).dtype.kind == "f"] if self.average_outputs else []
        values = self._reduced_values(result)
        sizes = {}
        slots = []
        for v in values:
            v = np.asarray(v)
            off = sizes.get(v.dtype, 0)
            slots.append((v.dtype, off, v.size, v.shape))
            sizes[v.dtype] = off + v.size
        self._buffers = {dt: np.empty(size, dt) for dt, size in sizes.items()}
        self._slots = slots
        self._shapes = [s[3] for s in slots]
        views = [self._buffers[dt][off:off + size].reshape(shape) for dt, off, size, shape in slots]
        n_grads = len(result) - n
        self._views = views[:n_grads]
        self._out_views = views[n_grads:]
        buckets = []
        for dt, size in sizes.items():
            step = max(1, self.bucket_bytes // dt.itemsize)
            buckets += [_Bucket(dt, s, min(size, s + step)) for s in range(0, size, step)]
        self._buckets = buckets
        self.fused_bytes = sum(b.nbytes for b in self._buffers.values())
        return slots

    def _signature(self, args, result):
        shapes = [tuple(np.shape(a)) for a in args] + [tuple(np.shape(v)) for v in self._reduced_values(result)]
        dtypes = [str(np.asarray(a).dtype) for a in args]
        desc = f"inputs {shapes[:len(args)]} dtypes {dtypes}; reduced values {shapes[len(args):]}"
        digest = hashlib.blake2b(repr((shapes, dtypes)).encode(), digest_size=16).digest()
        return desc, digest

    def _handshake(self, args, result):
        """First step: every rank runs the same IR with the same shapes."""
        MPI = self._channel.MPI
        desc, digest = self._signature(args, result)
        mine = np.frombuffer(self.ir_hash + digest, np.int64).copy()
        table = np.empty((self.size, mine.size), np.int64)
        ch = self._channel
        ch.timeout, steady = self._startup_timeout, ch.timeout     # ranks may compile at different speeds
        try:
            ch.wait([self.comm.Iallgather([mine, MPI.INT64_T], [table, MPI.INT64_T])],
                    "the first step's check of the function and shapes")
        finally:
            ch.timeout = steady
        same_ir = bool((table[:, :2] == table[0, :2]).all())
        same_shapes = bool((table[:, 2:] == table[0, 2:]).all())
        if same_ir and same_shapes:
            return
        # every rank got here (the gather completed), so the exchange below cannot hang
        info = self.comm.allgather((desc, self.ir_hash.hex()[:16]))
        if not same_ir:
            lines = "; ".join(f"rank {r}: IR hash {h}" for r, (_, h) in enumerate(info))
            raise DistributedError(f"rank {self.rank}: the ranks run different functions (the step's IR "
                                   f"text differs): {lines}. Every rank must build the same theon.function")
        lines = "; ".join(f"rank {r}: {d}" for r, (d, _) in enumerate(info))
        raise DistributedError(f"rank {self.rank}: the ranks disagree on shapes at the first step: {lines}. "
                               "Every rank must pass shards of the same shape")

    def _reduce(self, results):
        """Average the reduced values of ``results`` (one per shard) into the
        fused buffers; the averaged 0-d outputs, or each output as is."""
        first = results[0]
        n = self.n_outputs
        if self.comm is None:
            self._reduce_local(results)
        else:
            self._reduce_mpi(first)
        outs = list(first[:n])
        for k, view in zip(self._avg_outputs, self._out_views):
            outs[k] = view.copy()
        return outs

    def _pack(self, result, buffers):
        for slot, v in zip(self._slots, self._reduced_values(result)):
            self._pack_one(buffers[slot[0]], slot, v)

    def _pack_one(self, buf, slot, v):
        dt, off, size, shape = slot
        v = np.asarray(v)
        if v.shape != shape:
            raise DistributedError(f"rank {self.rank}: a reduced value has shape {v.shape}, but {shape} "
                                   "at the first step; shapes must not change between steps")
        buf[off:off + size] = v.reshape(-1)

    def _finish(self, acc):
        for buf in acc.values():
            if self.reduce == "mean" and self.size > 1:
                np.divide(buf, self.size, out=buf)

    def _reduce_local(self, results):
        """comm=None: sum the shards in order, as the deterministic MPI reduction does."""
        self._pack(results[0], self._buffers)
        if len(results) > 1:
            tmp = {dt: np.empty_like(b) for dt, b in self._buffers.items()}
            for res in results[1:]:
                self._pack(res, tmp)
                for dt, b in self._buffers.items():
                    b += tmp[dt]
        self._finish(self._buffers)

    def _reduce_mpi(self, result):
        MPI = self._channel.MPI
        comm = self.comm
        self._pack_order = getattr(self, "_pack_order", None) or self._bucket_slots()
        values = self._reduced_values(result)
        if self.size == 1:
            self._pack(result, self._buffers)
            return
        # pack bucket by bucket, starting each bucket's reduction as soon as it is filled
        for b, slot_ids in zip(self._buckets, self._pack_order):
            buf = self._buffers[b.dtype]
            for j in slot_ids:
                self._pack_one(buf, self._slots[j], values[j])
            part = buf[b.start:b.stop]
            mpitype = _mpi_type(b.dtype)
            if self.deterministic:
                b.gathered = np.empty((self.size, part.size), b.dtype)
                b.req = comm.Iallgather([part, mpitype], [b.gathered, mpitype])
            else:
                b.req = comm.Iallreduce(MPI.IN_PLACE, [part, mpitype], op=MPI.SUM)
        self._channel.wait([b.req for b in self._buckets], f"the gradient allreduce of step {self.steps}")
        if self.deterministic:
            for b in self._buckets:
                part = self._buffers[b.dtype][b.start:b.stop]
                part[...] = b.gathered[0]
                for r in range(1, self.size):
                    part += b.gathered[r]
                b.gathered = None
        self._finish(self._buffers)

    def _bucket_slots(self):
        """Per bucket, the slots whose packing completes it (in buffer order)."""
        order, done = [], set()
        for b in self._buckets:
            ids = [j for j, (dt, off, size, _) in enumerate(self._slots)
                   if dt == b.dtype and j not in done and off < b.stop]
            done.update(ids)
            order.append(ids)
        return order

    # --- parameters ---------------------------------------------------------------------------
    def _variables(self, variables):
        return list(self.parameters if variables is None else variables)

    def broadcast_parameters(self, root=0, variables=None):
        """Give every rank ``root``'s values of the shared variables the step
        updates (or of ``variables``)."""
        if self.comm is None:
            return
        MPI = self._channel.MPI
        for var in self._variables(variables):
            value = np.ascontiguousarray(var.get_value(borrow=False))
            meta = np.array([value.ndim, *value.shape, *([0] * (32 - value.ndim))][:33], np.int64)
            self._channel.wait([self.comm.Ibcast([meta, MPI.INT64_T], root=root)],
                               f"the broadcast of {var.name!r}'s shape")
            shape = tuple(int(d) for d in meta[1:1 + int(meta[0])])
            if shape != value.shape:
                raise DistributedError(f"rank {self.rank}: shared variable {var.name!r} has shape {value.shape} "
                                       f"here but {shape} on rank {root}")
            self._channel.wait([self.comm.Ibcast([value, _mpi_type(value.dtype)], root=root)],
                               f"the broadcast of {var.name!r}")
            var.set_value(value, borrow=True)

    def _keys(self, variables):
        keys = []
        for k, var in enumerate(variables):
            key = var.name or f"shared{k}"
            if key in keys:
                key = f"{key}#{k}"
            keys.append(key)
        return keys

    def save(self, path, variables=None):
        """Checkpoint: rank 0 writes the shared variables (and the step count)
        to ``path`` (.npz, written to a temporary file, then renamed); every
        rank returns once the file is complete."""
        variables = self._variables(variables)
        if self.rank == 0:
            arrays = dict(zip(self._keys(variables), (v.get_value(borrow=True) for v in variables)))
            arrays["__theon_steps__"] = np.array(self.steps, np.int64)
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        self._barrier("the checkpoint barrier")

    def load(self, path, variables=None):
        """Restore a checkpoint written by ``save``: rank 0 reads it and
        broadcasts it, so the file needs to exist on rank 0 only."""
        variables = self._variables(variables)
        error = None
        if self.rank == 0:
            try:
                with np.load(path) as data:
                    for key, var in zip(self._keys(variables), variables):
                        if key not in data:
                            raise KeyError(f"checkpoint {path} has no variable {key!r} "
                                           f"(it has {sorted(data.files)})")
                        arr = data[key]
                        old = var.get_value(borrow=True)
                        if arr.shape != old.shape or arr.dtype != old.dtype:
                            raise ValueError(f"checkpoint {path}: {key!r} is {arr.dtype}{list(arr.shape)} "
                                             f"but the variable is {old.dtype}{list(old.shape)}")
                        var.set_value(arr)
                    self.steps = int(data["__theon_steps__"]) if "__theon_steps__" in data else self.steps
            except (OSError, KeyError, ValueError) as e:
                error = e
        if self.comm is not None:
            flag = np.array([0 if error is None else 1], np.int64)
            MPI = self._channel.MPI
            self._channel.wait([self.comm.Ibcast([flag, MPI.INT64_T], root=0)], "the checkpoint load")
            if flag[0]:
                if error is not None:
                    raise error
                raise DistributedError(f"rank {self.rank}: rank 0 could not read checkpoint {path}")
            self.broadcast_parameters(0, variables)
            steps = np.array([self.steps], np.int64)
            self._channel.wait([self.comm.Ibcast([steps, MPI.INT64_T], root=0)], "the checkpoint load")
            self.steps = int(steps[0])
        elif error is not None:
            raise error

    def _barrier(self, what):
        if self.comm is not None and self.size > 1:
            self._channel.wait([self.comm.Ibarrier()], what)

    def close(self):
        """Release the failure channel and the exception hook (also at exit)."""
        if self._channel is not None:
            _remove_hook(self._channel)
            self._channel.close()
            self._channel = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
