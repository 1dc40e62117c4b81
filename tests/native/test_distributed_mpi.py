"""theon.distributed over MPI: the data-parallel-split pass, DataParallel in
one process (shards) and on 2 MPI ranks (``mpirun -np 2 --oversubscribe``
in a subprocess with a timeout), its faults.

The MPI tests need Open MPI's ``mpirun`` and mpi4py (``.ci/run`` installs
them); where either is missing they skip, saying which.
"""
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

import theon
import theon.tensor as T
from theon.distributed import split_step
from theon.ir.core import Module
from theon.ir.parser import parse_module
from theon.ir.printer import print_module
from theon.ir.verifier import verify_function

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The worker: a small MLP like examples/mlp.py (64-32-10, tanh, softmax,
# cross-entropy + L2, SGD), trained on fixed global batches.
WORKER = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import theon, theon.tensor as T

    STEPS, BATCH = 6, 40

    def data():
        rng = np.random.default_rng(0)
        return rng.normal(size=(STEPS * BATCH, 64)), rng.integers(0, 10, STEPS * BATCH)

    def build(seed=1, lr=0.3, adam=False):
        rng = np.random.default_rng(seed)
        def layer(n_in, n_out, name):
            return (theon.shared(rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)), name="W" + name),
                    theon.shared(np.zeros(n_out), name="b" + name))
        W1, b1 = layer(64, 32, "1")
        W2, b2 = layer(32, 10, "2")
        params = [W1, b1, W2, b2]
        x, y = T.matrix("x"), T.lvector("y")
        h = T.tanh(T.dot(x, W1) + b1)
        p = T.nnet.softmax(T.dot(h, W2) + b2)
        loss = T.nnet.categorical_crossentropy(p, y).mean() + 1e-4 * ((W1 ** 2).sum() + (W2 ** 2).sum())
        grads = theon.grad(loss, params)
        if adam:                    # nonlinear in g: the cut must be at the raw gradients
            updates = []
            for q, g in zip(params, grads):
                m = theon.shared(np.zeros_like(q.get_value()), name="m" + q.name)
                v = theon.shared(np.zeros_like(q.get_value()), name="v" + q.name)
                m2, v2 = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                updates += [(m, m2), (v, v2), (q, q - 0.01 * m2 / (T.sqrt(v2) + 1e-8))]
        else:
            updates = [(q, q - lr * g) for q, g in zip(params, grads)]
        return theon.function([x, y], loss, updates=updates, name="train"), params

    def values(params):
        return {q.name: q.get_value().tolist() for q in params}

    def emit(rank, out):
        with open(os.path.join(os.environ["THEON_DP_OUT"], f"rank{rank}.json"), "w") as fh:
            json.dump({"rank": rank, **out}, fh)
''')

TRAIN = WORKER + textwrap.dedent('''
    from theon.distributed.mpi import DataParallel
    X, Y = data()
    f, params = build()
    step = DataParallel(f, timeout=60)
    if step.rank == 1:                           # broadcast must give rank 0's initial values
        for q in params:
            q.set_value(q.get_value() + 1.0)
    step.broadcast_parameters()
    losses = [float(step(X[s * BATCH:(s + 1) * BATCH], Y[s * BATCH:(s + 1) * BATCH])) for s in range(STEPS)]
    fd, pd = build()
    if step.rank == 1:                           # the construction broadcasts rank 0's values
        for q in pd:
            q.set_value(q.get_value() - 1.0)
    det = DataParallel(fd, deterministic=True, timeout=60)
    for s in range(STEPS):
        det(X[s * BATCH:(s + 1) * BATCH], Y[s * BATCH:(s + 1) * BATCH])
    path = sys.argv[1]
    det.save(path)
    saved = values(pd)
    for q in pd:
        q.set_value(q.get_value() * 0 - 3.0)
    det.load(path)
    restored = values(pd) == saved
    emit(step.rank, {"plain": values(params), "det": values(pd), "losses": losses, "restored": restored,
                     "steps": det.steps, "fused_bytes": det.fused_bytes})
''')

FAILS = WORKER + textwrap.dedent('''
    import time
    from theon.distributed.mpi import DataParallel
    X, Y = data()
    f, params = build()
    how, timeout = sys.argv[1], float(sys.argv[2])
    step = DataParallel(f, timeout=timeout)
    for s in range(STEPS):
        if step.rank == 1 and s == 2:
            if how == "raise":
                raise ValueError("data loader broke on rank 1")
            if how == "hang":
                time.sleep(600)                  # stuck: the others' timeout must fire
            os._exit(3)                          # dies without a word
        step(X[s * BATCH:(s + 1) * BATCH], Y[s * BATCH:(s + 1) * BATCH])
''')

MISMATCH = WORKER + textwrap.dedent('''
    from theon.distributed.mpi import DataParallel, DistributedError
    X, Y = data()
    out = {}
    f, params = build()
    step = DataParallel(f, timeout=30, abort_on_error=False)
    n = 20 if step.rank == 0 else 16             # rank 1's shard is smaller
    try:
        step.local(X[:n], Y[:n])
    except DistributedError as e:
        out["shapes"] = str(e)
    step.close()
    g, _ = build(lr=0.3 if step.rank == 0 else 0.2)   # rank 1 builds another function
    other = DataParallel(g, timeout=30, abort_on_error=False)
    try:
        other.local(X[:20], Y[:20])
    except DistributedError as e:
        out["function"] = str(e)
    other.close()
    emit(step.rank, out)
