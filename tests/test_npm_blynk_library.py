"""End-to-end tests: the official Blynk JavaScript library (npm ``blynk-library``, version pinned in
tests/node/package-lock.json) as a device against the real blynklite server, over plain TCP and TLS.

The device is tests/node/blynk_device.js, run with ``node``: it uses the library unchanged (only its
socket write and its receive function are wrapped to *record* frames) and talks JSON lines with this
module: events on stdout, commands on stdin. The node dependencies are installed here with
``npm ci`` when missing; the module is skipped only when ``node`` or ``npm`` is not installed.

Library 0.5.4 behaviour these tests rely on (node_modules/blynk-library/blynk.js, blynk-node.js):
  * the default connector is ``SslClient`` to blynk-cloud.com:443; a plain server needs an explicit
    ``TcpClient({addr, port})`` connector;
  * ``SslClient`` passes ``rejectUnauthorized: false`` to ``tls.connect`` but then stops silently
    ("SSL not authorized") unless the certificate verified against its ``ca`` list (default: the bundled
    certs/server.crt of the old Blynk cloud) *and* matched the host, so the server's certificate file is
    given as ``ca``;
  * login is HARDWARE_LOGIN (29) with msgId 1; only a response to msgId 1 is looked at (OK or
    ALREADY_REGISTERED); it then starts the heartbeat timer and sends BLYNK_INTERNAL
    ``ver 0.5.4 buff-in 4096 dev js`` (no ``h-beat``: the server keeps its configured idle timeout);
    nothing can be sent before that OK;
  * every other message gets the next msgId (2, 3, ...); PINGs go out every ``heartbeat`` ms whatever the
    traffic, and their answers are not checked; a server frame with msgId 0 makes it disconnect;
  * after the server closes the connection it reconnects by itself after 5 s; INVALID_TOKEN stops it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from blynklite.codec.commands import Command, Status
from devices import new_account, open_app

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "blynk_device.js"
PACKAGE = "blynk-library"
NPM_TIMEOUT = 240.0  # seconds for `npm ci` on a clean checkout
WAIT = 10.0          # default bound for anything that must happen
HEARTBEAT_MS = 1000  # the library's PING interval in these tests (its own unit: milliseconds)
CREATE_WIDGET = 33


# --------------------------------------------------------------------------------------------------
# node / npm
# --------------------------------------------------------------------------------------------------

def _locked_version():
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{PACKAGE}"]["version"]


def _installed_version():
    try:
        return json.loads((NODE_DIR / "node_modules" / PACKAGE / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _run_bounded(args, cwd, timeout):
    """Run a command in its own process group; kill the whole group if it outlives `timeout`."""
    process = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=10)
        return None, output
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return process.returncode, output


@pytest.fixture(scope="module")
def node():
    """Path of `node`, with tests/node/node_modules installed from the lock file."""
    node_path, npm_path = shutil.which("node"), shutil.which("npm")
    if not node_path or not npm_path:
        pytest.skip(f"the npm blynk-library tests need Node.js: `node` "
                    f"{'found' if node_path else 'not found'}, `npm` {'found' if npm_path else 'not found'}"
                    " on PATH")
    wanted = _locked_version()
    lock_path = Path(tempfile.gettempdir()) / "blynklite-tests-npm-ci.lock"
    with open(lock_path, "w") as lock:  # one `npm ci` at a time (e.g. parallel pytest workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != wanted:
            code, output = _run_bounded([npm_path, "ci", "--no-audit", "--no-fund"], NODE_DIR, NPM_TIMEOUT)
            if code != 0:
                what = f"timed out after {NPM_TIMEOUT:.0f} s" if code is None else f"exit status {code}"
                pytest.fail(f"`npm ci` in {NODE_DIR} {what}:\n{output[-3000:]}", pytrace=False)
            if _installed_version() != wanted:
                pytest.fail(f"`npm ci` did not install {PACKAGE} {wanted} (found {_installed_version()})",
                            pytrace=False)
    return node_path


# --------------------------------------------------------------------------------------------------
# the JS device
# --------------------------------------------------------------------------------------------------

class JsDevice:
    """One `node blynk_device.js` process. Events are the JSON objects it prints, in order."""

    def __init__(self, node_path, host, port, token, tls=False, cafile=None, heartbeat_ms=HEARTBEAT_MS,
                 name="device"):
        self.name, self.port, self.tls = name, port, tls
        args = [node_path, str(SCRIPT), "--token", token, "--host", host, "--port", str(port),
                "--heartbeat", str(heartbeat_ms)]
        if tls:
            args += ["--tls", "--ca", cafile]
        self.events = []
        self.stderr = []
        self._cond = threading.Condition()
        self._seq = 0
        self.process = subprocess.Popen(args, cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                        errors="replace", start_new_session=True)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- process plumbing --------------------------------------------------------------------------
    def _read_stdout(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "garbage", "line": line.rstrip("\n")}
            event["t"] = time.monotonic()
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "exited", "t": time.monotonic()})
            self._cond.notify_all()

    def _read_stderr(self):
        for line in self.process.stderr:
            with self._cond:
                self.stderr.append(line.rstrip("\n"))

    def kill(self):
        """SIGKILL the node process (the OS closes its socket without any goodbye)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self):
        self.kill()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                stream.close()

    # -- events ------------------------------------------------------------------------------------
    def mark(self):
        with self._cond:
            return len(self.events)

    def find(self, predicate, start=0):
        with self._cond:
            return [e for e in self.events[start:] if predicate(e)]

    def wait(self, predicate, what, timeout=WAIT, start=0):
        """First event from index `start` on matching `predicate`; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.events and self.events[-1]["event"] == "exited"):
                    break
                self._cond.wait(remaining)
        raise AssertionError(f"{self.name}: no {what} within {timeout} s\n{self.describe()}")

    def sent(self, cmd, start=0):
        return self.find(lambda e: e["event"] == "sent" and e["cmd"] == cmd, start)

    def received(self, cmd, start=0):
        return self.find(lambda e: e["event"] == "recv" and e["cmd"] == cmd, start)

    def writes(self, pin, start=0):
        return [e["values"] for e in self.find(lambda e: e["event"] == "write" and e["pin"] == pin, start)]

    def count(self, name):
        return len(self.find(lambda e: e["event"] == name))

    def command(self, cmd, **fields):
        """Send one stdin command; wait until the script ran it. Returns the event index before it."""
        start = self.mark()
        self._seq += 1
        seq = self._seq
        self.process.stdin.write(json.dumps(dict(fields, seq=seq, cmd=cmd)) + "\n")
        self.process.stdin.flush()
        event = self.wait(lambda e: e.get("seq") == seq, f"ack of command {cmd!r}", start=start)
        assert event["event"] == "done", f"{self.name}: command {cmd!r} failed: {event}\n{self.describe()}"
        return start

    def describe(self):
        with self._cond:
            events = [{k: v for k, v in e.items() if k != "t"} for e in self.events[-40:]]
            stderr = self.stderr[-25:]
        lines = "\n  ".join(json.dumps(e, ensure_ascii=False) for e in events)
        return (f"--- {self.name} (port {self.port}, tls={self.tls}, exit={self.process.poll()}) last events:\n"
                f"  {lines}\n--- its stderr tail:\n  " + "\n  ".join(stderr))

    # -- scenario steps ----------------------------------------------------------------------------
    def wait_logged_in(self, timeout=WAIT):
        """The library got OK for its login and its BLYNK_INTERNAL info message was acknowledged."""
        self.wait(lambda e: e["event"] == "connect", "'connect' event (login OK)", timeout)
        login = self.sent(Command.HARDWARE_LOGIN)
        assert login and login[0]["id"] == 1, self.describe()
        info = self.sent(Command.BLYNK_INTERNAL)
        assert info and info[0]["body"][:2] == ["ver", "0.5.4"], self.describe()
        info_id = info[0]["id"]
        self.wait(lambda e: e["event"] == "recv" and e["cmd"] == Command.RESPONSE and e["id"] == info_id,
                  f"response to BLYNK_INTERNAL (msgId {info_id})", timeout)
        status = self.find(lambda e: e["event"] == "recv" and e["cmd"] == Command.RESPONSE
                           and e["id"] == info_id)[0]["status"]
        assert status == Status.OK, f"BLYNK_INTERNAL answered with {status}\n{self.describe()}"


@pytest.fixture
def js_devices(node):
    """Factory: `js_devices(server, port, token, tls=False, heartbeat_ms=...)` → started JsDevice;
    every process is killed at teardown."""
    started = []

    def start(server, port, token, tls=False, heartbeat_ms=HEARTBEAT_MS, name="device"):
        device = JsDevice(node, server.host, port, token, tls=tls, cafile=server.cafile,
                          heartbeat_ms=heartbeat_ms, name=name)
        started.append(device)
        return device

    yield start
    for device in started:
        device.close()


# --------------------------------------------------------------------------------------------------
# the app side
# --------------------------------------------------------------------------------------------------

class Account:
    """A fresh account with an app connection, one active dashboard and one device."""

    def __init__(self, server):
        self.server = server
        self.email = new_account(server)
        self.app = open_app(server, self.email)
        self.dash_id, self.device_id, self.token = self.app.new_device("JS device")

    def target(self, device_id=None):
        return f"{self.dash_id}-{self.device_id if device_id is None else device_id}".encode()

    def add_device(self, name):
        dash_id, device_id, token = self.app.new_device(name, dash_id=self.dash_id)
        assert dash_id == self.dash_id
        return device_id, token

    def write(self, pin, value, device_id=None):
        return self.app.write(self.dash_id, self.device_id if device_id is None else device_id, pin, value)

    def wait(self, predicate, what, timeout=WAIT, diagnostics=lambda: ""):
        """First message (inbox first) matching `predicate`; the others stay in the inbox."""
        for message in list(self.app.inbox):
            if predicate(message):
                self.app.inbox.remove(message)
                return message
        message = self.app.wait_for(predicate, timeout)
        if message is None:
            raise AssertionError(f"app did not receive {what} within {timeout} s; inbox "
                                 f"{list(self.app.inbox)!r}\n{diagnostics()}\n--- server log tail:\n"
                                 f"{self.server.log_text()[-3000:]}")
        return message

    def pending(self, predicate):
        """Messages already received matching `predicate` (after a PING round trip)."""
        assert self.app.request(Command.PING)[2] == Status.OK
        return [m for m in self.app.inbox if predicate(m)]

    def close(self):
        self.app.close()


@pytest.fixture
def accounts():
    made = []

    def make(server):
        account = Account(server)
        made.append(account)
        return account

    yield make
    for account in made:
        account.close()


def connect(account, js_devices, server, port, tls=False, token=None, device_id=None, **kwargs):
    """Start a JS device; wait for its login and for the app's HARDWARE_CONNECTED(login msgId 1)."""
    device = js_devices(server, port, token or account.token, tls=tls, **kwargs)
    device.wait_logged_in()
    target = account.target(device_id)
    message = account.wait(lambda m: m[0] == Command.HARDWARE_CONNECTED and m[2] == target,
                           f"HARDWARE_CONNECTED {target!r}", diagnostics=device.describe)
    assert message[1] == 1, f"HARDWARE_CONNECTED must carry the login msgId 1: {message}"
    return device


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------

