"""``theon.tensor.nnet.bn``: Theano 1.0's batch normalization (``frontend/nnet.py``)."""
from ...frontend.nnet import (  # noqa: F401
    batch_normalization, batch_normalization_test, batch_normalization_train,
)

__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
