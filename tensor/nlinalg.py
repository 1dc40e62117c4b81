"""``theon.tensor.nlinalg``: Theano's module of that name (``frontend/la.py``,
ops in ``ir/ops/la.py``)."""
from ..frontend.builders import linalg_norm as norm, trace  # noqa: F401
from ..frontend.la import alloc_diag, det, eig, eigh, eigvals, eigvalsh, extract_diag, matrix_inverse, lstsq, matrix_power, pinv, qr, svd  # noqa: F401

__all__ = ["matrix_inverse", "det", "matrix_power", "extract_diag", "alloc_diag", "trace", "norm", "eig", "eigvals", "eigh", "eigvalsh", "qr", "svd", "pinv", "lstsq"]
