"""Fixtures: a real blynklite server in a subprocess on free loopback ports, with a temp data folder."""
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0


def free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class ConsoleLines:
    """A server's stdout read to the end by a thread; `readline()` hands the lines out in order
    (blocking like the pipe would, "" at the end)."""

    def __init__(self, stream):
        self._stream = stream
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            for line in self._stream:
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put("")

    def readline(self):
        line = self._lines.get()
        if line == "":
            self._lines.put("")     # stays at the end for later readers
        return line

    def __iter__(self):
        return iter(self.readline, "")

    def close(self):
        self._reader.join(timeout=5)
        self._stream.close()


class RunningServer:
    host = "127.0.0.1"

    def __init__(self, workdir, extra_properties=None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.logs_dir = self.workdir / "logs"
        self.hw_port, self.app_port, self.hw_ssl_port = free_ports(3)
        self.properties = {
            "http.port": self.hw_port, "https.port": self.app_port, "hardware.ssl.port": self.hw_ssl_port,
            "hardware.mqtt.port": 0, "listen.address": "127.0.0.1", "server.host": "127.0.0.1",
            "data.folder": self.data_dir, "logs.folder": self.logs_dir, "log.level": "debug",
            "admin.pass": "admin-test-pass", "profile.save.worker.period": 1000,
            # Tests register many accounts from 127.0.0.1; tests/test_login_guard.py sets its own limit.
            "registration.limit.per.ip.hourly": 0,
        }
        self.properties.update(extra_properties or {})
        self.process = None
        self.banner = ""

    @property
    def cafile(self):
        return str(self.data_dir / "blynklite-selfsigned.crt")

    def start(self):
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties.items()))
        # Notification peers in the tests listen on loopback: never reach them through a proxy.
        env = dict(os.environ, PYTHONPATH=str(ROOT), no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "blynklite", "-serverConfig", str(config)],
            cwd=self.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_TIMEOUT
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Started in"):
                self.banner = "".join(lines)
                self._drain_output()
                return self
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(lines))

    def _drain_output(self):
        """Keep reading the server's console after the banner (errors are echoed there), so that a
        full pipe never blocks it; tests read those lines from `process.stdout` as before."""
        self.process.stdout = ConsoleLines(self.process.stdout)

    def stop(self, sig=signal.SIGTERM):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        code = self.process.returncode
        self.process.stdout.close()
        self.process = None
        return code

    def log_text(self):
        path = self.logs_dir / "blynk.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def server(tmp_path):
    running = RunningServer(tmp_path).start()
    yield running
    running.stop()


@pytest.fixture
def make_server(tmp_path):
    """Factory for a server with extra server.properties values."""
    started = []

    def make(**properties):
        running = RunningServer(tmp_path / f"s{len(started)}", {k.replace("_", "."): v
                                                               for k, v in properties.items()})
        running.workdir.mkdir(parents=True, exist_ok=True)
        started.append(running.start())
        return running
    yield make
    for running in started:
        running.stop()
