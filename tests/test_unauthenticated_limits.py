"""What a peer that has not logged in can cost us (issue: reliability §2 and §5).

Before login only small frames make sense, so a larger one is refused at its header; an HTTP request
without credentials may not send a large body; and a connection that does not log in (or finish its
HTTP request) within LOGIN_TIMEOUT / REQUEST_TIMEOUT is closed, however slowly it keeps talking.
Every test runs beside a bystander that must not notice.
"""
import json
import socket
import ssl
import threading
import time
import urllib.request

import pytest

from blynklite.codec.commands import Command, Status
from blynklite.codec.frames import PRE_LOGIN_MAX_BODY
from blynklite.codec.http import HttpError, RequestParser
from blynklite.sessions.http import REQUEST_TIMEOUT, UNAUTHENTICATED_BODY_BYTES
from blynklite.net.connection import LOGIN_TIMEOUT

from devices import WAIT, RawClient, body, device, tls_context
from test_bad_input import bystander, account, make_account  # noqa: F401  (fixtures)

C = Command


# -- codec: a per-request body limit, decided from the head ---------------------------------------
@pytest.mark.parametrize("framing", [b"Content-Length: 11\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_parser_refuses_a_body_over_the_limit_the_head_earned(framing):
    parser = RequestParser(max_body_bytes=1000)
    parser.body_limit_for = lambda request: 10 if request.header("cookie") is None else 1000
    parser.feed(b"POST /x HTTP/1.1\r\n" + framing + b"\r\n" + (b"b\r\n" if b"chunked" in framing else b""))
    with pytest.raises(HttpError) as error:
        parser.next_request()
    assert error.value.status == 413


def test_parser_gives_a_credentialed_request_its_body():
    parser = RequestParser(max_body_bytes=1000)
    parser.body_limit_for = lambda request: 10 if request.header("cookie") is None else 1000
    parser.feed(b"POST /x HTTP/1.1\r\nCookie: a=b\r\nContent-Length: 500\r\n\r\n" + b"x" * 500)
    request = parser.next_request()
    assert (request.path, len(request.body)) == ("/x", 500)
    assert not parser.has_partial()


@pytest.mark.parametrize("chunks", [[b"\nGET / HTTP/1.1\r\n\r\n"], [b"\n", b"GET / HTTP/1.1\r\n\r\n"],
                                    [b"\r\n\nGET / HTTP/1.1\r\n\r\n"]])
def test_a_head_at_the_limit_after_empty_lines_parses_however_it_is_cut(chunks):
    """A fuzz finding: the empty lines before a head were counted against the limit in one read only."""
    parser = RequestParser(max_header_bytes=16)
    for chunk in chunks:
        parser.feed(chunk)
    assert parser.next_request().path == "/"


# -- frames before login ---------------------------------------------------------------------------
def test_app_frame_over_the_pre_login_limit_is_refused_at_its_header(server, bystander):
    with RawClient(server.host, server.app_port, tls=True, app_framing=True) as app:
        app.send_raw(bytes.fromhex("02 0001") + (9_999_999).to_bytes(4, "big") + b"x" * 100)
        assert app.wait_closed() == []
    bystander.check()


def test_hardware_login_frame_over_the_pre_login_limit_is_refused(server, bystander):
    with device(server) as hw:
        hw.send_raw(bytes.fromhex("1d 0001") + (PRE_LOGIN_MAX_BODY + 1).to_bytes(2, "big") + b"t" * 10)
        assert hw.wait_closed() == []
    bystander.check()


def test_a_login_frame_at_the_limit_is_still_answered(server, bystander):
    with device(server) as hw:
        hw.send(C.HARDWARE_LOGIN, b"x" * PRE_LOGIN_MAX_BODY, 1)
        assert hw.receive() == (C.RESPONSE, 1, Status.INVALID_TOKEN)
    bystander.check()


def test_after_login_large_app_frames_are_allowed_again(server, bystander, account):
    big = json.dumps({"id": 9, "name": "n" * 5000}).encode()
    assert account.app.request(C.CREATE_DASH, big)[2] == Status.OK
    bystander.check()


# -- HTTP bodies -----------------------------------------------------------------------------------
def _raw_http(server, request_bytes):
    with socket.create_connection((server.host, server.hw_port), timeout=WAIT) as s:
        s.sendall(request_bytes)
        return s.recv(4096).decode("latin-1")


def test_http_body_without_credentials_is_refused_before_it_is_buffered(server, bystander):
    size = UNAUTHENTICATED_BODY_BYTES + 1
    answer = _raw_http(server, b"PUT /unknown-token-aaaaaaaaaaaaaaaaaaaa/update/V1 HTTP/1.1\r\n"
                               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
    assert answer.startswith("HTTP/1.1 413")
    bystander.check()


def test_http_body_with_a_device_token_may_be_large(server, bystander, account):
    value = "v" * (UNAUTHENTICATED_BODY_BYTES * 4)
    put = urllib.request.Request(
        f"http://{server.host}:{server.hw_port}/{account.token}/update/V3",
        data=json.dumps([value]).encode(), method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(put, timeout=WAIT) as answer:
        assert answer.status == 200
    bystander.check()


# -- connections that never finish -----------------------------------------------------------------
class Trickler(threading.Thread):
    """Sends `data` one byte every `interval` seconds until the server closes the connection."""

    def __init__(self, sock, data, interval=1.0):
        super().__init__(daemon=True)
        self.sock, self.data, self.interval = sock, data, interval
        self.closed_after = None
        self.started_at = time.monotonic()

    def run(self):
        self.sock.settimeout(self.interval)
        for i in range(len(self.data)):
            try:
                self.sock.send(self.data[i:i + 1])
                if self.sock.recv(4096) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.closed_after = time.monotonic() - self.started_at


def _plain(server):
    return socket.create_connection((server.host, server.hw_port), timeout=WAIT)


def _tls(server):
    sock = socket.create_connection((server.host, server.app_port), timeout=WAIT)
    return tls_context().wrap_socket(sock)


def test_peers_that_never_finish_logging_in_or_a_request_are_closed(server, bystander):
    keep_alive = _plain(server)
    keep_alive.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert keep_alive.recv(4096).startswith(b"HTTP/1.1 ")   # one whole request: no deadline now
    upgraded = _plain(server)
    upgraded.sendall(b"GET /websockets HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert upgraded.recv(4096).startswith(b"HTTP/1.1 101")
    slow = [
        Trickler(_plain(server), b"GET /" + b"a" * 200),                           # request line
        Trickler(_plain(server), bytes.fromhex("1d 0001 0020") + b"t" * 32),       # hardware login
        Trickler(_tls(server), bytes.fromhex("02 0001 00000040") + b"e" * 64),     # app login, TLS
        Trickler(keep_alive, b"GET /second HTTP/1.1\r\n" + b"X: y\r\n" * 50),      # second request
        Trickler(upgraded, bytes.fromhex("82 e4 01020304") + b"\x05" * 100),       # websocket, no login
    ]
    for trickler in slow:
        trickler.start()
    limit = max(LOGIN_TIMEOUT, REQUEST_TIMEOUT) + 5
    for trickler in slow:
        trickler.join(timeout=limit + 5)
    times = [t.closed_after for t in slow]
    assert all(t is not None and t < limit for t in times), times
    assert all(t > min(LOGIN_TIMEOUT, REQUEST_TIMEOUT) - 2 for t in times), times
    bystander.check()


def test_a_logged_in_device_is_not_closed_by_the_login_deadline(server, bystander):
    time.sleep(LOGIN_TIMEOUT + 2)
    bystander.check()
