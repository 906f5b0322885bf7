"""Bad input against the real server: malformed frames, oversized lengths, garbage on the TLS ports,
HTTP where a device is expected, and a client that stops reading (spec/framing.md §2.4, §3, §5,
§8; spec/commands.md §1).

Every test runs next to a well-behaved `bystander` (its own account, one app connection and one
logged-in device, connected before the bad input arrives). Each test ends with
`bystander.check()`: the server process is still alive and a device write still reaches the app
and an app write still reaches the device.
"""
import itertools
import os
import re
import socket
import ssl
import time
from dataclasses import dataclass

import pytest

from blynklite.client import AppClient, password_hash
from blynklite.codec.commands import Command, Status

from devices import (PASSWORD, WAIT, RawClient, app_barrier, app_messages, body, device, new_account,
                     open_app, tls_context)

C, S = Command, Status
OK = S.OK


def _token(app, dash_id=1, device_id=0):
    dash = next(d for d in app.load_profile()["dashBoards"] if d["id"] == dash_id)
    return next(d["token"] for d in dash["devices"] if d["id"] == device_id)


@dataclass
class Account:
    email: str
    app: AppClient
    token: str


def make_account(server):
    email = new_account(server)
    app = open_app(server, email)
    app.new_device("Device 0")
    token = _token(app)
    app_barrier(app)
    return Account(email, app, token)


class Bystander:
    """An account with an app and a device that keep talking while another client misbehaves."""

    def __init__(self, server):
        self.server = server
        self.account = make_account(server)
        self.app = self.account.app
        self.device = device(server)
        assert self.device.login(self.account.token) == OK
        assert app_messages(self.app, C.HARDWARE_CONNECTED)
        self._ids = itertools.count(100)

    def check(self):
        assert self.server.process.poll() is None, "the server process died"
        msg_id = next(self._ids)
        self.device.send(C.HARDWARE, body("vw", 9, msg_id), msg_id)
        assert app_messages(self.app, C.HARDWARE) == [
            (C.HARDWARE, msg_id, body("1-0", "vw", 9, msg_id))], "device → app write lost"
        app_id = self.app.write(1, 0, "V8", msg_id)
        assert self.device.receive() == (C.HARDWARE, app_id, body("vw", 8, msg_id)), \
            "app → device write lost"
        assert self.device.barrier() == []
        assert self.server.process.poll() is None, "the server process died"

    def close(self):
        self.device.close()
        self.app.close()


@pytest.fixture
def bystander(server):
    watcher = Bystander(server)
    yield watcher
    watcher.close()


@pytest.fixture
def account(server, bystander):
    acc = make_account(server)
    yield acc
    acc.app.close()


def raw_app(server, email=None, rcvbuf=None):
    """A logged-in app connection built by hand (7-byte framing), for frames AppClient won't send."""
    email = email or new_account(server)
    app = RawClient(server.host, server.app_port, tls=True, app_framing=True, rcvbuf=rcvbuf)
    app.send(C.LOGIN, body(email, password_hash(PASSWORD, email), "Android", "2.27.0", "Blynk"), 1)
    assert app.receive() == (C.RESPONSE, 1, OK)
    return app


# -- malformed frames (framing §2.4: command codes >= 100 close the connection) ------------------

@pytest.mark.parametrize("port, logged_in, frame", [
    ("hw", False, bytes.fromhex("64 0001 0000")),
    ("hw", False, bytes.fromhex("ff ffff ffff")),
    ("hw", True, bytes.fromhex("64 0002 0003") + b"abc"),
    ("hw", True, bytes.fromhex("ff 0002 0000")),
    ("hw_ssl", True, bytes.fromhex("80 0002 0000")),
    ("app", True, bytes.fromhex("c8 0002 0000")),
], ids=["100-before-login", "255-all-ones-before-login", "100-after-login", "255-after-login",
        "128-after-login-tls", "200-after-login-shared-tls-port"])
