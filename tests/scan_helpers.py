"""Random scans for the property tests of tests/ir/test_scan_ifelse.py and
tests/native/test_scan_native.py: a hypothesis strategy for a loop's
configuration (sequence taps, output taps, go_backwards, n_steps, lengths),
the theon graph of it, and an independent NumPy reference that cuts the
sequences exactly as Theano 1.0's scan does (its slicing code, not theon's
``lo``/``hi`` formula)."""
import numpy as np
from hypothesis import strategies as st

import theon
import theon.tensor as T

ROW = 2


@st.composite
def configs(draw):
    n_seqs = draw(st.integers(0, 2))
    seq_taps = [sorted(draw(st.sets(st.integers(-3, 3), min_size=1, max_size=3))) for _ in range(n_seqs)]
    out_taps = [draw(st.one_of(st.none(), st.sets(st.integers(-3, -1), min_size=1, max_size=2).map(sorted)))
                for _ in range(draw(st.integers(1, 2)))]
    given = draw(st.booleans()) or not n_seqs
    return {"seq_taps": seq_taps, "out_taps": out_taps, "go_backwards": draw(st.booleans()),
            "n_steps": draw(st.integers(0, 6)) if given else None,
            "lengths": [draw(st.integers(0, 9)) for _ in range(n_seqs)], "seed": draw(st.integers(0, 2 ** 16))}


def _step(n_args, n_outs, rng):
    """A step function of n_args rows: output j is tanh of a fixed random
    combination of every argument (so every tap matters)."""
    weights = rng.uniform(-1, 1, (n_outs, max(n_args, 1)))

    def fn(*args):
        numeric = any(isinstance(a, np.ndarray) for a in args) or not args and fn.numeric
        base = np.full(ROW, 0.1)
        outs = []
        for j in range(n_outs):
            acc = base if numeric else T.constant(base)
            for w, a in zip(weights[j], args):
                acc = a * float(w) + acc
            outs.append(np.tanh(acc) if numeric else T.tanh(acc))
        return outs
    fn.numeric = False
    return fn


def build(cfg):
    """(input variables, input arrays, the scan's outputs) for ``cfg``."""
    rng = np.random.default_rng(cfg["seed"])
    seqs = [T.dmatrix(f"s{i}") for i in range(len(cfg["seq_taps"]))]
    arrays = [rng.normal(size=(n, ROW)) for n in cfg["lengths"]]
    inits, init_vars, outputs_info = [], [], []
    for j, taps in enumerate(cfg["out_taps"]):
        if taps is None:
            outputs_info.append(None)
            continue
        # taps [-1]: Theano's initial state is the previous row itself
        v = T.dvector(f"h{j}") if taps == [-1] else T.dmatrix(f"h{j}")
        init_vars.append(v)
        inits.append(rng.normal(size=(-min(taps), ROW)))
        outputs_info.append(dict(initial=v, taps=list(taps)))
    n_args = sum(len(t) for t in cfg["seq_taps"]) + sum(len(t) for t in cfg["out_taps"] if t)
    fn = _step(n_args, len(cfg["out_taps"]), rng)
    n = T.lscalar("n")
    outs, _ = theon.scan(fn, sequences=[dict(input=s, taps=t) for s, t in zip(seqs, cfg["seq_taps"])],
                         outputs_info=outputs_info, n_steps=n if cfg["n_steps"] is not None else None,
                         go_backwards=cfg["go_backwards"], return_list=True)
    inputs = seqs + init_vars + ([n] if cfg["n_steps"] is not None else [])
    rec_taps = [t for t in cfg["out_taps"] if t]
    values = arrays + [i[0] if t == [-1] else i for i, t in zip(inits, rec_taps)]
    values += [np.array(cfg["n_steps"])] if cfg["n_steps"] is not None else []
    return inputs, values, outs, fn, arrays, inits


def _theano_slices(x, taps):
    mintap, maxtap = min(taps), max(taps)
    offset_min = -mintap if mintap < 0 else 0
    out = []
    for k in taps:
        if maxtap == mintap and maxtap != 0:
            out.append(x[maxtap:] if maxtap > 0 else x[:maxtap])
            continue
        st_ = k + offset_min
        ed = -(maxtap + offset_min - st_) if maxtap > 0 else -(offset_min - st_)
        out.append(x[st_:ed] if ed != 0 else x[st_:])
    return out


def reference(cfg, fn, arrays, inits):
    """The outputs, or None when the inputs are too short (an error)."""
    slices = []
    for x, taps in zip(arrays, cfg["seq_taps"]):
        slices += _theano_slices(x[::-1] if cfg["go_backwards"] else x, taps)
    if cfg["n_steps"] is None:
        if any(len(x) < abs(min(t + [0])) + max(t + [0]) for x, t in zip(arrays, cfg["seq_taps"])):
            return None
        n = min(len(s) for s in slices)
    else:
        n = cfg["n_steps"]
        if any(len(s) < n for s in slices) or any(
                len(x) < n + max(t + [0]) - min(t + [0]) for x, t in zip(arrays, cfg["seq_taps"])):
            return None
    rec = [(j, t) for j, t in enumerate(cfg["out_taps"]) if t]
    hist = {j: [] for j, _ in rec}
    outs = [[] for _ in cfg["out_taps"]]
    init = dict(zip([j for j, _ in rec], inits))
    fn.numeric = True
    for t in range(n):
        args = [s[t] for s in slices]
        for j, taps in rec:
            d = -min(taps)
            args += [hist[j][t + k] if t + k >= 0 else init[j][d + t + k] for k in taps]
        ys = fn(*args)
        for j, y in enumerate(ys):
            outs[j].append(np.asarray(y))
            if j in hist:
                hist[j].append(np.asarray(y))
    return [np.array(o).reshape((n, ROW)) for o in outs]
