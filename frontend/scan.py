"""``theon.scan`` and its helpers ``map``, ``reduce``, ``foldl``, ``foldr``
(Theano 1.0's ``theano.scan`` interface) and ``until`` for while-loops.

The step function is called once, on placeholder variables: one per tap of
every sequence (a row), per tap of every output with an initial state (a
row), then the non-sequences themselves. What it returns is traced into
the isolated body of one ``scan`` op (``ir/ops/control.py``) by
``outline``: the ops that depend on a placeholder are the body; every other
value it reads -- non-sequences, inputs, shared variables, and expressions
of them (loop invariants, computed once before the loop) -- becomes a
non-sequence operand.

Shared-variable updates the step function returns (a dict or a list of
pairs) are applied once per step: each updated shared variable is one more
recurrent state of the loop (tap -1, started at its value), and the
``updates`` scan returns map it to its value after the last step, to pass
to ``theon.function(updates=...)``. A random draw inside the step function
is such an update too (its stream state, advanced once per step:
``frontend/random.py`` ``recording_draws``), so each step draws new numbers.
"""
import numbers
from collections import OrderedDict

import numpy as np

from ..ir.core import Operation
from ..ir.dialect import get_op
from ..ir.ops.control import ancestors, outline, seq_window
from .basic import as_tensor_variable, cast, constant, static_int
from .debug import built
from .elemwise import maximum, minimum
from .ifelse import ifelse
from .random import carried_by_loop, loop_carried, recording_draws
from .variable import TensorVariable


class until:  # noqa: N801 - Theano's name
    """``return outputs, until(condition)`` from a step function: the loop
    stops after the first step whose ``condition`` (a scalar) is true."""

    def __init__(self, condition):
        c = as_tensor_variable(condition)
        if c.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {c.type}")
        if c.dtype != "bool":
            if not c.dtype.startswith(("int", "uint")):
                raise TypeError(f"until: the condition must be a boolean (or integer) scalar, got {c.type}")
            c = cast(c, "bool")
        self.condition = c


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _check_taps(taps, what, negative):
    if isinstance(taps, int) and not isinstance(taps, bool):
        taps = [taps]
    if not isinstance(taps, (list, tuple)) or not taps:
        raise TypeError(f"scan: {what} taps must be a non-empty list of ints, got {taps!r}")
    if any(isinstance(k, bool) or not isinstance(k, numbers.Integral) for k in taps):
        raise TypeError(f"scan: {what} taps must be ints, got {list(taps)!r}")
    out = [int(k) for k in taps]
    if len(set(out)) != len(out):
        raise ValueError(f"scan: {what} lists a tap twice: {out}")
    if negative and any(k >= 0 for k in out):
        raise ValueError(f"scan: {what} taps must be negative (-1: the previous step), got {out}")
    return tuple(out)


def _sequences(sequences):
    out = []
    for i, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            if "input" not in s:
                raise ValueError(f"scan: sequences[{i}] is a dict without 'input'")
            x, taps = s["input"], s.get("taps", [0])
            taps = [0] if taps is None else taps
        else:
            x, taps = s, [0]
        x = as_tensor_variable(x)
        if x.ndim < 1:
            raise TypeError(f"scan: sequences[{i}] must have at least one dim to iterate over, got {x.type}")
        out.append((x, _check_taps(taps, f"sequences[{i}]", negative=False)))
    return out


def _outputs_info(outputs_info):
    """Per given entry: None (no recurrence) or (initial state with a
    leading dim of its taps, taps, row placeholder type)."""
    out = []
    for j, o in enumerate(_as_list(outputs_info)):
        if isinstance(o, dict):
            init = o.get("initial")
            if init is None:
                if o.get("taps"):
                    raise ValueError(f"scan: outputs_info[{j}] has taps but no initial state")
                out.append(None)
                continue
            taps = _check_taps(o.get("taps", [-1]), f"outputs_info[{j}]", negative=True)
        elif o is None:
            out.append(None)
            continue
        else:
            init, taps = o, (-1,)
        init = as_tensor_variable(init)
        if taps == (-1,):       # Theano: the initial state is the previous row itself
            state = init.dimshuffle(["x"] + list(range(init.ndim)))   # one row: the state itself
            row = init.type
        else:
            if init.ndim < 1:
                raise TypeError(f"scan: outputs_info[{j}] with taps {list(taps)} needs an initial state with a "
                                f"leading dim of at least {-min(taps)} rows, got {init.type}")
            state, row = init, init.type.with_shape(init.type.shape[1:])
        out.append((state, taps, row))
    return out


