"""The mobile-app protocol against the real server (spec/app.md, framing.md §2.2 and §9).

Every test starts the real blynklite server (conftest `server` / `make_server`) and talks to it over
real sockets: the app side through `AppClient` over TLS (7-byte headers), devices through `Device`, a
raw plain-TCP hardware connection (5-byte `>BHH` headers) on the hardware port.

Status and command codes are written out here as numbers from the spec, not imported from the
implementation, so a wrong constant in the server cannot make its own test pass. Every wait is bounded.
"""
import base64
import collections
import json
import re
import socket
import struct
import time
import zlib

import pytest

from blynklite.client import AppClient, password_hash

WAIT = 5.0      # bound for anything the server should do promptly
QUIET = 0.5     # how long "nothing arrives" is watched for
SEP = "\0"

# commands (spec/commands.md §1)
RESPONSE, REGISTER, LOGIN, PING = 0, 1, 2, 6
HARDWARE_CONNECTED = 4
ACTIVATE, DEACTIVATE, REFRESH_TOKEN = 7, 8, 9
HARDWARE, CREATE_DASH, UPDATE_DASH, DELETE_DASH, LOAD_PROFILE, APP_SYNC = 20, 21, 22, 23, 24, 25
ADD_PUSH_TOKEN, HARDWARE_LOGIN = 27, 29
CREATE_WIDGET, UPDATE_WIDGET, DELETE_WIDGET, GET_ENERGY, UPDATE_PROJECT_SETTINGS = 33, 34, 35, 36, 38
GET_SERVER = 40
CREATE_DEVICE, UPDATE_DEVICE, DELETE_DEVICE, GET_DEVICES, MOBILE_GET_DEVICE = 42, 43, 44, 45, 50
LOGOUT, DEVICE_OFFLINE, OUTDATED_APP_NOTIFICATION = 66, 71, 72

# statuses (spec/commands.md §2)
OK = 200
QUOTA_LIMIT, ILLEGAL_COMMAND, USER_NOT_REGISTERED, USER_ALREADY_REGISTERED = 1, 2, 3, 4
USER_NOT_AUTHENTICATED, NOT_ALLOWED, DEVICE_NOT_IN_NETWORK, INVALID_TOKEN = 5, 6, 7, 9
ILLEGAL_COMMAND_BODY, ENERGY_LIMIT = 11, 21

SYNC_ID = 1111
HASH_VECTOR = "/pyQf3JCj5XoczfsYJ4LUb+y0DONGMl/AFzLiBTo8LA="  # "123" + "test@gmail.com" (app.md §2.3)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")

EMAIL = "user@blynk.cc"
PASSWORD = "secret"
BUTTON_D1 = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "Some Text",
             "pinType": "DIGITAL", "pin": 1}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def join(*fields):
    return SEP.join(str(f) for f in fields)


def connect(server, timeout=WAIT):
    return AppClient(server.host, server.app_port, tls=True, timeout=timeout)


def app(server, email=EMAIL, password=PASSWORD, register=True, version="2.27.0"):
    """A logged-in app connection (the account is registered first unless `register` is False)."""
    client = connect(server)
    if register:
        assert client.register(email, password) in (OK, USER_ALREADY_REGISTERED)
    assert client.login(email, password, version=version) == OK
    return client


def status(client, command, *fields):
    """Send a request answered by a bare response and return its status."""
    reply = client.request(command, join(*fields))
    assert reply[0] == RESPONSE, f"expected a response, got {reply}"
    return reply[2]


def widget(**fields):
    base = {"x": 0, "y": 0, "width": 1, "height": 1}
    base.update(fields)
    return json.dumps(base)


def take(client, wanted, timeout=WAIT, what="message"):
    """The first pushed message (inbox first, then the socket) for which `wanted` holds."""
    for message in list(client.inbox):
        if wanted(message):
            client.inbox.remove(message)
            return message
    message = client.wait_for(wanted, timeout)
    assert message is not None, f"no {what} within {timeout} s; got meanwhile {list(client.inbox)}"
    return message


def assert_nothing(client, wanted=lambda m: True, seconds=QUIET):
    """No message matching `wanted` arrives within `seconds` (and none is already waiting)."""
    assert not [m for m in client.inbox if wanted(m)], list(client.inbox)
    assert client.wait_for(wanted, seconds) is None


def assert_closed(client, timeout=WAIT):
    """The server closes the connection within `timeout`; returns what arrived before the close."""
    before = list(client.inbox)
    client.inbox.clear()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"connection still open after {timeout} s; received {before}"
        try:
            message = client.receive(remaining)
        except OSError:  # ConnectionError on EOF, or an SSL error on an abrupt close
            return before
        if message is not None:
            before.append(message)


def sync_stream(client, dash_id, timeout=WAIT, settle=QUIET):
    """APP_SYNC: the status, then the set of (command, msg id, body text) replayed after it."""
    replies = client.sync(dash_id, settle=settle)
    return replies[0], {(c, i, p.decode()) for c, i, p in replies[1:]}


def profile_of(client):
    command, _, payload = client.request(LOAD_PROFILE, b"")
    assert command == LOAD_PROFILE
    return json.loads(zlib.decompress(payload))


def dash_of(client, dash_id):
    return next(d for d in profile_of(client)["dashBoards"] if d["id"] == dash_id)


def create_device(client, dash_id=1, device_id=0, name="My Device"):
    command, _, payload = client.request(
        CREATE_DEVICE, join(dash_id, json.dumps({"id": device_id, "name": name, "boardType": "ESP8266"})))
    assert command == CREATE_DEVICE, (command, payload)
    return json.loads(payload)


def project(client, dash_id=1, widgets=(), device=True):
    """Create dashboard `dash_id` with `widgets` and device 0; returns the device token (or None)."""
    assert status(client, CREATE_DASH, json.dumps({"id": dash_id, "name": "test board"})) == OK
    for w in widgets:
        assert status(client, CREATE_WIDGET, dash_id, json.dumps(w)) == OK
    return create_device(client, dash_id)["token"] if device else None


