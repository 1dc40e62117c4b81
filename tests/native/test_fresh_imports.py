"""Every public name of ``theon`` (the lazy ones of ``theon.__init__``) and
every module a user imports directly loads in a fresh interpreter, whatever
is imported first (an import cycle shows only there: a test session has
imported everything already)."""
import theon

MODULES = ["theon.tensor", "theon.tensor.nnet", "theon.frontend.scan", "theon.frontend.basic",
           "theon.frontend.elemwise", "theon.printing", "theon.gradient", "theon.ifelse",
           "theon.runtime.aot_cli", "theon.runtime.opt_cli"]


def test_each_public_name_loads_first_in_a_fresh_interpreter(run_json):
    names = sorted(theon._LAZY)
    code = f"""
        import json, subprocess, sys
        bad = {{}}
        for name in {names!r}:
            p = subprocess.run([sys.executable, "-c", "import theon; theon." + name],
                               capture_output=True, text=True)
            if p.returncode:
                bad[name] = p.stderr.strip().splitlines()[-1]
        for mod in {MODULES!r}:
            p = subprocess.run([sys.executable, "-c", "import " + mod], capture_output=True, text=True)
            if p.returncode:
                bad[mod] = p.stderr.strip().splitlines()[-1]
        print(json.dumps(bad))
    """
    assert run_json(code, timeout=600) == {}
