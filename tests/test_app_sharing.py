"""Project sharing against the real server (spec/app.md §2.5, §4.10): share tokens, SHARING on/off,
SHARE_LOGIN, what a share session may do, and writes seen both ways, with a blynklib device.

Codes are numbers from spec/commands.md, not the server's constants. Every wait is bounded.
"""
import json
import time
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, ConnectionClosed, RawClient, app_barrier, new_account, wait_until
from test_device_libraries import BlynklibDevice, DeviceRunner
from wsclient import WsClient

OK, ILLEGAL, NOT_ALLOWED, DEVICE_NOT_IN_NETWORK, ENERGY_LIMIT = 200, 2, 6, 7, 21
HARDWARE, LOAD_PROFILE, APP_SYNC, SHARING = 20, 24, 25, 26
GET_SHARE_TOKEN, REFRESH_SHARE_TOKEN, SHARE_LOGIN, CREATE_DASH = 30, 31, 32, 21
GET_ENERGY, ACTIVATE = 36, 7
SHARE_PRICE = 1000


@pytest.fixture
def owner(server):
    email = new_account(server)
    app = AppClient(server.host, server.app_port, timeout=WAIT)
    assert app.login(email, PASSWORD) == OK
    dash_id, device_id, token = app.new_device("Kitchen")
    assert app.request(ACTIVATE, str(dash_id))[0] == 0
    app_barrier(app)
    yield {"server": server, "email": email, "app": app, "dash": dash_id, "device": device_id, "token": token}
    app.close()


def share_token(app, dash_id):
    command, _, payload = app.request(GET_SHARE_TOKEN, str(dash_id))
    assert command == GET_SHARE_TOKEN, (command, payload)
    return payload.decode()


def share_app(server, email, token):
    client = RawClient(server.host, server.app_port, tls=True, app_framing=True)
    client.send(SHARE_LOGIN, f"{email}\0{token}\0Android\0" "2.27.0", msg_id=1)
    return client, client.receive()


def energy(app):
    return int(app.request(GET_ENERGY)[2])


def test_a_share_token_costs_energy_once_and_is_kept(owner):
    app, dash = owner["app"], owner["dash"]
    before = energy(app)
    token = share_token(app, dash)
    assert len(token) == 32
    assert share_token(app, dash) == token
    assert energy(app) == before - SHARE_PRICE


def test_share_login_needs_the_right_email_a_known_token_and_sharing_on(owner):
    server, app, email = owner["server"], owner["app"], owner["email"]
    token = share_token(app, owner["dash"])
    for who, what in ((email, token), ("other@example.com", token), (email, "B" * 32)):
        client, reply = share_app(server, who, what)
        assert reply == (0, 1, NOT_ALLOWED), (who, what, reply)     # sharing is still off
        client.close()
    assert app.request(SHARING, f"{owner['dash']}\0on")[2] == OK
    client, reply = share_app(server, email, token)
    assert reply == (0, 1, OK)
    client.close()
    client, reply = share_app(server, "other@example.com", token)
    assert reply == (0, 1, NOT_ALLOWED)
    client.close()


@pytest.fixture
def shared(owner):
    app = owner["app"]
    owner["share_token"] = share_token(app, owner["dash"])
    assert app.request(SHARING, f"{owner['dash']}\0on")[2] == OK
    client, reply = share_app(owner["server"], owner["email"], owner["share_token"])
    assert reply == (0, 1, OK)
    owner["share"] = client
    yield owner
    client.close()


def test_a_share_session_sees_its_dashboard_without_private_fields(shared):
    share = shared["share"]
    share.send(LOAD_PROFILE, "", msg_id=5)
    command, msg_id, payload = share.receive()
    assert (command, msg_id) == (LOAD_PROFILE, 5)
    profile = json.loads(zlib.decompress(payload))
    assert [d["id"] for d in profile["dashBoards"]] == [shared["dash"]]
    dash = profile["dashBoards"][0]
    assert "sharedToken" not in dash
    assert all("token" not in d for d in dash["devices"])
    assert "pinsStorage" not in profile


def test_a_share_session_ignores_owner_commands_and_other_dashboards(shared):
    share = shared["share"]
    share.send(CREATE_DASH, json.dumps({"id": 77, "name": "x"}), msg_id=6)
    share.send(GET_ENERGY, "", msg_id=7)
    assert share.barrier() == []                     # upstream's share handler has no case for them
    share.send(APP_SYNC, "999", msg_id=8)
    assert share.barrier() == [(0, 8, ILLEGAL)]
    assert all(d["id"] != 77 for d in _profile(shared["app"])["dashBoards"])


def _profile(app):
    command, _, payload = app.request(LOAD_PROFILE, "")
    assert command == LOAD_PROFILE
    return json.loads(zlib.decompress(payload))


@pytest.fixture
def blynklib_device(shared):
    server = shared["server"]
    device = BlynklibDevice(server.host, server.hw_port, shared["token"])
    runner = DeviceRunner(device).start()
    wait_until(device.is_connected, "blynklib connected")
    shared["device_lib"], shared["runner"] = device, runner
    yield shared
    runner.stop()


