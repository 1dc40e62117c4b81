"""``theon-opt``: read IR text, verify it, run a pass pipeline, print the
result -- in the manner of ``mlir-opt``.

    theon-opt FILE|- [-p/--pass-pipeline=TEXT] [--print-ir-after-all]
              [--print-ir-after=NAME] [--verify-each] [--time-passes]
              [--emit=ir|dot|mlir|llvm|asm] [-o OUT] [--plugin MODULE]

``--plugin`` imports a Python module (a dotted name, or a ``.py`` file)
before the input is read: the way to bring ops of one's own (registered
with ``theon.ir.dialect.register_op``, region ops included) to the command.

Diagnostics go to stderr as ``file:line:col: message`` (or one line naming
the problem) and the exit status is 1 (2 for command-line usage errors, as
argparse does); IR dumps and timings go to stderr,
the result to stdout or ``-o``. ``--traceback`` shows Python tracebacks of
internal errors instead of a one-line message.
"""
import argparse
import importlib
import importlib.util
import os
import sys

from ..ir.dot import module_to_dot
from ..ir.mlir import module_to_mlir
from ..ir.parser import ParseError, parse_module
from ..ir.printer import print_module
from ..ir.verifier import VerifyError, verify_module

EMITS = ("ir", "dot", "mlir", "llvm", "asm")


class CliError(Exception):
    """A problem to report in one line, exit status 1."""


def build_arg_parser():
    p = argparse.ArgumentParser(prog="theon-opt", description="Run theon IR passes (mlir-opt style).")
    p.add_argument("input", help="IR text file, or - for stdin")
    p.add_argument("-p", "--pass-pipeline", default="", metavar="TEXT",
                   help="passes to run, e.g. 'cse,dce' (options: 'pass{key=value}')")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="NAME",
                   help="print the IR after the named pass (repeatable, or comma-separated)")
    p.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    p.add_argument("--time-passes", action="store_true", help="print a pass timing report")
    p.add_argument("--emit", choices=EMITS, default="ir", help="what to print (default: ir)")
    p.add_argument("-o", "--output", default="-", metavar="OUT", help="output file (default: stdout)")
    p.add_argument("--traceback", action="store_true", help="show tracebacks of internal errors")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module (dotted name or .py file) first, e.g. one that "
                        "registers ops with theon.ir.dialect.register_op (repeatable)")
    return p


def main(argv=None):
    args = build_arg_parser().parse_args(argv)
    try:
        for plugin in args.plugin:
            _load_plugin(plugin)
        text = _read(args.input)
        filename = "<stdin>" if args.input == "-" else args.input
        module = parse_module(text, filename)
        _run_passes(module, args)
        verify_module(module)
        _write(args.output, _emit(module, args.emit))
    except (ParseError, VerifyError, CliError) as e:
        print(e, file=sys.stderr)
        return 1
    except Exception as e:
        if args.traceback:
            raise
        print(f"theon-opt: internal error: {type(e).__name__}: {e} (run with --traceback for details)",
              file=sys.stderr)
        return 1
    return 0


def _load_plugin(name):
    try:
        if name.endswith(".py"):
            module_name = "theon_opt_plugin_" + os.path.splitext(os.path.basename(name))[0]
            spec = importlib.util.spec_from_file_location(module_name, name)
            if spec is None:
                raise ImportError(f"not a Python file: {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure of the plugin is reported in one line
        raise CliError(f"theon-opt: --plugin {name}: cannot load it: {type(e).__name__}: {e}") from None


def _read(path):
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"theon-opt: cannot read {path}: {_os_reason(e)}") from None


def _write(path, text):
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CliError(f"theon-opt: cannot write {path}: {_os_reason(e)}") from None


def _os_reason(e):
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def _run_passes(module, args):
    from ..passes import PASSES, PassManager, parse_pipeline
    try:
        passes = parse_pipeline(args.pass_pipeline)
    except ValueError as e:
        raise CliError(f"theon-opt: --pass-pipeline: {e}") from None
    after = [name.strip() for item in args.print_ir_after for name in item.split(",") if name.strip()]
    for name in after:
        if name not in PASSES:
            raise CliError(f"theon-opt: --print-ir-after={name}: unknown pass; known passes: "
                           f"{', '.join(sorted(PASSES))}")
    PassManager(passes, verify_each=args.verify_each, print_ir_after_all=args.print_ir_after_all,
                print_ir_after=after, time_passes=args.time_passes, out=sys.stderr).run(module)


def _emit(module, emit):
    if emit == "ir":
        return print_module(module)
    if emit == "dot":
        return module_to_dot(module)
    if emit == "mlir":
        return module_to_mlir(module)
    compile_function = _backend(emit)
    chunks = []
    for func in module.functions:
        try:
            compiled = compile_function(func)
        except Exception as e:
            raise CliError(f"theon-opt: cannot compile @{func.name}: {type(e).__name__}: {e}") from None
        text = compiled.llvm_ir if emit == "llvm" else compiled.asm
        chunks.append(text if text.endswith("\n") else text + "\n")
    return "\n".join(chunks)


def _backend(emit):
    try:
        from ..codegen.cpu import compile_function
    except ImportError as e:
        raise CliError(f"theon-opt: --emit={emit} needs theon.codegen.cpu.compile_function, "
                       f"which cannot be imported: {e}") from None
    return compile_function


if __name__ == "__main__":
    sys.exit(main())
