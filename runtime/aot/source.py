"""What ``aot-compile`` compiles: the entries of a SOURCE file.

A SOURCE is a Python file, run with ``runpy`` under the module name
``__aot_compile__`` (so an ``if __name__ == "__main__":`` demo does not
run), whose module-level ``theon.function`` objects are the entries, named
by their variable; or a saved IR text file (``func @name(...) {...}``)
whose functions are the entries, their shared arguments starting at zero.

Problems are ``SourceError``s: one message for the user. An exception in
the user's Python file becomes a ``UserCodeError`` whose message holds the
traceback of the user's code only (from its first frame in SOURCE).
"""
import os
import runpy
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ...ir.core import Operation
from ...ir.parser import ParseError, parse_module

IR_SUFFIXES = (".theon", ".mlir", ".ir")
RUN_NAME = "__aot_compile__"


class SourceError(Exception):
    """A problem with SOURCE, reported as one message."""


class UserCodeError(SourceError):
    """SOURCE raised an exception; the message is its traceback."""


@dataclass
class Entry:
    """One function to compile. ``func`` is a private copy of its IR
    (optimized already when it came from a Python function); the shared
    arguments follow the inputs, ``shared_values[j]`` is the initial value
    of the j-th (None: zeros of its static shape)."""
    name: str
    func: object
    input_labels: list
    output_labels: list
    shared_labels: list
    shared_values: list
    single_output: bool
    from_ir: bool
    gpu_func: object = None     # from a Python function with float16 values: its IR optimized for the
                                # GPU (float16 products kept for the tensor cores), else None


def load_entries(path):
    """The entries of SOURCE ``path``, in definition order."""
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file")
    if os.path.isdir(path):
        raise SourceError(f"{path}: is a directory, not a Python or IR file")
    if _is_ir(path):
        return _ir_entries(path)
    return _python_entries(path)


def _is_ir(path):
    if path.endswith(".py"):
        return False
    if path.endswith(IR_SUFFIXES):
        return True
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = line.strip()
                if text and not text.startswith("//"):
                    return text.startswith("func ")
    except (OSError, UnicodeDecodeError):
        return False
    return False


# --- Python sources ----------------------------------------------------------------------------
def run_user_file(path):
    """Run the Python file ``path``; its module namespace. sys.argv and
    sys.path[0] are set as for ``python path`` while it runs."""
    path = os.path.abspath(path)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path]
    sys.path.insert(0, os.path.dirname(path))
    try:
        return runpy.run_path(path, run_name=RUN_NAME)
    except KeyboardInterrupt:
        raise
    except SystemExit as e:
        raise SourceError(f"{path} called sys.exit({e.code!r}) while being loaded; a SOURCE must "
                          "define its theon functions at module level and return") from None
    except BaseException as e:  # noqa: BLE001 - any failure of the user's code is reported as such
        raise UserCodeError(_user_traceback(e, path)) from None
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def _user_traceback(exc, path):
    """The traceback text of ``exc`` from its first frame in ``path`` on
    (the frames of aot-compile and runpy before it are not the user's)."""
    tb = exc.__traceback__
    real = os.path.realpath(path)
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) != real:
        tb = tb.tb_next
    if tb is None:      # a SyntaxError while compiling SOURCE: no frame of it ran
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        lines = traceback.format_exception(type(exc), exc, tb)
    return "".join(lines).rstrip("\n")


def _python_entries(path):
    from ..function import Function
    namespace = run_user_file(path)
    entries, seen = [], set()
    for name, value in namespace.items():
        if name.startswith("__") or not isinstance(value, Function) or id(value) in seen:
            continue
        seen.add(id(value))
        entries.append(_from_function(name, value))
    return entries


def _from_function(name, f):
    func = f.ir.clone()
    n_out = len(f.outputs)
    if func.num_outputs != n_out:       # DEBUG mode returns intermediates after the outputs
        ret = func.return_op
        operands = ret.operands[:n_out] + ret.operands[func.num_outputs:]
        func.body.remove(ret)
        func.body.append(Operation(ret.opdef, operands, ret.attrs))
    return Entry(
        name=name, func=func,
        input_labels=[v.name for v in f.inputs],
        output_labels=[getattr(v, "name", None) for v in f.outputs],
        shared_labels=[s.name for s in f.shared],
        shared_values=[np.array(s.get_value()) for s in f.shared],
        single_output=bool(getattr(f, "_single", n_out == 1)),
        from_ir=False, gpu_func=_gpu_ir(f) if func.num_outputs == n_out else None)


def _gpu_ir(f):
    """The GPU's own optimization of ``f``'s input IR when it computes with
    float16 (the CPU's legalize-f16 turned its float16 products into float32 ones)
    or the CPU's passes made an op the GPU plan has no kernel for (gemm-epilogue's
    CPU GEMM epilogue)."""
    from .. import pipeline
    if not pipeline.needs_gpu_ir(f.ir):
        return None
    return pipeline.legalize(pipeline.optimize(f.input_ir(), pipeline.for_target(f.mode.pipeline, "gpu")), "gpu")


# --- IR sources ------------------------------------------------------------------------------------
def _zero_state(path, func, i):
    """Zeros of the shape recorded for shared argument ``i`` (``shape =
    [...]``, as ``theon.printing.dump`` writes it), or None (then the
    argument's type must be static)."""
    shape = func.arg_attrs[i].get("shape")
    if shape is None:
        return None
    if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise SourceError(f"{path}: @{func.name}: shared argument {func.args[i].name!r}: shape must be a "
                          f"list of sizes, got {shape!r}")
    if not func.args[i].type.accepts_shape(shape):
        raise SourceError(f"{path}: @{func.name}: shared argument {func.args[i].name!r}: shape {list(shape)} "
                          f"does not fit its type {func.args[i].type}")
    return np.zeros(shape, dtype=func.args[i].type.dtype)


def _ir_entries(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        module = parse_module(text, path)
    except ParseError as e:
        raise SourceError(str(e)) from None
    except ValueError as e:     # verifier errors carry their position
        raise SourceError(f"{path}: {e}") from None
    entries = []
    for func in module.functions:
        shared = [i for i, a in enumerate(func.arg_attrs) if "shared" in a]
        n_in = len(func.args) - len(shared)
        if shared != list(range(n_in, len(func.args))):
            raise SourceError(f"{path}: @{func.name}: shared arguments must follow the inputs")
        entries.append(Entry(
            name=func.name, func=func,
            input_labels=[a.name for a in func.args[:n_in]],
            output_labels=[v.name for v in func.outputs],
            shared_labels=[func.arg_attrs[i]["shared"] for i in shared],
            shared_values=[_zero_state(path, func, i) for i in shared],
            single_output=func.num_outputs == 1,
            from_ir=True))
    return entries
