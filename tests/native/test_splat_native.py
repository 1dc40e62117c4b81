"""Splat constants in native code: one element with every stride 0 (codegen
lower_constant), right values, and aot-compile of a 10^9-element splat
under a 2 GiB address-space limit (it would need 7.45 GiB if expanded)."""
import numpy as np

import theon
import theon.tensor as T
from theon.ir.core import is_splat, splat


def test_a_splat_constant_computes_like_numpy():
    x = T.matrix("x")
    c = T.constant(splat(2.5, (4, 3), np.float64))
    assert is_splat(c.owner.attrs["value"])
    f = theon.function([x], [x * c + c, c])
    a = np.arange(12.0).reshape(4, 3)
    y, back = f(a)
    np.testing.assert_array_equal(y, a * 2.5 + 2.5)
    np.testing.assert_array_equal(back, np.full((4, 3), 2.5))
    assert back.flags.c_contiguous and back.flags.writeable     # a result is a real array


def test_a_splat_in_fast_compile_and_int_dtypes():
    x = T.ivector("x")
    c = T.constant(splat(7, (5,), np.int32))
    f = theon.function([x], x - c, mode="FAST_COMPILE")
    np.testing.assert_array_equal(f(np.arange(5, dtype=np.int32)), np.arange(5) - 7)


def test_aot_compile_of_a_huge_splat_stays_small(tmp_path, run_python):
    src = tmp_path / "splat.ir"
    src.write_text("""func @f(%x: tensor<1000000000xf64>) {
  %0 = constant() {value = dense<1.0>} : tensor<1000000000xf64>
  %1 = add(%x, %0) : tensor<1000000000xf64>
  return(%1)
}
""")
    out = tmp_path / "out"
    proc = run_python(f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from theon.runtime.aot_cli import main
sys.argv = ["aot-compile", "-o", {str(out)!r}, {str(src)!r}]
sys.exit(main())
""", timeout=300, env={"OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "f.o").stat().st_size < 1 << 20
