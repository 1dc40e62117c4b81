"""``theon.scan_module``: Theano's module of loops -- ``scan``, ``until``
and the helpers ``map``, ``reduce``, ``foldl``, ``foldr``, ``scan_checkpoints``
(``frontend/scan.py``; the op is ``scan`` in ``ir/ops/control.py``)."""
from ..frontend.scan import foldl, foldr, map, reduce, scan, scan_checkpoints, until  # noqa: F401,A004
