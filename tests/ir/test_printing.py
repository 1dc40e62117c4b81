"""theon.printing: debugprint, pydotprint, dump."""
import io
import os
import shutil

import pytest

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
    assert "tensor<?xf64>" not in text                    # Theano's default: no types
    assert "tensor<?xf64>" in printing.debugprint(z, file="str", print_type=True)
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


