"""Timing helpers: medians of repeated runs, after a warm-up."""
import statistics
import time


def median_time(fn, repeats, warmup=2):
    """Median seconds of one ``fn()`` call over ``repeats`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_per_call(fn, calls, batches):
    """Median seconds per call of ``fn()``, over ``batches`` loops of ``calls`` calls
    (for sub-microsecond calls, where one timer read would dominate)."""
    for _ in range(calls // 10 + 1):
        fn()
    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - t0) / calls)
    return statistics.median(per_call)


def interleaved(fns, repeats, warmup=2, rounds=3, settle=0.15):
    """{name: median seconds} for several ``fns`` timed in alternating blocks:
    ``rounds`` times, each fn runs one block (a warm-up call, then about
    ``repeats / rounds`` timed calls), then the machine is left idle for
    ``settle`` seconds. Alternating keeps a change in machine load affecting
    all of them alike; blocks and the pause keep one library's background
    threads out of another's timings (OpenBLAS's idle workers spin for about
    0.1 s after each call and would hold a core during the next library's
    call)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    per_block = max(1, -(-repeats // rounds))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(settle)
            fn()
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}
