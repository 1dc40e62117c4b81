"""``aot-compile``: theon functions as object files and C headers, in the
manner of a Halide generator.

    aot-compile SOURCE -o OUTDIR [--entry NAME]... [--target host|TRIPLE|cuda]
                [--cpu NAME] [--features +avx2,...] [--sm sm_80]
                [--emit obj,header,shared,llvm,asm,ir,ptx,host]
                [-O0..-O3] [-p PIPELINE] [--print-ir-after-all]

SOURCE is a Python file whose module-level ``theon.function`` objects are
the entries (named by their variable), or a saved IR text file. Per entry
NAME it writes NAME.o and NAME.h (``--emit`` picks: obj, header, shared ->
libNAME.so, llvm -> NAME.ll, asm -> NAME.s, ir -> NAME.theon). A C
program links them with ``cc main.c NAME.o -lm``; see docs/aot.md.

Problems are one message on stderr and exit status 1 (2 for usage errors,
as argparse does); an exception in SOURCE shows the traceback of SOURCE's
code only. Progress goes to stderr when it is a terminal. ``--traceback``
shows the Python traceback of an internal error.
"""
import argparse
import os
import sys
import time

EMIT_CHOICES = ("obj", "header", "shared", "llvm", "asm", "ir", "ptx", "host")


class CliError(Exception):
    """A problem to report in one message, exit status 1."""


def build_arg_parser():
    p = argparse.ArgumentParser(
        prog="aot-compile",
        description="Compile theon functions ahead of time into object files and C headers.")
    p.add_argument("source", metavar="SOURCE",
                   help="a Python file defining theon functions at module level, or an IR text file")
    p.add_argument("-o", "--output-dir", dest="outdir", required=True, metavar="OUTDIR",
                   help="directory for the generated files (created if missing)")
    p.add_argument("--entry", "-e", action="append", default=[], metavar="NAME",
                   help="compile only this entry (repeatable, or comma-separated); default: all")
    p.add_argument("--target", default="host", metavar="host|TRIPLE|cuda",
                   help="LLVM target triple, e.g. aarch64-unknown-linux-gnu (default: host)")
    p.add_argument("--cpu", default=None, metavar="NAME",
                   help="target CPU (default: this machine's for host, generic otherwise)")
    p.add_argument("--features", default=None, metavar="+f1,-f2",
                   help="target features, e.g. +avx2,+fma (default: this machine's for host)")
    p.add_argument("--sm", default=None, metavar="sm_80",
                   help="GPU architecture for --target cuda (default: sm_80)")
    p.add_argument("--emit", default="obj,header", metavar="KINDS",
                   help="comma-separated: obj, header, shared, llvm, asm, ir (default: obj,header); "
                        "ptx needs --target cuda")
    p.add_argument("-O", dest="opt_level", type=int, choices=range(4), default=3, metavar="N",
                   help="LLVM optimization level -O0..-O3 (default: -O3)")
    p.add_argument("-p", "--pass-pipeline", dest="pipeline", default=None, metavar="PIPELINE",
                   help="theon passes to run first, e.g. 'cse,dce' (default: none for Python "
                        "entries, already optimized by their mode; FAST_RUN's for IR files)")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR to stderr after every theon pass")
    p.add_argument("--traceback", action="store_true", help="show tracebacks of internal errors")
    return p


def _emit_kinds(text):
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in EMIT_CHOICES]
    if bad or not kinds:
        raise CliError(f"aot-compile: --emit {text!r}: unknown kind {', '.join(bad) or '(none)'}; "
                       f"choose from {','.join(EMIT_CHOICES)}")
    return tuple(dict.fromkeys(kinds))


def main(argv=None):
    args = build_arg_parser().parse_args(argv)
    try:
        _run(args)
    except CliError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aot-compile: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - an internal error: one line unless --traceback
        if args.traceback:
            raise
        print(f"aot-compile: internal error: {type(e).__name__}: {e} (run with --traceback for details)",
              file=sys.stderr)
        return 1
    return 0


def _run(args):
    from .aot.build import BuildError, Options, Target, compile_entry, parse_passes, select_entries
    from .aot.source import SourceError, UserCodeError, load_entries
    options = Options(outdir=args.outdir, target=args.target, cpu=args.cpu, features=args.features,
                      emit=_emit_kinds(args.emit), opt_level=args.opt_level, pipeline=args.pipeline,
                      print_ir_after_all=args.print_ir_after_all, log=sys.stderr, source=args.source)
    options.sm = args.sm
    for kind in ("ptx", "host"):
        if kind in options.emit and args.target.lower() != "cuda":
            raise CliError(f"aot-compile: --emit {kind} needs --target cuda")
    if args.sm is not None and args.target.lower() != "cuda":
        raise CliError("aot-compile: --sm applies to --target cuda only")
    names = [n.strip() for item in args.entry for n in item.split(",") if n.strip()]
    progress = _Progress(sys.stderr)
    try:
        target = Target(options)            # check the options before running SOURCE
        parse_passes(options, from_ir=True)
        progress.note(f"loading {args.source}")
        entries = select_entries(load_entries(args.source), names, args.source)
        _make_dir(args.outdir)
        for k, entry in enumerate(entries, start=1):
            progress.start(f"[{k}/{len(entries)}] {entry.name}")
            written = compile_entry(entry, options, target)
            progress.done(", ".join(os.path.basename(p) for p in written))
    except UserCodeError as e:
        progress.fail()
        raise CliError(f"aot-compile: error in {args.source} (your code raised an exception while it "
                       f"was loaded; its traceback follows)\n{e}") from None
    except (SourceError, BuildError) as e:
        progress.fail()
        raise CliError(f"aot-compile: {e}") from None


def _make_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CliError(f"aot-compile: cannot create output directory {path}: {e.strerror or e}") from None
    if not os.path.isdir(path):
        raise CliError(f"aot-compile: {path} is not a directory")


class _Progress:
    """One line per entry on stderr, only when stderr is a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.active = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = None

    def note(self, text):
        if self.active:
            print(f"aot-compile: {text}", file=self.stream, flush=True)

    def start(self, text):
        self.t0 = time.perf_counter()
        if self.active:
            print(f"aot-compile: {text} ...", end="", file=self.stream, flush=True)

    def done(self, text):
        if self.active and self.t0 is not None:
            print(f" {text} ({time.perf_counter() - self.t0:.2f} s)", file=self.stream, flush=True)
        self.t0 = None

    def fail(self):
        if self.active and self.t0 is not None:
            print(" failed", file=self.stream, flush=True)
        self.t0 = None


if __name__ == "__main__":
    sys.exit(main())
