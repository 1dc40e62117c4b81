"""theon.gradient.verify_grad through theon.function (native code)."""
import numpy as np
import pytest

import theon.tensor as T
from theon.gradient import GradientError, verify_grad

from ..ir.test_grad_api import wrong_sin


def test_verify_grad_through_theon_function():
    """The default path compiles with theon.function (native code; the
    reference interpreter, with a RuntimeWarning, while the backend lacks a
    lowering of some op of the graph)."""
    verify_grad(lambda a, b: T.exp(a) * b + T.sqr(a), [np.array([0.1, 0.2]), np.array([[1.0], [2.0]])],
                rng=np.random.default_rng(0))
    with pytest.raises(GradientError):
        verify_grad(wrong_sin, [np.array([0.3, 1.2])])
