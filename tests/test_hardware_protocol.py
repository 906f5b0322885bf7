"""The device (hardware) side of the binary protocol against the real server, over real sockets
(spec/commands.md §4–6, spec/framing.md §2, §6, §7, §8).

Every test starts its own server (`server` / `make_server` fixtures), one account with an app
connection and one device on dashboard 1 (device id 0). Replies are compared as whole messages
(command, msg id, body bytes or status), and a few as raw bytes. "Nothing is sent back" is checked
with a PING barrier (the server handles one connection's frames in order), so it costs no sleep.
"""
import json
import time
from dataclasses import dataclass

import pytest

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status
from blynklite.codec.frames import HARDWARE as FRAME

from devices import ConnectionClosed, app_barrier, app_messages, body, device, new_account, open_app

C, S = Command, Status
OK = S.OK
INFO = body("ver", "0.3.1", "fw", "3.3.3", "h-beat", 10, "buff-in", 256, "dev", "Arduino",
            "cpu", "ATmega328P", "con", "W5100", "tmpl", "tmpl00123")


@dataclass
class Account:
    server: object
    email: str
    app: AppClient
    token: str

    def device(self, port="hw", token=None, msg_id=1, **kwargs):
        """A logged-in device; its HARDWARE_CONNECTED is taken off the app connection."""
        dev = device(self.server, port, **kwargs)
        assert dev.login(token or self.token, msg_id) == OK
        assert app_messages(self.app, C.HARDWARE_CONNECTED), "app got no HARDWARE_CONNECTED"
        return dev


@pytest.fixture
def account(server):
    email = new_account(server)
    app = open_app(server, email)
    app.new_device("Device 0")
    app_barrier(app)
    yield Account(server, email, app, token=_token(app, 1, 0))
    app.close()


def _token(app, dash_id, device_id):
    for dash in app.load_profile()["dashBoards"]:
        for dev in dash.get("devices") or ():
            if dash["id"] == dash_id and dev["id"] == device_id:
                return dev["token"]
    raise AssertionError(f"no device {dash_id}-{device_id}")


def hardware_forwards(app):
    """The HARDWARE messages the app has been sent so far (PING barrier on the app connection)."""
    return [m for m in app_barrier(app) if m[0] == C.HARDWARE]


# -- login (commands §4.1, framing §9) ----------------------------------------------------------

@pytest.mark.parametrize("command", [C.HARDWARE_LOGIN, C.LOGIN], ids=["HARDWARE_LOGIN", "LOGIN"])
def test_login_is_answered_ok_with_the_login_msg_id(account, command):
    with device(account.server) as dev:
        dev.send(command, account.token, msg_id=7)
        assert dev.receive() == (C.RESPONSE, 7, OK)
        assert bytes(dev.received) == bytes.fromhex("00 0007 00c8")
        assert dev.barrier() == []


@pytest.mark.parametrize("bad_token", ["A" * 32, "short", "A" * 31 + "\0"],
                         ids=["unknown-32-chars", "short", "with-nul"])
def test_bad_token_gets_invalid_token_and_is_closed_and_a_new_connection_works(account, bad_token):
    """Upstream keeps the connection open; we close it, so token guessing costs a connection
    (tests/test_login_guard.py)."""
    with device(account.server) as dev:
        dev.send(C.HARDWARE_LOGIN, bad_token, msg_id=3)
        assert dev.wait_closed() == [(C.RESPONSE, 3, S.INVALID_TOKEN)]
        assert bytes(dev.received) == bytes.fromhex("00 0003 0009")
    with device(account.server) as dev:
        assert dev.login(account.token, msg_id=4) == OK
        dev.send(C.HARDWARE, body("vw", 1, 5), msg_id=5)
        assert dev.barrier() == []
    assert hardware_forwards(account.app) == [(C.HARDWARE, 5, body("1-0", "vw", 1, 5))]


def test_login_token_is_trimmed(account):
    with device(account.server) as dev:
        assert dev.login(f"  {account.token}\n", msg_id=2) == OK


def test_login_token_is_trimmed_like_java_including_nul(account):
    with device(account.server) as dev:
        assert dev.login(f"{account.token}\0", msg_id=2) == OK


def test_second_login_gets_user_already_registered(account):
    with account.device() as dev:
        for command, msg_id in ((C.HARDWARE_LOGIN, 2), (C.LOGIN, 3)):
            dev.send(command, account.token, msg_id)
            assert dev.receive() == (C.RESPONSE, msg_id, S.USER_ALREADY_REGISTERED)
        assert dev.barrier() == []


