"""RFC 6455 websockets, server side: the opening handshake, client frames in, events out, server
frames back.

Owns: checking an upgrade request and writing the 101 answer; decoding client frames (header
checks, unmasking, reassembling fragmented messages, control frames, close codes); encoding server
frames. Never touches sockets, clocks or logs, and never decides what a message means.

Theory of operation. `FrameDecoder.feed(data)` is a generator of events: `Message` (a whole data
message), `Ping`, `Pong`, `Close`. Frames wholly inside `data` are unmasked straight out of it. Only
a frame that straddles two reads is copied, into a small per-connection bytearray that takes exactly
the bytes the frame still needs and is dropped once the frame is complete; a fragmented message
collects in a second one until its last frame. Each header byte is checked as soon as it arrives:
reserved bits and opcodes, the mask bit, control frame rules, fragmentation order, and the size,
so a frame over the limit is refused from its header before any of its payload is buffered.

Invariant: anything RFC 6455 forbids from a client raises WebSocketError carrying the close code to
send, and the decoder is finished (every later feed raises it again). Every event's payload is a
new bytes object, never a view into the bytes fed: the caller's read buffer is free once the
generator is exhausted. Consume the whole generator; stopping early loses the rest of that feed.
"""
import base64
import binascii
import hashlib
import re
import struct

from .http import HttpError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Netty's default maximum frame payload (WebSocketServerProtocolHandler), which upstream keeps
# (spec/framing.md §4.1); here it bounds a whole reassembled message.
DEFAULT_MAX_MESSAGE = 65536
# RFC 6455 §5.5: control frames carry at most 125 bytes; a close reason is what is left after the code.
MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL, PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1000, 1002, 1007, 1009


def is_valid_close_code(code):
    """RFC 6455 §7.4: the codes an endpoint may put in a close frame (1004-1006 and 1015 are
    reserved, 1012-2999 unassigned by the RFC, 3000-4999 for libraries and applications)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


class WebSocketError(Exception):
    """The client broke RFC 6455: send a close frame with `close_code`, then close."""

    def __init__(self, close_code, message):
        super().__init__(message)
        self.close_code = close_code
        self.message = message


# -- events -----------------------------------------------------------------------------------------
class _Event:
    __slots__ = ()

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(repr(getattr(self, n)) for n in self.__slots__)})"


class Message(_Event):
    """A whole data message: `binary` False for a text message (payload is valid UTF-8)."""
    __slots__ = ("binary", "payload")

    def __init__(self, binary, payload):
        self.binary = binary
        self.payload = payload


class Ping(_Event):
    __slots__ = ("payload",)

    def __init__(self, payload):
        self.payload = payload


class Pong(_Event):
    __slots__ = ("payload",)

    def __init__(self, payload):
        self.payload = payload


class Close(_Event):
    """`code` is None for a close frame without a payload (reported as 1005, never sent back)."""
    __slots__ = ("code", "reason")

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason


# -- the opening handshake --------------------------------------------------------------------------
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def accept_key(sec_websocket_key):
    """RFC 6455 §4.2.2: base64(SHA-1(key + GUID))."""
    digest = hashlib.sha1((sec_websocket_key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(request, protocol=None):
    """The `101 Switching Protocols` bytes for a valid upgrade request, or HttpError: 400 for a
    request that is not a websocket handshake, 426 for a version other than 13. `protocol`, when
    given, is the subprotocol the caller chose from the client's Sec-WebSocket-Protocol list."""
    if request.method != "GET":
        raise HttpError(400, "A websocket handshake must be a GET request.")
    if "websocket" not in request.tokens("upgrade"):
        raise HttpError(400, "Expected Upgrade: websocket.")
    if "upgrade" not in request.tokens("connection"):
        raise HttpError(400, "Expected Connection: Upgrade.")
    if (request.header("sec-websocket-version") or "").strip() != "13":
        raise HttpError(426, "Unsupported websocket version; send Sec-WebSocket-Version: 13.",
                        [("Sec-WebSocket-Version", "13")])
    key = (request.header("sec-websocket-key") or "").strip()
    try:
        valid = key.isascii() and len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        raise HttpError(400, "Sec-WebSocket-Key must be 16 bytes in base64.")
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept_key(key)}"]
    if protocol is not None:
        if _TOKEN.fullmatch(protocol) is None:
            raise ValueError(f"subprotocol {protocol!r} is not a token")
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


# -- reading client frames --------------------------------------------------------------------------
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")


