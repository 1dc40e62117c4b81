"""``theon.ifelse``: Theano's lazy conditional, ``ifelse(condition, then, else)``
(``frontend/ifelse.py``; the op is ``ifelse`` in ``ir/ops/control.py``)."""
from .frontend.ifelse import ifelse  # noqa: F401

