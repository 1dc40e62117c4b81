"""Tier 1 in the background: the full LLVM pipeline in a helper process.

A big module is first compiled at tier 0 (compile.py: its kernels with the
quick pipeline, ``jit.compile_object_quick``, its entry at -O0) so
``theon.function`` returns fast. Its LLVM IR text (the whole module, as
one) is then handed to a helper Python process that runs the full
pipeline (``jit.compile_object``), stores the object in the on-disk cache
(so later processes load tier-1 code directly; the runtime library's
quick build too, when the cache lacks it) and writes it back. The text
goes to the helper's stdin and the object comes back on its stdout
(framed: OBJ_MAGIC, length, bytes): no temporary files, so nothing is
left behind however either process ends. A waiter thread hands the bytes
to ``on_done``; the runtime swaps the entry at the next call boundary
(``Function.__call__``).

A helper never outlives its parent or its limits (``GUARD``, run before
anything else in the helper): on Linux the kernel kills it when the parent
dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); everywhere a watchdog thread
ends it (``os._exit``) within WATCH_INTERVAL of the parent's death or at
TIME_LIMIT seconds; ``RLIMIT_CPU`` and ``RLIMIT_AS`` (``memory_limit``:
address space, scaled with the module) bound its CPU time and memory.
The parent kills a helper that overruns TIME_LIMIT too.

No LLVM work happens on this module's thread (the tier-0 compiles run on
compile.py's LLVM thread); the helper is a separate process, one at a
time, fed from a short queue, and a job is submitted once its tier-0 code
is loaded. A job that cannot be queued (queue full) is refused, and the
caller compiles at full optimization synchronously instead. A helper that
fails changes nothing: the function keeps its tier-0 code. ``cancel()``
drops the queued jobs and kills the running helper the same way (the test
suite does so after each test, so that helpers a test did not wait for do
not compete with the next tests).

    python -c GUARD+RUN PKG_DIR PARENT_PID TIME_LIMIT MEMORY_LIMIT CACHE_DIR KEY OPT_LEVEL NAME CACHE_MODULE

(CACHE_MODULE: the module of the object cache the runtime installed in
compile.py, imported by name so that codegen never imports the runtime.)
"""
import os
import struct
import subprocess
import sys
import threading

from .worker import SerialWorker

MAX_QUEUED = 8
TIME_LIMIT = 300                # seconds a helper may run (wall clock; CPU time likewise)
MEMORY_LIMIT = 4 << 30          # bytes of address space at least (RLIMIT_AS), see memory_limit
WATCH_INTERVAL = 0.2            # seconds between the watchdog's looks at the parent
OBJ_MAGIC = b"THEONOBJ"
_FRAME = struct.Struct("<8sQ")

# The helper's first lines, before it imports anything big: limits, death
# with the parent, a watchdog; stdout kept for the object (stray output of
# imports or LLVM goes to stderr).
GUARD = (
    "import os, sys, threading, time\n"
    "_parent, _seconds, _memory = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])\n"
    "try:\n"
    "    import resource\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (_memory, _memory))\n"
    "    resource.setrlimit(resource.RLIMIT_CPU, (int(_seconds) + 1, int(_seconds) + 6))\n"
    "except (ImportError, ValueError, OSError):\n"
    "    pass\n"
    "if sys.platform.startswith('linux'):\n"
    "    try:\n"
    "        import ctypes, signal\n"
    "        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG\n"
    "    except Exception:\n"
    "        pass\n"
    "if os.getppid() != _parent:\n"
    "    os._exit(70)\n"
    "def _watch(deadline=time.monotonic() + _seconds):\n"
    "    while os.getppid() == _parent and time.monotonic() < deadline:\n"
    "        time.sleep(WATCH_INTERVAL)\n"
    "    os._exit(70)\n"
    "threading.Thread(target=_watch, name='theon-watchdog', daemon=True).start()\n"
    "_out = os.dup(1)\n"
    "os.dup2(2, 1)\n").replace("WATCH_INTERVAL", repr(WATCH_INTERVAL))

# Then: theon imported from PKG_DIR, whatever sys.path holds, and the work.
RUN = (
    "import importlib.util\n"
    "pkg = sys.argv[1]\n"
    "spec = importlib.util.spec_from_file_location('theon', pkg + '/__init__.py', "
    "submodule_search_locations=[pkg])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules['theon'] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "from theon.codegen.cpu.driver.tierup import child_main\n"
    "sys.exit(child_main(sys.argv[5:], _out))\n")


def bootstrap():
    return GUARD + RUN


def memory_limit(text_bytes):
    """The address space a helper compiling ``text_bytes`` of LLVM IR may map."""
    return max(MEMORY_LIMIT, 64 * text_bytes)

PKG_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))   # theon's root


