"""MQTT subset codec (spec/commands.md §7): round trips under any chunking, byte-exact examples,
limits, and the rule that garbage raises `ProtocolError` and nothing else."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec import mqtt
from blynklite.codec.frames import ProtocolError

from .streams import cut, never_hangs

PROPERTY = settings(max_examples=80, deadline=None)

texts = st.text(max_size=40)
publishes = st.builds(lambda topic, payload, qos, pid, retain: ("publish", topic, payload, qos, pid, retain),
                      texts, st.binary(max_size=300), st.integers(0, 2), st.integers(1, 0xFFFF), st.booleans())
connects = st.builds(lambda cid, user, password, keep: ("connect", cid, user, password, keep),
                     texts, st.one_of(st.none(), texts), st.one_of(st.none(), st.binary(max_size=40)),
                     st.integers(0, 0xFFFF))
simple = st.sampled_from([("ping",), ("disconnect",)])
packets = st.lists(st.one_of(publishes, connects, simple), max_size=10)


def encode(item):
    kind = item[0]
    if kind == "publish":
        _, topic, payload, qos, pid, retain = item
        return mqtt.publish(topic, payload, qos, pid, retain)
    if kind == "connect":
        _, cid, user, password, keep = item
        return mqtt.connect(cid, user, password, keep)
    return mqtt.encode(mqtt.PINGREQ if kind == "ping" else mqtt.DISCONNECT, 0)


def describe(packet):
    if isinstance(packet, mqtt.Publish):
        return ("publish", packet.topic, packet.payload, packet.qos,
                packet.packet_id if packet.qos else None, packet.retain)
    if isinstance(packet, mqtt.Connect):
        return ("connect", packet.client_id, packet.username, packet.password, packet.keep_alive)
    return ("ping",) if packet.type == mqtt.PINGREQ else ("disconnect",)


def expected(item):
    if item[0] == "publish":
        _, topic, payload, qos, pid, retain = item
        return ("publish", topic, payload, qos, pid if qos else None, retain)
    return item


@PROPERTY
@given(packets, st.data())
def test_any_chunking_decodes_the_same_packets(items, data):
    stream = b"".join(encode(i) for i in items)
    decoder = mqtt.MqttDecoder()
    got = []
    for chunk in cut(stream, data.draw):
        got.extend(describe(p) for p in decoder.feed(chunk))
    assert got == [expected(i) for i in items]


@PROPERTY
@given(st.binary(max_size=400), st.data())
def test_garbage_raises_only_protocol_error(garbage, data):
    decoder = mqtt.MqttDecoder()
    with never_hangs():
        try:
            for chunk in cut(garbage, data.draw):
                list(decoder.feed(chunk))
        except ProtocolError:
            pass


@given(st.integers(0, mqtt.MAX_PACKET_SIZE))
def test_remaining_length_round_trips(length):
    packet = mqtt.encode(mqtt.PUBLISH, 0, mqtt.string("t") + b"x" * max(0, length - 3))
    [decoded] = list(mqtt.MqttDecoder().feed(packet))
    assert decoded.topic == "t"


# --- byte-exact examples ------------------------------------------------------------------------
EXAMPLES = [
    ("connack_accepted", mqtt.connack(mqtt.ACCEPTED), b"\x20\x02\x00\x00"),
    ("connack_bad_password", mqtt.connack(mqtt.REFUSED_BAD_USER_NAME_OR_PASSWORD), b"\x20\x02\x00\x04"),
    ("pingresp", mqtt.pingresp(), b"\xd0\x00"),
    ("publish_qos0", mqtt.publish("hardware", b"vw 1 5", 0), b"\x30\x10\x00\x08hardwarevw 1 5"),
    ("two_byte_length", mqtt.encode(mqtt.PUBLISH, 0, b"\x00\x01t" + b"x" * 197), b"\x30\xc8\x01"),
]


@pytest.mark.parametrize("name,got,want", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_encoded_bytes(name, got, want):
    assert got[:len(want)] == want


def test_connect_fields_as_a_device_sends_them():
    packet = mqtt.connect("dev1", "User@Example.com", b"token", keep_alive=30)
    [connect] = list(mqtt.MqttDecoder().feed(packet))
    assert (connect.protocol, connect.level, connect.keep_alive) == (b"MQTT", 4, 30)
    assert (connect.username, connect.password, connect.clean) == ("User@Example.com", b"token", True)


def test_mqtt_3_1_is_accepted_and_unknown_protocols_are_not():
    [connect] = list(mqtt.MqttDecoder().feed(mqtt.connect("c", protocol=b"MQIsdp", level=3)))
    assert connect.level == 3
    with pytest.raises(ProtocolError, match="unsupported protocol"):
        list(mqtt.MqttDecoder().feed(mqtt.connect("c", protocol=b"MQTT", level=5)))


# --- limits and broken packets --------------------------------------------------------------------
BROKEN = [
    ("oversized", b"\x30" + bytes((0x80 | ((mqtt.MAX_PACKET_SIZE + 1) & 0x7F), (mqtt.MAX_PACKET_SIZE + 1) >> 7)),
     "over"),
    ("five_length_bytes", b"\x30\xff\xff\xff\xff\x01", "longer than 4"),
    ("padded_length", b"\x30\x80\x00", "shortest"),
    ("qos3", b"\x36\x03\x00\x01t", "QoS 3"),
    ("subscribe_flags", b"\x80\x00", "flags"),
    ("reserved_type", b"\xf0\x00", "reserved"),
    ("publish_short_topic", b"\x30\x01\x00", "ends early"),
    ("topic_not_utf8", b"\x30\x03\x00\x01\xff", "UTF-8"),
    ("connect_trailing", mqtt.connect("c")[:1] + bytes((mqtt.connect("c")[1] + 1,)) + mqtt.connect("c")[2:] + b"!",
     "after"),
]


@pytest.mark.parametrize("name,data,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_packets_raise_protocol_error(name, data, message):
    with pytest.raises(ProtocolError, match=message):
        list(mqtt.MqttDecoder().feed(data))


def test_oversized_packet_is_refused_before_its_body_arrives():
    decoder = mqtt.MqttDecoder()
    header = mqtt.encode(mqtt.PUBLISH, 0, b"x" * mqtt.MAX_PACKET_SIZE)[:4]
    assert list(decoder.feed(header[:3])) == []   # at the limit: waits for the body
    with pytest.raises(ProtocolError):
        list(mqtt.MqttDecoder().feed(b"\x30\xff\xff\x7f"))


def test_encoder_refuses_a_body_over_the_limit():
    with pytest.raises(ValueError):
        mqtt.encode(mqtt.PUBLISH, 0, b"x" * (mqtt.MAX_PACKET_SIZE + 1))