class Device:
    """A raw hardware connection: plain TCP, 5-byte `>BHH` headers (framing.md §2.1)."""

    def __init__(self, server, timeout=WAIT):
        self.sock = socket.create_connection((server.host, server.hw_port), timeout=timeout)
        self.buffer = b""
        self.frames = collections.deque()
        self.seen = []
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send(self, command, body="", msg_id=None):
        if msg_id is None:
            msg_id, self.next_id = self.next_id, self.next_id + 1
        data = body.encode() if isinstance(body, str) else body
        self.sock.sendall(struct.pack(">BHH", command, msg_id, len(data)) + data)
        return msg_id

    def login(self, token):
        msg_id = self.send(HARDWARE_LOGIN, token)
        reply = self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, what="login reply")
        return reply[2]

    def write(self, pin, value):
        return self.send(HARDWARE, join(pin[0].lower() + "w", pin[1:], value))

    def barrier(self):
        """PING and wait for its OK: everything sent before it has been processed by the server."""
        msg_id = self.send(PING)
        assert self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, what="PING reply")[2] == OK

    def receive(self, timeout):
        """Next frame (command, msg id, status or body text); None on timeout; ConnectionError on EOF."""
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                raise ConnectionError("closed by the server")
            self.buffer += data
            while len(self.buffer) >= 5:
                command, msg_id, size = struct.unpack(">BHH", self.buffer[:5])
                if command == RESPONSE:
                    self.frames.append((command, msg_id, size))
                    self.buffer = self.buffer[5:]
                    continue
                if len(self.buffer) < 5 + size:
                    break
                self.frames.append((command, msg_id, self.buffer[5:5 + size].decode()))
                self.buffer = self.buffer[5 + size:]
        frame = self.frames.popleft()
        self.seen.append(frame)
        return frame

    def expect(self, wanted, timeout=WAIT, what="frame"):
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            frame = self.receive(remaining)
            if frame is not None and wanted(frame):
                return frame
        raise AssertionError(f"device got no {what} within {timeout} s; frames seen: {self.seen}")

    def assert_closed(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.receive(remaining)
            except OSError:
                return
        raise AssertionError(f"hardware connection still open after {timeout} s; seen {self.seen}")


def online_device(server, token, app_client=None):
    """A device logged in with `token`; if an app is given, wait for its HARDWARE_CONNECTED."""
    device = Device(server)
    assert device.login(token) == OK
    if app_client is not None:
        take(app_client, lambda m: m[0] == HARDWARE_CONNECTED, what="HARDWARE_CONNECTED")
    return device


# --------------------------------------------------------------------------------------------------
# §2: before login — password hash, REGISTER, LOGIN, GET_SERVER
# --------------------------------------------------------------------------------------------------

def test_password_hash_matches_the_spec_test_vector():
    assert password_hash("123", "test@gmail.com") == HASH_VECTOR
    # the e-mail is lower-cased before hashing; the inner digest is raw bytes, standard Base64 outside
    assert password_hash("123", "Test@GMAIL.com") == HASH_VECTOR
    assert len(base64.b64decode(HASH_VECTOR)) == 32


def test_server_compares_the_hash_as_sent(server):
    with connect(server) as client:
        assert status(client, REGISTER, "test@gmail.com", HASH_VECTOR, "Blynk") == OK
        assert status(client, LOGIN, "test@gmail.com", HASH_VECTOR, "Android", "2.27.0", "Blynk") == OK


def test_register_then_duplicate_is_user_already_registered(server):
    with connect(server) as client:
        assert status(client, REGISTER, EMAIL, password_hash(PASSWORD, EMAIL), "Blynk") == OK
    with connect(server) as client:
        assert status(client, REGISTER, EMAIL, password_hash("other", EMAIL), "Blynk") == \
            USER_ALREADY_REGISTERED
        # the account kept its first password
        assert status(client, LOGIN, EMAIL, password_hash(PASSWORD, EMAIL)) == OK


@pytest.mark.parametrize("body", [
    join("te?st@test.com", HASH_VECTOR, "Blynk"),   # '?' is refused explicitly
    join("no-at-sign.com", HASH_VECTOR, "Blynk"),
    join("", HASH_VECTOR, "Blynk"),
    join(EMAIL, HASH_VECTOR),                        # fewer than 3 fields
], ids=["question-mark", "no-at", "empty", "two-fields"])
def test_register_refuses_bad_bodies_with_illegal_command(server, body):
    with connect(server) as client:
        assert status(client, REGISTER, body) == ILLEGAL_COMMAND


def test_second_register_on_a_connection_is_not_allowed_and_closes(server):
    with connect(server) as client:
        assert status(client, REGISTER, "one@blynk.cc", password_hash("p", "one@blynk.cc"), "Blynk") == OK
        assert status(client, REGISTER, "two@blynk.cc", password_hash("p", "two@blynk.cc"), "Blynk") == \
            NOT_ALLOWED
        assert_closed(client)
    with connect(server) as client:  # the refused registration did not create the account
        assert status(client, LOGIN, "two@blynk.cc", password_hash("p", "two@blynk.cc")) == \
            USER_NOT_REGISTERED


def test_register_does_not_log_in_but_login_on_the_same_connection_does(server):
    with connect(server) as client:
        assert status(client, REGISTER, EMAIL, password_hash(PASSWORD, EMAIL), "Blynk") == OK
        assert status(client, LOGIN, EMAIL, password_hash(PASSWORD, EMAIL), "Android", "2.27.0",
                      "Blynk") == OK
        assert status(client, PING) == OK


def test_login_statuses(server):
    """A failed login is answered and then closed (tests/test_login_guard.py); upstream keeps it open."""
    with connect(server) as client:
        assert status(client, LOGIN, "nobody@blynk.cc", password_hash("x", "nobody@blynk.cc")) == \
            USER_NOT_REGISTERED
    with connect(server) as client:
        assert status(client, REGISTER, EMAIL, password_hash(PASSWORD, EMAIL), "Blynk") == OK
        assert status(client, LOGIN, EMAIL, password_hash("wrong", EMAIL)) == USER_NOT_AUTHENTICATED
    with connect(server) as client:
        assert status(client, LOGIN, EMAIL + "-no-second-field") == ILLEGAL_COMMAND
        assert status(client, LOGIN, EMAIL, password_hash(PASSWORD, EMAIL)) == OK


def test_email_is_trimmed_and_lower_cased_on_register_and_lower_cased_on_login(server):
    email = "Mixed.Case@Blynk.CC"
    pass_hash = password_hash(PASSWORD, email)  # hashed with the lower-cased e-mail
    with connect(server) as client:
        assert status(client, REGISTER, "  " + email + " ", pass_hash, "Blynk") == OK
    with connect(server) as client:
        assert status(client, REGISTER, email.lower(), pass_hash, "Blynk") == USER_ALREADY_REGISTERED
    for spelling in (email.lower(), email.upper(), email):
        with connect(server) as client:
            assert status(client, LOGIN, spelling, pass_hash, "Android", "2.27.0", "Blynk") == OK, spelling


@pytest.mark.parametrize("body, expected", [
    (join("test@gmmail.com", "Blynk"), (GET_SERVER, b"127.0.0.1")),
    ("", (RESPONSE, ILLEGAL_COMMAND)),
    (join("test@gmmail.com", ""), (RESPONSE, ILLEGAL_COMMAND)),
    (join("test@gmmail.com", "x" * 101), (RESPONSE, ILLEGAL_COMMAND)),
    (join("not an email", "Blynk"), (RESPONSE, ILLEGAL_COMMAND_BODY)),
], ids=["ok", "empty", "empty-app", "long-app", "bad-email"])
def test_get_server(server, body, expected):
    with connect(server) as client:
        command, _, payload = client.request(GET_SERVER, body)
        assert (command, payload) == expected


def test_get_server_is_ignored_after_login(server):
    with app(server) as client:
        msg_id = client.send(GET_SERVER, join(EMAIL, "Blynk"))
        assert_nothing(client, lambda m: m[1] == msg_id)
        assert status(client, PING) == OK


@pytest.mark.parametrize("command, body", [
    (LOAD_PROFILE, ""), (PING, ""), (CREATE_DASH, '{"id":1,"name":"x"}'), (HARDWARE, join(1, "vw", 1, 1)),
], ids=["load-profile", "ping", "create-dash", "hardware"])
def test_commands_before_login_close_the_connection_without_reply(server, command, body):
    with connect(server) as client:
        client.send(command, body)
        before_close = assert_closed(client)
        assert before_close == []


# --------------------------------------------------------------------------------------------------
# §4.5 LOAD_PROFILE_GZIPPED, §4.6 dashboards, §4.7 widgets and energy
# --------------------------------------------------------------------------------------------------

def test_load_profile_is_command_24_with_zlib_json(server):
    with app(server) as client:
        assert status(client, CREATE_DASH, '{"id":1,"name":"test board"}') == OK
        assert status(client, CREATE_WIDGET, 1, json.dumps(BUTTON_D1)) == OK
        command, msg_id, payload = client.request(LOAD_PROFILE, b"")
        assert command == LOAD_PROFILE
        assert payload[:2] != b"\x1f\x8b", "gzip framing; the reply must be zlib (RFC 1950)"
        assert payload[0] & 0x0F == 8 and int.from_bytes(payload[:2], "big") % 31 == 0, payload[:2]
        profile = json.loads(zlib.decompress(payload).decode("utf-8"))

    (dash,) = profile["dashBoards"]
    assert dash["createdAt"] > 0 and "updatedAt" in dash
    expected_dash = {"id": 1, "parentId": -1, "isPreview": False, "name": "test board", "theme": "Blynk",
                     "keepScreenOn": False, "isAppConnectedOn": False, "isNotificationsOff": False,
                     "isShared": False, "isActive": False, "widgetBackgroundOn": False, "color": -1,
                     "isDefaultColor": True}
    assert {k: dash.get(k) for k in expected_dash} == expected_dash
    # nothing but the documented fields (empty devices/tags arrays are omitted, app.md §5)
    assert set(dash) <= set(expected_dash) | {"createdAt", "updatedAt", "widgets"}, set(dash)
    (button,) = dash["widgets"]
    assert {k: button.get(k) for k in BUTTON_D1} == BUTTON_D1


def test_load_profile_of_one_dashboard_and_unknown_dashboard(server):
    with app(server) as client:
        project(client, 1, device=False)
        assert status(client, CREATE_DASH, '{"id":2,"name":"second"}') == OK
        command, _, payload = client.request(LOAD_PROFILE, "2")
        assert command == LOAD_PROFILE
        dash = json.loads(zlib.decompress(payload))
        assert (dash["id"], dash["name"]) == (2, "second")
        assert client.request(LOAD_PROFILE, "3")[::2] == (RESPONSE, ILLEGAL_COMMAND)


def test_dashboard_crud_statuses(server):
    with app(server) as client:
        assert status(client, CREATE_DASH, '{"id":1,"name":"first"}') == OK
        assert status(client, CREATE_DASH, '{"id":1,"name":"again"}') == NOT_ALLOWED
        assert status(client, CREATE_DASH, '{"id":2,"name":') == ILLEGAL_COMMAND_BODY
        assert status(client, CREATE_DASH, "") == ILLEGAL_COMMAND
        assert status(client, UPDATE_DASH, '{"id":1,"name":"renamed"}') == OK
        assert status(client, UPDATE_DASH, '{"id":7,"name":"ghost"}') == ILLEGAL_COMMAND
        assert status(client, UPDATE_DASH, '{"id":1,') == ILLEGAL_COMMAND_BODY
        assert [(d["id"], d["name"]) for d in profile_of(client)["dashBoards"]] == [(1, "renamed")]
        assert status(client, DELETE_DASH, "7") == ILLEGAL_COMMAND
        assert status(client, DELETE_DASH, "1") == OK
        assert profile_of(client).get("dashBoards", []) == []


def test_dashboard_limit_is_quota_limit(make_server):
    server = make_server(user_dashboard_max_limit=1)
    with app(server) as client:
        assert status(client, CREATE_DASH, '{"id":1,"name":"one"}') == OK
        assert status(client, CREATE_DASH, '{"id":2,"name":"two"}') == QUOTA_LIMIT
        assert [d["id"] for d in profile_of(client)["dashBoards"]] == [1]


def test_widget_statuses(server):
    with app(server) as client:
        project(client, 1, device=False)
        assert status(client, CREATE_WIDGET, 1, json.dumps(BUTTON_D1)) == OK
        assert status(client, CREATE_WIDGET, 1, json.dumps(BUTTON_D1)) == NOT_ALLOWED   # same id
        assert status(client, CREATE_WIDGET, 9, json.dumps(dict(BUTTON_D1, id=2))) == ILLEGAL_COMMAND
        assert status(client, CREATE_WIDGET, 1, '{"id":3,') == ILLEGAL_COMMAND_BODY
        assert status(client, CREATE_WIDGET, 1, widget(type="BUTTON", id=4, width=0)) == NOT_ALLOWED
        too_big = widget(type="BUTTON", id=5, label="x" * 25_000)
        assert len(too_big) > 20 * 1024
        assert status(client, CREATE_WIDGET, 1, too_big) == NOT_ALLOWED
        assert status(client, UPDATE_WIDGET, 1, json.dumps(dict(BUTTON_D1, label="Renamed"))) == OK
        assert status(client, UPDATE_WIDGET, 1, json.dumps(dict(BUTTON_D1, id=99))) == ILLEGAL_COMMAND
        assert status(client, DELETE_WIDGET, 1, 99) == ILLEGAL_COMMAND
        assert [w["label"] for w in dash_of(client, 1)["widgets"]] == ["Renamed"]
        assert status(client, DELETE_WIDGET, 1, 1) == OK
        assert dash_of(client, 1).get("widgets", []) == []


def test_energy_is_charged_refunded_and_enforced(make_server):
    server = make_server(initial_energy=1000)
    with app(server) as client:
        def energy():
            command, _, payload = client.request(GET_ENERGY, b"")
            assert command == GET_ENERGY
            return payload.decode()

        assert energy() == "1000"
        project(client, 1, device=False)
        assert status(client, CREATE_WIDGET, 1, widget(type="BUTTON", id=1, pinType="DIGITAL", pin=1)) == OK
        assert status(client, CREATE_WIDGET, 1, widget(type="BUTTON", id=2, pinType="DIGITAL", pin=2)) == OK
        assert energy() == "600"
        assert status(client, DELETE_WIDGET, 1, 2) == OK
        assert energy() == "800"
        # a Device Selector costs 1900 (app.md §6)
        assert status(client, CREATE_WIDGET, 1, widget(type="DEVICE_SELECTOR", id=3)) == ENERGY_LIMIT
        assert energy() == "800"
        assert [w["id"] for w in dash_of(client, 1)["widgets"]] == [1]


def test_update_project_settings_changes_the_name(server):
    with app(server) as client:
        project(client, 1, device=False)
        settings = {"name": "Renamed project", "theme": "BlynkLight", "isNotificationsOff": True}
        assert status(client, UPDATE_PROJECT_SETTINGS, 1, json.dumps(settings)) == OK
        dash = dash_of(client, 1)
        assert (dash["name"], dash["theme"], dash["isNotificationsOff"]) == \
            ("Renamed project", "BlynkLight", True)
        assert status(client, UPDATE_PROJECT_SETTINGS, 5, json.dumps(settings)) == ILLEGAL_COMMAND
        assert status(client, UPDATE_PROJECT_SETTINGS, 1, '{"name":') == ILLEGAL_COMMAND_BODY


# --------------------------------------------------------------------------------------------------
# §4.8 devices and tokens
# --------------------------------------------------------------------------------------------------

def test_device_crud(server):
    with app(server) as client:
        project(client, 1, device=False)
        assert client.request(GET_DEVICES, "1")[::2] == (GET_DEVICES, b"[]")
        created = create_device(client, 1, 1, "My Device")
        assert TOKEN_RE.fullmatch(created["token"]), created
        assert {k: created.get(k) for k in ("id", "name", "boardType", "status")} == \
            {"id": 1, "name": "My Device", "boardType": "ESP8266", "status": "OFFLINE"}

        command, _, payload = client.request(GET_DEVICES, "1")
        assert command == GET_DEVICES
        (listed,) = json.loads(payload)
        assert (listed["id"], listed["name"], listed["token"]) == (1, "My Device", created["token"])

        command, _, payload = client.request(MOBILE_GET_DEVICE, join(1, 1))
        assert command == MOBILE_GET_DEVICE
        assert json.loads(payload)["token"] == created["token"]
        assert client.request(MOBILE_GET_DEVICE, join(1, 5))[::2] == (RESPONSE, ILLEGAL_COMMAND_BODY)

        renamed = json.dumps({"id": 1, "name": "Kitchen", "boardType": "ESP32 Dev Board"})
        assert status(client, UPDATE_DEVICE, 1, renamed) == OK
        assert status(client, UPDATE_DEVICE, 1, json.dumps({"id": 5, "name": "Ghost"})) == \
            ILLEGAL_COMMAND_BODY
        (listed,) = json.loads(client.request(GET_DEVICES, "1")[2])
        assert (listed["name"], listed["token"]) == ("Kitchen", created["token"])

        assert status(client, DELETE_DEVICE, 1, 5) == ILLEGAL_COMMAND
        assert status(client, DELETE_DEVICE, 1, 1) == OK
        assert client.request(GET_DEVICES, "1")[::2] == (GET_DEVICES, b"[]")
        assert client.request(GET_DEVICES, "4")[::2] == (RESPONSE, ILLEGAL_COMMAND)
    device = Device(server)
    assert device.login(created["token"]) == INVALID_TOKEN  # the deleted device's token is forgotten
    device.close()


def test_create_device_duplicate_id_is_not_allowed(server):
    with app(server) as client:
        project(client, 1)
        command, _, payload = client.request(
            CREATE_DEVICE, join(1, json.dumps({"id": 0, "name": "Again", "boardType": "ESP8266"})))
        assert (command, payload) == (RESPONSE, NOT_ALLOWED)


def test_device_limit_allows_limit_plus_one(make_server):
    server = make_server(user_devices_limit=1)
    with app(server) as client:
        project(client, 1, device=False)
        create_device(client, 1, 0)
        create_device(client, 1, 1)
        command, _, payload = client.request(
            CREATE_DEVICE, join(1, json.dumps({"id": 2, "name": "Third", "boardType": "ESP8266"})))
        assert (command, payload) == (RESPONSE, NOT_ALLOWED)
        assert len(json.loads(client.request(GET_DEVICES, "1")[2])) == 2


def test_refresh_token_disconnects_the_device_and_replaces_the_token(server):
    with app(server) as client:
        old_token = project(client, 1)
        assert status(client, ACTIVATE, "1") == DEVICE_NOT_IN_NETWORK  # active, nothing online yet
        device = online_device(server, old_token, client)

        command, _, payload = client.request(REFRESH_TOKEN, join(1, 0))
        assert command == REFRESH_TOKEN
        new_token = payload.decode()
        assert TOKEN_RE.fullmatch(new_token) and new_token != old_token
        device.assert_closed()
        take(client, lambda m: m[:2] == (DEVICE_OFFLINE, 0) and m[2] == b"1-0", what="DEVICE_OFFLINE")

        old = Device(server)
        assert old.login(old_token) == INVALID_TOKEN
        old.close()
        fresh = online_device(server, new_token, client)
        fresh.close()
        assert client.request(REFRESH_TOKEN, join(1, 9))[::2] == (RESPONSE, ILLEGAL_COMMAND_BODY)
        (listed,) = json.loads(client.request(GET_DEVICES, "1")[2])
        assert listed["token"] == new_token


# --------------------------------------------------------------------------------------------------
# §4.3–4.4 ACTIVATE / DEACTIVATE, §4.2 APP_SYNC, §4.1 HARDWARE from the app
# --------------------------------------------------------------------------------------------------

def test_activate_without_device_online_is_device_not_in_network(server):
    with app(server) as client:
        project(client, 1, [BUTTON_D1])
        assert status(client, ACTIVATE, "1") == DEVICE_NOT_IN_NETWORK
        assert dash_of(client, 1)["isActive"] is True
        assert status(client, ACTIVATE, "9") == ILLEGAL_COMMAND
        assert status(client, DEACTIVATE, "9") == ILLEGAL_COMMAND


def test_activate_with_device_online_sends_pm_echoes_and_syncs(server):
    with app(server) as first:
        token = project(first, 1, [BUTTON_D1])
        device = online_device(server, token, first)     # dash inactive: no pm on login
        device.write("D1", "1")                            # stored in the button
        device.write("V24", "12.5")                        # no widget: pinsStorage
        device.barrier()
        with app(server) as second:
            msg_id = first.send(ACTIVATE, "1")
            pm = device.expect(lambda f: f[0] == HARDWARE, what="pm")
            assert pm == (HARDWARE, 1, join("pm", 1, "out"))
            reply = first.wait_for(lambda m: m[0] == RESPONSE and m[1] == msg_id, WAIT)
            assert reply == (RESPONSE, msg_id, OK)
            assert not [m for m in first.inbox if m[0] == APP_SYNC], "APP_SYNC came before the OK"
            expected_sync = {(APP_SYNC, SYNC_ID, join("1-0", "dw", 1, 1)),
                             (APP_SYNC, SYNC_ID, join("1-0", "vw", 24, "12.5"))}
            for client in (first, second):
                got = set()
                while got != expected_sync:
                    m = take(client, lambda m: m[:2] == (APP_SYNC, SYNC_ID), what="activation APP_SYNC")
                    got.add((m[0], m[1], m[2].decode()))
                    assert got <= expected_sync, got
            echo = take(second, lambda m: m[0] == ACTIVATE, what="ACTIVATE echo")
            assert echo == (ACTIVATE, msg_id, b"1")
            assert_nothing(first, lambda m: m[0] == ACTIVATE)

            msg_id = first.send(DEACTIVATE, "1")
            assert take(first, lambda m: m[0] == RESPONSE and m[1] == msg_id)[2] == OK
            assert take(second, lambda m: m[0] == DEACTIVATE, what="DEACTIVATE echo") == \
                (DEACTIVATE, msg_id, b"1")
        assert dash_of(first, 1)["isActive"] is False
        device.close()


def test_device_login_on_active_dashboard_gets_pm(server):
    with app(server) as client:
        led_d7 = {"type": "LED", "id": 2, "x": 0, "y": 1, "width": 1, "height": 1, "pinType": "DIGITAL",
                  "pin": 7}
        virtual = {"type": "BUTTON", "id": 3, "x": 1, "y": 1, "width": 1, "height": 1,
                   "pinType": "VIRTUAL", "pin": 5}   # virtual pins never appear in pm
        token = project(client, 1, [BUTTON_D1, led_d7, virtual])
        status(client, ACTIVATE, "1")
        device = Device(server)
        assert device.login(token) == OK
        pm = device.expect(lambda f: f[0] == HARDWARE, what="pm")
        assert pm[:2] == (HARDWARE, 1)
        fields = pm[2].split(SEP)
        assert fields[0] == "pm"
        assert dict(zip(fields[1::2], fields[2::2])) == {"1": "out", "7": "in"}
        device.close()


def test_app_sync_replays_stored_values(server):
    with app(server) as client:
        token = project(client, 1, [dict(BUTTON_D1, pinType="VIRTUAL", pin=3)])
        device = online_device(server, token, client)
        device.write("V24", "12.5")
        device.write("V3", "1")
        device.write("V40", "a b")
        device.barrier()
        reply, stream = sync_stream(client, 1)
        assert reply[0] == RESPONSE and reply[2] == OK
        assert stream == {(APP_SYNC, SYNC_ID, join("1-0", "vw", 24, "12.5")),
                          (APP_SYNC, SYNC_ID, join("1-0", "vw", 3, "1")),
                          (APP_SYNC, SYNC_ID, join("1-0", "vw", 40, "a b"))}
        assert status(client, APP_SYNC, "1-0") == OK
        assert status(client, APP_SYNC, "8") == ILLEGAL_COMMAND
        device.close()


def test_app_write_reaches_the_device_and_is_echoed_to_other_apps(server):
    with app(server) as writer, app(server) as other:
        token = project(writer, 1)
        writer.activate(1)
        device = online_device(server, token, writer)
        take(other, lambda m: m[0] == HARDWARE_CONNECTED)

        body = join("1-0", "vw", 1, 42)
        msg_id = writer.send(HARDWARE, body)
        assert device.expect(lambda f: f[0] == HARDWARE, what="app write") == \
            (HARDWARE, msg_id, join("vw", 1, 42))
        assert take(other, lambda m: m[0] == APP_SYNC and m[1] != SYNC_ID, what="APP_SYNC echo") == \
            (APP_SYNC, msg_id, body.encode())
        assert_nothing(writer, lambda m: m[1] == msg_id)   # no OK for a delivered write, no self-echo

        # the value is stored: a later APP_SYNC replays it
        assert (APP_SYNC, SYNC_ID, join("1-0", "vw", 1, 42)) in sync_stream(writer, 1)[1]

        device.close()
        take(writer, lambda m: m[0] == DEVICE_OFFLINE)
        msg_id = writer.send(HARDWARE, join(1, "vw", 1, 43))
        assert take(writer, lambda m: m[0] == RESPONSE and m[1] == msg_id) == \
            (RESPONSE, msg_id, DEVICE_NOT_IN_NETWORK)


def test_app_write_to_an_unknown_dashboard_is_illegal_command(server):
    with app(server) as client:
        project(client, 1, device=False)
        msg_id = client.send(HARDWARE, join(5, "vw", 1, 1))
        assert take(client, lambda m: m[1] == msg_id) == (RESPONSE, msg_id, ILLEGAL_COMMAND)


# --------------------------------------------------------------------------------------------------
# §3, §4.11: PING, ADD_PUSH_TOKEN, LOGOUT; §2.4 the outdated-app hook
# --------------------------------------------------------------------------------------------------

def test_ping_is_ok(server):
    with app(server) as client:
        assert status(client, PING) == OK


def test_add_push_token_needs_a_notification_widget(server):
    with app(server) as client:
        project(client, 1, device=False)
        assert status(client, ADD_PUSH_TOKEN, 1, "uid1", "push-token-1") == NOT_ALLOWED
        assert status(client, CREATE_WIDGET, 1, widget(type="NOTIFICATION", id=9)) == OK
        assert status(client, ADD_PUSH_TOKEN, 1, "uid1", "push-token-1") == OK
        (notification,) = dash_of(client, 1)["widgets"]
        assert notification.get("androidTokens") == {"uid1": "push-token-1"}   # logged in as Android


def test_logout_replies_ok_then_closes(server):
    with app(server) as client:
        msg_id = client.send(LOGOUT, b"")
        arrived = assert_closed(client)
        assert arrived == [(RESPONSE, msg_id, OK)]


def test_login_with_version_1_1_1_gets_outdated_app_notification(server):
    with connect(server) as client:
        assert client.register(EMAIL, PASSWORD) == OK
        msg_id = client.send(LOGIN, join(EMAIL, password_hash(PASSWORD, EMAIL), "Android", "1.1.1", "Blynk"))
        assert take(client, lambda m: m[1] == msg_id and m[0] == RESPONSE) == (RESPONSE, msg_id, OK)
        command, notice_id, text = take(client, lambda m: m[0] == OUTDATED_APP_NOTIFICATION,
                                        what="OUTDATED_APP_NOTIFICATION")
        assert notice_id == msg_id and text.strip()


def test_current_version_gets_no_outdated_notification(server):
    with app(server) as client:
        assert_nothing(client, lambda m: m[0] == OUTDATED_APP_NOTIFICATION)


# --------------------------------------------------------------------------------------------------
# finer points of §4.3, §4.6–4.8 and §4.11
# --------------------------------------------------------------------------------------------------

def test_activate_reports_each_offline_device_with_msg_id_1(server):
    with app(server) as client:
        token = project(client, 1, [BUTTON_D1])                       # device 0, button on D1
        create_device(client, 1, 1, "Offline one")
        assert status(client, CREATE_WIDGET, 1, json.dumps(dict(BUTTON_D1, id=2, deviceId=1))) == OK
        device = online_device(server, token, client)
        msg_id = client.send(ACTIVATE, "1")
        assert msg_id != 1
        assert device.expect(lambda f: f[0] == HARDWARE, what="pm") == (HARDWARE, 1, join("pm", 1, "out"))
        assert take(client, lambda m: m[:2] == (RESPONSE, 1)) == (RESPONSE, 1, DEVICE_NOT_IN_NETWORK)
        assert take(client, lambda m: m[:2] == (RESPONSE, msg_id)) == (RESPONSE, msg_id, OK)
        device.close()


def test_activate_with_notifications_off_is_ok_without_devices(server):
    with app(server) as client:
        project(client, 1)
        assert status(client, UPDATE_PROJECT_SETTINGS, 1, '{"name":"quiet","isNotificationsOff":true}') == OK
        assert status(client, ACTIVATE, "1") == OK
        msg_id = client.send(HARDWARE, join("1-0", "vw", 1, 1))   # device offline, but no reply
        assert_nothing(client, lambda m: m[1] == msg_id)


def test_deactivate_with_empty_body_deactivates_all(server):
    with app(server) as client:
        project(client, 1, device=False)
        assert status(client, CREATE_DASH, '{"id":2,"name":"two"}') == OK
        for dash_id in (1, 2):
            status(client, ACTIVATE, dash_id)
        assert [d["isActive"] for d in profile_of(client)["dashBoards"]] == [True, True]
        assert status(client, DEACTIVATE, "") == OK
        assert [d["isActive"] for d in profile_of(client)["dashBoards"]] == [False, False]


def test_delete_dash_disconnects_its_devices_and_forgets_tokens(server):
    with app(server) as client:
        token = project(client, 1)
        client.activate(1)
        device = online_device(server, token, client)
        assert status(client, DELETE_DASH, "1") == OK
        device.assert_closed()
        take(client, lambda m: m == (DEVICE_OFFLINE, 0, b"1-0"), what="DEVICE_OFFLINE")
    again = Device(server)
    assert again.login(token) == INVALID_TOKEN
    again.close()


def test_create_dash_with_devices_gives_them_new_tokens_and_charges_widgets(make_server):
    server = make_server(initial_energy=1000)
    dash = {"id": 1, "name": "imported", "widgets": [dict(BUTTON_D1)],
            "devices": [{"id": 0, "name": "Imported", "boardType": "ESP8266", "token": "A" * 32,
                         "status": "ONLINE"}]}
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps(dash)) == OK
        assert client.request(GET_ENERGY, b"")[2] == b"800"
        (device,) = json.loads(client.request(GET_DEVICES, "1")[2])
        assert TOKEN_RE.fullmatch(device["token"]) and device["token"] != "A" * 32
        assert device["status"] == "OFFLINE"
        online_device(server, device["token"]).close()