def _parse_return(ret):
    """(outputs list, updates, until condition or None) from what the step function returned."""
    cond, updates, outputs = None, [], []

    def take(x):
        nonlocal cond
        if isinstance(x, until):
            if cond is not None:
                raise ValueError("scan: the step function returned until twice")
            cond = x.condition
        elif isinstance(x, dict):
            updates.extend(x.items())
        elif isinstance(x, (list, tuple)) and x and all(isinstance(p, tuple) and len(p) == 2 and
                                                          getattr(p[0], "is_shared", False) for p in x):
            updates.extend(x)
        elif isinstance(x, (list, tuple)):
            outputs.extend(x)
        else:
            outputs.append(x)

    if isinstance(ret, (list, tuple)) and any(isinstance(x, (until, dict, list, tuple)) for x in ret):
        for x in ret:
            take(x)
    else:
        take(ret)
    return outputs, updates, cond


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None, truncate_gradient=-1,
         go_backwards=False, mode=None, name=None, profile=False, strict=False, return_list=False):
    """Theano's scan: calls ``fn(sequence taps..., output taps..., non_sequences...)``
    per step; returns ``(outputs, updates)``: each output stacks its value at
    every step (one variable, or a list when there are several or
    ``return_list``); ``updates`` is an empty OrderedDict (updates inside the
    body are not supported yet). ``mode`` and ``profile`` are accepted and
    ignored (the function's mode compiles the loop)."""
    if not callable(fn):
        raise TypeError(f"scan: fn must be callable, got {fn!r}")
    if not (isinstance(truncate_gradient, int) and not isinstance(truncate_gradient, bool)) or \
            truncate_gradient == 0 or truncate_gradient < -1:
        raise ValueError(f"scan: truncate_gradient must be -1 (no truncation) or a positive int, "
                         f"got {truncate_gradient!r}")
    seqs = _sequences(sequences)
    infos = _outputs_info(outputs_info)
    nonseqs = [as_tensor_variable(v) for v in _as_list(non_sequences)]

    seq_ph, out_ph = [], []
    for x, taps in seqs:
        row = x.type.with_shape(x.type.shape[1:])
        for k in taps:
            seq_ph.append(row(f"{x.name}[t{k:+d}]" if x.name else None))
    for info in infos:
        if info is not None:
            state, taps, row = info
            out_ph.extend(row(f"{name or 'out'}[t{k:+d}]") for k in taps)
    # non-sequences are given as themselves (as Theano does), so the step
    # function may differentiate them with respect to each other (theon.grad
    # of y[i] with respect to x, y an expression of x: the tutorial's jacobian)
    with recording_draws() as drawn:
        ret = fn(*(seq_ph + out_ph + nonseqs))
    outputs, updates, cond = _parse_return(ret)
    updates = list(updates) + loop_carried(drawn, {s for s, _ in updates})  # random states: one step each
    targets, new_values = _updates(updates)
    outputs = [as_tensor_variable(v) for v in outputs]
    if outputs_info is None or (not isinstance(outputs_info, (list, tuple)) and infos == [None]):
        infos = [None] * len(outputs)
    if len(infos) != len(outputs):
        raise ValueError(f"scan: the step function returns {len(outputs)} outputs but outputs_info has "
                         f"{len(infos)} entries: give one entry (None for an output without an initial "
                         "state) per output")
    for j, (y, info) in enumerate(zip(outputs, infos)):
        if info is not None:
            row = info[2]
            if y.dtype != row.dtype or y.ndim != row.ndim:
                raise TypeError(f"scan: output {j} of the step function is {y.type} but its initial state "
                                f"(outputs_info[{j}]) has rows of type {row}: the dtype and ndim must agree "
                                "(cast the initial state or the output)")

    # an updated shared variable is one more recurrent state (tap -1, started
    # at its value): the body reads it as a block argument, yields its update
    placeholders = seq_ph + out_ph + targets
    ph_set = set(placeholders)
    n_user = len(outputs)
    outputs = outputs + new_values
    infos = infos + [(s.dimshuffle(["x"] + list(range(s.ndim))), (-1,), s.type) for s in targets]
    roots = outputs + ([cond] if cond is not None else [])
    body_vals = ancestors(roots, lambda v: v in ph_set)
    varying = set(ph_set)
    for v in body_vals:
        if v.owner is not None and any(o in varying for o in v.owner.operands):
            varying.add(v)
    block, captured = outline(outputs, placeholders, outside=lambda v: v not in varying,
                              extra=[cond] if cond is not None else [])
    if strict:
        given = set(nonseqs)
        leaves = ancestors(captured, lambda v: v in given)
        missing = [v for v in leaves if v.owner is None and v not in given]
        if missing:
            names = ", ".join(repr(v.name) if v.name else str(v.type) for v in missing)
            raise ValueError(f"scan (strict=True): the step function uses {names} without getting them as "
                             "non_sequences")

    steps = _n_steps(n_steps, seqs, unbounded=cond is not None)
    inits = [info[0] for info in infos if info is not None]
    attrs = {"seq_taps": tuple(t for _, t in seqs),
             "out_taps": tuple(() if info is None else info[1] for info in infos),
             "go_backwards": bool(go_backwards), "until": cond is not None,
             "truncate_gradient": truncate_gradient}
    if name is not None:
        attrs["name"] = str(name)
    op = Operation(get_op("scan"), [steps] + [x for x, _ in seqs] + inits + captured, attrs,
                   regions=[block], value_cls=TensorVariable)
    built(op)
    results = list(op.results)
    if name is not None:
        for v in results:
            v.name = name
    results, states = results[:n_user], results[n_user:]
    updates = OrderedDict()
    for s, rows in zip(targets, states):     # its value after the last step (unchanged after none)
        updates[s] = ifelse(rows.shape[0] > 0, rows[-1], s)
    carried_by_loop(drawn, updates)
    if len(results) == 1 and not return_list:
        return results[0], updates
    return results, updates


