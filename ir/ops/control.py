"""Control flow: ``ifelse`` (a lazy two-way branch) and ``scan`` (a loop).

Both are region ops (ARCHITECTURE.md "Regions"): their bodies are isolated
from above, so whatever a body needs from outside is an operand, passed in
as a block argument. Both end their regions with ``yield``.

ifelse::

    %r0, %r1 = ifelse(%c, %a, %b, %x) ({
      ^bb(%a1: tensor<?xf64>, %b1: tensor<?xf64>):
        %0 = add(%a1, %b1) : tensor<?xf64>
        yield(%0, %a1)
    }, {
      ^bb(%x1: tensor<?xf64>):
        %0 = neg(%x1) : tensor<?xf64>
        yield(%0, %0)
    }) {n_then = 2} : tensor<?xf64>, tensor<?xf64>

``%c`` is a 0-d bool; operands ``1 .. n_then`` are the block arguments of
region 0 (run when ``%c`` is true), the rest those of region 1 (run when
it is false). Only the chosen region runs. Both regions yield values of
the same dtypes and ndims; a result's static dim is kept where both agree.

scan::

    %h = scan(%n, %x, %h0, %w) ({
      ^bb(%x_t: tensor<3xf64>, %h_tm1: tensor<3xf64>, %w1: tensor<3x3xf64>):
        ...
        yield(%h_t)
    }) {seq_taps = [[0]], out_taps = [[-1]], go_backwards = false, until = false,
        truncate_gradient = -1} : tensor<?x3xf64>

Operands: ``%n`` (0-d int64, the number of steps), one per sequence, one
*initial state* per recurrent output (an output whose ``out_taps`` entry
is not empty), then the non-sequences. Sequence ``i`` with taps ``T``
(ints, Theano's convention) is read, at step ``t``, at rows ``t + k - lo``
for each tap ``k`` (``lo = min(T + [0])``, ``hi = max(T + [0])``; with
``go_backwards`` the sequence is read reversed), so it needs at least
``n + hi - lo`` rows. A recurrent output with taps ``T`` (all negative)
has depth ``d = -min(T)``; its initial state has at least ``d`` rows, and at
step ``t`` tap ``k`` reads the output of step ``t + k``, or row
``d + t + k`` of the initial state when ``t + k < 0``.

The body's block arguments are, in order: every tap of every sequence (one
row of it), every tap of every recurrent output (one row), every
non-sequence. It yields one value per output, then, with ``until``, a 0-d
bool: when true the loop stops after that step (``scan`` with until and
neither sequences nor n_steps gives ``%n`` = INT64_MAX: a while loop). Result ``j`` stacks the
``j``-th yielded value of every step run, shape ``(steps, *row)``. A
recurrent output yields values of its initial state's row type. With zero
steps a result has 0 rows and the row shape of its state, or, for an
output without taps, the row shape the body's output-shape rules give
(``body_dims``; a dim they cannot tell, e.g. one set by a value, is 0).

``truncate_gradient`` (-1: all steps) bounds how many steps back the
gradient flows (Theano's meaning). ``name`` (optional) labels the loop.

``last_rows`` (optional, one int per output; 0 or absent: every row) makes
result ``j`` only the last ``min(last_rows[j], steps)`` rows, in order: the
loop keeps ``max(last_rows[j], depth)`` rows of that output, used
circularly (row ``t`` at ``t mod`` that). Set by ``passes/scan_ring.py``
when nothing after the loop reads more than those rows; a loop with it has
no gradient (the pass runs after autodiff).

Made by ``theon.ifelse.ifelse`` and ``theon.scan`` (``frontend/ifelse.py``,
``frontend/scan.py``, which trace the user's function into a body with
``outline``); lowered on the CPU by ``codegen/cpu/lower/control.py``.
"""
import numpy as np

from ..core import Block, Operation, Value, ancestors
from ..opdef import OpDef, const_int
from ..types import TensorType, is_float


