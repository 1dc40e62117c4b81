"""``theon.tensor``: the Theano-compatible DSL (``import theon.tensor as T``).

A thin re-export of ``theon.frontend``'s DSL modules; ``T.nnet`` holds the
neural-network helpers.
"""
from ..frontend.variable import TensorConstant, TensorVariable  # noqa: F401
from ..frontend.types import *  # noqa: F401,F403  (every constructor: scalar ... ltensor7s)
from ..frontend.basic import constant, as_tensor_variable, cast  # noqa: F401
from ..frontend.elemwise import (  # noqa: F401
    add, sub, mul, true_div, floor_div, mod, pow, maximum, minimum, neg, abs, sign, sqr,
    eq, neq, lt, le, gt, ge, and_, or_, xor, invert, not_,
    exp, log, log1p, expm1, sqrt, sin, cos, tan, tanh, arctan, sigmoid, softplus, erf,
    log2, log10, floor, ceil, round, isnan, isinf, where, switch, clip, as_float,
    exp2, sinh, cosh, arcsin, arccos, arcsinh, arccosh, arctanh, arctan2, erfc, erfinv, gamma, gammaln,
    psi, tri_gamma, deg2rad, rad2deg, inv, trunc, iround, round_half_to_even, round_half_away_from_zero,
    ceil_intdiv, largest, smallest,
)
from ..frontend.reduce import (  # noqa: F401
    sum, prod, max, min, any, all, mean, var, std, logsumexp, argmax, argmin,
)
from ..frontend.shape_ops import (  # noqa: F401
    addbroadcast, unbroadcast, patternbroadcast,
    shape, reshape, flatten, dimshuffle, transpose, squeeze, expand_dims, shape_padleft,
    shape_padright, concatenate, join, stack, alloc, fill, full, zeros, ones, zeros_like,
    ones_like, arange,
)
from ..frontend.indexing import set_subtensor, inc_subtensor, take, nonzero, flatnonzero, nonzero_values  # noqa: F401
from ..frontend.linalg import dot, matmul, tensordot, outer  # noqa: F401
from ..frontend.builders import (  # noqa: F401
    tile, roll, eye, identity_like, tri, tril, triu, diagonal, diag, trace, stacklists, choose,
    mgrid, ogrid, batched_dot, batched_tensordot, norm,
)
from ..frontend.shared import TensorSharedVariable  # noqa: F401
from ..gradient import grad, Lop, Rop, jacobian, hessian, grad_clip, grad_scale  # noqa: F401
from . import nnet, random, shared_randomstreams, sharedvar, signal, subtensor, xlogx  # noqa: F401
from . import extra_ops  # noqa: F401
from . import nlinalg, slinalg  # noqa: F401
from .extra_ops import (  # noqa: F401
    cumsum, cumprod, diff, repeat, bincount, searchsorted, unique, compress, fill_diagonal,
    fill_diagonal_offset, to_one_hot, ravel_multi_index, unravel_index,
)
from .sort import sort, argsort, topk, argtopk, topk_and_argtopk  # noqa: F401  (after this, T.sort is the function, as in Theano)

# Theano / NumPy aliases
as_tensor = as_tensor_variable
square = sqr
sgn = sign
power = pow
abs_ = abs
negative = neg
true_divide = divide = true_div
int_div = floor_divide = floor_div
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
