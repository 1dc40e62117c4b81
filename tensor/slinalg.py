"""``theon.tensor.slinalg``: Theano's module of that name (``frontend/la.py``,
ops in ``ir/ops/la.py``)."""
from ..frontend.la import (  # noqa: F401
    cholesky, solve, solve_lower_triangular, solve_symmetric, solve_triangular, solve_upper_triangular,
)
from ..frontend.la import lstsq  # noqa: F401,E402

__all__ = ["cholesky", "solve", "solve_triangular", "solve_lower_triangular", "solve_upper_triangular",
           "solve_symmetric", "lstsq"]