def test_update_dash_keeps_devices_and_active_flag(server):
    with app(server) as client:
        token = project(client, 1, [BUTTON_D1])
        status(client, ACTIVATE, "1")
        body = {"id": 1, "name": "updated", "isActive": False, "devices": [],
                "widgets": [dict(BUTTON_D1, label="New label")]}
        assert status(client, UPDATE_DASH, json.dumps(body)) == OK
        dash = dash_of(client, 1)
        assert (dash["name"], dash["isActive"]) == ("updated", True)
        assert [d["token"] for d in dash["devices"]] == [token]
        assert [w["label"] for w in dash["widgets"]] == ["New label"]


@pytest.mark.parametrize("device", [
    {"id": 3, "name": "x" * 51, "boardType": "ESP8266"},
    {"id": 3, "name": "No board"},
], ids=["name-too-long", "no-board-type"])
def test_create_device_refuses_bad_devices_with_illegal_command(server, device):
    with app(server) as client:
        project(client, 1, device=False)
        assert client.request(CREATE_DEVICE, join(1, json.dumps(device)))[::2] == (RESPONSE, ILLEGAL_COMMAND)


def test_widget_takes_over_the_stored_pin_value(server):
    with app(server) as client:
        token = project(client, 1)
        device = online_device(server, token, client)
        device.write("V9", "stored")
        device.barrier()
        assert profile_of(client).get("pinsStorage") == {"1-0-v9": "stored"}
        assert status(client, CREATE_WIDGET, 1, json.dumps(dict(BUTTON_D1, pinType="VIRTUAL", pin=9))) == OK
        assert profile_of(client).get("pinsStorage", {}) == {}
        device.close()


