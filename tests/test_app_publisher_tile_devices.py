"""An exported app's new account (REGISTER with the app's id) gets the app's project without the devices
provisioned from Device Tiles: upstream copies only devices some widget of the project is assigned to (a
pin widget's deviceId, a Device Selector's deviceIds); a device only a tile template names is left out."""
import json
import zlib

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, new_account

OK, CREATE_DASH, CREATE_WIDGET, CREATE_DEVICE, LOAD_PROFILE, CREATE_APP, CREATE_TEMPLATE = 200, 21, 33, 42, 24, 55, 67
APP = {"theme": "Blynk", "provisionType": "DYNAMIC", "color": 0, "isMultiFace": False, "name": "My App",
       "icon": "myIcon", "projectIds": [1]}
WIDGETS = [
    {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "pin": 1, "pinType": "VIRTUAL"},
    {"type": "DEVICE_SELECTOR", "id": 2, "x": 0, "y": 1, "width": 2, "height": 1, "deviceIds": [2]},
    {"type": "DEVICE_TILES", "id": 3, "x": 0, "y": 2, "width": 8, "height": 8},
]
TEMPLATE = {"id": 1, "name": "Tile", "deviceIds": [1, 3], "pin": {"pin": 5, "pinType": "VIRTUAL"}}


def load(client):
    return json.loads(zlib.decompress(client.request(LOAD_PROFILE, "")[2]))


def test_devices_provisioned_from_device_tiles_are_not_copied(server):
    owner = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(owner, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "parent"}))[2] == OK
        for device_id in range(4):
            device = {"id": device_id, "name": f"d{device_id}", "boardType": "ESP8266"}
            assert app.request(CREATE_DEVICE, f"1\0{json.dumps(device)}")[0] == CREATE_DEVICE
        for widget in WIDGETS:
            assert app.request(CREATE_WIDGET, f"1\0{json.dumps(widget)}")[2] == OK
        assert app.request(CREATE_TEMPLATE, f"1\0" f"3\0{json.dumps(TEMPLATE)}")[2] == OK
        assert [d["id"] for d in load(app)["dashBoards"][0]["devices"]] == [0, 1, 2, 3]
        command, _, payload = app.request(CREATE_APP, json.dumps(APP))
        assert command == CREATE_APP, (command, payload)
        app_id = json.loads(payload)["id"]
    email = "end-user@example.com"
    with AppClient(server.host, server.app_port, timeout=WAIT) as user:
        assert user.register(email, "pw", app_name=app_id) == OK
    with AppClient(server.host, server.app_port, timeout=WAIT) as user:
        assert user.login(email, "pw", app_name=app_id) == OK
        devices = load(user)["dashBoards"][0]["devices"]
    assert [(d["id"], d["name"]) for d in devices] == [(0, "d0"), (2, "d2")]
    assert all(len(d["token"]) == 32 for d in devices)           # DYNAMIC: the kept devices get new tokens
