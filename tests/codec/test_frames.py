"""Frame decoder and encoder (spec/framing.md §2): round trips under any chunking, byte-exact
examples, limits, and the rule that garbage raises `ProtocolError` and nothing else."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.commands import Command, Status
from blynklite.codec.frames import (
    APP,
    APP_MAX_BODY,
    DASHWS,
    HARDWARE,
    HARDWARE_MAX_BODY,
    DashWsDecoder,
    ProtocolError,
    app_decoder,
    hardware_decoder,
)

PROPERTY = settings(max_examples=60, deadline=None)

# (framing, decoder factory, header size, largest value the length/status field holds)
HARDWARE_SIDE = (HARDWARE, hardware_decoder, 5, 0xFFFF)
APP_SIDE = (APP, app_decoder, 7, 0xFFFFFFFF)
SIDES = pytest.mark.parametrize("side", [HARDWARE_SIDE, APP_SIDE], ids=["hardware", "app"])


# --- helpers ---------------------------------------------------------------------------------------

def decode(decoder, chunk):
    """Feed one chunk; copy every body at once, as a consumer of the shared read buffer must."""
    return [(command, msg_id, size, bytes(body)) for command, msg_id, size, body in decoder.feed(chunk)]


def frames_strategy(max_status):
    message = st.tuples(st.integers(1, Command.FIRST_INVALID - 1), st.integers(0, 0xFFFF),
                        st.binary(max_size=300))
    response = st.tuples(st.just(Command.RESPONSE), st.integers(0, 0xFFFF), st.integers(0, max_status))
    return st.lists(st.one_of(message, response), max_size=12)


def encode(framing, frames):
    """Encode frames; return the stream and the tuples the decoder must give back."""
    stream = bytearray()
    expected = []
    for command, msg_id, payload in frames:
        if command == Command.RESPONSE:
            stream += framing.response(msg_id, payload)
            expected.append((command, msg_id, payload, b""))
        else:
            stream += framing.message(command, msg_id, payload)
            expected.append((command, msg_id, len(payload), payload))
    return bytes(stream), expected


def chunks_at(data, draw):
    """Split `data` at drawn cut points; repeated cuts give empty chunks, which must be harmless."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# --- round trips under any chunking ----------------------------------------------------------------

@SIDES
@PROPERTY
@given(data=st.data())
def test_any_chunking_of_bytes_decodes_every_frame_once(side, data):
    framing, new_decoder, _, max_status = side
    stream, expected = encode(framing, data.draw(frames_strategy(max_status)))
    decoder = new_decoder()
    out = []
    for chunk in chunks_at(stream, data.draw):
        out += decode(decoder, chunk)
    assert out == expected
    assert not decoder.has_partial()


@SIDES
@PROPERTY
@given(data=st.data())
def test_any_chunking_of_bytearrays_decodes_every_frame_once(side, data):
    framing, new_decoder, _, max_status = side
    stream, expected = encode(framing, data.draw(frames_strategy(max_status)))
    decoder = new_decoder()
    out = []
    for chunk in chunks_at(stream, data.draw):
        out += decode(decoder, bytearray(chunk))
    assert out == expected
    assert not decoder.has_partial()


@SIDES
@PROPERTY
@given(data=st.data(), offset=st.integers(0, 9))
def test_reused_read_buffer_is_never_referenced_after_feed(side, data, offset):
    """The reactor reads every connection into one shared bytearray and overwrites it after each
    feed. A decoder that kept a view into it would return poisoned bytes, or would pin the buffer
    so that it can no longer be resized."""
    framing, new_decoder, _, max_status = side
    stream, expected = encode(framing, data.draw(frames_strategy(max_status)))
    read_buffer = bytearray(offset + len(stream) + 16)
    decoder = new_decoder()
    out = []
    for chunk in chunks_at(stream, data.draw):
        n = len(chunk)
        read_buffer[offset:offset + n] = chunk
        out += decode(decoder, memoryview(read_buffer)[offset:offset + n])
        read_buffer[:] = b"\xee" * len(read_buffer)
        read_buffer.append(0)   # raises BufferError if anything still exports the buffer
        del read_buffer[-1]
    assert out == expected
    assert not decoder.has_partial()


# --- garbage raises ProtocolError and nothing else -------------------------------------------------

