"""The worker pool: the only place blocking work (SMTP, HTTP to providers, PostgreSQL) runs.

Results come back to the reactor thread through `call_soon_threadsafe`; workers never touch the
model or a connection. Threads start lazily, so an idle server pays for none.
"""
from ..logger import get_logger

log = get_logger("blynklite.workers")


class WorkerPool:
    def __init__(self, reactor, threads, queue_limit):
        self.reactor = reactor
        self.threads = max(1, threads)
        self.queue_limit = queue_limit
        self.queued = 0
        self.completed = 0
        self._executor = None

    def submit(self, work, *args, on_done=None):
        """Run `work(*args)` on a worker; `on_done(result, error)` later on the reactor thread.

        Returns False (and runs nothing) when `queue_limit` tasks are already waiting.
        """
        if self.queued >= self.queue_limit:
            log.warning("blocking task queue is full (%d); task %s rejected", self.queued,
                        getattr(work, "__name__", work))
            return False
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="blynk-worker")
        self.queued += 1
        future = self._executor.submit(work, *args)
        future.add_done_callback(lambda f: self.reactor.call_soon_threadsafe(self._done, f, on_done))
        return True

    def _done(self, future, on_done):
        self.queued -= 1
        self.completed += 1
        error = future.exception()
        result = None if error else future.result()
        if error is not None and on_done is None:
            log.error("blocking task failed: %s", error)
        if on_done is not None:
            on_done(result, error)

    def shutdown(self, wait=True):
        if self._executor is not None:
            self._executor.shutdown(wait=wait)