# --- building bodies --------------------------------------------------------------------------
def _dialect_op(name):
    from ..dialect import get_op
    return get_op(name)


def outline(outputs, args, outside=lambda v: False, extra=()):
    """An isolated region block computing ``outputs`` from ``args``.

    ``args`` are free values (placeholders) that become the first block
    arguments. The ops ``outputs`` depend on are cloned into the block,
    except that a value with no owner (an input, a shared variable) and a
    value for which ``outside(v)`` holds are *captured*: they become
    further block arguments. 0-d and small constants are cloned in.
    The block ends with ``yield(outputs..., extra...)``.
    Returns (block, captured outer values, in block-argument order)."""
    args = list(args)
    arg_set = set(args)
    roots = list(outputs) + list(extra)

    def constant(v):
        return v.owner is not None and v.owner.name == "constant"

    def captured(v):
        return v not in arg_set and not constant(v) and (v.owner is None or outside(v))

    order = ancestors(roots, lambda v: v in arg_set or captured(v))
    capture = [v for v in order if captured(v)]
    block = Block([a.type for a in args] + [v.type for v in capture],
                  [a.name for a in args] + [v.name for v in capture])
    env = dict(zip(args + capture, block.args))
    for v in order:
        if v in env:
            continue
        op = v.owner
        new = op.clone({o: env[o] for o in op.operands}, value_cls=Value)
        block.append(new)
        env.update(zip(op.results, new.results))
    block.append(Operation(_dialect_op("yield"), [env[v] for v in roots], {}))
    return block, capture


def inline(block, values, value_cls=Value, env=None):
    """Clone ``block``'s ops as floating ops (results of ``value_cls``) on
    ``values`` (one per block argument); returns the values its terminator
    yields. ``env`` (optional dict) receives every block value's clone."""
    env = {} if env is None else env
    env.update(zip(block.args, values))
    for op in block.ops[:-1]:
        new = op.clone({o: env.get(o, o) for o in op.operands}, value_cls=value_cls)
        new.parent = None
        env.update(zip(op.results, new.results))
    return [env.get(v, v) for v in block.ops[-1].operands]


def add_block_args(block, values):
    """New last block arguments of ``block``, one per value (its type and name)."""
    new = [Value(v.type, None, len(block.args) + i, v.name) for i, v in enumerate(values)]
    block.args.extend(new)
    return new


def _moved(op, operands, attrs):
    """A new floating op of ``op``'s kind on ``operands`` that takes over
    ``op``'s regions, result types and location."""
    regions, op.regions = op.regions, []
    new = Operation(op.opdef, operands, attrs, [r.type for r in op.results], regions,
                    type(op.results[0]) if op.results else Value, [r.name for r in op.results])
    new.loc = op.loc
    return new


class RowDims:
    """The dim algebra (``OpDef.dims``) that ``body_dims`` walks a body with:
    a dim is a known size (an int, or whatever ``const`` makes of one: an
    LLVM value in native code) or None; ``pair(a, b)`` broadcasts two known
    sizes (in native code a select)."""

    def __init__(self, env, pair=None, const=lambda d: d):
        self.env, self.const = env, const
        self.pair = pair or (lambda a, b: b if a == 1 else a)

    def of(self, v):
        return self.env[v]

    def size(self, v):
        return None

    def fresh(self, k):
        return None

    def broadcast(self, *dim_lists):
        nd = max((len(d) for d in dim_lists), default=0)
        padded = [[self.const(1)] * (nd - len(d)) + list(d) for d in dim_lists]
        out = []
        for axis in range(nd):
            acc = padded[0][axis]
            for p in padded[1:]:
                b = p[axis]
                acc = None if acc is None or b is None else self.pair(acc, b)
            out.append(acc)
        return tuple(out)


