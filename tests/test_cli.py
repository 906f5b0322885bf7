"""`python3 -m blynklite.client` as a user runs it, against the real server.

Each command runs as a subprocess (PYTHONPATH = the project root) with a bounded timeout; the device
side is a raw plain-TCP hardware connection (5-byte `>BHH` headers) on the server's hardware port.
"""
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAIT = 5.0
CLI_TIMEOUT = 20.0
SEP = "\0"
RESPONSE, PING, HARDWARE, HARDWARE_LOGIN = 0, 6, 20, 29
OK = 200
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")

EMAIL, PASSWORD = "a@blynk.cc", "secret"


def cli_args(server, *args, email=EMAIL, password=PASSWORD):
    return [sys.executable, "-m", "blynklite.client", "--host", server.host, "--port", str(server.app_port),
            "--email", email, "--password", password, *args]


def cli_env():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BLYNK_EMAIL", None)
    env.pop("BLYNK_PASSWORD", None)
    return env


def run(server, *args, **account):
    return subprocess.run(cli_args(server, *args, **account), env=cli_env(), capture_output=True,
                          text=True, timeout=CLI_TIMEOUT)


class Device:
    """A raw hardware connection on the plain hardware port."""

    def __init__(self, server):
        self.sock = socket.create_connection((server.host, server.hw_port), timeout=WAIT)
        self.buffer = b""
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send(self, command, body=""):
        msg_id, self.next_id = self.next_id, self.next_id + 1
        data = body.encode()
        self.sock.sendall(struct.pack(">BHH", command, msg_id, len(data)) + data)
        return msg_id

    def expect(self, wanted, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            while len(self.buffer) >= 5:
                command, msg_id, size = struct.unpack(">BHH", self.buffer[:5])
                if command == RESPONSE:
                    frame, self.buffer = (command, msg_id, size), self.buffer[5:]
                elif len(self.buffer) >= 5 + size:
                    frame = (command, msg_id, self.buffer[5:5 + size].decode())
                    self.buffer = self.buffer[5 + size:]
                else:
                    break
                if wanted(frame):
                    return frame
                seen.append(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"device got no {what} within {timeout} s; seen {seen}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError(f"closed while waiting for {what}; seen {seen}")
            self.buffer += data

    def login(self, token):
        msg_id = self.send(HARDWARE_LOGIN, token)
        return self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, "login reply")[2]

    def barrier(self):
        msg_id = self.send(PING)
        assert self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, "PING reply")[2] == OK


def new_device(server, name="Kitchen"):
    result = run(server, "new-device", name)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_new_device_prints_only_a_token_that_logs_in(server):
    stdout = new_device(server)
    assert TOKEN_RE.fullmatch(stdout.rstrip("\n")) and stdout.endswith("\n") and stdout.count("\n") == 1, \
        repr(stdout)
    device = Device(server)
    assert device.login(stdout.strip()) == OK
    device.close()

    second = new_device(server, "Garage").strip()     # the account exists now: register is skipped
    assert TOKEN_RE.fullmatch(second) and second != stdout.strip()
    tokens = run(server, "tokens")
    assert tokens.returncode == 0, tokens.stderr
    assert [line.split("\t")[:2] for line in tokens.stdout.splitlines()] == \
        [["1-0", stdout.strip()], ["1-1", second]]


def test_write_reaches_the_device_and_sync_prints_the_stored_value(server):
    token = new_device(server).strip()
    device = Device(server)
    assert device.login(token) == OK

    result = run(server, "write", "V1", "42")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    frame = device.expect(lambda f: f[0] == HARDWARE, "the CLI's write")
    assert frame[2] == SEP.join(["vw", "1", "42"])

    device.send(HARDWARE, SEP.join(["vw", "24", "12.5"]))
    device.barrier()
    result = run(server, "sync")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["1-0 V1 42", "1-0 V24 12.5"]
    device.close()


def test_watch_prints_device_writes(server):
    token = new_device(server).strip()
    device = Device(server)
    assert device.login(token) == OK
    watch = subprocess.Popen(cli_args(server, "watch", "--seconds", "2"), env=cli_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the watcher needs a moment to connect and log in; keep writing for its whole window
        started = time.monotonic()
        while watch.poll() is None and time.monotonic() - started < 2 + CLI_TIMEOUT:
            device.send(HARDWARE, SEP.join(["vw", "5", "hello"]))
            time.sleep(0.1)
        stdout, stderr = watch.communicate(timeout=CLI_TIMEOUT)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate(timeout=WAIT)
        device.close()
    assert time.monotonic() - started < 2 + CLI_TIMEOUT / 2, "watch --seconds 2 did not stop in time"
    assert watch.returncode == 0, stderr
    assert "1-0 V5 hello" in stdout.splitlines(), stdout      # the notation `sync` prints


def test_write_to_an_offline_device_is_stored_and_exits_0(server):
    new_device(server)
    result = run(server, "write", "V1", "1")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout == "stored; device 1-0 offline\n" and result.stderr == ""
    synced = run(server, "sync")
    assert synced.returncode == 0 and synced.stdout.splitlines() == ["1-0 V1 1"], synced


def test_wrong_password_exits_2_with_a_message(server):
    new_device(server)
    result = run(server, "sync", password="wrong")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error:") and "USER_NOT_AUTHENTICATED (5)" in result.stderr


def test_no_server_exits_2(server):
    port = server.app_port
    server.stop()
    result = subprocess.run(
        [sys.executable, "-m", "blynklite.client", "--host", "127.0.0.1", "--port", str(port),
         "--email", EMAIL, "--password", PASSWORD, "sync"],
        env=cli_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert result.returncode == 2 and "connection refused" in result.stderr, result.stderr


def test_new_device_works_with_the_short_address_from_the_readme(server):
    result = run(server, "new-device", "Kitchen", email="a@b.c")
    assert result.returncode == 0, result.stderr
    assert TOKEN_RE.fullmatch(result.stdout.strip())


def test_new_device_for_an_address_without_a_top_level_domain_is_refused(server):
    result = run(server, "new-device", "Kitchen", email="a@localhost")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "register a@localhost failed: ILLEGAL_COMMAND (2)" in result.stderr
