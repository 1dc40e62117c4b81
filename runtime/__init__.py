"""The runtime: compiled-function objects and how a call runs.

    function.py   the callable ``theon.function`` returns (the call path)
    convert.py    argument checking and conversion, before native code
    native.py     the native entry signature; result buffers as NumPy arrays
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



def release_memory():
    """Give the memory theon keeps for reuse back to the system now.

    Compiled functions allocate their results and temporaries from a cache
    (``codegen/cpu/rtlib/alloc.py``): a big buffer (256 KiB and more) freed
    after a call -- a temporary, or a result array that was collected --
    stays mapped so that the next call with the same shapes reuses it
    without page faults. The cache is bounded (64 blocks; at most 1 GiB and
    no more than the program's own peak use of big buffers, but at least
    64 MiB) and drops blocks left unused for a while; call this to free it
    at once, e.g. after a large one-off computation or before forking.
    Arrays still alive are not affected. Returns the number of bytes given
    back."""
    from .native import release_memory as _release
    return _release()


def memory_stats():
    """Counters of theon's buffer cache as a dict: ``hits``/``misses`` of big
    allocations, ``cached_blocks``/``cached_bytes`` held for reuse,
    ``live_bytes`` of big buffers in use and their ``peak_bytes`` since the
    last ``release_memory``, and ``clock`` (big allocations and frees)."""
    from .native import memory_stats as _stats
    return _stats()
