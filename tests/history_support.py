"""An in-process blynklite server on a stepped clock (net/clock.py) for the history tests: real
listeners on loopback ports, real TLS, real worker threads; only the clock can be moved forward, so a
minute, an hour or a day of history passes in milliseconds."""
import threading
import time

from blynklite.certs import server_tls
from blynklite.config import load_config
from blynklite.logger import DEBUG, StreamSink, configure, get_logger
from blynklite.net.clock import SteppedClock
from blynklite.server import Server

from conftest import free_ports

WAIT = 10.0


class SteppedServer:
    host = "127.0.0.1"

    def __init__(self, workdir, wall=None, files=None, **properties):
        configure(StreamSink(), DEBUG)      # the server's log lines land in pytest's captured stderr
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.hw_port, self.app_port = free_ports(2)
        props = {"http.port": self.hw_port, "https.port": self.app_port, "hardware.ssl.port": 0,
                 "hardware.mqtt.port": 0, "listen.address": "127.0.0.1", "server.host": "127.0.0.1",
                 "data.folder": self.data_dir, "logs.folder": workdir / "logs", "admin.pass": "x-admin-pass",
                 "profile.save.worker.period": 60000}   # saves (fsync) every second would keep the pool busy
        props.update(properties)
        (workdir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        for name, lines in (files or {}).items():
            (workdir / name).write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        config = load_config(["-serverConfig", str(workdir / "server.properties")], cwd=str(workdir))
        self.clock = SteppedClock(wall=wall)
        tls = server_tls(config, str(self.data_dir), get_logger("tests"), cwd=str(workdir))
        self.server = Server(config, str(self.data_dir), tls, self.clock)
        self.server.load_users()
        self.server.listen()
        self._thread = threading.Thread(target=self.server.reactor.run, daemon=True)
        self._thread.start()

    @property
    def history(self):
        return self.server.history

    def on_reactor(self, function, *args, timeout=WAIT):
        """Run `function(*args)` on the reactor thread and return its result."""
        box = []
        done = threading.Event()

        def call():
            try:
                box.append(function(*args))
            finally:
                done.set()
        self.server.reactor.call_soon_threadsafe(call)
        assert done.wait(timeout), "the reactor did not run the call in time"
        return box[0] if box else None

    def jump(self, seconds):
        """Move both clocks forward, then wait until the flush it triggers is on disk."""
        self.on_reactor(self.clock.jump, seconds)
        self.settle()

    def settle(self, timeout=2 * WAIT):
        """Wait until the flush (and every worker task) is done: idle in two checks 50 ms apart, so a
        timer that was due at the jump has had its reactor round."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            time.sleep(0.05)
            busy = self.on_reactor(lambda: self.history.pending_writes() or self.server.workers.queued)
            quiet = 0 if busy else quiet + 1
            if quiet == 2:
                return
        state = self.on_reactor(lambda: (self.history._flushing, self.history._writing, len(self.history._waiting),
                                         self.server.workers.queued))
        raise AssertionError(f"history writes did not finish in time (flushing, writing, waiting, queued): {state}")

    def wait_recorded(self, count, timeout=WAIT):
        """Wait until `count` values sit in the open minutes of the recorder (the writes arrived)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.on_reactor(lambda: sum(s.m_cnt for s in self.history.streams.values())) >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"fewer than {count} values were recorded in time")

    def wall_ms(self):
        return self.on_reactor(lambda: self.server.reactor.wall_ms)

    def stop(self):
        self.server.reactor.stop()
        self._thread.join(WAIT)
        self.server.shutdown()
