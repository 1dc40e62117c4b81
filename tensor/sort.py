"""``theon.tensor.sort``: Theano's module of that name (``frontend/extra_ops.py``).
``theon.tensor.sort`` the attribute is the function, as in Theano."""
from ..frontend.extra_ops import argsort, argtopk, sort, topk, topk_and_argtopk  # noqa: F401

__all__ = ["sort", "argsort", "topk", "argtopk", "topk_and_argtopk"]
