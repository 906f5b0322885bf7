"""A blocking websocket client for integration tests: real sockets, masked frames, bounded waits.

`WsClient.open(server, path, secure)` does the opening handshake; `send_binary` sends one frame;
`receive()` returns the next (opcode, payload) or None on timeout.
"""
import base64
import os
import socket
import ssl
import time

from blynklite.codec.commands import Command

from devices import WAIT, ConnectionClosed


class WsClient:
    def __init__(self, sock, timeout=WAIT):
        self.sock = sock
        self.timeout = timeout
        self.buffer = b""

    @classmethod
    def open(cls, server, path="/websockets", secure=False, headers=None, timeout=WAIT):
        port = server.app_port if secure else server.hw_port
        sock = socket.create_connection((server.host, port), timeout=timeout)
        if secure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        client = cls(sock, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        fields = {"Host": f"{server.host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                  "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", **(headers or {})}
        sock.sendall((f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
                      + "\r\n").encode())
        client.status_line, client.response_head = client._read_head()
        return client

    def _read_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            self._recv(deadline)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        return lines[0], lines[1:]

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("nothing from the server in time")
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed("EOF")
        self.buffer += data

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames -------------------------------------------------------------------------------------
    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 65536:
            head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_binary(self, payload):
        self.send_frame(0x2, payload)

    def receive(self, timeout=None):
        """(opcode, payload) of the next server frame; None on timeout; ConnectionClosed on EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            try:
                self._recv(deadline)
            except (TimeoutError, socket.timeout):
                return None

    def _frame(self):
        data = self.buffer
        if len(data) < 2:
            return None
        assert not data[1] & 0x80, "server frames must not be masked"
        size, header = data[1] & 0x7F, 2
        if size == 126:
            if len(data) < 4:
                return None
            size, header = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            if len(data) < 10:
                return None
            size, header = int.from_bytes(data[2:10], "big"), 10
        if len(data) < header + size:
            return None
        self.buffer = data[header + size:]
        return data[0] & 0x0F, data[header:header + size]

    def receive_binary(self, timeout=None):
        """The next binary frame's payload, skipping nothing; None on timeout."""
        frame = self.receive(timeout)
        if frame is None:
            return None
        assert frame[0] == 0x2, frame
        return frame[1]


def hardware_frame(command, msg_id, body=b""):
    return bytes([command]) + msg_id.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def parse_hardware(payload):
    command, msg_id, size = payload[0], int.from_bytes(payload[1:3], "big"), int.from_bytes(payload[3:5], "big")
    if command == Command.RESPONSE:
        assert len(payload) == 5, payload
        return command, msg_id, size
    assert len(payload) == 5 + size, "one hardware message per websocket frame"
    return command, msg_id, payload[5:]