def test_push_tokens_are_stored_per_os_and_removed_by_logout(server):
    notification = widget(type="NOTIFICATION", id=9)
    with app(server) as android:
        project(android, 1, device=False)
        assert status(android, CREATE_WIDGET, 1, notification) == OK
        assert status(android, ADD_PUSH_TOKEN, 1, "uid-a", "token-a") == OK
    with connect(server) as ios:
        assert ios.login(EMAIL, PASSWORD, os_name="iOS") == OK
        assert status(ios, ADD_PUSH_TOKEN, 1, "uid-i", "token-i") == OK
        (w,) = dash_of(ios, 1)["widgets"]
        assert (w.get("androidTokens"), w.get("iOSTokens")) == ({"uid-a": "token-a"}, {"uid-i": "token-i"})
        msg_id = ios.send(LOGOUT, "uid-a")
        assert assert_closed(ios) == [(RESPONSE, msg_id, OK)]
    with app(server, register=False) as client:
        (w,) = dash_of(client, 1)["widgets"]
        assert not w.get("androidTokens") and w.get("iOSTokens") == {"uid-i": "token-i"}


def test_login_forms_and_second_login_is_ignored(server):
    with connect(server) as client:
        assert client.register(EMAIL, PASSWORD) == OK
    pass_hash = password_hash(PASSWORD, EMAIL)
    for fields in ([EMAIL, pass_hash], [EMAIL, pass_hash, "iOS", "2.27.0"],
                   [EMAIL, pass_hash, "Android", "2.27.0", "Blynk"]):
        with connect(server) as client:
            assert status(client, LOGIN, *fields) == OK, fields
            msg_id = client.send(LOGIN, join(EMAIL, password_hash("wrong", EMAIL)))
            assert_nothing(client, lambda m: m[1] == msg_id, seconds=0.3)
            assert status(client, PING) == OK
    with connect(server) as client:   # another app name is another account
        assert status(client, LOGIN, EMAIL, pass_hash, "Android", "2.27.0", "OtherApp") == \
            USER_NOT_REGISTERED