def test_command_code_of_100_or_more_closes_the_device_connection(server, bystander, account, port,
                                                                   logged_in, frame):
    with device(server, port) as dev:
        if logged_in:
            assert dev.login(account.token) == OK
        dev.send_raw(frame)
        assert dev.wait_closed() == []
    bystander.check()


@pytest.mark.parametrize("command", [100, 255])
def test_command_code_of_100_or_more_closes_the_app_connection(server, bystander, command):
    with raw_app(server) as app:
        app.send_raw(bytes([command]) + bytes.fromhex("0002 00000000"))
        assert app.wait_closed() == []
    bystander.check()


def test_app_length_over_ten_million_closes_the_connection(server, bystander):
    with raw_app(server) as app:
        app.send_raw(bytes.fromhex("14 0002") + (10_000_001).to_bytes(4, "big") + b"1-0\0vw")
        assert app.wait_closed() == []
    bystander.check()


def test_app_length_of_all_ones_closes_the_connection(server, bystander):
    """0xFFFFFFFF is -1 as Java reads it (negative length → close) and over the limit unsigned."""
    with raw_app(server) as app:
        app.send_raw(bytes.fromhex("14 0002 ffffffff"))
        assert app.wait_closed() == []
    bystander.check()


def test_app_length_of_exactly_ten_million_is_waited_for(server, bystander):
    with raw_app(server) as app:
        app.send_raw(bytes.fromhex("14 0002") + (10_000_000).to_bytes(4, "big") + b"1-0\0vw")
        assert app.is_open(timeout=1.0)
    bystander.check()


@pytest.mark.parametrize("frame", [
    bytes.fromhex("05 0002 0003") + b"abc",           # 5: not defined in 0.41
    bytes.fromhex("0a 0003 0000"),                    # 10, 11: unused codes
    bytes.fromhex("0b 0004 0001") + b"\0",
    bytes.fromhex("40 0005 0002") + b"hi",            # HARDWARE_LOG_EVENT: defined, not handled
    bytes.fromhex("37 0006 0005") + b"debug",         # 55: the library's DEBUG_PRINT
    bytes.fromhex("63 0007 0000"),                    # 99: highest code the decoder accepts
    bytes.fromhex("04 0008 0003") + b"1-0",           # server → app commands sent by a device
    bytes.fromhex("47 0009 0003") + b"1-0",
    bytes.fromhex("00 000a 00c8"),                    # responses are ignored after login
    bytes.fromhex("00 000b ffff"),
], ids=["5", "10", "11", "64", "55", "99", "HARDWARE_CONNECTED", "DEVICE_OFFLINE", "response-ok",
        "response-ffff"])
def test_unknown_command_after_login_is_ignored(server, bystander, account, frame):
    with device(server) as dev:
        assert dev.login(account.token) == OK
        dev.send_raw(frame)
        assert dev.barrier() == []
        dev.send(C.HARDWARE, body("vw", 1, 1), msg_id=20)
        assert dev.barrier() == []
        assert [m for m in app_barrier(account.app) if m[0] == C.HARDWARE] == [
            (C.HARDWARE, 20, body("1-0", "vw", 1, 1))]
    bystander.check()


def test_invalid_utf8_in_a_write_does_not_hurt_anyone(server, bystander, account):
    with device(server) as dev:
        assert dev.login(account.token) == OK
        dev.send(C.HARDWARE, b"vw\x001\x00\xff\xfe\xc3", msg_id=2)
        dev.send(C.BLYNK_INTERNAL, b"\xff\xfe", msg_id=3)
        dev.send(C.SET_WIDGET_PROPERTY, b"1\x00label\x00\xc3", msg_id=4)
        dev.send(C.BRIDGE, b"\xff\x00\xfe\x00\xfd", msg_id=5)
        dev.barrier()
        assert dev.is_open()
    bystander.check()