''')


def _worker():
    return runpy.run_path(_write(WORKER, "worker_lib.py"))


def _write(text, name):
    d = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"theon_dp_{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _mpi_missing():
    if shutil.which("mpirun") is None:
        return "mpirun (Open MPI) is not installed: apt-get install openmpi-bin libopenmpi-dev"
    try:
        import mpi4py  # noqa: F401
    except ImportError as e:
        return f"mpi4py is not installed (pip install 'theon[mpi]'): {e}"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))


def _mpirun(script, *args, timeout=300):
    """(CompletedProcess, {rank: result}, seconds) of ``mpirun -np 2 python script``."""
    cmd = ["mpirun", "-np", "2", "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = dict(os.environ)
    env.pop("THEON_FLAGS", None)
    out = tempfile.mkdtemp(prefix="theon_dp_out_")
    env["THEON_DP_OUT"] = out
    start = time.monotonic()
    proc = subprocess.run(cmd + [sys.executable, script, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)
    took = time.monotonic() - start
    results = {}
    for name in os.listdir(out):
        with open(os.path.join(out, name)) as f:
            r = json.load(f)
        results[r["rank"]] = r
    shutil.rmtree(out, ignore_errors=True)
    return proc, results, took


def _single(lib, steps=None, adam=False):
    """Parameters after training in one process on the same global batches."""
    X, Y = lib["data"]()
    f, params = lib["build"](adam=adam)
    b = lib["BATCH"]
    for s in range(steps or lib["STEPS"]):
        f(X[s * b:(s + 1) * b], Y[s * b:(s + 1) * b])
    return lib["values"](params)


# --- the split, in one process ---------------------------------------------------------------------
def test_split_cuts_at_the_raw_gradients():
    lib = _worker()
    f, params = lib["build"]()
    func = f.input_ir()
    plan = split_step(func)
    verify_function(plan.grad)
    verify_function(plan.apply)
    assert plan.n_outputs == 1 and plan.grad.updates == []
    # one averaged value per parameter: the matmul/sum_to results, parameter-shaped
    assert [t.ndim for t in plan.reduced] == [2, 1, 2, 1]
    assert [a.get("allreduce") for a in plan.apply.arg_attrs[:4]] == ["mean"] * 4
    assert [a["shared"] for a in plan.apply.arg_attrs[4:]] == ["W1", "b1", "W2", "b2"]
    # the apply part reads no batch input, only the averaged values and the parameters
    for arg, producer in zip(plan.apply.args[:4], plan.grad.return_op.operands[1:]):
        assert producer.owner.name in ("matmul", "sum_to", "dimshuffle")
        assert arg.uses
    text = print_module(Module([plan.grad, plan.apply]))
    assert print_module(parse_module(text)) == text
    assert func.updates, "split_step must not change its input"
    from theon.passes import PASSES
    assert "data-parallel-split" not in PASSES, "only theon-opt's plugin registers the module pass"


def test_split_refuses_a_function_without_updates():
    x = T.vector("x")
    f = theon.function([x], x.sum())
    with pytest.raises(ValueError, match="updates no shared variable"):
        split_step(f.input_ir())


def test_theon_opt_runs_the_pass(run_python, tmp_path):
    code = """
        import numpy as np, theon, theon.tensor as T
        w = theon.shared(np.ones(3), name="w"); x = T.matrix("x")
        loss = (T.dot(x, w) ** 2).mean()
        f = theon.function([x], loss, updates=[(w, w - 0.1 * theon.grad(loss, w))])
        print(f.input_ir())
    """
    ir = tmp_path / "step.ir"
    ir.write_text(run_python(code).stdout)
    proc = subprocess.run([sys.executable, "-m", "theon.runtime.opt_cli", str(ir), "--plugin",
                           "theon.distributed.plugin", "-p", "data-parallel-split,canonicalize,dce"],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "func @f_grad(" in proc.stdout and "func @f_apply(" in proc.stdout
    assert 'allreduce = "mean"' in proc.stdout
    apply = proc.stdout[proc.stdout.index("func @f_apply"):]
    assert "matmul" not in apply and "%x" not in apply


@pytest.mark.parametrize("adam", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["sgd", "adam"])
def test_shards_in_one_process_match_the_whole_batch(adam):
    from theon.distributed.mpi import DataParallel
    lib = _worker()
    reference = _single(lib, adam=adam)
    X, Y = lib["data"]()
    f, params = lib["build"](adam=adam)
    step = DataParallel(f, comm=None, shards=2)
    b = lib["BATCH"]
    losses = [step(X[s * b:(s + 1) * b], Y[s * b:(s + 1) * b]) for s in range(lib["STEPS"])]
    assert np.ndim(losses[0]) == 0 and all(np.isfinite(losses))
    got = lib["values"](params)
    for k in reference:
        np.testing.assert_allclose(got[k], reference[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert reference["W1"] != lib["values"](lib["build"]()[1])["W1"], "training changed nothing"


def test_the_mlp_example_unchanged(monkeypatch):
    """examples/mlp.py's train(i) (minibatch i of shared data through givens)
    as written: each shard passes its own minibatch index (``local``); two
    shards of 50 rows step like one process on those 100 rows."""
    from theon.distributed.mpi import DataParallel
    monkeypatch.syspath_prepend(os.path.join(REPO, "examples"))
    import digits
    import mlp
    x_train, y_train = digits.load_data()[:2]

    def trained(batch):
        monkeypatch.setattr(digits, "BATCH", batch)
        rng = np.random.default_rng(1)
        train, _ = mlp.build(theon.shared(x_train, name="train_x"), theon.shared(y_train, name="train_y"), rng)
        return train

    one = trained(100)
    params = one.get_shared()
    for i in range(3):
        one(i)
    want = {p.name: p.get_value() for p in params if p.name[0] in "Wb"}
    two = trained(50)
    step = DataParallel(two, comm=None, shards=2)
    assert step.n_outputs == 1
    for i in range(3):
        step.local([(2 * i,), (2 * i + 1,)])
    got = {p.name: p.get_value() for p in step.parameters}
    assert set(got) == set(want) == {"W1", "b1", "W2", "b2"}
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_bad_batches_are_refused():
    from theon.distributed.mpi import DataParallel
    lib = _worker()
    f, _ = lib["build"]()
    step = DataParallel(f, comm=None, shards=3)
    X, Y = lib["data"]()
    with pytest.raises(ValueError, match="not divisible by the 3 shards"):
        step(X[:40], Y[:40])
    with pytest.raises(ValueError, match="batch input 'y' has 30 rows"):
        step(X[:39], Y[:30])
    with pytest.raises(ValueError, match="batch_inputs entry 'z'"):
        DataParallel(f, comm=None, shards=2, batch_inputs=["z"])
    with pytest.raises(TypeError, match="compiled theon.function"):
        DataParallel(lambda x: x, comm=None, shards=2)


# --- on 2 MPI ranks --------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.slow
def test_two_ranks_train_like_one_process(tmp_path):
    from theon.distributed.mpi import DataParallel
    proc, res, _ = _mpirun(_write(TRAIN, "train.py"), str(tmp_path / "ckpt.npz"))
    assert proc.returncode == 0 and set(res) == {0, 1}, proc.stdout + proc.stderr
    lib = _worker()
    reference = _single(lib)
    for k in reference:
        np.testing.assert_allclose(res[0]["plain"][k], reference[k], rtol=1e-10, atol=1e-12, err_msg=k)
        assert res[0]["plain"][k] == res[1]["plain"][k], f"{k} differs between the ranks"
        assert res[0]["det"][k] == res[1]["det"][k], f"{k} differs between the ranks (deterministic)"
    # deterministic: bit-identical to 2 shards reduced in order in one process
    X, Y = lib["data"]()
    f, params = lib["build"]()
    emulated = DataParallel(f, comm=None, shards=2, deterministic=True)
    b = lib["BATCH"]
    for s in range(lib["STEPS"]):
        emulated(X[s * b:(s + 1) * b], Y[s * b:(s + 1) * b])
    assert res[0]["det"] == lib["values"](params)
    assert res[0]["restored"] and res[1]["restored"] and res[1]["steps"] == lib["STEPS"]
    assert res[0]["losses"] == res[1]["losses"]         # the averaged loss, the same on both
    assert res[0]["fused_bytes"] == 8 * (64 * 32 + 32 + 32 * 10 + 10 + 1)


# what rank 1 does at step 2, the others' timeout, and what the job's output must say
FAULTS = {
    "raises": ("raise", "60", ["ValueError: data loader broke on rank 1",
                               "rank 0: rank 1 failed: ValueError: data loader broke on rank 1"]),
    # mpirun notices the exit (or rank 0's wait times out)
    "dies": ("die", "8", ["exited with non-zero status|did not complete within 8 s"]),
    "hangs": ("hang", "8", ["rank 0: the gradient allreduce of step 2 did not complete within 8 s"]),
}


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failing_rank_stops_the_others(fault):
    how, timeout, messages = FAULTS[fault]
    proc, _, took = _mpirun(_write(FAILS, "fails.py"), how, timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for message in messages:
        assert any(m in out for m in message.split("|")), f"{message!r} not in:\n{out}"
    assert took < 120


@needs_mpi
@pytest.mark.slow
def test_ranks_that_disagree_fail_at_the_first_step():
    proc, res, _ = _mpirun(_write(MISMATCH, "mismatch.py"))
    assert proc.returncode == 0 and set(res) == {0, 1}, proc.stdout + proc.stderr
    for r in (0, 1):
        shapes = res[r]["shapes"]
        assert "disagree on shapes at the first step" in shapes
        assert "rank 0: inputs [(20, 64), (20,)]" in shapes and "rank 1: inputs [(16, 64), (16,)]" in shapes
        assert "run different functions" in res[r]["function"]
