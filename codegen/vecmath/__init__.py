"""Vectorizable transcendental math as straight-line LLVM IR.

Each function is emitted once per module and float type as a small
``internal alwaysinline`` LLVM function (``theon.exp.f64``,
``theon.sin.f32``, ...) built only from arithmetic, ``fma``, compares,
selects, bit casts and integer ops: no libm calls and no ``llvm.exp``-style
intrinsics (those become scalar libm calls on x86). After inlining, LLVM's
loop vectorizer turns an elementwise loop calling them into SIMD code.
``codegen/scalar.py`` calls them for the float elementwise ops of both
backends (CPU loops, PTX kernels); ``codegen/philox.py`` for the normals.

Algorithms are the classic ones (Cody-Waite range reduction + polynomials,
as in Cephes/fdlibm/SLEEF); the polynomial coefficients are near-minimax
fits made for theon with mpmath (Lawson-weighted least squares on Chebyshev
nodes, relative error), one set per precision, kept next to the kernel that
uses them. One module per family, each documenting its algorithms:

- ``fmath``: ``FMath``, the llvmlite builder seen as float arithmetic of one
  precision (shared by all the others), and ``in_float64``;
- ``exp_log``: exp, exp2, expm1, log, log1p, pow, and the kernels the
  other families build on (``exp_kernel``, ``expm1_kernel``, ``log_dd``);
- ``trig_reduce``: x mod pi/2 (Cody-Waite, Payne-Hanek past it);
- ``trig``: sin, cos, tan, arctan, arcsin, arccos, arctan2, ``sincospi``;
- ``hyperbolic``: tanh, sinh, cosh, their inverses, sigmoid, softplus;
- ``fmod``: exact C fmod (float floordiv and mod);
- ``erf``: erf, erfc, erfinv;
- ``gamma``: gamma, gammaln, psi (digamma), trigamma;
- this file: the registry ``FUNCTIONS`` and the emitters of the LLVM
  functions (``get_function``, ``call``).

Measured accuracy (tests/native/test_vecmath.py,
tests/native/test_elementwise_math.py) is within 4 ulp for every function
and precision (x > 0 for the special functions). ``fma`` is ``llvm.fma``: one
instruction on FMA hardware (x86-64-v3+, AArch64).
"""
import llvmlite.ir as lir

from .erf import emit_erf, emit_erfc, emit_erfinv
from .exp_log import emit_exp, emit_exp2, emit_expm1, emit_log, emit_log1p, emit_pow
from .fmath import FMath, precision_of
from .fmod import emit_fmod
from .gamma import emit_gamma, emit_gammaln, emit_psi, emit_trigamma
from .hyperbolic import (emit_arccosh, emit_arcsinh, emit_arctanh, emit_cosh, emit_sigmoid, emit_sinh,
                         emit_softplus, emit_tanh)
from .trig import emit_arccos, emit_arcsin, emit_arctan, emit_arctan2, emit_cos, emit_sin, emit_tan


FUNCTIONS = {
    "exp": emit_exp, "log": emit_log, "log1p": emit_log1p, "expm1": emit_expm1,
    "sin": emit_sin, "cos": emit_cos, "tan": emit_tan, "tanh": emit_tanh,
    "arctan": emit_arctan, "sigmoid": emit_sigmoid, "softplus": emit_softplus,
    "erf": emit_erf, "pow": emit_pow, "fmod": emit_fmod,
    "exp2": emit_exp2, "sinh": emit_sinh, "cosh": emit_cosh, "arcsinh": emit_arcsinh,
    "arccosh": emit_arccosh, "arctanh": emit_arctanh, "arcsin": emit_arcsin, "arccos": emit_arccos,
    "arctan2": emit_arctan2, "erfc": emit_erfc, "erfinv": emit_erfinv, "gamma": emit_gamma,
    "gammaln": emit_gammaln, "psi": emit_psi, "trigamma": emit_trigamma,
}


def arity(emit):
    """How many operands the kernel ``emit(m, *operands)`` takes."""
    return emit.__code__.co_argcount - 1


def get_function(module, name, ty):
    """The ``internal alwaysinline`` LLVM function ``theon.<name>.<f32|f64>``
    of ``module``, emitted on first use."""
    prec = precision_of(ty)
    fname = f"theon.{name}.{prec.suffix}"
    fn = module.globals.get(fname)
    if fn is not None:
        return fn
    emit = FUNCTIONS[name]
    nargs = arity(emit)
    fn = lir.Function(module, lir.FunctionType(ty, [ty] * nargs), fname)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    for k, a in enumerate(fn.args):
        a.name = "xy"[k] if nargs > 1 else "x"
    b = lir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(emit(FMath(module, b, prec), *fn.args))
    return fn


def call(module, builder, name, args):
    """Emit a call of vector math function ``name`` on ``args`` (one float type)."""
    return builder.call(get_function(module, name, args[0].type), list(args))