def test_largest_hardware_body_is_accepted(server, bystander, account):
    payload = b"vw\x001\x00" + b"x" * (0xFFFF - 5)
    with device(server) as dev:
        assert dev.login(account.token) == OK
        dev.send(C.HARDWARE, payload, msg_id=2)
        assert dev.barrier() == []
        assert app_messages(account.app, C.HARDWARE) == [(C.HARDWARE, 2, b"1-0\x00" + payload)]
    bystander.check()


@pytest.mark.parametrize("piece", [
    bytes.fromhex("14 0002"),                          # half a header
    bytes.fromhex("14 0002 0010") + b"vw\x001",        # header and part of the body
], ids=["half-header", "half-body"])
def test_client_leaving_in_the_middle_of_a_frame(server, bystander, account, piece):
    dev = device(server)
    assert dev.login(account.token) == OK
    dev.send_raw(piece)
    dev.close()
    assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]
    bystander.check()


# -- TLS ports (framing §5) ---------------------------------------------------------------------

@pytest.mark.parametrize("port", ["app", "hw_ssl"])
@pytest.mark.parametrize("garbage", [
    bytes.fromhex("1d 0001 0020") + b"A" * 32,         # a plaintext hardware login
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\xff" * 64,
    b"\x00" * 5,
], ids=["plaintext-login", "plaintext-http", "ff-bytes", "nul-bytes"])
def test_plaintext_on_a_tls_port_is_closed(server, bystander, port, garbage):
    number = server.app_port if port == "app" else server.hw_ssl_port
    with socket.create_connection((server.host, number), timeout=WAIT) as sock:
        sock.sendall(garbage)
        deadline = time.monotonic() + WAIT
        received = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail(f"still open after {WAIT} s")
        assert b"\xc8" not in received[:5] and not received.startswith(b"HTTP")
    bystander.check()


@pytest.mark.parametrize("port", ["app", "hw_ssl"])
def test_raw_garbage_after_the_tls_handshake_is_closed(server, bystander, account, port):
    """Bytes that are not TLS records, written under an established TLS session."""
    with device(server, port) as dev:
        assert dev.login(account.token) == OK
        os.write(dev.sock.fileno(), b"\x17\x03\x03\x00\x10" + b"\xaa" * 16 + b"\xff" * 64)
        assert dev.wait_closed() == []
    assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]
    bystander.check()


@pytest.mark.parametrize("port", ["app", "hw_ssl"])
def test_garbage_inside_tls_before_login_is_closed(server, bystander, port):
    """On the hardware-only TLS port garbage is a hardware frame with command 0xff; on the shared
    port it is an app frame with command 0xff. Both close (framing §2.4)."""
    with device(server, port) as dev:
        dev.send_raw(b"\xff" * 64)
        assert dev.wait_closed() == []
    bystander.check()


def test_tls_client_that_never_finishes_the_handshake_does_not_block_others(server, bystander):
    with socket.create_connection((server.host, server.app_port), timeout=WAIT) as sock:
        sock.sendall(b"\x16\x03\x01\x00\xff\x01")      # the start of a ClientHello, then silence
        bystander.check()


# -- HTTP where a device is expected (framing §3) ------------------------------------------------

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([1-5]\d\d) ")


@pytest.mark.parametrize("port", ["hw", "app"])
@pytest.mark.parametrize("request_bytes", [
    b"GET /no/such/path HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /no/such/path HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
], ids=["GET", "POST"])
def test_http_request_gets_an_http_error_status(server, bystander, port, request_bytes):
    if port == "hw":
        sock = socket.create_connection((server.host, server.hw_port), timeout=WAIT)
    else:
        raw = socket.create_connection((server.host, server.app_port), timeout=WAIT)
        sock = tls_context().wrap_socket(raw)
    with sock:
        sock.sendall(request_bytes)
        response = b""
        deadline = time.monotonic() + WAIT
        while b"\r\n" not in response and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    match = STATUS_LINE.match(response)
    assert match, response[:100]
    assert int(match.group(1)) >= 400, response[:100]
    bystander.check()


