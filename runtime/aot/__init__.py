"""Ahead-of-time compilation: theon functions as object files and C headers.

    source.py    SOURCE (Python file or IR text) -> entries
    shapes.py    the shape function of an entry; do shapes need input data?
    build.py     entry -> C interface -> LLVM module -> NAME.o, NAME.h, ...
    library.py   load_library: call a libNAME.so from Python with NumPy arrays

The command line is ``runtime/aot_cli.py`` (``aot-compile``); the C side
of the interface is ``codegen/cheader.py`` (header) and
``codegen/cpu/driver/aot_wrapper.py`` (LLVM wrappers). See docs/aot.md.
"""
from .library import AotFunction, load_library  # noqa: F401