PORTS = [
    pytest.param("hw_port", False, id="plain-8080"),
    pytest.param("app_port", True, id="tls-9443"),
    pytest.param("hw_ssl_port", True, id="tls-hardware-ssl-port"),
]


@pytest.mark.parametrize("port_name, tls", PORTS)
def test_round_trip(server, accounts, js_devices, port_name, tls):
    """Login (with a pin-mode message), app write → handler, virtualWrite → app, syncVirtual, syncAll."""
    account = accounts(server)
    # a digital widget makes the server send HARDWARE(1, "pm\0 5\0out") right after the login OK
    widget = {"type": "BUTTON", "id": 7, "x": 0, "y": 0, "width": 1, "height": 1,
              "deviceId": account.device_id, "pinType": "DIGITAL", "pin": 5}
    assert account.app.request(CREATE_WIDGET, f"{account.dash_id}\0{json.dumps(widget)}")[2] == Status.OK
    account.write("V3", "7")  # device offline: the server keeps the value for a later sync

    device = connect(account, js_devices, server, getattr(server, port_name), tls=tls)
    pin_modes = device.wait(lambda e: e["event"] == "recv" and e["cmd"] == Command.HARDWARE,
                            "pin-mode message after login")
    assert (pin_modes["id"], pin_modes["body"]) == (1, ["pm", "5", "out"]), device.describe()

    # app → device: the library calls the V1 / V2 write handlers with the values as strings
    start = device.mark()
    account.write("V1", "42")
    account.write("V2", ["1", "2.5", "three"])
    device.wait(lambda e: e["event"] == "write" and e["pin"] == 2, "V2 write handler call", start=start)
    assert device.writes(1, start) == [["42"]], device.describe()
    assert device.writes(2, start) == [["1", "2.5", "three"]], device.describe()

    # non-ASCII text both ways (the script converts between UTF-8 and the library's latin1 strings)
    start = device.mark()
    account.write("V6", "héllo ✓")
    device.wait(lambda e: e["event"] == "write" and e["pin"] == 6, "V6 write handler call", start=start)
    assert device.writes(6, start) == [["héllo ✓"]], device.describe()
    device.command("write", pin=7, values=["grüße"])
    expected = account.target() + "\0vw\x007\x00grüße".encode()
    account.wait(lambda m: m[0] == Command.HARDWARE and m[2] == expected, f"HARDWARE {expected!r}",
                 diagnostics=device.describe)

    # device → app: HARDWARE with the library's msgId and "dash-dev\0vw\05\0..." (also stored by the server)
    start = device.command("write", pin=5, values=["123"])
    sent = device.sent(Command.HARDWARE, start)
    assert [e["body"] for e in sent] == [["vw", "5", "123"]], device.describe()
    expected = account.target() + b"\0vw\x005\x00123"
    message = account.wait(lambda m: m[0] == Command.HARDWARE and m[2] == expected, f"HARDWARE {expected!r}",
                           diagnostics=device.describe)
    assert message[1] == sent[0]["id"], f"forwarded write must keep the device's msgId: {message}"

    # syncVirtual(3): the value the app wrote while the device was offline, with the request's msgId
    start = device.command("sync", pin=3)
    (request,) = device.sent(Command.HARDWARE_SYNC, start)
    assert request["body"] == ["vr", "3"]
    device.wait(lambda e: e["event"] == "write" and e["pin"] == 3, "V3 handler call (sync reply)", start=start)
    assert device.writes(3, start) == [["7"]], device.describe()
    replies = device.received(Command.HARDWARE, start)
    assert [(e["id"], e["body"]) for e in replies] == [(request["id"], ["vw", "3", "7"])], device.describe()

    # syncAll(): every stored virtual pin of this device, all with the request's msgId
    start = device.command("syncall")
    (request,) = device.sent(Command.HARDWARE_SYNC, start)
    assert request["body"] == [""]
    device.wait(lambda e: e["event"] == "write" and e["pin"] == 5, "V5 handler call (sync all)", start=start)
    device.wait(lambda e: all(device.writes(p, start) for p in (1, 2, 3, 5, 6, 7)),
                "sync of V1, V2, V3, V5, V6, V7", start=start)
    replies = device.received(Command.HARDWARE, start)
    assert {e["id"] for e in replies} == {request["id"]}, device.describe()
    assert sorted(tuple(e["body"]) for e in replies) == [
        ("vw", "1", "42"), ("vw", "2", "1", "2.5", "three"), ("vw", "3", "7"), ("vw", "5", "123"),
        ("vw", "6", "héllo ✓"), ("vw", "7", "grüße"),
    ], device.describe()

    assert device.count("disconnect") == 0 and device.count("error") == 0, device.describe()
    assert not device.find(lambda e: e["event"] == "garbage"), device.describe()