@pytest.mark.parametrize("command, payload", [
    (C.PING, b""),
    (C.HARDWARE, body("vw", 1, 100)),
    (C.HARDWARE_SYNC, b""),
    (C.BLYNK_INTERNAL, INFO),
    (C.BRIDGE, body(1, "i", "A" * 32)),
    (C.SET_WIDGET_PROPERTY, body(1, "label", "x")),
    (C.RESPONSE, OK),
], ids=["ping", "write", "sync", "internal", "bridge", "set-property", "response"])
def test_command_before_login_closes_the_connection_without_reply(account, command, payload):
    with device(account.server) as dev:
        dev.send(command, payload, msg_id=2)
        assert dev.wait_closed() == []
        assert bytes(dev.received) == b""
    assert app_barrier(account.app) == []


# -- what login sends (commands §4.1) -----------------------------------------------------------

def test_app_receives_hardware_connected_with_the_login_msg_id(account):
    with device(account.server) as dev:
        assert dev.login(account.token, msg_id=42) == OK
        assert app_messages(account.app, C.HARDWARE_CONNECTED) == [
            (C.HARDWARE_CONNECTED, 42, b"1-0")]


def test_no_pin_mode_message_without_digital_or_analog_widgets(account):
    with account.device() as dev:
        assert dev.barrier() == []


def test_pin_mode_message_follows_login_ok_when_the_dash_has_a_digital_widget(account):
    button = {"id": 7, "x": 0, "y": 0, "width": 2, "height": 2, "type": "BUTTON",
              "pinType": "DIGITAL", "pin": 5, "deviceId": 0}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(button)))[2] == OK
    with device(account.server) as dev:
        dev.send(C.HARDWARE_LOGIN, account.token, msg_id=9)
        assert dev.receive() == (C.RESPONSE, 9, OK)
        assert dev.receive() == (C.HARDWARE, 1, b"pm\x005\x00out")
        assert bytes(dev.received) == bytes.fromhex("00 0009 00c8") + bytes.fromhex(
            "14 0001 0008") + b"pm\x005\x00out"
        assert dev.barrier() == []


def test_inactive_dash_gets_hardware_connected_but_no_pin_modes_and_no_device_offline(account):
    button = {"id": 7, "x": 0, "y": 0, "width": 2, "height": 2, "type": "BUTTON",
              "pinType": "DIGITAL", "pin": 5, "deviceId": 0}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(button)))[2] == OK
    assert account.app.request(C.DEACTIVATE_DASHBOARD, b"1")[2] == OK
    with device(account.server) as dev:
        assert dev.login(account.token, msg_id=3) == OK
        assert dev.barrier() == []
        assert app_barrier(account.app) == [(C.HARDWARE_CONNECTED, 3, b"1-0")]
    assert app_barrier(account.app) == []


# -- BLYNK_INTERNAL (commands §4.9) -------------------------------------------------------------

@pytest.mark.parametrize("payload, expected", [
    (INFO, [(C.RESPONSE, 5, OK)]),
    (body("ver", "0.6.1", "h-beat", 45, "buff-in", 1024), [(C.RESPONSE, 5, OK)]),
    (b"rtc", []),
    (b"", [(C.RESPONSE, 5, S.ILLEGAL_COMMAND)]),
    (b"acon", []),
    (b"xyz", []),
], ids=["info", "short-info", "rtc-without-rtc-widget", "empty", "reserved-a", "unknown"])
def test_internal_message_replies(account, payload, expected):
    with account.device() as dev:
        dev.send(C.BLYNK_INTERNAL, payload, msg_id=5)
        assert dev.barrier() == expected


def test_rtc_request_is_answered_when_the_dash_has_an_rtc_widget(account):
    rtc = {"id": 8, "x": 0, "y": 0, "width": 2, "height": 1, "type": "RTC"}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(rtc)))[2] == OK
    with account.device() as dev:
        dev.send(C.BLYNK_INTERNAL, b"rtc", msg_id=6)
        replies = dev.barrier()
    assert len(replies) == 1 and replies[0][:2] == (C.BLYNK_INTERNAL, 6), replies
    name, _, seconds = replies[0][2].partition(b"\0")
    assert name == b"rtc" and len(seconds) == 10 and seconds.isdigit(), replies
    assert abs(int(seconds) - time.time()) < 10       # default zone UTC: plain epoch seconds


# -- HARDWARE writes from the device (commands §4.3) ----------------------------------------------

