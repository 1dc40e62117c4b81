"""The IR tier needs no native code: every test here runs with native
compilation and subprocesses switched off, so a test that compiles (JIT or
AOT) or starts the runtime in another process fails loudly and belongs in
tests/native instead."""
import subprocess

import llvmlite.binding as llvm
import numpy.testing  # noqa: F401  (NumPy 2.0's runs `lscpu` when first imported: before the guard)
import pytest


class NativeCodeInIrTier(BaseException):
    """A test under tests/ir tried to build or run native code (a BaseException,
    so no `except Exception` fallback can hide it)."""


def _refuse(what):
    def refuse(*args, **kwargs):
        raise NativeCodeInIrTier(f"{what} was called by a test in tests/ir; tests that need native code "
                                 f"(JIT, AOT, subprocesses) go in tests/native")
    return refuse


@pytest.fixture(autouse=True)
def _no_native_code(monkeypatch):
    # every CPU/PTX code path ends in llvmlite: parsing LLVM IR, making an
    # engine, or loading a cached object into one
    for name in ("parse_assembly", "parse_bitcode", "create_mcjit_compiler"):
        monkeypatch.setattr(llvm, name, _refuse(f"llvmlite.binding.{name}"))
    monkeypatch.setattr(llvm.ObjectFileRef, "from_data", staticmethod(_refuse("llvmlite ObjectFileRef.from_data")))
    for name in ("add_module", "add_object_file", "finalize_object", "get_function_address"):
        monkeypatch.setattr(llvm.ExecutionEngine, name, _refuse(f"llvmlite ExecutionEngine.{name}"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("subprocess.Popen"))
