"""Native tier: tests that JIT/AOT-compile CPU code or run the runtime in subprocesses."""
