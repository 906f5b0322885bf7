"""Tags from the app (spec/app.md §3, §5.3): create, update, delete, list, and an app write to a tag
reaching every tagged device (two blynklib devices here)."""
import json

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, app_barrier, new_account, wait_until
from test_device_libraries import BlynklibDevice, DeviceRunner

OK, ILLEGAL, BODY = 200, 2, 11
ACTIVATE, HARDWARE, CREATE_DEVICE = 7, 20, 42
CREATE_TAG, UPDATE_TAG, DELETE_TAG, GET_TAGS = 46, 47, 48, 49


@pytest.fixture
def app(server):
    email = new_account(server)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, PASSWORD) == OK
    client.server = server
    client.dash_id, _, client.token0 = client.new_device("first")
    yield client
    client.close()


def tag(tag_id=100000, name="Kitchen", devices=(0,)):
    return json.dumps({"id": tag_id, "name": name, "deviceIds": list(devices)})


def test_create_get_update_delete(app):
    dash = app.dash_id
    command, _, payload = app.request(CREATE_TAG, f"{dash}\0{tag()}")
    assert (command, json.loads(payload)) == (CREATE_TAG, {"id": 100000, "name": "Kitchen", "deviceIds": [0]})
    command, _, payload = app.request(GET_TAGS, str(dash))
    assert (command, json.loads(payload)) == (GET_TAGS, [{"id": 100000, "name": "Kitchen", "deviceIds": [0]}])
    assert app.request(UPDATE_TAG, f"{dash}\0{tag(name='Hall', devices=(0, 1))}")[2] == OK
    assert json.loads(app.request(GET_TAGS, str(dash))[2]) == [{"id": 100000, "name": "Hall", "deviceIds": [0, 1]}]
    assert app.request(DELETE_TAG, f"{dash}\0" "100000")[2] == OK
    assert app.request(GET_TAGS, str(dash))[2] == b"[]"
    assert app.request(DELETE_TAG, f"{dash}\0" "100000")[2] == ILLEGAL


@pytest.mark.parametrize("body, status", [
    (tag(tag_id=99999), ILLEGAL),                    # below the tag range
    (tag(name=""), ILLEGAL),
    (tag(name="n" * 41), ILLEGAL),
    (tag(devices=range(26)), ILLEGAL),               # more than 25 devices
    ("{not json", BODY),
    ("", ILLEGAL),
])
def test_invalid_tags_are_refused(app, body, status):
    assert app.request(CREATE_TAG, f"{app.dash_id}\0{body}")[2] == status
    assert app.request(GET_TAGS, str(app.dash_id))[2] == b"[]"


def test_same_id_or_name_is_refused_and_unknown_dash_is_illegal(app):
    assert app.request(CREATE_TAG, f"{app.dash_id}\0{tag()}")[0] == CREATE_TAG
    assert app.request(CREATE_TAG, f"{app.dash_id}\0{tag(name='Other')}")[2] == ILLEGAL
    assert app.request(CREATE_TAG, f"{app.dash_id}\0{tag(tag_id=100001)}")[2] == ILLEGAL
    assert app.request(CREATE_TAG, f"99\0{tag(tag_id=100002, name='x')}")[2] == ILLEGAL
    assert app.request(UPDATE_TAG, f"{app.dash_id}\0{tag(tag_id=100005, name='y')}")[2] == ILLEGAL


def test_a_write_to_a_tag_reaches_every_tagged_blynklib_device(app):
    server, dash = app.server, app.dash_id
    command, _, payload = app.request(CREATE_DEVICE, f"{dash}\0" + json.dumps({"id": 1, "name": "second", "boardType": "ESP8266"}))
    assert command == CREATE_DEVICE
    token1 = json.loads(payload)["token"]
    assert app.request(CREATE_TAG, f"{dash}\0{tag(devices=(0, 1))}")[0] == CREATE_TAG
    app.request(ACTIVATE, str(dash))
    runners = []
    try:
        for token in (app.token0, token1):
            device = BlynklibDevice(server.host, server.hw_port, token)
            runners.append(DeviceRunner(device).start())
            wait_until(device.is_connected, "blynklib connected")
        app_barrier(app)
        app.send(HARDWARE, f"{dash}-100000\0vw\0" "7\0both")
        for runner in runners:
            wait_until(lambda: runner.device.values(7) == [["both"]], "the tagged device got the write")
    finally:
        for runner in runners:
            runner.stop()


def test_tags_are_kept_across_a_restart(make_server):
    server = make_server()
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as client:
        assert client.login(email, PASSWORD) == OK
        dash, _, _ = client.new_device("d")
        assert client.request(CREATE_TAG, f"{dash}\0{tag()}")[0] == CREATE_TAG
    server.stop()
    server.start()
    with AppClient(server.host, server.app_port, timeout=WAIT) as client:
        assert client.login(email, PASSWORD) == OK
        assert json.loads(client.request(GET_TAGS, str(dash))[2]) == [{"id": 100000, "name": "Kitchen", "deviceIds": [0]}]


def test_user_tags_limit_caps_the_tags_of_a_project(make_server):
    server = make_server(user_tags_limit=2)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as client:
        assert client.login(email, PASSWORD) == OK
        dash, _, _ = client.new_device("d")
        for number in range(2):
            assert client.request(CREATE_TAG, f"{dash}\0{tag(100000 + number, f't{number}')}")[0] == CREATE_TAG
        assert client.request(CREATE_TAG, f"{dash}\0{tag(100002, 't2')}")[2] == 6       # NOT_ALLOWED
        assert client.request(DELETE_TAG, f"{dash}\0" "100000")[2] == OK
        assert client.request(CREATE_TAG, f"{dash}\0{tag(100002, 't2')}")[0] == CREATE_TAG
