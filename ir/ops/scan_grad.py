"""The gradient of ``scan`` (backpropagation through time): a reverse-time
scan whose body is the vector-Jacobian product of the forward body.

Forward step ``t`` computes ``y_t = f(x taps at t, y_{t+k} for its output
taps k < 0, w)``. The reverse scan visits ``t = n-1 .. 0`` (``go_backwards``
over forward-time arrays of ``n`` rows: one per sequence tap, one per output
tap -- the forward outputs shifted, the initial state in front -- and the
output gradients), recomputes the forward body at ``t`` and backpropagates
through it with the *total* adjoint of ``y_t``: its output gradient plus
what later steps sent back. Those pending contributions are carried as a
recurrent state of ``d`` rows per recurrent output (``d`` its depth: row
``m`` is pending for ``y_{t-m}``); the gradients of the non-sequences are
carried as running sums; the gradients of the sequence rows are the
reverse scan's per-step outputs, added into the sequences' rows after the
loop. After step 0 the pending rows are the initial state's gradient.

A non-sequence's gradient that is a sum over the steps of products
``matmul(L_t, R_t)`` -- ``W``'s gradient where the body computes
``dot(x_t, W)``: ``x_t^T @ dz_t`` -- is not summed inside the loop (a
small product with an inner dim of one step's rows, and a running sum
copied every step): the reverse scan outputs ``L_t`` (``x_t`` itself when
``L_t`` is its transpose) and ``R_t`` per step, and one matrix product of
the stacked rows after the loop gives the sum (``X^T @ dZ`` over all the
steps: one big GEMM). Other terms (and batched gradients) keep the running sum.

``truncate_gradient = T > 0``: the reverse scan runs only the last
``min(n, T)`` steps (earlier sequence rows get no gradient, and the
initial state none unless ``n <= T``), as Theano.
"""
from ..core import DYN, Operation, Value
from ..types import TensorType, is_float
from .control import ScanLayout, inline, outline, seq_window


def _i64(e, v):
    return e.const(v, "int64") if isinstance(v, int) else v