@pytest.mark.parametrize("payload, to_device, to_app", [
    (body("vw", 1, 100), [], [body("1-0", "vw", 1, 100)]),
    (body("vw", 255, 100), [], [body("1-0", "vw", 255, 100)]),
    (body("dw", 13, 1), [], [body("1-0", "dw", 13, 1)]),
    (body("aw", 1, 1), [], [body("1-0", "aw", 1, 1)]),
    (body("vw", 13, 60, 143, 158), [], [body("1-0", "vw", 13, 60, 143, 158)]),
    ("vw\x001\x00°F".encode(), [], [b"1-0\x00vw\x001\x00\xc2\xb0F"]),
    (body("vw", 256, 100), [S.ILLEGAL_COMMAND], []),
    (body("vw", -1, 100), [S.ILLEGAL_COMMAND], []),
    (body("vw", "x", 100), [S.ILLEGAL_COMMAND], []),
    (body("xw", 1, 100), [S.ILLEGAL_COMMAND], []),
    (b"vw1", [S.ILLEGAL_COMMAND], []),
    (b"", [S.ILLEGAL_COMMAND], []),
    (body("vw", 1), [S.ILLEGAL_COMMAND], []),
    (body("vw", 1, ""), [S.ILLEGAL_COMMAND], []),
    (body("vr", 1), [], []),
    (body("ar", 12), [], []),
], ids=["vw", "vw-pin-255", "dw", "aw", "multi-value", "unicode", "pin-256", "pin-negative",
        "pin-not-a-number", "bad-pin-type", "short-body", "empty-body", "no-value", "empty-value",
        "vr-ignored", "ar-ignored"])
def test_device_write(account, payload, to_device, to_app):
    with account.device() as dev:
        dev.send(C.HARDWARE, payload, msg_id=5)
        assert dev.barrier() == [(C.RESPONSE, 5, status) for status in to_device]
    assert hardware_forwards(account.app) == [(C.HARDWARE, 5, b) for b in to_app]


def test_device_write_reaches_the_app_as_exact_bytes(account):
    with account.device() as dev:
        dev.send_raw(bytes.fromhex("14 0005 0008") + b"vw\x001\x00100")
        assert dev.barrier() == []
    assert hardware_forwards(account.app) == [(C.HARDWARE, 5, b"1-0\x00vw\x001\x00100")]


def test_reused_msg_id_is_forwarded_every_time(account):
    with account.device() as dev:
        dev.send(C.HARDWARE, body("vw", 1, 100), msg_id=3)
        dev.send(C.HARDWARE, body("vw", 1, 101), msg_id=3)
        assert dev.barrier() == []
    assert hardware_forwards(account.app) == [(C.HARDWARE, 3, body("1-0", "vw", 1, 100)),
                                              (C.HARDWARE, 3, body("1-0", "vw", 1, 101))]


def test_write_to_an_inactive_dashboard_is_not_forwarded_but_stored(account):
    assert account.app.request(C.DEACTIVATE_DASHBOARD, b"1")[2] == OK
    with account.device() as dev:
        dev.send(C.HARDWARE, body("vw", 2, 77), msg_id=4)
        assert dev.barrier() == []
        assert hardware_forwards(account.app) == []
        dev.send(C.HARDWARE_SYNC, body("vr", 2), msg_id=6)
        assert dev.barrier() == [(C.HARDWARE, 6, body("vw", 2, 77))]


def test_every_app_connection_of_the_owner_receives_the_write(account):
    with open_app(account.server, account.email) as second_app, account.device() as dev:
        dev.send(C.HARDWARE, body("vw", 1, 5), msg_id=8)
        assert dev.barrier() == []
        expected = [(C.HARDWARE, 8, body("1-0", "vw", 1, 5))]
        assert hardware_forwards(account.app) == expected
        assert hardware_forwards(second_app) == expected


# -- HARDWARE_SYNC (commands §4.4) --------------------------------------------------------------

def test_hardware_sync_returns_stored_values_with_the_request_msg_id(account):
    with account.device() as dev:
        write_id = account.app.write(1, 0, "V3", 42)
        assert dev.receive() == (C.HARDWARE, write_id, body("vw", 3, 42))
        dev.send(C.HARDWARE, body("vw", 67, 100), msg_id=2)
        assert dev.barrier() == []

        dev.send(C.HARDWARE_SYNC, body("vr", 67), msg_id=10)
        assert dev.barrier() == [(C.HARDWARE, 10, body("vw", 67, 100))]
        dev.send(C.HARDWARE_SYNC, body("vr", 3), msg_id=11)
        assert dev.barrier() == [(C.HARDWARE, 11, body("vw", 3, 42))]
        dev.send(C.HARDWARE_SYNC, body("vr", 3, 67), msg_id=12)
        assert sorted(dev.barrier()) == [(C.HARDWARE, 12, body("vw", 3, 42)),
                                         (C.HARDWARE, 12, body("vw", 67, 100))]
        dev.send(C.HARDWARE_SYNC, b"", msg_id=13)
        assert sorted(dev.barrier()) == [(C.HARDWARE, 13, body("vw", 3, 42)),
                                         (C.HARDWARE, 13, body("vw", 67, 100))]


