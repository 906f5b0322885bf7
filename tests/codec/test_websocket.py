"""RFC 6455 codec: handshake, masking, fragmentation, control frames, limits, and the properties that
any chunking decodes the same and garbage raises only WebSocketError."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.http import HttpError, RequestParser
from blynklite.codec.websocket import (Close, FrameDecoder, Message, Ping, Pong, WebSocketError, accept_key,
                                       binary_frame, close_frame, handshake_response, pong_frame, text_frame)

PROPERTY = settings(max_examples=80, deadline=None)


def client_frame(opcode, payload, fin=True, mask=None, rsv=0):
    """A masked client frame, as a browser or the node-red client sends it."""
    mask = os.urandom(4) if mask is None else mask
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def events(data, decoder=None):
    decoder = decoder or FrameDecoder()
    return [describe(e) for e in decoder.feed(data)]


def describe(event):
    if isinstance(event, Message):
        return ("message", event.binary, bytes(event.payload))
    if isinstance(event, Pong):
        return ("pong", bytes(event.payload))
    if isinstance(event, Ping):
        return ("ping", bytes(event.payload))
    assert isinstance(event, Close)
    return ("close", event.code, event.reason)


def request(headers, method="GET"):
    parser = RequestParser()
    parser.feed((f"{method} /websockets HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                 + "\r\n").encode())
    return parser.next_request()


GOOD = {"Host": "x", "Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


def test_accept_key_rfc_vector():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_answer():
    answer = handshake_response(request(GOOD))
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer and answer.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("change, status", [
    ({"Upgrade": "h2c"}, 400), ({"Connection": "keep-alive"}, 400), ({"Sec-WebSocket-Version": "8"}, 426),
    ({"Sec-WebSocket-Key": "short"}, 400), ({"Sec-WebSocket-Key": "!!!!"}, 400)])
def test_bad_handshakes_are_refused(change, status):
    with pytest.raises(HttpError) as error:
        handshake_response(request({**GOOD, **change}))
    assert error.value.status == status


def test_handshake_must_be_a_get():
    with pytest.raises(HttpError):
        handshake_response(request(GOOD, method="POST"))


def test_messages_fragments_and_control_frames():
    data = (client_frame(2, b"\x14\x00\x01\x00\x00") + client_frame(1, b"he", fin=False)
            + client_frame(9, b"ping!") + client_frame(0, b"llo") + client_frame(10, b"")
            + client_frame(8, (1000).to_bytes(2, "big") + b"bye"))
    assert events(data) == [("message", True, b"\x14\x00\x01\x00\x00"), ("ping", b"ping!"),
                            ("message", False, b"hello"), ("pong", b""), ("close", 1000, "bye")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_round_trip_of_every_length_form(size):
    payload = os.urandom(size)
    assert events(client_frame(2, payload), FrameDecoder(max_message_size=70000)) == [("message", True, payload)]
    frame = binary_frame(payload)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert frame[0] == 0x82 and len(frame) == header + size and frame[header:] == payload


def test_server_frames_are_unmasked():
    assert text_frame("hi") == b"\x81\x02hi"
    assert pong_frame(b"x") == b"\x8a\x01x"
    assert close_frame(1002, "no") == b"\x88\x04\x03\xeano"


@pytest.mark.parametrize("data, code", [
    (client_frame(2, b"x")[:1] + bytes([1]) + b"x", 1002),                  # unmasked
    (client_frame(2, b"x", rsv=0x40), 1002),                                 # reserved bit
    (client_frame(3, b"x"), 1002),                                           # reserved opcode
    (client_frame(9, b"x" * 126), 1002),                                     # long control frame
    (client_frame(9, b"x", fin=False), 1002),                                # fragmented control frame
    (client_frame(0, b"x"), 1002),                                           # continuation of nothing
    (client_frame(1, b"a", fin=False) + client_frame(2, b"b"), 1002),        # new message mid-fragment
    (client_frame(1, b"\xff\xfe"), 1007),                                    # invalid UTF-8 text
    (client_frame(8, b"\x03"), 1002),                                        # 1-byte close payload
    (client_frame(8, (999).to_bytes(2, "big")), 1002),                       # invalid close code
    (client_frame(2, b"x" * 65537), 1009),                                   # too big
    (client_frame(2, b"x" * 40000, fin=False) + client_frame(0, b"x" * 40000), 1009),
], ids=["unmasked", "rsv", "opcode", "long control", "fragmented control", "orphan continuation",
        "interleaved", "bad utf-8", "short close", "bad close code", "too big", "fragments too big"])
def test_protocol_violations(data, code):
    with pytest.raises(WebSocketError) as error:
        events(data)
    assert error.value.close_code == code


def test_a_huge_frame_is_refused_from_its_header_alone():
    header = bytes([0x82, 0x80 | 127]) + (10 ** 9).to_bytes(8, "big")
    with pytest.raises(WebSocketError) as error:
        events(header)
    assert error.value.close_code == 1009


frame_strategy = st.one_of(
    st.tuples(st.just(2), st.binary(max_size=300)),
    st.tuples(st.just(1), st.text(max_size=50).map(lambda t: t.encode("utf-8"))),
    st.tuples(st.just(9), st.binary(max_size=125)),
    st.tuples(st.just(10), st.binary(max_size=125)))


@PROPERTY
@given(frames=st.lists(frame_strategy, min_size=1, max_size=8), data=st.data())
def test_any_chunking_decodes_the_same(frames, data):
    stream = b"".join(client_frame(op, payload) for op, payload in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    chunked = []
    for a, b in zip([0] + cuts, cuts + [len(stream)]):
        chunked += [describe(e) for e in decoder.feed(stream[a:b])]
    assert chunked == events(stream)
    assert len(chunked) == len(frames)


@PROPERTY
@given(st.binary(max_size=300))
def test_garbage_raises_only_websocket_errors(data):
    try:
        events(data, FrameDecoder(max_message_size=100))
    except WebSocketError:
        pass
