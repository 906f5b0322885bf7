"""No silence, ever: every command code walked before and after login, over TLS and over /dashws.

Each code gets upstream's answer for the body sent (a reply command, a status, or, where upstream's
MobileHandler has no case for the code, nothing at all while the connection stays open). A PING
barrier after each request proves what arrived and that the connection still works. Codes and
statuses are written out as numbers from spec/commands.md so a wrong constant in the server cannot
make its own test pass. History codes (28, 60, 61, 76, 77-80) belong to the history work and are
left out here.
"""
import json
import struct

import pytest

from blynklite.client import AppClient, password_hash
from devices import PASSWORD, WAIT, ConnectionClosed, RawClient, new_account
from wsclient import WsClient

OK, QUOTA, ILLEGAL, NOT_ALLOWED, BODY, SERVER_ERROR = 200, 1, 2, 6, 11, 19
NOT_REGISTERED = 3
PING = 6
SILENT = ("silent",)


def status(code):
    return ("status", code)


def reply(command):
    return ("reply", command)


HISTORY_CODES = {28, 60, 61, 76, 77, 78, 79, 80}
TOKEN = "A" * 32

# code → (body, upstream's answer) after login, on an account with dashboard 1 and device 0.
AFTER_LOGIN = {
    1: ("x@y.cc\0h\0Blynk", SILENT),                   # REGISTER: no handler once logged in
    2: ("x@y.cc\0h", SILENT),                          # LOGIN
    3: ("no-such-code", status(NOT_ALLOWED)),          # REDEEM: no database holds redeem codes
    4: ("1-0", SILENT),
    5: ("", SILENT),
    6: ("", status(OK)),                               # PING
    7: ("99", status(ILLEGAL)),                        # ACTIVATE unknown dash
    8: ("99", status(ILLEGAL)),                        # DEACTIVATE unknown dash
    9: ("99", status(ILLEGAL)),                        # REFRESH_TOKEN unknown dash
    10: ("", SILENT), 11: ("", SILENT), 12: ("hi", SILENT),
    13: ("99", status(ILLEGAL)),                       # EMAIL unknown dash
    14: ("hi", SILENT), 15: ("", SILENT), 16: ("", SILENT), 17: ("", SILENT), 18: ("hi", SILENT),
    19: ("1\0" "1\0label", status(BODY)),              # SET_WIDGET_PROPERTY: 3 fields
    20: ("99\0vw\0" "1\0" "1", status(ILLEGAL)),       # HARDWARE unknown dash
    21: ("", status(ILLEGAL)),                         # CREATE_DASH empty
    22: ("", status(ILLEGAL)),                         # UPDATE_DASH empty
    23: ("99", status(ILLEGAL)),                       # DELETE_DASH unknown
    24: ("", reply(24)),                               # LOAD_PROFILE_GZIPPED
    25: ("99", status(ILLEGAL)),                       # APP_SYNC unknown dash
    26: ("99\0on", status(ILLEGAL)),                   # SHARING unknown dash
    27: ("1\0uid\0tok", status(NOT_ALLOWED)),          # ADD_PUSH_TOKEN without Notification widget
    29: (TOKEN, SILENT),                               # HARDWARE_LOGIN on an app connection
    30: ("x", status(NOT_ALLOWED)),                    # GET_SHARE_TOKEN non-numeric id
    31: ("x", status(NOT_ALLOWED)),                    # REFRESH_SHARE_TOKEN non-numeric id
    32: ("x@y.cc\0" + TOKEN, SILENT),                  # SHARE_LOGIN once logged in
    33: ("1", status(ILLEGAL)),                        # CREATE_WIDGET one field
    34: ("1", status(ILLEGAL)),                        # UPDATE_WIDGET one field
    35: ("1\0" "999", status(ILLEGAL)),                # DELETE_WIDGET unknown widget
    36: ("", reply(36)),                               # GET_ENERGY
    37: ("100\0", status(NOT_ALLOWED)),                # ADD_ENERGY without transaction id
    38: ("1", status(ILLEGAL)),                        # UPDATE_PROJECT_SETTINGS one field
    39: ("1\0" + TOKEN, status(NOT_ALLOWED)),          # ASSIGN_TOKEN: no flashed tokens
    40: ("x@y.cc\0Blynk", SILENT),                     # GET_SERVER once logged in
    41: ("", SILENT),
    42: ("1", status(ILLEGAL)),                        # CREATE_DEVICE one field
    43: ("1", status(ILLEGAL)),                        # UPDATE_DEVICE one field
    44: ("1\0" "99", status(ILLEGAL)),                 # DELETE_DEVICE unknown
    45: ("1", reply(45)),                              # GET_DEVICES
    46: ("1\0{bad", status(BODY)),                     # CREATE_TAG bad JSON
    47: ("1\0" + json.dumps({"id": 100000, "name": "t"}), status(ILLEGAL)),   # UPDATE_TAG unknown tag
    48: ("1\0" "100000", status(ILLEGAL)),             # DELETE_TAG unknown tag
    49: ("1", reply(49)),                              # GET_TAGS
    50: ("1\0" "99", status(BODY)),                    # MOBILE_GET_DEVICE unknown device
    51: ("1", status(NOT_ALLOWED)),                    # UPDATE_FACE: no exported app
    52: ("", SILENT), 53: ("", SILENT), 54: ("", SILENT),
    55: ("", status(ILLEGAL)),                         # CREATE_APP empty
    56: ("{bad", status(BODY)),                        # UPDATE_APP bad JSON
    57: ("blynkNOPE1234", status(NOT_ALLOWED)),        # DELETE_APP unknown
    58: (TOKEN, status(NOT_ALLOWED)),                  # GET_PROJECT_BY_TOKEN: no flashed tokens
    59: ("1\0blynkNOPE1234", status(BODY)),            # EMAIL_QR unknown app
    62: ("99", status(ILLEGAL)),                       # GET_CLONE_CODE unknown dash
    63: (TOKEN, status(SERVER_ERROR)),                 # GET_PROJECT_BY_CLONE_CODE unknown code
    64: ("", SILENT),
    65: ("1", status(ILLEGAL)),                        # HARDWARE_RESEND_FROM_BLUETOOTH too short
    67: ("1\0", status(ILLEGAL)),                      # CREATE_TILE_TEMPLATE missing fields
    68: ("1\0", status(ILLEGAL)),                      # UPDATE_TILE_TEMPLATE missing fields
    69: ("1\0", status(ILLEGAL)),                      # DELETE_TILE_TEMPLATE missing fields
    70: ("1\0" "999", status(ILLEGAL)),                # GET_WIDGET unknown widget
    71: ("1-0", SILENT), 72: ("", SILENT), 73: ("", SILENT),
    74: ("99\0{}", status(ILLEGAL)),                   # GET_PROVISION_TOKEN unknown dash
    75: ("", SILENT),
    81: ("verify\0" + TOKEN, SILENT),                  # RESET_PASSWORD once logged in
    **{code: ("", SILENT) for code in range(82, 100)},
    66: ("", "closes"),                                # LOGOUT: OK, then the server closes
}


