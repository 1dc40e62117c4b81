"""The runtime: compiled-function objects and how a call runs.

    function.py   the callable ``theon.function`` returns (the call path)
    convert.py    argument checking and conversion, before native code
    native.py     the native entry signature; malloc'd results as NumPy arrays
    errors.py     native error codes -> TypeError/ValueError/IndexError
    pipeline.py   passes -> verifier -> backend, per mode
    mode.py       theon.Mode and the FAST_RUN/FAST_COMPILE/DEBUG modes
    debug.py      DEBUG mode: native results checked against NumPy references
    profiling.py  per-op times (profile=True)
    opt_cli.py    the theon-opt command line
    aot/          ahead-of-time compilation (aot_cli.py: aot-compile); load_library
"""


def load_library(path, name=None):
    """Load a shared library made by ``aot-compile --emit shared`` as a
    callable (see ``theon.runtime.aot.library``)."""
    from .aot.library import load_library as _load
    return _load(path, name)

