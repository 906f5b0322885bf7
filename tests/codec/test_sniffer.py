"""Port unification (spec/framing.md §3): the first 5 bytes choose HTTP, hardware or app."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.sniffer import APP, HARDWARE, HTTP, detect

PROPERTY = settings(max_examples=300, deadline=None)

HTTP_PREFIXES = [b"GET ", b"POST", b"PUT ", b"HEAD", b"OPTI", b"PATC", b"DELE", b"TRAC", b"CONN"]
HARDWARE_LOGINS = [bytes.fromhex("1D 00 01 00 20"), bytes.fromhex("02 00 01 00 20")]
PORTS = pytest.mark.parametrize("app_allowed", [True, False], ids=["tls-9443", "plain-8080"])


@PORTS
@pytest.mark.parametrize("prefix", HTTP_PREFIXES, ids=[p.decode().strip() for p in HTTP_PREFIXES])
def test_http_method_prefix_is_http_on_both_ports(prefix, app_allowed):
    assert detect(prefix + b"/", app_allowed) == HTTP


@PORTS
@pytest.mark.parametrize("first", HARDWARE_LOGINS, ids=["hardware_login", "login"])
def test_login_with_msg_id_1_and_32_byte_token_is_hardware_on_both_ports(first, app_allowed):
    assert detect(first + b"A" * 32, app_allowed) == HARDWARE


OTHER_FIRST_BYTES = {
    "app_login_msg1_other_length": bytes.fromhex("02 00 01 00 00 00 40"),
    "hardware_login_msg2": bytes.fromhex("1D 00 02 00 20"),
    "hardware_login_token_31": bytes.fromhex("1D 00 01 00 1F"),
    "app_register": bytes.fromhex("01 00 01 00 00"),
    "lowercase_get": b"get /",
    "get_without_space": b"GETX/",
    "zeros": bytes(5),
}


@pytest.mark.parametrize("first", OTHER_FIRST_BYTES.values(), ids=OTHER_FIRST_BYTES.keys())
def test_anything_else_is_app_on_the_tls_port_and_hardware_on_the_plain_port(first):
    assert detect(first, app_allowed=True) == APP
    assert detect(first, app_allowed=False) == HARDWARE


def test_detect_accepts_a_view_of_the_read_buffer():
    buffer = bytearray(b"POST /x HTTP/1.1\r\n")
    assert detect(memoryview(buffer)[:5], True) == HTTP


@pytest.mark.parametrize("short", [b"", b"GET ", bytes.fromhex("1D 00 01 00")])
def test_fewer_than_five_bytes_is_a_caller_error(short):
    with pytest.raises(ValueError):
        detect(short, True)


@PROPERTY
@given(first=st.binary(min_size=5, max_size=40), app_allowed=st.booleans())
def test_detect_never_raises_for_five_or_more_bytes(first, app_allowed):
    kind = detect(first, app_allowed)
    if first[:4] in HTTP_PREFIXES:
        assert kind == HTTP
    elif first[:5] in HARDWARE_LOGINS or not app_allowed:
        assert kind == HARDWARE
    else:
        assert kind == APP
