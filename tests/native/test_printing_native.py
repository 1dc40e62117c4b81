"""theon.printing of compiled functions: debugprint, pydotprint, dump of every stage."""
import io
import shutil

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import printing

from ..ir.test_printing import graph  # noqa: F401  (a fixture)


def test_debugprint_compiled_function_marks_shared_and_updates():
    w = theon.shared(np.zeros(2), name="w")
    x = T.vector("x")
    f = theon.function([x], (x * w).sum(), updates=[(w, w + x)])
    text = printing.debugprint(f, file="str")
    assert "sum" in text and "mul" in text
    assert "w [id" in text and "(shared)" in text
    assert "(output 0)" in text and "(update of 'w')" in text


def test_pydotprint_png_or_message(tmp_path, graph, capsys):
    x, y, z = graph
    f = theon.function([x, y], z)
    png = tmp_path / "g.png"
    path = printing.pydotprint(f, outfile=str(png))
    assert (tmp_path / "g.dot").exists()                 # the .dot text is always written
    if shutil.which("dot"):
        assert path == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    else:
        assert path == str(tmp_path / "g.dot") and not png.exists()
        assert "dot" in capsys.readouterr().out


def test_dump_stages():
    x = T.vector("x")
    f = theon.function([x], T.exp(x) * 2 + T.exp(x))
    before = printing.dump(f, "input")
    after = printing.dump(f, "optimized")
    assert before.startswith("func @") and "exp" in before and "return" in before
    assert after.startswith("func @") and "return" in after
    assert before.count("exp(") == 2                 # the graph as built ...
    assert after.count("exp(") == 1                  # ... and after cse
    llvm = printing.dump(f, "llvm")
    assert "define" in llvm and "theon_" in llvm
    asm = printing.dump(f, "asm")
    assert "theon_" in asm
    buf = io.StringIO()
    assert printing.dump(f, "input", file=buf) == buf.getvalue()


def test_dump_ptx_not_yet_and_bad_stage():
    x = T.vector("x")
    f = theon.function([x], x * 2)
    assert ".entry " in printing.dump(f, "ptx")
    with pytest.raises(ValueError, match="stage"):
        printing.dump(f, "bytecode")
    with pytest.raises(TypeError, match="compiled"):
        printing.dump(x, "input")