def body_dims(block, arg_dims, algebra):
    """The dims of the values ``block`` yields, from its arguments' dims
    (``arg_dims``, one list per block argument), through every op's
    output-shape rule and static type: what a loop's rows would be without
    running a step (zero steps). Unknown dims are None."""
    env = algebra.env
    env.update(zip(block.args, [tuple(d) for d in arg_dims]))
    for op in block.ops[:-1]:
        try:
            got = op.opdef.dims(op, algebra)
        except Exception:  # noqa: BLE001 - an op this walk cannot follow: its dims are unknown
            got = None
        for k, r in enumerate(op.results):
            rule = list(got[k]) if got is not None and len(got[k]) == r.ndim else [None] * r.ndim
            env[r] = tuple(algebra.const(t) if t is not None else
                           (algebra.const(d) if isinstance(d, int) else d) for t, d in zip(r.type.shape, rule))
    return [env[v] for v in block.ops[-1].operands]


def _zeros_like(e, x, batch_from=None, nb=0):
    dims = (e.batch_dims(batch_from, nb) if nb else []) + e.dims(x)
    return e.zeros(dims, x.dtype)


def _join(a, b):
    return tuple(x if x == y else None for x, y in zip(a, b))


# --- ifelse ----------------------------------------------------------------------------------
class IfElse(OpDef):
    """ifelse(cond, then operands..., else operands...) {n_then}: the values
    region 0 yields when cond is true, else those of region 1; only that
    region runs."""
    name = "ifelse"
    num_operands = None
    num_results = None
    num_regions = 2
    terminator = "yield"
    required_attrs = ("n_then",)
    has_grad = True

    def _split(self, op):
        n = op.attrs.get("n_then")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(op.operands) - 1:
            raise ValueError(f"ifelse: n_then must be an int in [0, {len(op.operands) - 1}], got {n!r}")
        return op.operands[1:1 + n], op.operands[1 + n:]

    def region_arg_types(self, op, k):
        return [v.type for v in self._split(op)[k]]

    # --- passing outer values in (passes/region_reuse.py) ----------------------------------
    def region_operands(self, op, k):
        """Per block argument of region ``k``, the operand it receives."""
        return list(self._split(op)[k])

    def with_region_operands(self, op, k, values):
        """A new op like ``op`` (its regions moved to it) that passes
        ``values`` into region ``k`` as new last block arguments; returns
        (the new op, the new block arguments)."""
        then_ops, else_ops = (list(x) for x in self._split(op))
        if k == 0:
            then_ops += values
        else:
            else_ops += values
        args = add_block_args(op.regions[k], values)
        return _moved(op, [op.operands[0]] + then_ops + else_ops, {**op.attrs, "n_then": len(then_ops)}), args

    def infer(self, op):
        self.check_arity(op)
        if not op.operands:
            raise ValueError("ifelse: needs a condition operand")
        c = op.operands[0].type
        if c.ndim != 0 or c.dtype != "bool":
            raise TypeError(f"ifelse: the condition must be a 0-d bool, got {c}")
        self._split(op)
        if len(op.regions) != 2 or any(not r.ops or r.ops[-1].name != "yield" for r in op.regions):
            raise ValueError("ifelse: needs two regions, each ending with yield")
        then, other = (r.ops[-1].operands for r in op.regions)
        if len(then) != len(other):
            raise ValueError(f"ifelse: the branches yield {len(then)} and {len(other)} values")
        out = []
        for k, (a, b) in enumerate(zip(then, other)):
            if a.type.dtype != b.type.dtype or a.type.ndim != b.type.ndim:
                raise TypeError(f"ifelse: output {k} is {a.type} in the then branch but {b.type} in the "
                                "else branch: dtype and ndim must agree")
            out.append(TensorType(a.type.dtype, _join(a.type.shape, b.type.shape)))
        return out

    def dims(self, op, shapes):
        return None if op.results else []

    def value_operands(self, op):
        """The result shapes are those of the branch the condition's value
        picks, computed from its operands' values."""
        return op.operands

    def reference(self, op, cond, *args):
        n = op.attrs["n_then"]
        from ..interpreter import run_region
        if bool(cond):
            return run_region(op.regions[0], args[:n])
        return run_region(op.regions[1], args[n:])

    def grad(self, op, grads):
        """ifelse(c, grads of the then branch, zeros) for the then operands
        and ifelse(c, zeros, grads of the else branch) for the else operands,
        as one ifelse: only the taken branch's vjp runs."""
        from ..autodiff import ZERO, backprop, emitter
        e = emitter(op)
        cls = e.value_cls
        nb = grads[0].ndim - op.results[0].ndim
        then_ops, else_ops = self._split(op)
        gs = list(grads)

        def branch(k):
            block = op.regions[k]
            mine = list((then_ops, else_ops)[k])
            others = list((else_ops, then_ops)[k])
            p_mine = [Value(v.type, name=v.name) for v in mine]
            p_other = [Value(v.type, name=v.name) for v in others]
            p_g = [Value(g.type, name="g") for g in gs]
            outs = inline(block, p_mine, cls)
            seeds = [(o, g) for o, g in zip(outs, p_g) if is_float(o.dtype)]
            got = backprop(seeds, p_mine, value_cls=cls) if seeds else [None] * len(p_mine)
            mine_g = []
            for x, g in zip(p_mine, got):
                if not is_float(x.dtype):
                    continue
                mine_g.append(g if isinstance(g, Value) else _zeros_like(e, x, p_g[0], nb))
            other_g = [_zeros_like(e, x, p_g[0], nb) for x in p_other if is_float(x.dtype)]
            res = mine_g + other_g if k == 0 else other_g + mine_g
            args = (p_mine + p_other if k == 0 else p_other + p_mine) + p_g
            body, capture = outline(res, args)
            if capture:
                raise RuntimeError("ifelse grad: the branch gradient reads values from outside")
            return body

        regions = [branch(0), branch(1)]
        shared = list(then_ops) + list(else_ops) + gs      # both regions take them all
        new = Operation(op.opdef, [op.operands[0]] + shared + shared, {"n_then": len(shared)},
                        regions=regions, value_cls=cls)
        it = iter(new.results)
        out = [None]
        for v in list(then_ops) + list(else_ops):
            out.append(next(it) if is_float(v.dtype) else ZERO)
        return out


