"""theon.printing: debugprint, pydotprint, dump."""
import io
import os
import shutil

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon import printing


@pytest.fixture
def graph():
    x, y = T.vector("x"), T.vector("y")
    z = T.exp(x) * y + 1
    return x, y, z


def test_debugprint_variable_shows_ops_and_inputs(graph):
    x, y, z = graph
    text = printing.debugprint(z, file="str")
    assert "exp" in text and "mul" in text and "add" in text
    assert "x [id" in text and "y [id" in text
    assert "tensor<?xf64>" in text
    lines = text.splitlines()
    assert lines[0].startswith("add")                  # the root first
    assert any(ln.startswith(" | |") for ln in lines)   # nested operands are indented


def test_debugprint_repeated_value_has_one_id():
    x = T.vector("x")
    e = T.exp(x)
    text = printing.debugprint(e + e, file="str")
    ids = [ln.split("[id ")[1].split("]")[0] for ln in text.splitlines() if ln.lstrip(" |").startswith("exp")]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert text.count("...") == 1


def test_debugprint_to_file_and_stdout(graph, capsys):
    _, _, z = graph
    buf = io.StringIO()
    assert printing.debugprint(z, file=buf) is None
    assert "exp" in buf.getvalue()
    printing.debugprint(z)
    assert "exp" in capsys.readouterr().out


def test_debugprint_compiled_function_marks_shared_and_updates():
    w = theon.shared(np.zeros(2), name="w")
    x = T.vector("x")
    f = theon.function([x], (x * w).sum(), updates=[(w, w + x)])
    text = printing.debugprint(f, file="str")
    assert "sum" in text and "mul" in text
    assert "w [id" in text and "(shared)" in text
    assert "(output 0)" in text and "(update of 'w')" in text


def test_debugprint_rejects_other_objects():
    with pytest.raises(TypeError, match="variable"):
        printing.debugprint(42)


def test_pydotprint_writes_dot_text(tmp_path, graph):
    _, _, z = graph
    out = tmp_path / "g.dot"
    path = printing.pydotprint(z, outfile=str(out))
    assert path == str(out)
    text = out.read_text()
    assert text.startswith("digraph") and "exp" in text


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


def test_pydotprint_without_dot_program_says_so(tmp_path, graph, capsys, monkeypatch):
    _, _, z = graph
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = printing.pydotprint(z, outfile=str(tmp_path / "g.svg"))
    assert path.endswith("g.dot") and os.path.exists(path)
    assert not (tmp_path / "g.svg").exists()
    assert "'dot' program was not found" in capsys.readouterr().out


def test_pydotprint_bad_extension(tmp_path, graph):
    with pytest.raises(ValueError, match="outfile"):
        printing.pydotprint(graph[2], outfile=str(tmp_path / "g.jpg2"))


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