def test_hardware_sync_with_an_unknown_pin_letter_is_illegal(account):
    with account.device() as dev:
        dev.send(C.HARDWARE_SYNC, body("xr", 4), msg_id=8)
        assert dev.barrier() == [(C.RESPONSE, 8, S.ILLEGAL_COMMAND)]


def test_hardware_sync_of_an_analog_pin_finds_a_pwm_widget_on_that_pin(account):
    button = {"id": 7, "type": "BUTTON", "pinType": "DIGITAL", "pin": 5, "pwmMode": True, "value": "128",
              "x": 0, "y": 0, "width": 2, "height": 2}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(button)))[2] == OK
    with account.device() as dev:
        dev.receive_all()
        dev.send(C.HARDWARE_SYNC, body("ar", 5), msg_id=9)
        assert dev.barrier() == [(C.HARDWARE, 9, body("aw", 5, 128))]


@pytest.mark.parametrize("payload, expected", [
    (b"", []),
    (body("vr", 67), []),
    (body("vw", 67), []),
    (b"vr", [S.ILLEGAL_COMMAND]),
    (body("", 67), [S.ILLEGAL_COMMAND]),
], ids=["all-nothing-stored", "pin-nothing-stored", "not-a-read", "no-pin", "empty-type"])
def test_hardware_sync_with_nothing_to_send(account, payload, expected):
    with account.device() as dev:
        dev.send(C.HARDWARE_SYNC, payload, msg_id=10)
        assert dev.barrier() == [(C.RESPONSE, 10, status) for status in expected]


# -- app → device (app.md §4.1, commands §4.9 buff-in, framing §8) -------------------------------

def test_app_write_reaches_the_device_with_the_app_msg_id(account):
    with account.device() as dev:
        msg_id = account.app.write(1, 0, "V1", 100)
        assert dev.receive() == (C.HARDWARE, msg_id, body("vw", 1, 100))
        assert app_barrier(account.app) == []   # no OK for a delivered write


def test_app_write_to_an_offline_device_gets_device_not_in_network(account):
    msg_id = account.app.write(1, 0, "V1", 100)
    assert app_barrier(account.app) == [(C.RESPONSE, msg_id, S.DEVICE_NOT_IN_NETWORK)]


def test_buff_in_limits_what_the_device_is_sent(account):
    """framing.md §8: sent only if body length + 5 <= buff-in. `vw\\01\\012` is 7 bytes, exactly at
    the limit of buff-in 12; `vw\\01\\0123` is one byte over. The only device did not get it, so the
    app is told DEVICE_NOT_IN_NETWORK (upstream Session.filter drops it before sending)."""
    with account.device() as dev:
        dev.send(C.BLYNK_INTERNAL, body("ver", "0.3.1", "h-beat", 10, "buff-in", 12), msg_id=2)
        assert dev.barrier() == [(C.RESPONSE, 2, OK)]
        fits = account.app.write(1, 0, "V1", 12)
        too_big = account.app.write(1, 0, "V1", 123)
        assert app_barrier(account.app) == [(C.RESPONSE, too_big, S.DEVICE_NOT_IN_NETWORK)]
        assert dev.barrier() == [(C.HARDWARE, fits, body("vw", 1, 12))]


def test_without_buff_in_the_device_is_sent_up_to_250_characters(account):
    with account.device() as dev:
        prefix = "vw\x001\x00"
        fits = account.app.write(1, 0, "V1", "x" * (250 - len(prefix)))
        too_big = account.app.write(1, 0, "V1", "y" * (251 - len(prefix)))
        # The app's barrier first: the server has then read both writes (two sockets, no order between them).
        assert app_barrier(account.app) == [(C.RESPONSE, too_big, S.DEVICE_NOT_IN_NETWORK)]
        assert dev.barrier() == [(C.HARDWARE, fits, (prefix + "x" * (250 - len(prefix))).encode())]


# -- BRIDGE (commands §4.5) ---------------------------------------------------------------------