def test_library_pings_keep_device_online_past_idle_timeout(make_server, accounts, js_devices):
    """hard.socket.idle.timeout=2 → read-idle ceil(2 × 2.3) = 5 s. The library sends no h-beat, so that
    timeout applies: a device pinging every second stays online for 7 s, a silent one is closed at ~5 s."""
    server = make_server(hard_socket_idle_timeout=2)
    account = accounts(server)
    silent_id, silent_token = account.add_device("silent")
    pinging = connect(account, js_devices, server, server.hw_port, heartbeat_ms=HEARTBEAT_MS, name="pinging")
    silent = connect(account, js_devices, server, server.hw_port, token=silent_token, device_id=silent_id,
                     heartbeat_ms=60_000, name="silent")
    logged_in = silent.find(lambda e: e["event"] == "connect")[0]["t"]

    # the silent device: closed by the server's idle timeout, the app is told
    closed = silent.wait(lambda e: e["event"] == "disconnect", "disconnect by the server's idle timeout",
                         timeout=9)
    assert 4.0 <= closed["t"] - logged_in <= 8.0, f"closed after {closed['t'] - logged_in:.1f} s, expected ~5 s"
    account.wait(lambda m: m[0] == Command.DEVICE_OFFLINE and m[2] == account.target(silent_id),
                 "DEVICE_OFFLINE for the silent device")

    # the pinging device: still online 7 s after login, every ping answered
    remaining = logged_in + 7.0 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    assert pinging.count("disconnect") == 0 and pinging.count("connect") == 1, pinging.describe()
    pings = pinging.sent(Command.PING)
    assert len(pings) >= 5, pinging.describe()
    answered = {e["id"] for e in pinging.received(Command.RESPONSE) if e["status"] == Status.OK}
    old = [e["id"] for e in pings if time.monotonic() - e["t"] > 1.0]
    assert old and set(old) <= answered, f"unanswered pings {set(old) - answered}\n{pinging.describe()}"
    start = pinging.command("write", pin=4, values=["alive"])
    expected = account.target() + b"\0vw\x004\x00alive"
    account.wait(lambda m: m[0] == Command.HARDWARE and m[2] == expected, "write from the pinging device",
                 diagnostics=pinging.describe)
    assert not account.pending(lambda m: m[0] == Command.DEVICE_OFFLINE and m[2] == account.target()), \
        "the pinging device was reported offline"
    assert pinging.count("error") == 0, pinging.describe()


