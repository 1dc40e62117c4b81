"""The IR tier's guard (conftest.py) refuses native code and subprocesses."""
import subprocess
import sys

import numpy as np
import pytest

import theon
import theon.tensor as T

from .conftest import NativeCodeInIrTier


def test_theon_function_is_refused_in_the_ir_tier():
    x = T.vector("x")
    with pytest.raises(NativeCodeInIrTier, match="tests/native"):
        theon.function([x], T.exp(x) * 2)(np.ones(3))


def test_subprocesses_are_refused_in_the_ir_tier():
    with pytest.raises(NativeCodeInIrTier, match="subprocess"):
        subprocess.run([sys.executable, "-c", "pass"])
