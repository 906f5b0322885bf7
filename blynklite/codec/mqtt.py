"""MQTT 3.1.1, the subset the hardware MQTT port accepts (spec/commands.md §7).

Owns: turning a byte stream into MQTT control packets and the few packets the server sends back
into bytes. Never touches sockets, clocks or logs.

Theory of operation. Every packet is a fixed header (type and flags in one byte, then the
"remaining length" in 1 to 4 bytes of 7 bits each) and that many bytes. `MqttDecoder.feed(data)`
keeps what it has not used yet in one per-connection `bytearray` and yields whole packets:
CONNECT and PUBLISH are parsed into `Connect` / `Publish`; every other type comes out as `Packet`
(type, flags, raw body) for the session to answer or ignore as upstream does.

Invariant: `feed()` either yields packets or raises `ProtocolError`; it never buffers more than
MAX_PACKET_SIZE plus one fixed header, whatever the peer sends.
"""
import struct

from .frames import ProtocolError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3).
ACCEPTED = 0
REFUSED_PROTOCOL_VERSION = 1
REFUSED_BAD_USER_NAME_OR_PASSWORD = 4
REFUSED_NOT_AUTHORIZED = 5

# Upstream uses Netty's MqttDecoder with its default limit, 8092 bytes per packet; a Blynk body
# is a pin write, so anything larger is not a device talking to us.
MAX_PACKET_SIZE = 8092
# The remaining length has at most 4 bytes of 7 bits (MQTT 3.1.1 §2.2.3).
MAX_LENGTH_BYTES = 4
# Protocol names and levels Netty accepts: 3.1.1 ("MQTT", 4) and 3.1 ("MQIsdp", 3).
PROTOCOLS = {b"MQTT": 4, b"MQIsdp": 3}
# Packets whose fixed-header flags must be 0b0010 (MQTT 3.1.1 §2.2.2); others must be 0.
FLAGS_0010 = frozenset((PUBREL, SUBSCRIBE, UNSUBSCRIBE))
# Upstream has no QoS handling; a PUBLISH carries no packet id at QoS 0, Netty reports -1 then.
NO_PACKET_ID = -1

_U16 = struct.Struct(">H")


class Packet:
    __slots__ = ("type", "flags", "body")

    def __init__(self, packet_type, flags, body):
        self.type = packet_type
        self.flags = flags
        self.body = body

    def __repr__(self):
        return f"<MQTT packet {self.type} flags={self.flags} {len(self.body)} bytes>"


class Connect:
    __slots__ = ("protocol", "level", "keep_alive", "client_id", "username", "password", "clean")
    type = CONNECT

    def __init__(self, protocol, level, keep_alive, client_id, username, password, clean):
        self.protocol = protocol
        self.level = level
        self.keep_alive = keep_alive
        self.client_id = client_id
        self.username = username
        self.password = password
        self.clean = clean


class Publish:
    __slots__ = ("topic", "packet_id", "qos", "retain", "payload")
    type = PUBLISH

    def __init__(self, topic, packet_id, qos, retain, payload):
        self.topic = topic
        self.packet_id = packet_id
        self.qos = qos
        self.retain = retain
        self.payload = payload


class MqttDecoder:
    """Incremental decoder for one connection: `feed(data)` yields Connect, Publish or Packet."""
    __slots__ = ("_buffer",)

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data):
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while True:
                header = _fixed_header(buffer, start)
                if header is None:
                    break
                first, body_at, length = header
                if len(buffer) - body_at < length:
                    break
                body = bytes(buffer[body_at:body_at + length])
                start = body_at + length
                yield parse(first >> 4, first & 0x0F, body)
        finally:
            del buffer[:start]


def _fixed_header(buffer, start):
    """(first byte, body offset, remaining length), or None while the header is incomplete."""
    if len(buffer) - start < 2:
        return None
    length = 0
    for index in range(MAX_LENGTH_BYTES):
        at = start + 1 + index
        if at >= len(buffer):
            return None
        byte = buffer[at]
        length |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if index and not byte:
                raise ProtocolError("remaining length not in its shortest form")
            if length > MAX_PACKET_SIZE:
                raise ProtocolError(f"MQTT packet of {length} bytes is over {MAX_PACKET_SIZE}")
            return buffer[start], at + 1, length
    raise ProtocolError("remaining length longer than 4 bytes")


