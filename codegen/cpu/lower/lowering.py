"""The CPU lowering table: op name -> lowering function.

A lowering is ``lower(ctx, op, bufs) -> [Buf per result]`` where ``bufs``
are the operands' Bufs (see context.py). Every op of the dialect must have
an entry; a test walks ``ir.dialect.OPS`` to enforce it.
"""
from . import autodiff_ops, control, conv, conv_pool, data, debug, fused, indexing, linalg, pool, random, reduction, views
from . import extra, sorting
from . import la, la_eig, la_spectral
from .elementwise import lower_elementwise
from ...scalar import LoweringTable

LOWERINGS = LoweringTable(lower_elementwise)   # every elementwise op with a scalar emitter (SCALAR)
LOWERINGS.update(linalg.LOWERINGS)   # matmul
LOWERINGS.update(views.LOWERINGS)    # dimshuffle reshape subtensor
LOWERINGS.update(data.LOWERINGS)     # shape set/inc_subtensor concatenate alloc arange constant
LOWERINGS.update(reduction.REDUCTIONS)  # sum prod max min argmax argmin
LOWERINGS.update(autodiff_ops.LOWERINGS)  # sum_to stop_gradient
LOWERINGS.update(fused.LOWERINGS)    # fused (yield is part of it)
LOWERINGS.update(debug.LOWERINGS)    # print
LOWERINGS.update(control.LOWERINGS)  # ifelse scan (their regions through entry.lower_block)
LOWERINGS.update(random.LOWERINGS)   # random_uniform random_normal (Philox-4x32-10)
LOWERINGS.update(indexing.LOWERINGS)  # adv_subtensor adv_set_subtensor adv_inc_subtensor
LOWERINGS.update(conv.LOWERINGS)     # conv conv_grad_input conv_grad_weight (im2col + GEMM)
LOWERINGS.update(pool.LOWERINGS)     # pool pool_grad
LOWERINGS.update(conv_pool.LOWERINGS)  # conv_pool pool_grad_mask (passes/conv_pool.py)
LOWERINGS.update(sorting.LOWERINGS)   # sort argsort (radix sort)
LOWERINGS.update(extra.LOWERINGS)     # cumsum cumprod searchsorted bincount repeat
LOWERINGS.update(la.LOWERINGS)        # cholesky solve_triangular solve matrix_inverse det
LOWERINGS.update(la_spectral.LOWERINGS)  # eigvalsh eigh_vectors qr_q qr_r svd_s svd_u svd_vt pinv
LOWERINGS.update(la_eig.LOWERINGS)    # eigvals eig_vectors