def test_the_walk_covers_every_code_below_100():
    assert set(AFTER_LOGIN) | HISTORY_CODES | {0} == set(range(100))


class DashWs:
    """An app on wss://…/dashws with RawClient's receive/barrier/wait_closed shape (3-byte headers)."""

    def __init__(self, server):
        self.ws = WsClient.open(server, "/dashws", secure=True)

    def close(self):
        self.ws.close()

    def send(self, command, payload=b"", msg_id=1):
        data = payload.encode() if isinstance(payload, str) else payload
        self.ws.send_binary(struct.pack(">BH", command, msg_id) + data)

    def receive(self, timeout=None):
        frame = self.ws.receive(WAIT if timeout is None else timeout)
        if frame is None:
            return None
        opcode, payload = frame
        if opcode == 0x8:
            raise ConnectionClosed("websocket close frame")
        assert opcode == 0x2, frame
        command, msg_id = struct.unpack_from(">BH", payload)
        if command == 0:
            return (0, msg_id, struct.unpack_from(">I", payload, 3)[0])
        return (command, msg_id, payload[3:])

    barrier = RawClient.barrier
    wait_closed = RawClient.wait_closed


def tls_app(server):
    return RawClient(server.host, server.app_port, tls=True, app_framing=True)


QUOTA_FOR_THE_WALK = 100_000    # the walk sends ~200 requests at once: above the default 100 msg/s


