"""W8: seconds to compile the W6 training step (graph + grad + theon.function),
and the compile-time scaling curve: seconds against graph size.

    python -m bench.compile_time CACHE_DIR     prints one JSON line
    python -m bench --scaling                  the curve (``scaling``), both modes
    python -m bench.compile_time --chain N MODE KIND   one point, one JSON line

The curve compiles chains of N adds, ``y = y + float(i)`` ('const') and
``y = y + x`` ('var'), for N in SCALING_SIZES, in FAST_RUN and FAST_COMPILE,
each in a fresh interpreter with the on-disk cache off; the time is
``theon.function`` until its code can run (tier 0 for big modules), the
result checked against NumPy. Targets (issue 13): 1,000 ops under 1 s,
20,000 under 10 s, growth linear. Each point also records the process's
CPU seconds (main and LLVM threads together): on a busy machine compare
those, against a baseline measured in the same minute.

Run in a fresh interpreter per measurement: 'cold' with an empty cache
folder, 'cached' with the folder a previous run filled. Imports happen
before the clock starts; what is timed is what a user's script does to get
a callable training step.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure_here():
    """(seconds, whether the code came from the on-disk cache) in this process."""
    import theon
    import theon.codegen.cpu  # noqa: F401 - imports are not compile time
    import theon.frontend.function  # noqa: F401
    import theon.gradient  # noqa: F401
    import theon.passes  # noqa: F401
    import theon.runtime.cache  # noqa: F401
    import theon.tensor.nnet  # noqa: F401

    from . import mlp
    params = mlp.init_params()
    t0 = time.perf_counter()
    step, _ = mlp.theon_step(params)
    seconds = time.perf_counter() - t0
    X, Y = mlp.batch()
    cost = float(step(X, Y))
    tier = step.native.tier
    # A big step starts on quickly compiled code while the fully optimized code
    # is compiled in a helper process (codegen/cpu/driver/tierup.py), which also stores
    # it in the cache: let it finish, as any run longer than a few seconds would.
    from theon.codegen.cpu.driver import tierup
    tierup.wait(600)
    return {"seconds": seconds, "from_cache": bool(step.native.from_cache), "cost": cost,
            "tier": tier, "cache_dir": theon.config.cache_dir}


def run_subprocess(cache_dir, timeout=300):
    env = dict(os.environ)
    env.pop("THEON_FLAGS", None)
    env["THEON_CACHE_DIR"] = cache_dir
    proc = subprocess.run([sys.executable, "-m", "bench.compile_time", cache_dir], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"W8 subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(repeats=3):
    """{'cold': s, 'cached': s, 'costs_equal': bool}: medians over ``repeats``
    fresh interpreters each."""
    cold, cached, costs = [], [], set()
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="theon-bench-cache-") as d:
            first = run_subprocess(d)
            assert not first["from_cache"], "cold run found a cache entry in an empty folder"
            cold.append(first["seconds"])
            second = run_subprocess(d)
            cached.append(second["seconds"])
            costs.update((first["cost"], second["cost"]))
            if not second["from_cache"]:
                raise RuntimeError("W8: the second process did not load the step from the cache")
    return {"cold": statistics.median(cold), "cached": statistics.median(cached),
            "costs_equal": len(costs) == 1}


SCALING_SIZES = (1000, 5000, 20000)
SCALING_MODES = ("FAST_RUN", "FAST_COMPILE")
SCALING_KINDS = ("const", "var")


def chain_point(n, mode, kind):
    """{'seconds', 'ok', ...}: compile a chain of ``n`` adds here (see the module doc)."""
    import numpy as np

    import theon
    import theon.codegen.cpu  # noqa: F401 - imports are not compile time
    import theon.frontend.function  # noqa: F401
    import theon.passes  # noqa: F401
    import theon.tensor as T
    theon.config.cache_dir = ""
    x = T.dvector("x")
    y = x
    for i in range(n):
        y = y + (float(i) if kind == "const" else x)
    t0, c0 = time.perf_counter(), time.process_time()
    f = theon.function([x], y, mode=mode)
    f.native.address                # the code is loaded (tier 0 of a big module)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0  # every thread's: comparable on a busy machine
    xv = np.arange(4.0)
    want = xv + float(np.arange(n).sum()) if kind == "const" else xv * (n + 1)
    return {"n": n, "mode": mode, "kind": kind, "seconds": seconds, "cpu_seconds": cpu, "tier": f.native.tier,
            "ok": bool(np.allclose(f(xv), want, rtol=1e-12))}


def scaling(sizes=SCALING_SIZES, modes=SCALING_MODES, kinds=SCALING_KINDS, timeout=900):
    """[point dicts]: one fresh interpreter per point."""
    points = []
    for mode in modes:
        for kind in kinds:
            for n in sizes:
                env = dict(os.environ)
                env.pop("THEON_FLAGS", None)
                proc = subprocess.run([sys.executable, "-m", "bench.compile_time", "--chain", str(n), mode, kind],
                                      capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
                if proc.returncode != 0:
                    raise RuntimeError(f"chain {n} {mode} {kind} failed:\n{proc.stderr[-3000:]}")
                points.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return points


def render_scaling(points):
    """The curve as a table: ops against seconds per mode and chain kind,
    with the seconds per 1,000 ops (flat when growth is linear)."""
    lines = ["compile time of a chain of N adds (seconds; per 1,000 ops in brackets)",
             f"{'mode':<13}{'kind':<7}" + "".join(f"{n:>20,}" for n in sorted({p['n'] for p in points}))]
    for mode in dict.fromkeys(p["mode"] for p in points):
        for kind in dict.fromkeys(p["kind"] for p in points):
            row = sorted((p for p in points if p["mode"] == mode and p["kind"] == kind), key=lambda p: p["n"])
            cells = "".join(f"{p['seconds']:>10.2f} ({1000 * p['seconds'] / p['n']:5.3f})"
                            + ("" if p["ok"] else "!") for p in row)
            lines.append(f"{mode:<13}{kind:<7}{cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--chain"]:
        print(json.dumps(chain_point(int(sys.argv[2]), sys.argv[3], sys.argv[4])))
    else:
        print(json.dumps(measure_here()))
