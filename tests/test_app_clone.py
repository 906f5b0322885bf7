"""Cloning and provisioning from the app (spec/app.md §3, §4.8): clone codes shared with HTTP `/clone`,
a cloned project created with fresh tokens, and a provisioning token whose first login (a blynklib
device) adds the device to the project."""
import json
import urllib.request
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, app_barrier, new_account, wait_until
from test_device_libraries import BlynklibDevice, DeviceRunner

OK, NOT_ALLOWED, ILLEGAL, SERVER_ERROR = 200, 6, 2, 19
ACTIVATE, HARDWARE_CONNECTED, CREATE_WIDGET, GET_DEVICES, LOAD_PROFILE = 7, 4, 33, 45, 24
GET_CLONE_CODE, GET_PROJECT_BY_CLONE_CODE, GET_PROVISION_TOKEN = 62, 63, 74
BUTTON = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "pinType": "VIRTUAL", "pin": 3}


@pytest.fixture
def app(server):
    email = new_account(server)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, PASSWORD) == OK
    client.server = server
    client.dash_id, _, client.token = client.new_device("d")
    assert client.request(CREATE_WIDGET, f"{client.dash_id}\0{json.dumps(BUTTON)}")[2] == OK
    client.request(ACTIVATE, str(client.dash_id))
    client.write(client.dash_id, 0, "V3", "1")        # a value the clone must not carry
    app_barrier(client)
    yield client
    client.close()


def clone_code(app):
    command, _, payload = app.request(GET_CLONE_CODE, str(app.dash_id))
    assert command == GET_CLONE_CODE, (command, payload)
    return payload.decode()


def test_a_clone_code_gives_the_project_without_tokens_or_values_here_and_over_http(app):
    profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
    assert profile["dashBoards"][0]["widgets"][0]["value"] == "1"
    code = clone_code(app)
    assert len(code) == 32
    command, _, payload = app.request(GET_PROJECT_BY_CLONE_CODE, code)
    project = json.loads(zlib.decompress(payload))
    assert command == GET_PROJECT_BY_CLONE_CODE and project["id"] == app.dash_id
    assert [w["id"] for w in project["widgets"]] == [1] and "value" not in project["widgets"][0]
    assert all("token" not in d for d in project["devices"])
    url = f"http://{app.server.host}:{app.server.hw_port}/{code}/clone"
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        assert json.loads(response.read()) == project


def test_a_clone_code_creates_a_new_project_with_fresh_tokens(app):
    code = clone_code(app)
    command, _, payload = app.request(GET_PROJECT_BY_CLONE_CODE, f"{code}\0new")
    created = json.loads(zlib.decompress(payload))
    assert command == GET_PROJECT_BY_CLONE_CODE and created["id"] == app.dash_id + 1
    token = created["devices"][0]["token"]
    assert len(token) == 32 and token != app.token
    profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
    assert sorted(d["id"] for d in profile["dashBoards"]) == [app.dash_id, app.dash_id + 1]


@pytest.mark.parametrize("code", ["A" * 32, "../../etc/passwd", "", "A" * 31])
def test_unknown_or_malformed_clone_codes_are_a_server_error(app, code):
    assert app.request(GET_PROJECT_BY_CLONE_CODE, code)[2] == SERVER_ERROR


def test_a_clone_code_is_refused_when_the_dashboard_limit_is_reached(make_server):
    server = make_server(user_dashboard_max_limit=1)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as client:
        assert client.login(email, PASSWORD) == OK
        dash, _, _ = client.new_device("d")
        command, _, code = client.request(GET_CLONE_CODE, str(dash))
        assert client.request(GET_PROJECT_BY_CLONE_CODE, f"{code.decode()}\0new")[2] == 1   # QUOTA_LIMIT


def devices_of(app):
    command, _, payload = app.request(GET_DEVICES, str(app.dash_id))
    assert command == GET_DEVICES
    return json.loads(payload)


def test_a_provisioning_token_adds_its_device_on_the_first_login(app):
    dash = app.dash_id
    command, _, payload = app.request(GET_PROVISION_TOKEN, f"{dash}\0" + json.dumps({"id": 5, "name": "new", "boardType": "ESP32 Dev Board"}))
    assert command == GET_PROVISION_TOKEN
    provisioned = json.loads(payload)
    assert provisioned["id"] == 5 and len(provisioned["token"]) == 32
    assert [d["id"] for d in devices_of(app)] == [0]                  # not in the project yet
    app.request(ACTIVATE, str(dash))
    app_barrier(app)
    device = BlynklibDevice(app.server.host, app.server.hw_port, provisioned["token"])
    runner = DeviceRunner(device).start()
    try:
        wait_until(device.is_connected, "the provisioned blynklib device connected")
        assert app.wait_for(lambda m: m[0] == HARDWARE_CONNECTED and m[2] == f"{dash}-5".encode(), WAIT)
        assert sorted(d["id"] for d in devices_of(app)) == [0, 5]
    finally:
        runner.stop()


def test_provisioning_refuses_an_existing_id_and_bad_bodies(app):
    dash = app.dash_id
    assert app.request(GET_PROVISION_TOKEN, f"{dash}\0" + json.dumps({"id": 0, "name": "x", "boardType": "ESP8266"}))[2] == NOT_ALLOWED
    assert app.request(GET_PROVISION_TOKEN, f"{dash}\0" + json.dumps({"id": 6, "name": "x"}))[2] == ILLEGAL
    assert app.request(GET_PROVISION_TOKEN, f"{dash}\0{{bad")[2] == 11
    assert app.request(GET_PROVISION_TOKEN, f"{dash}\0")[2] == ILLEGAL


def test_a_provisioning_token_dies_with_its_dashboard(app):
    command, _, payload = app.request(GET_PROVISION_TOKEN, f"{app.dash_id}\0" + json.dumps({"id": 5, "name": "n", "boardType": "ESP8266"}))
    token = json.loads(payload)["token"]
    assert app.request(23, str(app.dash_id))[2] == OK                  # DELETE_DASH
    from devices import device
    with device(app.server) as hw:
        assert hw.login(token) == 9                                    # INVALID_TOKEN
