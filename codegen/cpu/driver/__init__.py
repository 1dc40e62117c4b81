"""CPU compile orchestration: LLVM pipelines and object loading (``jit``),
the on-disk cache and tiers (``compile``, ``tierup``, ``irtext``), the
runtime library's loading (``rtload``), and the Python / C wrappers
(``pywrap``, ``aot_wrapper``). Uses ``cpu/lower`` and ``cpu/rtlib``."""
