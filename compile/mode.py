"""``theon.compile.mode``: ``Mode`` and the predefined modes (see ``theon/runtime/mode.py``)."""
from ..runtime.mode import Mode, get_mode, get_default_mode, PREDEFINED  # noqa: F401
