"""theon's benchmarks W1-W18 (issues 5, 14, 15, 16, 17, 19), against NumPy in the same process.

    python -m bench                  all workloads, full repeats
    python -m bench --quick          fewer repeats
    python -m bench --only W1,W7     some workloads
    python -m bench --markdown       the table as Markdown (docs/performance.md)
    python -m bench --scaling        the compile-time scaling curve (ops vs seconds, both modes)

Every workload is timed as the median of repeated runs, NumPy, theon and
the peers (PyTensor, numba, JAX; only those installed) in alternation, after
theon's result was checked against NumPy's. The ratio is NumPy time / theon
time (above 1: theon is faster).
"""
import argparse
import os
import platform
import sys

import numpy as np

from . import compile_time, peers
from . import distributed as distributed_bench
from . import scan as scan_bench
from .timing import interleaved, median_per_call
from .workloads import WORKLOADS

PEERS = ("pytensor", "numba", "jax")


def machine():
    """'AMD EPYC ..., 2 cores (AVX-512)': the CPU from /proc/cpuinfo."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    cores = os.cpu_count()
    return f"{model}, {cores} core{'s' if cores != 1 else ''}" + (f" ({isa})" if isa else "")


def versions():
    import llvmlite
    import theon
    text = (f"Python {platform.python_version()}, NumPy {np.__version__}, llvmlite {llvmlite.__version__}, "
            f"theon {theon.__version__}")
    for name in peers.available():
        text += f", {name} {getattr(__import__(name), '__version__', '?')}"
    return text


def _same(a, b, rtol, atol):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, rtol, atol) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0    # sums of many terms: relative to the largest
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol * scale)


def check(w, fns):
    """theon's result equals NumPy's (float32 tolerances)."""
    ref_fn, got_fn = fns.pop("check", None) or (fns["numpy"], fns["theon"])
    rtol, atol = (1e-3, 1e-3) if w.key == "W3" else (1e-4, 1e-4)
    if not _same(ref_fn(), got_fn(), rtol, atol):
        raise AssertionError(f"{w.key}: theon's result differs from NumPy's; not timing a wrong result")


def run_workload(w, quick):
    fns = w.build(np.random.default_rng(0))
    check(w, fns)
    fns = {k: v for k, v in fns.items() if v is not None}
    if w.key == "W7":
        calls, batches = (20000, 5) if quick else (100000, 9)
        times = {k: median_per_call(fn, calls, batches) for k, fn in fns.items()}
    else:
        quick_repeats, repeats = w.extra.get("repeats", (5, 21))
        times = interleaved(fns, repeats=quick_repeats if quick else repeats)
    return times


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def rows_for(w, times):
    np_t, th_t = times.get("numpy"), times["theon"]
    ratio = np_t / th_t if np_t else None
    if w.min_ratio is not None:
        met = ratio is not None and ratio >= w.min_ratio
    else:
        met = w.max_seconds is None or th_t <= w.max_seconds
    if w.vs_peer is not None:       # a target against a peer measured in the same run
        peer_t = times.get(w.vs_peer[0])
        met = met and (peer_t is None or peer_t / th_t >= w.vs_peer[1])
    peer = {p: fmt_time(times.get(p)) for p in PEERS}
    return [f"{w.key} {w.title}", fmt_time(np_t), fmt_time(th_t),
            f"{ratio:.2f}×" if ratio else "—", w.target, "yes" if met else "NO", peer]


def compile_rows(quick):
    r = compile_time.measure(repeats=1 if quick else 3)
    peer = {p: "—" for p in PEERS}
    note = "" if r["costs_equal"] else " (results differ!)"
    return [["W8 compile W6 step, cold (new process, empty cache)", "—", fmt_time(r["cold"]) + note, "—",
             "≤ 0.3 s", "yes" if r["cold"] <= 0.3 else "NO", peer],
            ["W8 compile W6 step, from the on-disk cache", "—", fmt_time(r["cached"]), "—",
             "≤ 0.05 s", "yes" if r["cached"] <= 0.05 else "NO", peer]]


def render(rows, shown_peers, markdown):
    head = ["workload", "NumPy", "theon", "NumPy/theon", "target", "met?"] + list(shown_peers)
    body = [r[:6] + [r[6][p] for p in shown_peers] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in body]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a rough table in seconds)")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W7,W8")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--scaling", action="store_true",
                    help="only the compile-time scaling curve (chains of 1,000-20,000 adds, both modes)")
    args = ap.parse_args(argv)
    if args.scaling:
        print(f"machine: {machine()}", flush=True)
        sizes = (1000, 5000) if args.quick else compile_time.SCALING_SIZES
        print(compile_time.render_scaling(compile_time.scaling(sizes)))
        return 0
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    known = {w.key for w in WORKLOADS} | {"W8", "W18"}
    if only - known:
        ap.error(f"unknown workload(s) {sorted(only - known)}; known: {sorted(known)}")

    print(f"machine: {machine()}", flush=True)
    print(f"versions: {versions()}", flush=True)
    rows = []
    for w in WORKLOADS:
        if only and w.key not in only:
            continue
        print(f"running {w.key} ...", file=sys.stderr, flush=True)
        rows.append(rows_for(w, run_workload(w, args.quick)))
    if not only or "W8" in only:
        print("running W8 (subprocesses) ...", file=sys.stderr, flush=True)
        rows.extend(compile_rows(args.quick))
    if not only or "W9" in only:
        print("running W9 compile (subprocesses) ...", file=sys.stderr, flush=True)
        rows.append(scan_bench.compile_row(args.quick, PEERS, fmt_time))
    if not only or "W18" in only:
        print("running W18 (mpirun, 1 and 2 ranks) ...", file=sys.stderr, flush=True)
        rows.append(distributed_bench.row(args.quick, PEERS, fmt_time))
    shown = [p for p in PEERS if any(r[6][p] != "—" for r in rows)]
    print(render(rows, shown, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
