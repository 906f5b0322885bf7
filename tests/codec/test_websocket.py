"""RFC 6455 codec: the opening handshake, client frames (masking, fragmentation, control frames,
close codes, limits) and server frames, with the properties that any chunking decodes the same and
that garbage raises WebSocketError and nothing else. Client frames are masked here, in the tests;
the module only ever reads them."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.http import HttpError, RequestParser
from blynklite.codec.websocket import (
    DEFAULT_MAX_MESSAGE,
    Close,
    FrameDecoder,
    Message,
    Ping,
    Pong,
    WebSocketError,
    accept_key,
    binary_frame,
    close_frame,
    handshake_response,
    ping_frame,
    pong_frame,
    text_frame,
)

from .streams import cut, never_hangs

PROPERTY = settings(max_examples=80, deadline=None)
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# --- helpers: a client, as browsers and the node-red client frame their messages ----------------------

def mask_payload(payload, mask):
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def client_frame(opcode, payload, fin=True, mask=None, rsv=0):
    mask = os.urandom(4) if mask is None else mask
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + mask_payload(payload, mask)


def masked(server_frame, mask=b"\x01\x02\x03\x04"):
    """The same frame as a client would send it: mask bit set, mask key inserted, payload masked."""
    length = server_frame[1] & 0x7F
    header = 2 if length < 126 else 4 if length == 126 else 10
    return (server_frame[:1] + bytes([server_frame[1] | 0x80]) + server_frame[2:header] + mask
            + mask_payload(server_frame[header:], mask))


def events(data, decoder=None, pieces=None):
    decoder = decoder or FrameDecoder()
    out = []
    for piece in [data] if pieces is None else pieces:
        out += decoder.feed(piece)
    return out


def close_code_of(data, decoder=None, pieces=None):
    with pytest.raises(WebSocketError) as error:
        events(data, decoder, pieces)
    return error.value.close_code


def request(headers, method="GET"):
    parser = RequestParser()
    parser.feed((f"{method} /websockets HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                 + "\r\n").encode())
    return parser.next_request()


# --- the opening handshake ---------------------------------------------------------------------------

GOOD = {"Host": "x", "Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


def test_accept_key_rfc_6455_vector():
    # RFC 6455 §1.3 and §4.2.2 example.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_answer_bytes():
    assert handshake_response(request(GOOD)) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def test_handshake_echoes_the_chosen_subprotocol():
    answer = handshake_response(request({**GOOD, "Sec-WebSocket-Protocol": "blynk, other"}), protocol="blynk")
    assert answer.endswith(b"\r\nSec-WebSocket-Protocol: blynk\r\n\r\n")


def test_a_subprotocol_that_is_not_a_token_is_our_bug():
    with pytest.raises(ValueError):
        handshake_response(request(GOOD), protocol="a\r\nX-Injected: 1")


@pytest.mark.parametrize("change", [
    {"Upgrade": "WebSocket", "Connection": "UPGRADE"},
    {"Upgrade": "websocket, foo/1"},
    {"Connection": "Upgrade"},
    {"Sec-WebSocket-Version": " 13 "},
], ids=["any case", "upgrade token list", "connection upgrade alone", "version with spaces"])
def test_handshake_variants_browsers_send_are_accepted(change):
    assert handshake_response(request({**GOOD, **change})).startswith(b"HTTP/1.1 101 ")


BAD_HANDSHAKES = [
    ("other upgrade", {"Upgrade": "h2c"}, 400),
    ("no upgrade header", {"Upgrade": None}, 400),
    ("connection without upgrade", {"Connection": "keep-alive"}, 400),
    ("no connection header", {"Connection": None}, 400),
    ("old version", {"Sec-WebSocket-Version": "8"}, 426),
    ("no version", {"Sec-WebSocket-Version": None}, 426),
    ("short key", {"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
    ("not base64", {"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, 400),
    ("unpadded", {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, 400),
    ("17 bytes", {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZXg="}, 400),
    ("no key", {"Sec-WebSocket-Key": None}, 400),
    ("latin-1 key", {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ\xe9="}, 400),
]


@pytest.mark.parametrize("change, status", [(c, s) for _, c, s in BAD_HANDSHAKES],
                         ids=[n for n, _, _ in BAD_HANDSHAKES])
def test_bad_handshakes_are_refused(change, status):
    headers = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(HttpError) as error:
        handshake_response(request(headers))
    assert error.value.status == status
    if status == 426:
        assert "Sec-WebSocket-Version: 13" in error.value.message


def test_handshake_must_be_a_get():
    with pytest.raises(HttpError) as error:
        handshake_response(request(GOOD, method="POST"))
    assert error.value.status == 400


# --- reading client frames ---------------------------------------------------------------------------

def test_messages_fragments_and_control_frames():
    data = (client_frame(BINARY, b"\x14\x00\x01\x00\x00") + client_frame(TEXT, b"he", fin=False)
            + client_frame(PING, b"ping!") + client_frame(CONTINUATION, b"l", fin=False)
            + client_frame(CONTINUATION, b"lo") + client_frame(PONG, b"")
            + client_frame(CLOSE, (1000).to_bytes(2, "big") + b"bye"))
    assert events(data) == [Message(True, b"\x14\x00\x01\x00\x00"), Ping(b"ping!"), Message(False, b"hello"),
                            Pong(b""), Close(1000, "bye")]


def test_pong_is_not_a_ping():
    # A consumer that answers pings must not answer pongs.
    [pong] = events(client_frame(PONG, b"x"))
    assert not isinstance(pong, Ping) and pong == Pong(b"x")


def test_empty_messages_and_an_empty_close():
    assert events(client_frame(BINARY, b"") + client_frame(TEXT, b"") + client_frame(CLOSE, b"")) == [
        Message(True, b""), Message(False, b""), Close(None, "")]


def test_a_character_split_between_fragments_is_valid_utf8():
    text = "é€".encode("utf-8")
    data = client_frame(TEXT, text[:1], fin=False) + client_frame(CONTINUATION, text[1:4], fin=False) \
        + client_frame(CONTINUATION, text[4:])
    assert events(data) == [Message(False, text)]


def test_payloads_are_bytes_never_views_of_the_read_buffer():
    read_buffer = bytearray(client_frame(BINARY, b"abc") + client_frame(PING, b"p")
                            + client_frame(BINARY, b"straddles")[:5])
    decoder = FrameDecoder()
    got = events(memoryview(read_buffer), decoder)
    read_buffer[:] = b"\xee" * len(read_buffer)
    read_buffer.append(0)                    # BufferError if anything still exports the buffer
    assert got == [Message(True, b"abc"), Ping(b"p")]
    assert all(type(e.payload) is bytes for e in got)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999])
def test_valid_close_codes(code):
    assert events(client_frame(CLOSE, code.to_bytes(2, "big"))) == [Close(code, "")]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1012, 1015, 2000, 2999, 5000, 65535])
def test_invalid_close_codes_are_a_protocol_error(code):
    assert close_code_of(client_frame(CLOSE, code.to_bytes(2, "big"))) == 1002


VIOLATIONS = [
    ("unmasked", bytes([0x82, 0x01]) + b"x", 1002),
    ("rsv1", client_frame(BINARY, b"x", rsv=0x40), 1002),
    ("rsv2", client_frame(BINARY, b"x", rsv=0x20), 1002),
    ("rsv3", client_frame(BINARY, b"x", rsv=0x10), 1002),
    ("reserved data opcode 3", client_frame(3, b"x"), 1002),
    ("reserved data opcode 7", client_frame(7, b"x"), 1002),
    ("reserved control opcode 11", client_frame(11, b""), 1002),
    ("reserved control opcode 15", client_frame(15, b""), 1002),
    ("control frame of 126 bytes", client_frame(PING, b"x" * 126), 1002),
    ("fragmented ping", client_frame(PING, b"x", fin=False), 1002),
    ("fragmented close", client_frame(CLOSE, b"", fin=False), 1002),
    ("continuation of nothing", client_frame(CONTINUATION, b"x"), 1002),
    ("continuation after a finished message", client_frame(TEXT, b"a") + client_frame(CONTINUATION, b"b"), 1002),
    ("new message mid-fragment", client_frame(TEXT, b"a", fin=False) + client_frame(BINARY, b"b"), 1002),
    ("16-bit length under 126", bytes([0x82, 0x80 | 126, 0, 5]) + b"mask" + b"12345", 1002),
    ("64-bit length under 65536", bytes([0x82, 0x80 | 127]) + (200).to_bytes(8, "big") + b"mask", 1002),
    ("64-bit length with top bit", bytes([0x82, 0x80 | 127]) + (1 << 63).to_bytes(8, "big") + b"mask", 1002),
    ("invalid utf-8 text", client_frame(TEXT, b"\xff\xfe"), 1007),
    ("utf-8 surrogate in text", client_frame(TEXT, b"\xed\xa0\x80"), 1007),
    ("text cut mid-character", client_frame(TEXT, "é".encode()[:1]), 1007),
    ("invalid utf-8 across fragments", client_frame(TEXT, b"a", fin=False) + client_frame(CONTINUATION, b"\xc3"), 1007),
    ("1-byte close payload", client_frame(CLOSE, b"\x03"), 1002),
    ("close reason not utf-8", client_frame(CLOSE, b"\x03\xe8\xff"), 1007),
    ("message too big", client_frame(BINARY, b"x" * (DEFAULT_MAX_MESSAGE + 1)), 1009),
    ("fragments too big",
     client_frame(BINARY, b"x" * 40000, fin=False) + client_frame(CONTINUATION, b"x" * 40000), 1009),
]


@pytest.mark.parametrize("data, code", [(d, c) for _, d, c in VIOLATIONS], ids=[n for n, _, _ in VIOLATIONS])
def test_protocol_violations(data, code):
    assert close_code_of(data) == code


@pytest.mark.parametrize("data, code", [(d, c) for _, d, c in VIOLATIONS], ids=[n for n, _, _ in VIOLATIONS])
def test_protocol_violations_do_not_depend_on_chunking(data, code):
    assert close_code_of(data, pieces=[data[i:i + 1] for i in range(len(data))]) == code


def test_after_an_error_the_decoder_stays_failed():
    decoder = FrameDecoder()
    with pytest.raises(WebSocketError) as first:
        events(bytes([0x82, 0x01]) + b"x", decoder)
    with pytest.raises(WebSocketError) as again:
        events(client_frame(BINARY, b"fine"), decoder)
    assert again.value is first.value and again.value.close_code == 1002


# --- limits --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length, form", [(65537, 127), (10 ** 9, 127), ((1 << 63) - 1, 127), (201, 126)],
                         ids=["limit+1", "1 GB", "largest 64-bit", "16-bit form over a small limit"])
def test_a_frame_over_the_limit_is_refused_from_its_header_alone(length, form):
    size = length.to_bytes(8 if form == 127 else 2, "big")
    header = bytes([0x82, 0x80 | form]) + size          # no mask, no payload yet
    decoder = FrameDecoder(max_message_size=200 if form == 126 else DEFAULT_MAX_MESSAGE)
    assert close_code_of(header, decoder) == 1009
    assert close_code_of(header, FrameDecoder(decoder.max_message_size), [header[:3], header[3:]]) == 1009


def test_a_message_of_exactly_the_limit_is_accepted():
    payload = os.urandom(1000)
    assert events(client_frame(BINARY, payload), FrameDecoder(1000)) == [Message(True, payload)]
    assert close_code_of(client_frame(BINARY, payload + b"x"), FrameDecoder(1000)) == 1009


def test_fragments_over_the_limit_are_refused_at_the_continuation_header():
    decoder = FrameDecoder(max_message_size=100)
    assert events(client_frame(BINARY, b"a" * 60, fin=False), decoder) == []
    assert decoder.has_partial()
    assert close_code_of(bytes([0x80, 0x80 | 41]), decoder) == 1009      # header only, no payload


def test_control_frames_are_not_held_to_a_small_message_limit():
    assert events(client_frame(PING, b"p" * 125), FrameDecoder(max_message_size=10)) == [Ping(b"p" * 125)]


# --- writing server frames: unmasked, FIN set, the shortest length form ---------------------------------

@pytest.mark.parametrize("size, header", [
    (0, "82 00"), (125, "82 7d"), (126, "82 7e 00 7e"), (65535, "82 7e ff ff"),
    (65536, "82 7f 00 00 00 00 00 01 00 00")])
def test_round_trip_of_every_length_form(size, header):
    payload = os.urandom(size)
    frame = binary_frame(payload)
    assert frame == bytes.fromhex(header) + payload
    assert events(masked(frame), FrameDecoder(max_message_size=70000)) == [Message(True, payload)]
    assert events(client_frame(BINARY, payload), FrameDecoder(max_message_size=70000)) == [Message(True, payload)]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_binary_frame_takes_any_bytes_like_payload(kind):
    assert binary_frame(kind(b"\x14\x00\x05")) == b"\x82\x03\x14\x00\x05"
    assert binary_frame(kind(b"x" * 300)) == b"\x82\x7e\x01\x2c" + b"x" * 300


SERVER_FRAMES = [
    ("text", text_frame("hé"), "81 03 68 c3 a9", Message(False, "hé".encode())),
    ("long text", text_frame("a" * 200), "81 7e 00 c8" + " 61" * 200, Message(False, b"a" * 200)),
    ("pong", pong_frame(b"x"), "8a 01 78", Pong(b"x")),
    ("empty pong", pong_frame(), "8a 00", Pong(b"")),
    ("ping", ping_frame(b"hi"), "89 02 68 69", Ping(b"hi")),
    ("close normal", close_frame(), "88 02 03 e8", Close(1000, "")),
    ("close with reason", close_frame(1002, "no"), "88 04 03 ea 6e 6f", Close(1002, "no")),
    ("close without code", close_frame(None), "88 00", Close(None, "")),
]


@pytest.mark.parametrize("frame, wire, event", [(f, w, e) for _, f, w, e in SERVER_FRAMES],
                         ids=[n for n, *_ in SERVER_FRAMES])
def test_server_frames_bytes_and_what_a_client_reads_back(frame, wire, event):
    assert frame == bytes.fromhex(wire)
    assert events(masked(frame)) == [event]


def test_a_long_close_reason_is_cut_on_a_character_boundary():
    frame = close_frame(1000, "€" * 100)         # 300 bytes of UTF-8
    assert len(frame) <= 2 + 125
    [event] = events(masked(frame))
    assert event == Close(1000, "€" * 41)       # 123 bytes hold 41 whole characters


@pytest.mark.parametrize("call", [
    lambda: close_frame(1005), lambda: close_frame(1006), lambda: close_frame(999), lambda: close_frame(5000),
    lambda: ping_frame(b"x" * 126), lambda: pong_frame(b"x" * 126)],
    ids=["1005", "1006", "999", "5000", "long ping", "long pong"])
def test_writing_a_forbidden_frame_is_a_local_value_error(call):
    with pytest.raises(ValueError):
        call()


# --- properties ------------------------------------------------------------------------------------------

control = st.one_of(st.binary(max_size=125).map(lambda p: ("ping", p)),
                    st.binary(max_size=125).map(lambda p: ("pong", p)))
message = st.one_of(st.binary(max_size=400).map(lambda p: ("binary", p)),
                    st.text(max_size=60).map(lambda t: ("text", t.encode("utf-8"))))


@st.composite
def streams(draw):
    """(client frames, expected events): messages split into fragments, control frames between the
    fragments, and sometimes a close at the end."""
    frames, expected = [], []
    for kind, payload in draw(st.lists(st.one_of(control, message), min_size=1, max_size=8)):
        if kind in ("ping", "pong"):
            frames.append(client_frame(PING if kind == "ping" else PONG, payload))
            expected.append(Ping(payload) if kind == "ping" else Pong(payload))
            continue
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
        for i, piece in enumerate(pieces):
            opcode = (BINARY if kind == "binary" else TEXT) if i == 0 else CONTINUATION
            frames.append(client_frame(opcode, piece, fin=i == len(pieces) - 1))
            if i < len(pieces) - 1 and draw(st.booleans()):
                ping = draw(st.binary(max_size=20))
                frames.append(client_frame(PING, ping))
                expected.append(Ping(ping))
        expected.append(Message(kind == "binary", payload))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20).filter(lambda r: len(r.encode("utf-8")) <= 123))
        frames.append(client_frame(CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8")))
        expected.append(Close(code, reason))
    return b"".join(frames), expected


@PROPERTY
@given(stream=streams(), data=st.data())
def test_any_chunking_decodes_the_same(stream, data):
    wire, expected = stream
    decoder = FrameDecoder()
    assert events(wire, decoder, cut(wire, data.draw)) == expected
    assert not decoder.has_partial()


@settings(max_examples=20, deadline=None)
@given(stream=streams())
def test_byte_at_a_time_equals_all_at_once(stream):
    wire, expected = stream
    assert events(wire, pieces=[wire[i:i + 1] for i in range(len(wire))]) == expected == events(wire)


@PROPERTY
@given(stream=streams(), data=st.data(), offset=st.integers(0, 9))
def test_reused_read_buffer_is_never_referenced_after_feed(stream, data, offset):
    """The reactor reads every connection into one shared bytearray and overwrites it after each feed."""
    wire, expected = stream
    read_buffer = bytearray(offset + len(wire) + 16)
    decoder = FrameDecoder()
    out = []
    for piece in cut(wire, data.draw):
        read_buffer[offset:offset + len(piece)] = piece
        out += decoder.feed(memoryview(read_buffer)[offset:offset + len(piece)])
        read_buffer[:] = b"\xee" * len(read_buffer)
        read_buffer.append(0)                  # raises BufferError if anything still exports it
        del read_buffer[-1]
    assert out == expected


# Bytes biased towards header values where a frame parser goes wrong: FIN/opcode bytes, mask bits
# with the 126/127 length forms, small lengths and all-ones.
EDGE_BYTES = st.binary(max_size=300) | st.lists(st.sampled_from(
    [0x00, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A, 0x8B, 0xC2, 0x85, 0xFD, 0xFE, 0xFF, 0x03, 0xE8,
     0x7E, 0x7F]), max_size=300).map(bytes)


@settings(max_examples=300, deadline=None)
@given(garbage=EDGE_BYTES, data=st.data())
def test_garbage_raises_only_websocket_errors(garbage, data):
    try:
        with never_hangs():
            events(garbage, FrameDecoder(max_message_size=100), cut(garbage, data.draw, 6))
    except WebSocketError as error:
        assert error.close_code in (1002, 1007, 1009)


@PROPERTY
@given(garbage=EDGE_BYTES)
def test_garbage_after_a_fragment_raises_only_websocket_errors(garbage):
    try:
        with never_hangs():
            events(client_frame(TEXT, b"a", fin=False) + garbage, FrameDecoder(max_message_size=100))
    except WebSocketError as error:
        assert error.close_code in (1002, 1007, 1009)