def test_register_refuses_overlong_email(server):
    email = "x" * 250 + "@blynk.cc"
    with connect(server) as client:
        assert status(client, REGISTER, email, password_hash("p", email), "Blynk") == ILLEGAL_COMMAND


def test_dashboard_json_over_256_kb_is_not_allowed(server):
    with app(server) as client:
        body = json.dumps({"id": 1, "name": "x" * (260 * 1024)})
        assert status(client, CREATE_DASH, body) == NOT_ALLOWED


def test_update_widget_keeps_value_and_refuses_type_change(server):
    with app(server) as client:
        token = project(client, 1, [dict(BUTTON_D1, pinType="VIRTUAL", pin=2)])
        device = online_device(server, token, client)
        device.write("V2", "1")
        device.barrier()
        assert status(client, UPDATE_WIDGET, 1, json.dumps(dict(BUTTON_D1, pinType="VIRTUAL", pin=2,
                                                                label="Relabelled"))) == OK
        (w,) = dash_of(client, 1)["widgets"]
        assert (w["label"], w.get("value")) == ("Relabelled", "1")
        assert status(client, UPDATE_WIDGET, 1, widget(type="SWITCH", id=1, pinType="VIRTUAL", pin=2)) == \
            ILLEGAL_COMMAND
        device.close()