def _add(e, a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if isinstance(b, int) and b == 0:
        return a
    if isinstance(a, int) and a == 0:
        return b
    return e("add", _i64(e, a), _i64(e, b))


def _slice(e, x, start, stop):
    """x[start:stop] along axis 0 (ints or 0-d int64 Values)."""
    (first, last), dyn = e.shape_spec((start, stop))
    return e("subtensor", x, *dyn, idx=((None if first == 0 else first, last, None),))


def _reverse(e, x, axis=0):
    return e("subtensor", x, idx=((None, None, None),) * axis + ((None, None, -1),))


def _move(e, x, src, dst):
    """``x`` with its axis ``src`` moved to position ``dst``."""
    order = [i for i in range(x.ndim) if i != src]
    order.insert(dst, src)
    return e.dimshuffle(x, order)


def _last(e, first, rest):
    """``rest``'s last row, or ``first``'s (one row) when ``rest`` is empty:
    an ``ifelse`` on the row count, so neither is copied whole."""
    from ..dialect import get_op
    blocks = []
    for v in (rest, first):
        arg = Value(v.type, name=v.name)
        block, _ = outline([e("subtensor", arg, idx=(-1,))], [arg])
        blocks.append(block)
    rows = e.dim(rest, 0)
    cond = e("gt", _i64(e, rows), e.const(0, "int64"))
    return Operation(get_op("ifelse"), [cond, rest, first], {"n_then": 1}, regions=blocks,
                     value_cls=e.value_cls).results[0]


def _mul(e, a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return e("mul", _i64(e, a), _i64(e, b))


def _terms(g):
    """The terms of ``g`` as a sum: ``add`` ops whose operands have ``g``'s type, unfolded."""
    op = g.owner
    if op is not None and op.name == "add" and all(x.type == g.type for x in op.operands):
        return _terms(op.operands[0]) + _terms(op.operands[1])
    return [g]


def _product(term, w, fixed):
    """(L, R, transposed) when ``term`` is ``matmul(L, R)`` of matrices and
    ``w`` is a matrix; when L is ``S^T`` (``transposed``), S instead of L. Else None.
    Only when the inner dim is the same at every step: static, or a dim of
    a value in ``fixed`` (the reverse body's arguments: rows of one shape).
    (The outer dims are ``w``'s: the running sum would check them.)"""
    op = term.owner
    if op is None or op.name != "matmul" or w.ndim != 2 or term.ndim != 2 or \
            any(x.ndim != 2 for x in op.operands):
        return None
    left, right = op.operands
    src = left.owner
    if src is not None and src.name == "dimshuffle" and tuple(src.attrs["pattern"]) == (1, 0):
        left, transposed = src.operands[0], True
    else:
        transposed = False
    inner = left.type.shape[0 if transposed else 1]
    if inner is None and right.type.shape[0] is None and left not in fixed and right not in fixed:
        return None
    return left, right, transposed


def _stacked_product(e, left, right, transposed, w):
    """The sum over the steps of matmul(L_t, R_t), from ``left`` (the stacked
    S_t or L_t of every step) and ``right`` (the stacked R_t): one product."""
    rows = _mul(e, e.dim(right, 0), e.dim(right, 1))        # steps x one step's inner dim
    k, n = e.dim(w, 0), e.dim(w, 1)
    b = e.reshape(right, [rows, n])
    if transposed:
        a = e.dimshuffle(e.reshape(left, [rows, k]), (1, 0))
    else:
        a = e.reshape(e.dimshuffle(left, (1, 0, 2)), [k, rows])
    return e("matmul", a, b)


def _save_products(op, lay):
    """Residuals: the ``matmul`` results of the forward body that change
    every step become outputs (without taps) of ``op`` itself -- its body
    yields them, its results grow -- so that the reverse body reads them
    instead of computing them again. (Unused, ``scan-prune`` removes them.)
    Returns {forward body value: the result holding it for every step}."""
    body = op.regions[0]
    varying = set(body.args[:len(body.args) - len(lay.nonseqs)])
    want = []
    for o in body.ops[:-1]:
        if any(x in varying for x in o.operands):
            varying.update(o.results)
            if o.name == "matmul" and o.results[0] not in want:
                want.append(o.results[0])
    term = body.ops[-1]
    ys = list(term.operands)
    saved = {ys[j]: op.results[j] for j in range(lay.n_outs) if j not in lay.inits and ys[j] in want}
    new = [v for v in want if v not in saved]
    if not new:
        return saved
    body.remove(term)
    body.append(Operation(term.opdef, ys[:lay.n_outs] + new + ys[lay.n_outs:], term.attrs))
    op.attrs["out_taps"] = tuple(op.attrs["out_taps"]) + ((),) * len(new)
    types = op.opdef.infer(op)
    cls = type(op.results[0])
    for v in new:
        r = cls(types[len(op.results)], op, len(op.results), None)
        op.results.append(r)
        saved[v] = r
    return saved


def _lead(e, x):
    """x with a new leading dim of size 1."""
    return e.dimshuffle(x, ["x"] + list(range(x.ndim)))


def scan_grad(op, grads):
    from ..autodiff import ZERO, backprop, emitter
    e = emitter(op)
    cls = e.value_cls
    lay = ScanLayout(op)
    # batched gradients (jacobian, hessian): ``nb`` leading batch dims on every
    # gradient; the reverse scan steps over axis ``nb`` and carries them in its rows
    nb = grads[0].ndim - op.results[0].ndim if grads else 0
    if any(g.ndim - r.ndim != nb for g, r in zip(grads, op.results)) or nb < 0:
        raise ValueError("scan grad: the output gradients carry different numbers of batch dims")
    bdims = e.batch_dims(grads[0], nb) if nb else []
    bshape = grads[0].type.shape[:nb]
    whole = ((None, None, None),) * nb          # whole batch dims in a subtensor index
    body = op.regions[0]
    backwards = op.attrs.get("go_backwards", False)
    trunc = op.attrs.get("truncate_gradient", -1)
    n = e.dim(op.results[0], 0)                     # the steps the forward loop ran
    n_rev = n if trunc < 0 else (min(n, trunc) if isinstance(n, int) else e("minimum", n, e.const(trunc, "int64")))
    start = 0 if n_rev is n else (n - n_rev if isinstance(n_rev, int) else e("sub", n, n_rev))

    # forward-time arrays of n rows: what each (sequence or output) tap argument was at step t
    fwd_rows = []
    seqs = [(_reverse(e, x) if backwards else x) for x in lay.seqs]
    for x, taps in zip(seqs, lay.seq_taps):
        lo, _ = seq_window(taps)
        fwd_rows += [_slice(e, x, k - lo, _add(e, n, k - lo)) for k in taps]
    for j in lay.recurrent:
        d = lay.depth(j)
        init = lay.inits[j]
        first = init if init.type.shape[0] == d else _slice(e, init, 0, d)
        full = e("concatenate", first, op.results[j], axis=0)
        fwd_rows += [_slice(e, full, d + k, _add(e, n, d + k)) for k in lay.out_taps[j]]
    n_tap_args = len(fwd_rows)
    fwd_args = body.args[:n_tap_args]
    nonseq_args = body.args[n_tap_args:]

    float_outs = [j for j in range(lay.n_outs) if is_float(op.results[j].dtype)]
    rec_float = [j for j in lay.recurrent if j in float_outs]
    w_float = [i for i, w in enumerate(lay.nonseqs) if is_float(w.dtype)]
    tap_float = [i for i in range(n_tap_args) if is_float(fwd_args[i].dtype)]
    seq_tap_count = sum(len(t) for t in lay.seq_taps)

    # --- the reverse body -------------------------------------------------------------------
    p_x = [Value(a.type, name=a.name) for a in fwd_args]
    p_g = [Value(TensorType(grads[j].dtype, bshape + op.results[j].type.shape[1:]), name="g") for j in float_outs]
    rows = {j: TensorType(op.results[j].dtype, bshape + lay.inits[j].type.shape[1:]) for j in rec_float}
    p_pend = [Value(TensorType(rows[j].dtype, (lay.depth(j),) + rows[j].shape), name="pending") for j in rec_float]
    p_acc = [Value(TensorType(lay.nonseqs[i].dtype, bshape + lay.nonseqs[i].type.shape), name="acc")
             for i in w_float]
    p_w = [Value(a.type, name=a.name) for a in nonseq_args]

    clones = {}
    ys = inline(body, p_x + p_w, cls, env=clones)
    # the forward's products read from its saved rows (their vjp needs only their operands)
    saved = list(_save_products(op, lay).items())
    p_saved = [clones[v] for v, _ in saved]
    pend = dict(zip(rec_float, p_pend))
    seeds = []
    for j, g in zip(float_outs, p_g):
        a = g if j not in pend else e("add", g, e("subtensor", pend[j], idx=(0,)))
        seeds.append((ys[j], a))
    wrt = [p_x[i] for i in tap_float] + [p_w[i] for i in w_float]
    got = backprop(seeds, wrt, value_cls=cls) if seeds else [None] * len(wrt)
    p_bdims = e.batch_dims(p_g[0], nb) if nb and p_g else []
    got = [g if isinstance(g, Value) else e.zeros(p_bdims + e.dims(x), x.dtype) for g, x in zip(got, wrt)]
    d_tap = dict(zip(tap_float, got[:len(tap_float)]))
    d_w = got[len(tap_float):]

    new_pend = []
    pos = seq_tap_count                 # where output j's tap arguments start
    tap_pos = {}
    for j in lay.recurrent:
        tap_pos[j] = pos
        pos += len(lay.out_taps[j])
    for j, p in zip(rec_float, p_pend):
        d = lay.depth(j)
        by_tap = {k: d_tap.get(tap_pos[j] + q) for q, k in enumerate(lay.out_taps[j])}
        out_rows = []
        for m in range(d):
            parts = []
            if m + 1 < d:
                parts.append(e("subtensor", p, idx=(m + 1,)))
            if by_tap.get(-(m + 1)) is not None:
                parts.append(by_tap[-(m + 1)])
            row = parts[0] if parts else e.zeros(e.dims(p, 1), p.dtype)
            for extra in parts[1:]:
                row = e("add", row, extra)
            out_rows.append(_lead(e, row))
        new_pend.append(out_rows[0] if d == 1 else e("concatenate", *out_rows, axis=0))
    # non-sequence gradients: products over the steps batched after the loop, the rest running sums
    stacked, where = [], {}         # per-step rows the reverse scan outputs for the products
    products, summed = {}, {}       # slot of w_float -> [(left, right, transposed) output indices] / the rest

    def stack(v):
        if v not in where:
            where[v] = len(stacked)
            stacked.append(v)
        return where[v]
    fixed = set(p_x + p_saved + p_g + p_pend + p_acc + p_w)
    for slot, (i, g) in enumerate(zip(w_float, d_w)):
        rest = []
        for term in _terms(g):
            found = _product(term, lay.nonseqs[i], fixed) if nb == 0 else None
            if found is None:
                rest.append(term)
            else:
                products.setdefault(slot, []).append((stack(found[0]), stack(found[1]), found[2]))
        if rest or slot not in products:
            total = rest[0] if rest else g
            for term in rest[1:]:
                total = e("add", total, term)
            summed[slot] = total
    acc_slots = list(summed)
    p_acc = [p_acc[slot] for slot in acc_slots]
    new_acc = [e("add", a, summed[slot]) for a, slot in zip(p_acc, acc_slots)]
    seq_float = [i for i in tap_float if i < seq_tap_count]
    d_seq_rows = [d_tap[i] for i in seq_float]
    block, capture = outline(new_pend + new_acc + d_seq_rows + stacked,
                             p_x + p_saved + p_g + p_pend + p_acc + p_w)
    if capture:
        raise RuntimeError("scan grad: the reverse body reads values from outside (a bug)")

    # --- the reverse scan -------------------------------------------------------------------
    p0 = [e.zeros([1, lay.depth(j)] + bdims + e.dims(lay.inits[j], 1), rows[j].dtype) for j in rec_float]
    acc0 = [e.zeros([1] + bdims + e.dims(lay.nonseqs[w_float[slot]]), lay.nonseqs[w_float[slot]].dtype)
            for slot in acc_slots]
    g_seqs = [_move(e, grads[j], nb, 0) for j in float_outs]         # steps first
    attrs = {"seq_taps": ((0,),) * (n_tap_args + len(saved) + len(g_seqs)),
             "out_taps": ((-1,),) * (len(p0) + len(acc0)) + ((),) * (len(d_seq_rows) + len(stacked)),
             "go_backwards": True, "until": False, "truncate_gradient": -1}
    if "name" in op.attrs:
        attrs["name"] = op.attrs["name"] + ".grad"
    rev = Operation(op.opdef, [_i64(e, n_rev)] + fwd_rows + [r for _, r in saved] + g_seqs + p0 + acc0
                    + list(lay.nonseqs), attrs,
                    regions=[block], value_cls=cls)
    res = list(rev.results)
    r_pend, res = res[:len(p0)], res[len(p0):]
    r_acc, res = res[:len(acc0)], res[len(acc0):]
    r_dx, r_stacked = res[:len(d_seq_rows)], res[len(d_seq_rows):]

    out = [None] * len(op.operands)
    for slot, i in enumerate(w_float):
        total = None
        if slot in summed:
            k = acc_slots.index(slot)
            total = _last(e, acc0[k], r_acc[k])
        for left, right, transposed in products.get(slot, ()):
            prod = _stacked_product(e, r_stacked[left], r_stacked[right], transposed, lay.nonseqs[i])
            total = prod if total is None else e("add", total, prod)
        out[lay.first_nonseq + i] = total
    for slot, j in enumerate(rec_float):
        final = _reverse(e, _last(e, p0[slot], r_pend[slot]))        # rows 0..d-1 of the initial state
        final = _move(e, final, 0, nb)
        if trunc > 0:
            reached = e("le", _i64(e, n), e.const(trunc, "int64"))
            final = e("where", reached, final, e.const(0, final.dtype))
        init = lay.inits[j]
        d = lay.depth(j)
        if init.type.shape[0] != d:
            final = e("inc_subtensor", e.zeros(bdims + e.dims(init), init.dtype), final,
                      idx=whole + ((None, d, None),))
        out[lay.first_init + lay.recurrent.index(j)] = final
    # sequences: each tap's rows, back in forward order, added where the forward read them
    tap_index = 0
    dx = dict(zip(seq_float, r_dx))
    for i, (x, taps) in enumerate(zip(lay.seqs, lay.seq_taps)):
        lo, _ = seq_window(taps)
        if not is_float(x.dtype):
            out[1 + i] = ZERO
            tap_index += len(taps)
            continue
        total = e.zeros(bdims + e.dims(x), x.dtype)
        for k in taps:
            # (the row shape stated: with zero steps the loop cannot tell it)
            rows_k = _move(e, _reverse(e, e.reshape(dx[tap_index], [n_rev] + bdims + e.dims(x, 1))), 0, nb)
            lo_row, hi_row = _add(e, start, k - lo), _add(e, n, k - lo)
            spec, dyn = [], []
            for s in (lo_row, hi_row):
                spec.append(s if isinstance(s, int) else DYN)
                if not isinstance(s, int):
                    dyn.append(s)
            total = e("inc_subtensor", total, rows_k, *dyn, idx=whole + ((spec[0], spec[1], None),))
            tap_index += 1
        out[1 + i] = _reverse(e, total, nb) if backwards else total
    for k in range(1, len(op.operands)):
        if out[k] is None:
            out[k] = ZERO       # an integer operand, or one the gradient does not reach
    return out
