"""RFC 6455 websockets, server side: the opening handshake, frames in, events out, frames back.

Owns: checking an upgrade request and writing the 101 answer, decoding client frames (unmasking,
reassembling fragmented messages, control frames) and encoding server frames. Never touches
sockets, clocks or logs.

Theory of operation. `FrameDecoder.feed(data)` keeps the bytes of an incomplete frame in a small
bytearray and yields events for every complete one: `Message` (a whole data message), `Ping`,
`Pong`, `Close`. A frame's size is checked from its header, before its payload arrives.

Invariant: anything RFC 6455 forbids from a client raises WebSocketError with the close code to
send; after that the decoder is finished.
"""
import base64
import hashlib
import struct

from .http import HttpError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Netty's default maximum frame payload, which upstream keeps (spec/framing.md §4.1).
DEFAULT_MAX_MESSAGE = 65536

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = (TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)
PROTOCOL_ERROR, INVALID_DATA, TOO_BIG, NORMAL = 1002, 1007, 1009, 1000
_VALID_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011))

_SHORT = struct.Struct(">BB")
_MEDIUM = struct.Struct(">BBH")
_LONG = struct.Struct(">BBQ")


class WebSocketError(Exception):
    def __init__(self, close_code, message):
        super().__init__(message)
        self.close_code = close_code


class Message:
    __slots__ = ("binary", "payload")

    def __init__(self, binary, payload):
        self.binary = binary
        self.payload = payload


class Ping:
    __slots__ = ("payload",)

    def __init__(self, payload):
        self.payload = payload


class Pong(Ping):
    __slots__ = ()


class Close:
    __slots__ = ("code", "reason")

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason


# -- the opening handshake --------------------------------------------------------------------------
def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def handshake_response(request, protocol=None):
    """The `101 Switching Protocols` bytes for a valid upgrade request; HttpError otherwise."""
    if request.method != "GET":
        raise HttpError(400, "A websocket handshake must be a GET request.")
    if not request.is_websocket_upgrade():
        raise HttpError(400, "Expected Upgrade: websocket and Connection: Upgrade.")
    if (request.header("sec-websocket-version") or "").strip() != "13":
        raise HttpError(426, "Unsupported websocket version; use Sec-WebSocket-Version: 13.")
    key = (request.header("sec-websocket-key") or "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise HttpError(400, "Invalid Sec-WebSocket-Key.")
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept_key(key)}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


# -- reading client frames --------------------------------------------------------------------------
class FrameDecoder:
    __slots__ = ("max_message_size", "_partial", "_fragments", "_fragment_opcode", "_fragment_size")

    def __init__(self, max_message_size=DEFAULT_MAX_MESSAGE):
        self.max_message_size = max_message_size
        self._partial = None
        self._fragments = None
        self._fragment_opcode = None
        self._fragment_size = 0

    def feed(self, data):
        if self._partial:
            data = self._partial + data      # a new object: a suspended feed may still view the old
        view = memoryview(data)
        start = 0
        while True:
            frame = self._frame_at(view, start)
            if frame is None:
                break
            start, fin, opcode, payload = frame
            event = self._event(fin, opcode, payload)
            if event is not None:
                yield event
        rest = view[start:]
        self._partial = bytearray(rest) if len(rest) else None

    def _frame_at(self, view, start):
        """(next start, fin, opcode, unmasked payload) of the frame at `start`, or None if incomplete."""
        available = len(view) - start
        if available < 2:
            return None
        first, second = view[start], view[start + 1]
        fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
        if first & 0x70:
            raise WebSocketError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if opcode not in _DATA and opcode not in _CONTROL and opcode != CONTINUATION:
            raise WebSocketError(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        if not second & 0x80:
            raise WebSocketError(PROTOCOL_ERROR, "client frames must be masked")
        if opcode in _CONTROL and (length > 125 or not fin):
            raise WebSocketError(PROTOCOL_ERROR, "control frames must be short and unfragmented")
        header = 2
        if length == 126:
            if available < 4:
                return None
            length, header = int.from_bytes(view[start + 2:start + 4], "big"), 4
        elif length == 127:
            if available < 10:
                return None
            length, header = int.from_bytes(view[start + 2:start + 10], "big"), 10
        if length + (self._fragment_size if opcode == CONTINUATION else 0) > self.max_message_size:
            raise WebSocketError(TOO_BIG, f"message over {self.max_message_size} bytes")
        end = start + header + 4 + length
        if len(view) < end:
            return None
        mask = view[start + header:start + header + 4]
        return end, bool(fin), opcode, _unmask(view[start + header + 4:end], mask)

    def _event(self, fin, opcode, payload):
        if opcode in _CONTROL:
            return _control_event(opcode, payload)
        if opcode == CONTINUATION:
            if self._fragments is None:
                raise WebSocketError(PROTOCOL_ERROR, "continuation frame without a message to continue")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if not fin:
                return None
            opcode, payload = self._fragment_opcode, b"".join(self._fragments)
            self._fragments, self._fragment_opcode, self._fragment_size = None, None, 0
        elif self._fragments is not None:
            raise WebSocketError(PROTOCOL_ERROR, "new message before the fragmented one ended")
        elif not fin:
            self._fragments, self._fragment_opcode, self._fragment_size = [payload], opcode, len(payload)
            return None
        if opcode == TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise WebSocketError(INVALID_DATA, "text message is not valid UTF-8") from None
        return Message(opcode == BINARY, payload)


def _control_event(opcode, payload):
    if opcode == PING:
        return Ping(payload)
    if opcode == PONG:
        return Pong(payload)
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise WebSocketError(PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise WebSocketError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason)


def _unmask(payload, mask):
    """XOR with the 4-byte mask, done on one big integer rather than byte by byte."""
    size = len(payload)
    if not size:
        return b""
    key = int.from_bytes(bytes(mask) * (size // 4 + 1), "little") & ((1 << (8 * size)) - 1)
    return (int.from_bytes(payload, "little") ^ key).to_bytes(size, "little")


# -- writing server frames (never masked) -------------------------------------------------------------
def _frame(opcode, payload):
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        return _SHORT.pack(first, size) + payload
    if size < 65536:
        return _MEDIUM.pack(first, 126, size) + payload
    return _LONG.pack(first, 127, size) + payload


def binary_frame(payload):
    return _frame(BINARY, bytes(payload))


def text_frame(text):
    return _frame(TEXT, text.encode("utf-8"))


def pong_frame(payload=b""):
    return _frame(PONG, bytes(payload))


def ping_frame(payload=b""):
    return _frame(PING, bytes(payload))


def close_frame(code=NORMAL, reason=""):
    return _frame(CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8")[:123])
