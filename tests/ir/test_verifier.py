"""The verifier accepts well-formed IR and rejects each kind of damage with
a message that names the function, the op index and the op."""
import numpy as np
import pytest

from theon.ir import Builder, Function, Module, TensorType
from theon.ir.core import Block, Operation
from theon.ir.dialect import OPS
from theon.ir.parser import parse_function
from theon.ir.verifier import VerifyError, verify_function, verify_module
from ..region_helpers import LooseFused

F64 = TensorType("float64", (None, 3))


def make(body_fn, arg_types=(F64,), names=("a",), arg_attrs=None):
    f = Function("f", list(arg_types), list(names), arg_attrs)
    body_fn(f, Builder(f.body))
    return f


def good(f, b):
    y = b("exp", f.args[0])
    b.create("return", [b("sum", y, axes=(1,), keepdims=False)])


def reject(f, *parts):
    with pytest.raises(VerifyError) as e:
        verify_function(f)
    for p in parts:
        assert p in str(e.value), str(e.value)
    return e.value


def test_well_formed_function_passes():
    assert verify_function(make(good)) is None


def test_undefined_value():
    other = Function("g", [F64], ["z"])

    def body(f, b):
        b.create("return", [b("exp", other.args[0])])
    e = reject(make(body), "@f op 0 (exp)", "operand 0 (%z: tensor<?x3xf64>) is not defined in @f")
    assert (e.func_name, e.op_index, e.op.name) == ("f", 0, "exp")


def test_use_before_definition():
    def body(f, b):
        y = b("exp", f.args[0])
        b("neg", y)
        b.create("return", [y])
    f = make(body)
    neg = f.body.ops[1]
    f.body.remove(neg)
    f.body.insert(0, neg)
    reject(f, "@f op 0 (neg)", "is used before its definition")


def test_wrong_result_dtype():
    def body(f, b):
        y = b.create("exp", [f.args[0]], result_types=[TensorType("float32", (None, 3))]).result
        b.create("return", [y])
    reject(make(body), "@f op 0 (exp): result 0 is declared tensor<?x3xf32> but inference gives tensor<?x3xf64>")


def test_wrong_static_shape_and_ndim():
    def dims(shape):
        def body(f, b):
            b.create("return", [b.create("exp", [f.args[0]], result_types=[TensorType("float64", shape)]).result])
        return make(body)
    reject(dims((None, 4)), "declared tensor<?x4xf64> but inference gives tensor<?x3xf64>")
    reject(dims((None,)), "declared tensor<?xf64>")
    verify_function(dims((7, 3)))       # a declared size where inference knows none is fine
    verify_function(dims((None, None)))  # and so is a declared '?'


def test_operand_dtype_mismatch_from_inference():
    def body(f, b):
        i = b("cast", f.args[0], dtype="int64")
        y = b.create("add", [f.args[0], i], result_types=[F64]).result
        b.create("return", [y])
    reject(make(body), "@f op 1 (add): add: operands must have one dtype")


def test_wrong_operand_count_and_missing_attr():
    def count(f, b):
        b.create("return", [b.create("exp", [f.args[0], f.args[0]], result_types=[F64]).result])
    reject(make(count), "@f op 0 (exp): exp takes 1 operand, got 2")

    def attr(f, b):
        b.create("return", [b.create("sum", [f.args[0]], {"axes": (0,)}, result_types=[F64]).result])
    reject(make(attr), "sum requires attribute 'keepdims'")


def test_index_error_from_inference_becomes_verify_error():
    def body(f, b):
        y = b.create("subtensor", [f.args[0]], {"idx": (0, 5)},
                     result_types=[TensorType("float64", ())]).result
        b.create("return", [y])
    reject(make(body), "@f op 0 (subtensor)", "index 5 is out of bounds for axis 1 with size 3")


def test_missing_return():
    reject(make(lambda f, b: b("exp", f.args[0])), "@f: the body must end with return, but its last op is exp")
    reject(make(lambda f, b: None), "the body must end with return, but it is empty")


