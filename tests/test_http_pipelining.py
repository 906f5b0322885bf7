"""HTTP/1.1 pipelining behind a reply finished on a worker (sessions/http.py): `GET /{token}/data/V1`
writes its CSV on a worker while `get/V1` and `isHardwareConnected` are answered on the reactor, and
the answers must still leave in request order. Real in-process server (stepped clock), real worker
threads, a raw socket client on 127.0.0.1 that sends the requests in one `sendall`.

Some tests hold the only worker thread busy with a task that waits for an Event, so the CSV reply is
surely pending while the test looks (no reliance on the worker being slower than the reactor)."""
import contextlib
import socket
import threading
import time

import pytest

from blynklite.sessions import http as http_session

from devices import http_call
from history_support import SteppedServer
from test_history_server import START, chart, open_project
from test_history_http import http_put

MIN_MS = 60_000
WAIT = 10.0         # bound for an answer that must come
QUIET = 0.4         # how long "nothing arrives" is watched


@pytest.fixture
def stepped(tmp_path):
    server = SteppedServer(tmp_path / "s", wall=START, **{"blocking.processor.thread.pool.limit": 1})
    yield server
    server.stop()


@pytest.fixture
def token(stepped):
    """A device token whose V1 has a minute of history on disk and a current value of 7."""
    app, (device_token,) = open_project(stepped, [chart(7, (0, 1, "AVG"))])
    minute = (START * 1000) // MIN_MS * MIN_MS
    assert http_put(stepped, f"/{device_token}/extra/pin/v1", [{"ts": minute - MIN_MS, "value": "7"}]) == (200, b"")
    stepped.jump(61)
    yield device_token
    app.close()


def request(path, close=False):
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def pipeline(token, close=False):
    return (request(f"/{token}/data/V1") + request(f"/{token}/get/V1")
            + request(f"/{token}/isHardwareConnected", close=close))


class RawClient:
    """One keep-alive connection; reads responses one by one, each delimited by its Content-Length."""

    def __init__(self, server):
        self.sock = socket.create_connection((server.host, server.hw_port), timeout=WAIT)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def response(self, timeout=WAIT):
        """(status, headers, body) of the next whole response."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._fill(deadline)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def nothing_arrives(self, timeout=QUIET):
        try:
            self._fill(time.monotonic() + timeout)
        except socket.timeout:
            return not self.buffer
        except EOFError:
            return False
        return False

    def closed_by_server(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            return True
        except (socket.timeout, ConnectionResetError):
            return False


def assert_three_answers_in_order(client, token):
    status, headers, _ = client.response()
    assert status == 301 and headers["location"].startswith("/hist@example.com_1_0_v1_"), (status, headers)
    assert client.response()[0:3:2] == (200, b'["7"]')
    assert client.response()[0:3:2] == (200, b"false")


def bystander_get(server, token):
    status, _, body = http_call(server, "GET", f"/{token}/get/V1")
    return status, body


@contextlib.contextmanager
def busy_worker(server):
    """The pool's only thread waits (bounded) until the block ends: worker replies stay pending."""
    release = threading.Event()
    started = threading.Event()

    def wait():
        started.set()
        release.wait(WAIT * 3)
    assert server.on_reactor(lambda: server.server.workers.submit(wait))
    assert started.wait(WAIT)
    try:
        yield
    finally:
        release.set()


def jump(server, seconds):
    """Move the reactor clock on without waiting for the workers (they are busy on purpose)."""
    server.on_reactor(server.clock.jump, seconds)


def test_pipelined_requests_are_answered_in_order_and_the_connection_stays_usable(stepped, token):
    client = RawClient(stepped)
    try:
        for _ in range(3):
            client.sock.sendall(pipeline(token))
            assert_three_answers_in_order(client, token)
        client.sock.sendall(request(f"/{token}/get/V1"))
        assert client.response()[0:3:2] == (200, b'["7"]')
    finally:
        client.close()