@pytest.fixture
def two_devices(account):
    """Device 0 (account.token) and device 1 of dashboard 1, both online."""
    account.app.create_device(1, 1, "Device 1")
    token1 = _token(account.app, 1, 1)
    app_barrier(account.app)
    with account.device() as dev0, account.device(token=token1) as dev1:
        yield dev0, dev1, token1


def test_bridge_forwards_to_the_target_device_and_to_the_app(account, two_devices):
    dev0, dev1, token1 = two_devices
    dev0.send(C.BRIDGE, body(1, "i", token1), msg_id=1)
    assert dev0.barrier() == [(C.RESPONSE, 1, OK)]
    dev0.send(C.BRIDGE, body(1, "aw", 10, 10), msg_id=2)
    assert dev0.barrier() == []
    assert dev1.barrier() == [(C.BRIDGE, 2, body("aw", 10, 10))]
    assert hardware_forwards(account.app) == [(C.HARDWARE, 2, body("1-1", "aw", 10, 10))]


def test_bridge_between_two_connections_with_the_same_token(account):
    with account.device() as first, account.device() as second:
        first.send(C.BRIDGE, body(1, "i", account.token), msg_id=1)
        assert first.barrier() == [(C.RESPONSE, 1, OK)]
        first.send(C.BRIDGE, body(1, "vw", 7, "hi"), msg_id=2)
        assert first.barrier() == []            # the sender is not sent its own bridge message
        assert second.barrier() == [(C.BRIDGE, 2, body("vw", 7, "hi"))]
        assert hardware_forwards(account.app) == [(C.HARDWARE, 2, body("1-0", "vw", 7, "hi"))]


def test_bridge_reinit_of_a_channel_is_ok_each_time(account, two_devices):
    dev0, _, token1 = two_devices
    for msg_id in (1, 2):
        dev0.send(C.BRIDGE, body(1, "i", token1), msg_id=msg_id)
        assert dev0.barrier() == [(C.RESPONSE, msg_id, OK)]


def test_bridge_keeps_its_target_after_the_target_token_is_refreshed(account, two_devices):
    first, _, second_token = two_devices
    first.send(C.BRIDGE, body(1, "i", second_token), msg_id=2)
    assert first.barrier() == [(C.RESPONSE, 2, OK)]
    command, _, new_token = account.app.request(C.REFRESH_TOKEN, body(1, 1))
    assert command == C.REFRESH_TOKEN
    with account.device(token=new_token.decode()) as second_again:
        first.send(C.BRIDGE, body(1, "vw", 3, "on"), msg_id=3)
        assert first.barrier() == []
        assert second_again.receive() == (C.BRIDGE, 3, body("vw", 3, "on"))


@pytest.mark.parametrize("payload, status", [
    (body(1, "vw", 1, 1), S.NOT_ALLOWED),          # no channel on this connection
    (body(1, "i"), S.ILLEGAL_COMMAND),
    (b"i", S.ILLEGAL_COMMAND),
    (b"1", S.ILLEGAL_COMMAND),
    (body(1, "auth_tone"), S.ILLEGAL_COMMAND),
    (body(1, "i", "A" * 32), S.NOT_ALLOWED),       # unknown token
    (body(1, "i", "short"), S.NOT_ALLOWED),
], ids=["uninitialised", "init-without-token", "i", "1", "two-fields", "unknown-token",
        "short-token"])
def test_bridge_errors(account, payload, status):
    with account.device() as dev:
        dev.send(C.BRIDGE, payload, msg_id=3)
        assert dev.barrier() == [(C.RESPONSE, 3, status)]


def test_bridge_on_an_uninitialised_channel_is_not_allowed(account, two_devices):
    dev0, dev1, token1 = two_devices
    dev0.send(C.BRIDGE, body(1, "i", token1), msg_id=1)
    assert dev0.barrier() == [(C.RESPONSE, 1, OK)]
    dev0.send(C.BRIDGE, body(2, "vw", 1, 1), msg_id=2)
    assert dev0.barrier() == [(C.RESPONSE, 2, S.NOT_ALLOWED)]
    assert dev1.barrier() == []


def test_bridge_to_another_accounts_token_is_not_allowed(account):
    other = open_app(account.server, new_account(account.server))
    with other:
        other.new_device("Other")
        other_token = _token(other, 1, 0)
    with account.device() as dev:
        dev.send(C.BRIDGE, body(1, "i", other_token), msg_id=4)
        assert dev.barrier() == [(C.RESPONSE, 4, S.NOT_ALLOWED)]