# Bytes biased towards the values where a header parser goes wrong: small lengths, command 0,
# the first invalid command, and all-ones.
EDGE_BYTES = st.binary(max_size=120) | st.lists(
    st.sampled_from([0, 1, 2, 5, 7, 0x1D, 99, 100, 0x98, 0xFF]), max_size=120).map(bytes)


@pytest.mark.parametrize("new_decoder", [hardware_decoder, app_decoder], ids=["hardware", "app"])
@settings(max_examples=200, deadline=None)
@given(data=st.data(), garbage=EDGE_BYTES)
def test_arbitrary_bytes_raise_only_protocol_error(new_decoder, data, garbage):
    decoder = new_decoder()
    try:
        for chunk in chunks_at(garbage, data.draw):
            decode(decoder, chunk)
    except ProtocolError:
        pass


# --- limits ----------------------------------------------------------------------------------------

@SIDES
@pytest.mark.parametrize("command", [100, 101, 127, 128, 200, 255])
def test_command_100_or_more_is_a_protocol_error(side, command):
    framing, new_decoder, _, _ = side
    header = framing.header.pack(command, 1, 0)
    with pytest.raises(ProtocolError):
        decode(new_decoder(), header)


@SIDES
def test_command_99_is_accepted_as_a_generic_message(side):
    framing, new_decoder, _, _ = side
    assert decode(new_decoder(), framing.message(99, 3, b"x")) == [(99, 3, 1, b"x")]


@pytest.mark.parametrize("side, split", [(HARDWARE_SIDE, n) for n in range(1, 5)]
                         + [(APP_SIDE, n) for n in range(1, 7)])
def test_invalid_command_is_caught_when_its_header_straddles_reads(side, split):
    framing, new_decoder, _, _ = side
    header = framing.header.pack(Command.FIRST_INVALID, 1, 0)
    decoder = new_decoder()
    assert decode(decoder, header[:split]) == []
    with pytest.raises(ProtocolError):
        decode(decoder, header[split:])


@pytest.mark.parametrize("length", [APP_MAX_BODY + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF],
                         ids=["limit+1", "int-max", "negative-in-java", "all-ones"])
@pytest.mark.parametrize("split", [0, 3, 6])
def test_app_body_over_ten_million_is_a_protocol_error(length, split):
    header = APP.header.pack(Command.HARDWARE, 1, length)
    decoder = app_decoder()
    with pytest.raises(ProtocolError):
        decode(decoder, header[:split])
        decode(decoder, header[split:])


def test_app_body_of_exactly_ten_million_waits_for_the_body_and_then_decodes():
    decoder = app_decoder()
    assert decode(decoder, APP.header.pack(Command.HARDWARE, 9, APP_MAX_BODY)) == []
    assert decoder.has_partial()
    body = b"b" * APP_MAX_BODY
    [(command, msg_id, size, got)] = decode(decoder, body)
    assert (command, msg_id, size) == (Command.HARDWARE, 9, APP_MAX_BODY)
    assert got == body
    assert not decoder.has_partial()


def test_hardware_body_of_65535_bytes_decodes():
    body = bytes(range(256)) * 255 + b"\x01" * 255
    assert len(body) == HARDWARE_MAX_BODY
    frame = HARDWARE.message(Command.HARDWARE, 4, body)
    assert decode(hardware_decoder(), frame) == [(Command.HARDWARE, 4, HARDWARE_MAX_BODY, body)]


@SIDES
def test_response_never_reads_a_body_whatever_its_status(side):
    framing, new_decoder, _, max_status = side
    stream = framing.response(1, max_status) + framing.message(Command.PING, 2)
    assert decode(new_decoder(), stream) == [(0, 1, max_status, b""), (Command.PING, 2, 0, b"")]


# --- byte-exact examples from spec/framing.md §2.3 --------------------------------------------------

TOKEN = b"A" * 32

