"""One background thread that runs queued jobs in order: the LLVM thread
(compile.py) and the tier-up scheduler (tierup.py) are both one."""
import collections
import threading


class SerialWorker:
    """Runs queued jobs one after another on a daemon thread started on
    demand, which ends when the queue is empty. A job stays first in
    ``queue`` while it runs (so ``len(queue)`` counts it). Subclasses define
    ``run(job)``; ``finish(job, result)``, called under ``lock`` once the job
    has left the queue, may return a function to call after the lock is
    released."""

    def __init__(self, thread_name):
        self.thread_name = thread_name
        self.reset()

    def reset(self):
        """Empty, with no thread (also in a forked child: the parent's
        thread does not exist there, and may have held the lock)."""
        self.lock = threading.Lock()
        self.queue = collections.deque()
        self.thread = None
        self.idle = threading.Event()
        self.idle.set()

    def enqueue(self, job):
        """Queue ``job`` (the caller holds ``lock``) and make sure the thread runs."""
        self.queue.append(job)
        self.idle.clear()
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name=self.thread_name, daemon=True)
            self.thread.start()

    def run(self, job):
        raise NotImplementedError

    def finish(self, job, result):
        return None

    def _work(self):
        while True:
            with self.lock:
                if not self.queue:
                    self.thread = None
                    self.idle.set()
                    return
                job = self.queue[0]
            result = self.run(job)
            with self.lock:
                self.queue.popleft()
                after = self.finish(job, result)
            if after is not None:
                after()

    def wait(self, timeout=None):
        """Block until every queued job has run; True if they did."""
        return self.idle.wait(timeout)
