"""``theon.tensor.extra_ops``: Theano's module of that name (``frontend/extra_ops.py``)."""
from ..frontend.extra_ops import (  # noqa: F401
    cumsum, cumprod, diff, repeat, bincount, searchsorted, unique, compress, fill_diagonal,
    fill_diagonal_offset, to_one_hot, ravel_multi_index, unravel_index, bartlett, cpu_contiguous,
)
from ..frontend.shape_ops import squeeze  # noqa: F401

__all__ = ["cumsum", "cumprod", "diff", "repeat", "bincount", "searchsorted", "unique", "compress",
           "fill_diagonal", "fill_diagonal_offset", "to_one_hot", "ravel_multi_index", "unravel_index",
           "squeeze", "bartlett", "cpu_contiguous"]
