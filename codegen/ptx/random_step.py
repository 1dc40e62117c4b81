"""The GPU plan's step for the random sampling ops (``ir/ops/random.py``):
one kernel per op and dtype, a grid-stride loop over Philox blocks
(``codegen/philox.py``, the code the CPU lowering uses), each block's
counter its index, storing the elements below n. The host reads the
state's two int64 (key, counter) and passes them as kernel arguments; the
numbers are the CPU's (uniforms bit for bit, normals within a few ulp)."""
from .. import errors as codes
from ...ir.ops.random import PER_BLOCK
from ..llvm_util import i64
from ..philox import elements, key_words, philox, shuffle_row
from . import shapes as sh
from .kernel import KernelSpec
from .steps import Step

SHIFT = {4: 2, 2: 1}


def random_kernel(name, distribution, dtype):
    """NAME(out, n, key, counter): the n elements of a ``distribution`` draw."""
    per = PER_BLOCK[dtype]
    params = [("out", dtype), ("n", "i64"), ("key", "i64"), ("counter", "i64")]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        words = key_words(b, p["key"], p["counter"])
        nblocks = b.lshr(b.add(p["n"], i64(per - 1)), i64(SHIFT[per]))
        with kb.grid_stride(nblocks, "blk") as j:
            first = b.shl(j, i64(SHIFT[per]))
            for k, v in enumerate(elements(kb, distribution, philox(b, j, *words), dtype)):
                idx = b.add(first, i64(k))
                with kb.if_(b.icmp_signed("<", idx, p["n"])):
                    b.store(v, b.gep(p["out"], [idx]))
    return KernelSpec(name, params, emit, f"random {distribution} {dtype} (Philox-4x32-10)")


def permutation_kernel(name):
    """NAME(out, rows, n, key, counter): each row of out (rows x n, int64) a
    permutation of 0 .. n-1 (Fisher-Yates, one thread per row)."""
    params = [("out", "int64"), ("rows", "i64"), ("n", "i64"), ("key", "i64"), ("counter", "i64")]

    def emit(kb, schedule):
        b, p = kb.b, kb.p
        c2, c3, keys = key_words(b, p["key"], p["counter"])
        with kb.grid_stride(p["rows"], "row") as r:
            shuffle_row(b, p["out"], b.mul(r, p["n"]), p["n"], c2, c3, keys)
    return KernelSpec(name, params, emit, "random permutations of the rows (Philox-4x32-10, Fisher-Yates)")


class RandomStep(Step):
    kind = "random"

    def _name(self):
        return f"theon_random_{self.op.opdef.distribution}_{self.op.attrs.get('dtype', 'int64')}"

    def kernels(self):
        if self.op.opdef.distribution == "permutation":
            return [permutation_kernel(self._name())]
        return [random_kernel(self._name(), self.op.opdef.distribution, self.op.attrs["dtype"])]

    def run(self, state):
        op = self.op
        st = state.host_value(op.operands[0])
        if st.shape != (2,):
            raise sh.PlanError(codes.SHAPE_MISMATCH, [0, st.shape[0], 2, 0])
        dims = sh.alloc_dims(sh.resolve(op.attrs["shape"], state.dyn_ints(op.operands[1:])))
        out = state.alloc(op.results[0].type.dtype, dims)
        state.env[op.results[0]] = out
        n = sh.numel(dims)
        if n and op.opdef.distribution == "permutation":
            block = state.schedule.block
            rows = n // dims[-1]
            state.launch(self._name(), state.grid_1d(rows, block), (block, 1, 1),
                         [out.ptr, rows, dims[-1], int(st[0]), int(st[1])])
        elif n:
            per = PER_BLOCK[op.attrs["dtype"]]
            block = state.schedule.block
            state.launch(self._name(), state.grid_1d(-(-n // per), block), (block, 1, 1),
                         [out.ptr, n, int(st[0]), int(st[1])])

    def describe(self, names):
        d = super().describe(names)
        if self.op.opdef.distribution == "permutation":
            launch = {"grid": "[min(ceil(rows / block), max_grid), 1, 1]",
                      "args": "out, rows, n (the last dim), key = state[0], counter = state[1] (read on the host)"}
        else:
            launch = {"grid": "[min(ceil(n / per_block / block), max_grid), 1, 1]",
                      "args": "out, n (elements), key = state[0], counter = state[1] (read on the host)"}
        d["launches"] = [{"kernel": self._name(), "block": "[block, 1, 1]", **launch}]
        return d