def test_later_requests_wait_for_a_pending_worker_reply_which_blocks_no_other_connection(stepped, token):
    client = RawClient(stepped)
    try:
        with busy_worker(stepped):
            client.sock.sendall(pipeline(token))
            assert client.nothing_arrives()          # get/V1 waits behind the CSV, not in front of it
            assert bystander_get(stepped, token) == (200, b'["7"]')
            # The peer waits for us: neither the idle timeout nor the request timeout closes it.
            jump(stepped, http_session.HTTP_IDLE_TIMEOUT + http_session.REQUEST_TIMEOUT + 1)
            assert client.nothing_arrives(1.5)
        assert_three_answers_in_order(client, token)
        client.sock.sendall(request(f"/{token}/isHardwareConnected"))
        assert client.response()[0:3:2] == (200, b"false")
    finally:
        client.close()


def test_connection_close_on_the_last_pipelined_request_is_honoured_after_the_others(stepped, token):
    for hold in (False, True):
        client = RawClient(stepped)
        try:
            with busy_worker(stepped) if hold else contextlib.nullcontext():
                client.sock.sendall(pipeline(token, close=True) + request(f"/{token}/get/V1"))
                if hold:
                    assert client.nothing_arrives()
            assert_three_answers_in_order(client, token)
            assert client.buffer == b""                    # the request after the close is not answered
            assert client.closed_by_server()
        finally:
            client.close()


def test_a_client_that_closes_while_its_reply_is_pending_leaves_the_server_working(stepped, token, capsys):
    with busy_worker(stepped):
        client = RawClient(stepped)
        client.sock.sendall(pipeline(token))
        assert client.nothing_arrives()
        client.close()
        assert bystander_get(stepped, token) == (200, b'["7"]')
    stepped.settle()                                    # the CSV is done and its reply dropped
    assert "came after its connection closed; dropped" in capsys.readouterr().err
    assert bystander_get(stepped, token) == (200, b'["7"]')
    client = RawClient(stepped)
    try:
        client.sock.sendall(pipeline(token))
        assert_three_answers_in_order(client, token)
    finally:
        client.close()


def test_a_worker_reply_that_never_comes_is_answered_503_and_its_late_result_dropped(stepped, token, capsys):
    client = RawClient(stepped)
    try:
        with busy_worker(stepped):
            client.sock.sendall(pipeline(token))
            assert client.nothing_arrives()
            jump(stepped, http_session.PENDING_REPLY_TIMEOUT + 1)
            assert client.response()[0:3:2] == (503, b"The reply took too long.")
            assert client.closed_by_server()
        stepped.settle()
        assert "came after its connection closed; dropped" in capsys.readouterr().err
        assert bystander_get(stepped, token) == (200, b'["7"]')
    finally:
        client.close()


def test_a_peer_that_pipelines_too_much_behind_a_pending_reply_is_dropped_alone(stepped, token):
    client = RawClient(stepped)
    try:
        with busy_worker(stepped):
            client.sock.sendall(pipeline(token))
            assert client.nothing_arrives()
            filler = request(f"/{token}/get/V1") * (http_session.MAX_HELD_BYTES // 40)
            with contextlib.suppress(OSError):
                client.sock.sendall(filler)
            assert client.closed_by_server()
            assert bystander_get(stepped, token) == (200, b'["7"]')
    finally:
        client.close()


def test_a_reply_refused_by_a_full_worker_queue_is_answered_at_once_and_in_order(tmp_path):
    server = SteppedServer(tmp_path / "q", wall=START, **{"blocking.processor.thread.pool.limit": 1,
                                                          "notifications.queue.limit": 1})
    try:
        app, (device_token,) = open_project(server, [chart(7, (0, 1, "AVG"))])
        assert http_put(server, f"/{device_token}/update/v1", ["7"]) == (200, b"")
        client = RawClient(server)
        try:
            with busy_worker(server):          # the one queue slot is taken: the CSV is refused
                client.sock.sendall(pipeline(device_token))
                assert client.response()[0:3:2] == (500, b"Server is busy.")
                assert client.response()[0:3:2] == (200, b'["7"]')
                assert client.response()[0:3:2] == (200, b"false")
        finally:
            client.close()
        app.close()
    finally:
        server.stop()