def test_app_hardware_body_errors(server):
    with app(server) as client:
        project(client, 1)
        client.activate(1)
        msg_id = client.send(HARDWARE, join("1-0", "vw", 1))          # no value
        assert take(client, lambda m: m[1] == msg_id) == (RESPONSE, msg_id, ILLEGAL_COMMAND_BODY)
        msg_id = client.send(HARDWARE, join("x-0", "vw", 1, 1))       # non-numeric dash id
        assert take(client, lambda m: m[1] == msg_id) == (RESPONSE, msg_id, ILLEGAL_COMMAND)
        msg_id = client.send(HARDWARE, "1")                           # no separator at all
        assert_nothing(client, lambda m: m[1] == msg_id)
        assert status(client, PING) == OK


def test_app_sync_for_one_target(server):
    with app(server) as client:
        tokens = [project(client, 1), create_device(client, 1, 1, "Second")["token"]]
        for device_id, token in enumerate(tokens):
            device = online_device(server, token)
            device.write("V1", f"from-{device_id}")
            device.barrier()
            device.close()
        replies = client.sync(1, 1, settle=QUIET)
        assert replies[0] == (RESPONSE, replies[0][1], OK)
        assert [r[2].decode() for r in replies[1:]] == [join("1-1", "vw", 1, "from-1")]