def test_bridge_to_an_offline_device_gets_device_not_in_network(account):
    account.app.create_device(1, 1, "Device 1")
    token1 = _token(account.app, 1, 1)
    with account.device() as dev:
        dev.send(C.BRIDGE, body(1, "i", token1), msg_id=1)
        assert dev.barrier() == [(C.RESPONSE, 1, OK)]
        dev.send(C.BRIDGE, body(1, "vw", 1, 1), msg_id=2)
        assert dev.barrier() == [(C.RESPONSE, 2, S.DEVICE_NOT_IN_NETWORK)]


def test_bridge_with_a_bad_pin_is_illegal_after_delivery(account, two_devices):
    dev0, dev1, token1 = two_devices
    dev0.send(C.BRIDGE, body(1, "i", token1), msg_id=1)
    assert dev0.barrier() == [(C.RESPONSE, 1, OK)]
    dev0.send(C.BRIDGE, body(1, "vw", 256, 10), msg_id=2)
    assert dev0.barrier() == [(C.RESPONSE, 2, S.ILLEGAL_COMMAND)]
    assert dev1.barrier() == [(C.BRIDGE, 2, body("vw", 256, 10))]


# -- SET_WIDGET_PROPERTY (commands §4.10) -------------------------------------------------------

def test_set_widget_property_is_forwarded_to_apps_and_answered_ok(account):
    with account.device() as dev:
        dev.send(C.SET_WIDGET_PROPERTY, body(4, "label", "MyNewLabel"), msg_id=5)
        assert dev.barrier() == [(C.RESPONSE, 5, OK)]
    assert [m for m in app_barrier(account.app) if m[0] == C.SET_WIDGET_PROPERTY] == [
        (C.SET_WIDGET_PROPERTY, 5, body("1-0", 4, "label", "MyNewLabel"))]


@pytest.mark.parametrize("payload, status", [
    (body(4, "fooProp", "x"), S.ILLEGAL_COMMAND_BODY),
    (body(4, "Label", "x"), S.ILLEGAL_COMMAND_BODY),      # names are case-sensitive
    (body(4, "label"), S.ILLEGAL_COMMAND_BODY),
    (body(4, "label", ""), S.ILLEGAL_COMMAND_BODY),
    (body(4, "", "x"), S.ILLEGAL_COMMAND_BODY),
    (body("x", "label", "y"), S.ILLEGAL_COMMAND),
    (body(256, "label", "y"), S.ILLEGAL_COMMAND),
], ids=["unknown-property", "wrong-case", "two-fields", "empty-value", "empty-property",
        "pin-not-a-number", "pin-256"])
def test_set_widget_property_errors(account, payload, status):
    _set_widget_property_is_refused(account, payload, status)


@pytest.mark.parametrize("payload", [body(4, "color", "zzz"), body(4, "min", "ten"), body(4, "rotation", "x")],
                         ids=["bad-colour", "bad-number", "bad-integer"])
def test_set_widget_property_with_a_value_that_is_no_number_is_illegal(account, payload):
    slider = {"id": 9, "type": "SLIDER", "pinType": "VIRTUAL", "pin": 4, "x": 0, "y": 0, "width": 2, "height": 1}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(slider)))[2] == OK
    _set_widget_property_is_refused(account, payload, S.ILLEGAL_COMMAND)


def _set_widget_property_is_refused(account, payload, status):
    with account.device() as dev:
        dev.send(C.SET_WIDGET_PROPERTY, payload, msg_id=6)
        assert dev.barrier() == [(C.RESPONSE, 6, status)]
        assert app_barrier(account.app) == []


# -- offline (commands §6) ----------------------------------------------------------------------

def test_device_disconnect_sends_device_offline_to_the_app(account):
    dev = account.device()
    dev.close()
    assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]


def test_closing_one_of_two_connections_with_the_same_token_still_sends_device_offline(account):
    with account.device() as first, account.device() as second:
        first.close()
        assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]
        second.send(C.HARDWARE, body("vw", 1, 2), msg_id=4)
        assert second.barrier() == []
        assert hardware_forwards(account.app) == [(C.HARDWARE, 4, body("1-0", "vw", 1, 2))]