class _Job:
    def __init__(self, key, text, opt_level, name, cache_dir):
        self.key, self.text, self.opt_level, self.name, self.cache_dir = key, text, opt_level, name, cache_dir
        self.callbacks = []
        self.done = threading.Event()
        self.error = None
        self.proc = None            # the running helper (set under the scheduler's lock)
        self.cancelled = False


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

    def cancel(self, timeout=30):
        """Drop the queued jobs and end the running helper; their functions
        keep their tier-0 code, as when a helper fails. True once idle."""
        with self.lock:
            jobs = list(self.queue)
            for job in jobs[1:]:                    # queue[0] is running
                self.queue.remove(job)
                if job.key:
                    self.by_key.pop(job.key, None)
                job.cancelled = True
                job.done.set()
            proc = None
            if jobs:
                jobs[0].cancelled = True
                proc = jobs[0].proc
        if proc is not None:
            _kill(proc)
        return self.wait(timeout)


def _deliver(job, obj, callbacks):
    if obj is not None:
        for cb in callbacks:
            try:
                cb(obj)
            except Exception as e:  # noqa: BLE001 - one bad callback must not stop the others
                job.error = e
    job.done.set()


def _kill(proc):
    try:
        proc.kill()
    except OSError:
        pass


_scheduler = _Scheduler()
submit = _scheduler.submit
wait = _scheduler.wait
cancel = _scheduler.cancel


STALE_FOLDER_SECONDS = 3600


def remove_stale_folders(root=None):
    """Delete the temporary folders older theon versions gave their helpers
    (``theon-tierup-*``, left behind when a process was killed): only this
    user's, an hour old, holding nothing but the helper's own files."""
    import re
    import stat
    import tempfile
    import time
    root = root or tempfile.gettempdir()
    known = {"module.ll", "module.o", "module.o.part"}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        if not re.fullmatch(r"theon-tierup-[A-Za-z0-9_]{1,16}", e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()
                    or time.time() - st.st_mtime < STALE_FOLDER_SECONDS):
                continue
            names = os.listdir(e.path)
            if not set(names) <= known:
                continue
            for n in names:
                os.unlink(os.path.join(e.path, n))
            os.rmdir(e.path)
        except (OSError, AttributeError):
            continue


_cleaned = False


def _run_helper(job):
    """Run the helper process for ``job``; the object bytes (or an exception)."""
    global _cleaned
    if not _cleaned:
        _cleaned = True
        remove_stale_folders()
    text = job.text.encode()
    job.text = None
    args = [sys.executable, "-c", bootstrap(), PKG_DIR, str(os.getpid()), str(TIME_LIMIT),
            str(memory_limit(len(text))), job.cache_dir or "", job.key or "", str(job.opt_level), job.name,
            _cache_module()]
    env = dict(os.environ)
    env.pop("THEON_FLAGS", None)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"             # NumPy's BLAS threads would only map address space
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    with _scheduler.lock:
        job.proc = proc
        cancelled = job.cancelled           # cancel() ran before the helper existed
    if cancelled:
        _kill(proc)
    try:
        out, err = proc.communicate(text, timeout=TIME_LIMIT + 30)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise
    finally:
        with _scheduler.lock:
            job.proc = None
    if job.cancelled:
        raise RuntimeError("tier-up helper cancelled (tierup.cancel)")
    if proc.returncode != 0:
        raise RuntimeError(f"tier-up helper failed ({proc.returncode}): {err.decode()[-2000:]}")
    return unframe(out)


def frame(obj):
    return _FRAME.pack(OBJ_MAGIC, len(obj)) + bytes(obj)


def unframe(data):
    """The object bytes of a helper's output (``frame``); ValueError if cut or foreign."""
    if len(data) < _FRAME.size:
        raise ValueError("tier-up helper: no object in its output")
    magic, length = _FRAME.unpack_from(data)
    if magic != OBJ_MAGIC or length != len(data) - _FRAME.size:
        raise ValueError("tier-up helper: its output is not one whole object")
    return data[_FRAME.size:]


def _cache_module():
    from .compile import _cache
    return getattr(_cache(), "__name__", "") if _cache().cache_dir() is not None else ""


def child_main(argv, out_fd):
    """The helper: full pipeline on the text read from stdin, store in the
    cache, write the object (``frame``) to ``out_fd``; then the runtime
    library's quick build to the cache, if it lacks it."""
    cache_dir, key, opt_level, name, cache_module = argv
    text = sys.stdin.buffer.read().decode()
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
    with os.fdopen(out_fd, "wb") as fh:
        fh.write(frame(obj))
    if key and cache_dir and cache_module:
        try:
            from .compile import store_runtime_library
            store_runtime_library()
        except Exception:  # noqa: BLE001 - the module's object is what this helper is for
            pass
    return 0