def test_delete_device_removes_its_stored_values(server):
    with app(server) as client:
        token = project(client, 1)
        device = online_device(server, token)
        device.write("V3", "gone soon")
        device.barrier()
        device.close()
        assert status(client, DELETE_DEVICE, 1, 0) == OK
        assert profile_of(client).get("pinsStorage", {}) == {}


def test_refresh_token_without_device_id_refreshes_device_0(server):
    with app(server) as client:
        old = project(client, 1)
        command, _, payload = client.request(REFRESH_TOKEN, "1")
        assert command == REFRESH_TOKEN and TOKEN_RE.fullmatch(payload.decode())
        assert payload.decode() != old
        assert json.loads(client.request(MOBILE_GET_DEVICE, join(1, 0))[2])["token"] == payload.decode()


# --------------------------------------------------------------------------------------------------
# details upstream's code decides (review of the spec against the server)
# --------------------------------------------------------------------------------------------------

def test_an_app_may_write_an_empty_value(server):
    from devices import RawClient
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p"})) == OK
        token = create_device(client)["token"]
        assert status(client, ACTIVATE, 1) in (OK, DEVICE_NOT_IN_NETWORK)
        with RawClient(server.host, server.hw_port) as device:
            assert device.login(token) == OK
            client.send(HARDWARE, join("1-0", "vw", 3, ""))      # a cleared Text Input
            assert device.receive()[::2] == (HARDWARE, b"vw\x003\x00")


