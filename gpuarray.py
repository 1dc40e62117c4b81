"""``theon.gpuarray`` is ``theon.runtime.gpuarray`` (arrays in GPU memory):
this module replaces itself with it, so both names are one module."""
import sys

from .runtime import gpuarray as _gpuarray

sys.modules[__name__] = _gpuarray
