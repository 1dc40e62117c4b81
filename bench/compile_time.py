"""W8: seconds to compile the W6 training step (graph + grad + theon.function).

    python -m bench.compile_time CACHE_DIR     prints one JSON line

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


if __name__ == "__main__":
    print(json.dumps(measure_here()))
