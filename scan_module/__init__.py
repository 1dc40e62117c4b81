"""``theon.scan_module``: Theano's module of loops -- ``scan``, ``until``
and the helpers ``map``, ``reduce``, ``foldl``, ``foldr``
(``frontend/scan.py``; the op is ``scan`` in ``ir/ops/control.py``)."""
from ..frontend.scan import foldl, foldr, map, reduce, scan, until  # noqa: F401,A004
