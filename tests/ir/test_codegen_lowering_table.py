"""Every op of the dialect has a CPU lowering (one table per
backend, checked against the op registry)."""
from theon.codegen.cpu.lower.lowering import LOWERINGS
from theon.ir.dialect import OPS

NOT_LOWERED = {"return"}     # the entry emits the results itself


def test_every_op_has_a_cpu_lowering():
    missing = sorted(name for name in OPS if name not in LOWERINGS and name not in NOT_LOWERED)
    assert not missing, f"ops without a CPU lowering in codegen/cpu/lower/lowering.py: {missing}"


def test_lowering_table_names_only_real_ops():
    unknown = sorted(name for name in LOWERINGS if name not in OPS)
    assert not unknown, f"LOWERINGS has entries for unknown ops: {unknown}"


def test_lowerings_are_callables():
    for name, lower in LOWERINGS.items():
        assert callable(lower), name