@pytest.mark.parametrize("fields, expected", [
    ({"type": "BUTTON", "x": 0, "y": 0}, NOT_ALLOWED),
    ({"type": "BUTTON", "width": "wide", "height": 1}, ILLEGAL_COMMAND_BODY),
    ({"type": "NO_SUCH_WIDGET", "width": 1, "height": 1}, ILLEGAL_COMMAND_BODY),
], ids=["no-size", "size-not-a-number", "unknown-type"])
def test_widget_json_is_checked_like_upstream(server, fields, expected):
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p"})) == OK
        assert status(client, CREATE_WIDGET, 1, json.dumps({"id": 5, **fields})) == expected


def test_a_widget_with_a_null_device_id_belongs_to_device_0(server):
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p"})) == OK
        assert status(client, CREATE_WIDGET, 1, widget(id=5, type="BUTTON", pinType="VIRTUAL", pin=2,
                                                       deviceId=None, value="7")) == OK
        reply, stream = sync_stream(client, 1)
        assert reply[2] == OK and (APP_SYNC, SYNC_ID, "1-0\0vw\x002\x007") in stream


def test_deleting_a_widget_forgets_the_values_stored_for_its_pins(server):
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p"})) == OK
        assert status(client, CREATE_WIDGET, 1, widget(id=5, type="BUTTON", pinType="VIRTUAL", pin=2)) == OK
        assert status(client, DELETE_WIDGET, 1, 5) == OK
        assert "pinsStorage" not in profile_of(client)


def test_update_dash_resets_the_settings_it_leaves_out(server):
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p", "keepScreenOn": True})) == OK
        assert status(client, UPDATE_DASH, json.dumps({"id": 1, "name": "q"})) == OK
        dash = dash_of(client, 1)
        assert dash["name"] == "q" and not dash.get("keepScreenOn")


def test_a_new_account_has_an_empty_profile_object(server):
    with app(server, email="empty@blynk.cc") as client:
        assert profile_of(client) == {}


def test_map_and_advanced_lcd_remember_their_values_for_app_sync(server):
    from devices import RawClient
    with app(server) as client:
        assert status(client, CREATE_DASH, json.dumps({"id": 1, "name": "p"})) == OK
        token = create_device(client)["token"]
        assert status(client, CREATE_WIDGET, 1, widget(id=5, type="MAP", pinType="VIRTUAL", pin=8)) == OK
        lcd_pins = [{"pinType": "VIRTUAL", "pin": 9}, {"pinType": "VIRTUAL", "pin": 10}]
        assert status(client, CREATE_WIDGET, 1, widget(id=6, type="LCD", advancedMode=True, pins=lcd_pins)) == OK
        assert status(client, CREATE_WIDGET, 1, widget(id=7, type="PLAYER", pinType="VIRTUAL", pin=11)) == OK
        assert status(client, ACTIVATE, 1) in (OK, DEVICE_NOT_IN_NETWORK)
        with RawClient(server.host, server.hw_port) as device:
            assert device.login(token) == OK
            for point in ("1\x0050.1\x0030.2\x00a", "2\x0050.2\x0030.3\x00b"):
                device.send(HARDWARE, f"vw\x008\x00{point}".encode())
            for line in ("first", "second"):
                device.send(HARDWARE, f"vw\x009\x00{line}".encode())
            device.send(HARDWARE, b"vw\x0011\x00play")
            device.barrier()
        reply, stream = sync_stream(client, 1)
        assert reply[2] == OK
        for text in ("1-0\0vw\x008\x001\x0050.1\x0030.2\x00a", "1-0\0vw\x008\x002\x0050.2\x0030.3\x00b",
                     "1-0\0vw\x009\x00first", "1-0\0vw\x009\x00second"):
            assert (APP_SYNC, SYNC_ID, text) in stream
        players = [w for w in dash_of(client, 1)["widgets"] if w["type"] == "PLAYER"]
        assert players[0]["isOnPlay"] is True
