"""``theon.tensor.shared_randomstreams``: Theano's ``RandomStreams``
(``frontend/random.py``: counter-based Philox streams in native code)."""
from ..frontend.random import RandomStream

__all__ = ["RandomStreams"]


class RandomStreams(RandomStream):
    """Theano's ``RandomStreams(seed=None)``: ``uniform``, ``normal``,
    ``binomial``, ``random_integers``, ``seed``, ``updates``; ``seed=None``
    draws a fresh seed."""