@pytest.fixture
def account(make_server):
    server = make_server(user_message_quota_limit=QUOTA_FOR_THE_WALK)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(21, json.dumps({"id": 1, "name": "walk"}))[2] == OK
        command, _, _ = app.request(42, "1\0" + json.dumps({"id": 0, "name": "d", "boardType": "ESP8266"}))
        assert command == 42
    return server, email


def logged_in(kind, server, email):
    client = tls_app(server) if kind == "tls" else DashWs(server)
    client.send(2, f"{email}\0{password_hash(PASSWORD, email)}\0Android\0" "2.27.0", msg_id=1)
    assert client.receive() == (0, 1, OK)
    return client


def check(client, code, body, expected, msg_id):
    """Send one request; its answers (messages with its msg id) must be exactly `expected`."""
    client.send(code, body, msg_id=msg_id)
    answers = []
    if expected != SILENT:     # some answers come from the worker pool, after a later PING's OK
        while not answers:
            message = client.receive()
            assert message is not None, f"code {code}: no answer within {WAIT} s"
            if message[1] == msg_id:
                answers.append(message)
    answers += [m for m in client.barrier() if m[1] == msg_id]
    if expected == SILENT:
        assert answers == [], f"code {code}: upstream sends nothing, got {answers}"
    elif expected[0] == "status":
        assert answers == [(0, msg_id, expected[1])], f"code {code}: expected status {expected[1]}, got {answers}"
    else:
        assert [m[0] for m in answers] == [expected[1]], f"code {code}: expected command {expected[1]}, got {answers}"


@pytest.mark.parametrize("kind", ["tls", "dashws"])
def test_every_code_after_login_gets_upstreams_answer(account, kind):
    server, email = account
    client = logged_in(kind, server, email)
    try:
        for msg_id, (code, (body, expected)) in enumerate(sorted(AFTER_LOGIN.items()), start=100):
            if expected != "closes":
                check(client, code, body, expected, msg_id)
        client.send(66, "", msg_id=66)
        assert (0, 66, OK) in client.wait_closed()
    finally:
        client.close()


# Before login only GET_SERVER, REGISTER, LOGIN, SHARE_LOGIN and RESET_PASSWORD are read on the TLS
# port (on /dashws only GET_SERVER and LOGIN); anything else closes the connection without a reply.
BEFORE_LOGIN_TLS = {
    2: ("nobody@y.cc\0h", status(NOT_REGISTERED)),
    32: ("nobody@y.cc\0" + TOKEN, status(NOT_ALLOWED)),
    40: ("x@y.cc\0Blynk", reply(40)),
    81: ("verify\0" + TOKEN, status(NOT_ALLOWED)),
}
BEFORE_LOGIN_DASHWS = {2: BEFORE_LOGIN_TLS[2], 40: BEFORE_LOGIN_TLS[40]}


@pytest.mark.parametrize("kind", ["tls", "dashws"])
def test_the_commands_read_before_login_answer(server, kind):
    """One connection per code: whether a refused login keeps the connection is the login work's."""
    table = BEFORE_LOGIN_TLS if kind == "tls" else BEFORE_LOGIN_DASHWS
    for code, (body, expected) in sorted(table.items()):
        client = tls_app(server) if kind == "tls" else DashWs(server)
        try:
            client.send(code, body, msg_id=5)
            message = client.receive()
            assert message is not None, f"code {code}: no answer before login"
            if expected[0] == "status":
                assert message == (0, 5, expected[1]), (code, message)
            else:
                assert message[:2] == (expected[1], 5), (code, message)
        finally:
            client.close()


def _closes_before_login(server, kind, code):
    client = tls_app(server) if kind == "tls" else DashWs(server)
    try:
        client.send(code, "1", msg_id=7)
        return client.wait_closed()
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["tls", "dashws"])
def test_every_other_code_before_login_closes_without_a_reply(server, kind):
    allowed = set(BEFORE_LOGIN_TLS if kind == "tls" else BEFORE_LOGIN_DASHWS) | {1}
    for code in range(1, 100):
        if code in allowed:
            continue
        assert _closes_before_login(server, kind, code) == [], f"code {code} answered before login"


def test_a_code_of_100_or_more_closes_a_logged_in_connection(account):
    server, email = account
    client = logged_in("tls", server, email)
    try:
        client.send(120, "", msg_id=9)
        assert client.wait_closed() == []
    finally:
        client.close()

