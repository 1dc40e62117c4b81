"""Import layering of theon's packages, checked on the source (ast), so
imports inside functions count too:

- codegen does not import runtime; runtime does not import frontend;
- codegen/ptx does not import codegen/cpu (shared helpers live at the top
  of codegen/);
- the three parts of codegen/cpu (lower, rtlib, driver) import each other
  without a circle (intended: driver -> lower -> rtlib, driver -> rtlib).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]      # theon's root (the package)
CPU_PARTS = ("lower", "rtlib", "driver")


def module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = ["theon", *rel.parts]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imports_of(source, name, is_package):
    """Absolute names of everything ``source`` (module ``name``) imports."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base.pop()
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out.extend(f"{mod}.{a.name}" for a in node.names)     # `from pkg import module`
    return out


def module_imports(folder):
    """{module name: [imported names]} for every .py file under ``folder``."""
    result = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        name, is_package = module_name(path)
        result[name] = imports_of(path.read_text(), name, is_package)
    return result


def within(name, package):
    return name == package or name.startswith(package + ".")


def violations(modules, source_pkg, forbidden_pkg):
    return sorted(f"{m} imports {i}" for m, imports in modules.items() if within(m, source_pkg)
                  for i in imports if within(i, forbidden_pkg))


def cpu_part(name):
    parts = name.split(".")
    if len(parts) > 3 and parts[:3] == ["theon", "codegen", "cpu"] and parts[3] in CPU_PARTS:
        return parts[3]
    return None


def part_edges(modules):
    """{(from part, to part): an example import} between the cpu parts."""
    edges = {}
    for m, imports in modules.items():
        a = cpu_part(m)
        for i in imports:
            b = cpu_part(i)
            if a and b and a != b:
                edges.setdefault((a, b), f"{m} imports {i}")
    return edges


def find_cycle(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def visit(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            found = visit(nxt, path + [nxt])
            if found:
                return found
        return None

    for start in sorted(graph):
        found = visit(start, [start])
        if found:
            return found
    return None


# --- the checker itself can fail ------------------------------------------------------------
def test_relative_imports_resolve_as_python_does():
    src = "from ....runtime import cache\nfrom .. import rtlib\ndef f():\n    from ....frontend.shared import X\n"
    names = imports_of(src, "theon.codegen.cpu.driver.compile", False)
    assert "theon.runtime.cache" in names
    assert "theon.codegen.cpu.rtlib" in names
    assert "theon.frontend.shared" in names
    names = imports_of("from . import pool", "theon.codegen.cpu.rtlib", True)
    assert "theon.codegen.cpu.rtlib.pool" in names


def test_the_checks_catch_bad_imports():
    bad = {"theon.codegen.cpu.rtlib.pool": ["theon.codegen.cpu.driver.jit"],
           "theon.codegen.cpu.driver.jit": ["theon.codegen.cpu.lower.entry"],
           "theon.codegen.cpu.lower.entry": ["theon.codegen.cpu.rtlib"],
           "theon.codegen.ptx.maps": ["theon.codegen.cpu.lower.context"],
           "theon.runtime.gpu_function": ["theon.frontend.shared"]}
    assert find_cycle(part_edges(bad)) is not None
    assert violations(bad, "theon.codegen.ptx", "theon.codegen.cpu")
    assert violations(bad, "theon.runtime", "theon.frontend")
    assert find_cycle({("driver", "lower"): "", ("lower", "rtlib"): ""}) is None


# --- the layering ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def modules():
    found = {}
    for folder in ("codegen", "runtime"):
        found.update(module_imports(folder))
    assert "theon.codegen.cpu.lower.entry" in found and "theon.runtime.function" in found
    return found


def test_codegen_does_not_import_runtime(modules):
    assert violations(modules, "theon.codegen", "theon.runtime") == []


def test_runtime_does_not_import_frontend(modules):
    assert violations(modules, "theon.runtime", "theon.frontend") == []


def test_ptx_does_not_import_cpu(modules):
    assert violations(modules, "theon.codegen.ptx", "theon.codegen.cpu") == []


def test_cpu_parts_have_no_import_circle(modules):
    edges = part_edges(modules)
    cycle = find_cycle(edges)
    assert cycle is None, "import circle " + " -> ".join(cycle) + ": " + "; ".join(
        edges[(a, b)] for a, b in zip(cycle, cycle[1:]))


def test_cpu_parts_import_in_the_documented_direction(modules):
    allowed = {("driver", "lower"), ("driver", "rtlib"), ("lower", "rtlib")}
    wrong = {k: v for k, v in part_edges(modules).items() if k not in allowed}
    assert wrong == {}
