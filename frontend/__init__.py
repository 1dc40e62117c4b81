"""The DSL's implementation (``theon.tensor`` re-exports it)."""
# variable first: basic and elemwise import each other through it
from . import variable  # noqa: F401,E402
