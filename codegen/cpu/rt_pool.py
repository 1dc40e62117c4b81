"""The persistent thread pool of theon's native runtime library (rtlib.py)."""
from .rtlib import part  # noqa: F401