def test_return_in_middle():
    def body(f, b):
        b.create("return", [f.args[0]])
        b.create("return", [b("exp", f.args[0])])
    reject(make(body), "@f op 0 (return): return must be the last op of the body, but 2 ops follow it")


def test_opdef_verify_is_called():
    def body(f, b):
        b.create("return", [f.args[0]], {"updates": (0,)})
    reject(make(body), "@f op 0 (return): return: update target 0 is not a shared argument")

    def shared(f, b):
        b.create("return", [f.args[0]], {"updates": (0,)})
    verify_function(make(shared, arg_attrs=[{"shared": "w"}]))


def test_bad_attribute_values():
    def writable(f, b):
        c = b("constant", value=np.zeros(2))
        b.create("return", [c])
    f = make(writable)
    f.body.ops[0].attrs["value"] = np.zeros(2)
    reject(f, "@f op 0 (constant)", "writable array")

    def odd(f, b):
        y = b("exp", f.args[0])
        y.owner.attrs["note"] = {"a": 1}
        b.create("return", [y])
    reject(make(odd), "attribute 'note' has a value of unsupported type dict")


def test_stale_use_lists():
    f = make(good)
    exp = f.body.ops[0]
    exp.operands[0] = Function("g", [F64]).args[0]          # bypasses set_operand
    reject(f, "is not defined in @f")
    f = make(good)
    f.args[0].uses.append((f.body.ops[1], 0))                # a use that does not exist
    reject(f, "use list")


def test_duplicate_function_names_in_module():
    with pytest.raises(VerifyError, match="function @f is defined twice"):
        verify_module(Module([make(good), make(good)]))
    verify_module(Module([make(good)]))


def test_signature_checks():
    f = make(good)
    f.arg_attrs[0]["shared"] = 3
    reject(f, "argument 0: 'shared' must be a string")


def test_error_carries_location_of_parsed_op():
    text = "func @f(%a: tensor<f64>) {\n  %0 = exp(%a) : tensor<f64>\n  return(%0)\n}\n"
    f = parse_function(text, "v.ir")
    f.body.ops[0].results[0].type = TensorType("float32", ())
    e = reject(f, "v.ir:2:8: @f op 0 (exp): result 0 is declared tensor<f32>")
    assert e.loc == ("v.ir", 2, 8)


# --- regions -----------------------------------------------------------------------
def region_function(region_body):
    f = Function("f", [F64, TensorType("float64", ())], ["a", "s"])
    region = Block([TensorType("float64", ())], ["x"])
    region_body(f, region)
    op = Operation(LooseFused(), [f.args[0]], regions=[region])
    f.body.append(op)
    f.body.append(Operation(OPS["return"], [op.result]))
    return f


def test_region_must_not_use_enclosing_values():
    def body(f, region):
        y = Operation(OPS["mul"], [region.args[0], f.args[1]])
        region.append(y)
        region.append(Operation(OPS["yield"], [y.result]))
    reject(region_function(body), "@f op 0 (fused) region 0 op 0 (mul): operand 1 (%s: tensor<f64>) is defined "
           "outside the region of fused: region bodies are isolated from above")


def test_region_value_used_outside_its_region():
    def body(f, region):
        region.append(Operation(OPS["yield"], [region.args[0]]))
    f = region_function(body)
    inner = f.body.ops[0].regions[0].args[0]
    f.body.ops[-1].set_operand(0, inner)
    reject(f, "@f op 1 (return): operand 0 (%x: tensor<f64>) is used before its definition (or outside its region)")


def test_return_inside_region_and_bad_region_op():
    def body(f, region):
        region.append(Operation(OPS["return"], [region.args[0]]))
        region.append(Operation(OPS["yield"], [region.args[0]]))
    reject(region_function(body), "@f op 0 (fused) region 0 op 0 (return): return is not allowed inside a region")

    def bad(f, region):
        region.append(Operation(OPS["exp"], [region.args[0], region.args[0]], result_types=[region.args[0].type]))
        region.append(Operation(OPS["yield"], [region.args[0]]))
    e = reject(region_function(bad), "@f op 0 (fused) region 0 op 0 (exp): exp takes 1 operand")
    assert e.op_index == 0 and e.op.name == "exp"