def parse(packet_type, flags, body):
    """One packet from its type, fixed-header flags and body."""
    if packet_type == PUBLISH:
        return _publish(flags, body)
    expected = 0b0010 if packet_type in FLAGS_0010 else 0
    if flags != expected:
        raise ProtocolError(f"packet type {packet_type} with flags {flags:#06b}")
    if packet_type == CONNECT:
        return _connect(body)
    if packet_type == 0 or packet_type == 15:
        raise ProtocolError(f"reserved packet type {packet_type}")
    return Packet(packet_type, flags, body)


def _publish(flags, body):
    qos = (flags >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    reader = _Reader(body)
    topic = reader.text()
    packet_id = reader.u16() if qos else NO_PACKET_ID
    return Publish(topic, packet_id, qos, bool(flags & 1), body[reader.at:])


def _connect(body):
    reader = _Reader(body)
    protocol = reader.blob()
    level = reader.byte()
    if PROTOCOLS.get(protocol) != level:
        raise ProtocolError(f"unsupported protocol {protocol!r} level {level}")
    flags = reader.byte()
    if flags & 1:
        raise ProtocolError("CONNECT reserved flag set")
    keep_alive = reader.u16()
    client_id = reader.text()
    if flags & 0x04:     # will flag: topic and message, unused here
        reader.text()
        reader.blob()
    elif flags & 0x38:
        raise ProtocolError("will QoS or retain without a will")
    username = reader.text() if flags & 0x80 else None
    password = reader.blob() if flags & 0x40 else None
    if reader.at != len(body):
        raise ProtocolError("bytes after the CONNECT payload")
    return Connect(protocol, level, keep_alive, client_id, username, password, bool(flags & 0x02))


class _Reader:
    __slots__ = ("data", "at")

    def __init__(self, data):
        self.data = data
        self.at = 0

    def byte(self):
        if self.at >= len(self.data):
            raise ProtocolError("packet ends early")
        self.at += 1
        return self.data[self.at - 1]

    def u16(self):
        if self.at + 2 > len(self.data):
            raise ProtocolError("packet ends early")
        self.at += 2
        return _U16.unpack_from(self.data, self.at - 2)[0]

    def blob(self):
        size = self.u16()
        if self.at + size > len(self.data):
            raise ProtocolError("string runs past the packet")
        self.at += size
        return self.data[self.at - size:self.at]

    def text(self):
        try:
            return self.blob().decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None


# -- encoding ---------------------------------------------------------------------------------------
def encode(packet_type, flags, body=b""):
    """A packet from its type, flags and body (body at most MAX_PACKET_SIZE bytes)."""
    length = len(body)
    if length > MAX_PACKET_SIZE:
        raise ValueError(f"MQTT body of {length} bytes is over {MAX_PACKET_SIZE}")
    header = bytearray([(packet_type << 4) | flags])
    while True:
        byte, length = length & 0x7F, length >> 7
        header.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(header) + body


def connack(return_code, session_present=False):
    return encode(CONNACK, 0, bytes((1 if session_present else 0, return_code)))


def pingresp():
    return encode(PINGRESP, 0)


def string(value):
    """An MQTT length-prefixed string (bytes or str)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _U16.pack(len(data)) + data


def connect(client_id, username=None, password=None, keep_alive=60, protocol=b"MQTT", level=4):
    """A CONNECT packet (used by tests and tools; the server only decodes them)."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = string(protocol) + bytes((level, flags)) + _U16.pack(keep_alive) + string(client_id)
    if username is not None:
        body += string(username)
    if password is not None:
        body += string(password)
    return encode(CONNECT, 0, body)


def publish(topic, payload, qos=0, packet_id=1, retain=False):
    body = string(topic) + (_U16.pack(packet_id) if qos else b"") + payload
    return encode(PUBLISH, (qos << 1) | int(retain), body)
