"""Device Tiles templates and tiles as the Java server writes them (upstream's TileTemplate subtypes PAGE,
BUTTON and DIMMER told apart by `mode`, its Tile and State): `mode` first, every declared field with Java's
default, in LOAD_PROFILE_GZIPPED, GET_WIDGET, HTTP /{token}/project and the profile file on disk."""
import json
import urllib.request
import zlib

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, new_account

OK, CREATE_WIDGET, LOAD_PROFILE, GET_WIDGET, CREATE_TEMPLATE = 200, 33, 24, 70, 67
TILES = {"type": "DEVICE_TILES", "id": 10, "x": 0, "y": 0, "width": 8, "height": 8}
SENT = [
    {"id": 1, "name": "Heater", "deviceIds": [0], "pin": {"pin": 5, "pinType": "VIRTUAL"}},
    {"id": 2, "mode": "BUTTON", "name": "Lamp", "stateOn": {"text": "on", "iconName": "bulb"}},
    {"id": 3, "mode": "DIMMER", "name": "Dim", "levelColor": 7},
]
STREAM = {"pin": 5, "pwmMode": False, "rangeMappingOn": False, "pinType": "VIRTUAL", "min": 0.0, "max": 0.0}
JAVA = [
    {"mode": "PAGE", "id": 1, "deviceIds": [0], "templateId": "TMPL1", "name": "Heater", "showDeviceName": False,
     "color": 0, "tileColor": 0, "showTileLabel": False, "maximumFractionDigits": 0, "pin": STREAM},
    {"mode": "BUTTON", "id": 2, "templateId": "TMPL2", "name": "Lamp", "showDeviceName": False,
     "pushMode": False, "labelsVisibility": False,
     "stateOn": {"tileColor": 0, "iconName": "bulb", "iconColor": 0, "text": "on", "textColor": 0}},
    {"mode": "DIMMER", "id": 3, "templateId": "TMPL3", "name": "Dim", "showDeviceName": False, "color": 0,
     "tileColor": 0, "showTileLabel": False, "maximumFractionDigits": 0, "levelColor": 7,
     "interaction": "PAGE", "step": 1.0},
]
TILE = {"deviceId": 0, "templateId": 1, "pin": STREAM}


def ordered(data):
    """Key order matters: compare as lists of (key, value), nested dicts too."""
    if isinstance(data, dict):
        return [(k, ordered(v)) for k, v in data.items()]
    if isinstance(data, list):
        return [ordered(v) for v in data]
    return data


def check(tiles):
    assert ordered(tiles["templates"]) == ordered(JAVA)
    assert ordered(tiles["tiles"]) == ordered([TILE])
    assert isinstance(tiles["templates"][2]["step"], float)


def test_tile_templates_carry_every_java_field_in_order_everywhere(server):
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        dash_id, _, token = app.new_device("d")
        assert app.request(CREATE_WIDGET, f"{dash_id}\0{json.dumps(TILES)}")[2] == OK
        for template in SENT:
            assert app.request(CREATE_TEMPLATE, f"{dash_id}\0{10}\0{json.dumps(template)}")[2] == OK
        profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
        dash = next(d for d in profile["dashBoards"] if d["id"] == dash_id)
        check(next(w for w in dash["widgets"] if w["id"] == 10))
        check(json.loads(app.request(GET_WIDGET, f"{dash_id}\0{10}")[2]))
    with urllib.request.urlopen(f"http://{server.host}:{server.hw_port}/{token}/project", timeout=WAIT) as reply:
        check(next(w for w in json.loads(reply.read())["widgets"] if w["id"] == 10))
    server.stop()
    saved = json.loads(next(server.data_dir.rglob(f"{email}.Blynk.user")).read_text())
    dash = next(d for d in saved["profile"]["dashBoards"] if d["id"] == dash_id)
    check(next(w for w in dash["widgets"] if w["id"] == 10))
    server.start()
