"""What the package declares and ships: pyproject's package list covers
every package folder, the wheel carries the files the tests and README
need, the installed dependencies are within the declared (tested) bounds,
``help(theon)`` names the main entry points, and no docstring sends the
user to a file the package does not ship."""
import importlib.metadata
import os
import re

import pytest

import theon

ROOT = os.path.dirname(os.path.abspath(theon.__file__))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")
SKIP_DIRS = {".venv", ".git", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache"}


def _pyproject():
    if not os.path.exists(PYPROJECT):
        pytest.skip("pyproject.toml is not installed (running from a wheel)")
    try:
        import tomllib
    except ImportError:                        # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)


def _package_dirs():
    for here, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        if "__init__.py" in files:
            rel = os.path.relpath(here, ROOT)
            yield "theon" if rel == "." else "theon." + rel.replace(os.sep, ".")


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    missing = sorted(set(_package_dirs()) - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}"


def test_package_data_covers_the_non_python_files_tests_and_readme_read():
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    assert {"README.md", "ARCHITECTURE.md", "LICENSE"} <= set(data["theon"])
    assert "*.c" in data["theon.examples"]
    assert os.path.exists(os.path.join(ROOT, "examples", "aot_main.c"))


def _requirements():
    """pyproject's dependencies in a checkout (an editable install's metadata
    may be older), the installed metadata's from a wheel."""
    if os.path.exists(PYPROJECT):
        return _pyproject()["project"]["dependencies"]
    return importlib.metadata.requires("theon") or []


def _version(text):
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def test_installed_dependencies_are_within_the_declared_bounds():
    reqs = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower(): r for r in _requirements() if "extra" not in r}
    assert set(reqs) == {"llvmlite", "numpy"}, reqs     # the only runtime dependencies
    assert re.search(r"<\s*0\.\d+", reqs["llvmlite"]), "llvmlite needs an upper bound on its minor version"
    for name, spec in reqs.items():
        have = _version(importlib.metadata.version(name))
        low = re.search(r">=\s*([\d.]+)", spec)
        high = re.search(r"<\s*([\d.]+)", spec)
        assert low and have >= _version(low.group(1)), (name, have, spec)
        assert not high or have < _version(high.group(1)), (name, have, spec)


def test_help_names_the_main_entry_points_one_line_each():
    doc = theon.__doc__
    for name in ("function", "shared", "grad", "scan", "Mode", "config"):
        assert re.search(rf"^    {name}\b", doc, re.M), f"help(theon) does not list {name}"
        assert name in dir(theon)


def test_no_docstring_or_comment_points_to_files_the_package_does_not_ship():
    offenders = []
    for here, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(here, name)
                text = open(path, encoding="utf-8").read()
                if name != "test_packaging.py" and re.search(r"SPEC\.md|STYLE\.md|shared/SPEC", text):
                    offenders.append(os.path.relpath(path, ROOT))
    assert not offenders, f"these refer to the project's private notes: {offenders}"