class FrameDecoder:
    """Incremental decoder for one connection's client frames: `feed(data)` yields events."""
    __slots__ = ("max_message_size", "_partial", "_message", "_message_opcode", "_error")

    def __init__(self, max_message_size=DEFAULT_MAX_MESSAGE):
        self.max_message_size = max_message_size
        self._partial = None          # bytearray holding the start of a frame that straddles reads
        self._message = None          # bytearray of a fragmented message's frames so far
        self._message_opcode = None
        self._error = None

    def has_partial(self):
        """True while a frame or a fragmented message is incomplete."""
        return self._partial is not None or self._message is not None

    def feed(self, data):
        if self._error is not None:
            raise self._error
        try:
            yield from self._feed(data)
        except WebSocketError as error:
            self._error, self._partial, self._message = error, None, None
            raise

    def _feed(self, data):
        view = memoryview(data)
        end = len(view)
        start = 0
        if self._partial is not None:
            start, frame = self._complete_partial(view)
            if frame is None:
                return
            event = self._event(*frame)
            if event is not None:
                yield event
        while start < end:
            header = self._header(view, start, end)
            if header is None:
                break
            size, fin, opcode, length = header
            stop = start + size + length
            if stop > end:
                break
            payload = _unmask(view[start + size - 4:start + size], view[start + size:stop])
            start = stop
            event = self._event(fin, opcode, payload)
            if event is not None:
                yield event
        if start < end:
            self._partial = bytearray(view[start:])

    def _complete_partial(self, view):
        """Top up the straddling frame from `view`: (bytes used, (fin, opcode, payload) or None)."""
        partial = self._partial
        used = 0
        header = self._header(partial, 0, len(partial))
        while header is None:                 # a header straddles reads: take it byte by byte
            if used == len(view):
                return used, None
            partial.append(view[used])
            used += 1
            header = self._header(partial, 0, len(partial))
        size, fin, opcode, length = header
        take = min(size + length - len(partial), len(view) - used)
        partial += view[used:used + take]
        used += take
        if len(partial) < size + length:
            return used, None
        self._partial = None
        return used, (fin, opcode, _unmask(partial[size - 4:size], memoryview(partial)[size:]))

    def _header(self, buf, start, end):
        """(header size with mask, fin, opcode, payload length) of the frame at `start`, or None
        while the header is incomplete. Raises WebSocketError for what the bytes so far forbid."""
        first = buf[start]
        fin = bool(first & 0x80)
        opcode = first & 0x0F
        if first & 0x70:
            raise WebSocketError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if opcode >= CLOSE:
            if opcode > PONG:
                raise WebSocketError(PROTOCOL_ERROR, f"reserved opcode {opcode}")
            if not fin:
                raise WebSocketError(PROTOCOL_ERROR, "fragmented control frame")
        elif opcode > BINARY:
            raise WebSocketError(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        elif opcode == CONTINUATION:
            if self._message is None:
                raise WebSocketError(PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif self._message is not None:
            raise WebSocketError(PROTOCOL_ERROR, "new message before the fragmented one ended")
        if end - start < 2:
            return None
        second = buf[start + 1]
        if not second & 0x80:
            raise WebSocketError(PROTOCOL_ERROR, "client frames must be masked")
        length = second & 0x7F
        if length < 126:
            size = 6
        elif opcode >= CLOSE:
            raise WebSocketError(PROTOCOL_ERROR, "control frame payload over 125 bytes")
        elif length == 126:
            if end - start < 4:
                return None
            size, length = 8, _U16.unpack_from(buf, start + 2)[0]
            if length < 126:
                raise WebSocketError(PROTOCOL_ERROR, "length not in its shortest form")
        else:
            if end - start < 10:
                return None
            size, length = 14, _U64.unpack_from(buf, start + 2)[0]
            if length >> 63:
                raise WebSocketError(PROTOCOL_ERROR, "64-bit length with its top bit set")
            if length < 65536:
                raise WebSocketError(PROTOCOL_ERROR, "length not in its shortest form")
        if opcode < CLOSE:
            total = length + len(self._message) if opcode == CONTINUATION else length
            if total > self.max_message_size:
                raise WebSocketError(TOO_BIG, f"message over {self.max_message_size} bytes")
        return size, fin, opcode, length

    def _event(self, fin, opcode, payload):
        if opcode >= CLOSE:
            return _control_event(opcode, payload)
        if opcode == CONTINUATION:
            self._message += payload
            if not fin:
                return None
            opcode, payload = self._message_opcode, bytes(self._message)
            self._message = self._message_opcode = None
        elif not fin:
            self._message, self._message_opcode = bytearray(payload), opcode
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
    code = _U16.unpack_from(payload)[0]
    if not is_valid_close_code(code):
        raise WebSocketError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason)


def _unmask(mask, payload):
    """XOR with the 4-byte mask, done on one big integer rather than byte by byte; a new bytes."""
    size = len(payload)
    if not size:
        return b""
    key = (bytes(mask) * ((size + 3) >> 2))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


# -- writing server frames (never masked, always FIN) -----------------------------------------------
_MEDIUM = struct.Struct(">BBH")
_LONG = struct.Struct(">BBQ")
# The hot path (every Blynk message to a websocket device or app) takes its 2-byte header ready-made.
_BINARY_SHORT = tuple(bytes((0x80 | BINARY, size)) for size in range(126))


def binary_frame(payload):
    """One binary frame around `payload` (bytes, bytearray or memoryview): one concatenation."""
    size = len(payload)
    if size < 126:
        return _BINARY_SHORT[size] + payload
    if size < 65536:
        return _MEDIUM.pack(0x80 | BINARY, 126, size) + payload
    return _LONG.pack(0x80 | BINARY, 127, size) + payload


def _frame(opcode, payload):
    size = len(payload)
    if size < 126:
        return bytes((0x80 | opcode, size)) + payload
    if opcode >= CLOSE:
        raise ValueError(f"control frame payload of {size} bytes; at most 125")
    if size < 65536:
        return _MEDIUM.pack(0x80 | opcode, 126, size) + payload
    return _LONG.pack(0x80 | opcode, 127, size) + payload


def text_frame(text):
    return _frame(TEXT, text.encode("utf-8"))


def ping_frame(payload=b""):
    return _frame(PING, payload)


def pong_frame(payload=b""):
    return _frame(PONG, payload)


def close_frame(code=NORMAL, reason=""):
    """A close frame; `code=None` sends none (and no reason). The reason is cut to 123 bytes on a
    character boundary, so it stays valid UTF-8."""
    if code is None:
        return _frame(CLOSE, b"")
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    data = reason.encode("utf-8")
    if len(data) > MAX_CLOSE_REASON:
        data = data[:MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
    return _frame(CLOSE, _U16.pack(code) + data)
