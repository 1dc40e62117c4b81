"""W18: the W6 MLP step data-parallel over MPI, 2 ranks vs 1, and a cost model.

    python -m bench.distributed            measure (mpirun) and print the cost model table
    python -m bench.distributed --quick    fewer steps; W9/W16 compute times estimated from FLOPs
    python -m bench --only W18             the W18 row of the benchmark table

Measured: ``mpirun -np 1`` and ``mpirun -np 2``, every rank bound to its own
core (``--bind-to core``: theon's thread pool sizes itself by the affinity
mask, so each rank computes on one core), the W6 step (784-512-10 MLP,
float32) on a global batch of 256 rows split evenly over the ranks through
``theon.distributed.mpi.DataParallel``. Strong scaling: speedup = T1 / T2,
efficiency = speedup / 2. The time in the allreduce is the step's reduce
phase (packing the fused buffer, the Iallreduce, waiting for the slower
rank), and separately a bare Iallreduce of the fused buffer.

The cost model (``cost_model``) predicts weak scaling (every node keeps the
workload's batch, so the global batch grows with the nodes) on N nodes:

    t_step(N)  = t_compute + t_allreduce(N)            (no overlap: theon's gradient
                                                       part is one native call)
    t_allreduce(N) = 2 (N-1) alpha + 2 (N-1)/N * S / B  (ring: reduce-scatter + allgather)
    efficiency = t_compute / t_step(N)

with S the gradient bytes (float32 parameters, counted from the models'
initial parameters), B the link bandwidth, alpha the per-message latency.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the cluster the model assumes
LINK_GBIT = 100.0            # InfiniBand HDR100 / EDR: 100 Gb/s per direction
LATENCY_S = 2e-6             # per message, MPI over InfiniBand
NODE_SPEEDUP = 16.0          # a cluster node computes this many times faster than this 2-core VM
NODES = (8, 16, 32, 64)


# --- the workloads' sizes --------------------------------------------------------------------------
def model_sizes():
    """{workload: (parameters, FLOPs of one training step)} computed from the
    benchmark models (W6 bench/mlp.py, W9 bench/scan.py, W16 bench/conv.py)."""
    from . import conv, mlp
    from . import scan as lstm
    w6 = sum(p.size for p in mlp.init_params())
    n_in, hidden, out = mlp.SIZES
    w6_flops = 3 * 2 * mlp.BATCH * (n_in * hidden + hidden * out)         # fwd + 2 bwd products
    w9 = sum(p.size for p in lstm.init_params())
    w9_flops = 3 * 2 * lstm.SEQ * lstm.BATCH * (lstm.N_IN + lstm.HIDDEN) * 4 * lstm.HIDDEN
    w16 = sum(p.size for p in conv._lenet_params(np.random.default_rng(0)))
    per_image = 24 * 24 * 20 * 25 + 8 * 8 * 50 * 20 * 25 + 800 * 500 + 500 * 10   # MACs
    w16_flops = 3 * 2 * conv.LENET["batch"] * per_image
    return {"W6": (w6, w6_flops), "W9": (w9, w9_flops), "W16": (w16, w16_flops)}


def allreduce_seconds(nbytes, nodes, gbit=LINK_GBIT, latency=LATENCY_S):
    """Ring allreduce of ``nbytes`` over ``nodes``: 2(N-1) messages of S/N bytes."""
    if nodes <= 1:
        return 0.0
    return 2 * (nodes - 1) * latency + 2 * (nodes - 1) / nodes * nbytes / (gbit * 1e9 / 8)


def cost_model(compute, nodes=NODES, node_speedup=NODE_SPEEDUP):
    """Rows (workload, params, MB, node compute s, {N: (allreduce s, efficiency)}),
    ``compute`` = {workload: step seconds on this machine}."""
    rows = []
    for key, (params, _) in model_sizes().items():
        nbytes = 4 * params
        t_c = compute[key] / node_speedup
        per_n = {}
        for n in nodes:
            t_ar = allreduce_seconds(nbytes, n)
            per_n[n] = (t_ar, t_c / (t_c + t_ar))
        rows.append((key, params, nbytes / 1e6, t_c, per_n))
    return rows


def render_model(rows, nodes=NODES):
    head = "| workload | parameters | gradient MB | node compute/step | " + " | ".join(
        f"{n} nodes: allreduce, efficiency" for n in nodes) + " |"
    lines = [head, "|" + "---|" * (4 + len(nodes))]
    for key, params, mb, t_c, per_n in rows:
        cells = [f"{per_n[n][0] * 1e3:.2f} ms, {per_n[n][1] * 100:.0f}%" for n in nodes]
        lines.append(f"| {key} | {params:,} | {mb:.2f} | {t_c * 1e3:.2f} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- the MPI measurement ----------------------------------------------------------------------------
def worker(out_path, steps):
    """One rank: the W6 step data-parallel; rank 0 writes the timings."""
    from mpi4py import MPI

    from theon.codegen.cpu.driver import tierup
    from theon.distributed.mpi import DataParallel

    from . import mlp
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    params = mlp.init_params()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((mlp.BATCH, mlp.SIZES[0])).astype(np.float32)
    Y = rng.integers(0, mlp.SIZES[2], mlp.BATCH).astype(np.int32)
    f, shared = mlp.theon_step(params)
    step = DataParallel(f, timeout=300)
    step.broadcast_parameters()
    step(X, Y)
    tierup.wait(600)            # the fully optimized code of both parts
    for _ in range(3):
        step(X, Y)
    comm.Barrier()
    for k in step.stats:
        step.stats[k] = 0
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(X, Y)
        times.append(time.perf_counter() - t0)
    st = step.stats
    # the bare allreduce of the fused buffer
    buf = np.zeros(step.fused_bytes // 4, np.float32)
    bare = []
    for _ in range(max(20, steps)):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, [buf, MPI.FLOAT], op=MPI.SUM)
        bare.append(time.perf_counter() - t0)
    cost = float(step(X, Y))
    result = {"ranks": size, "step_s": statistics.median(times),
              "grad_s": st["grad_s"] / st["steps"], "reduce_s": st["reduce_s"] / st["steps"],
              "apply_s": st["apply_s"] / st["steps"], "bare_allreduce_s": statistics.median(bare),
              "fused_bytes": step.fused_bytes, "cost": cost,
              "threads": len(os.sched_getaffinity(0))}
    step.close()
    if rank == 0:
        with open(out_path, "w") as fh:
            json.dump(result, fh)


def mpirun(ranks, steps, bind=True, timeout=600):
    """The worker's result on ``ranks`` ranks (None and the reason when MPI is missing)."""
    if shutil.which("mpirun") is None:
        return None, "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None, "mpi4py not installed (pip install 'theon[mpi]')"
    cmd = ["mpirun", "-np", str(ranks), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["--bind-to", "core"] if bind else ["--bind-to", "none"]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "w18.json")
        cmd += [sys.executable, "-m", "bench.distributed", "--worker", out, "--steps", str(steps)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        if proc.returncode != 0 or not os.path.exists(out):
            return None, f"mpirun -np {ranks} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        with open(out) as fh:
            return json.load(fh), None


def measure(quick):
    """{'one': ..., 'two': ..., 'speedup', 'efficiency'} or {'error': reason}."""
    steps = 20 if quick else 60
    one, err = mpirun(1, steps)
    if one is None:
        return {"error": err}
    two, err = mpirun(2, steps)
    if two is None:
        return {"error": err}
    speedup = one["step_s"] / two["step_s"]
    return {"one": one, "two": two, "speedup": speedup, "efficiency": speedup / 2}


def compute_times(w6_seconds, measure_models):
    """Step seconds on this machine (both cores) for W6, W9, W16: W6 as
    measured; W9 and W16 measured too, or (quick) scaled from W6 by FLOPs."""
    sizes = model_sizes()
    out = {"W6": w6_seconds}
    if measure_models:
        from .timing import median_time
        from . import conv
        from . import scan as lstm
        fns = lstm.w9(np.random.default_rng(0))
        out["W9"] = median_time(fns["theon"], 5, warmup=1)
        fns = conv.w16(np.random.default_rng(0))
        out["W16"] = median_time(fns["theon"], 3, warmup=1)
        out["measured"] = True
    else:
        rate = sizes["W6"][1] / w6_seconds
        out["W9"] = sizes["W9"][1] / rate
        out["W16"] = sizes["W16"][1] / rate
        out["measured"] = False
    return out


def w6_single_process():
    """The W6 step's median seconds in this process (all cores)."""
    from theon.codegen.cpu.driver import tierup

    from . import mlp
    from .timing import median_time
    X, Y = mlp.batch()
    f, _ = mlp.theon_step(mlp.init_params())
    f(X, Y)
    tierup.wait(600)
    return median_time(lambda: f(X, Y), 21)


def row(quick, peers, fmt_time):
    """The W18 row of ``python -m bench``."""
    r = measure(quick)
    empty = {p: "—" for p in peers}
    if "error" in r:
        return ["W18 W6 step data-parallel, 2 MPI ranks vs 1 (skipped: " + r["error"][:80] + ")",
                "—", "—", "—", "report", "—", empty]
    two = r["two"]
    return [f"W18 W6 step data-parallel, 2 MPI ranks vs 1 (1 core each; 1 rank {fmt_time(r['one']['step_s'])}, "
            f"allreduce {fmt_time(two['reduce_s'])}/step)", "—", fmt_time(two["step_s"]),
            f"{r['speedup']:.2f}× speedup", "report efficiency", f"{r['efficiency'] * 100:.0f}%", empty]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps)
        return 0
    r = measure(args.quick)
    if "error" in r:
        print(f"W18: {r['error']}")
        return 1
    one, two = r["one"], r["two"]
    print(f"W18 W6 step, global batch 256, float32, fused gradient buffer {two['fused_bytes'] / 1e6:.2f} MB")
    for name, m in (("1 rank ", one), ("2 ranks", two)):
        print(f"  {name}: step {m['step_s'] * 1e3:.2f} ms (gradient part {m['grad_s'] * 1e3:.2f} ms, "
              f"allreduce phase {m['reduce_s'] * 1e3:.2f} ms, apply {m['apply_s'] * 1e3:.2f} ms; "
              f"bare allreduce {m['bare_allreduce_s'] * 1e3:.3f} ms; {m['threads']} core(s) per rank)")
    print(f"  speedup {r['speedup']:.2f}x, scaling efficiency {r['efficiency'] * 100:.0f}%, "
          f"allreduce {two['reduce_s'] / two['step_s'] * 100:.0f}% of the 2-rank step")
    w6_all = w6_single_process()
    compute = compute_times(w6_all, measure_models=not args.quick)
    how = "measured" if compute["measured"] else "W6 measured, W9/W16 scaled from W6 by FLOPs"
    print(f"\ncompute per step on this machine ({how}): " +
          ", ".join(f"{k} {compute[k] * 1e3:.1f} ms" for k in ("W6", "W9", "W16")))
    print(f"cost model: ring allreduce, {LINK_GBIT:g} Gb/s links, {LATENCY_S * 1e6:g} µs latency, "
          f"nodes {NODE_SPEEDUP:g}x this machine, no overlap, weak scaling (batch per node fixed)\n")
    print(render_model(cost_model(compute)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
