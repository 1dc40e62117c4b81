"""No lists of op names outside ``ir/ops/``: what theon knows about an op
lives on its class (``ir/opdef.py`` facts), and passes, codegen and the
runtime ask the op.

The check reads the source of ``passes/``, ``codegen/``, ``runtime/``,
``printing.py`` and ``gradient.py``
(``ast``, nothing is imported) and fails on any list, tuple or set literal
holding two or more strings that name registered ops, and on any dict
literal with two or more op-name keys whose values are constants (a table
of facts such as a cost or a first dynamic operand). Dict literals whose
values are code -- lowering functions, step classes, rule bodies -- are the
backends' dispatch tables keyed by op, which stay.

A rewrite rule's own pattern may name its ops: the roots of a ``PyRule``
(``PyRule("cancel", ("mul", "div"), cancel)``) and, in ``passes/``, a test
of an op's name in a rule body (``inner.name in ("add", "sub")``). A set
of ops that share a property is a fact (``PyRule("commute", lambda d:
d.bit_commutative, ...)``).
"""
import ast
import pathlib

import pytest

from theon.ir.dialect import OPS

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCANNED = ("passes", "codegen", "runtime", "printing.py", "gradient.py")


def _op_strings(nodes, names):
    return [n.value for n in nodes if isinstance(n, ast.Constant) and n.value in names]


def _patterns(tree, rule_bodies):
    """ids of the literals a rule's pattern may spell out (see the module doc)."""
    exempt = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "PyRule":
            if len(node.args) >= 2:
                exempt.add(id(node.args[1]))
        elif (rule_bodies and isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
              and node.left.attr == "name" and all(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops)):
            exempt.update(id(c) for c in node.comparators)
    return exempt


def op_name_lists(source, names, filename="<source>", rule_bodies=False):
    """[(line, text)] of the op-name lists in Python ``source``; with
    ``rule_bodies`` (passes/), name tests in rule bodies are patterns."""
    found = []
    tree = ast.parse(source, filename)
    exempt = _patterns(tree, rule_bodies)
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            hits = _op_strings(node.elts, names)
        elif isinstance(node, ast.Dict):
            keyed = [(k, v) for k, v in zip(node.keys, node.values)
                     if isinstance(k, ast.Constant) and k.value in names]
            facts = [k for k, v in keyed if isinstance(v, (ast.Constant, ast.Tuple, ast.List, ast.Set))]
            hits = [k.value for k in facts]
        else:
            continue
        if len(hits) >= 2:
            found.append((node.lineno, ast.get_source_segment(source, node) or repr(hits)))
    return sorted(found)


def _files():
    for folder in SCANNED:
        path = ROOT / folder
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("path", list(_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_op_name_lists(path):
    rel = path.relative_to(ROOT)
    found = op_name_lists(path.read_text(), set(OPS), str(path), rule_bodies=rel.parts[0] == "passes")
    assert not found, (f"{rel} lists op names; ask the op instead "
                       "(a fact on its class in ir/ops/, see ARCHITECTURE.md 'Adding an op'):\n"
                       + "\n".join(f"  line {line}: {text}" for line, text in found))


def test_the_scan_finds_what_it_must():
    names = {"add", "mul", "exp", "sum", "max"}
    src = '''
COMMUTATIVE = frozenset({"add", "mul"})
COST = {"exp": 8, "sum": 2}
def f(op):
    return op.name in ("sum", "max")
'''
    assert [line for line, _ in op_name_lists(src, names)] == [2, 3, 5]


def test_the_scan_lets_dispatch_tables_and_single_names_pass():
    names = {"add", "mul", "exp", "sum", "max"}
    src = '''
LOWERINGS = {"add": lower_add, "mul": lower_mul, "sum": reduce.lower}
PyRule("log-exp", ("exp",), f)
PyRule("cancel", ("mul", "add"), f)
if op.name == "exp" or x in ("float32", "float64", "sum"):
    pass
'''
    assert op_name_lists(src, names) == []


def test_name_tests_are_patterns_only_in_rule_bodies():
    src = '''
if inner.name not in ("add", "sub"):
    pass
'''
    assert op_name_lists(src, {"add", "sub"}, rule_bodies=True) == []
    assert [line for line, _ in op_name_lists(src, {"add", "sub"})] == [2]
