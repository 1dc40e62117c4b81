"""Convolution on the GPU path: not lowered to PTX yet, so building a GPU
plan with a conv op fails at compile time with a clear error (never a
silent run on the host)."""
import pytest

import theon.tensor as T
from theon.codegen.ptx.plan import Plan
from theon.frontend.build import build_function
from theon.tensor.nnet import abstract_conv, conv2d


@pytest.mark.parametrize("which", ["conv", "conv_grad_input", "conv_grad_weight"])
def test_conv_ops_are_not_supported_on_the_gpu_yet(which):
    x, w, gy = T.ftensor4("x"), T.ftensor4("w"), T.ftensor4("gy")
    out = {"conv": conv2d(x, w), "conv_grad_input": abstract_conv.conv2d_grad_wrt_inputs(gy, w, x.shape),
           "conv_grad_weight": abstract_conv.conv2d_grad_wrt_weights(x, gy, w.shape)}[which]
    func = build_function([x, w, gy], [out])[0]
    with pytest.raises(NotImplementedError, match=f"{which} .*is not supported on the GPU yet"):
        Plan(func)
