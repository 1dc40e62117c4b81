"""Every public name of ``theon`` (the lazy ones of ``theon.__init__``) and
every module a user imports directly loads in a fresh interpreter, whatever
is imported first (an import cycle shows only there: a test session has
imported everything already)."""
import theon

MODULES = ["theon.tensor", "theon.tensor.nnet", "theon.frontend.scan", "theon.frontend.basic",
           "theon.frontend.elemwise", "theon.printing", "theon.gradient", "theon.ifelse",
           "theon.runtime.aot_cli", "theon.runtime.opt_cli"]


def test_each_public_name_loads_first_in_a_fresh_interpreter(run_json):
    """Each name and module in a process of its own, forked from one fresh
    interpreter (a fork per name costs a fork, not an interpreter's start):
    the modules' children fork before anything of theon is imported, the
    names' children after ``import theon`` alone -- what a fresh
    ``python -c "import theon; theon.NAME"`` has at that point. NumPy (not
    part of theon's import graph, so no cycle of theon's goes through it) is
    imported once first."""
    names = sorted(theon._LAZY)
    code = f"""
        import json, os, sys, traceback
        import numpy

        def in_a_child(what, load):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                status = 0
                try:
                    load(what)
                except BaseException:
                    os.write(write, traceback.format_exc().strip().splitlines()[-1].encode())
                    status = 1
                os._exit(status)
            os.close(write)
            with os.fdopen(read, "rb") as r:
                message = r.read().decode()
            _, status = os.waitpid(pid, 0)
            if status:
                return message or f"the child ended with wait status {{status}}"
            return None

        bad = {{}}
        assert not any(m == "theon" or m.startswith("theon.") for m in sys.modules)
        for mod in {MODULES!r}:
            bad[mod] = in_a_child(mod, __import__)
        import theon
        for name in {names!r}:
            bad[name] = in_a_child(name, lambda n: getattr(theon, n))
        print(json.dumps({{k: v for k, v in bad.items() if v is not None}}))
    """
    assert run_json(code, timeout=600, env={"OPENBLAS_NUM_THREADS": "1"}) == {}