def test_with_an_ignore_period_a_quick_reconnect_sends_no_device_offline(account):
    notification = {"id": 11, "type": "NOTIFICATION", "notifyWhenOffline": True,
                    "notifyWhenOfflineIgnorePeriod": 1500, "x": 0, "y": 0, "width": 1, "height": 1}
    assert account.app.request(C.CREATE_WIDGET, body(1, json.dumps(notification)))[2] == OK
    account.device().close()
    time.sleep(0.3)
    with account.device():
        assert app_messages(account.app, C.DEVICE_OFFLINE, timeout=2.5) == []
    started = time.monotonic()
    assert app_messages(account.app, C.DEVICE_OFFLINE, timeout=5) == [(C.DEVICE_OFFLINE, 0, b"1-0")]
    assert time.monotonic() - started >= 1.0      # held back for the ignore period


def test_ping_after_login_is_answered_ok(account):
    with account.device() as dev:
        dev.send(C.PING, b"", msg_id=300)
        assert dev.receive() == (C.RESPONSE, 300, OK)
        assert bytes(dev.received).endswith(bytes.fromhex("00 012c 00c8"))


def test_unknown_command_after_login_is_ignored(account):
    with account.device() as dev:
        for command in (5, 10, 55, 64, 99):
            dev.send(command, b"whatever", msg_id=command)
        dev.send(C.RESPONSE, OK, msg_id=1)
        assert dev.barrier() == []


def test_server_never_pings_an_idle_device(account):
    with account.device() as dev:
        assert dev.receive(timeout=3.0) is None
        assert bytes(dev.received).endswith(bytes.fromhex("00 0001 00c8"))


# -- framing: split and coalesced frames (framing §2.4) ------------------------------------------

def _dribble(dev, data, pause=0.002):
    for i in range(len(data)):
        dev.send_raw(data[i:i + 1])
        time.sleep(pause)


@pytest.mark.parametrize("how", ["header-then-body", "byte-by-byte"])
def test_frames_split_in_pieces_are_reassembled(account, how):
    login = FRAME.message(C.HARDWARE_LOGIN, 3, account.token.encode())
    write = bytes.fromhex("14 0004 0008") + b"vw\x001\x00100"
    with device(account.server) as dev:
        for frame in (login, write):
            if how == "header-then-body":
                dev.send_raw(frame[:5])
                time.sleep(0.05)
                dev.send_raw(frame[5:])
            else:
                _dribble(dev, frame)
        assert dev.receive() == (C.RESPONSE, 3, OK)
        assert dev.barrier() == []
        assert app_barrier(account.app) == [(C.HARDWARE_CONNECTED, 3, b"1-0"),
                                            (C.HARDWARE, 4, body("1-0", "vw", 1, 100))]


def test_several_frames_in_one_write(account):
    data = b"".join((FRAME.message(C.HARDWARE_LOGIN, 1, account.token.encode()),
                     FRAME.message(C.BLYNK_INTERNAL, 2, INFO),
                     FRAME.message(C.HARDWARE, 3, body("vw", 1, 1)),
                     FRAME.message(C.HARDWARE, 4, body("vw", 2, 2)),
                     FRAME.message(C.PING, 5)))
    with device(account.server) as dev:
        dev.send_raw(data)
        assert [dev.receive() for _ in range(3)] == [
            (C.RESPONSE, 1, OK), (C.RESPONSE, 2, OK), (C.RESPONSE, 5, OK)]
        assert dev.barrier() == []
        assert app_barrier(account.app) == [(C.HARDWARE_CONNECTED, 1, b"1-0"),
                                            (C.HARDWARE, 3, body("1-0", "vw", 1, 1)),
                                            (C.HARDWARE, 4, body("1-0", "vw", 2, 2))]


# -- TLS ports (framing §3, §5) -----------------------------------------------------------------

@pytest.mark.parametrize("port", ["hw_ssl", "app"])
def test_device_over_tls(account, port):
    with device(account.server, port) as dev:
        dev.send(C.HARDWARE_LOGIN, account.token, msg_id=1)
        assert dev.receive() == (C.RESPONSE, 1, OK)
        assert app_messages(account.app, C.HARDWARE_CONNECTED) == [
            (C.HARDWARE_CONNECTED, 1, b"1-0")]
        dev.send(C.BLYNK_INTERNAL, INFO, msg_id=2)
        dev.send(C.HARDWARE, "vw\x001\x00°F".encode(), msg_id=3)
        assert dev.barrier() == [(C.RESPONSE, 2, OK)]
        assert hardware_forwards(account.app) == [(C.HARDWARE, 3, "1-0\x00vw\x001\x00°F".encode())]
        msg_id = account.app.write(1, 0, "V2", 9)
        assert dev.receive() == (C.HARDWARE, msg_id, body("vw", 2, 9))
        dev.send(C.HARDWARE_SYNC, body("vr", 1), msg_id=4)
        assert dev.barrier() == [(C.HARDWARE, 4, "vw\x001\x00°F".encode())]
    assert app_messages(account.app, C.DEVICE_OFFLINE) == [(C.DEVICE_OFFLINE, 0, b"1-0")]


