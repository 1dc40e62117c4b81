"""The buffer cache of theon's native runtime library (rtlib.py)."""
from .rtlib import part  # noqa: F401