def _updates(updates):
    """(shared variables, their new values) from the step function's updates."""
    targets, values = [], []
    for s, u in updates:
        if not getattr(s, "is_shared", False):
            raise TypeError(f"scan: the step function returned an update of {s!r}, which is not a shared variable")
        if s in targets:
            raise ValueError(f"scan: the step function updates shared variable {s.name!r} twice")
        u = as_tensor_variable(u)
        if u.dtype != s.dtype or u.ndim != s.ndim or not all(
                a is None or b is None or a == b for a, b in zip(s.type.shape, u.type.shape)):
            raise TypeError(f"scan: the update of shared variable {s.name!r} ({s.type}) has type {u.type}: "
                            "dtype, ndim and static shape must agree (cast the update)")
        targets.append(s)
        values.append(u)
    return targets, values


def _n_steps(n_steps, seqs, unbounded=False):
    if n_steps is not None:
        n = as_tensor_variable(n_steps)
        if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
            raise TypeError(f"scan: n_steps must be an integer scalar, got {n.type}")
        known = static_int(n)
        if known is not None and known < 0:
            raise ValueError(f"scan: n_steps is {known}; it must be >= 0")
        return cast(n, "int64")
    if not seqs:
        if unbounded:       # a while loop: until alone stops it (Theano runs it unbounded too)
            return constant(np.iinfo(np.int64).max, dtype="int64")
        raise ValueError("scan: give at least one sequence or n_steps (the number of steps is unknown), or "
                         "return an until condition")
    steps = None
    for x, taps in seqs:
        lo, hi = seq_window(taps)
        length = x.shape[0] if x.type.shape[0] is None else constant(x.type.shape[0], dtype="int64")
        rows = length - (hi - lo) if hi - lo else length
        steps = rows if steps is None else minimum(steps, rows)
    # a sequence shorter than its taps need: 0 steps here, so that the op's
    # length check names the sequence (not a negative n_steps)
    return cast(maximum(steps, 0), "int64")


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False, mode=None,  # noqa: A001
        name=None):
    """``fn`` applied to each row of the sequences: scan without recurrence."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode, name=name)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None, name=None):  # noqa: A001
    """The last step of scan: each output's final value."""
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info, non_sequences=non_sequences,
                         go_backwards=go_backwards, mode=mode, name=name)
    if isinstance(outs, list):
        return [o[-1] for o in outs], updates
    return outs[-1], updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the first row to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode, name=name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the last row to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode, name=name)