@pytest.mark.parametrize("how, port_name, tls", [
    pytest.param("library-disconnect", "hw_port", False, id="library-disconnect-plain"),
    pytest.param("process-killed", "hw_ssl_port", True, id="process-killed-tls"),
])
def test_disconnect_is_seen_by_app(server, accounts, js_devices, how, port_name, tls):
    account = accounts(server)
    device = connect(account, js_devices, server, getattr(server, port_name), tls=tls)
    if how == "library-disconnect":
        device.command("disconnect")  # blynk.disconnect(false): closes the socket, no reconnect
        device.wait(lambda e: e["event"] == "disconnect", "'disconnect' event")
    else:
        device.kill()
    message = account.wait(lambda m: m[0] == Command.DEVICE_OFFLINE, "DEVICE_OFFLINE",
                           diagnostics=device.describe)
    assert message[1:] == (0, account.target()), message
    msg_id = account.write("V1", "1")
    reply = account.wait(lambda m: m[:2] == (Command.RESPONSE, msg_id), "reply to a write to the offline device")
    assert reply[2] == Status.DEVICE_NOT_IN_NETWORK, reply


def test_invalid_token_stops_the_library(server, js_devices):
    """INVALID_TOKEN (9) to the login: the library emits 'error' and gives up (no reconnect loop)."""
    device = js_devices(server, server.hw_port, "x" * 32)
    event = device.wait(lambda e: e["event"] == "error", "'error' event")
    assert event["error"] == "INVALID_TOKEN", device.describe()
    response = device.received(Command.RESPONSE)
    assert [(e["id"], e["status"]) for e in response] == [(1, Status.INVALID_TOKEN)], device.describe()
    assert device.count("connect") == 0, device.describe()