# -- a client that stops reading (framing §8, STYLE: bounded output per connection) ---------------

def test_device_that_stops_reading_while_the_app_floods_it_does_not_break_others(server,
                                                                                  bystander,
                                                                                  account):
    slow = device(server, rcvbuf=4096)
    try:
        assert slow.login(account.token) == OK
        slow.send(C.BLYNK_INTERNAL, body("ver", "0.6.1", "buff-in", 65000), msg_id=2)
        assert slow.barrier() == [(C.RESPONSE, 2, OK)]
        # From here on `slow` reads nothing. 90 writes of 60 kB (5.4 MB) stay under the app's
        # 100 messages/s quota and far over what the kernel buffers can hold for the device.
        value = "x" * 60_000
        flooder = account.app
        started = time.monotonic()
        for _ in range(90):
            flooder.write(1, 0, "V1", value)
        assert time.monotonic() - started < WAIT, "the server stopped reading the flooding app"
        bystander.check()
        assert flooder.request(C.PING)[2] == OK          # the flooding app is still served
        bystander.check()
        # Reading again, the device finds whole frames only: what was skipped was skipped whole.
        expected = body("vw", 1, value)
        backlog = slow.receive_all(timeout=1.0)
        assert 0 < len(backlog) <= 90
        assert all(m[0] == C.HARDWARE and m[2] == expected for m in backlog)
        assert slow.barrier() == []
    finally:
        slow.close()
    assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]
    bystander.check()


def test_app_that_stops_reading_while_its_device_floods_it_does_not_break_others(server,
                                                                                  bystander,
                                                                                  account):
    slow_app = raw_app(server, account.email, rcvbuf=4096)
    try:
        with device(server) as dev:
            assert dev.login(account.token) == OK
            chunk = body("vw", 1, "y" * 60_000)
            started = time.monotonic()
            for msg_id in range(2, 92):                  # 90 × 60 kB, under the 100/s quota
                dev.send(C.HARDWARE, chunk, msg_id)
            assert time.monotonic() - started < WAIT, "the server stopped reading the device"
            bystander.check()
            assert dev.barrier() == []
            bystander.check()
    finally:
        slow_app.close()
    bystander.check()


# -- the self-signed certificate is loaded by the first TLS client (certs.ServerTLS) --------------

def test_the_certificate_is_loaded_by_the_first_tls_client_not_by_a_port_probe(server):
    loaded = "loaded the self-signed certificate"
    socket.create_connection((server.host, server.app_port), timeout=WAIT).close()
    with socket.create_connection((server.host, server.hw_port), timeout=WAIT) as plain:  # a round trip
        plain.sendall(b"GET /no/such/path HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert STATUS_LINE.match(plain.recv(4096))
    assert loaded not in server.log_text()
    for _ in range(2):
        open_app(server, new_account(server)).close()
    assert server.log_text().count(loaded) == 1


def test_a_broken_self_signed_key_refuses_tls_clients_until_it_is_repaired(server):
    key_file = server.data_dir / "blynklite-selfsigned.key"
    good_key = key_file.read_bytes()
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with socket.create_connection((server.host, server.app_port), timeout=WAIT) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            tls_context().wrap_socket(raw).close()
    assert re.search(r"ERROR .*TLS: .*blynklite-selfsigned.key.*closing the connection", server.log_text())

    with socket.create_connection((server.host, server.hw_port), timeout=WAIT) as plain:  # unaffected
        plain.sendall(b"GET /no/such/path HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert STATUS_LINE.match(plain.recv(4096))

    key_file.write_bytes(good_key)   # repaired: the next TLS client loads it
    email = new_account(server)
    assert open_app(server, email).load_profile() is not None