def scan_checkpoints(fn, sequences=None, outputs_info=None, non_sequences=None, name="checkpointscan_fn",
                     n_steps=None, save_every_N=10, padding=True):  # noqa: N803 - Theano's name
    """Theano's memory-saving scan: the steps run in chunks of
    ``save_every_N``, an outer scan over the chunks and an inner scan over
    each chunk's steps, so the states kept for the gradient are one per
    chunk (the gradient recomputes each chunk's steps). Returns, per output,
    its value at the last step of every chunk (``[-1]`` is the final one).
    As in Theano: outputs without taps or with the default tap -1 only, all
    sequences of the length of the loop, the sequences padded with zeros to
    whole chunks (``padding=False``: their length must be a multiple)."""
    from .shape_ops import arange, concatenate, zeros
    if not (isinstance(save_every_N, int) and not isinstance(save_every_N, bool)) or save_every_N < 1:
        raise ValueError(f"scan_checkpoints: save_every_N must be a positive int, got {save_every_N!r}")
    seqs = [as_tensor_variable(s) for s in _as_list(sequences)]
    for i, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            raise TypeError(f"scan_checkpoints: sequences[{i}] has taps; scan_checkpoints takes plain sequences")
    infos = _as_list(outputs_info)
    for j, o in enumerate(infos):
        if isinstance(o, dict) and o.get("taps", [-1]) not in ([-1], (-1,)):
            raise TypeError(f"scan_checkpoints: outputs_info[{j}] has taps {o['taps']}; only the previous step "
                            "(tap -1) is supported")
    infos = [o["initial"] if isinstance(o, dict) else o for o in infos]
    nonseqs = [as_tensor_variable(v) for v in _as_list(non_sequences)]
    if n_steps is None:
        if not seqs:
            raise ValueError("scan_checkpoints: give at least one sequence or n_steps")
        n_steps = seqs[0].shape[0]
    n = cast(as_tensor_variable(n_steps), "int64")
    size = save_every_N
    chunks = (n + (size - 1)) // size
    inner_steps = minimum(n - arange(chunks, dtype="int64") * size, size)     # the last chunk may be short
    chunked = []
    for s in seqs:
        if padding:
            pad = (-s.shape[0]) % size
            s = concatenate([s, zeros([pad] + [s.shape[k] for k in range(1, s.ndim)], dtype=s.dtype)])
        chunked.append(s.reshape([s.shape[0] // size, size] + [s.shape[k] for k in range(1, s.ndim)],
                                 ndim=s.ndim + 1))
    n_rec = sum(1 for o in infos if o is not None)

    def outer_step(*args):
        rows, steps = list(args[:len(chunked)]), args[len(chunked)]
        prev = list(args[len(chunked) + 1:len(chunked) + 1 + n_rec])
        it = iter(prev)
        inner_infos = [None if o is None else next(it) for o in infos]
        results, _ = scan(fn, sequences=rows, outputs_info=inner_infos, non_sequences=nonseqs, n_steps=steps,
                          name=f"{name}_inner", return_list=True)
        return [r[-1] for r in results]

    return scan(outer_step, sequences=chunked + [inner_steps], outputs_info=infos, n_steps=chunks,
                name=f"{name}_outer")
