"""The reactor: one thread, one readiness loop (net/poller.py), a timer heap and a thread-safe call queue.

Owns: readiness dispatch, timers, the wake-up pipe, the read buffer shared by every connection, and
the end-of-round flush of connections that queued output. Never does: parsing, blocking calls.

Invariant: everything except `call_soon_threadsafe` runs on the reactor thread. Other threads hand
work back only through `call_soon_threadsafe`; nothing else they may touch.
"""
import collections
import heapq
import itertools
import os
import socket

from .clock import SystemClock
from .poller import READ, WRITE, Poller
from ..logger import get_logger

log = get_logger("blynklite.reactor")

# One read buffer serves every connection: a read is consumed before the next one starts. 64 KiB
# holds a burst from a fast device (Netty reads at most 64 KiB per read as well).
READ_BUFFER_SIZE = 64 * 1024
# Decrypted TLS data lands here, one record (at most 16 KiB) at a time.
PLAINTEXT_BUFFER_SIZE = 16 * 1024


class Timer:
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when, callback, args):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True
        self.callback = self.args = None


class Reactor:
    def __init__(self, clock=None):
        self.clock = clock or SystemClock()   # net/clock.py: the one source of time
        self.poller = Poller()
        self.now = self.clock.monotonic()
        self.read_buffer = bytearray(READ_BUFFER_SIZE)
        self.read_view = memoryview(self.read_buffer)
        self.plain_buffer = bytearray(PLAINTEXT_BUFFER_SIZE)
        self.wall_ms = int(self.clock.wall() * 1000)
        self._timers = []
        self._sequence = itertools.count()
        self._ready = collections.deque()
        self._from_threads = collections.deque()
        self._dirty = []
        self._running = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.poller.register(self._wake_reader, READ, self)

    # -- scheduling -------------------------------------------------------------------------------
    def call_soon(self, callback, *args):
        self._ready.append((callback, args))

    def call_later(self, delay, callback, *args):
        timer = Timer(self.now + delay, callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def call_every(self, period, callback, *args):
        """Run `callback(*args)` every `period` seconds until the returned timer is cancelled."""
        handle = Timer(0, callback, args)

        def tick():
            if handle.cancelled:
                return
            try:
                callback(*args)
            finally:
                if not handle.cancelled:
                    self.call_later(period, tick)
        self.call_later(period, tick)
        return handle

    def call_soon_threadsafe(self, callback, *args):
        """The one entry point for other threads."""
        self._from_threads.append((callback, args))
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full, so a wake-up is already pending

    def mark_dirty(self, connection):
        """`connection.flush()` runs once at the end of this round, coalescing its writes."""
        self._dirty.append(connection)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self):
        self._running = True
        while self._running:
            self.run_once()

    def stop(self):
        self._running = False
        self.call_soon_threadsafe(lambda: None)

    def run_once(self):
        if self._ready or self._from_threads or self._dirty:
            timeout = 0
        elif self._timers:
            timeout = max(0.0, self._timers[0][0] - self.clock.monotonic())
        else:
            timeout = None
        events = self.poller.poll(timeout)
        self.update_time()
        for handler, mask in events:
            try:
                if mask & READ:
                    handler.on_readable()
                if mask & WRITE:
                    handler.on_writable()
            except Exception:
                log.exception("unhandled error in %r", handler)
                _abort(handler)
        # Each phase is looked at before it is called: most rounds have nothing but I/O.
        if self._timers and self._timers[0][0] <= self.now:
            self._run_timers()
        if self._ready or self._from_threads:
            self._run_ready()
        if self._dirty:
            self._flush_dirty()

    def update_time(self):
        """Read the clock into `now` and `wall_ms` (each round; and after the clock was stepped)."""
        self.now = self.clock.monotonic()
        self.wall_ms = int(self.clock.wall() * 1000)

    def _run_timers(self):
        timers = self._timers
        while timers and timers[0][0] <= self.now:
            timer = heapq.heappop(timers)[2]
            if not timer.cancelled:
                self._ready.append((timer.callback, timer.args))

    def _run_ready(self):
        ready = self._ready
        for _ in range(len(ready)):
            callback, args = ready.popleft()
            self._call(callback, args)
        from_threads = self._from_threads
        while from_threads:
            callback, args = from_threads.popleft()
            self._call(callback, args)

    def _call(self, callback, args):
        try:
            callback(*args)
        except Exception:
            log.exception("unhandled error in callback %r", callback)

    def _flush_dirty(self):
        # A flush may queue more output (TLS), so swap the list before walking it.
        while self._dirty:
            dirty, self._dirty = self._dirty, []
            for connection in dirty:
                try:
                    connection.flush()
                except Exception:
                    log.exception("unhandled error flushing %r", connection)
                    _abort(connection)

    # The wake-up socket is registered with the reactor itself as its handler.
    def on_readable(self):
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def on_writable(self):
        pass

    def close(self):
        self.poller.unregister(self._wake_reader)
        self._wake_reader.close()
        self._wake_writer.close()
        self.poller.close()


def _abort(handler):
    abort = getattr(handler, "abort", None)
    if abort is not None:
        try:
            abort("internal error")
        except Exception:
            log.exception("error while aborting %r", handler)


def raise_fd_limit():
    """Idle devices are cheap, file descriptors are not: lift the soft limit to the hard one."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    return os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else None
