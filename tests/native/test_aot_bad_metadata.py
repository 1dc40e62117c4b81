"""theon.runtime.load_library refuses a library whose metadata is not what
aot-compile writes with a ValueError that says so (never AttributeError,
UnicodeDecodeError, KeyError or a crash). The libraries are tiny C files
built with the system compiler."""
import json
import shutil
import subprocess

import pytest

import theon

CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="needs a C compiler")

GOOD = {"abi": "theon-aot-1", "name": "foo", "inputs": [{"name": "x", "dtype": "float64", "shape": [None],
                                                           "label": "x", "dim_names": ["x_n"]}],
        "outputs": [{"name": "y", "dtype": "float64", "shape": [None], "label": None, "dim_names": []}],
        "state": [], "updates": [], "shapes_need_data": False, "single_output": True,
        "source": "", "target": "", "zero_state": False, "state_size": 0, "state_align": 1}
FUNCTIONS = """
int foo(const double *x, long long x_n, double *y) { for (long long i = 0; i < x_n; i++) y[i] = 2 * x[i]; return 0; }
int foo_output_shapes(long long x_n, long long *y_shape) { y_shape[0] = x_n; return 0; }
"""


def c_string(data):
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


def build(tmp_path, metadata, functions=FUNCTIONS):
    body = "return 0;" if metadata is None else f"return {c_string(metadata)};"
    src = tmp_path / "foo.c"
    src.write_text(f"const char *foo_metadata(void) {{ {body} }}\n{functions}")
    lib = tmp_path / "libfoo.so"
    subprocess.run([CC, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return lib


def with_(**changes):
    d = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        d[k] = v
    return json.dumps(d).encode()


def test_the_good_library_loads_and_runs(tmp_path):
    f = theon.runtime.load_library(build(tmp_path, json.dumps(GOOD).encode()))
    assert f([1.0, 2.5]).tolist() == [2.0, 5.0]


BAD = {
    "null": None,
    "not-utf8": b"\xff\xfe\x00garbage",
    "not-json": b"{abi: theon",
    "a-list": b"[1, 2]",
    "other-abi": with_(abi="theon-aot-0"),
    "missing-key": json.dumps({k: v for k, v in GOOD.items() if k != "outputs"}).encode(),
    "bad-dtype": with_(inputs=[{"name": "x", "dtype": "complex128", "shape": [2], "dim_names": []}]),
    "bad-shape": with_(inputs=[{"name": "x", "dtype": "float64", "shape": [-3], "dim_names": []}]),
    "shape-not-list": with_(outputs=[{"name": "y", "dtype": "float64", "shape": 7, "dim_names": []}]),
    "unnamed-dim": with_(inputs=[{"name": "x", "dtype": "float64", "shape": [None], "dim_names": []}]),
    "state-outside": with_(state=[{"name": "w", "dtype": "float64", "shape": [4], "label": "w",
                                   "updated": False, "offset": 8}], state_size=16),
    "bad-update": with_(updates=[[0, 5]]),
    "flag-not-bool": with_(single_output="yes"),
    "inputs-not-list": with_(inputs=5),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_metadata_is_a_value_error(tmp_path, case):
    lib = build(tmp_path, BAD[case])
    with pytest.raises(ValueError, match="foo_metadata"):
        theon.runtime.load_library(lib)


def test_a_missing_entry_function_is_a_value_error(tmp_path):
    lib = build(tmp_path, json.dumps(GOOD).encode(), functions="int foo(void) { return 0; }")
    with pytest.raises(ValueError, match="foo_output_shapes"):
        theon.runtime.load_library(lib)


def test_a_library_without_metadata_is_a_value_error(tmp_path):
    src = tmp_path / "bar.c"
    src.write_text("int bar(void) { return 0; }\n")
    lib = tmp_path / "libbar.so"
    subprocess.run([CC, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    with pytest.raises(ValueError, match="bar_metadata"):
        theon.runtime.load_library(lib)
