"""Source locations (ir/location.py): the DSL stamps ops with the user's
line; the IR text carries them with ``locations=True``; rewrites keep them."""
import theon.tensor as T
from theon.frontend.build import build_function
from theon.ir.location import SourceLoc, op_locations
from theon.ir.parser import parse_function
from theon.ir.printer import print_function
from theon.passes import run_pipeline

TEXT = '''func @f(%x: tensor<?xf64>) {
  %0 = exp(%x) : tensor<?xf64> loc("model.py":12)
  %1 = print(%0) {attrs = ["sum"], message = ""} : tensor<?xf64> loc("/a b/\\\\c.py":3)
  return(%1) {updates = []}
}
'''


def test_locations_print_and_parse_back():
    func = parse_function(TEXT)
    assert func.body.ops[0].loc == SourceLoc("model.py", 12)
    assert func.body.ops[1].loc == SourceLoc("/a b/\\c.py", 3)      # JSON-escaped in the text
    assert print_function(func, locations=True) == TEXT
    assert "loc(" not in print_function(func)
    assert not isinstance(func.body.ops[2].loc, SourceLoc)       # the text position of 'return'


def test_dsl_ops_carry_the_building_line():
    x = T.vector("x")
    y = T.exp(x) * 2                                    # LINE-A
    here = __file__
    op = y.owner
    assert op.loc.filename == here
    with open(here) as fh:
        line = next(k for k, ln in enumerate(fh, 1) if "LINE-A" in ln and "next(" not in ln)
    assert op.loc.line == line and op.operands[0].owner.loc.line == line
    func, _ = build_function([x], [y])
    assert all(o.loc.line == line for o in func.body.ops[:-1] if o.name != "constant")


def test_rewrites_and_fusion_keep_locations():
    x = T.vector("x")
    y = (T.exp(x) + 0.0) * 1.0                          # LINE-B
    func, _ = build_function([x], [y])
    func = run_pipeline(func, "canonicalize,fuse-elementwise,dce") or func
    with open(__file__) as fh:
        line = next(k for k, ln in enumerate(fh, 1) if "LINE-B" in ln and "next(" not in ln)
    locs = [loc for op in func.body.ops for loc in op_locations(op)]
    assert locs and all(loc.line == line for loc in locs)
