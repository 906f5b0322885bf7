"""Blocking raw clients for integration tests: a Blynk device (5-byte hardware framing) or, for the
few tests that need hand-made app frames, the same thing with the 7-byte app framing.

Unlike a real device library, `RawClient` hides nothing: `send()` writes exactly one frame with the
id you choose, `send_raw()` writes any bytes, every byte the server sent is kept in `received`, and a
closed connection is reported instead of retried. Every wait is bounded.

Messages are (command, msg_id, payload): payload is the int status for a response (command 0), else
the body bytes — the shape `blynklite.client.AppClient` uses for the app side.
"""
import collections
import http.client
import socket
import ssl
import time
import uuid

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status
from blynklite.codec.frames import APP, HARDWARE, app_decoder, hardware_decoder

WAIT = 5.0             # default bound for a message that must arrive
QUIET = 0.3            # how long "nothing arrives" is watched when no barrier can be used
PASSWORD = "device-test-pass"
BARRIER_ID = 0xFFF0    # msg id of the PING used as an ordering barrier; tests use small ids


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


def body(*fields):
    """`body("vw", 1, 100)` → b"vw\\x001\\x00100" (fields joined with NUL, UTF-8)."""
    return "\0".join(str(f) for f in fields).encode("utf-8")


def tls_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class RawClient:
    def __init__(self, host, port, tls=False, app_framing=False, timeout=WAIT, rcvbuf=None):
        self.timeout = timeout
        self.framing = APP if app_framing else HARDWARE
        self._decoder = app_decoder() if app_framing else hardware_decoder()
        self._decoded = collections.deque()
        self.received = bytearray()
        self.closed_by_server = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_context().wrap_socket(sock) if tls else sock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- sending ----------------------------------------------------------------------------------
    def send(self, command, payload=b"", msg_id=1):
        """One frame; `payload` is str/bytes for a message, an int status for a response."""
        if command == Command.RESPONSE:
            data = self.framing.response(msg_id, payload)
        else:
            data = self.framing.message(command, msg_id,
                                        payload.encode() if isinstance(payload, str) else payload)
        self.send_raw(data)
        return data

    def send_raw(self, data):
        self.sock.sendall(data)

    def login(self, token, msg_id=1, command=Command.HARDWARE_LOGIN):
        """Send a login and return the status of its response (extra messages stay queued)."""
        self.send(command, token, msg_id)
        reply = self.receive()
        assert reply is not None and reply[:2] == (Command.RESPONSE, msg_id), reply
        return reply[2]

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, timeout=None):
        """The next message, or None when nothing arrives within `timeout` (default: the client's).
        Raises ConnectionClosed when the server closes the connection first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._decoded:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as error:
                self.closed_by_server = True
                raise ConnectionClosed(str(error)) from error
            if not data:
                self.closed_by_server = True
                raise ConnectionClosed("EOF")
            self.received += data
            for command, msg_id, size, frame_body in self._decoder.feed(data):
                payload = size if command == Command.RESPONSE else bytes(frame_body)
                self._decoded.append((command, msg_id, payload))
        return self._decoded.popleft()

    def receive_all(self, timeout=QUIET):
        """Every message arriving until `timeout` seconds pass without one."""
        messages = []
        while (message := self.receive(timeout)) is not None:
            messages.append(message)
        return messages

    def barrier(self, msg_id=BARRIER_ID):
        """Send a PING and return every message that arrived before its OK.

        The server handles one connection's frames in order, so anything a request before the ping
        caused on this connection has been sent by the time the ping's OK is."""
        self.send(Command.PING, b"", msg_id)
        before = []
        while True:
            message = self.receive()
            assert message is not None, f"no reply to PING {msg_id}; got {before}"
            if message == (Command.RESPONSE, msg_id, Status.OK):
                return before
            before.append(message)

    def wait_closed(self, timeout=WAIT):
        """Messages received before the server closed the connection; AssertionError if it stays
        open for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        messages = []
        try:
            while time.monotonic() < deadline:
                message = self.receive(deadline - time.monotonic())
                if message is not None:
                    messages.append(message)
        except ConnectionClosed:
            return messages
        raise AssertionError(f"connection still open after {timeout} s (received {messages})")

    def is_open(self, timeout=QUIET):
        """True when the server has not closed the connection within `timeout` (messages that
        arrive meanwhile are kept for receive())."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while (message := self.receive(max(deadline - time.monotonic(), 0))) is not None:
                kept.append(message)
        except ConnectionClosed:
            return False
        finally:
            self._decoded.extendleft(reversed(kept))
        return True


def http_call(server, method, path, body=None, headers=None, timeout=WAIT):
    """One request on its own connection to the server's plain port: (status, headers, body); an
    error status is an answer like any other."""
    conn = http.client.HTTPConnection(server.host, server.hw_port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_until(predicate, what, timeout=WAIT):
    """Poll `predicate` until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def device(server, port="hw", **kwargs):
    """A RawClient to `server`: port "hw" (plain), "hw_ssl" (TLS hardware) or "app" (shared TLS)."""
    number = {"hw": server.hw_port, "hw_ssl": server.hw_ssl_port, "app": server.app_port}[port]
    return RawClient(server.host, number, tls=(port != "hw"), **kwargs)


# -- the app side ---------------------------------------------------------------------------------
def new_account(server):
    """Register a fresh account; return its e-mail."""
    email = f"dev-{uuid.uuid4().hex[:12]}@example.com"
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.register(email, PASSWORD) == Status.OK
    return email


def open_app(server, email):
    app = AppClient(server.host, server.app_port, timeout=WAIT)
    assert app.login(email, PASSWORD) == Status.OK
    return app


def app_barrier(app):
    """PING the app connection: everything the server queued for it earlier is then in app.inbox.
    Returns and empties the inbox."""
    assert app.request(Command.PING)[2] == Status.OK
    messages = list(app.inbox)
    app.inbox.clear()
    return messages


def app_messages(app, command, timeout=WAIT, count=1):
    """Wait for `count` messages with `command` (others stay in the inbox); fewer on timeout."""
    found = []
    deadline = time.monotonic() + timeout
    for message in list(app.inbox):
        if message[0] == command and len(found) < count:
            found.append(message)
            app.inbox.remove(message)
    while len(found) < count and (left := deadline - time.monotonic()) > 0:
        message = app.wait_for(lambda m: m[0] == command, left)
        if message is None:
            break
        found.append(message)
    return found