@pytest.mark.parametrize("port", ["hw_ssl", "app"])
def test_bad_token_over_tls_then_retry(account, port):
    with device(account.server, port) as dev:
        dev.send(C.HARDWARE_LOGIN, "B" * 32, msg_id=1)
        assert dev.wait_closed() == [(C.RESPONSE, 1, S.INVALID_TOKEN)]
    with device(account.server, port) as dev:   # msg id 1: how the shared port tells a device
        assert dev.login(account.token, msg_id=1) == OK
        assert app_messages(account.app, C.HARDWARE_CONNECTED) == [
            (C.HARDWARE_CONNECTED, 1, b"1-0")]


@pytest.mark.parametrize("command", [C.HARDWARE_LOGIN, C.LOGIN], ids=["HARDWARE_LOGIN", "LOGIN"])
def test_hardware_login_is_sniffed_on_the_shared_tls_port(account, command):
    with device(account.server, "app") as dev:
        dev.send(command, account.token, msg_id=1)
        assert dev.receive() == (C.RESPONSE, 1, OK)
        assert bytes(dev.received) == bytes.fromhex("00 0001 00c8")   # 5-byte hardware framing


def test_hardware_login_with_another_msg_id_on_the_shared_tls_port_is_not_hardware(account):
    """framing §3: on 9443 only msg id 1 + 32-byte body selects hardware; this is an app LOGIN
    with a one-field body, answered with app framing (7-byte response)."""
    with device(account.server, "app", app_framing=True) as app:
        app.send(C.LOGIN, account.token, msg_id=2)
        assert app.receive() == (C.RESPONSE, 2, S.ILLEGAL_COMMAND)
        assert bytes(app.received) == bytes.fromhex("00 0002 00000002")


# -- rate limit (framing §7) ------------------------------------------------------------------------

def test_message_flood_gets_one_quota_limit_and_the_connection_survives(make_server):
    server = make_server(user_message_quota_limit=5)
    email = new_account(server)
    with open_app(server, email) as setup:
        setup.new_device("Flood")
        token = _token(setup, 1, 0)
    time.sleep(0.2)
    with open_app(server, email) as app, device(server) as dev:   # each sends 1 message here
        assert dev.login(token, msg_id=1) == OK
        for msg_id in range(2, 202):
            dev.send(C.HARDWARE, body("vw", 1, msg_id), msg_id=msg_id)
            time.sleep(0.008)                  # 200 writes over ~1.6 s: past the first meter tick
        replies = dev.receive_all(timeout=1.0)
        assert dev.is_open()
        quota = [m for m in replies if m[0] == C.RESPONSE]
        assert len(quota) == 1 and quota[0][2] == S.QUOTA_LIMIT, replies
        assert replies == quota
        first_dropped = quota[0][1]
        forwards = []
        while (message := app.receive(timeout=1.0)) is not None:
            if message[0] == C.HARDWARE:
                forwards.append(message[1])
        assert forwards == list(range(2, first_dropped)), (first_dropped, forwards)
        assert 5 < len(forwards) < 200


# -- idle timeout (framing §6) ------------------------------------------------------------------

def test_silent_device_is_closed_after_the_idle_timeout_and_a_pinging_one_stays(make_server):
    server = make_server(hard_socket_idle_timeout=1)      # ceil(1 × 2.3) = 3 s
    email = new_account(server)
    with open_app(server, email) as app:
        app.new_device("Idle")
        token = _token(app, 1, 0)
        with device(server) as silent, device(server) as pinging:
            assert pinging.login(token) == OK
            assert silent.login(token) == OK
            start = time.monotonic()
            closed_at = None
            msg_id = 10
            while time.monotonic() - start < 6.0:
                msg_id += 1
                pinging.send(C.PING, b"", msg_id)
                assert pinging.receive() == (C.RESPONSE, msg_id, OK)
                if closed_at is None:
                    try:
                        assert silent.receive(timeout=0.5) is None
                    except ConnectionClosed:
                        closed_at = time.monotonic() - start
                else:
                    time.sleep(0.5)
            assert closed_at is not None, "silent device still open after 6 s"
            assert 2.5 <= closed_at <= 5.0, closed_at
            assert pinging.is_open()
        assert app_messages(app, C.DEVICE_OFFLINE, count=2)
