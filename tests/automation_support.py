"""Support for the automation tests: the real server in this process on a `SteppedClock` (so a test
can set the wall clock to any instant of any day), a real `blynklib` device in a thread, and an app
(blynklite.client.AppClient) that builds the project over the real app protocol.

Every wait is bounded. The server runs on its own reactor thread; the test touches it only through
`InProcessServer.call`, which runs a function on that thread and waits for its result.
"""
import contextlib
import json
import logging
import queue
import threading
import time
import uuid

import pytest

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status
from blynklite.net.clock import SteppedClock

from conftest import free_ports
from devices import app_messages

WAIT = 10.0
PASSWORD = "automation-test-pass"


class InProcessServer:
    host = "127.0.0.1"

    def __init__(self, workdir, wall=None, files=None, **properties):
        from blynklite.certs import server_tls
        from blynklite.config import load_config
        from blynklite.logger import get_logger
        from blynklite.server import Server
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.hw_port, self.app_port, self.hw_ssl_port = free_ports(3)
        props = {"http.port": self.hw_port, "https.port": self.app_port, "hardware.ssl.port": self.hw_ssl_port,
                 "hardware.mqtt.port": 0, "listen.address": "127.0.0.1", "server.host": "127.0.0.1",
                 "data.folder": workdir / "data", "logs.folder": workdir / "logs", "admin.pass": "admin-pass"}
        props.update({k.replace("_", "."): v for k, v in properties.items()})
        path = workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        for name, lines in (files or {}).items():      # mail.properties, gcm.properties, ...
            (workdir / name).write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        config = load_config(["-serverConfig", str(path)], cwd=str(workdir))
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        tls = server_tls(config, str(workdir / "data"), get_logger("blynklite"))
        self.clock = SteppedClock(wall=wall)
        self.server = Server(config, str(workdir / "data"), tls, clock=self.clock)
        self.server.load_users()
        self.server.listen()
        self._thread = threading.Thread(target=self._run, name="reactor", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.server.reactor.run()
        finally:
            self.server.shutdown()

    def call(self, function, *args):
        """Run `function(*args)` on the reactor thread; its result (or its exception, raised here)."""
        done = queue.Queue()

        def run():
            try:
                done.put((True, function(*args)))
            except Exception as error:      # handed to the test thread
                done.put((False, error))
        self.server.reactor.call_soon_threadsafe(run)
        ok, value = done.get(timeout=WAIT)
        if not ok:
            raise value
        return value

    def set_wall(self, epoch_seconds):
        """Step the wall clock and run the one-second job for that instant at once."""
        def step():
            self.clock.set_wall(epoch_seconds)
            self.server.automation.run_due()
        self.call(step)

    def stop(self):
        self.server.reactor.stop()
        self._thread.join(timeout=WAIT)
        self.server.reactor.close()


class LibDevice:
    """`blynklib` 0.2.6, as shipped, run by a thread: records the virtual-pin writes it receives and
    answers every `BLYNK_READ` (read V*) with `answer(pin)`."""

    def __init__(self, server, token, answer=None):
        import blynklib
        self.writes = queue.Queue()
        self.reads = queue.Queue()
        self.answer = answer
        self._stop = threading.Event()
        self._actions = queue.Queue()
        lib = blynklib.Blynk(token, server=server.host, port=server.hw_port, heartbeat=10,
                             log=lambda *a: None)
        lib._events = {}      # blynklib keeps handlers in a class attribute; each device its own
        lib.handle_event("write V*")(lambda pin, values: self.writes.put((pin, values)))
        lib.handle_event("read V*")(self._on_read)
        self.lib = lib
        self._thread = threading.Thread(target=self._loop, name="blynklib", daemon=True)
        self._thread.start()

    def _on_read(self, pin):
        self.reads.put(pin)
        if self.answer is not None:
            self.lib.virtual_write(pin, self.answer(pin))

    def _loop(self):
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                while not self._actions.empty():
                    self._actions.get_nowait()()
                self.lib.run()
            time.sleep(0.005)

    def connected(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lib.connected():
                time.sleep(0.2)       # the login answer and `pm` were read
                return True
            time.sleep(0.05)
        return False

    def virtual_write(self, pin, *values):
        self._actions.put(lambda: self.lib.virtual_write(pin, *values))

    def next_write(self, timeout=WAIT):
        try:
            return self.writes.get(timeout=timeout)
        except queue.Empty:
            return None

    def next_read(self, timeout=WAIT):
        try:
            return self.reads.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        self._stop.set()
        self._thread.join(timeout=WAIT)
        with contextlib.suppress(Exception):
            self.lib.disconnect()


class Project:
    """An account with one active dashboard (id 1) and one device (id 0), built through the app."""

    def __init__(self, server, widgets=(), devices=1):
        self.server = server
        self.email = f"auto-{uuid.uuid4().hex[:10]}@example.com"
        with AppClient(server.host, server.app_port, timeout=WAIT) as app:
            assert app.register(self.email, PASSWORD) == Status.OK
        self.app = AppClient(server.host, server.app_port, timeout=WAIT)
        assert self.app.login(self.email, PASSWORD) == Status.OK
        self.app.create_dash(1, "automation")
        self.tokens = [self.app.create_device(1, i, f"dev{i}")["token"] for i in range(devices)]
        for widget in widgets:
            assert self.add_widget(widget) == Status.OK, widget
        self.app.activate(1)
        self.app.inbox.clear()

    def add_widget(self, widget):
        body = f"1\0{json.dumps(widget)}".encode()
        return self.app.request(Command.CREATE_WIDGET, body)[2]

    def update_widget(self, widget):
        body = f"1\0{json.dumps(widget)}".encode()
        return self.app.request(Command.UPDATE_WIDGET, body)[2]

    def close(self):
        self.app.close()


def app_frames(app, command, timeout=WAIT, count=1):
    """devices.app_messages with this module's longer bound (a stepped server's rounds can lag)."""
    return app_messages(app, command, timeout, count)


logging.getLogger("blynklib").disabled = True


@pytest.fixture
def make(tmp_path):
    """A factory for in-process servers (`make(**server_properties)`), all stopped at the end."""
    started = []

    def start(**properties):
        started.append(InProcessServer(tmp_path / f"s{len(started)}", **properties))
        return started[-1]
    yield start
    for server in started:
        server.stop()