# --- scan ------------------------------------------------------------------------------------
def _taps(value, what, negative=False, allow_empty=False):
    if not isinstance(value, tuple):
        raise TypeError(f"scan: {what} must be a list of lists of ints, got {value!r}")
    out = []
    for i, taps in enumerate(value):
        if not isinstance(taps, tuple) or not all(isinstance(k, int) and not isinstance(k, bool) for k in taps):
            raise TypeError(f"scan: {what}[{i}] must be a list of ints, got {taps!r}")
        if not taps and not allow_empty:
            raise ValueError(f"scan: {what}[{i}] is empty")
        if len(set(taps)) != len(taps):
            raise ValueError(f"scan: {what}[{i}] lists a tap twice: {list(taps)}")
        if negative and any(k >= 0 for k in taps):
            raise ValueError(f"scan: {what}[{i}] = {list(taps)}: output taps must be negative (-1 is the "
                             "previous step)")
        out.append(taps)
    return out


def seq_window(taps):
    """(lo, hi) of a sequence's taps: it needs ``n + hi - lo`` rows."""
    return min(min(taps), 0), max(max(taps), 0)


class ScanLayout:
    """Where a scan op's operands, block arguments and yields are."""

    def __init__(self, op):
        a = op.attrs
        self.seq_taps = _taps(a.get("seq_taps"), "seq_taps")
        self.out_taps = _taps(a.get("out_taps"), "out_taps", negative=True, allow_empty=True)
        self.until = a.get("until", False)
        self.n_seqs = len(self.seq_taps)
        self.recurrent = [j for j, t in enumerate(self.out_taps) if t]
        self.n_outs = len(self.out_taps)
        last = a.get("last_rows")
        if last is None:
            last = (0,) * self.n_outs
        if not isinstance(last, tuple) or len(last) != self.n_outs or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in last):
            raise ValueError(f"scan: last_rows must list one int >= 0 per output ({self.n_outs}), got {last!r}")
        self.last_rows = last
        ops = op.operands
        first_init = 1 + self.n_seqs
        first_nonseq = first_init + len(self.recurrent)
        if len(ops) < first_nonseq:
            raise ValueError(f"scan: needs n_steps, {self.n_seqs} sequences and {len(self.recurrent)} initial "
                             f"states as operands, got {len(ops)} operands")
        self.n_steps = ops[0]
        self.seqs = ops[1:first_init]
        self.inits = dict(zip(self.recurrent, ops[first_init:first_nonseq]))     # output index -> state
        self.nonseqs = ops[first_nonseq:]
        self.first_init, self.first_nonseq = first_init, first_nonseq

    def depth(self, j):
        return -min(self.out_taps[j])

    def ring(self, j):
        """The rows output ``j``'s buffer keeps (used circularly), or None
        when it keeps every step's row."""
        k = self.last_rows[j]
        if not k:
            return None
        return max(k, self.depth(j)) if self.out_taps[j] else k

    def arg_types(self):
        types = []
        for x, taps in zip(self.seqs, self.seq_taps):
            types += [TensorType(x.type.dtype, x.type.shape[1:])] * len(taps)
        for j in self.recurrent:
            s = self.inits[j].type
            types += [TensorType(s.dtype, s.shape[1:])] * len(self.out_taps[j])
        return types + [v.type for v in self.nonseqs]

    def row_types(self, op):
        """Per output, the type of one row (what the body yields)."""
        ys = op.regions[0].ops[-1].operands
        return [ys[j].type for j in range(self.n_outs)]


