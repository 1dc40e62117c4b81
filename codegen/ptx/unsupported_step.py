"""Ops the GPU plan has no kernels for yet (sorting and ``extra_ops``,
``ir/ops/sorting.py`` and ``ir/ops/extra.py``): building a plan that holds
one fails at compile time with NotImplementedError ("... is not supported
on the GPU yet"), which ``theon.function`` and ``aot-compile --target cuda``
report -- never a silent run on the host."""
from .steps import Step


class NotOnGpuStep(Step):
    kind = "unsupported"

    def __init__(self, index, op, prefix):
        raise NotImplementedError(f"{op.name} (op #{index}) is not supported on the GPU yet; "
                                  "compile this function for the CPU")


LOWERINGS = {"sort": NotOnGpuStep, "argsort": NotOnGpuStep, "cumsum": NotOnGpuStep, "cumprod": NotOnGpuStep,
             "searchsorted": NotOnGpuStep, "bincount": NotOnGpuStep, "repeat": NotOnGpuStep,
             "check_index": NotOnGpuStep}
# dense linear algebra (ir/ops/la.py): CPU only for now
LOWERINGS.update({"cholesky": NotOnGpuStep, "solve_triangular": NotOnGpuStep, "solve": NotOnGpuStep,
                  "matrix_inverse": NotOnGpuStep, "det": NotOnGpuStep, "eigvalsh": NotOnGpuStep,
                  "eigh_vectors": NotOnGpuStep, "qr_q": NotOnGpuStep, "qr_r": NotOnGpuStep,
                  "svd_s": NotOnGpuStep, "svd_u": NotOnGpuStep, "svd_vt": NotOnGpuStep, "pinv": NotOnGpuStep,
                  "eigvals": NotOnGpuStep, "eig_vectors": NotOnGpuStep})
# the CPU GEMM's axpy epilogue (passes/gemm_epilogue.py); GPU pipelines run that pass with target=gpu,
# which keeps matmul and the elementwise ops (the GPU plan makes them the GEMM's epilogue itself)
LOWERINGS.update({"matmul_update": NotOnGpuStep})
# max pooling fused into the CPU convolution's chunks (passes/conv_pool.py); GPU pipelines run that pass
# with target=gpu, which keeps conv, pool and pool_grad
LOWERINGS.update({"conv_pool": NotOnGpuStep, "pool_grad_mask": NotOnGpuStep})
