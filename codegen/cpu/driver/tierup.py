"""Tier 1 in the background: the full LLVM pipeline in a helper process.

A big module is first compiled at tier 0 (compile.py: its kernels with the
quick pipeline, ``jit.compile_object_quick``, its entry at -O0) so
``theon.function`` returns fast. Its LLVM IR text (the whole module, as
one) is then handed to a helper Python process that runs the full
pipeline (``jit.compile_object``), stores the object in the on-disk cache
(so later processes load tier-1 code directly; the runtime library's
quick build too, when the cache lacks it) and writes it to a file.
A waiter thread reads that file and hands the bytes to ``on_done``; the
runtime swaps the entry at the next call boundary (``Function.__call__``).

No LLVM work happens on this module's thread (the tier-0 compiles run on
compile.py's LLVM thread); the helper is a separate process, one at a
time, fed from a short queue, and a job is submitted once its tier-0 code
is loaded. A job that cannot be queued (queue full) is refused, and the
caller compiles at full optimization synchronously instead. A helper that
fails changes nothing: the function keeps its tier-0 code.

    python -c BOOTSTRAP PKG_DIR IN_FILE OUT_FILE CACHE_DIR KEY OPT_LEVEL NAME PARENT_PID CACHE_MODULE

(CACHE_MODULE: the module of the object cache the runtime installed in
compile.py, imported by name so that codegen never imports the runtime.)
"""
import os
import subprocess
import sys
import tempfile
import threading

from .worker import SerialWorker

MAX_QUEUED = 8

BOOTSTRAP = (
    "import sys, importlib.util\n"
    "pkg = sys.argv[1]\n"
    "spec = importlib.util.spec_from_file_location('theon', pkg + '/__init__.py', "
    "submodule_search_locations=[pkg])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules['theon'] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "from theon.codegen.cpu.driver.tierup import child_main\n"
    "sys.exit(child_main(sys.argv[2:]))\n")

PKG_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))   # theon's root


class _Job:
    def __init__(self, key, text, opt_level, name, cache_dir):
        self.key, self.text, self.opt_level, self.name, self.cache_dir = key, text, opt_level, name, cache_dir
        self.callbacks = []
        self.done = threading.Event()
        self.error = None


class _Scheduler(SerialWorker):
    def __init__(self):
        super().__init__("theon-tier-up")
        self.by_key = {}

    def submit(self, key, text, opt_level, name, cache_dir, on_done):
        """Queue a tier-1 compile; False when the queue is full (or there is
        no Python executable to run the helper with, e.g. when embedded)."""
        if not sys.executable:
            return False
        with self.lock:
            job = self.by_key.get(key) if key else None
            if job is None:
                if len(self.queue) >= MAX_QUEUED:
                    return False
                job = _Job(key, text, opt_level, name, cache_dir)
                if key:
                    self.by_key[key] = job
                self.enqueue(job)
            job.callbacks.append(on_done)
            return True

    def run(self, job):
        try:
            return _run_helper(job)
        except Exception as e:  # noqa: BLE001 - a failed helper leaves tier 0 in place
            job.error = e
            return None

    def finish(self, job, obj):
        if job.key:
            self.by_key.pop(job.key, None)
        callbacks = list(job.callbacks)
        return lambda: _deliver(job, obj, callbacks)


def _deliver(job, obj, callbacks):
    if obj is not None:
        for cb in callbacks:
            try:
                cb(obj)
            except Exception as e:  # noqa: BLE001 - one bad callback must not stop the others
                job.error = e
    job.done.set()


_scheduler = _Scheduler()
submit = _scheduler.submit
wait = _scheduler.wait


def _run_helper(job):
    """Run the helper process for ``job``; the object bytes, or None."""
    folder = tempfile.mkdtemp(prefix="theon-tierup-")
    src, out = os.path.join(folder, "module.ll"), os.path.join(folder, "module.o")
    try:
        with open(src, "w") as fh:
            fh.write(job.text)
        job.text = None
        args = [sys.executable, "-c", BOOTSTRAP, PKG_DIR, src, out, job.cache_dir or "", job.key or "",
                str(job.opt_level), job.name, str(os.getpid()), _cache_module()]
        env = dict(os.environ)
        env.pop("THEON_FLAGS", None)
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"tier-up helper failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        with open(out, "rb") as fh:
            return fh.read()
    finally:
        for path in (src, out):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _cache_module():
    from .compile import _cache
    return getattr(_cache(), "__name__", "") if _cache().cache_dir() is not None else ""


def child_main(argv):
    """The helper: full pipeline on IN_FILE, store in the cache, write OUT_FILE
    (unless the parent process is gone: then only the cache gets it); then
    the runtime library's quick build to the cache, if it lacks it."""
    src, out, cache_dir, key, opt_level, name, parent, cache_module = argv
    with open(src) as fh:
        text = fh.read()
    os.unlink(src)
    import importlib

    from ....config import config
    from .jit import compile_object
    _, obj, _ = compile_object(text, int(opt_level))
    if key and cache_dir and cache_module:
        from .compile import set_object_cache
        cache = importlib.import_module(cache_module)
        set_object_cache(cache)
        config.cache_dir = cache_dir
        cache.store("obj", key, {"kind": "entry", "name": name}, obj)
    if os.getppid() == int(parent):
        tmp = out + ".part"
        with open(tmp, "wb") as fh:
            fh.write(obj)
        os.replace(tmp, out)
    if key and cache_dir and cache_module:
        try:
            from .compile import store_runtime_library
            store_runtime_library()
        except Exception:  # noqa: BLE001 - the module's object is what this helper is for
            pass
    return 0
