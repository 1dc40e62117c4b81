"""``theon.tensor.nnet.neighbours``: image patches as rows and back (``frontend/nnet.py``)."""
from ...frontend.nnet import images2neibs, neibs2images  # noqa: F401

__all__ = ["images2neibs", "neibs2images"]