WIRE_EXAMPLES = [
    ("hardware_ok_msg1", HARDWARE.response(1, Status.OK), "00 00 01 00 C8",
     hardware_decoder, (0, 1, 200, b"")),
    ("app_ok_msg2", APP.response(2, Status.OK), "00 00 02 00 00 00 C8",
     app_decoder, (0, 2, 200, b"")),
    ("hardware_invalid_token_msg1", HARDWARE.response(1, Status.INVALID_TOKEN), "00 00 01 00 09",
     hardware_decoder, (0, 1, 9, b"")),
    ("hardware_write_vw_1_100_msg5", HARDWARE.message(Command.HARDWARE, 5, b"vw\x001\x00100"),
     "14 00 05 00 08 76 77 00 31 00 31 30 30",
     hardware_decoder, (20, 5, 8, b"vw\x001\x00100")),
    ("hardware_ping_msg7", HARDWARE.message(Command.PING, 7), "06 00 07 00 00",
     hardware_decoder, (6, 7, 0, b"")),
    ("hardware_login_msg1", HARDWARE.message(Command.HARDWARE_LOGIN, 1, TOKEN),
     "1D 00 01 00 20" + " 41" * 32,
     hardware_decoder, (29, 1, 32, TOKEN)),
]


@pytest.mark.parametrize("encoded, wire", [(e, w) for _, e, w, _, _ in WIRE_EXAMPLES],
                         ids=[name for name, *_ in WIRE_EXAMPLES])
def test_encoder_writes_the_spec_bytes(encoded, wire):
    assert encoded == bytes.fromhex(wire)


@pytest.mark.parametrize("wire, new_decoder, frame", [(w, d, f) for _, _, w, d, f in WIRE_EXAMPLES],
                         ids=[name for name, *_ in WIRE_EXAMPLES])
def test_decoder_reads_the_spec_bytes(wire, new_decoder, frame):
    assert decode(new_decoder(), bytes.fromhex(wire)) == [frame]


# --- a half-arrived frame --------------------------------------------------------------------------

@SIDES
def test_half_arrived_frame_costs_no_output_and_completes_exactly_once(side):
    framing, new_decoder, _, _ = side
    frame = framing.message(Command.HARDWARE, 5, b"vw\x001\x00100")
    after = framing.message(Command.PING, 6)
    for split in range(1, len(frame)):
        decoder = new_decoder()
        assert decode(decoder, frame[:split]) == [], split
        assert decoder.has_partial()
        assert decode(decoder, b"") == []
        assert decode(decoder, frame[split:] + after) == [
            (Command.HARDWARE, 5, 8, b"vw\x001\x00100"), (Command.PING, 6, 0, b"")], split
        assert not decoder.has_partial()
        assert decode(decoder, b"") == []


@SIDES
@PROPERTY
@given(data=st.data())
def test_byte_at_a_time_equals_all_at_once(side, data):
    framing, new_decoder, _, max_status = side
    stream, expected = encode(framing, data.draw(frames_strategy(max_status)))
    decoder = new_decoder()
    out = []
    for i in range(len(stream)):
        out += decode(decoder, stream[i:i + 1])
    assert out == expected


# --- the app websocket framing (/dashws, spec/framing.md §4.2) -------------------------------------

def test_dashws_message_has_no_length_field_and_responses_carry_a_4_byte_status():
    assert DASHWS.message(Command.HARDWARE, 5, b"1-0\0vw\x001\x00100") == b"\x14\x00\x05" + b"1-0\0vw\x001\x00100"
    assert DASHWS.response(2, Status.OK) == b"\x00\x00\x02\x00\x00\x00\xc8"


def test_dashws_decoder_reads_one_message_per_payload():
    assert decode(DashWsDecoder(), b"\x02\x00\x01a@b.c\0hash") == [(Command.LOGIN, 1, 10, b"a@b.c\0hash")]
    assert decode(DashWsDecoder(), b"\x00\x00\x07\x00\x00\x00\xc8") == [(Command.RESPONSE, 7, 200, b"")]


@pytest.mark.parametrize("payload", [b"", b"\x02\x00", b"\x64\x00\x01", b"\x00\x00\x01\x00"],
                         ids=["empty", "short header", "command 100", "short response"])
def test_dashws_decoder_refuses_broken_payloads(payload):
    with pytest.raises(ProtocolError):
        decode(DashWsDecoder(), payload)


@PROPERTY
@given(st.binary(max_size=64))
def test_dashws_decoder_raises_only_protocol_errors(payload):
    try:
        decode(DashWsDecoder(), payload)
    except ProtocolError:
        pass