def test_owner_share_session_and_device_see_each_others_writes(blynklib_device):
    env = blynklib_device
    share, app, device, runner = env["share"], env["app"], env["device_lib"], env["runner"]
    target = f"{env['dash']}-{env['device']}"
    share.barrier()
    app_barrier(app)

    share.send(HARDWARE, f"{target}\0vw\0" "4\0from-share", msg_id=21)     # share → device and owner
    wait_until(lambda: device.values(4) == [["from-share"]], "the device got the share session's write")
    synced = app.wait_for(lambda m: m[0] == APP_SYNC and m[1] == 21, WAIT)
    assert synced == (APP_SYNC, 21, f"{target}\0vw\0" "4\0from-share".encode())

    app.send(HARDWARE, f"{target}\0vw\0" "5\0from-owner")                  # owner → device and share
    wait_until(lambda: device.values(5) == [["from-owner"]], "the device got the owner's write")
    assert any(m[0] == APP_SYNC and m[2] == f"{target}\0vw\0" "5\0from-owner".encode()
               for m in share.barrier())

    runner.call(lambda: device.virtual_write(6, "from-device"))             # device → both apps
    assert app.wait_for(lambda m: m[0] == HARDWARE and m[2].endswith(b"vw\x006\x00from-device"), WAIT)
    _wait_share(share, lambda m: m[0] == HARDWARE and m[2] == f"{target}\0vw\0" "6\0from-device".encode())


def _wait_share(share, wanted):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = share.receive(deadline - time.monotonic())
        if message is not None and wanted(message):
            return message
    raise AssertionError("the share session did not get the device's write")


def test_a_share_session_cannot_write_once_sharing_is_off(shared):
    share, app = shared["share"], shared["app"]
    assert app.request(SHARING, f"{shared['dash']}\0off")[2] == OK
    assert any(m[0] == SHARING for m in share.barrier())                   # told of the change
    share.send(HARDWARE, f"{shared['dash']}-{shared['device']}\0vw\0" "1\0" "1", msg_id=30)
    assert share.barrier() == [(0, 30, NOT_ALLOWED)]


def test_refreshing_the_share_token_closes_share_sessions_and_the_old_token_dies(shared):
    share, app, server = shared["share"], shared["app"], shared["server"]
    msg_id = app.send(REFRESH_SHARE_TOKEN, str(shared["dash"]))
    reply = app.wait_for(lambda m: m[1] == msg_id and m[0] == REFRESH_SHARE_TOKEN, WAIT)
    new = reply[2].decode()
    assert len(new) == 32 and new != shared["share_token"]
    assert (0, msg_id, NOT_ALLOWED) in share.wait_closed()
    old_client, old_reply = share_app(server, shared["email"], shared["share_token"])
    assert old_reply == (0, 1, NOT_ALLOWED)
    old_client.close()
    new_client, new_reply = share_app(server, shared["email"], new)
    assert new_reply == (0, 1, OK)
    new_client.close()


def test_a_share_token_without_energy_is_refused(make_server):
    server = make_server(initial_energy=500)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "p"}))[2] == OK
        assert app.request(GET_SHARE_TOKEN, "1")[2] == ENERGY_LIMIT


def test_the_share_token_survives_a_restart(make_server):
    server = make_server()
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "p", "isShared": True}))[2] == OK
        token = share_token(app, 1)
    server.stop()
    server.start()
    client, reply = share_app(server, email, token)
    assert reply == (0, 1, OK)
    client.close()


def test_share_login_on_dashws_closes_the_connection(server):
    """/dashws reads only GET_SERVER and LOGIN before login (upstream's web dashboard pipeline)."""
    ws = WsClient.open(server, "/dashws", secure=True)
    frames = []
    try:
        deadline = time.monotonic() + WAIT
        ws.send_binary(bytes([SHARE_LOGIN]) + (1).to_bytes(2, "big") + b"a@b.cc\0" + b"A" * 32)
        with pytest.raises(ConnectionClosed):
            while time.monotonic() < deadline:
                frame = ws.receive(deadline - time.monotonic())
                if frame is not None:
                    frames.append(frame)
                    if frame[0] == 0x8:
                        raise ConnectionClosed("close frame")
    finally:
        ws.close()
    assert [f for f in frames if f[0] != 0x8] == []


def _updated_at(app, dash_id):
    return next(d for d in _profile(app)["dashBoards"] if d["id"] == dash_id)["updatedAt"]


def test_updated_at_changes_with_a_new_share_token_but_not_with_sharing_on_off(owner):
    app, dash = owner["app"], owner["dash"]
    before = _updated_at(app, dash)
    time.sleep(0.01)
    assert app.request(SHARING, f"{dash}\0on")[2] == OK
    assert _updated_at(app, dash) == before                  # upstream's MobileShareLogic leaves it
    share_token(app, dash)
    after_token = _updated_at(app, dash)
    assert after_token > before
    time.sleep(0.01)
    app.request(REFRESH_SHARE_TOKEN, str(dash))
    assert _updated_at(app, dash) > after_token


def test_a_share_app_leaving_tells_app_connected_devices_adis(shared):
    from devices import device
    app, server, dash = shared["app"], shared["server"], shared["dash"]
    assert app.request(38, f"{dash}\0" + json.dumps({"name": "p", "isShared": True, "isAppConnectedOn": True}))[2] == OK
    with device(server) as hw:
        assert hw.login(shared["token"]) == OK
        hw.barrier()
        shared["share"].close()
        message = hw.receive()
        assert message == (17, 7777, b"adis")              # BLYNK_INTERNAL, as upstream's app state does
