"""Per-op timing of a compiled function (``profile=True``).

Native code compiled with ``profile=True`` adds each op's nanoseconds to
``prof[op index]`` on every call; the runtime also times each whole native
call. ``summary()`` prints, per op (kernel): its share of the time, its
total and per-call time and its call count, slowest first.
"""
import ctypes
import sys

MAX_LABEL = 120


def _fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.3f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3f} us"
    return f"{ns:.0f} ns"


def _op_label(index, op, func):
    """'#3 %2 = mul(%x, %1) : tensor<?xf64>', as ``dump(f, 'optimized')`` names values."""
    from ..ir.printer import print_op
    if op.name == "fused":
        from ..ir.ops.fused import summary
        return f"#{index} {summary(op)}"
    text = print_op(op, func).strip()
    if len(text) > MAX_LABEL:
        text = text[:MAX_LABEL - 3] + "..."
    return f"#{index} {text}"


class ProfileStats:
    """Accumulated times of one compiled function."""

    def __init__(self, name, ir_func):
        self.name = name
        self.func = ir_func
        self.ops = [(i, op) for i, op in enumerate(ir_func.body.ops) if op.name != "return"]
        self.buffer = (ctypes.c_int64 * max(len(ir_func.body.ops), 1))()
        self.calls = 0
        self.call_ns = 0        # wall time of the native calls, as seen from Python

    def record_call(self, ns):
        self.calls += 1
        self.call_ns += ns

    def reset(self):
        ctypes.memset(self.buffer, 0, ctypes.sizeof(self.buffer))
        self.calls = 0
        self.call_ns = 0

    def op_times(self):
        """[(op index, op, total ns)] slowest first."""
        rows = [(i, op, self.buffer[i]) for i, op in self.ops]
        return sorted(rows, key=lambda r: -r[2])

    def summary(self, file=None):
        """Print the per-op and per-call table to ``file`` (stdout)."""
        out = file if file is not None else sys.stdout
        calls = self.calls
        rows = self.op_times()
        op_total = sum(t for _, _, t in rows)
        per_call = self.call_ns / calls if calls else 0
        print(f"Function profile: {self.name!r}", file=out)
        print(f"  calls: {calls}; native time {_fmt_ns(self.call_ns)} in total, "
              f"{_fmt_ns(per_call)} per call; ops {_fmt_ns(op_total)} in total", file=out)
        if not calls:
            print("  (no calls yet)", file=out)
        print(f"  {'<% time>':>8}  {'<total>':>11}  {'<per call>':>11}  {'<calls>':>7}  <op>", file=out)
        for index, op, ns in rows:
            share = 100.0 * ns / op_total if op_total else 0.0
            each = ns / calls if calls else 0
            print(f"  {share:7.1f}%  {_fmt_ns(ns):>11}  {_fmt_ns(each):>11}  {calls:>7}  "
                  f"{_op_label(index, op, self.func)}", file=out)
