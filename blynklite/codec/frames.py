"""Blynk binary framing: the 5-byte hardware header and the 7-byte app header (spec/framing.md §2).

Owns: turning a byte stream into frames and frames into bytes. Never touches sockets, clocks or logs.

Theory of operation. The connection reads into one buffer shared by the whole reactor and hands the
filled part to `FrameDecoder.feed()` as a memoryview. Complete frames are yielded as views into that
buffer, so a frame costs no copy. Only the bytes of a frame that straddles two reads are copied, into
a small per-connection `bytearray`, and that frame is yielded from a private copy.

Invariant: a yielded body view is valid only until the generator is resumed; a consumer that keeps
the body must copy it (`bytes(body)`).
"""
import struct

from .commands import Command

HARDWARE_HEADER = struct.Struct(">BHH")
APP_HEADER = struct.Struct(">BHI")

# Upstream closes an app connection announcing more than this (MobileMessageDecoder).
APP_MAX_BODY = 10_000_000
# The hardware length field is 16 bits, so the format itself bounds a hardware body.
HARDWARE_MAX_BODY = 0xFFFF
# Before login only LOGIN, REGISTER, GET_SERVER, SHARE_LOGIN or a hardware login make sense: an
# e-mail (at most 255), a 44-character hash, OS, version and app name, or a 32-character token. A
# frame announcing more is refused at its header, so an unauthenticated peer can make us buffer
# at most this much.
PRE_LOGIN_MAX_BODY = 1024


class ProtocolError(Exception):
    """The peer sent bytes that break the framing; the connection must be closed."""


class FrameDecoder:
    """Incremental decoder for one connection. `feed(data)` yields (command, msg_id, size, body).

    For a response (command 0) `size` is the status code and `body` is empty.
    """
    __slots__ = ("_header", "_max_body", "_partial")

    def __init__(self, header=HARDWARE_HEADER, max_body=HARDWARE_MAX_BODY):
        self._header = header
        self._max_body = max_body
        self._partial = None

    @property
    def header_size(self):
        return self._header.size

    def has_partial(self):
        return bool(self._partial)

    def limit_body(self, max_body):
        """Change the largest body accepted from now on (raised after login)."""
        self._max_body = max_body

    def feed(self, data):
        view = memoryview(data)
        start = 0
        if self._partial is not None:
            start, frame = self._complete_partial(view)
            if frame is None:
                return
            yield frame
        unpack_from = self._header.unpack_from
        hsize = self._header.size
        end = len(view)
        while end - start >= hsize:
            command, msg_id, size = unpack_from(view, start)
            body_len = self._body_length(command, size)
            stop = start + hsize + body_len
            if stop > end:
                break
            yield command, msg_id, size, view[start + hsize:stop]
            start = stop
        if start < end:
            self._partial = bytearray(view[start:])

    def _complete_partial(self, view):
        """Top up the straddling frame from `view`. Returns (bytes used, frame or None)."""
        partial = self._partial
        hsize = self._header.size
        used = 0
        if len(partial) < hsize:
            used = min(hsize - len(partial), len(view))
            partial += view[:used]
            if len(partial) < hsize:
                return used, None
        command, msg_id, size = self._header.unpack_from(partial, 0)
        total = hsize + self._body_length(command, size)
        take = min(total - len(partial), len(view) - used)
        partial += view[used:used + take]
        used += take
        if len(partial) < total:
            return used, None
        self._partial = None
        return used, (command, msg_id, size, memoryview(bytes(partial))[hsize:])

    def _body_length(self, command, size):
        if command == Command.RESPONSE:
            return 0
        if command >= Command.FIRST_INVALID:
            raise ProtocolError(f"command code {command} is not a Blynk command")
        if size > self._max_body:
            raise ProtocolError(f"body of {size} bytes exceeds the limit of {self._max_body}")
        return size


def hardware_decoder(max_body=HARDWARE_MAX_BODY):
    return FrameDecoder(HARDWARE_HEADER, max_body)


def app_decoder(max_body=APP_MAX_BODY):
    return FrameDecoder(APP_HEADER, max_body)


class Framing:
    """How frames are written for one kind of peer: hardware (5-byte) or app (7-byte) headers."""
    __slots__ = ("header", "_pack")

    def __init__(self, header):
        self.header = header
        self._pack = header.pack

    def message(self, command, msg_id, body=b""):
        return self._pack(command, msg_id, len(body)) + body

    def response(self, msg_id, status):
        return self._pack(Command.RESPONSE, msg_id, status)


HARDWARE = Framing(HARDWARE_HEADER)
APP = Framing(APP_HEADER)


# -- the app websocket (/dashws, spec/framing.md §4.2): one message per websocket frame, no length --
DASHWS_HEADER = struct.Struct(">BH")
DASHWS_STATUS = struct.Struct(">I")


class DashWsFraming:
    """`command msgId body` with no length field; responses carry a 4-byte status."""
    __slots__ = ()

    def message(self, command, msg_id, body=b""):
        return DASHWS_HEADER.pack(command, msg_id) + body

    def response(self, msg_id, status):
        return APP_HEADER.pack(Command.RESPONSE, msg_id, status)


class DashWsDecoder:
    """`feed(payload)` takes one whole websocket message and yields the one frame it holds."""
    __slots__ = ("_max_body",)

    def __init__(self, max_body=APP_MAX_BODY):
        self._max_body = max_body

    def limit_body(self, max_body):
        self._max_body = max_body

    def feed(self, payload):
        if len(payload) < DASHWS_HEADER.size:
            raise ProtocolError("app websocket message shorter than its 3-byte header")
        command, msg_id = DASHWS_HEADER.unpack_from(payload)
        if command >= Command.FIRST_INVALID:
            raise ProtocolError(f"command code {command} is not a Blynk command")
        if command == Command.RESPONSE:
            if len(payload) != APP_HEADER.size:
                raise ProtocolError("app websocket response must be 7 bytes")
            yield command, msg_id, DASHWS_STATUS.unpack_from(payload, 3)[0], b""
            return
        body = memoryview(payload)[DASHWS_HEADER.size:]
        if len(body) > self._max_body:
            raise ProtocolError(f"body of {len(body)} bytes exceeds the limit of {self._max_body}")
        yield command, msg_id, len(body), body


DASHWS = DashWsFraming()