class Scan(OpDef):
    name = "scan"
    num_operands = None
    num_results = None
    num_regions = 1
    terminator = "yield"
    required_attrs = ("seq_taps", "out_taps")
    has_grad = True
    cost = 1

    def region_arg_types(self, op, k):
        return ScanLayout(op).arg_types()

    # --- passing outer values in (passes/region_reuse.py) ----------------------------------
    def region_operands(self, op, k):
        """Per block argument of the body, the operand it receives unchanged
        (the non-sequences), else None (rows that change every step)."""
        lay = ScanLayout(op)
        n_taps = len(lay.arg_types()) - len(lay.nonseqs)
        return [None] * n_taps + list(lay.nonseqs)

    def with_region_operands(self, op, k, values):
        """A new op like ``op`` (its region moved to it) with ``values`` as
        further non-sequences; returns (the new op, their block arguments)."""
        args = add_block_args(op.regions[0], values)
        return _moved(op, list(op.operands) + list(values), op.attrs), args

    def infer(self, op):
        self.check_arity(op)
        lay = ScanLayout(op)
        a = op.attrs
        for key in ("go_backwards", "until"):
            if not isinstance(a.get(key, False), bool):
                raise TypeError(f"scan: {key} must be a bool, got {a[key]!r}")
        tg = a.get("truncate_gradient", -1)
        if not isinstance(tg, int) or isinstance(tg, bool) or tg == 0 or tg < -1:
            raise ValueError(f"scan: truncate_gradient must be -1 or a positive int, got {tg!r}")
        n = lay.n_steps.type
        if n.ndim != 0 or n.dtype != "int64":
            raise TypeError(f"scan: n_steps (operand 0) must be a 0-d int64, got {n}")
        for i, x in enumerate(lay.seqs):
            if x.type.ndim < 1:
                raise TypeError(f"scan: sequence {i} must have at least one dim (the steps), got {x.type}")
        for j, s in lay.inits.items():
            if s.type.ndim < 1:
                raise TypeError(f"scan: the initial state of output {j} must have a leading dim of its "
                                f"{lay.depth(j)} taps, got {s.type}")
            if s.type.shape[0] is not None and s.type.shape[0] < lay.depth(j):
                raise ValueError(f"scan: output {j} has taps {list(lay.out_taps[j])}: its initial state needs "
                                 f"at least {lay.depth(j)} rows, got {s.type.shape[0]}")
        if len(op.regions) != 1 or not op.regions[0].ops or op.regions[0].ops[-1].name != "yield":
            raise ValueError("scan: needs one region ending with yield")
        ys = op.regions[0].ops[-1].operands
        want = lay.n_outs + (1 if lay.until else 0)
        if len(ys) != want:
            raise ValueError(f"scan: the body yields {len(ys)} values, expected {lay.n_outs} outputs"
                             + (" and the until condition" if lay.until else ""))
        if lay.until:
            c = ys[-1].type
            if c.ndim != 0 or c.dtype != "bool":
                raise TypeError(f"scan: the until condition must be a 0-d bool, got {c}")
        steps = const_int(lay.n_steps)
        lead = steps if steps is not None and steps >= 0 and not lay.until else None
        out = []
        for j in range(lay.n_outs):
            row = ys[j].type
            if j in lay.inits:
                s = lay.inits[j].type
                srow = TensorType(s.dtype, s.shape[1:])
                if row.dtype != srow.dtype or row.ndim != srow.ndim or any(
                        p is not None and q is not None and p != q for p, q in zip(row.shape, srow.shape)):
                    raise TypeError(f"scan: output {j}: the step function returns {row} but its initial state "
                                    f"(outputs_info) has rows of type {srow}: dtype, ndim and static shape "
                                    "must agree")
                row = TensorType(row.dtype, tuple(p if p is not None else q for p, q in zip(row.shape, srow.shape)))
            k = lay.last_rows[j]
            rows = min(k, lead) if k and lead is not None else lead
            out.append(TensorType(row.dtype, (rows,) + row.shape))
        return out

    def dims(self, op, shapes):
        lay = ScanLayout(op)
        out = []
        for j, r in enumerate(op.results):
            lead = shapes.fresh(0) if r.type.shape[0] is None else r.type.shape[0]
            if j in lay.inits:
                rest = list(shapes.of(lay.inits[j]))[1:]
            else:
                rest = [d if d is not None else shapes.fresh(k + 1) for k, d in enumerate(r.type.shape[1:])]
            out.append([lead] + rest)
        return out

    def value_operands(self, op):
        """The number of steps is ``n_steps``'s value; a while-loop's, or the
        row shape of an output without taps and of no static shape, may
        depend on any operand's value."""
        lay = ScanLayout(op)
        if lay.until or any(j not in lay.inits and None in r.type.shape[1:] for j, r in enumerate(op.results)):
            return op.operands
        return op.operands[:1]

    def droppable_results(self, op):
        """The results ``without_results`` can drop: outputs without taps."""
        lay = ScanLayout(op)
        return [j for j in range(lay.n_outs) if j not in lay.inits]

    def without_results(self, op, drop):
        """A new op like ``op`` (its region moved to it) without the results
        of ``drop`` (indices of outputs without taps) and the work only they
        needed; the remaining results keep their order. Returns (the new op,
        old result index -> new result index)."""
        lay = ScanLayout(op)
        if any(j in lay.inits for j in drop):
            raise ValueError("scan: only outputs without taps can be dropped")
        keep = [j for j in range(lay.n_outs) if j not in drop]
        body = op.regions[0]
        term = body.ops[-1]
        ys = [term.operands[j] for j in keep] + (list(term.operands[lay.n_outs:]) if lay.until else [])
        body.remove(term)
        body.append(Operation(term.opdef, ys, term.attrs))      # (the work left dead: for DCE)
        attrs = {**op.attrs, "out_taps": tuple(lay.out_taps[j] for j in keep)}
        if "last_rows" in attrs:
            attrs["last_rows"] = tuple(lay.last_rows[j] for j in keep)
        regions, op.regions = op.regions, []
        new = Operation(op.opdef, list(op.operands), attrs, [op.results[j].type for j in keep], regions,
                        type(op.results[0]), [op.results[j].name for j in keep])
        new.loc = op.loc
        return new, {j: k for k, j in enumerate(keep)}

    # --- reference ------------------------------------------------------------------------
    def check_sizes(self, lay, n, seq_lens, init_lens):
        """The errors native code reports, as Python exceptions."""
        if n < 0:
            raise ValueError(f"scan: n_steps is {n}; it must be >= 0")
        for i, (length, taps) in enumerate(zip(seq_lens, lay.seq_taps)):
            lo, hi = seq_window(taps)
            if length < n + hi - lo:
                raise ValueError(f"scan: sequence {i} has {length} rows, but {n} steps with taps {list(taps)} "
                                 f"need {n + hi - lo}")
        for j, length in init_lens.items():
            if length < lay.depth(j):
                raise ValueError(f"scan: the initial state of output {j} has {length} rows, but its taps "
                                 f"{list(lay.out_taps[j])} need {lay.depth(j)}")

    def reference(self, op, n_steps, *arrays):
        from ..interpreter import run_region
        lay = ScanLayout(op)
        n = int(n_steps)
        seqs = [np.asarray(x) for x in arrays[:lay.n_seqs]]
        inits = dict(zip(lay.recurrent, arrays[lay.n_seqs:lay.n_seqs + len(lay.recurrent)]))
        nonseqs = list(arrays[lay.n_seqs + len(lay.recurrent):])
        self.check_sizes(lay, n, [len(x) for x in seqs], {j: len(s) for j, s in inits.items()})
        if op.attrs.get("go_backwards", False):
            seqs = [x[::-1] for x in seqs]
        rows = [[] for _ in range(lay.n_outs)]
        for t in range(n):
            args = []
            for x, taps in zip(seqs, lay.seq_taps):
                lo, _ = seq_window(taps)
                args += [x[t + k - lo] for k in taps]
            for j in lay.recurrent:
                d = lay.depth(j)
                args += [rows[j][t + k] if t + k >= 0 else inits[j][d + t + k] for k in lay.out_taps[j]]
            ys = run_region(op.regions[0], args + nonseqs)
            for j in range(lay.n_outs):
                y = np.asarray(ys[j])
                want = inits[j].shape[1:] if j in inits else (rows[j][0].shape if rows[j] else None)
                if want is not None and y.shape != tuple(want):
                    raise ValueError(f"scan: at step {t} output {j} has shape {y.shape}, expected {tuple(want)} "
                                     + ("(its initial state's rows)" if j in inits else "(its shape at step 0)"))
                rows[j].append(y)
            if lay.until and bool(ys[-1]):
                break
        out, guess = [], None
        for j, r in enumerate(op.results):
            if rows[j]:
                kept = rows[j][-lay.last_rows[j]:] if lay.last_rows[j] else rows[j]
                out.append(np.stack(kept).astype(r.type.np_dtype, copy=False))
                continue
            if j in inits:
                row = inits[j].shape[1:]
            else:       # no step ran: the rows' shape rule, unknown dims 0
                if guess is None:
                    args = [x.shape[1:] for x, taps in zip(seqs, lay.seq_taps) for _ in taps]
                    args += [inits[i].shape[1:] for i in lay.recurrent for _ in lay.out_taps[i]]
                    guess = body_dims(op.regions[0], args + [np.shape(w) for w in nonseqs], RowDims({}))
                row = tuple(d if d is not None else 0 for d in guess[j])
            out.append(np.zeros((0,) + tuple(row), r.type.np_dtype))
        return out

    def grad(self, op, grads):
        if any(ScanLayout(op).last_rows):
            raise ValueError("scan: a loop that keeps only its last rows (last_rows) has no gradient; "
                             "differentiate before the scan-ring pass")
        from .scan_grad import scan_grad
        return scan_grad(op, grads)


OPS = [IfElse, Scan]
