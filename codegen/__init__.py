"""Backends: ``cpu`` (llvmlite, native), later ``ptx`` (NVIDIA GPUs)."""
