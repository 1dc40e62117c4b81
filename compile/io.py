"""``theon.compile.io``: ``In`` and ``Out`` (see ``theon/frontend/io.py``)."""
from ..frontend.io import In, Out, SymbolicInput, SymbolicOutput  # noqa: F401
